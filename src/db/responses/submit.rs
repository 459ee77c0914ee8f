//! Submitting responses: one transaction per request (or batch) that resolves each response's
//! session or episode as the caller may see it, scores it under the organization's current
//! settings, stores it, keeps the rollups, raises the signals of the series so far
//! (deduplicated by a unique key), audits it and, with an `Idempotency-Key`, stores the answer
//! for replays.

use super::idempotency::{claim_key, store_answer};
use super::series::{series_before, store_series_after};
use super::*;
use crate::db::episodes::visible_episodes;
use crate::db::form_requests;
use crate::db::rollups;
use crate::db::schema::{clients, episodes, responses, sessions, signals};
use crate::db::series_states::{SeriesKey, series_order};
use crate::db::signals::{Signal, SignalRow};
use crate::db::stored::stored;
use crate::domain::analytics::assess_against_band;
use crate::domain::clients::AgeGroup;
use crate::domain::instruments::InstrumentDefinition;
use crate::domain::signals::{PairedForm, SignalInput, SignalKind, SignalStatus, evaluate};
use crate::domain::validation::FieldError;

/// Where a response belongs, as the caller may see it.
struct Target {
    session_id: Option<Uuid>,
    session_number: Option<i32>,
    episode_id: Uuid,
    client_id: Uuid,
    clinician_id: Uuid,
    age_group: AgeGroup,
}

fn resolve_target(
    conn: &mut PgConnection,
    actor: &Actor,
    submission: &ParsedSubmission,
    form_session: Option<Uuid>,
) -> Result<Result<Target, FieldError>, SubmitError> {
    let at = |field: &str| format!("{}/{field}", submission.pointer);
    let episodes_seen = visible_episodes(actor);
    let (session, episode_id) = match (submission.session_id, submission.episode_id) {
        (Some(session_id), claimed) => {
            if form_session.is_some_and(|allowed| allowed != session_id) {
                return Ok(Err(FieldError::new(at("session_id"), "this form request is for another session")));
            }
            let found = sessions::table
                .find((actor.organization_id, session_id))
                .select((sessions::episode_id, sessions::number))
                .first::<(Uuid, i32)>(conn)
                .optional()?;
            let Some((episode_id, number)) = found else {
                return Ok(Err(FieldError::new(at("session_id"), "no such session")));
            };
            if claimed.is_some_and(|claimed| claimed != episode_id) {
                return Ok(Err(FieldError::new(at("episode_id"), "the session belongs to another episode")));
            }
            (Some((session_id, number)), episode_id)
        }
        (None, Some(_)) if form_session.is_some() => return Ok(Err(FieldError::new(at("session_id"), "is required"))),
        (None, Some(episode_id)) => (None, episode_id),
        (None, None) => match submission.client_id {
            Some(client_id) => match only_active_episode(conn, actor, client_id)? {
                Ok(episode_id) => (None, episode_id),
                Err(error) => return Ok(Err(FieldError::new(at("client_id"), error))),
            },
            None => return Ok(Err(FieldError::new(at("session_id"), "give session_id or episode_id"))),
        },
    };
    // A client token's session was checked above; its episode is not in any caseload query.
    let episodes_seen = if actor.role == Role::Client {
        episodes::table.filter(episodes::organization_id.eq(actor.organization_id)).into_boxed()
    } else {
        episodes_seen
    };
    let found = episodes_seen
        .filter(episodes::id.eq(episode_id))
        .inner_join(
            clients::table
                .on(clients::organization_id.eq(episodes::organization_id).and(clients::id.eq(episodes::client_id))),
        )
        .select((episodes::client_id, episodes::clinician_id, clients::age_group))
        .first::<(Uuid, Uuid, String)>(conn)
        .optional()?;
    let Some((client_id, clinician_id, age_group)) = found else {
        let field = if session.is_some() { "session_id" } else { "episode_id" };
        return Ok(Err(FieldError::new(at(field), format!("no such {}", field.trim_end_matches("_id")))));
    };
    if submission.client_id.is_some_and(|expected| expected != client_id) {
        let field = if session.is_some() { "session_id" } else { "episode_id" };
        return Ok(Err(FieldError::new(at(field), "belongs to another client")));
    }
    Ok(Ok(Target {
        session_id: session.map(|(id, _)| id),
        session_number: session.map(|(_, n)| n),
        episode_id,
        client_id,
        clinician_id,
        age_group: stored(&age_group, AgeGroup::parse, "clients.age_group")?,
    }))
}

