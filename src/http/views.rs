//! Response bodies shared by several resources: responses, signals, instruments. Wire types,
//! not rows: a schema change never silently changes the API. Means are rounded to two
//! decimals here, at the edge.

use crate::db::instruments::InstrumentVersion;
use crate::db::responses::StoredResponse;
use crate::db::signals::Signal;
use crate::domain::instruments::definition::*;
use crate::domain::instruments::measure::Measure;
use crate::domain::instruments::scoring::{Flag, SubscaleScore};
use crate::domain::signals::{Severity, SignalKind, SignalStatus};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

pub use crate::domain::analytics::round2;

#[derive(Debug, Serialize, ToSchema)]
pub struct ScoresView {
    pub total: f64,
    pub item_mean: f64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub subscales: BTreeMap<String, SubscaleScore>,
    pub band: Option<String>,
    pub flags: Vec<Flag>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignalView {
    pub id: Uuid,
    pub kind: SignalKind,
    pub severity: Severity,
    pub status: SignalStatus,
    pub client_id: Uuid,
    pub episode_id: Uuid,
    pub session_id: Option<Uuid>,
    pub clinician_id: Uuid,
    /// The instrument of the response that raised it; `null` for a transcript signal.
    pub instrument: Option<String>,
    /// The response that raised it; `null` for a transcript signal (see `session_id`).
    pub response_id: Option<Uuid>,
    /// Every response behind it (e.g. the previous SRS of a drop).
    pub response_ids: Vec<Uuid>,
    /// The numbers behind it.
    #[schema(value_type = Object)]
    pub evidence: Value,
    pub acknowledged_by: Option<Uuid>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<Uuid>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution_note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Signal> for SignalView {
    fn from(signal: Signal) -> Self {
        Self {
            id: signal.id,
            kind: signal.kind,
            severity: signal.severity,
            status: signal.status,
            client_id: signal.client_id,
            episode_id: signal.episode_id,
            session_id: signal.session_id,
            clinician_id: signal.clinician_id,
            instrument: signal.instrument_key,
            response_id: signal.response_id,
            response_ids: signal.response_ids,
            evidence: {
                let mut evidence = signal.evidence;
                super::rounded::round_floats(&mut evidence);
                evidence
            },
            acknowledged_by: signal.acknowledged_by,
            acknowledged_at: signal.acknowledged_at,
            resolved_by: signal.resolved_by,
            resolved_at: signal.resolved_at,
            resolution_note: signal.resolution_note,
            created_at: signal.created_at,
            updated_at: signal.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResponseView {
    pub id: Uuid,
    pub instrument: String,
    /// The exact instrument version it was scored with.
    pub instrument_version: i32,
    pub client_id: Uuid,
    pub episode_id: Uuid,
    pub session_id: Option<Uuid>,
    pub session_number: Option<i32>,
    pub rater: Rater,
    pub administered_at: DateTime<Utc>,
    /// True when the submission gave no `administered_at` and the time of receipt was used.
    pub administered_at_defaulted: bool,
    /// Item id → answer, exactly as submitted (VAS to one decimal).
    #[schema(value_type = Object)]
    pub answers: Value,
    pub comment: Option<String>,
    pub scores: ScoresView,
    /// The organization settings version that produced the band, flags and signals.
    pub settings_version: i32,
    /// Signals this response raised (on submission and single reads).
    pub signals: Vec<SignalView>,
    pub voided_at: Option<DateTime<Utc>>,
    pub void_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<StoredResponse> for ResponseView {
    fn from(stored: StoredResponse) -> Self {
        let row = stored.row;
        let scores = stored.scores;
        Self {
            id: row.id,
            instrument: row.instrument_key,
            instrument_version: stored.version,
            client_id: row.client_id,
            episode_id: row.episode_id,
            session_id: row.session_id,
            session_number: stored.session_number,
            rater: stored.rater,
            administered_at: row.administered_at,
            administered_at_defaulted: row.administered_at_defaulted,
            answers: crate::domain::instruments::answers::answer_values(&stored.definition, &row.answers),
            comment: row.comment,
            scores: ScoresView {
                total: round2(scores.total),
                item_mean: round2(scores.item_mean),
                subscales: scores
                    .subscales
                    .into_iter()
                    .map(|(k, s)| {
                        (k, SubscaleScore { total: round2(s.total), item_mean: round2(s.item_mean), items: s.items })
                    })
                    .collect(),
                band: scores.band,
                flags: scores.flags,
            },
            settings_version: row.settings_version,
            signals: stored.signals.into_iter().map(SignalView::from).collect(),
            voided_at: row.voided_at,
            void_reason: row.void_reason,
            created_at: row.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InstrumentView {
    pub key: String,
    pub name: String,
    pub version: i32,
    pub builtin: bool,
    pub licence: Licence,
    pub ships_text: bool,
    pub category: Category,
    pub raters: Vec<Rater>,
    /// Items; `text` is the shipped wording, or the organization's for `locale`.
    pub items: Vec<ItemDefinition>,
    pub subscales: Vec<Subscale>,
    pub total_rule: TotalRule,
    pub direction: Direction,
    pub total_range: ScoreRange,
    pub bands: Vec<Band>,
    pub loinc: Option<Loinc>,
    /// What the total means clinically: the rules, signals and analytics that apply.
    pub measure: Measure,
    /// The locale of the organization texts applied, if any.
    pub locale: Option<String>,
}

impl InstrumentView {
    pub fn new(version: InstrumentVersion, locale: Option<(String, Map<String, Value>)>) -> Self {
        let definition = version.definition;
        let (min, max) = definition.total_range();
        let mut items = definition.items;
        if let Some((_, texts)) = &locale {
            for item in &mut items {
                if let Some(text) = texts.get(&item.id).and_then(Value::as_str) {
                    item.text = Some(text.to_owned());
                }
            }
        }
        Self {
            key: definition.key,
            name: definition.name,
            version: version.version,
            builtin: version.builtin,
            licence: definition.licence,
            ships_text: definition.ships_text,
            category: definition.category,
            raters: definition.raters,
            items,
            subscales: definition.subscales,
            total_rule: definition.total,
            direction: definition.direction,
            total_range: ScoreRange { min, max },
            bands: definition.bands,
            loinc: definition.loinc,
            measure: definition.measure,
            locale: locale.map(|(l, _)| l),
        }
    }
}
