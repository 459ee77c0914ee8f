//! FHIR Bulk Data Access (`$export`, docs/integration.md, "FHIR Bulk Data"): kick-off at the
//! system and Patient level, the status URL (202 with `X-Progress` while running, then the
//! manifest; `DELETE` cancels), and the NDJSON files, served only with the requester's
//! credentials. The work is done by [`worker`] from the database, so a job survives a restart.

pub mod patient;
pub mod worker;

use super::{fhir_base, fhir_json};
use crate::db::Database;
use crate::db::bulk_exports::NewBulkExport;
use crate::domain::Role;
use crate::domain::bulk_export::{BulkLevel, BulkStatus, requested_types};
use crate::domain::scopes::Interaction;
use crate::domain::time::Timestamp;
use crate::error::ApiError;
use crate::http::auth_user::AuthUser;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use uuid::Uuid;

/// Who may export a whole organization: its admins and its integrations (EHRs, pipelines).
const EXPORTERS: [Role; 2] = [Role::Admin, Role::Integration];
/// The media type of the output files.
pub const NDJSON: &str = "application/fhir+ndjson";
const OUTPUT_FORMATS: [&str; 3] = ["application/fhir+ndjson", "application/ndjson", "ndjson"];

pub async fn kick_off_system(
    user: AuthUser,
    request: HttpRequest,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    kick_off(BulkLevel::System, user, request, database).await
}

pub async fn kick_off_patient(
    user: AuthUser,
    request: HttpRequest,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    kick_off(BulkLevel::Patient, user, request, database).await
}

/// The kick-off request: `Prefer: respond-async` is required; `_type`, `_since` and
/// `_outputFormat` are understood and anything else is refused rather than ignored.
async fn kick_off(
    level: BulkLevel,
    user: AuthUser,
    request: HttpRequest,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    let asynchronous = request
        .headers()
        .get_all("prefer")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|preference| preference.trim().eq_ignore_ascii_case("respond-async"));
    if !asynchronous {
        return Err(ApiError::BadRequest {
            code: "respond_async_required",
            detail: "A Bulk Data export runs asynchronously: send `Prefer: respond-async`.".into(),
        });
    }
    let mut types = None;
    let mut since = None;
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in form_urlencoded::parse(request.query_string().as_bytes()) {
        if seen.contains(&name.to_string()) {
            return Err(ApiError::query(&name, "is given more than once"));
        }
        seen.push(name.to_string());
        match name.as_ref() {
            "_type" => types = Some(value.into_owned()),
            "_since" => {
                let at: Timestamp = serde_json::from_value(json!(value))
                    .map_err(|_| ApiError::query("_since", "must be a FHIR instant such as 2026-01-31T00:00:00Z"))?;
                since = Some(at.get());
            }
            "_outputFormat" if OUTPUT_FORMATS.contains(&value.as_ref()) => {}
            "_outputFormat" => return Err(ApiError::query("_outputFormat", "only application/fhir+ndjson is offered")),
            other => return Err(ApiError::query(other, "is not supported by this server's $export")),
        }
    }
    let resource_types = requested_types(types.as_deref()).map_err(|detail| ApiError::query("_type", detail))?;
    for kind in &resource_types {
        user.require_fhir(&EXPORTERS, kind.as_str(), Interaction::Search)?;
    }
    let base = fhir_base(&request);
    let request_url = match request.query_string() {
        "" => format!("{}{}", super::super::public_url::PublicUrl::base(&request), request.path()),
        query => format!("{}{}?{query}", super::super::public_url::PublicUrl::base(&request), request.path()),
    };
    let new = NewBulkExport { level, resource_types, since, request_url };
    let id = database.create_bulk_export(user.actor(), new).await?;
    Ok(HttpResponse::Accepted().insert_header((header::CONTENT_LOCATION, format!("{base}/bulk/{id}"))).finish())
}

/// Status, cancel and files answer only the requester (or an admin of the organization); the
/// kick-off already checked the token's scopes for every type exported.
fn may_follow(user: &AuthUser) -> Result<(), ApiError> {
    if EXPORTERS.contains(&user.role) { Ok(()) } else { Err(ApiError::Forbidden) }
}

/// The status URL: 202 with `X-Progress` while the job runs, then 200 with the manifest.
pub async fn status(
    user: AuthUser,
    id: web::Path<Uuid>,
    request: HttpRequest,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    may_follow(&user)?;
    let id = id.into_inner();
    let (job, files) = database.find_bulk_export(user.actor(), id).await?;
    match job.status {
        BulkStatus::Queued | BulkStatus::Running => Ok(HttpResponse::Accepted()
            .insert_header(("X-Progress", job.progress.unwrap_or_else(|| job.status.as_str().to_owned())))
            .insert_header((header::RETRY_AFTER, "1"))
            .finish()),
        BulkStatus::Failed => {
            let detail = job.error.unwrap_or_else(|| "The export failed.".into());
            let outcome = super::outcome::operation_outcome(vec![super::outcome::issue("exception", &detail, None)]);
            Ok(fhir_json(StatusCode::INTERNAL_SERVER_ERROR, &outcome))
        }
        BulkStatus::Completed => {
            let base = fhir_base(&request);
            let output: Vec<_> = files
                .iter()
                .map(|file| {
                    json!({
                        "type": file.resource_type,
                        "url": format!("{base}/bulk/{id}/files/{}", file.id),
                        "count": file.resources,
                    })
                })
                .collect();
            let at = |time: chrono::DateTime<chrono::Utc>| time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            let mut manifest = json!({
                "transactionTime": job.transaction_time.map(at),
                "request": job.request_url,
                "requiresAccessToken": true,
                "output": output,
                "error": [],
            });
            let mut answer = HttpResponse::Ok();
            if let Some(expires) = job.expires_at {
                manifest["extension"] = json!({ "https://rapport.dev/fhir/bulk-expires": at(expires) });
                answer.insert_header((header::EXPIRES, expires.format("%a, %d %b %Y %H:%M:%S GMT").to_string()));
            }
            Ok(answer.content_type("application/json").body(manifest.to_string()))
        }
    }
}

/// `DELETE` on the status URL: cancels a job, or deletes a finished one's files at once.
pub async fn cancel(
    user: AuthUser,
    id: web::Path<Uuid>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    may_follow(&user)?;
    database.delete_bulk_export(user.actor(), id.into_inner()).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// One output file (NDJSON), for the requester only.
pub async fn file(
    user: AuthUser,
    path: web::Path<(Uuid, Uuid)>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    may_follow(&user)?;
    let (id, file_id) = path.into_inner();
    let content = database.bulk_export_file(user.actor(), id, file_id).await?;
    Ok(HttpResponse::Ok().insert_header((header::CONTENT_TYPE, NDJSON)).body(content))
}
