//! Worked examples for `rupture.rs` (hand-computed; arithmetic in the comments). No I/O.

use super::*;

fn series(scores: &[f64]) -> Vec<AlliancePoint> {
    scores.iter().zip(1..).map(|(&score, session_number)| AlliancePoint { session_number, score }).collect()
}

fn run(scores: &[f64], settings: &RuptureSettings) -> AllianceTrajectory {
    alliance_trajectory(&series(scores), settings)
}

#[test]
fn a_v_shaped_dip_that_recovers_is_a_repaired_rupture() {
    // s3: earlier [37, 39] → baseline 38, SD_within √2 = 1.41 < fallback 2 → s = 2; 38 > 36.
    // s4: earlier [37, 39, 38] → baseline 38, SD_within 1 → s = 2 (fallback);
    //     threshold 38 − 1·2 = 36; 34.5 ≤ 36 → rupture, drop 3.5. Repair needs ≥ 38 − 0.5·2 = 37.
    // s5: 36.9 < 37, not yet. s6: 37.0 ≥ 37 (inclusive) → repaired at session 6.
    let t = run(&[37.0, 39.0, 38.0, 34.5, 36.9, 37.0], &RuptureSettings::default());
    assert_eq!(
        t.ruptures,
        vec![Rupture {
            session_number: 4,
            score: 34.5,
            baseline: 38.0,
            spread: 2.0,
            spread_source: SpreadSource::Fallback,
            k: 1.0,
            drop: 3.5,
            status: RuptureStatus::Repaired,
            repaired_at_session: Some(6),
        }]
    );
    assert_eq!((t.rupture_count, t.repaired_count, t.unrepaired_count, t.pending_count), (1, 1, 0, 0));
    let flags: Vec<(bool, bool)> = t.points.iter().map(|p| (p.rupture, p.repair)).collect();
    assert_eq!(flags, [(false, false), (false, false), (false, false), (true, false), (false, false), (false, true)]);
    // Labels: 34.5 < 36 is below cutoff and fell 3.5 from 38; 36.9 is not below 36 and rose.
    assert_eq!(t.points[3].drop, Some(-3.5));
    assert!(t.points[3].below_cutoff && !t.points[4].below_cutoff);
    assert_eq!(t.points[4].drop, None);
}

#[test]
fn a_rupture_repaired_on_the_last_point_of_the_window_counts_as_repaired() {
    // Baseline 38, s = 2 at s4 (34 ≤ 36). Later points 35, 36, 37: the third reaches 37.
    let t = run(&[38.0, 38.0, 38.0, 34.0, 35.0, 36.0, 37.0], &RuptureSettings::default());
    assert_eq!(t.ruptures[0].status, RuptureStatus::Repaired);
    assert_eq!(t.ruptures[0].repaired_at_session, Some(7));
}

#[test]
fn a_dip_that_stays_low_for_the_whole_window_is_unrepaired_and_counted_once() {
    // s4: baseline 38, s = 2 → 34 ≤ 36 rupture; repair needs ≥ 37.
    // s5 35, s6 36, s7 36.5 all < 37 → after 3 later points the window closes: unrepaired.
    // s5 alone would also qualify (earlier [38,38,38,34]: mean 37, SD √(12/3) = 2, s = 2,
    // threshold 35, 35 ≤ 35) but it lies inside the open window, so no second rupture.
    // s8 = 38 comes after the window: not a repair.
    let t = run(&[38.0, 38.0, 38.0, 34.0, 35.0, 36.0, 36.5, 38.0], &RuptureSettings::default());
    assert_eq!(t.rupture_count, 1);
    assert_eq!(t.ruptures[0].status, RuptureStatus::Unrepaired);
    assert_eq!(t.ruptures[0].repaired_at_session, None);
    assert_eq!((t.repaired_count, t.unrepaired_count, t.pending_count), (0, 1, 0));
    assert!(t.points.iter().all(|p| !p.repair));
}

#[test]
fn a_new_rupture_may_start_after_the_window_closes_and_stays_pending_without_later_points() {
    // First rupture at s4 (as above), unrepaired after s5–s7 = 35, 35, 35.
    // s8: earlier [38,38,38,34,35,35,35]: Σ = 253, mean 36.142857; squared deviations
    // 3·(13/7)² + (15/7)² + 3·(6/7)² = 840/49 = 17.142857; /6 = 2.857143; SD 1.690 < 2 → s = 2;
    // threshold 34.142857; 33 ≤ 34.14 → second rupture, drop 3.142857, pending (no later points).
    let t = run(&[38.0, 38.0, 38.0, 34.0, 35.0, 35.0, 35.0, 33.0], &RuptureSettings::default());
    assert_eq!((t.rupture_count, t.unrepaired_count, t.pending_count), (2, 1, 1));
    let second = &t.ruptures[1];
    assert_eq!((second.session_number, second.status), (8, RuptureStatus::Pending));
    assert!((second.baseline - 253.0 / 7.0).abs() < 1e-12);
    assert!((second.drop - (253.0 / 7.0 - 33.0)).abs() < 1e-12);
}

#[test]
fn a_new_rupture_may_start_after_a_repair() {
    // s4 rupture (baseline 38, s 2), s5 = 38 repairs it. s6: earlier [38,38,38,34,38]: mean 37.2,
    // squared deviations 4·0.64 + 10.24 = 12.8, /4 = 3.2, SD 1.789 < 2 → s = 2; threshold 35.2;
    // 30 ≤ 35.2 → a second rupture, pending.
    let t = run(&[38.0, 38.0, 38.0, 34.0, 38.0, 30.0], &RuptureSettings::default());
    assert_eq!((t.rupture_count, t.repaired_count, t.pending_count), (2, 1, 1));
    assert!((t.ruptures[1].baseline - 37.2).abs() < 1e-12);
}