/// The one active episode of `client_id` that the caller may see; otherwise why not.
fn only_active_episode(
    conn: &mut PgConnection,
    actor: &Actor,
    client_id: Uuid,
) -> Result<Result<Uuid, &'static str>, SubmitError> {
    let found: Vec<Uuid> = visible_episodes(actor)
        .filter(episodes::client_id.eq(client_id))
        .filter(episodes::status.eq(crate::domain::episodes::EpisodeStatus::Active.as_str()))
        .select(episodes::id)
        .limit(2)
        .load(conn)?;
    Ok(match found.as_slice() {
        [only] => Ok(*only),
        [] => Err("no client with an active episode of care that you may see"),
        _ => Err("the client has several active episodes of care; name the session"),
    })
}

/// The response of the organization that already has `identifier`, when the caller may see it.
fn existing_with_identifier(
    conn: &mut PgConnection,
    actor: &Actor,
    (system, value): &(String, String),
) -> Result<Option<StoredResponse>, SubmitError> {
    let found = responses::table
        .filter(responses::organization_id.eq(actor.organization_id))
        .filter(responses::identifier_system.eq(system))
        .filter(responses::identifier_value.eq(value))
        .select(responses::id)
        .first::<Uuid>(conn)
        .optional()?;
    let Some(id) = found else { return Ok(None) };
    match super::find_visible(conn, actor, id) {
        Ok(stored) => {
            actor.record(conn, "response.replay", "response", Some(id), serde_json::json!({ "by": "identifier" }))?;
            Ok(Some(stored))
        }
        Err(DbError::NotFound) => Err(SubmitError::IdentifierInUse),
        Err(other) => Err(other.into()),
    }
}

/// The latest counterpart form of a working-alliance inventory in the same session.
fn paired_form(
    conn: &mut PgConnection,
    organization_id: Uuid,
    definition: &InstrumentDefinition,
    session_id: Option<Uuid>,
) -> Result<Option<PairedForm>, SubmitError> {
    let (Some(other), Some(session_id)) = (definition.counterpart(), session_id) else { return Ok(None) };
    let found = responses::table
        .filter(responses::organization_id.eq(organization_id))
        .filter(responses::session_id.eq(session_id))
        .filter(responses::instrument_key.eq(other))
        .filter(responses::voided_at.is_null())
        .order(responses::id.desc())
        .select((responses::id, responses::scores))
        .first::<(Uuid, Value)>(conn)
        .optional()?;
    found
        .map(|(response_id, scores)| {
            let scores = serde_json::from_value(scores).map_err(|e| DbError::Corrupt(format!("stored scores: {e}")))?;
            Ok(PairedForm { response_id, scores })
        })
        .transpose()
}

fn raised_once_per_episode(
    conn: &mut PgConnection,
    organization_id: Uuid,
    episode_id: Uuid,
    key: &str,
) -> Result<Vec<SignalKind>, SubmitError> {
    let rows: Vec<(String, String)> = signals::table
        .filter(signals::organization_id.eq(organization_id))
        .filter(signals::episode_id.eq(episode_id))
        .filter(signals::instrument_key.eq(key))
        .filter(signals::kind.eq_any(SignalKind::ONCE_PER_EPISODE.map(SignalKind::as_str)))
        .select((signals::kind, signals::status))
        .load(conn)?;
    let mut raised = Vec::new();
    for (kind, status) in rows {
        let kind = stored(&kind, SignalKind::parse, "signals.kind")?;
        let status = stored(&status, SignalStatus::parse, "signals.status")?;
        // `no_change` is raised once per episode whatever became of it; the others again once
        // the earlier one is resolved.
        if kind == SignalKind::NoChange || status != SignalStatus::Resolved {
            raised.push(kind);
        }
    }
    Ok(raised)
}

fn answers_json(answers: &Answers) -> Value {
    Value::Object(answers.0.iter().map(|(k, v)| (k.clone(), Value::from(*v))).collect())
}

