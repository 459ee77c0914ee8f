//! `PUT /v1/sessions/{id}/transcript`, `GET /v1/sessions/{id}/transcript-analysis` and
//! `GET /v1/sessions/{id}/transcript`: a session's transcript read for alliance markers
//! (`domain::transcript`; docs/methodology.md, section 14). The text is analysed in memory and
//! kept only when the organization turns retention on, sealed (`sealing`); it is never logged.

use super::auth_user::AuthUser;
use super::extract::{BodyLimit, content_essence, discard_body, parse_json, read_body};
use super::query::Query;
use super::rounded::{Rounded, rounded_with_status};
use crate::db::Database;
use crate::db::transcripts::{StoredTranscript, Upload, seal_binding};
use crate::domain::Role;
use crate::domain::transcript::analysis::{Marker, Move, RuptureEpisode, TranscriptMetrics};
use crate::domain::transcript::parse::VoiceNames;
use crate::domain::transcript::{Lexicon, Turn, VALIDITY_NOTE, analyse, language, parse};
use crate::domain::validation::plain_text;
use crate::error::{ApiError, AuthProblems, BodyProblems, FieldError, NotFoundProblem, PathProblems, QueryProblems};
use crate::sealing::TextVault;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, put, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::Serialize;
use utoipa::IntoParams;
use utoipa::ToSchema;
use uuid::Uuid;

/// The keys that seal retained text, when configured (`RAPPORT_TRANSCRIPT_KEYS`).
#[derive(Clone, Debug)]
pub struct Vault(pub Option<TextVault>);

const UPLOADERS: [Role; 3] = [Role::Admin, Role::Clinician, Role::Integration];
const READERS: [Role; 4] = [Role::Admin, Role::Supervisor, Role::Clinician, Role::Integration];
const TEXT_READERS: [Role; 3] = [Role::Admin, Role::Supervisor, Role::Clinician];

#[derive(Debug, Serialize, ToSchema)]
pub struct TranscriptAnalysisView {
    pub session_id: Uuid,
    pub episode_id: Uuid,
    pub client_id: Uuid,
    pub clinician_id: Uuid,
    /// 1 for the first upload; each re-upload replaces the analysis and counts up.
    pub version: i32,
    /// The lexicon and rules (`<built-in>[+org.<settings version>]`).
    pub rules_version: String,
    /// The organization settings version whose thresholds and entries were used.
    pub settings_version: i32,
    pub language: String,
    pub uploaded_by: Uuid,
    pub uploaded_at: DateTime<Utc>,
    /// Whether the text itself is kept (sealed); otherwise only this analysis is.
    pub text_retained: bool,
    pub validity_note: &'static str,
    pub markers: Vec<Marker>,
    pub moves: Vec<Move>,
    pub rupture_episodes: Vec<RuptureEpisode>,
    pub metrics: TranscriptMetrics,
}

impl From<StoredTranscript> for TranscriptAnalysisView {
    fn from(stored: StoredTranscript) -> Self {
        let row = stored.row;
        Self {
            session_id: row.session_id,
            episode_id: row.episode_id,
            client_id: row.client_id,
            clinician_id: row.clinician_id,
            version: row.version,
            rules_version: row.rules_version,
            settings_version: row.settings_version,
            language: row.language,
            uploaded_by: row.uploaded_by,
            uploaded_at: row.uploaded_at,
            text_retained: row.text_key_id.is_some(),
            validity_note: VALIDITY_NOTE,
            markers: stored.analysis.markers,
            moves: stored.analysis.moves,
            rupture_episodes: stored.analysis.rupture_episodes,
            metrics: stored.analysis.metrics,
        }
    }
}

enum Format {
    Json,
    Vtt,
}

