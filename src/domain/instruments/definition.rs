//! What an instrument is: items and the answers they take, how items add up to scores, and
//! what the scores mean. Built-in and organization-defined instruments share this schema;
//! `InstrumentDefinition::validate` is the only door for a custom one.

use super::super::validation::{FieldError, pointer_token};
use super::measure::{Measure, OutcomeRule, Threshold};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use utoipa::ToSchema;

/// Who may use an instrument's wording.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Licence {
    /// ORS/SRS family: licensed per agency by their authors; Rapport ships no wording.
    Pcoms,
    /// Working Alliance Inventory: permission through the Society for Psychotherapy Research.
    SprWai,
    PublicDomain,
    /// Defined by the organization itself.
    OrgOwned,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rater {
    Client,
    Therapist,
    Collateral,
}

impl Rater {
    pub fn as_str(self) -> &'static str {
        match self {
            Rater::Client => "client",
            Rater::Therapist => "therapist",
            Rater::Collateral => "collateral",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Rater::Client, Rater::Therapist, Rater::Collateral].into_iter().find(|r| r.as_str() == raw)
    }
}

/// What an instrument measures, which decides the signals it can raise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Alliance,
    Outcome,
    Symptom,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TotalRule {
    Sum,
    Mean,
}

/// The answer an item takes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AnswerType {
    /// Visual-analogue line: a decimal from 0.0 to 10.0 with at most one decimal place.
    Vas,
    /// A whole number from `min` to `max`, optionally with a label per value.
    Likert {
        #[serde(deserialize_with = "crate::domain::validation::whole_number")]
        min: i32,
        #[serde(deserialize_with = "crate::domain::validation::whole_number")]
        max: i32,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        labels: Vec<String>,
        /// LOINC answer codes (`LA…`), one per value from `min` to `max`: an EHR's coded answer
        /// (FHIR `valueCoding`) is read through them.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        codes: Vec<String>,
    },
}

impl AnswerType {
    /// Answers are kept as whole numbers of `1 / scale`: tenths for VAS, units for Likert.
    pub fn scale(&self) -> i64 {
        match self {
            AnswerType::Vas => 10,
            AnswerType::Likert { .. } => 1,
        }
    }

    /// The smallest and largest answer, in units of `1 / scale`.
    pub fn bounds(&self) -> (i64, i64) {
        match self {
            AnswerType::Vas => (0, 100),
            AnswerType::Likert { min, max, .. } => (i64::from(*min), i64::from(*max)),
        }
    }
}

fn yes() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

fn is_false(value: &bool) -> bool {
    !*value
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemDefinition {
    /// Stable id; the key of the answer in a submission (`/answers/<id>`).
    pub id: String,
    /// What the item is about, in a few words (not the licensed wording).
    pub domain: String,
    pub answer: AnswerType,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub required: bool,
    /// Unscored items (PHQ-9's "how difficult") are stored but add to no score.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub scored: bool,
    /// Reverse-keyed: scored as `min + max − answer`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub reversed: bool,
    /// Wording shipped with Rapport (public-domain instruments only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// An answer above this value raises a `safety_item` signal whatever the total (PHQ-9
    /// item 9, thoughts of self-harm: above 0). In the item's own units.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::domain::validation::optional_whole_number"
    )]
    pub safety_above: Option<i32>,
    /// The item's LOINC code, where LOINC has one (PHQ-9, GAD-7): a FHIR form may name the
    /// item by it instead of by `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loinc: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Subscale {
    pub key: String,
    pub name: String,
    pub items: Vec<String>,
}

/// A score range with a name, inclusive at both ends (in score units).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub label: String,
    pub min: f64,
    pub max: f64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Loinc {
    pub panel: String,
    /// The code to put on the total score.
    pub total: String,
}

impl Loinc {
    /// LOINC's own canonical URL of the panel's form, which EHR form builders use.
    pub fn form_url(&self) -> String {
        format!("http://loinc.org/q/{}", self.panel)
    }
}

