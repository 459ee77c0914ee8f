//! Pure building blocks of the clinician-insights report (docs/methodology.md, "Clinician insights"):
//! rates and shares, the pre–post effect size, areas for growth (clinician vs organization
//! with a Welch CI), client–therapist agreement, outcome shares and the low-reliability flag.
//! Pure arithmetic: no I/O.
//!
//! Decisions where the spec is silent:
//! - comparisons keep the caller's order (SRS item order, then WAI-SR subscales); the area for
//!   growth is the most negative difference, the first one in that order on a tie, and it is
//!   named only when its own 95% CI lies entirely below zero (if the lowest area is not
//!   significant, none is named, even if another negative area is);
//! - `significant` means the CI excludes zero strictly; a collapsed CI (no variance on either
//!   side) at a non-zero difference counts as significant;
//! - the effect size uses `change = current − intake`, so for PHQ-9/GAD-7 improvement is negative;
//! - outcome shares count only episodes with ≥ 2 administrations (not `insufficient_data`).

use serde::Serialize;
use utoipa::ToSchema;

use super::reliable_change::{ChangeAssessment, ChangeClass};
use super::statistics::{DifferenceWithCi, MeanWithCi, Summary, mean, mean_with_ci, sample_sd};

/// Events per 100 sessions; `None` without sessions.
pub fn rate_per_100(events: usize, sessions: usize) -> Option<f64> {
    (sessions > 0).then(|| 100.0 * events as f64 / sessions as f64)
}

/// `part / whole` as a fraction in 0..1; `None` when `whole` is 0.
pub fn share(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Pre–post effect size: mean change ÷ sample SD of the intake scores. `None` without changes,
/// with fewer than 2 intakes or when the intake SD is 0.
pub fn effect_size(changes: &[f64], intakes: &[f64]) -> Option<f64> {
    let sd = sample_sd(intakes).filter(|sd| *sd > 0.0)?;
    Some(mean(changes)? / sd)
}

/// One SRS item or WAI-SR subscale: the clinician's mean vs the organization's.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AreaComparison {
    pub area: String,
    pub clinician: MeanWithCi,
    pub organization: MeanWithCi,
    /// Clinician − organization with a Welch 95% CI; `null` when either side has n < 2.
    pub difference: Option<DifferenceWithCi>,
    /// The CI of the difference excludes zero.
    pub significant: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AreasForGrowth {
    pub comparisons: Vec<AreaComparison>,
    /// The area with the most negative difference, only when its CI lies entirely below zero.
    pub area_for_growth: Option<String>,
}

/// Compares each `(area, clinician, organization)` summary; see the module doc.
pub fn areas_for_growth(areas: &[(String, Summary, Summary)]) -> AreasForGrowth {
    let comparisons: Vec<AreaComparison> = areas
        .iter()
        .map(|(area, clinician, organization)| {
            let difference = clinician.welch_minus(organization);
            AreaComparison {
                area: area.clone(),
                clinician: clinician.mean_with_ci(),
                organization: organization.mean_with_ci(),
                significant: difference.as_ref().is_some_and(DifferenceWithCi::excludes_zero),
                difference,
            }
        })
        .collect();
    let lowest = comparisons.iter().filter_map(|c| c.difference.as_ref().map(|d| (c, d))).fold(
        None::<(&AreaComparison, &DifferenceWithCi)>,
        |best, (c, d)| match best {
            Some((_, b)) if b.difference <= d.difference => best,
            _ => Some((c, d)),
        },
    );
    let area_for_growth = lowest.filter(|(_, d)| d.ci_upper < 0.0).map(|(c, _)| c.area.clone());
    AreasForGrowth { comparisons, area_for_growth }
}

/// Client–therapist agreement on one WAI-SR subscale (item means, client − therapist).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Agreement {
    pub subscale: String,
    pub n: usize,
    pub mean_difference: Option<f64>,
}

impl Agreement {
    pub fn from_pairs(subscale: impl Into<String>, pairs: &[(f64, f64)]) -> Self {
        let (n, mean_difference) = agreement(pairs);
        Self { subscale: subscale.into(), n, mean_difference }
    }
}

/// `(n, mean of client − therapist)` over `(client, therapist)` pairs; the mean is `None` when empty.
pub fn agreement(pairs: &[(f64, f64)]) -> (usize, Option<f64>) {
    let differences: Vec<f64> = pairs.iter().map(|(client, therapist)| client - therapist).collect();
    (pairs.len(), mean(&differences))
}