/// Reads the body (415 for another type, 413 past the limit); parsed once the session is known.
async fn read_upload(request: &HttpRequest, payload: web::Payload) -> Result<(web::BytesMut, Format), ApiError> {
    let limit = BodyLimit::of(request);
    let format = match content_essence(request).as_str() {
        "application/json" => Format::Json,
        "text/vtt" => Format::Vtt,
        _ => {
            let mut payload = payload.into_inner();
            discard_body(&mut payload, limit).await;
            return Err(ApiError::UnsupportedMediaType { expected: "application/json (turns) or text/vtt (WebVTT)" });
        }
    };
    Ok((read_body(payload.into_inner(), limit).await?, format))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VoiceQuery {
    /// WebVTT only: the voice name the recording gives the therapist (e.g. `Dr Lee`), when it
    /// does not start with a role word.
    pub therapist: Option<String>,
    /// WebVTT only: the client's voice name.
    pub client: Option<String>,
    /// WebVTT only: another speaker's voice name (an interpreter, a parent).
    pub other: Option<String>,
}

impl VoiceQuery {
    fn names(&self, format: &Format) -> Result<VoiceNames, ApiError> {
        let mut errors = Vec::new();
        let mut take = |name: &str, value: &Option<String>| -> Vec<String> {
            let Some(raw) = value else { return Vec::new() };
            if matches!(format, Format::Json) {
                errors.push(FieldError::query(name, "names a WebVTT voice; JSON turns name their speaker"));
                return Vec::new();
            }
            match plain_text(raw, 60, "") {
                Ok(text) => vec![text],
                Err(error) => {
                    errors.push(FieldError::query(name, error.detail));
                    Vec::new()
                }
            }
        };
        let names = VoiceNames {
            therapist: take("therapist", &self.therapist),
            client: take("client", &self.client),
            other: take("other", &self.other),
        };
        if errors.is_empty() { Ok(names) } else { Err(ApiError::InvalidParameters { code: "invalid_query", errors }) }
    }
}

/// Checks the body: every malformed case answers 4xx with a pointer or a line.
fn turns_from(request: &HttpRequest, body: &[u8], format: &Format, names: &VoiceNames) -> Result<Vec<Turn>, ApiError> {
    let turns = match format {
        Format::Json => {
            let turns: Vec<Turn> = parse_json(body)?;
            parse::check_turns(&turns).map_err(ApiError::Validation)?;
            turns
        }
        Format::Vtt => {
            if let Some(at) = body.iter().position(|b| *b == 0) {
                let line = body.iter().take(at).filter(|b| **b == b'\n').count().saturating_add(1);
                return Err(ApiError::Validation(vec![crate::error::FieldError::line(
                    line,
                    "must not contain NUL bytes",
                )]));
            }
            parse::parse_vtt(body, names).map_err(ApiError::Validation)?
        }
    };
    let declared = request.headers().get(header::CONTENT_LANGUAGE).and_then(|v| v.to_str().ok());
    language::check_english(&turns, declared)
        .map_err(|detail| ApiError::Unprocessable { code: "unsupported_language", detail })?;
    Ok(turns)
}

/// Upload a session's transcript; Rapport reads it for rupture markers and therapist moves.
///
/// Body: `application/json`, an array of turns `{"speaker": "therapist"|"client"|"other",
/// "start_ms", "end_ms", "text"}` in time order; or `text/vtt` (WebVTT) with voice tags
/// (`<v Therapist>`, `<v Client>`, `<v Other>`; a voice's first word names the role, or the
/// `therapist`, `client` and `other` parameters map a recording's names, e.g. `?therapist=Dr Lee`;
/// cues without a voice tag may start `Name: `), where consecutive cues of one speaker become
/// one turn. Errors name the JSON pointer, or the line
/// (`in: line`). English only: `Content-Language` other than `en`, or text that does not read
/// as English, answers 422 `unsupported_language`. The text is analysed and, unless the
/// organization's settings turn `transcripts.retain_text` on, not kept: only the analysis (with
/// evidence snippets of at most `transcripts.evidence_chars`). Re-uploading replaces the
/// analysis as a new version. Rules: docs/methodology.md, section 14. An unaddressed rupture
/// raises the session's `transcript_rupture_unaddressed` signal (info); a later version without
/// one resolves it. The clinician of the session, integrations and admins.
#[utoipa::path(
    tag = "transcripts",
    params(
        ("id" = Uuid, Path, description = "The session's id"),
        ("Content-Language" = Option<String>, Header, description = "The transcript's language; only `en` is analysed"),
        VoiceQuery,
    ),
    request_body(content(
        (Vec<Turn> = "application/json"),
        (String = "text/vtt"),
    )),
    responses(
        (status = 201, description = "The first analysis of this session", body = TranscriptAnalysisView),
        (status = 200, description = "A new version of the analysis", body = TranscriptAnalysisView),
        (status = 409, description = "Retention is on but no sealing key is configured", body = crate::error::Problem, content_type = "application/problem+json"),
        AuthProblems, NotFoundProblem, BodyProblems, PathProblems, QueryProblems
    ),
    security(("bearer" = []))
)]
#[put("/v1/sessions/{id}/transcript")]
pub async fn put_transcript(
    user: AuthUser,
    id: web::Path<Uuid>,
    voices: Query<VoiceQuery>,
    request: HttpRequest,
    payload: web::Payload,
    database: web::Data<Database>,
    vault: web::Data<Vault>,
) -> Result<HttpResponse, ApiError> {
    user.require(&UPLOADERS)?;
    let session_id = id.into_inner();
    let (body, format) = read_upload(&request, payload).await?;
    let names = voices.names(&format)?;
    // A session the caller cannot see answers 404 whatever the body holds.
    let target = database.transcript_target(user.actor(), session_id).await?;
    let turns = turns_from(&request, &body, &format, &names)?;
    drop(body);
    let settings = target.settings.transcripts.clone();
    let vault = match (settings.retain_text, &vault.0) {
        (false, _) => None,
        (true, Some(vault)) => Some(vault.clone()),
        (true, None) => {
            return Err(ApiError::Conflict {
                code: "transcript_key_missing",
                detail: "The organization keeps transcript text, but no sealing key is configured \
                         (RAPPORT_TRANSCRIPT_KEYS); nothing was stored."
                    .into(),
            });
        }
    };
    let lexicon = Lexicon::with_custom(&settings.custom_lexicon, target.settings_version)
        .map_err(|errors| ApiError::internal(std::io::Error::other(format!("stored lexicon entries: {errors:?}"))))?;
    let analysis_settings = settings.analysis();
    let (analysis, turns) =
        web::block(move || (analyse(&turns, &lexicon, &analysis_settings), turns)).await.map_err(ApiError::internal)?;
    let organization_id = user.organization_id;
    let seal = move |version: i32| {
        let vault = vault?;
        let plain = serde_json::to_vec(&turns).expect("turns serialize");
        Some(vault.seal(&plain, &seal_binding(organization_id, session_id, version)))
    };
    let format = match format {
        Format::Json => "json",
        Format::Vtt => "vtt",
    };
    let (stored, _signal) = database.store_transcript(user.actor(), target, Upload { analysis, format }, seal).await?;
    let status =
        if stored.row.version == 1 { actix_web::http::StatusCode::CREATED } else { actix_web::http::StatusCode::OK };
    Ok(rounded_with_status(status, &TranscriptAnalysisView::from(stored)))
}

