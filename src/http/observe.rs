//! Request ids, the request span, and request metrics.
//!
//! `X-Request-Id` is accepted when it looks like an id (1–128 of `A-Za-z0-9-_.:`) and
//! generated (UUID v7) otherwise; it is in the span of every log line and echoed on every
//! response.

use super::metrics::Metrics;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use std::time::Instant;
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    fn from_request(request: &ServiceRequest) -> Self {
        Self::from_header(request.headers().get(&REQUEST_ID_HEADER))
    }

    /// The caller's id when it looks like one, else a new UUID v7.
    pub fn from_header(value: Option<&HeaderValue>) -> Self {
        value
            .and_then(|value| value.to_str().ok())
            .filter(|id| is_acceptable_id(id))
            .map(|id| Self(id.to_owned()))
            .unwrap_or_else(|| Self(uuid::Uuid::now_v7().to_string()))
    }
}

fn is_acceptable_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// The root span of a request: its id, method and route pattern. Never the raw path.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = RequestId::from_request(request);
        let route = request.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
        let span = tracing::info_span!(
            "request",
            request_id = %request_id.0,
            method = %request.method(),
            route = %route,
        );
        request.extensions_mut().insert(request_id);
        span
    }

    fn on_request_end<B: MessageBody>(_: Span, _: &Result<ServiceResponse<B>, Error>) {}
}

/// Echoes the request id, records metrics and writes one log line per request.
pub async fn observe(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = request.method().to_string();
    let metrics = request.app_data::<web::Data<Metrics>>().cloned();
    let request_id = request.extensions().get::<RequestId>().cloned();
    let mut response = next.call(request).await?;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let route = response.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(&id.0).ok()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, id);
    }
    if let Some(metrics) = metrics {
        metrics.observe(&method, &route, status, elapsed);
    }
    tracing::info!(status, latency_ms = elapsed.as_secs_f64() * 1000.0, "request finished");
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_id_like_request_ids_are_accepted() {
        assert!(is_acceptable_id("2f1c-ab:12.x_y"));
        assert!(!is_acceptable_id(""));
        assert!(!is_acceptable_id("has space"));
        assert!(!is_acceptable_id(&"a".repeat(129)));
        assert!(!is_acceptable_id("<script>"));
    }
}
