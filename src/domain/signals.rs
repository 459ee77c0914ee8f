//! Signals: stored, stateful findings raised when a response arrives. This module decides which
//! signals a new response raises from the series so far; storing and deduplicating them (one
//! per kind per triggering response) is the database's job.

use super::analytics::{EtrAssessment, EtrStatus, RuptureEvent, round2};
use super::clients::AgeGroup;
use super::instruments::definition::Rater;
use super::instruments::{InstrumentDefinition, Scores};
use super::series_state::SeriesState;
use super::settings::OrganizationSettings;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    SafetyItem,
    AllianceBelowCutoff,
    AllianceItemLow,
    AllianceDrop,
    AllianceRupture,
    AllianceRepair,
    AllianceDiscrepancy,
    OutcomeDeterioration,
    OffTrack,
    NoChange,
    /// A rupture in a session's transcript that no resolving move followed (docs/methodology.md,
    /// section 14): a lower-validity, rule-based finding for the clinician.
    TranscriptRuptureUnaddressed,
}

impl SignalKind {
    pub const ALL: [SignalKind; 11] = [
        SignalKind::SafetyItem,
        SignalKind::AllianceBelowCutoff,
        SignalKind::AllianceItemLow,
        SignalKind::AllianceDrop,
        SignalKind::AllianceRupture,
        SignalKind::AllianceRepair,
        SignalKind::AllianceDiscrepancy,
        SignalKind::OutcomeDeterioration,
        SignalKind::OffTrack,
        SignalKind::NoChange,
        SignalKind::TranscriptRuptureUnaddressed,
    ];

    /// Raised at most once per episode and instrument while open (`no_change`: once at all).
    pub const ONCE_PER_EPISODE: [SignalKind; 3] =
        [SignalKind::OutcomeDeterioration, SignalKind::NoChange, SignalKind::OffTrack];

    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::SafetyItem => "safety_item",
            SignalKind::AllianceBelowCutoff => "alliance_below_cutoff",
            SignalKind::AllianceItemLow => "alliance_item_low",
            SignalKind::AllianceDrop => "alliance_drop",
            SignalKind::AllianceRupture => "alliance_rupture",
            SignalKind::AllianceRepair => "alliance_repair",
            SignalKind::AllianceDiscrepancy => "alliance_discrepancy",
            SignalKind::OutcomeDeterioration => "outcome_deterioration",
            SignalKind::OffTrack => "off_track",
            SignalKind::NoChange => "no_change",
            SignalKind::TranscriptRuptureUnaddressed => "transcript_rupture_unaddressed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }

    pub fn severity(self) -> Severity {
        match self {
            SignalKind::SafetyItem => Severity::Critical,
            SignalKind::AllianceItemLow
            | SignalKind::AllianceRepair
            | SignalKind::AllianceDiscrepancy
            | SignalKind::NoChange
            | SignalKind::TranscriptRuptureUnaddressed => Severity::Info,
            _ => Severity::Warning,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|severity| severity.as_str() == raw)
    }
}

/// Where a signal is in its life: `open` → `acknowledged` → `resolved`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignalStatus {
    Open,
    Acknowledged,
    Resolved,
}

impl SignalStatus {
    pub const ALL: [SignalStatus; 3] = [SignalStatus::Open, SignalStatus::Acknowledged, SignalStatus::Resolved];

    pub fn as_str(self) -> &'static str {
        match self {
            SignalStatus::Open => "open",
            SignalStatus::Acknowledged => "acknowledged",
            SignalStatus::Resolved => "resolved",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == raw)
    }
}

/// A signal to store.
#[derive(Clone, Debug, PartialEq)]
pub struct SignalDraft {
    pub kind: SignalKind,
    /// The numbers behind it.
    pub evidence: Value,
    /// Every response that triggered it (the new one first).
    pub response_ids: Vec<Uuid>,
}

/// An earlier administration of the same instrument, by the same rater, in the same episode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlierScore {
    pub response_id: Uuid,
    pub session_number: Option<i32>,
    pub total: f64,
}

/// The other WAI form (client or therapist) of the same session.
#[derive(Clone, Debug)]
pub struct PairedForm {
    pub response_id: Uuid,
    pub scores: Scores,
}

pub struct SignalInput<'a> {
    pub definition: &'a InstrumentDefinition,
    /// Who filled the new response in.
    pub rater: Rater,
    pub response_id: Uuid,
    pub session_number: Option<i32>,
    pub scores: &'a Scores,
    /// The series before the new response (session number, time, id order).
    pub series: &'a SeriesState,
    pub paired: Option<&'a PairedForm>,
    pub settings: &'a OrganizationSettings,
    pub age_group: AgeGroup,
    /// Episode-level kinds already raised for this instrument (raised once per episode).
    pub already_raised: &'a [SignalKind],
    /// SD of session-to-session change across the organization, once it has 100 pairs.
    pub org_change_sd: Option<f64>,
    /// The expected-treatment-response assessment at this response (ORS/CORS).
    pub etr: Option<&'a EtrAssessment>,
}