/// A session's transcript analysis: markers, moves, rupture episodes, metrics, rules version.
///
/// Each marker and move names the rule (and lexicon entry) that fired, its turn and character
/// offsets, and an evidence snippet when the organization keeps them. A lower-validity signal
/// than the client's own ratings (`validity_note`). Audited.
#[utoipa::path(
    tag = "transcripts",
    params(("id" = Uuid, Path, description = "The session's id")),
    responses((status = 200, description = "The latest analysis", body = TranscriptAnalysisView), AuthProblems, NotFoundProblem, PathProblems),
    security(("bearer" = []))
)]
#[get("/v1/sessions/{id}/transcript-analysis")]
pub async fn get_transcript_analysis(
    user: AuthUser,
    id: web::Path<Uuid>,
    database: web::Data<Database>,
) -> Result<Rounded<TranscriptAnalysisView>, ApiError> {
    user.require(&READERS)?;
    let stored = database.transcript_analysis(user.actor(), id.into_inner()).await?;
    Ok(Rounded(TranscriptAnalysisView::from(stored)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TranscriptTextView {
    pub session_id: Uuid,
    /// The analysis version this text belongs to.
    pub version: i32,
    pub turns: Vec<Turn>,
}

/// A session's transcript text, when the organization keeps it (404 otherwise).
///
/// Unsealed for this answer only; every read is audited (`transcript.text.read`). The clinician
/// of the session, supervisors and admins.
#[utoipa::path(
    tag = "transcripts",
    params(("id" = Uuid, Path, description = "The session's id")),
    responses((status = 200, description = "The kept text", body = TranscriptTextView), AuthProblems, NotFoundProblem, PathProblems),
    security(("bearer" = []))
)]
#[get("/v1/sessions/{id}/transcript")]
pub async fn get_transcript_text(
    user: AuthUser,
    id: web::Path<Uuid>,
    database: web::Data<Database>,
    vault: web::Data<Vault>,
) -> Result<web::Json<TranscriptTextView>, ApiError> {
    user.require(&TEXT_READERS)?;
    let session_id = id.into_inner();
    let (row, sealed) = database.transcript_text(user.actor(), session_id).await?;
    let sealed = sealed.ok_or(ApiError::NotFound)?;
    let vault = vault.0.as_ref().ok_or_else(|| {
        ApiError::internal(std::io::Error::other("transcript text is kept but RAPPORT_TRANSCRIPT_KEYS is not set"))
    })?;
    let plain = vault
        .open(&sealed.key_id, &sealed.sealed, &seal_binding(user.organization_id, session_id, row.version))
        .map_err(ApiError::internal)?;
    let turns: Vec<Turn> = serde_json::from_slice(&plain).map_err(ApiError::internal)?;
    Ok(web::Json(TranscriptTextView { session_id, version: row.version, turns }))
}

/// Delete a session's transcript analysis, and its kept text if any (for instance when the
/// client withdraws consent). The session's open transcript signal is resolved. Audited
/// (`transcript.delete`). The clinician of the session and admins.
#[utoipa::path(
    tag = "transcripts",
    params(("id" = Uuid, Path, description = "The session's id")),
    responses((status = 204, description = "Deleted"), AuthProblems, NotFoundProblem, PathProblems),
    security(("bearer" = []))
)]
#[delete("/v1/sessions/{id}/transcript")]
pub async fn delete_transcript(
    user: AuthUser,
    id: web::Path<Uuid>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin, Role::Clinician])?;
    database.delete_transcript(user.actor(), id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