fn store_one(
    conn: &mut PgConnection,
    actor: &Actor,
    form_request: Option<Uuid>,
    form_session: Option<Uuid>,
    submission: ParsedSubmission,
    settings: &(i32, crate::domain::settings::OrganizationSettings),
) -> Result<Result<Submission, FieldError>, SubmitError> {
    let target = match resolve_target(conn, actor, &submission, form_session)? {
        Ok(target) => target,
        Err(error) => return Ok(Err(error)),
    };
    if let Some(identifier) = &submission.identifier {
        if let Some(response) = existing_with_identifier(conn, actor, identifier)? {
            return Ok(Ok(Submission { response, existed: true }));
        }
    }
    let definition = &submission.instrument.definition;
    let key = definition.key.as_str();
    if !definition.raters.contains(&submission.rater)
        || (actor.role == Role::Client && submission.rater != Rater::Client)
    {
        return Ok(Err(FieldError::new(
            format!("{}/rater", submission.pointer),
            format!("{key} is not filled in by a {}", submission.rater.as_str()),
        )));
    }
    let (settings_version, settings) = settings;
    let scores = score(definition, &submission.answers, settings, target.age_group);
    let id = Uuid::now_v7();
    let alliance = definition.is_session_alliance() && submission.rater == Rater::Client;
    let outcome = definition.is_session_outcome() && submission.rater == Rater::Client;
    let org_change_sd = if alliance { rollups::org_change_sd(conn, actor.organization_id, key)?.0 } else { None };
    let rupture = settings.rupture_settings(org_change_sd);
    let series_key = SeriesKey {
        organization_id: actor.organization_id,
        episode_id: target.episode_id,
        instrument_key: key,
        rater: submission.rater,
    };
    let administered_at = submission.administered_at.get();
    let new_order = series_order(target.session_number, administered_at, id);
    let (series, later) = series_before(conn, &series_key, new_order, *settings_version, &rupture)?;
    let paired = paired_form(conn, actor.organization_id, definition, target.session_id)?;
    // Only the outcome rules are raised once per episode; an alliance form need not ask.
    let already_raised = if definition.outcome().is_some() || outcome {
        raised_once_per_episode(conn, actor.organization_id, target.episode_id, key)?
    } else {
        Vec::new()
    };
    let intake = series.first.as_ref().map_or(scores.total, |first| first.total);
    let etr = match (outcome, target.session_number) {
        (true, Some(session)) => {
            let etr_settings = settings.etr_settings();
            let band = rollups::etr_band(
                conn,
                actor.organization_id,
                key,
                target.episode_id,
                intake,
                etr_settings.intake_window,
                etr_settings.max_session,
            )?;
            // The assessment reads the latest point of the series: the new one.
            Some(assess_against_band(&band, &[(session, scores.total)], &etr_settings))
        }
        _ => None,
    };
    let total_hundredths = (scores.total * 100.0).round() as i32;
    let inserted: Option<ResponseRow> = diesel::insert_into(responses::table)
        .values((
            responses::organization_id.eq(actor.organization_id),
            responses::id.eq(id),
            responses::instrument_version_id.eq(submission.instrument.version_id),
            responses::instrument_key.eq(key),
            responses::client_id.eq(target.client_id),
            responses::episode_id.eq(target.episode_id),
            responses::session_id.eq(target.session_id),
            responses::clinician_id.eq(target.clinician_id),
            responses::rater.eq(submission.rater.as_str()),
            responses::administered_at.eq(administered_at),
            responses::administered_at_defaulted.eq(submission.administered_at_defaulted),
            responses::answers.eq(answers_json(&submission.answers)),
            responses::scores.eq(serde_json::to_value(&scores).expect("scores serialize")),
            responses::total_hundredths.eq(total_hundredths),
            responses::settings_version.eq(*settings_version),
            responses::comment.eq(&submission.comment),
            responses::submitted_by.eq(actor.id),
            responses::identifier_system.eq(submission.identifier.as_ref().map(|(system, _)| system)),
            responses::identifier_value.eq(submission.identifier.as_ref().map(|(_, value)| value)),
        ))
        // Another transaction stored the same identifier first: that one stands.
        .on_conflict((responses::organization_id, responses::identifier_system, responses::identifier_value))
        .do_nothing()
        .returning(ResponseRow::as_returning())
        .get_result(conn)
        .optional()?;
    let Some(row) = inserted else {
        let identifier =
            submission.identifier.as_ref().ok_or_else(|| DbError::Corrupt("an insert conflicted".into()))?;
        let response = existing_with_identifier(conn, actor, identifier)?.ok_or(SubmitError::IdentifierInUse)?;
        return Ok(Ok(Submission { response, existed: true }));
    };
    let input = SignalInput {
        definition,
        rater: submission.rater,
        response_id: id,
        session_number: target.session_number,
        scores: &scores,
        series: &series,
        paired: paired.as_ref(),
        settings,
        age_group: target.age_group,
        already_raised: &already_raised,
        org_change_sd,
        etr: etr.as_ref(),
    };
    store_series_after(
        conn,
        &series_key,
        *settings_version,
        &series,
        (id, target.session_number, administered_at, total_hundredths),
        later,
        &rupture,
    )?;
    if let (true, Some(previous)) = (alliance, &series.last) {
        rollups::record_change(conn, actor.organization_id, key, scores.total - previous.total)?;
    }
    if let (true, Some(session_number)) = (outcome, target.session_number) {
        let point = rollups::OutcomePoint {
            episode_id: target.episode_id,
            session_number,
            intake_hundredths: (intake * 100.0).round() as i32,
            total_hundredths,
        };
        rollups::record_outcome_point(conn, actor.organization_id, key, point)?;
    }
    let mut stored_signals = Vec::new();
    for draft in evaluate(&input) {
        let inserted: Option<SignalRow> = diesel::insert_into(signals::table)
            .values((
                signals::organization_id.eq(actor.organization_id),
                signals::id.eq(Uuid::now_v7()),
                signals::kind.eq(draft.kind.as_str()),
                signals::severity.eq(draft.kind.severity().as_str()),
                signals::client_id.eq(target.client_id),
                signals::episode_id.eq(target.episode_id),
                signals::session_id.eq(target.session_id),
                signals::clinician_id.eq(target.clinician_id),
                signals::response_id.eq(id),
                signals::instrument_key.eq(key),
                signals::response_ids.eq(&draft.response_ids),
                signals::evidence.eq(&draft.evidence),
            ))
            .on_conflict_do_nothing()
            .returning(SignalRow::as_returning())
            .get_result(conn)
            .optional()?;
        stored_signals.extend(inserted.map(Signal::try_from).transpose()?);
    }
    if let Some(form_request) = form_request {
        if !form_requests::fulfil(conn, actor.organization_id, form_request, key, id)? {
            return Err(SubmitError::NotRequested);
        }
    }
    let signal_ids: Vec<Uuid> = stored_signals.iter().map(|s| s.id).collect();
    actor.record(
        conn,
        "response.create",
        "response",
        Some(id),
        serde_json::json!({ "instrument": key, "client_id": target.client_id, "signal_ids": signal_ids }),
    )?;
    let response = StoredResponse {
        row,
        rater: submission.rater,
        session_number: target.session_number,
        version: submission.instrument.version,
        definition: submission.instrument.definition,
        scores,
        signals: stored_signals,
    };
    super::super::webhooks::emit_response_created(conn, actor.organization_id, &response)?;
    Ok(Ok(Submission { response, existed: false }))
}