/// Therapist-level means are flagged below `threshold` distinct clients (default setting 30).
pub fn low_reliability(distinct_clients: usize, threshold: usize) -> bool {
    distinct_clients < threshold
}

/// Outcome section: shares of each class among episodes with ≥ 2 administrations.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OutcomeSummary {
    /// Episodes with at least two administrations.
    pub episodes: usize,
    pub recovered: Option<f64>,
    pub improved: Option<f64>,
    pub unchanged: Option<f64>,
    pub deteriorated: Option<f64>,
    pub mean_change: Option<f64>,
    /// The mean change with its 95% t interval (n − 1 df) over the same episodes.
    pub mean_change_with_ci: MeanWithCi,
    pub effect_size: Option<f64>,
}

/// Summarises the assessments of a clinician's episodes on one instrument.
pub fn outcome_summary(assessments: &[ChangeAssessment]) -> OutcomeSummary {
    let counted: Vec<&ChangeAssessment> =
        assessments.iter().filter(|a| a.class != ChangeClass::InsufficientData && a.change.is_some()).collect();
    let episodes = counted.len();
    let class_share = |class| share(counted.iter().filter(|a| a.class == class).count(), episodes);
    let changes: Vec<f64> = counted.iter().filter_map(|a| a.change).collect();
    let intakes: Vec<f64> = counted.iter().filter_map(|a| a.intake).collect();
    OutcomeSummary {
        episodes,
        recovered: class_share(ChangeClass::Recovered),
        improved: class_share(ChangeClass::Improved),
        unchanged: class_share(ChangeClass::Unchanged),
        deteriorated: class_share(ChangeClass::Deteriorated),
        mean_change: mean(&changes),
        mean_change_with_ci: mean_with_ci(&changes),
        effect_size: effect_size(&changes, &intakes),
    }
}

#[cfg(test)]
mod tests {
    use super::super::reliable_change::{Direction, classify};
    use super::*;

    fn area(name: &str, clinician: &[f64], organization: &[f64]) -> (String, Summary, Summary) {
        (name.to_owned(), Summary::of(clinician), Summary::of(organization))
    }

    #[test]
    fn rates_and_shares_are_none_without_a_denominator() {
        assert_eq!(rate_per_100(3, 60), Some(5.0)); // 100 · 3/60
        assert_eq!(rate_per_100(3, 0), None);
        assert_eq!(share(1, 4), Some(0.25));
        assert_eq!(share(0, 0), None);
    }

    #[test]
    fn effect_size_is_mean_change_over_the_sd_of_intakes() {
        // Changes [4, 6, 8]: mean 6. Intakes [16, 18, 20]: SD = √((4+0+4)/2) = 2. ES = 3.
        assert_eq!(effect_size(&[4.0, 6.0, 8.0], &[16.0, 18.0, 20.0]), Some(3.0));
        assert_eq!(effect_size(&[4.0, 6.0], &[18.0, 18.0]), None); // SD 0
        assert_eq!(effect_size(&[4.0], &[18.0]), None); // n < 2
    }

    #[test]
    fn an_area_for_growth_is_named_when_its_ci_lies_below_zero() {
        // relationship: clinician [7,8,9] mean 8 vs org [9,9.5,10,9.5] mean 9.5 → d = −1.5.
        //   v_c = 1/3, v_o = (0.25+0+0.25+0)/3/4 = 0.0416667; se = √0.375 = 0.6124;
        //   ν = 0.140625 / (0.0555556 + 0.0005787) = 2.5051; t ≈ 3.6 → half-width ≈ 2.2: not significant.
        // overall: clinician [6, 6.5, 6, 6.5] mean 6.25 vs org [9, 9.5, 9, 9.5] mean 9.25 → d = −3;
        //   v = (4·0.0625/3)/4 = 0.0208333 each; se = 0.2041; ν = 6; t = 2.4469 → CI [−3.4995, −2.5005].
        let result = areas_for_growth(&[
            area("relationship", &[7.0, 8.0, 9.0], &[9.0, 9.5, 10.0, 9.5]),
            area("overall", &[6.0, 6.5, 6.0, 6.5], &[9.0, 9.5, 9.0, 9.5]),
        ]);
        assert!(!result.comparisons[0].significant);
        let overall = &result.comparisons[1];
        assert!(overall.significant);
        let d = overall.difference.as_ref().unwrap();
        assert!((d.difference + 3.0).abs() < 1e-12);
        assert!((d.ci_lower + 3.499_5).abs() < 1e-4 && (d.ci_upper + 2.500_5).abs() < 1e-4);
        assert_eq!(result.area_for_growth.as_deref(), Some("overall"));
    }

