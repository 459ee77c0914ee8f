//! An organization's clinical settings: the thresholds of docs/methodology.md, section 5.
//! Every field has the documented default; settings are versioned, and each response records
//! the version that produced its flags and signals.

use super::validation::{FieldError, whole_number};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How "below the SRS cutoff" is read: published sources disagree on 36 itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Comparator {
    /// total < cutoff
    Lt,
    /// total ≤ cutoff
    Le,
}

impl Comparator {
    pub fn below(self, value: f64, cutoff: f64) -> bool {
        match self {
            Comparator::Lt => value < cutoff,
            Comparator::Le => value <= cutoff,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuptureSensitivity {
    /// k = 1
    Standard,
    /// k = 2
    Strict,
}

macro_rules! defaults {
    ($($name:ident: $ty:ty = $value:expr;)*) => {
        $(pub(super) fn $name() -> $ty { $value })*
    };
}

mod default {
    use super::*;
    defaults! {
        srs_cutoff: f64 = 36.0;
        srs_cutoff_comparator: Comparator = Comparator::Lt;
        srs_item_concern: f64 = 8.0;
        srs_drop: f64 = 1.0;
        ors_cutoff_adult: f64 = 25.0;
        ors_cutoff_adolescent: f64 = 28.0;
        cors_cutoff_child: f64 = 32.0;
        ors_reliable_change: f64 = 5.0;
        phq9_caseness: f64 = 10.0;
        phq9_reliable_change: f64 = 6.0;
        gad7_caseness: f64 = 8.0;
        gad7_reliable_change: f64 = 4.0;
        wai_discrepancy: f64 = 1.0;
        no_change_session: i32 = 6;
        rupture_sensitivity: RuptureSensitivity = RuptureSensitivity::Standard;
        rupture_fallback_sd: f64 = 2.0;
        repair_window: i32 = 3;
        etr_min_reference: i32 = 30;
        etr_intake_window: f64 = 1.0;
        insight_min_clients: i32 = 30;
        small_cell_k: i32 = 5;
    }
}

/// A client attribute's name: 1–64 of a-z, 0-9 and _.
#[derive(ToSchema)]
#[schema(pattern = r"^[a-z0-9_]{1,64}$")]
#[allow(dead_code)]
struct AttributeName(String);

/// The thresholds in force. Absent fields take their defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationSettings {
    /// SRS/CSRS total below this is a possible alliance problem.
    #[serde(default = "default::srs_cutoff")]
    #[schema(minimum = 0.0, maximum = 40.0)]
    pub srs_cutoff: f64,
    #[serde(default = "default::srs_cutoff_comparator")]
    pub srs_cutoff_comparator: Comparator,
    /// An SRS item below this is worth talking about.
    #[serde(default = "default::srs_item_concern")]
    #[schema(minimum = 0.0, maximum = 10.0)]
    pub srs_item_concern: f64,
    /// A fall of at least this many points from the previous SRS of the episode.
    #[serde(default = "default::srs_drop")]
    #[schema(minimum = 0.1, maximum = 40.0)]
    pub srs_drop: f64,
    /// ORS at or above the cutoff is in the non-clinical range.
    #[serde(default = "default::ors_cutoff_adult")]
    #[schema(minimum = 0.0, maximum = 40.0)]
    pub ors_cutoff_adult: f64,
    /// Widely used, not verified against the primary paper.
    #[serde(default = "default::ors_cutoff_adolescent")]
    #[schema(minimum = 0.0, maximum = 40.0)]
    pub ors_cutoff_adolescent: f64,
    /// CORS (children 6–12), and ORS given to a child.
    #[serde(default = "default::cors_cutoff_child")]
    #[schema(minimum = 0.0, maximum = 40.0)]
    pub cors_cutoff_child: f64,
    #[serde(default = "default::ors_reliable_change")]
    #[schema(minimum = 0.1, maximum = 40.0)]
    pub ors_reliable_change: f64,
    #[serde(default = "default::phq9_caseness")]
    #[schema(minimum = 0.0, maximum = 27.0)]
    pub phq9_caseness: f64,
    #[serde(default = "default::phq9_reliable_change")]
    #[schema(minimum = 1.0, maximum = 27.0)]
    pub phq9_reliable_change: f64,
    #[serde(default = "default::gad7_caseness")]
    #[schema(minimum = 0.0, maximum = 21.0)]
    pub gad7_caseness: f64,
    #[serde(default = "default::gad7_reliable_change")]
    #[schema(minimum = 1.0, maximum = 21.0)]
    pub gad7_reliable_change: f64,
    /// |client − therapist| WAI subscale item mean at which the two see the alliance differently.
    #[serde(default = "default::wai_discrepancy")]
    #[schema(minimum = 0.1, maximum = 4.0)]
    pub wai_discrepancy: f64,
    /// By this session without reliable improvement, raise `no_change`.
    #[serde(default = "default::no_change_session", deserialize_with = "whole_number")]
    #[schema(minimum = 2.0, maximum = 100.0)]
    pub no_change_session: i32,
    #[serde(default = "default::rupture_sensitivity")]
    pub rupture_sensitivity: RuptureSensitivity,
    /// SD of session-to-session SRS change used until the organization has 100 pairs.
    #[serde(default = "default::rupture_fallback_sd")]
    #[schema(minimum = 0.1, maximum = 40.0)]
    pub rupture_fallback_sd: f64,
    /// A rupture counts as repaired within this many sessions.
    #[serde(default = "default::repair_window", deserialize_with = "whole_number")]
    #[schema(minimum = 1.0, maximum = 20.0)]
    pub repair_window: i32,
    #[serde(default = "default::etr_min_reference", deserialize_with = "whole_number")]
    #[schema(minimum = 5.0, maximum = 10000.0)]
    pub etr_min_reference: i32,
    #[serde(default = "default::etr_intake_window")]
    #[schema(minimum = 0.0, maximum = 10.0)]
    pub etr_intake_window: f64,
    /// Below this many clients a clinician's insights carry `low_reliability`.
    #[serde(default = "default::insight_min_clients", deserialize_with = "whole_number")]
    #[schema(minimum = 1.0, maximum = 10000.0)]
    pub insight_min_clients: i32,
    /// Groups with fewer distinct clients are suppressed for every role but admin.
    #[serde(default = "default::small_cell_k", deserialize_with = "whole_number")]
    #[schema(minimum = 2.0, maximum = 1000.0)]
    pub small_cell_k: i32,
    /// Client attributes that organization analytics may group by (at most 20).
    #[serde(default)]
    #[schema(max_items = 20, inline, value_type = Vec<AttributeName>)]
    pub declared_attributes: Vec<String>,
    /// Transcript analysis: retention, parameters, area-for-growth thresholds, own lexicon.
    #[serde(default)]
    pub transcripts: super::transcript::TranscriptSettings,
}

impl Default for OrganizationSettings {
    fn default() -> Self {
        serde_json::from_str("{}").expect("every field has a default")
    }
}

impl OrganizationSettings {
    pub fn rupture_k(&self) -> f64 {
        match self.rupture_sensitivity {
            RuptureSensitivity::Standard => 1.0,
            RuptureSensitivity::Strict => 2.0,
        }
    }

    /// The rupture rule's parameters, given the organization's SD of session-to-session change
    /// (`None` while it has fewer than 100 pairs).
    pub fn rupture_settings(&self, org_change_sd: Option<f64>) -> crate::domain::analytics::RuptureSettings {
        use crate::domain::analytics::CutoffComparator;
        crate::domain::analytics::RuptureSettings {
            k: self.rupture_k(),
            org_change_sd,
            fallback_sd: self.rupture_fallback_sd,
            repair_window: self.repair_window.max(0) as usize,
            cutoff: self.srs_cutoff,
            cutoff_comparator: match self.srs_cutoff_comparator {
                Comparator::Lt => CutoffComparator::Lt,
                Comparator::Le => CutoffComparator::Le,
            },
            drop_threshold: self.srs_drop,
        }
    }

    pub fn etr_settings(&self) -> crate::domain::analytics::EtrSettings {
        crate::domain::analytics::EtrSettings {
            intake_window: self.etr_intake_window,
            min_reference: self.etr_min_reference.max(1) as usize,
            max_session: 20,
        }
    }

    /// Checks every threshold against its sane range; all problems at once.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut range = |name: &str, value: f64, low: f64, high: f64| {
            if !(low..=high).contains(&value) || !value.is_finite() {
                errors.push(FieldError::new(format!("/{name}"), format!("must be from {low} to {high}")));
            }
        };
        range("srs_cutoff", self.srs_cutoff, 0.0, 40.0);
        range("srs_item_concern", self.srs_item_concern, 0.0, 10.0);
        range("srs_drop", self.srs_drop, 0.1, 40.0);
        range("ors_cutoff_adult", self.ors_cutoff_adult, 0.0, 40.0);
        range("ors_cutoff_adolescent", self.ors_cutoff_adolescent, 0.0, 40.0);
        range("cors_cutoff_child", self.cors_cutoff_child, 0.0, 40.0);
        range("ors_reliable_change", self.ors_reliable_change, 0.1, 40.0);
        range("phq9_caseness", self.phq9_caseness, 0.0, 27.0);
        range("phq9_reliable_change", self.phq9_reliable_change, 1.0, 27.0);
        range("gad7_caseness", self.gad7_caseness, 0.0, 21.0);
        range("gad7_reliable_change", self.gad7_reliable_change, 1.0, 21.0);
        range("wai_discrepancy", self.wai_discrepancy, 0.1, 4.0);
        range("no_change_session", f64::from(self.no_change_session), 2.0, 100.0);
        range("rupture_fallback_sd", self.rupture_fallback_sd, 0.1, 40.0);
        range("repair_window", f64::from(self.repair_window), 1.0, 20.0);
        range("etr_min_reference", f64::from(self.etr_min_reference), 5.0, 10_000.0);
        range("etr_intake_window", self.etr_intake_window, 0.0, 10.0);
        range("insight_min_clients", f64::from(self.insight_min_clients), 1.0, 10_000.0);
        range("small_cell_k", f64::from(self.small_cell_k), 2.0, 1_000.0);
        if self.declared_attributes.len() > 20 {
            errors.push(FieldError::new("/declared_attributes", "at most 20 attributes"));
        }
        for (index, name) in self.declared_attributes.iter().enumerate() {
            let ok = (1..=64).contains(&name.len())
                && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok {
                errors.push(FieldError::new(format!("/declared_attributes/{index}"), "1–64 of a-z, 0-9 and _"));
            }
        }
        self.transcripts.validate(&mut errors);
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let settings = OrganizationSettings::default();
        assert_eq!(settings.srs_cutoff, 36.0);
        assert_eq!(settings.srs_cutoff_comparator, Comparator::Lt);
        assert_eq!(
            (settings.ors_cutoff_adult, settings.ors_cutoff_adolescent, settings.cors_cutoff_child),
            (25.0, 28.0, 32.0)
        );
        assert_eq!((settings.phq9_caseness, settings.gad7_caseness), (10.0, 8.0));
        assert_eq!(settings.rupture_k(), 1.0);
        assert_eq!(settings.validate(), Ok(()));
    }

    #[test]
    fn both_comparators_read_the_cutoff_as_documented() {
        assert!(Comparator::Lt.below(35.9, 36.0));
        assert!(!Comparator::Lt.below(36.0, 36.0));
        assert!(Comparator::Le.below(36.0, 36.0));
        assert!(!Comparator::Le.below(36.1, 36.0));
    }

    #[test]
    fn out_of_range_thresholds_are_refused_by_pointer() {
        let settings = OrganizationSettings { srs_cutoff: 41.0, small_cell_k: 1, ..Default::default() };
        let pointers: Vec<String> = settings.validate().unwrap_err().into_iter().map(|e| e.pointer).collect();
        assert_eq!(pointers, ["/srs_cutoff", "/small_cell_k"]);
    }
}
