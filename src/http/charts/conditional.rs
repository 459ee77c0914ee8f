//! Conditional GET for rendered charts: a strong `ETag` from the bytes (the same data gives the
//! same bytes), and `304 Not Modified` when `If-None-Match` already names it (RFC 9110, 13.1.2:
//! weak comparison, `*` matches).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

/// The first 128 bits of SHA-256 over the body, in hex, quoted as RFC 9110 requires.
pub fn entity_tag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!("\"{}\"", hex::encode(&digest[..16]))
}

/// Whether an `If-None-Match` value names `tag` (or is `*`).
pub fn none_match(if_none_match: &str, tag: &str) -> bool {
    let opaque = |candidate: &str| candidate.trim().trim_start_matches("W/").to_owned();
    let wanted = opaque(tag);
    if_none_match.split(',').any(|candidate| candidate.trim() == "*" || opaque(candidate) == wanted)
}

/// The chart, or 304 when the caller already holds these bytes. Private caches may keep it but
/// must revalidate: a chart is client data (docs/security.md, "Chart links").
pub fn respond(request: &HttpRequest, content_type: &'static str, body: String) -> HttpResponse {
    let tag = entity_tag(body.as_bytes());
    let cached = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| none_match(value, &tag));
    let mut response = if cached { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response.insert_header((header::ETAG, tag)).insert_header((header::CACHE_CONTROL, "private, no-cache"));
    if cached { response.finish() } else { response.content_type(content_type).body(body) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_uses_the_weak_comparison() {
        let tag = entity_tag(b"<svg/>");
        assert!(tag.starts_with('"') && tag.ends_with('"') && tag.len() == 34);
        assert_eq!(tag, entity_tag(b"<svg/>"), "the same bytes, the same tag");
        assert!(none_match(&tag, &tag));
        assert!(none_match(&format!("\"other\", W/{tag}"), &tag));
        assert!(none_match("*", &tag));
        assert!(!none_match("\"other\"", &tag));
        assert!(!none_match("", &tag));
    }
}
