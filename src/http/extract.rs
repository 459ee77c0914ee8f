//! A JSON body extractor whose every failure is a problem+json answer: 415 for another
//! content type, 413 past the body limit (checked while reading, not after), 400 for
//! malformed JSON, and 422 with the JSON pointer of the offending field for wrong types,
//! missing or unknown fields.

use super::located::locate;
use crate::domain::validation::pointer_token;
use crate::error::{ApiError, FieldError};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The largest request body accepted, in bytes; set once in `startup`.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

impl BodyLimit {
    /// The limit in force for `request` (1 MiB where none is configured, as in unit tests).
    pub fn of(request: &HttpRequest) -> usize {
        request.app_data::<web::Data<BodyLimit>>().map_or(1_048_576, |l| l.0)
    }
}

/// The request's media type without parameters, in lower case (`application/json`).
pub fn content_essence(request: &HttpRequest) -> String {
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// A JSON request body of type `T`.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let with_raw = JsonWithRaw::<T>::from_request(request, payload);
        Box::pin(async move { with_raw.await.map(|JsonWithRaw(value, _)| Json(value)) })
    }
}

/// A JSON body together with its raw bytes (for idempotency hashing).
#[derive(Debug)]
pub struct JsonWithRaw<T>(pub T, pub web::Bytes);

impl<T: DeserializeOwned + 'static> FromRequest for JsonWithRaw<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = BodyLimit::of(request);
        let checked = check_headers(request, limit);
        let mut payload = payload.take();
        Box::pin(async move {
            if let Err(refused) = checked {
                discard_body(&mut payload, limit).await;
                return Err(refused);
            }
            let body = read_body(payload, limit).await?.freeze();
            parse_json(&body).map(|value| JsonWithRaw(value, body))
        })
    }
}

/// A JSON body that may be left out: no body (or only white space) is `None`; anything else is
/// read and checked exactly as [`Json`] does (415, 413, 400, 422).
#[derive(Debug)]
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = BodyLimit::of(request);
        let checked = check_headers(request, limit);
        let payload = payload.take();
        Box::pin(async move {
            let body = read_body(payload, limit).await?;
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(OptionalJson(None));
            }
            checked?;
            parse_json(&body).map(|value| OptionalJson(Some(value)))
        })
    }
}

/// Item answers as raw JSON text per item, in order, refusing a key given twice (serde_json
/// would silently keep the last).
#[derive(Debug, Clone, Default)]
pub struct RawAnswers(pub Vec<(String, String)>);

impl<'de> Deserialize<'de> for RawAnswers {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawAnswers;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of item id → answer")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RawAnswers, A::Error> {
                let mut answers: Vec<(String, String)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let value: Box<serde_json::value::RawValue> = map.next_value()?;
                    if answers.iter().any(|(k, _)| *k == key) {
                        return Err(serde::de::Error::custom(format!("duplicate field `{key}`")));
                    }
                    answers.push((key, value.get().to_owned()));
                }
                Ok(RawAnswers(answers))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// Reads a whole body, refusing it (413) once it passes `limit` bytes. The rest of a refused
/// body is read and dropped (see [`discard_body`]) so the client receives the answer.
pub async fn read_body(mut payload: Payload, limit: usize) -> Result<web::BytesMut, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| ApiError::BadRequest {
            code: "unreadable_body",
            detail: format!("the request body could not be read: {error}"),
        })?;
        if body.len().saturating_add(chunk.len()) > limit {
            discard_body(&mut payload, limit).await;
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads and drops what is left of a body that will not be used, up to a bound, before the
/// answer goes out: closing a connection while the client is still sending makes its kernel
/// discard our answer with the reset. Past the bound the connection is closed anyway.
pub async fn discard_body(payload: &mut Payload, limit: usize) {
    let bound = limit.saturating_mul(8).max(8 * 1_048_576);
    let mut seen = 0usize;
    while let Some(Ok(chunk)) = payload.next().await {
        seen = seen.saturating_add(chunk.len());
        if seen > bound {
            break;
        }
    }
}

fn check_headers(request: &HttpRequest, limit: usize) -> Result<(), ApiError> {
    let essence = content_essence(request);
    if essence != "application/json" && !essence.ends_with("+json") {
        return Err(ApiError::UnsupportedMediaType { expected: "application/json" });
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    match declared {
        Some(length) if length > limit => Err(ApiError::PayloadTooLarge { limit }),
        _ => Ok(()),
    }
}

/// For PATCH bodies: tells an absent field (`None`) from an explicit `null` (`Some(None)`).
/// Use with `#[serde(default, deserialize_with = "nullable")]`.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Parses `body` as `T`, locating data errors by JSON pointer.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let pointer = to_pointer(error.path());
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => data_error(&pointer, &inner),
            _ => malformed(&inner),
        }
    })?;
    deserializer.end().map_err(|error| malformed(&error))?;
    refuse_nul(body)?;
    Ok(value)
}

