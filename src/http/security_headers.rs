//! Headers that keep protected health information out of caches and browsers' guesswork:
//! every answer carries `X-Content-Type-Options: nosniff` and, unless a handler chose
//! otherwise, `Cache-Control: no-store` (client data must not linger in shared or browser
//! caches). JSON answers forbid any active content and framing; the API page (`/docs`) gets a
//! Content-Security-Policy that allows only its own scripts and styles, and may not be framed.
//! Episode charts may be framed (an EHR embeds them through a chart link) but load nothing; the
//! supervision report loads nothing either and allows only its own inline style, by hash.

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;

const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";
/// Charts: nothing to load or run; any page may frame them (that is what chart links are for).
const CHART_POLICY: &str = "default-src 'none'; frame-ancestors *; base-uri 'none'";
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
    let page = Page::of(request.path());
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
    let policy = match page {
        Page::Api => API_POLICY,
        Page::Docs => DOCS_POLICY,
        Page::Chart => CHART_POLICY,
        Page::Report => super::report::CONTENT_SECURITY_POLICY.as_str(),
    };
    if page != Page::Chart {
        set(header::X_FRAME_OPTIONS, "DENY", true);
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(policy).unwrap_or_else(|_| HeaderValue::from_static(API_POLICY)),
    );
    Ok(response)
}

/// Which kind of page a path is, for its policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Page {
    Api,
    Docs,
    Chart,
    Report,
}

impl Page {
    fn of(path: &str) -> Self {
        let mut segments = path.split('/').skip(1);
        match (segments.next(), segments.next(), segments.next(), segments.next(), segments.next(), segments.next()) {
            (Some("docs"), ..) => Page::Docs,
            (Some("v1"), Some("episodes"), Some(_), Some("charts"), Some(_), None) => Page::Chart,
            (Some("v1"), Some("clinicians"), Some(_), Some("report"), None, None) => Page::Report,
            _ => Page::Api,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_charts_may_be_framed_and_only_the_report_has_its_own_policy() {
        assert_eq!(Page::of("/v1/episodes/abc/charts/alliance.svg"), Page::Chart);
        assert_eq!(Page::of("/v1/episodes/abc/charts/alliance.svg/x"), Page::Api);
        assert_eq!(Page::of("/v1/episodes/abc/alliance"), Page::Api);
        assert_eq!(Page::of("/v1/clinicians/abc/report"), Page::Report);
        assert_eq!(Page::of("/v1/clinicians/abc/insights"), Page::Api);
        assert_eq!((Page::of("/docs"), Page::of("/docs/index.html")), (Page::Docs, Page::Docs));
    }
}
