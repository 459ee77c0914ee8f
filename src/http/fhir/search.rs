//! FHIR search: the parameters each resource type declares (unknown ones are refused, not
//! ignored: a typo must not widen a search), date prefixes with the value's precision
//! (`authored=ge2026-01` means from the first of January), tokens (`system|code`),
//! references (`Patient/{id}`), `_count` and the opaque `_cursor` of `next` links, and the
//! `searchset` Bundle.

use crate::domain::time::Timestamp;
use crate::error::{ApiError, FieldError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

/// One search parameter a resource type supports.
pub struct SearchParameter {
    pub name: &'static str,
    /// FHIR `SearchParamType`: `token`, `reference`, `date`, `uri`, `string`.
    pub kind: &'static str,
    pub documentation: &'static str,
}

/// The patient a resource is about, by id.
pub const SUBJECT: SearchParameter =
    SearchParameter { name: "subject", kind: "reference", documentation: "Patient/<id>" };
/// The patient a resource is about, by identifier (a chained search on Patient).
pub const PATIENT_IDENTIFIER: SearchParameter = SearchParameter {
    name: "patient.identifier",
    kind: "token",
    documentation: "The Patient's identifier (the client's external_id)",
};

/// Parameters every search takes.
const COMMON: [&str; 3] = ["_count", "_cursor", "_format"];
pub const DEFAULT_COUNT: i64 = 50;
pub const MAX_COUNT: i64 = 500;

/// A parsed search query: each (name, value) pair in order.
#[derive(Debug, Default)]
pub struct Search {
    pairs: Vec<(String, String)>,
    pub count: i64,
    pub cursor: Option<String>,
}

fn bad(name: &str, detail: impl Into<String>) -> ApiError {
    ApiError::InvalidParameters { code: "invalid_query", errors: vec![FieldError::query(name, detail)] }
}

impl Search {
    /// Parses `query`, refusing a parameter not in `allowed` (or a modifier, which none takes).
    pub fn parse(query: &str, allowed: &[SearchParameter]) -> Result<Self, ApiError> {
        let mut search = Search { count: DEFAULT_COUNT, ..Search::default() };
        let mut errors = Vec::new();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let (name, value) = (name.into_owned(), value.into_owned());
            if !COMMON.contains(&name.as_str()) && !allowed.iter().any(|p| p.name == name) {
                errors.push(FieldError::query(&name, "is not a search parameter of this resource type here"));
                continue;
            }
            match name.as_str() {
                "_count" => match value.parse::<i64>() {
                    Ok(count) if (1..=MAX_COUNT).contains(&count) => search.count = count,
                    _ => errors.push(FieldError::query("_count", format!("must be from 1 to {MAX_COUNT}"))),
                },
                "_cursor" => search.cursor = Some(value),
                "_format" => {}
                _ => search.pairs.push((name, value)),
            }
        }
        if errors.is_empty() { Ok(search) } else { Err(ApiError::InvalidParameters { code: "invalid_query", errors }) }
    }

    /// Every value given for `name` (a parameter may repeat: `authored=ge…&authored=le…`).
    pub fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.pairs.iter().filter(move |(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The one value of `name`; given twice it is refused (it would mean AND of two values).
    pub fn one(&self, name: &str) -> Result<Option<&str>, ApiError> {
        let mut values = self.all(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(bad(name, "give it once"));
        }
        if first.is_some_and(|v| v.contains(',')) {
            return Err(bad(name, "several values (a,b) are not supported"));
        }
        Ok(first)
    }

    /// The query again, without `_cursor` (for `self` and `next` links).
    pub fn query_without_cursor(query: &str) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form_urlencoded::parse(query.as_bytes()).filter(|(n, _)| n != "_cursor"))
            .finish()
    }

    /// The date bounds given for `name` as `[from, to)`; several are intersected.
    pub fn date_range(&self, name: &str) -> Result<(Option<Timestamp>, Option<Timestamp>), ApiError> {
        let mut from: Option<DateTime<Utc>> = None;
        let mut to: Option<DateTime<Utc>> = None;
        for value in self.all(name) {
            let (low, high) = date_bound(value).map_err(|why| bad(name, why))?;
            if let Some(low) = low {
                from = Some(from.map_or(low, |f| f.max(low)));
            }
            if let Some(high) = high {
                to = Some(to.map_or(high, |t| t.min(high)));
            }
        }
        let clamp = |at: Option<DateTime<Utc>>| at.map(Timestamp::clamped);
        Ok((clamp(from), clamp(to)))
    }
}

