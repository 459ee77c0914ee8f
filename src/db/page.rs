//! Keyset pagination over UUID v7 ids (which sort by creation time).

use uuid::Uuid;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

#[derive(Clone, Copy, Debug)]
pub struct PageRequest {
    pub limit: i64,
    /// Continue after this id (exclusive), in the listing's order.
    pub after: Option<Uuid>,
}

#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The id to continue after, when more items exist.
    pub next: Option<Uuid>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched in order.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, id_of: impl Fn(&T) -> Uuid) -> Self {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next = if more { rows.last().map(&id_of) } else { None };
        Self { items: rows, next }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next: self.next }
    }
}