#[test]
fn a_decline_is_a_rupture_under_standard_but_not_under_strict_sensitivity() {
    // Baseline 38, s = 2 (fallback). Standard k = 1: threshold 36, 35 ≤ 36 → rupture.
    // Strict k = 2: threshold 34, 35 > 34 → no rupture.
    let scores = [38.0, 38.0, 38.0, 35.0];
    assert_eq!(run(&scores, &RuptureSettings::default()).rupture_count, 1);
    let strict = RuptureSettings { k: Sensitivity::Strict.k(), ..RuptureSettings::default() };
    assert_eq!(run(&scores, &strict).rupture_count, 0);
}

#[test]
fn the_fallback_spread_is_used_while_the_organization_sd_is_unknown() {
    // Earlier [37, 39, 38]: baseline 38, SD_within 1. Fallback 2 > 1 → s = 2, threshold 36;
    // 35.5 ≤ 36 → rupture with spread_source fallback.
    let t = run(&[37.0, 39.0, 38.0, 35.5], &RuptureSettings::default());
    assert_eq!((t.ruptures[0].spread, t.ruptures[0].spread_source), (2.0, SpreadSource::Fallback));
}

#[test]
fn the_organization_sd_replaces_the_fallback_when_known_and_larger_than_the_within_sd() {
    // Same series, org SD 3 > SD_within 1 → s = 3, threshold 38 − 3 = 35: 35.5 is no rupture,
    // 34.8 is (drop 3.2, spread_source organization).
    let org = RuptureSettings { org_change_sd: Some(3.0), ..RuptureSettings::default() };
    assert_eq!(run(&[37.0, 39.0, 38.0, 35.5], &org).rupture_count, 0);
    let t = run(&[37.0, 39.0, 38.0, 34.8], &org);
    assert_eq!((t.ruptures[0].spread, t.ruptures[0].spread_source), (3.0, SpreadSource::Organization));
}

#[test]
fn the_within_client_sd_wins_when_it_is_larger_than_the_organization_sd() {
    // Org SD 0.5 < SD_within 1 → s = 1, threshold 37; 35.5 ≤ 37 → rupture, source within.
    let org = RuptureSettings { org_change_sd: Some(0.5), ..RuptureSettings::default() };
    let t = run(&[37.0, 39.0, 38.0, 35.5], &org);
    assert_eq!((t.ruptures[0].spread, t.ruptures[0].spread_source), (1.0, SpreadSource::Within));
}

#[test]
fn a_rupture_needs_at_least_two_earlier_points() {
    // s2 has one earlier point: no baseline. s3 has two: baseline 38, s 2, 20 ≤ 36.
    assert_eq!(run(&[38.0, 20.0], &RuptureSettings::default()).rupture_count, 0);
    assert_eq!(run(&[38.0, 38.0, 20.0], &RuptureSettings::default()).ruptures[0].session_number, 3);
}

#[test]
fn a_score_exactly_on_the_rupture_threshold_is_a_rupture_despite_float_noise() {
    // Earlier [37.0, 36.0, 37.1]: baseline 110.1/3 = 36.7; SD_within √(0.74/2) = 0.61 → s = 2;
    // threshold 34.7 exactly, but computed in binary as 34.699999999999996. 34.7 ≤ 34.7 → rupture.
    let t = run(&[37.0, 36.0, 37.1, 34.7], &RuptureSettings::default());
    assert!(t.ruptures[0].baseline - 2.0 < 34.7, "the float threshold really is below 34.7");
    assert_eq!(t.rupture_count, 1);
}

#[test]
fn a_fall_of_exactly_one_point_is_a_drop_despite_float_noise() {
    // 32.3 − 31.3 is 0.9999999999999964 in binary floating point; it still counts as a drop.
    let t = run(&[32.3, 31.3, 30.5], &RuptureSettings::default());
    assert!(std::hint::black_box(32.3_f64) - 31.3 < 1.0);
    assert_eq!(t.points[1].drop, Some(31.3 - 32.3));
    // 31.3 → 30.5 is a fall of 0.8 < 1.0: no drop.
    assert_eq!(t.points[2].drop, None);
    assert_eq!(t.points[0].drop, None);
}

#[test]
fn the_cutoff_comparator_decides_whether_a_score_of_exactly_36_is_below_cutoff() {
    let lt = run(&[36.0, 35.9], &RuptureSettings::default());
    assert_eq!((lt.points[0].below_cutoff, lt.points[1].below_cutoff), (false, true));
    let le = RuptureSettings { cutoff_comparator: CutoffComparator::Le, ..RuptureSettings::default() };
    assert!(run(&[36.0], &le).points[0].below_cutoff);
    assert!(!run(&[36.1], &le).points[0].below_cutoff);
}

#[test]
fn a_zero_repair_window_makes_every_rupture_unrepaired_at_once() {
    let none = RuptureSettings { repair_window: 0, ..RuptureSettings::default() };
    let t = run(&[38.0, 38.0, 38.0, 34.0, 38.0], &none);
    assert_eq!((t.rupture_count, t.unrepaired_count), (1, 1));
    assert!(!t.points[4].repair);
}

#[test]
fn an_empty_series_has_no_points_and_no_ruptures() {
    let t = run(&[], &RuptureSettings::default());
    assert!(t.points.is_empty() && t.ruptures.is_empty() && t.rupture_count == 0);
}
