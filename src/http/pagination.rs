//! List conventions: `?limit=` (default 50, at most 500) and an opaque `?cursor=`; bodies
//! `{"items": [...], "next_cursor": "…" | null}`.

use crate::db::page::{DEFAULT_LIMIT, MAX_LIMIT, Page, PageRequest};
use crate::error::ApiError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// One page of a listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paged<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> Paged<T> {
    pub fn from_page<R>(page: Page<R>, view: impl FnMut(R) -> T) -> Self {
        let next_cursor = page.next.map(encode_cursor);
        Self { items: page.items.into_iter().map(view).collect(), next_cursor }
    }
}

fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(cursor: &str) -> Option<Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    Uuid::from_slice(&bytes).ok()
}

/// Checks `limit` and `cursor` from a query string.
pub fn page_request(limit: Option<i64>, cursor: Option<&str>) -> Result<PageRequest, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::query("limit", format!("must be from 1 to {MAX_LIMIT}")));
    }
    let after = match cursor {
        None => None,
        Some(cursor) => {
            Some(decode_cursor(cursor).ok_or_else(|| ApiError::query("cursor", "is not one this service issued"))?)
        }
    };
    Ok(PageRequest { limit, after })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = Uuid::now_v7();
        assert_eq!(page_request(None, Some(&encode_cursor(id))).unwrap().after, Some(id));
        assert!(page_request(None, Some("not-a-cursor")).is_err());
        assert!(page_request(Some(0), None).is_err());
        assert!(page_request(Some(501), None).is_err());
        assert_eq!(page_request(None, None).unwrap().limit, 50);
    }
}
