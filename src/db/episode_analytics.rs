//! What the episode analytics read: an episode's non-voided responses in series order (session
//! number, administered time, id), its signals, and the organization-wide inputs (change SD,
//! ETR band). One transaction, audited as a read of client data.
//!
//! Plans relied on, measured on 1 M responses (`cargo bench --bench load -- analytics`):
//! ```text
//! episode series:   Nested Loop Left Join (rows=24, 0.19 ms)
//!                     -> Index Scan using responses_series on responses
//!                          Index Cond: organization_id = … AND episode_id = …   (partial: voided_at IS NULL)
//!                     -> Index Scan using sessions_pkey on sessions
//! change SD:        HashAggregate -> Seq Scan on alliance_change_stats (≤ 16 shard rows per form,
//!                     every session-alliance form in one statement, 0.06 ms)
//! ETR band:         GroupAggregate -> Index Only Scan using outcome_points_reference
//!                     Index Cond: organization_id, instrument_key, intake_hundredths BETWEEN …, session_number <= 20
//!                     (≈ 55 k index entries for a central intake: the cost of the outcomes read)
//! ```

use super::audit::Actor;
use super::episodes::{EpisodeRow, find_visible_episode};
use super::rollups;
use super::schema::{clients, responses, sessions, signals};
use super::signals::{Signal, SignalRow};
use super::stored::stored;
use super::{Database, DbError};
use crate::domain::analytics::EtrBandPoint;
use crate::domain::analytics::episode::SeriesResponse;
use crate::domain::clients::AgeGroup;
use crate::domain::instruments::definition::Rater;
use crate::domain::instruments::{Answers, Catalogue};
use crate::domain::settings::OrganizationSettings;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;
use uuid::Uuid;

pub struct EpisodeSeries {
    pub episode: EpisodeRow,
    pub age_group: AgeGroup,
    pub settings: OrganizationSettings,
    pub catalogue: std::sync::Arc<Catalogue>,
    /// Non-voided responses in series order (session number, administered time, id).
    pub responses: Vec<SeriesResponse>,
    pub signals: Vec<Signal>,
    /// Per session-alliance instrument: the organization's change SD (once 100 pairs) and its pairs.
    pub change_sd: BTreeMap<String, (Option<f64>, i64)>,
    /// Per session-by-session outcome instrument: the ETR band of the reference set for this
    /// episode's intake (loaded only when asked for).
    pub etr_bands: BTreeMap<String, Vec<EtrBandPoint>>,
    /// The episode's analysed session transcripts, in session order.
    pub transcripts: Vec<crate::domain::transcript::series::AnalysedSession>,
}

type Row = (Uuid, String, String, Option<i32>, DateTime<Utc>, Value, Value);

fn series_response(row: Row) -> Result<SeriesResponse, DbError> {
    let (id, instrument_key, rater, session_number, administered_at, answers, scores) = row;
    let answers: BTreeMap<String, i64> =
        serde_json::from_value(answers).map_err(|e| DbError::Corrupt(format!("stored answers: {e}")))?;
    Ok(SeriesResponse {
        id,
        instrument_key,
        rater: stored(&rater, Rater::parse, "responses.rater")?,
        session_number,
        administered_at,
        answers: Answers(answers),
        scores: serde_json::from_value(scores).map_err(|e| DbError::Corrupt(format!("stored scores: {e}")))?,
    })
}

impl Database {
    pub async fn episode_series(
        &self,
        actor: Actor,
        episode_id: Uuid,
        action: &'static str,
        audit_detail: serde_json::Value,
        with_etr: bool,
    ) -> Result<EpisodeSeries, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let episode = find_visible_episode(conn, &actor, episode_id)?;
                let org = actor.organization_id;
                let age_group: String =
                    clients::table.find((org, episode.client_id)).select(clients::age_group).first(conn)?;
                let (_, settings) = super::settings::current(conn, org)?;
                let catalogue = super::catalogues::current(conn, org)?;
                let rows: Vec<Row> = super::responses::with_session_numbers()
                    .filter(responses::organization_id.eq(org))
                    .filter(responses::episode_id.eq(episode_id))
                    .filter(responses::voided_at.is_null())
                    .select((
                        responses::id,
                        responses::instrument_key,
                        responses::rater,
                        sessions::number.nullable(),
                        responses::administered_at,
                        responses::answers,
                        responses::scores,
                    ))
                    .load(conn)?;
                let mut series = rows.into_iter().map(series_response).collect::<Result<Vec<_>, _>>()?;
                series.sort_by_key(|r| (r.session_number.unwrap_or(i32::MAX), r.administered_at, r.id));
                let signals = signals::table
                    .filter(signals::organization_id.eq(org))
                    .filter(signals::episode_id.eq(episode_id))
                    .order(signals::id.asc())
                    .select(SignalRow::as_select())
                    .load::<SignalRow>(conn)?
                    .into_iter()
                    .map(Signal::try_from)
                    .collect::<Result<Vec<_>, _>>()?;
                let change_sd = rollups::org_change_sds(conn, org, &catalogue.session_alliance_keys())?;
                let mut etr_bands = BTreeMap::new();
                let etr_settings = settings.etr_settings();
                for key in catalogue.session_outcome_keys().into_iter().filter(|_| with_etr) {
                    let intake = series
                        .iter()
                        .find(|r| r.instrument_key == key && r.rater == Rater::Client && r.session_number.is_some());
                    if let Some(intake) = intake {
                        let band = rollups::etr_band(
                            conn,
                            org,
                            key,
                            episode_id,
                            intake.scores.total,
                            etr_settings.intake_window,
                            etr_settings.max_session,
                        )?;
                        etr_bands.insert(key.to_owned(), band);
                    }
                }
                let transcripts = super::transcripts::episode_transcripts(conn, org, episode_id)?;
                actor.record(conn, action, "episode", Some(episode_id), audit_detail)?;
                Ok(EpisodeSeries {
                    episode,
                    age_group: stored(&age_group, AgeGroup::parse, "clients.age_group")?,
                    settings,
                    catalogue,
                    responses: series,
                    signals,
                    change_sd,
                    etr_bands,
                    transcripts,
                })
            })
        })
        .await
    }
}
