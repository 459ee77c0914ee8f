//! The HTTP edge: the only module (with `error`) that knows actix. One file per resource,
//! DTOs beside their handlers; handlers are thin (extract → parse → one `db` call → view).

pub mod extract;
pub mod fallback;
pub mod metrics;
pub mod observe;
pub mod operations;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers every documented handler. The OpenAPI document is collected from this function,
/// so the route table and the spec cannot disagree.
pub fn api_routes(config: &mut ServiceConfig) {
    config.service(operations::healthz).service(operations::readyz).service(operations::metrics);
}
