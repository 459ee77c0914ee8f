//! Splitting a reporting range into the whole calendar months a monthly rollup answers and
//! the partial months at its edges, which must be read from the responses themselves.
//! Months are UTC calendar months, as in the rollup.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};

/// `[from, to)` as whole months `[first_month, end_month)` plus up to two edge intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthSplit {
    /// First day of the first whole month; equal to `end_month` when there is none.
    pub first_month: NaiveDate,
    /// First day of the month after the last whole month.
    pub end_month: NaiveDate,
    /// The part before the first whole month (empty when `from` starts a month).
    pub head: (DateTime<Utc>, DateTime<Utc>),
    /// The part after the last whole month (empty when `to` starts a month).
    pub tail: (DateTime<Utc>, DateTime<Utc>),
}

fn month_start(at: DateTime<Utc>) -> NaiveDate {
    NaiveDate::from_ymd_opt(at.year(), at.month(), 1).expect("the first of a month exists")
}

fn next_month(month: NaiveDate) -> NaiveDate {
    month.checked_add_months(chrono::Months::new(1)).expect("within chrono's range")
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight exists"))
}

/// Splits `[from, to)` (`from < to`).
pub fn split_into_months(from: DateTime<Utc>, to: DateTime<Utc>) -> MonthSplit {
    let first = if midnight(month_start(from)) == from { month_start(from) } else { next_month(month_start(from)) };
    let end = month_start(to);
    if first >= end {
        // No whole month inside: everything is one edge.
        return MonthSplit { first_month: first, end_month: first, head: (from, to), tail: (to, to) };
    }
    MonthSplit { first_month: first, end_month: end, head: (from, midnight(first)), tail: (midnight(end), to) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_month_aligned_range_is_all_whole_months() {
        let split = split_into_months(at("2025-06-01T00:00:00Z"), at("2026-06-01T00:00:00Z"));
        assert_eq!((split.first_month, split.end_month), (day("2025-06-01"), day("2026-06-01")));
        assert_eq!(split.head.0, split.head.1);
        assert_eq!(split.tail.0, split.tail.1);
    }

    #[test]
    fn partial_months_become_edges() {
        let split = split_into_months(at("2025-06-15T08:30:00Z"), at("2025-09-03T12:00:00Z"));
        assert_eq!((split.first_month, split.end_month), (day("2025-07-01"), day("2025-09-01")));
        assert_eq!(split.head, (at("2025-06-15T08:30:00Z"), at("2025-07-01T00:00:00Z")));
        assert_eq!(split.tail, (at("2025-09-01T00:00:00Z"), at("2025-09-03T12:00:00Z")));
    }

    #[test]
    fn a_range_inside_one_month_is_one_edge() {
        let split = split_into_months(at("2025-06-15T00:00:00Z"), at("2025-06-20T00:00:00Z"));
        assert_eq!(split.first_month, split.end_month);
        assert_eq!(split.head, (at("2025-06-15T00:00:00Z"), at("2025-06-20T00:00:00Z")));
        assert_eq!(split.tail.0, split.tail.1);
    }

    #[test]
    fn a_range_across_one_boundary_without_a_whole_month_is_one_edge() {
        let split = split_into_months(at("2025-06-20T00:00:00Z"), at("2025-07-10T00:00:00Z"));
        assert_eq!(split.first_month, split.end_month);
        assert_eq!(split.head, (at("2025-06-20T00:00:00Z"), at("2025-07-10T00:00:00Z")));
    }

    #[test]
    fn december_rolls_into_the_next_year() {
        let split = split_into_months(at("2025-12-31T23:00:00Z"), at("2026-02-01T00:00:00Z"));
        assert_eq!((split.first_month, split.end_month), (day("2026-01-01"), day("2026-02-01")));
        assert_eq!(split.head, (at("2025-12-31T23:00:00Z"), at("2026-01-01T00:00:00Z")));
    }
}
