//! The export's columns, in order: one table that the CSV header, every CSV record and the
//! Parquet schema are all read from, so the formats cannot disagree.

use crate::domain::export::ExportRow;
use chrono::{DateTime, SecondsFormat, Utc};
use std::borrow::Cow;

/// One value of one row.
pub enum Cell<'a> {
    Text(Option<Cow<'a, str>>),
    /// JSON text (objects and arrays in the flat formats).
    Json(String),
    Int(Option<i32>),
    Time(Option<DateTime<Utc>>),
    Double(f64),
    Bool(bool),
}

impl Cell<'_> {
    /// The CSV field: empty for a missing value, RFC 3339 (UTC, microseconds) for times.
    pub fn csv(&self) -> Cow<'_, str> {
        match self {
            Cell::Text(text) => text.as_deref().map_or(Cow::Borrowed(""), Cow::Borrowed),
            Cell::Json(json) => Cow::Borrowed(json),
            Cell::Int(value) => value.map_or(Cow::Borrowed(""), |v| Cow::Owned(v.to_string())),
            Cell::Time(at) => {
                at.map_or(Cow::Borrowed(""), |at| Cow::Owned(at.to_rfc3339_opts(SecondsFormat::Micros, true)))
            }
            Cell::Double(value) => Cow::Owned(value.to_string()),
            Cell::Bool(value) => Cow::Borrowed(if *value { "true" } else { "false" }),
        }
    }
}

pub struct Column {
    pub name: &'static str,
    /// The Parquet field: repetition and physical type, then the logical type.
    pub parquet: (&'static str, &'static str),
    pub cell: for<'a> fn(&'a ExportRow) -> Cell<'a>,
}

fn text(value: &str) -> Cell<'_> {
    Cell::Text(Some(Cow::Borrowed(value)))
}

fn optional(value: &Option<String>) -> Cell<'_> {
    Cell::Text(value.as_deref().map(Cow::Borrowed))
}

fn json<T: serde::Serialize>(value: &T) -> Cell<'static> {
    Cell::Json(serde_json::to_string(value).expect("JSON values serialize"))
}

const TEXT: (&str, &str) = ("REQUIRED BYTE_ARRAY", "(STRING)");
const OPTIONAL_TEXT: (&str, &str) = ("OPTIONAL BYTE_ARRAY", "(STRING)");
const JSON: (&str, &str) = ("REQUIRED BYTE_ARRAY", "(JSON)");
const INT: (&str, &str) = ("REQUIRED INT32", "");
const OPTIONAL_INT: (&str, &str) = ("OPTIONAL INT32", "");
const TIME: (&str, &str) = ("REQUIRED INT64", "(TIMESTAMP(MICROS,true))");
const OPTIONAL_TIME: (&str, &str) = ("OPTIONAL INT64", "(TIMESTAMP(MICROS,true))");
const DOUBLE: (&str, &str) = ("REQUIRED DOUBLE", "");
const BOOL: (&str, &str) = ("REQUIRED BOOLEAN", "");

pub const COLUMNS: &[Column] = &[
    Column { name: "cursor", parquet: TEXT, cell: |r| text(&r.cursor) },
    Column { name: "response_id", parquet: TEXT, cell: |r| text(&r.response_id) },
    Column { name: "client_id", parquet: TEXT, cell: |r| text(&r.client_id) },
    Column { name: "episode_id", parquet: TEXT, cell: |r| text(&r.episode_id) },
    Column { name: "session_id", parquet: OPTIONAL_TEXT, cell: |r| optional(&r.session_id) },
    Column { name: "clinician_id", parquet: OPTIONAL_TEXT, cell: |r| optional(&r.clinician_id) },
    Column { name: "instrument", parquet: TEXT, cell: |r| text(&r.instrument) },
    Column { name: "instrument_version", parquet: INT, cell: |r| Cell::Int(Some(r.instrument_version)) },
    Column { name: "rater", parquet: TEXT, cell: |r| text(&r.rater) },
    Column { name: "administered_at", parquet: TIME, cell: |r| Cell::Time(Some(r.administered_at)) },
    Column { name: "recorded_at", parquet: TIME, cell: |r| Cell::Time(Some(r.recorded_at)) },
    Column { name: "session_number", parquet: OPTIONAL_INT, cell: |r| Cell::Int(r.session_number) },
    Column { name: "program", parquet: OPTIONAL_TEXT, cell: |r| optional(&r.program) },
    Column { name: "age_group", parquet: TEXT, cell: |r| text(&r.age_group) },
    Column { name: "client_attributes", parquet: JSON, cell: |r| json(&r.client_attributes) },
    Column { name: "answers", parquet: JSON, cell: |r| json(&r.answers) },
    Column { name: "total", parquet: DOUBLE, cell: |r| Cell::Double(r.total) },
    Column { name: "item_mean", parquet: DOUBLE, cell: |r| Cell::Double(r.item_mean) },
    Column { name: "subscales", parquet: JSON, cell: |r| json(&r.subscales) },
    Column { name: "band", parquet: OPTIONAL_TEXT, cell: |r| optional(&r.band) },
    Column { name: "flags", parquet: JSON, cell: |r| json(&r.flags) },
    Column { name: "voided", parquet: BOOL, cell: |r| Cell::Bool(r.voided) },
    Column { name: "voided_at", parquet: OPTIONAL_TIME, cell: |r| Cell::Time(r.voided_at) },
];
