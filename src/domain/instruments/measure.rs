//! What an instrument's total means clinically, as part of its definition: the one place that
//! decides which flags, signals and analytics apply to a form (docs/methodology.md,
//! "Instrument behaviour"). Every layer asks the definition; nothing matches instrument keys.

use super::super::clients::AgeGroup;
use super::super::settings::OrganizationSettings;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The role of an instrument's total.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Measure {
    /// Scored and banded, nothing more.
    #[default]
    Unspecified,
    /// A session-by-session alliance rating (SRS, CSRS): the organization's alliance cutoff,
    /// item-concern and drop thresholds apply, and its series is read for ruptures and repairs.
    SessionAlliance {
        /// Its items are compared with the organization's in clinician insights (areas for
        /// growth). Only one instrument's items can be: the adult SRS.
        #[serde(default)]
        item_comparisons: bool,
    },
    /// A working-alliance inventory (WAI-SR client and therapist forms): compared, subscale by
    /// subscale, with its counterpart form filled in for the same session.
    WorkingAlliance {
        /// The key of the other perspective's form.
        counterpart: String,
    },
    /// An outcome or symptom measure: reliable change and a clinical cutoff.
    Outcome(OutcomeRule),
}

/// How change on an outcome measure is judged (Jacobson & Truax 1991).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeRule {
    /// Points of change, in the improving or worsening direction, that count as reliable.
    pub reliable_change: Threshold,
    /// Where the clinical range is.
    pub clinical_cutoff: ClinicalCutoff,
    /// Given every session (ORS, CORS): it has an expected-treatment-response band and makes the
    /// outcome section of clinician insights.
    #[serde(default)]
    pub session_by_session: bool,
}

/// Where the clinical range of an outcome measure lies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClinicalCutoff {
    /// Clinical below the cutoff (CORS).
    Below { cutoff: Threshold },
    /// Clinical below a cutoff that depends on the client's age group (ORS: adult, adolescent,
    /// and for children the CORS cutoff).
    BelowByAgeGroup { adult: Threshold, adolescent: Threshold, child: Threshold },
    /// Clinical at or above the cutoff (PHQ-9, GAD-7 caseness).
    AtOrAbove { cutoff: Threshold },
}

/// A number: an organization setting, or a value fixed by the definition.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Threshold {
    /// The organization's setting of this name (`GET /v1/organization/settings`).
    Setting(SettingName),
    /// A fixed number, in score units.
    Value(f64),
}

/// The organization settings an instrument definition may refer to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SettingName {
    OrsCutoffAdult,
    OrsCutoffAdolescent,
    CorsCutoffChild,
    OrsReliableChange,
    Phq9Caseness,
    Phq9ReliableChange,
    Gad7Caseness,
    Gad7ReliableChange,
}

impl Threshold {
    pub fn resolve(self, settings: &OrganizationSettings) -> f64 {
        match self {
            Threshold::Value(value) => value,
            Threshold::Setting(name) => match name {
                SettingName::OrsCutoffAdult => settings.ors_cutoff_adult,
                SettingName::OrsCutoffAdolescent => settings.ors_cutoff_adolescent,
                SettingName::CorsCutoffChild => settings.cors_cutoff_child,
                SettingName::OrsReliableChange => settings.ors_reliable_change,
                SettingName::Phq9Caseness => settings.phq9_caseness,
                SettingName::Phq9ReliableChange => settings.phq9_reliable_change,
                SettingName::Gad7Caseness => settings.gad7_caseness,
                SettingName::Gad7ReliableChange => settings.gad7_reliable_change,
            },
        }
    }
}

/// Which side of the cutoff is clinical.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClinicalSide {
    Below,
    AtOrAbove,
}

/// The cutoff in force for one client.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResolvedCutoff {
    pub cutoff: f64,
    pub clinical: ClinicalSide,
}

impl ResolvedCutoff {
    pub fn is_clinical(self, total: f64) -> bool {
        match self.clinical {
            ClinicalSide::Below => total < self.cutoff,
            ClinicalSide::AtOrAbove => total >= self.cutoff,
        }
    }
}

impl OutcomeRule {
    pub fn reliable_change(&self, settings: &OrganizationSettings) -> f64 {
        self.reliable_change.resolve(settings)
    }

