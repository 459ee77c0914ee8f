//! Operational endpoints: liveness, readiness, metrics. Unauthenticated by design: they say
//! nothing about any organization's data.

use super::drain::Drain;
use super::metrics::Metrics;
use crate::db::{Database, Readiness};
use crate::error::{ApiError, Problem};
use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Status {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Liveness: the process is up and answering.
#[utoipa::path(tag = "operations", responses((status = 200, description = "The process is alive", body = Status)))]
#[get("/healthz")]
pub async fn healthz() -> web::Json<Status> {
    web::Json(Status { status: "ok" })
}

/// Readiness: the database is reachable, every migration has been applied, and the service is
/// not shutting down.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Status),
        (status = 503, description = "Database unreachable, schema behind, or shutting down", body = Problem,
         content_type = "application/problem+json"),
    )
)]
#[get("/readyz")]
pub async fn readyz(database: web::Data<Database>, drain: web::Data<Drain>) -> Result<web::Json<Status>, ApiError> {
    if drain.is_draining() {
        return Err(ApiError::Unavailable {
            code: "shutting_down",
            detail: "The service is shutting down.".into(),
            retry_after_secs: 1,
        });
    }
    match database.readiness().await {
        Ok(Readiness::Ready) => Ok(web::Json(Status { status: "ready" })),
        Ok(Readiness::SchemaBehind) => Err(ApiError::Unavailable {
            code: "migrations_pending",
            detail: "The database schema is not this release's; run `rapport migrate` or restart the service.".into(),
            retry_after_secs: 5,
        }),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            Err(ApiError::Unavailable {
                code: "database_unavailable",
                detail: "The database is unreachable.".into(),
                retry_after_secs: 1,
            })
        }
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format", body = String,
               content_type = "text/plain; version=0.0.4"))
)]
#[get("/metrics")]
pub async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(metrics.render())
}