/// The instant range a FHIR date value covers, from its precision: a year, a month, a day,
/// a second, or (with a fraction) a microsecond.
fn date_range_of(value: &str) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let day =
        |y: i32, m: u32, d: u32| NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| format!("`{value}` is not a date"));
    let midnight = |date: NaiveDate| Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default());
    let year = |text: &str| text.parse::<i32>().ok().filter(|y| (1900..2200).contains(y));
    let invalid = || format!("`{value}` is not a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD or a dateTime with a zone)");
    match value.len() {
        4 => {
            let y = year(value).ok_or_else(invalid)?;
            Ok((midnight(day(y, 1, 1)?), midnight(day(y.saturating_add(1), 1, 1)?)))
        }
        7 => {
            let (y, m) = value.split_once('-').ok_or_else(invalid)?;
            let (y, m) = (year(y).ok_or_else(invalid)?, m.parse::<u32>().map_err(|_| invalid())?);
            let first = day(y, m, 1)?;
            let next = if m == 12 { day(y.saturating_add(1), 1, 1)? } else { day(y, m.saturating_add(1), 1)? };
            Ok((midnight(first), midnight(next)))
        }
        10 => {
            let date = NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| invalid())?;
            year(&date.year().to_string()).ok_or_else(invalid)?;
            let next = midnight(date).checked_add_signed(Duration::days(1)).ok_or_else(invalid)?;
            Ok((midnight(date), next))
        }
        _ => {
            let at = DateTime::parse_from_rfc3339(value).map_err(|_| invalid())?.with_timezone(&Utc);
            Timestamp::new(at).map_err(|_| "must be from 1900 to 2199".to_owned())?;
            let precision = if value.contains('.') { Duration::microseconds(1) } else { Duration::seconds(1) };
            Ok((at, at.checked_add_signed(precision).ok_or_else(invalid)?))
        }
    }
}

/// `[from, to)` bounds of one prefixed date search value.
/// `[from, to)`, each end open when absent.
type Bounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

fn date_bound(value: &str) -> Result<Bounds, String> {
    let (prefix, date) = match value.get(..2) {
        Some(p) if p.chars().all(|c| c.is_ascii_lowercase()) => (p, &value[2..]),
        _ => ("eq", value),
    };
    let (low, high) = date_range_of(date)?;
    match prefix {
        "eq" => Ok((Some(low), Some(high))),
        "ge" => Ok((Some(low), None)),
        "gt" => Ok((Some(high), None)),
        "le" => Ok((None, Some(high))),
        "lt" => Ok((None, Some(low))),
        other => Err(format!("the prefix `{other}` is not supported (eq, ge, gt, le, lt)")),
    }
}

/// A token `system|code`, `|code` (no system) or `code` (any system).
pub fn token(value: &str) -> (Option<&str>, &str) {
    match value.split_once('|') {
        Some((system, code)) => (Some(system), code),
        None => (None, value),
    }
}

/// The id of a `reference` search value naming a `resource_type`: `Type/{id}`, a URL ending
/// so, or a bare id.
pub fn reference_id(name: &str, value: &str, resource_type: &str) -> Result<Uuid, ApiError> {
    let id = match value.rsplit_once('/') {
        Some((before, id)) if before.ends_with(resource_type) => id,
        Some(_) => return Err(bad(name, format!("must reference a {resource_type}"))),
        None => value,
    };
    Uuid::parse_str(id)
        .map_err(|_| bad(name, format!("no {resource_type} has the id `{}`", id.chars().take(64).collect::<String>())))
}

/// A page position: after the response `id`, and after `skip` resources made from it (an
/// Observation page may end inside a response's scores).
pub fn encode_cursor(id: Uuid, skip: usize) -> String {
    format!("{}.{skip}", URL_SAFE_NO_PAD.encode(id.as_bytes()))
}

