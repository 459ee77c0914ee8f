//! Instants and dates a caller may send, bounded to a documented range at parse time.
//!
//! Clinical records of this service describe care between 1900 and 2200. Anything outside is a
//! typo or an attack, and some of it (year −262143) is outside what PostgreSQL, or arithmetic
//! such as "one year before", can hold. A [`Timestamp`] or [`Day`] outside the range cannot be
//! constructed, so code past the edge never has to check again (docs/integration.md, "Dates").

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

/// The first instant accepted: 1900-01-01T00:00:00Z.
pub fn earliest() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).single().expect("a valid instant")
}

/// The first instant no longer accepted: 2200-01-01T00:00:00Z.
pub fn end() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2200, 1, 1, 0, 0, 0).single().expect("a valid instant")
}

const RANGE_TEXT: &str = "must be from 1900-01-01T00:00:00Z to before 2200-01-01T00:00:00Z";
const INSTANT_TEXT: &str = "must be an RFC 3339 instant such as 2026-03-01T14:00:00Z, from 1900-01-01T00:00:00Z to before 2200-01-01T00:00:00Z";
const DATE_RANGE_TEXT: &str = "must be a date from 1900-01-01 to 2199-12-31";

/// The documented grammar, whole: a generator that draws from the pattern (rather than from
/// the format) then produces values the service accepts.
const DATE_PATTERN: &str = r"^(19[0-9]{2}|2[01][0-9]{2})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$";
const INSTANT_PATTERN: &str = concat!(
    r"^(19[0-9]{2}|2[01][0-9]{2})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])",
    r"[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
);

/// An instant in `[1900-01-01T00:00:00Z, 2200-01-01T00:00:00Z)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", RANGE_TEXT)]
pub struct OutOfRange;

impl Timestamp {
    pub fn new(at: DateTime<Utc>) -> Result<Self, OutOfRange> {
        if at >= earliest() && at < end() { Ok(Self(at)) } else { Err(OutOfRange) }
    }

    /// The current time (inside the range as long as the clock is sane).
    pub fn now() -> Self {
        Self::clamped(Utc::now())
    }

    /// `at`, moved to the nearest instant inside the range.
    pub fn clamped(at: DateTime<Utc>) -> Self {
        let last = end().checked_sub_signed(Duration::microseconds(1)).unwrap_or_else(end);
        Self(at.clamp(earliest(), last))
    }

    pub fn get(self) -> DateTime<Utc> {
        self.0
    }

    /// `self − duration`, or the earliest accepted instant if that would fall before it.
    pub fn saturating_sub(self, duration: Duration) -> Self {
        self.0.checked_sub_signed(duration).map_or(Self(earliest()), Self::clamped)
    }

    /// `self + duration` when it stays inside the range.
    pub fn checked_add(self, duration: Duration) -> Option<Self> {
        self.0.checked_add_signed(duration).and_then(|at| Self::new(at).ok())
    }
}

impl From<Timestamp> for DateTime<Utc> {
    fn from(at: Timestamp) -> Self {
        at.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true).fmt(f)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// Exactly RFC 3339 section 5.6 (`T` between date and time, as the contract's `date-time`
/// format says): chrono alone would also take a space, which the published schema refuses.
/// A leap second (`:60`) is refused too: chrono takes one in any minute, JSON Schema's
/// `date-time` only at 23:59 UTC, and no form is filled in during one.
fn parse_rfc3339(text: &str) -> Option<DateTime<Utc>> {
    if !matches!(text.as_bytes().get(10), Some(b'T' | b't')) {
        return None;
    }
    let at = DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc);
    (at.nanosecond() < 1_000_000_000).then_some(at)
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        parse_rfc3339(&text).and_then(|at| Self::new(at).ok()).ok_or_else(|| serde::de::Error::custom(INSTANT_TEXT))
    }
}

impl PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some("RFC 3339 instant from 1900-01-01T00:00:00Z to before 2200-01-01T00:00:00Z"))
            .pattern(Some(INSTANT_PATTERN))
            .into()
    }
}

impl ToSchema for Timestamp {}

/// A calendar date from 1900-01-01 to 2199-12-31.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(NaiveDate);