    /// The clinical cutoff for a client of `age_group`.
    pub fn cutoff(&self, settings: &OrganizationSettings, age_group: AgeGroup) -> ResolvedCutoff {
        match &self.clinical_cutoff {
            ClinicalCutoff::Below { cutoff } => {
                ResolvedCutoff { cutoff: cutoff.resolve(settings), clinical: ClinicalSide::Below }
            }
            ClinicalCutoff::BelowByAgeGroup { adult, adolescent, child } => {
                let threshold = match age_group {
                    AgeGroup::Adult => adult,
                    AgeGroup::Adolescent => adolescent,
                    AgeGroup::Child => child,
                };
                ResolvedCutoff { cutoff: threshold.resolve(settings), clinical: ClinicalSide::Below }
            }
            ClinicalCutoff::AtOrAbove { cutoff } => {
                ResolvedCutoff { cutoff: cutoff.resolve(settings), clinical: ClinicalSide::AtOrAbove }
            }
        }
    }

    /// Every threshold the rule names, for validation.
    pub fn thresholds(&self) -> Vec<(&'static str, Threshold)> {
        let mut all = vec![("/reliable_change", self.reliable_change)];
        match &self.clinical_cutoff {
            ClinicalCutoff::Below { cutoff } | ClinicalCutoff::AtOrAbove { cutoff } => {
                all.push(("/clinical_cutoff/cutoff", *cutoff));
            }
            ClinicalCutoff::BelowByAgeGroup { adult, adolescent, child } => {
                all.push(("/clinical_cutoff/adult", *adult));
                all.push(("/clinical_cutoff/adolescent", *adolescent));
                all.push(("/clinical_cutoff/child", *child));
            }
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ors_rule() -> OutcomeRule {
        OutcomeRule {
            reliable_change: Threshold::Setting(SettingName::OrsReliableChange),
            clinical_cutoff: ClinicalCutoff::BelowByAgeGroup {
                adult: Threshold::Setting(SettingName::OrsCutoffAdult),
                adolescent: Threshold::Setting(SettingName::OrsCutoffAdolescent),
                child: Threshold::Setting(SettingName::CorsCutoffChild),
            },
            session_by_session: true,
        }
    }

    #[test]
    fn the_ors_cutoff_follows_the_clients_age_group() {
        let settings = OrganizationSettings::default();
        let cutoffs: Vec<f64> = [AgeGroup::Adult, AgeGroup::Adolescent, AgeGroup::Child]
            .into_iter()
            .map(|group| ors_rule().cutoff(&settings, group).cutoff)
            .collect();
        assert_eq!(cutoffs, [25.0, 28.0, 32.0]);
        // 26 is non-clinical for an adult and clinical for an adolescent (Miller et al. 2003; the
        // adolescent cutoff of 28 is the one in wide use).
        assert!(!ors_rule().cutoff(&settings, AgeGroup::Adult).is_clinical(26.0));
        assert!(ors_rule().cutoff(&settings, AgeGroup::Adolescent).is_clinical(26.0));
    }

    #[test]
    fn caseness_is_clinical_at_the_cutoff_itself() {
        let rule = OutcomeRule {
            reliable_change: Threshold::Setting(SettingName::Phq9ReliableChange),
            clinical_cutoff: ClinicalCutoff::AtOrAbove { cutoff: Threshold::Setting(SettingName::Phq9Caseness) },
            session_by_session: false,
        };
        let settings = OrganizationSettings::default();
        assert!(rule.cutoff(&settings, AgeGroup::Adult).is_clinical(10.0));
        assert!(!rule.cutoff(&settings, AgeGroup::Adult).is_clinical(9.0));
        assert_eq!(rule.reliable_change(&settings), 6.0);
    }

    #[test]
    fn thresholds_serialize_as_a_setting_name_or_a_value() {
        assert_eq!(
            serde_json::to_value(Threshold::Setting(SettingName::Gad7Caseness)).unwrap(),
            serde_json::json!({"setting": "gad7_caseness"})
        );
        assert_eq!(serde_json::to_value(Threshold::Value(12.5)).unwrap(), serde_json::json!({"value": 12.5}));
        let measure: Measure = serde_json::from_value(serde_json::json!({"kind": "outcome",
            "reliable_change": {"value": 3}, "clinical_cutoff": {"rule": "at_or_above", "cutoff": {"value": 10}}}))
        .unwrap();
        assert!(matches!(measure, Measure::Outcome(rule) if !rule.session_by_session));
    }
}
