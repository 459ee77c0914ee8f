//! Headers that keep protected health information out of caches and browsers' guesswork:
//! every answer carries `X-Content-Type-Options: nosniff` and, unless a handler chose
//! otherwise, `Cache-Control: no-store` (client data must not linger in shared or browser
//! caches). JSON answers forbid any active content and framing; the API page (`/docs`) gets a
//! Content-Security-Policy that allows only its own scripts and styles, and may not be framed.

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;

const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";
const DOCS_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                           img-src 'self' data:; connect-src 'self'; font-src 'self' data:; \
                           frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The headers of an API answer, for answers made outside the middleware chain (a panic's).
pub fn insert_api_headers(headers: &mut actix_web::http::header::HeaderMap) {
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CONTENT_SECURITY_POLICY, API_POLICY),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

pub async fn add_security_headers(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let docs = request.path() == "/docs" || request.path().starts_with("/docs/");
    let mut response = next.call(request).await?;
    let headers = response.headers_mut();
    let mut set = |name: HeaderName, value: &'static str, replace: bool| {
        if replace || !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    };
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff", true);
    set(header::CACHE_CONTROL, "no-store", false);
    set(header::REFERRER_POLICY, "no-referrer", true);
    set(header::X_FRAME_OPTIONS, "DENY", true);
    set(header::CONTENT_SECURITY_POLICY, if docs { DOCS_POLICY } else { API_POLICY }, true);
    Ok(response)
}