pub fn decode_cursor(cursor: &str) -> Result<(Uuid, usize), ApiError> {
    let refused = || bad("_cursor", "is not one this server issued");
    let (id, skip) = cursor.split_once('.').ok_or_else(refused)?;
    let bytes = URL_SAFE_NO_PAD.decode(id).map_err(|_| refused())?;
    let id = Uuid::from_slice(&bytes).map_err(|_| refused())?;
    Ok((id, skip.parse().map_err(|_| refused())?))
}

/// A `searchset` Bundle of `(fullUrl, resource)` entries, with `self` and (when there is more)
/// `next` links.
pub fn searchset(link_base: &str, query: &str, entries: Vec<(String, Value)>, next: Option<String>) -> Value {
    let query = Search::query_without_cursor(query);
    let with = |extra: Option<&str>| {
        let mut parts: Vec<String> = Vec::new();
        if !query.is_empty() {
            parts.push(query.clone());
        }
        if let Some(cursor) = extra {
            parts.push(format!("_cursor={cursor}"));
        }
        if parts.is_empty() { link_base.to_owned() } else { format!("{link_base}?{}", parts.join("&")) }
    };
    let mut links = vec![json!({ "relation": "self", "url": with(None) })];
    if let Some(cursor) = &next {
        links.push(json!({ "relation": "next", "url": with(Some(cursor)) }));
    }
    json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": entries
            .into_iter()
            .map(|(full_url, resource)| json!({ "fullUrl": full_url, "resource": resource, "search": { "mode": "match" } }))
            .collect::<Vec<Value>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn date_prefixes_follow_the_precision_of_the_value() {
        assert_eq!(date_bound("ge2026-03").unwrap(), (Some(at("2026-03-01T00:00:00Z")), None));
        assert_eq!(date_bound("le2026-12").unwrap(), (None, Some(at("2027-01-01T00:00:00Z"))));
        assert_eq!(
            date_bound("2026-02-28").unwrap(),
            (Some(at("2026-02-28T00:00:00Z")), Some(at("2026-03-01T00:00:00Z")))
        );
        assert_eq!(date_bound("gt2026-01-01T10:00:00+01:00").unwrap(), (Some(at("2026-01-01T09:00:01Z")), None));
        assert_eq!(date_bound("lt2026").unwrap(), (None, Some(at("2026-01-01T00:00:00Z"))));
    }

    #[test]
    fn bad_dates_and_prefixes_are_refused() {
        for bad in ["2026-13", "2026-02-30", "1800", "sa2026", "2026-01-01T10:00:00", "today", "ap2026-01-01"] {
            assert!(date_bound(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn repeated_bounds_intersect_and_unknown_parameters_are_refused() {
        let allowed = [SearchParameter { name: "authored", kind: "date", documentation: "" }];
        let search = Search::parse("authored=ge2026-01&authored=le2026-06&authored=ge2026-02-15", &allowed).unwrap();
        let (from, to) = search.date_range("authored").unwrap();
        assert_eq!(from.unwrap().get(), at("2026-02-15T00:00:00Z"));
        assert_eq!(to.unwrap().get(), at("2026-07-01T00:00:00Z"));
        assert!(Search::parse("authord=2026", &allowed).is_err());
        assert!(Search::parse("authored:missing=true", &allowed).is_err());
        assert!(Search::parse("_count=0", &allowed).is_err());
        assert_eq!(Search::parse("_count=7", &allowed).unwrap().count, 7);
    }

    #[test]
    fn references_and_cursors_round_trip() {
        let id = Uuid::now_v7();
        assert_eq!(reference_id("subject", &format!("Patient/{id}"), "Patient").unwrap(), id);
        assert_eq!(reference_id("subject", &format!("https://x/fhir/r4/Patient/{id}"), "Patient").unwrap(), id);
        assert!(reference_id("subject", &format!("Group/{id}"), "Patient").is_err());
        assert_eq!(decode_cursor(&encode_cursor(id, 3)).unwrap(), (id, 3));
        assert!(decode_cursor("garbage").is_err());
    }
}