/// Whether `code` has the shape of a LOINC code (`44250-9`) or answer code (`LA6568-5`).
fn is_loinc(code: &str, answer: bool) -> bool {
    let digits = if answer { code.strip_prefix("LA") } else { Some(code) };
    digits.and_then(|d| d.split_once('-')).is_some_and(|(number, check)| {
        (1..=8).contains(&number.len())
            && number.bytes().all(|b| b.is_ascii_digit())
            && check.len() == 1
            && check.bytes().all(|b| b.is_ascii_digit())
    })
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstrumentDefinition {
    pub key: String,
    pub name: String,
    pub licence: Licence,
    /// Whether Rapport ships the item wording (false: the organization uploads its licensed text).
    pub ships_text: bool,
    pub category: Category,
    /// Who may fill it in.
    pub raters: Vec<Rater>,
    pub items: Vec<ItemDefinition>,
    #[serde(default)]
    pub subscales: Vec<Subscale>,
    pub total: TotalRule,
    pub direction: Direction,
    #[serde(default)]
    pub bands: Vec<Band>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loinc: Option<Loinc>,
    /// What the total means clinically; decides flags, signals and analytics.
    #[serde(default)]
    pub measure: Measure,
}

pub const MAX_ITEMS: usize = 100;

fn is_identifier(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && id.as_bytes()[0].is_ascii_lowercase()
}

impl InstrumentDefinition {
    /// A session-by-session alliance rating (SRS, CSRS).
    pub fn is_session_alliance(&self) -> bool {
        matches!(self.measure, Measure::SessionAlliance { .. })
    }

    /// Whether its items are compared with the organization's (the adult SRS).
    pub fn compares_items(&self) -> bool {
        matches!(self.measure, Measure::SessionAlliance { item_comparisons: true })
    }

    /// The other perspective's form of a working-alliance inventory.
    pub fn counterpart(&self) -> Option<&str> {
        match &self.measure {
            Measure::WorkingAlliance { counterpart } => Some(counterpart),
            _ => None,
        }
    }

    /// How change is judged, for outcome and symptom measures.
    pub fn outcome(&self) -> Option<&OutcomeRule> {
        match &self.measure {
            Measure::Outcome(rule) => Some(rule),
            _ => None,
        }
    }

    /// An outcome measure given every session (ORS, CORS): expected-treatment-response bands.
    pub fn is_session_outcome(&self) -> bool {
        self.outcome().is_some_and(|rule| rule.session_by_session)
    }

    /// Whether an improvement is a rise of the total.
    pub fn higher_is_better(&self) -> bool {
        self.direction == Direction::HigherIsBetter
    }

    pub fn scored_items(&self) -> impl Iterator<Item = &ItemDefinition> {
        self.items.iter().filter(|item| item.scored)
    }

    pub fn item(&self, id: &str) -> Option<&ItemDefinition> {
        self.items.iter().find(|item| item.id == id)
    }

    /// The item a form names by its id, by its LOINC code, or by the LOINC code behind a
    /// slash (the `linkId`s of LOINC-built FHIR forms).
    pub fn item_by_link(&self, link: &str) -> Option<&ItemDefinition> {
        self.item(link).or_else(|| {
            let code = link.strip_prefix('/').unwrap_or(link);
            self.items.iter().find(|item| item.loinc.as_deref() == Some(code))
        })
    }

    /// The scale shared by every scored item (validated to be one).
    pub fn scale(&self) -> i64 {
        self.scored_items().next().map_or(1, |item| item.answer.scale())
    }

    /// Lowest and highest possible total, in score units.
    pub fn total_range(&self) -> (f64, f64) {
        let scale = self.scale() as f64;
        let (low, high): (i64, i64) = self
            .scored_items()
            .map(|item| item.answer.bounds())
            .fold((0, 0), |acc, b| (acc.0.saturating_add(b.0), acc.1.saturating_add(b.1)));
        let count = self.scored_items().count().max(1) as f64;
        match self.total {
            TotalRule::Sum => (low as f64 / scale, high as f64 / scale),
            TotalRule::Mean => (low as f64 / scale / count, high as f64 / scale / count),
        }
    }

    /// Lowest and highest possible item mean (the working-alliance chart's scale).
    pub fn item_mean_range(&self) -> (f64, f64) {
        let scale = self.scale() as f64;
        let bounds: Vec<(i64, i64)> = self.scored_items().map(|item| item.answer.bounds()).collect();
        let low = bounds.iter().map(|b| b.0).min().unwrap_or(0);
        let high = bounds.iter().map(|b| b.1).max().unwrap_or(0);
        (low as f64 / scale, high as f64 / scale)
    }

    /// Checks a definition an organization submits; every problem is reported by pointer.
    pub fn validate(&self, pointer: &str) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let at = |path: &str| format!("{pointer}{path}");
        if !is_identifier(&self.key) {
            errors.push(FieldError::new(at("/key"), "1–64 of a-z, 0-9, _ and -, starting with a letter"));
        }
        if self.name.trim().is_empty() || self.name.chars().count() > 200 {
            errors.push(FieldError::new(at("/name"), "must be 1–200 characters"));
        }
        if self.raters.is_empty() {
            errors.push(FieldError::new(at("/raters"), "name at least one rater"));
        }
        if self.items.is_empty() || self.items.len() > MAX_ITEMS {
            errors.push(FieldError::new(at("/items"), format!("must have 1 to {MAX_ITEMS} items")));
        }
        let mut seen = BTreeSet::new();
        for (index, item) in self.items.iter().enumerate() {
            let here = at(&format!("/items/{index}"));
            if !is_identifier(&item.id) {
                errors.push(FieldError::new(format!("{here}/id"), "1–64 of a-z, 0-9, _ and -, starting with a letter"));
            } else if !seen.insert(item.id.as_str()) {
                errors.push(FieldError::new(format!("{here}/id"), format!("duplicate item id `{}`", item.id)));
            }
            if let AnswerType::Likert { min, max, labels, codes } = &item.answer {
                let values = i64::from(*max).saturating_sub(i64::from(*min)).saturating_add(1);
                if min >= max || *min < -1000 || *max > 1000 {
                    errors.push(FieldError::new(format!("{here}/answer"), "needs min < max, both within ±1000"));
                } else if !labels.is_empty() && labels.len() as i64 != values {
                    errors
                        .push(FieldError::new(format!("{here}/answer/labels"), "one label per value from min to max"));
                }
                if !codes.is_empty() && (codes.len() as i64 != values || !codes.iter().all(|c| is_loinc(c, true))) {
                    errors.push(FieldError::new(
                        format!("{here}/answer/codes"),
                        "one LOINC answer code (LA…-n) per value from min to max",
                    ));
                }
            }
            if item.loinc.as_ref().is_some_and(|code| !is_loinc(code, false)) {
                errors.push(FieldError::new(format!("{here}/loinc"), "a LOINC code such as 44250-9"));
            }
            if item.text.as_ref().is_some_and(|t| t.chars().count() > 1000) {
                errors.push(FieldError::new(format!("{here}/text"), "at most 1000 characters"));
            }
            if let Some(above) = item.safety_above {
                let (low, high) = item.answer.bounds();
                if !(low..high).contains(&i64::from(above)) {
                    errors.push(FieldError::new(
                        format!("{here}/safety_above"),
                        "must be an answer value below the item's maximum",
                    ));
                }
            }
        }
        let scales: BTreeSet<i64> = self.scored_items().map(|item| item.answer.scale()).collect();
        if scales.len() > 1 {
            errors.push(FieldError::new(at("/items"), "scored items must all be VAS or all be Likert"));
        }
        if self.scored_items().next().is_none() && !self.items.is_empty() {
            errors.push(FieldError::new(at("/items"), "at least one item must be scored"));
        }
        for (index, subscale) in self.subscales.iter().enumerate() {
            let here = at(&format!("/subscales/{index}"));
            if !is_identifier(&subscale.key) {
                errors.push(FieldError::new(format!("{here}/key"), "1–64 of a-z, 0-9, _ and -"));
            }
            if subscale.items.is_empty() {
                errors.push(FieldError::new(format!("{here}/items"), "name at least one item"));
            }
            for (position, id) in subscale.items.iter().enumerate() {
                if !self.scored_items().any(|item| &item.id == id) {
                    errors.push(FieldError::new(
                        format!("{here}/items/{position}"),
                        format!("`{}` is not a scored item of this instrument", pointer_token(id)),
                    ));
                }
            }
        }
        let (low, high) = self.total_range();
        for (index, band) in self.bands.iter().enumerate() {
            if band.min > band.max || band.min < low || band.max > high || band.label.trim().is_empty() {
                errors.push(FieldError::new(
                    at(&format!("/bands/{index}")),
                    format!("needs a label and min ≤ max within {low}–{high}"),
                ));
            }
        }
        if let Some(rule) = self.outcome() {
            errors.extend(self.validate_thresholds(rule, &at("/measure")));
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    /// [`Self::validate`] for an organization's own instrument. It may be an outcome measure
    /// with fixed or setting-based thresholds; the alliance roles and session-by-session
    /// outcomes are reserved to the built-ins, whose rollups, rupture rules and reference sets
    /// are built for them.
    pub fn validate_custom(&self, pointer: &str) -> Result<(), Vec<FieldError>> {
        let mut errors = self.validate(pointer).err().unwrap_or_default();
        let at = format!("{pointer}/measure");
        match &self.measure {
            Measure::SessionAlliance { .. } | Measure::WorkingAlliance { .. } => errors.push(FieldError::new(
                at,
                "only built-in instruments are alliance measures; use `outcome` or leave it out",
            )),
            Measure::Outcome(rule) if rule.session_by_session => errors
                .push(FieldError::new(format!("{at}/session_by_session"), "is reserved to the built-in ORS and CORS")),
            _ => {}
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    fn validate_thresholds(&self, rule: &OutcomeRule, pointer: &str) -> Vec<FieldError> {
        let (low, high) = self.total_range();
        rule.thresholds()
            .into_iter()
            .filter_map(|(path, threshold)| match threshold {
                Threshold::Value(value) => Some((path, value)),
                Threshold::Setting(_) => None,
            })
            .filter(|(path, value)| {
                let sane = if *path == "/reliable_change" {
                    *value > 0.0 && *value <= high - low
                } else {
                    (low..=high).contains(value)
                };
                !sane || !value.is_finite()
            })
            .map(|(path, _)| {
                FieldError::new(
                    format!("{pointer}{path}/value"),
                    format!("must be within the instrument's total range {low}–{high}"),
                )
            })
            .collect()
    }
}
