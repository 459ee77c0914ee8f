//! Reliable and clinically significant change (Jacobson & Truax 1991), as in docs/methodology.md, section 6:
//! the reliable change index in raw points and the recovered / improved / unchanged /
//! deteriorated classification of an episode from its first and latest administration.
//! Pure arithmetic: no I/O.
//!
//! Decisions: change is `current − intake` (so for PHQ-9/GAD-7 an improvement is negative);
//! "reliable" is `|change| ≥ RCI` inclusive, with 1e-9 of float-noise tolerance (see
//! `rupture.rs`); without a clinical range (e.g. WAI) a reliable improvement is `improved`,
//! never `recovered`; administrations between intake and current do not affect the class.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::rupture::EPSILON;

/// Which way is better on the instrument's total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// ORS, CORS, SRS, WAI.
    HigherIsBetter,
    /// PHQ-9, GAD-7.
    LowerIsBetter,
}

/// Reliable change index in raw points: `1.96 × SD × √2 × √(1 − r)` (i.e. 1.96 × S_diff).
pub fn jacobson_truax_rci(sd: f64, reliability: f64) -> f64 {
    1.96 * sd * std::f64::consts::SQRT_2 * (1.0 - reliability).sqrt()
}

/// Which side of the cutoff is the clinical range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClinicalWhen {
    /// ORS/CORS: clinical when score < cutoff (≥ cutoff is the non-clinical range).
    BelowCutoff,
    /// PHQ-9 (caseness ≥ 10), GAD-7 (≥ 8): clinical when score ≥ cutoff.
    AtOrAboveCutoff,
}

/// A clinical cutoff and the side of it that is clinical.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClinicalRange {
    pub cutoff: f64,
    pub clinical_when: ClinicalWhen,
}