/// Decides the signals a new response raises from the series so far.
pub fn evaluate(input: &SignalInput<'_>) -> Vec<SignalDraft> {
    let mut drafts = Vec::new();
    let mut raise = |kind, evidence, extra: Option<Uuid>| {
        let mut response_ids = vec![input.response_id];
        response_ids.extend(extra);
        drafts.push(SignalDraft { kind, evidence, response_ids });
    };
    let definition = input.definition;
    let total = input.scores.total;
    let settings = input.settings;
    for flag in &input.scores.flags {
        if flag.code == "safety_item" {
            raise(SignalKind::SafetyItem, json!({ "item": flag.item, "total": total }), None);
        }
    }
    if definition.is_session_alliance() {
        if input.scores.flags.iter().any(|f| f.code == "alliance_below_cutoff") {
            let evidence =
                json!({ "total": total, "cutoff": settings.srs_cutoff, "comparator": settings.srs_cutoff_comparator });
            raise(SignalKind::AllianceBelowCutoff, evidence, None);
        }
        let low: Vec<&str> = input
            .scores
            .flags
            .iter()
            .filter(|f| f.code == "alliance_item_low")
            .filter_map(|f| f.item.as_deref())
            .collect();
        if !low.is_empty() {
            raise(SignalKind::AllianceItemLow, json!({ "items": low, "threshold": settings.srs_item_concern }), None);
        }
        if let Some(previous) = &input.series.last {
            let change = total - previous.total;
            if change <= -settings.srs_drop + 1e-9 {
                let evidence = json!({ "previous_total": previous.total, "total": total, "change": round2(change),
                                       "threshold": settings.srs_drop });
                raise(SignalKind::AllianceDrop, evidence, Some(previous.response_id));
            }
        }
    }
    if definition.is_session_alliance() {
        raise_rupture_or_repair(input, &mut raise);
    }
    if let Some(etr) = input.etr.filter(|e| e.status == EtrStatus::OffTrack) {
        if !input.already_raised.contains(&SignalKind::OffTrack) {
            let evidence = json!({ "total": total, "session_number": etr.session_number, "expected": etr.expected,
                                   "reference_count": etr.reference_count,
                                   "band": etr.band.iter().find(|b| Some(b.session_number) == etr.session_number) });
            raise(SignalKind::OffTrack, evidence, None);
        }
    }
    if let (Some(paired), Some(_)) = (input.paired, definition.counterpart()) {
        let (client, therapist) =
            if input.rater == Rater::Client { (input.scores, &paired.scores) } else { (&paired.scores, input.scores) };
        let differing: Vec<Value> = client
            .subscales
            .iter()
            .filter_map(|(subscale, c)| {
                let t = therapist.subscales.get(subscale)?;
                let difference = c.item_mean - t.item_mean;
                (difference.abs() >= settings.wai_discrepancy - 1e-9).then(|| {
                    json!({ "subscale": subscale, "client_item_mean": c.item_mean, "therapist_item_mean": t.item_mean,
                            "difference": round2(difference) })
                })
            })
            .collect();
        if !differing.is_empty() {
            let evidence = json!({ "subscales": differing, "threshold": settings.wai_discrepancy });
            raise(SignalKind::AllianceDiscrepancy, evidence, Some(paired.response_id));
        }
    }
    if let (Some(rule), Some(intake)) = (definition.outcome(), &input.series.first) {
        let change = total - intake.total;
        let improvement = if definition.higher_is_better() { change } else { -change };
        let reliable_change = rule.reliable_change(settings);
        let evidence = json!({ "intake_total": intake.total, "total": total, "change": round2(change),
                               "reliable_change": reliable_change,
                               "clinical_cutoff": rule.cutoff(settings, input.age_group).cutoff });
        if improvement <= -reliable_change + 1e-9 && !input.already_raised.contains(&SignalKind::OutcomeDeterioration) {
            raise(SignalKind::OutcomeDeterioration, evidence.clone(), Some(intake.response_id));
        }
        let administrations = i32::try_from(input.series.count()).map_or(i32::MAX, |n| n.saturating_add(1));
        let session = input.session_number.unwrap_or(administrations);
        if session >= settings.no_change_session
            && improvement < reliable_change - 1e-9
            && !input.already_raised.contains(&SignalKind::NoChange)
        {
            raise(SignalKind::NoChange, evidence, Some(intake.response_id));
        }
    }
    drafts
}

/// Takes the new response as the next point of the series' trajectory; raises a rupture or a
/// repair when the new point is one (docs/methodology.md, "Rupture and repair").
fn raise_rupture_or_repair(input: &SignalInput<'_>, raise: &mut impl FnMut(SignalKind, Value, Option<Uuid>)) {
    let mut trajectory = input.series.trajectory.clone();
    let point = input.series.next_point(input.session_number, input.scores.total);
    let (_, event) = trajectory.push(point, &input.settings.rupture_settings(input.org_change_sd));
    match event {
        Some(RuptureEvent::Opened(rupture)) => {
            raise(SignalKind::AllianceRupture, serde_json::to_value(rupture).unwrap_or(Value::Null), None);
        }
        Some(RuptureEvent::Repaired(rupture)) => {
            let evidence = json!({ "rupture_session": rupture.session_number, "baseline": rupture.baseline,
                                   "spread": rupture.spread, "score": input.scores.total,
                                   "repair_threshold": rupture.baseline - 0.5 * rupture.spread });
            raise(SignalKind::AllianceRepair, evidence, input.series.open_rupture_response);
        }
        Some(RuptureEvent::Closed) | None => {}
    }
}

#[cfg(test)]
#[path = "signals_tests.rs"]
mod tests;