impl Day {
    pub fn new(day: NaiveDate) -> Result<Self, OutOfRange> {
        let at = Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN));
        Timestamp::new(at).map(|_| Self(day))
    }

    pub fn get(self) -> NaiveDate {
        self.0
    }
}

impl From<Day> for NaiveDate {
    fn from(day: Day) -> Self {
        day.0
    }
}

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let day = NaiveDate::deserialize(deserializer)?;
        Self::new(day).map_err(|_| serde::de::Error::custom(DATE_RANGE_TEXT))
    }
}

impl PartialSchema for Day {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
            .description(Some("Date `YYYY-MM-DD` from 1900-01-01 to 2199-12-31"))
            .pattern(Some(DATE_PATTERN))
            .into()
    }
}

impl ToSchema for Day {}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Timestamp, serde_json::Error> {
        serde_json::from_value(serde_json::json!(text))
    }

    #[test]
    fn instants_inside_the_range_parse_and_the_edges_are_exact() {
        assert!(parse("1900-01-01T00:00:00Z").is_ok());
        assert!(parse("2199-12-31T23:59:59.999999Z").is_ok());
        assert!(parse("2200-01-01T00:00:00Z").is_err());
        assert!(parse("1899-12-31T23:59:59Z").is_err());
    }

    #[test]
    fn the_extremes_chrono_accepts_are_refused_with_the_range_in_the_message() {
        for text in ["-262143-01-01T00:00:00Z", "+262142-12-31T23:59:59Z", "-5000-01-01T00:00:00Z"] {
            let error = parse(text).unwrap_err().to_string();
            assert!(error.contains("1900-01-01"), "{text}: {error}");
        }
    }

    #[test]
    fn only_rfc_3339_is_an_instant() {
        assert!(parse("2026-03-01t14:00:00.5+02:00").is_ok());
        for text in [
            "2026-03-01 14:00:00Z",
            "2026-03-01T14:00:00 UTC",
            "2026-03-01T14:00Z",
            "2026-03-01",
            "",
            "2016-12-31T23:59:60Z",
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn the_published_schemas_accept_what_the_service_accepts() {
        // Checked by a JSON Schema validator we did not write, formats asserted.
        let check = |schema: RefOr<Schema>| {
            let schema = serde_json::to_value(schema).unwrap();
            jsonschema::options().should_validate_formats(true).build(&schema).unwrap()
        };
        let instant = check(Timestamp::schema());
        let date = check(Day::schema());
        for text in ["1900-01-01T00:00:00Z", "2199-12-31T23:59:59.999999Z", "2026-03-01t14:00:00.5+02:00"] {
            assert!(parse(text).is_ok() && instant.is_valid(&serde_json::json!(text)), "{text}");
        }
        for text in ["2026-03-01 14:00:00Z", "2200-01-01T00:00:00Z", "2026-13-01T00:00:00Z", "2174-04-05T22:05:60Z"] {
            assert!(parse(text).is_err() && !instant.is_valid(&serde_json::json!(text)), "{text}");
        }
        for (text, valid) in [("2199-12-31", true), ("1900-01-01", true), ("2199-12-32", false), ("2200-01-01", false)]
        {
            assert_eq!(date.is_valid(&serde_json::json!(text)), valid, "{text}");
            assert_eq!(serde_json::from_value::<Day>(serde_json::json!(text)).is_ok(), valid, "{text}");
        }
    }

    #[test]
    fn arithmetic_stays_inside_the_range() {
        let first = parse("1900-06-01T00:00:00Z").unwrap();
        assert_eq!(first.saturating_sub(Duration::days(365)).get(), earliest());
        assert_eq!(first.checked_add(Duration::days(400_000)), None);
        assert_eq!(Timestamp::clamped(DateTime::<Utc>::MAX_UTC).get(), end() - Duration::microseconds(1));
    }

    #[test]
    fn dates_are_bounded_the_same_way() {
        let date = |text: &str| serde_json::from_value::<Day>(serde_json::json!(text));
        assert!(date("1900-01-01").is_ok());
        assert!(date("2199-12-31").is_ok());
        assert!(date("2200-01-01").is_err());
        assert!(date("-5000-01-01").is_err());
    }
}