    #[test]
    fn no_area_for_growth_is_named_when_the_lowest_difference_is_not_significant() {
        // goals_topics: d = −1.5 with a wide CI (as above); approach_method: d = 0.
        let result = areas_for_growth(&[
            area("goals_topics", &[7.0, 8.0, 9.0], &[9.0, 9.5, 10.0, 9.5]),
            area("approach_method", &[9.0, 9.5], &[9.0, 9.5]),
        ]);
        assert_eq!(result.area_for_growth, None);
        assert!(result.comparisons.iter().all(|c| !c.significant));
    }

    #[test]
    fn a_significant_positive_difference_is_a_strength_not_an_area_for_growth() {
        let result = areas_for_growth(&[area("bond", &[4.5, 4.6, 4.5, 4.6], &[3.0, 3.1, 3.0, 3.1])]);
        assert!(result.comparisons[0].significant);
        assert_eq!(result.area_for_growth, None);
    }

    #[test]
    fn an_area_with_too_few_values_has_no_difference_and_is_skipped() {
        let result = areas_for_growth(&[area("task", &[2.0], &[4.0, 4.5])]);
        assert_eq!((result.comparisons[0].difference.as_ref(), result.area_for_growth), (None, None));
        assert_eq!(result.comparisons[0].clinician.mean, Some(2.0));
    }

    #[test]
    fn ties_between_equally_low_areas_go_to_the_first_in_input_order() {
        let low = [6.0, 6.5, 6.0, 6.5];
        let org = [9.0, 9.5, 9.0, 9.5];
        let result = areas_for_growth(&[area("b_second", &low, &org), area("a_first", &low, &org)]);
        assert_eq!(result.area_for_growth.as_deref(), Some("b_second"));
    }

    #[test]
    fn agreement_is_the_mean_client_minus_therapist_difference_with_n() {
        // (4.5−4) + (3−3.5) + (4−3) = 0.5 − 0.5 + 1 = 1; 1/3.
        let (n, d) = agreement(&[(4.5, 4.0), (3.0, 3.5), (4.0, 3.0)]);
        assert_eq!(n, 3);
        assert!((d.unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(agreement(&[]), (0, None));
        assert_eq!(Agreement::from_pairs("goal", &[(5.0, 4.0)]).mean_difference, Some(1.0));
    }

    #[test]
    fn fewer_clients_than_the_threshold_is_low_reliability() {
        assert!(low_reliability(29, 30));
        assert!(!low_reliability(30, 30));
    }

    #[test]
    fn outcome_summary_counts_only_episodes_with_two_administrations() {
        // ORS adult (RCI 5): 18→26 recovered (+8), 18→24 improved (+6), 20→22 unchanged (+2),
        // one administration only (ignored). Shares 1/3 each; mean change (8+6+2)/3 = 16/3;
        // intakes [18, 18, 20]: SD = √((4/9+4/9+16/9)/2) = √(4/3) = 1.1547; ES = 5.3333/1.1547 = 4.6188.
        let range = super::super::reliable_change::ClinicalRange {
            cutoff: 25.0,
            clinical_when: super::super::reliable_change::ClinicalWhen::BelowCutoff,
        };
        let assessments: Vec<ChangeAssessment> = [vec![18.0, 26.0], vec![18.0, 24.0], vec![20.0, 22.0], vec![15.0]]
            .iter()
            .map(|s| classify(s, Direction::HigherIsBetter, 5.0, Some(range)))
            .collect();
        let summary = outcome_summary(&assessments);
        assert_eq!(summary.episodes, 3);
        assert_eq!((summary.recovered, summary.deteriorated), (Some(1.0 / 3.0), Some(0.0)));
        assert!((summary.mean_change.unwrap() - 16.0 / 3.0).abs() < 1e-12);
        assert!((summary.effect_size.unwrap() - 4.618_802).abs() < 1e-6);
    }
}
