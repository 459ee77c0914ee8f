//! Splitting a reporting range into the whole UTC calendar months (or days) a rollup answers
//! and the partial periods at its edges, which must be read from the responses themselves.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};

/// `[from, to)` as whole periods `[first, end)` (each named by its first day) plus up to two
/// edge intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeriodSplit {
    /// First day of the first whole period; equal to `end` when there is none.
    pub first: NaiveDate,
    /// First day of the period after the last whole one.
    pub end: NaiveDate,
    /// The part before the first whole period (empty when `from` starts one).
    pub head: (DateTime<Utc>, DateTime<Utc>),
    /// The part after the last whole period (empty when `to` starts one).
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

fn split(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    start_of: fn(DateTime<Utc>) -> NaiveDate,
    next: fn(NaiveDate) -> NaiveDate,
) -> PeriodSplit {
    if from >= to {
        let empty = (from, from);
        return PeriodSplit { first: start_of(from), end: start_of(from), head: empty, tail: empty };
    }
    let first = if midnight(start_of(from)) == from { start_of(from) } else { next(start_of(from)) };
    let end = start_of(to);
    if first >= end {
        // No whole period inside: everything is one edge.
        return PeriodSplit { first, end: first, head: (from, to), tail: (to, to) };
    }
    PeriodSplit { first, end, head: (from, midnight(first)), tail: (midnight(end), to) }
}

/// Splits `[from, to)` into whole UTC calendar months and edges (all empty when `from ≥ to`).
pub fn split_into_months(from: DateTime<Utc>, to: DateTime<Utc>) -> PeriodSplit {
    split(from, to, month_start, next_month)
}

/// Splits `[from, to)` into whole UTC days and edges (all empty when `from ≥ to`).
pub fn split_into_days(from: DateTime<Utc>, to: DateTime<Utc>) -> PeriodSplit {
    split(from, to, |at| at.date_naive(), |day| day.succ_opt().expect("within chrono's range"))
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
        assert_eq!((split.first, split.end), (day("2025-06-01"), day("2026-06-01")));
        assert_eq!(split.head.0, split.head.1);
        assert_eq!(split.tail.0, split.tail.1);
    }

    #[test]
    fn partial_months_become_edges() {
        let split = split_into_months(at("2025-06-15T08:30:00Z"), at("2025-09-03T12:00:00Z"));
        assert_eq!((split.first, split.end), (day("2025-07-01"), day("2025-09-01")));
        assert_eq!(split.head, (at("2025-06-15T08:30:00Z"), at("2025-07-01T00:00:00Z")));
        assert_eq!(split.tail, (at("2025-09-01T00:00:00Z"), at("2025-09-03T12:00:00Z")));
    }

    #[test]
    fn a_range_inside_one_month_is_one_edge() {
        let split = split_into_months(at("2025-06-15T00:00:00Z"), at("2025-06-20T00:00:00Z"));
        assert_eq!(split.first, split.end);
        assert_eq!(split.head, (at("2025-06-15T00:00:00Z"), at("2025-06-20T00:00:00Z")));
        assert_eq!(split.tail.0, split.tail.1);
    }

    #[test]
    fn a_range_across_one_boundary_without_a_whole_month_is_one_edge() {
        let split = split_into_months(at("2025-06-20T00:00:00Z"), at("2025-07-10T00:00:00Z"));
        assert_eq!(split.first, split.end);
        assert_eq!(split.head, (at("2025-06-20T00:00:00Z"), at("2025-07-10T00:00:00Z")));
    }

    #[test]
    fn days_split_at_midnight_utc() {
        let split = split_into_days(at("2025-06-15T08:30:00Z"), at("2025-06-18T12:00:00Z"));
        assert_eq!((split.first, split.end), (day("2025-06-16"), day("2025-06-18")));
        assert_eq!(split.head, (at("2025-06-15T08:30:00Z"), at("2025-06-16T00:00:00Z")));
        assert_eq!(split.tail, (at("2025-06-18T00:00:00Z"), at("2025-06-18T12:00:00Z")));
        let aligned = split_into_days(at("2025-06-15T00:00:00Z"), at("2025-06-16T00:00:00Z"));
        assert_eq!(
            (aligned.first, aligned.end, aligned.head.0 == aligned.head.1),
            (day("2025-06-15"), day("2025-06-16"), true)
        );
        let inside = split_into_days(at("2025-06-15T01:00:00Z"), at("2025-06-15T02:00:00Z"));
        assert_eq!(
            (inside.first == inside.end, inside.head),
            (true, (at("2025-06-15T01:00:00Z"), at("2025-06-15T02:00:00Z")))
        );
    }

    #[test]
    fn an_empty_range_has_no_periods_and_empty_edges() {
        let split = split_into_days(at("2025-06-15T08:30:00Z"), at("2025-06-15T08:30:00Z"));
        assert_eq!(split.first, split.end);
        assert_eq!((split.head.0 == split.head.1, split.tail.0 == split.tail.1), (true, true));
    }

    #[test]
    fn december_rolls_into_the_next_year() {
        let split = split_into_months(at("2025-12-31T23:00:00Z"), at("2026-02-01T00:00:00Z"));
        assert_eq!((split.first, split.end), (day("2026-01-01"), day("2026-02-01")));
        assert_eq!(split.head, (at("2025-12-31T23:00:00Z"), at("2026-01-01T00:00:00Z")));
    }
}
