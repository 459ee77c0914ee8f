//! Scoring a parsed response: totals, subscales and item means (exact integer arithmetic in
//! item units until the final division), then what the score means under the organization's
//! settings (band and flags).

use super::answers::Answers;
use super::definition::{InstrumentDefinition, TotalRule};
use super::measure::Measure;
use crate::domain::clients::AgeGroup;
use crate::domain::settings::OrganizationSettings;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SubscaleScore {
    pub total: f64,
    /// Mean item score (how client and therapist WAI forms are compared).
    pub item_mean: f64,
    pub items: usize,
}

/// A finding about this response alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Flag {
    /// `alliance_below_cutoff`, `alliance_item_low`, `safety_item`, `clinical_range`.
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Scores {
    pub total: f64,
    pub item_mean: f64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub subscales: BTreeMap<String, SubscaleScore>,
    /// e.g. `minimal` … `severe` (PHQ-9, GAD-7), `clinical`/`non_clinical` (ORS, CORS),
    /// `below_cutoff`/`at_or_above_cutoff` (SRS, CSRS).
    pub band: Option<String>,
    pub flags: Vec<Flag>,
}

/// Item value in units after reverse keying.
fn keyed_value(definition: &InstrumentDefinition, answers: &Answers, item: &str) -> Option<i64> {
    let definition_item = definition.item(item)?;
    let value = *answers.0.get(item)?;
    if definition_item.reversed {
        let (low, high) = definition_item.answer.bounds();
        Some(low.saturating_add(high).saturating_sub(value))
    } else {
        Some(value)
    }
}

fn sum_and_count<'a>(
    definition: &InstrumentDefinition,
    answers: &Answers,
    items: impl Iterator<Item = &'a str>,
) -> (i64, usize) {
    items
        .filter_map(|item| keyed_value(definition, answers, item))
        .fold((0, 0), |(sum, n): (i64, usize), v| (sum.saturating_add(v), n.saturating_add(1)))
}

/// Scores `answers` (already parsed against `definition`).
pub fn score(
    definition: &InstrumentDefinition,
    answers: &Answers,
    settings: &OrganizationSettings,
    age_group: AgeGroup,
) -> Scores {
    let scale = definition.scale() as f64;
    let (sum, count) = sum_and_count(definition, answers, definition.scored_items().map(|i| i.id.as_str()));
    let item_mean = if count == 0 { 0.0 } else { sum as f64 / scale / count as f64 };
    let total = match definition.total {
        TotalRule::Sum => sum as f64 / scale,
        TotalRule::Mean => item_mean,
    };
    let subscales = definition
        .subscales
        .iter()
        .map(|subscale| {
            let (sum, count) = sum_and_count(definition, answers, subscale.items.iter().map(String::as_str));
            let item_mean = if count == 0 { 0.0 } else { sum as f64 / scale / count as f64 };
            (subscale.key.clone(), SubscaleScore { total: sum as f64 / scale, item_mean, items: count })
        })
        .collect();
    let (band, flags) = interpret(definition, answers, total, settings, age_group);
    Scores { total, item_mean, subscales, band, flags }
}

fn flag(code: &str, item: Option<&str>) -> Flag {
    Flag { code: code.into(), item: item.map(str::to_owned) }
}

fn interpret(
    definition: &InstrumentDefinition,
    answers: &Answers,
    total: f64,
    settings: &OrganizationSettings,
    age_group: AgeGroup,
) -> (Option<String>, Vec<Flag>) {
    let mut flags = Vec::new();
    let banded = || definition.bands.iter().find(|b| total >= b.min && total <= b.max).map(|b| b.label.clone());
    let band = match &definition.measure {
        Measure::SessionAlliance { .. } => {
            let below = settings.srs_cutoff_comparator.below(total, settings.srs_cutoff);
            if below {
                flags.push(flag("alliance_below_cutoff", None));
            }
            for item in definition.scored_items() {
                if answers.value(definition, &item.id).is_some_and(|v| v < settings.srs_item_concern) {
                    flags.push(flag("alliance_item_low", Some(&item.id)));
                }
            }
            Some(if below { "below_cutoff" } else { "at_or_above_cutoff" }.to_owned())
        }
        Measure::Outcome(rule) => {
            let clinical = rule.cutoff(settings, age_group).is_clinical(total);
            if clinical {
                flags.push(flag("clinical_range", None));
            }
            if definition.bands.is_empty() {
                Some(if clinical { "clinical" } else { "non_clinical" }.to_owned())
            } else {
                banded()
            }
        }
        Measure::WorkingAlliance { .. } | Measure::Unspecified => banded(),
    };
    for item in &definition.items {
        let value = answers.0.get(&item.id);
        if let (Some(above), Some(value)) = (item.safety_above, value) {
            if *value > i64::from(above) {
                flags.push(flag("safety_item", Some(&item.id)));
            }
        }
    }
    (band, flags)
}

#[cfg(test)]
#[path = "scoring_tests.rs"]
mod tests;
