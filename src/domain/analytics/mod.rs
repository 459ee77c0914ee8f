//! Alliance and outcome analytics of Rapport (docs/methodology.md): pure functions on
//! already-loaded numbers, each with hand-computed unit tests. Nothing in this module does I/O,
//! reads the clock or rounds (the API rounds to 2 decimals at the edge with [`round2`]).
//!
//! - [`statistics`]: mean, SD, percentiles, t quantile, CIs for a mean and a difference;
//! - [`rupture`]: session-by-session alliance trajectory, rupture and repair;
//! - [`trajectory_state`]: the running state that labels the next point of a trajectory;
//! - [`reliable_change`]: Jacobson–Truax reliable and clinically significant change;
//! - [`etr`]: empirical expected treatment response and its percentile band;
//! - [`periods`]: whole months and partial-month edges of a reporting range;
//! - [`insights`]: rates, effect size, areas for growth, agreement for clinician insights.

pub mod clinician;
pub mod episode;
pub mod etr;
pub mod insights;
pub mod periods;
pub mod reliable_change;
pub mod rupture;
pub mod statistics;
mod student_t;
pub mod trajectory_state;

pub use etr::{
    EtrAssessment, EtrBandPoint, EtrSettings, EtrStatus, ReferenceEpisode, assess_against_band, band_point,
    expected_treatment_response,
};
pub use insights::{
    Agreement, AreaComparison, AreasForGrowth, OutcomeSummary, agreement, areas_for_growth, effect_size,
    low_reliability, outcome_summary, rate_per_100, share,
};
pub use periods::{PeriodSplit, split_into_days, split_into_months};
pub use reliable_change::{
    ChangeAssessment, ChangeClass, ClinicalRange, ClinicalWhen, Direction, classify, jacobson_truax_rci,
};
pub use rupture::{
    AlliancePoint, AllianceTrajectory, CutoffComparator, LabelledPoint, Rupture, RuptureSettings, RuptureStatus,
    Sensitivity, SpreadSource, alliance_trajectory,
};
pub use statistics::{
    DifferenceWithCi, MeanWithCi, mean, mean_with_ci, mean_with_ci_from_summary, moments_from_integer_sums,
    moments_from_sums, percentile, round2, sample_sd, sorted, t_quantile, welch_difference, welch_from_summaries,
};
pub use trajectory_state::{RuptureEvent, TrajectoryState};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_serialize_in_snake_case() {
        let json = |v: serde_json::Value| v.as_str().unwrap_or_default().to_owned();
        assert_eq!(json(serde_json::json!(ChangeClass::InsufficientData)), "insufficient_data");
        assert_eq!(json(serde_json::json!(EtrStatus::InsufficientReference)), "insufficient_reference");
        assert_eq!(json(serde_json::json!(RuptureStatus::Unrepaired)), "unrepaired");
        assert_eq!(json(serde_json::json!(SpreadSource::Organization)), "organization");
        assert_eq!(json(serde_json::json!(CutoffComparator::Le)), "le");
        assert_eq!(json(serde_json::json!(Direction::LowerIsBetter)), "lower_is_better");
        assert_eq!(json(serde_json::json!(ClinicalWhen::AtOrAboveCutoff)), "at_or_above_cutoff");
    }

    #[test]
    fn output_types_provide_openapi_schemas() {
        use utoipa::PartialSchema;
        for schema in [
            serde_json::to_value(AllianceTrajectory::schema()),
            serde_json::to_value(EtrAssessment::schema()),
            serde_json::to_value(AreasForGrowth::schema()),
            serde_json::to_value(ChangeAssessment::schema()),
            serde_json::to_value(OutcomeSummary::schema()),
        ] {
            assert!(schema.unwrap().is_object());
        }
    }
}