impl ClinicalRange {
    /// Whether `score` lies in the clinical range (cutoff comparisons tolerate 1e-9 of noise).
    pub fn is_clinical(&self, score: f64) -> bool {
        match self.clinical_when {
            ClinicalWhen::BelowCutoff => score < self.cutoff - EPSILON,
            ClinicalWhen::AtOrAboveCutoff => score >= self.cutoff - EPSILON,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeClass {
    Recovered,
    Improved,
    Unchanged,
    Deteriorated,
    InsufficientData,
}

/// Classification of one episode's series on one instrument.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ChangeAssessment {
    pub class: ChangeClass,
    /// First administration.
    pub intake: Option<f64>,
    /// Latest administration.
    pub current: Option<f64>,
    /// `current − intake`; `null` with fewer than two administrations.
    pub change: Option<f64>,
    pub administrations: usize,
}

/// Classifies a series (intake first, current last) against a raw-point RCI and an optional
/// clinical range.
pub fn classify(
    series: &[f64],
    direction: Direction,
    rci_points: f64,
    clinical: Option<ClinicalRange>,
) -> ChangeAssessment {
    let administrations = series.len();
    let (intake, current) = (series.first().copied(), series.last().copied());
    let (Some(pre), Some(post), true) = (intake, current, administrations >= 2) else {
        return ChangeAssessment {
            class: ChangeClass::InsufficientData,
            intake,
            current,
            change: None,
            administrations,
        };
    };
    let change = post - pre;
    // A zero change is never reliable, even with a degenerate RCI of 0.
    let reliable = change.abs() > EPSILON && change.abs() >= rci_points - EPSILON;
    let better = match direction {
        Direction::HigherIsBetter => change > 0.0,
        Direction::LowerIsBetter => change < 0.0,
    };
    let class = match (reliable, better, clinical) {
        (false, _, _) => ChangeClass::Unchanged,
        (true, false, _) => ChangeClass::Deteriorated,
        (true, true, Some(range)) if range.is_clinical(pre) && !range.is_clinical(post) => ChangeClass::Recovered,
        (true, true, _) => ChangeClass::Improved,
    };
    ChangeAssessment { class, intake, current, change: Some(change), administrations }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ChangeClass::*;

    const ADULT_ORS: ClinicalRange = ClinicalRange { cutoff: 25.0, clinical_when: ClinicalWhen::BelowCutoff };
    const ADOLESCENT_ORS: ClinicalRange = ClinicalRange { cutoff: 28.0, clinical_when: ClinicalWhen::BelowCutoff };
    const CHILD_CORS: ClinicalRange = ClinicalRange { cutoff: 32.0, clinical_when: ClinicalWhen::BelowCutoff };
    const PHQ9: ClinicalRange = ClinicalRange { cutoff: 10.0, clinical_when: ClinicalWhen::AtOrAboveCutoff };
    const GAD7: ClinicalRange = ClinicalRange { cutoff: 8.0, clinical_when: ClinicalWhen::AtOrAboveCutoff };

    fn ors(pre: f64, post: f64, range: ClinicalRange) -> ChangeClass {
        classify(&[pre, post], Direction::HigherIsBetter, 5.0, Some(range)).class
    }

    fn lower(pre: f64, post: f64, rci: f64, range: ClinicalRange) -> ChangeClass {
        classify(&[pre, post], Direction::LowerIsBetter, rci, Some(range)).class
    }

    #[test]
    fn rci_follows_jacobson_and_truax() {
        // SD 7.0, r = 0.9: 1.96 × 7 × 1.4142136 × √0.1 (0.3162278) = 13.72 × 0.4472136 = 6.1358
        assert!((jacobson_truax_rci(7.0, 0.9) - 6.135_770_6).abs() < 1e-6);
        // r = 1 (perfect reliability): any change is reliable, RCI 0.
        assert_eq!(jacobson_truax_rci(7.0, 1.0), 0.0);
    }

    #[test]
    fn adult_ors_classifications_with_cutoff_25_and_rci_5() {
        // Hand-computed (change = post − pre; reliable when |change| ≥ 5; clinical when < 25):
        assert_eq!(ors(18.0, 26.0, ADULT_ORS), Recovered); // +8 reliable; 18 clinical, 26 not
        assert_eq!(ors(18.0, 24.0, ADULT_ORS), Improved); // +6 reliable; 24 still < 25
        assert_eq!(ors(20.0, 25.0, ADULT_ORS), Recovered); // +5 exactly reliable; 25 ≥ 25 non-clinical
        assert_eq!(ors(18.0, 22.0, ADULT_ORS), Unchanged); // +4 < 5
        assert_eq!(ors(26.0, 32.0, ADULT_ORS), Improved); // +6 but intake 26 was not clinical
        assert_eq!(ors(30.0, 24.0, ADULT_ORS), Deteriorated); // −6 reliable worsening
        assert_eq!(ors(30.0, 26.0, ADULT_ORS), Unchanged); // −4 not reliable
    }

    #[test]
    fn adolescent_ors_uses_cutoff_28() {
        assert_eq!(ors(20.0, 27.0, ADOLESCENT_ORS), Improved); // +7; 27 < 28 still clinical
        assert_eq!(ors(20.0, 28.0, ADOLESCENT_ORS), Recovered); // +8; 28 ≥ 28 non-clinical
        assert_eq!(ors(20.0, 27.0, ADULT_ORS), Recovered); // the same change is recovery for an adult
    }

    #[test]
    fn child_cors_uses_cutoff_32() {
        assert_eq!(ors(26.0, 32.0, CHILD_CORS), Recovered); // +6; 26 < 32, 32 ≥ 32
        assert_eq!(ors(26.0, 31.0, CHILD_CORS), Improved); // +5; 31 < 32 still clinical
        assert_eq!(ors(33.0, 28.0, CHILD_CORS), Deteriorated); // −5
    }

    #[test]
    fn phq9_classifications_with_caseness_10_and_rci_6() {
        // Lower is better; clinical when ≥ 10.
        assert_eq!(lower(15.0, 8.0, 6.0, PHQ9), Recovered); // −7 reliable; 15 case, 8 not
        assert_eq!(lower(20.0, 14.0, 6.0, PHQ9), Improved); // −6 reliable; 14 still ≥ 10
        assert_eq!(lower(16.0, 10.0, 6.0, PHQ9), Improved); // −6; 10 is caseness (≥ 10)
        assert_eq!(lower(9.0, 16.0, 6.0, PHQ9), Deteriorated); // +7 reliable worsening
        assert_eq!(lower(12.0, 8.0, 6.0, PHQ9), Unchanged); // −4 < 6, though it crossed the cutoff
    }

    #[test]
    fn gad7_classifications_with_caseness_8_and_rci_4() {
        assert_eq!(lower(12.0, 7.0, 4.0, GAD7), Recovered); // −5; 12 case, 7 < 8
        assert_eq!(lower(12.0, 8.0, 4.0, GAD7), Improved); // −4 exactly reliable; 8 still ≥ 8
        assert_eq!(lower(5.0, 9.0, 4.0, GAD7), Deteriorated); // +4 reliable worsening
        assert_eq!(lower(10.0, 7.0, 4.0, GAD7), Unchanged); // −3 < 4
    }

    #[test]
    fn only_the_first_and_latest_administrations_count() {
        // 18 → (10, 40) → 26: change +8 → recovered; 4 administrations.
        let a = classify(&[18.0, 10.0, 40.0, 26.0], Direction::HigherIsBetter, 5.0, Some(ADULT_ORS));
        assert_eq!(
            a,
            ChangeAssessment {
                class: Recovered,
                intake: Some(18.0),
                current: Some(26.0),
                change: Some(8.0),
                administrations: 4
            }
        );
    }

    #[test]
    fn fewer_than_two_administrations_is_insufficient_data() {
        let one = classify(&[18.0], Direction::HigherIsBetter, 5.0, Some(ADULT_ORS));
        assert_eq!((one.class, one.intake, one.current, one.change), (InsufficientData, Some(18.0), Some(18.0), None));
        assert_eq!(classify(&[], Direction::LowerIsBetter, 6.0, None).class, InsufficientData);
    }

    #[test]
    fn without_a_clinical_range_a_reliable_improvement_is_improved() {
        assert_eq!(classify(&[30.0, 45.0], Direction::HigherIsBetter, 5.0, None).class, Improved);
    }

    #[test]
    fn change_that_is_exactly_the_rci_despite_float_noise_is_reliable() {
        // 32.3 − 27.3 is 4.9999999999999964 in binary floating point; it is a change of 5.0.
        assert!(std::hint::black_box(32.3_f64) - 27.3 < 5.0);
        assert_eq!(ors(27.3, 32.3, CHILD_CORS), Recovered);
    }
}
