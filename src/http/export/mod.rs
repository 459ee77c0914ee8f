//! `GET /v1/export/responses`: every response of the organization, streamed in NDJSON, CSV or
//! Parquet, resumable with a cursor (docs/integration.md, "Export").

pub mod columns;
pub mod encoder;
pub mod parquet;

use crate::db::Database;
use crate::db::export::{ExportEvent, ExportRequest};
use crate::domain::Role;
use crate::domain::export::{ExportCursor, IdMode};
use crate::error::{ApiError, AuthProblems, QueryProblems};
use crate::http::auth_user::AuthUser;
use crate::http::query::Query;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, get, http::header, web};
use encoder::{Encoder, ExportFormat};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// The header that carries the cursor resuming after this export.
pub const NEXT_CURSOR_HEADER: &str = "Rapport-Next-Cursor";

#[derive(Clone, Copy, Debug, Default, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum IdsParam {
    /// Keyed hashes, stable per organization (`cli_…`, `clin_…`, …).
    #[default]
    Pseudonymous,
    /// The service's own ids: admins only.
    Real,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// A cursor from an earlier export (its `Rapport-Next-Cursor` header, or a row's `cursor`):
    /// only rows changed after it. Absent: everything.
    #[param(pattern = r"^[0-9]{1,19}\.s?[0-9a-f]{32}$")]
    pub since: Option<String>,
    /// Default `ndjson`.
    pub format: Option<ExportFormat>,
    /// Default `pseudonymous`; `real` for admins only.
    pub ids: Option<IdsParam>,
}

/// A stream cut short: the reader sees the body end without its final chunk.
#[derive(Debug, thiserror::Error)]
#[error("the export stopped before its end")]
struct ExportCut;

/// Export responses.
///
/// One row per response (voided ones included, with `voided: true`), in the order of the
/// transaction that last changed each one, streamed with flat memory. Every row carries its
/// `cursor`; the `Rapport-Next-Cursor` header (and, in Parquet, the file's metadata) gives the
/// cursor after the whole export. Passing a cursor as `since` returns exactly what changed
/// after it: rows committed later never fall behind a cursor already handed out. Analysts see
/// pseudonymous ids; admins may ask for real ones. No names and no comments are exported.
#[utoipa::path(
    tag = "export",
    params(ExportQuery),
    responses(
        (status = 200, description = "The rows", headers(("Rapport-Next-Cursor" = String, description = "Resumes after this export")),
         content(
            (String = "application/x-ndjson"),
            (String = "text/csv"),
            (Vec<u8> = "application/vnd.apache.parquet"),
         )),
        AuthProblems, QueryProblems
    ),
    security(("bearer" = []))
)]
#[get("/v1/export/responses")]
pub async fn export_responses(
    user: AuthUser,
    query: Query<ExportQuery>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin, Role::Analyst])?;
    let query = query.into_inner();
    let since = match &query.since {
        Some(text) => Some(ExportCursor::parse(text).map_err(|e| ApiError::query("since", e.to_string()))?),
        None => None,
    };
    let format = query.format.unwrap_or_default();
    let ids = match query.ids.unwrap_or_default() {
        IdsParam::Pseudonymous => IdMode::Pseudonymous,
        IdsParam::Real if user.role == Role::Admin => IdMode::Real,
        IdsParam::Real => return Err(ApiError::Forbidden),
    };
    let detail = serde_json::json!({
        "format": format.as_str(),
        "ids": if ids == IdMode::Real { "real" } else { "pseudonymous" },
        "resumed": query.since.is_some(),
    });

    let (chunks, body) = tokio::sync::mpsc::channel::<Result<Bytes, ExportCut>>(4);
    let (started, start) = tokio::sync::oneshot::channel::<String>();
    let writer = chunk_writer(format, chunks.clone(), started);
    let task = actix_web::rt::spawn(async move {
        let request = ExportRequest { since, ids, detail };
        let result = database.export_responses(user.actor(), request, writer).await;
        if let Err(error) = &result {
            tracing::error!(error = %error, "export stopped");
            let _ = chunks.send(Err(ExportCut)).await;
        }
        result
    });
    let Ok(next) = start.await else {
        // The export ended before its first row: an error with a status of its own.
        return Err(match task.await {
            Ok(Err(error)) => error.into(),
            _ => ApiError::Internal("the export ended before it began".into()),
        });
    };
    let stream =
        futures_util::stream::unfold(body, |mut body| async move { body.recv().await.map(|chunk| (chunk, body)) });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, format.media_type()))
        .insert_header((NEXT_CURSOR_HEADER, next))
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"responses.{}\"", format.as_str())))
        .streaming(stream))
}

/// What the database side calls with each part of the export: encodes it and sends the bytes
/// to the response body. Answers `false` once the reader is gone (or encoding failed, after
/// cutting the body short), which stops the export.
fn chunk_writer(
    format: ExportFormat,
    chunks: tokio::sync::mpsc::Sender<Result<Bytes, ExportCut>>,
    started: tokio::sync::oneshot::Sender<String>,
) -> impl FnMut(ExportEvent) -> bool + Send + 'static {
    let mut encoder = Encoder::new(format);
    let mut started = Some(started);
    move |event| {
        let encoded = match event {
            ExportEvent::Start(next) => {
                let Some(started) = started.take() else { return false };
                let begun = encoder.begin(&next);
                if started.send(next).is_err() {
                    return false;
                }
                begun
            }
            ExportEvent::Rows(rows) => encoder.rows(rows),
            ExportEvent::End => encoder.finish(),
        };
        match encoded {
            Ok(bytes) if bytes.is_empty() => !chunks.is_closed(),
            Ok(bytes) => chunks.blocking_send(Ok(Bytes::from(bytes))).is_ok(),
            Err(error) => {
                tracing::error!(error = %error, "export encoding failed");
                let _ = chunks.blocking_send(Err(ExportCut));
                false
            }
        }
    }
}