/// Whether the caller may still reach every session or episode of a replayed request: the
/// access checks a fresh request passes, without storing anything.
fn recheck_access(
    conn: &mut PgConnection,
    actor: &Actor,
    form_session: Option<Uuid>,
    submissions: &[ParsedSubmission],
) -> Result<Vec<FieldError>, SubmitError> {
    let mut errors = Vec::new();
    for submission in submissions {
        if let Err(error) = resolve_target(conn, actor, submission, form_session)? {
            errors.push(error);
        }
    }
    Ok(errors)
}

impl Database {
    /// Stores `submissions` all or nothing. `render` builds the answer body inside the
    /// transaction so an idempotent replay returns exactly the same bytes' worth of JSON.
    pub async fn submit_responses<R>(
        &self,
        actor: Actor,
        form_request: Option<Uuid>,
        submissions: Vec<ParsedSubmission>,
        idempotency: Option<Idempotency>,
        render: R,
    ) -> Result<Submitted, SubmitError>
    where
        R: FnOnce(Vec<Submission>) -> Value + Send + 'static,
    {
        self.run(move |conn| {
            Ok(conn.transaction::<_, SubmitError, _>(|conn| {
                let form_scope = match form_request {
                    Some(id) => Some(form_requests::scope(conn, actor.organization_id, id)?),
                    None => None,
                };
                let form_session = form_scope.as_ref().map(|scope| scope.session_id);
                if let Some(idempotency) = &idempotency {
                    if let Some(stored) = claim_key(conn, &actor, idempotency)? {
                        let errors = recheck_access(conn, &actor, form_session, &submissions)?;
                        if !errors.is_empty() {
                            return Err(SubmitError::Invalid(errors));
                        }
                        for id in &stored.response_ids {
                            actor.record(conn, "response.replay", "response", Some(*id), serde_json::json!({}))?;
                        }
                        return Ok(Submitted::Replayed(stored.body));
                    }
                }
                let settings = crate::db::settings::current(conn, actor.organization_id)?;
                let mut stored = Vec::new();
                let mut errors = Vec::new();
                for submission in submissions {
                    match store_one(conn, &actor, form_request, form_session, submission, &settings)? {
                        Ok(response) => stored.push(response),
                        Err(error) => errors.push(error),
                    }
                }
                if !errors.is_empty() {
                    return Err(SubmitError::Invalid(errors));
                }
                let ids: Vec<Uuid> = stored.iter().map(|stored| stored.response.row.id).collect();
                let body = render(stored);
                if let Some(idempotency) = &idempotency {
                    store_answer(conn, &actor, idempotency, &body, &ids)?;
                }
                Ok(Submitted::Created(body))
            }))
        })
        .await?
    }
}