fn malformed(error: &serde_json::Error) -> ApiError {
    let detail = if error.is_eof() && error.line() == 1 && error.column() == 0 {
        "the request body is empty; a JSON document was expected".to_owned()
    } else {
        format!("the request body is not valid JSON: {error}")
    };
    ApiError::BadRequest { code: "malformed_json", detail }
}

fn data_error(pointer: &str, error: &serde_json::Error) -> ApiError {
    let (pointer, detail) = locate(pointer, &error.to_string());
    ApiError::Validation(vec![FieldError::new(pointer, detail)])
}

/// PostgreSQL cannot store NUL in text, and no field of this API means one: a string (or an
/// object key) holding `\u0000` anywhere in a body is refused here, once, with its pointer.
/// The raw bytes are scanned first; only a body that might hold one is walked as a tree.
fn refuse_nul(body: &[u8]) -> Result<(), ApiError> {
    if !body.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        return Ok(());
    }
    let Ok(tree) = serde_json::from_slice::<serde_json::Value>(body) else { return Ok(()) };
    let mut errors = Vec::new();
    find_nul(&tree, &mut String::new(), &mut errors);
    if errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(errors)) }
}

fn find_nul(value: &serde_json::Value, pointer: &mut String, errors: &mut Vec<FieldError>) {
    const DETAIL: &str = "must not contain NUL characters (\\u0000)";
    match value {
        serde_json::Value::String(text) if text.contains('\0') => errors.push(FieldError::new(pointer.clone(), DETAIL)),
        serde_json::Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let length = pointer.len();
                pointer.push_str(&format!("/{index}"));
                find_nul(item, pointer, errors);
                pointer.truncate(length);
            }
        }
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                let length = pointer.len();
                pointer.push('/');
                pointer.push_str(&pointer_token(key));
                if key.contains('\0') {
                    errors.push(FieldError::new(pointer.clone(), DETAIL));
                } else {
                    find_nul(item, pointer, errors);
                }
                pointer.truncate(length);
            }
        }
        _ => {}
    }
}

fn to_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
            Segment::Map { key } => pointer.push_str(&format!("/{}", pointer_token(key))),
            Segment::Enum { variant } => pointer.push_str(&format!("/{}", pointer_token(variant))),
            Segment::Unknown => {}
        }
    }
    pointer
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        score: u8,
    }

    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        name: String,
        items: Vec<Inner>,
    }

    fn pointer_of(body: &str) -> String {
        match parse_json::<Outer>(body.as_bytes()).unwrap_err() {
            ApiError::Validation(errors) => errors[0].pointer.clone(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_wrong_type_is_located_by_pointer() {
        assert_eq!(pointer_of(r#"{"name":"a","items":[{"score":1},{"score":"x"}]}"#), "/items/1/score");
    }

    #[test]
    fn an_unknown_field_is_located_by_its_own_pointer() {
        assert_eq!(pointer_of(r#"{"name":"a","items":[],"organization_id":"x"}"#), "/organization_id");
    }

    #[test]
    fn a_missing_field_is_located_by_its_own_pointer() {
        assert_eq!(pointer_of(r#"{"items":[]}"#), "/name");
    }

    #[test]
    fn out_of_range_integers_are_data_errors() {
        assert_eq!(pointer_of(r#"{"name":"a","items":[{"score":300}]}"#), "/items/0/score");
    }

    #[test]
    fn a_nul_anywhere_is_refused_with_its_pointer_and_an_escaped_backslash_is_not() {
        match parse_json::<serde_json::Value>(br#"{"a":[{"b":"x\u0000"}],"c\u0000":1}"#).unwrap_err() {
            ApiError::Validation(errors) => {
                let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
                assert_eq!(pointers, ["/a/0/b", "/c\u{0}"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(parse_json::<serde_json::Value>(br#"{"a":"\\u0000"}"#).is_ok());
    }

    #[test]
    fn syntax_errors_and_trailing_garbage_are_malformed() {
        for body in ["{", "", r#"{"name":"a","items":[]} x"#, "\u{0}"] {
            assert!(matches!(parse_json::<Outer>(body.as_bytes()), Err(ApiError::BadRequest { .. })), "{body:?}");
        }
    }
}
