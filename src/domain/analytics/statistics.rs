//! Descriptive statistics and 95% confidence intervals used by every analytics report:
//! mean, sample SD, percentiles (R type 7), a t-based CI for a mean and a Welch CI for a
//! difference of means. Pure arithmetic on slices: no I/O, no clock, no global state.
//!
//! Conventions: inputs are finite numbers (stored scores, never NaN); nothing is rounded here
//! (the API rounds to 2 decimals at the edge with [`round2`]); "not computable" is `None`,
//! never NaN.

use serde::Serialize;
use utoipa::ToSchema;

pub use super::student_t::t_quantile;

/// Two-sided 95% intervals use the 97.5th percentile of t.
const UPPER_975: f64 = 0.975;

/// Arithmetic mean; `None` for an empty slice.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    Some(values.iter().sum::<f64>() / values.len() as f64)
}

/// Sample standard deviation (denominator n − 1, two-pass); `None` when n < 2.
pub fn sample_sd(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let m = mean(values)?;
    let sum_sq: f64 = values.iter().map(|v| (v - m) * (v - m)).sum();
    Some((sum_sq / values.len().saturating_sub(1) as f64).sqrt())
}

/// Ordinary least-squares slope of `y` on `x` (Σ(x − x̄)(y − ȳ) ÷ Σ(x − x̄)²); `None` with fewer
/// than two points or when every `x` is the same. Charts describe a trend in words with it.
pub fn least_squares_slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let mean_x = points.iter().map(|(x, _)| x).sum::<f64>() / n;
    let mean_y = points.iter().map(|(_, y)| y).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|(x, _)| (x - mean_x) * (x - mean_x)).sum();
    let sxy: f64 = points.iter().map(|(x, y)| (x - mean_x) * (y - mean_y)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// Mean and sample variance from running sums `(n, Σx, Σx²)`, as the rollups store them;
/// the variance is `(Σx² − (Σx)²/n) / (n − 1)`, clamped at 0 against rounding, `None` below n = 2.
pub fn moments_from_sums(n: i64, sum: f64, sum_sq: f64) -> (Option<f64>, Option<f64>) {
    if n < 1 {
        return (None, None);
    }
    let count = n as f64;
    let variance = (n >= 2).then(|| ((sum_sq - sum * sum / count) / (count - 1.0)).max(0.0));
    (Some(sum / count), variance)
}

/// [`moments_from_sums`] over integer sums of values stored in `unit`s (tenths: 0.1), exact
/// until the final division: `Var = (n·Σx² − (Σx)²) / (n(n − 1)) · unit²`.
pub fn moments_from_integer_sums(n: i64, sum: i64, sum_sq: i64, unit: f64) -> (Option<f64>, Option<f64>) {
    if n < 1 {
        return (None, None);
    }
    // Exact in i128: |n·Σx²| and Σx² are far below 2^127 for any i64 inputs.
    let numerator = i128::from(n)
        .saturating_mul(i128::from(sum_sq))
        .saturating_sub(i128::from(sum).saturating_mul(i128::from(sum)));
    let variance = (n >= 2).then(|| numerator.max(0) as f64 / (n as f64 * n.saturating_sub(1) as f64) * unit * unit);
    (Some(sum as f64 / n as f64 * unit), variance)
}

/// Percentile `p` (0–100, as numpy's `percentile`) of an ascending-sorted slice, by linear
/// interpolation between closest ranks (R type 7, numpy default): with `h = (n − 1)·p/100`,
/// the result is `x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋])` (0-based ranks).
/// `None` for an empty slice or `p` outside 0–100. The caller sorts (see [`sorted`]).
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=100.0).contains(&p) {
        return None;
    }
    debug_assert!(sorted.windows(2).all(|w| w[0] <= w[1]), "percentile needs ascending input");
    let h = sorted.len().saturating_sub(1) as f64 * (p / 100.0);
    let lower = h.floor() as usize;
    let fraction = h - h.floor();
    match sorted.get(lower.saturating_add(1)) {
        Some(&next) if fraction > 0.0 => Some(sorted[lower] + fraction * (next - sorted[lower])),
        _ => Some(sorted[lower]),
    }
}

/// An ascending copy of `values` (total order, so the result is deterministic).
pub fn sorted(values: &[f64]) -> Vec<f64> {
    let mut copy = values.to_vec();
    copy.sort_by(f64::total_cmp);
    copy
}

/// Rounds half away from zero to 2 decimals on the decimal value, for the API edge only:
/// 8.825 (stored as 8.82499…) gives 8.83. The nudge is far below any real difference at this
/// scale and far above f64's error. Non-finite values pass through.
pub fn round2(x: f64) -> f64 {
    if x.is_finite() { (x * 100.0 + x.signum() * 1e-7).round() / 100.0 } else { x }
}

/// A mean with its two-sided 95% confidence interval `mean ± t(0.975, n−1) · sd/√n`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MeanWithCi {
    /// Number of values.
    pub n: usize,
    /// `null` when n = 0.
    pub mean: Option<f64>,
    /// `null` when n < 2.
    pub ci_lower: Option<f64>,
    /// `null` when n < 2.
    pub ci_upper: Option<f64>,
}

/// Mean and 95% CI using the t distribution with n − 1 degrees of freedom.
/// When all values are equal the SD is 0 and the interval collapses to the mean.
pub fn mean_with_ci(values: &[f64]) -> MeanWithCi {
    let n = values.len();
    let m = mean(values);
    let half_width = match (m, sample_sd(values)) {
        (Some(_), Some(sd)) => Some(t_quantile(UPPER_975, n.saturating_sub(1) as f64) * sd / (n as f64).sqrt()),
        _ => None,
    };
    MeanWithCi {
        n,
        mean: m,
        ci_lower: m.zip(half_width).map(|(m, h)| m - h),
        ci_upper: m.zip(half_width).map(|(m, h)| m + h),
    }
}

/// Difference of two means `mean(a) − mean(b)` with a Welch 95% confidence interval.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DifferenceWithCi {
    pub difference: f64,
    pub ci_lower: f64,
    pub ci_upper: f64,
    pub n_a: usize,
    pub n_b: usize,
}

impl DifferenceWithCi {
    /// True when the interval excludes zero (strictly).
    pub fn excludes_zero(&self) -> bool {
        self.ci_lower > 0.0 || self.ci_upper < 0.0
    }
}

/// Welch's interval: `d ± t(0.975, ν) · √(s_a²/n_a + s_b²/n_b)` with the Welch–Satterthwaite
/// `ν = (v_a + v_b)² / (v_a²/(n_a−1) + v_b²/(n_b−1))`, `v = s²/n`.
/// `None` when either side has fewer than 2 values. When both sides have zero variance the
/// standard error is 0 and the interval collapses to the point (ν would be 0/0; it is not used).
pub fn welch_difference(a: &[f64], b: &[f64]) -> Option<DifferenceWithCi> {
    let (sd_a, sd_b) = (sample_sd(a)?, sample_sd(b)?);
    welch_from_summaries((a.len(), mean(a)?, sd_a * sd_a), (b.len(), mean(b)?, sd_b * sd_b))
}

/// The same Welch interval from summary statistics `(n, mean, sample variance)` of each side,
/// for when one side is aggregated in the database. None when either side has n < 2.
pub fn welch_from_summaries(a: (usize, f64, f64), b: (usize, f64, f64)) -> Option<DifferenceWithCi> {
    let ((n_a, mean_a, var_a), (n_b, mean_b, var_b)) = (a, b);
    if n_a < 2 || n_b < 2 || !var_a.is_finite() || !var_b.is_finite() {
        return None;
    }
    let difference = mean_a - mean_b;
    let v_a = var_a.max(0.0) / n_a as f64;
    let v_b = var_b.max(0.0) / n_b as f64;
    let se = (v_a + v_b).sqrt();
    let half_width = if se > 0.0 {
        let (df_a, df_b) = (n_a.saturating_sub(1) as f64, n_b.saturating_sub(1) as f64);
        let df = (v_a + v_b).powi(2) / (v_a * v_a / df_a + v_b * v_b / df_b);
        t_quantile(UPPER_975, df) * se
    } else {
        0.0
    };
    Some(DifferenceWithCi {
        difference,
        ci_lower: difference - half_width,
        ci_upper: difference + half_width,
        n_a,
        n_b,
    })
}

/// Count, mean and sample variance of one measure: what a rollup can keep and a CI needs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    pub n: usize,
    pub mean: Option<f64>,
    pub variance: Option<f64>,
}

impl Summary {
    pub fn of(values: &[f64]) -> Self {
        Self { n: values.len(), mean: mean(values), variance: sample_sd(values).map(|sd| sd * sd) }
    }

    pub fn mean_with_ci(&self) -> MeanWithCi {
        mean_with_ci_from_summary(self.n, self.mean, self.variance)
    }

    /// `self − other` with a Welch interval (`None` below n = 2 on either side).
    pub fn welch_minus(&self, other: &Summary) -> Option<DifferenceWithCi> {
        welch_from_summaries(
            (self.n, self.mean?, self.variance.unwrap_or(0.0)),
            (other.n, other.mean?, other.variance.unwrap_or(0.0)),
        )
    }
}

/// A mean with its 95% t interval from summary statistics `(n, mean, sample variance)`.
pub fn mean_with_ci_from_summary(n: usize, mean: Option<f64>, variance: Option<f64>) -> MeanWithCi {
    match (n, mean, variance) {
        (0, _, _) | (_, None, _) => MeanWithCi { n, mean: None, ci_lower: None, ci_upper: None },
        (1, Some(m), _) | (_, Some(m), None) => MeanWithCi { n, mean: Some(m), ci_lower: None, ci_upper: None },
        (n, Some(m), Some(v)) => {
            let half = t_quantile(UPPER_975, n.saturating_sub(1) as f64) * (v.max(0.0) / n as f64).sqrt();
            MeanWithCi { n, mean: Some(m), ci_lower: Some(m - half), ci_upper: Some(m + half) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_squares_slope_of_a_line_and_of_noise() {
        // y = 30 + 1.5x exactly.
        let line: Vec<(f64, f64)> = (1..=5).map(|x| (f64::from(x), 30.0 + 1.5 * f64::from(x))).collect();
        assert!((least_squares_slope(&line).unwrap() - 1.5).abs() < 1e-12);
        // (1,2), (2,1), (3,4): x̄ 2, ȳ 7/3, Sxy = (−1)(−1/3) + 0 + (1)(5/3) = 2, Sxx = 2 → 1.
        assert!((least_squares_slope(&[(1.0, 2.0), (2.0, 1.0), (3.0, 4.0)]).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(least_squares_slope(&[(1.0, 2.0)]), None);
        assert_eq!(least_squares_slope(&[(2.0, 1.0), (2.0, 5.0)]), None);
    }

    #[test]
    fn moments_from_sums_match_the_direct_formulas() {
        // [2, 4, 9]: n 3, Σx 15, Σx² 101 → mean 5, variance (101 − 75)/2 = 13.
        assert_eq!(moments_from_sums(3, 15.0, 101.0), (Some(5.0), Some(13.0)));
        assert_eq!(moments_from_sums(1, 4.0, 16.0), (Some(4.0), None));
        assert_eq!(moments_from_sums(0, 0.0, 0.0), (None, None));
        // The same values in tenths (20, 40, 90): Σ 150, Σ² 10100 → mean 5.0, variance
        // (3·10100 − 22500)/(3·2) = 1300 tenths² = 13.
        let (mean, variance) = moments_from_integer_sums(3, 150, 10_100, 0.1);
        assert!((mean.unwrap() - 5.0).abs() < 1e-12 && (variance.unwrap() - 13.0).abs() < 1e-12);
        assert_eq!(moments_from_integer_sums(2, 70, 2450, 0.1).1, Some(0.0)); // [3.5, 3.5]
    }

    #[test]
    fn summary_statistics_give_the_same_intervals_as_raw_values() {
        let (a, b) = ([1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 4.0, 6.0, 8.0]);
        let raw = welch_difference(&a, &b).unwrap();
        let summary = welch_from_summaries((5, 3.0, 2.5), (4, 5.0, 20.0 / 3.0)).unwrap();
        assert!((raw.ci_lower - summary.ci_lower).abs() < 1e-12 && (raw.ci_upper - summary.ci_upper).abs() < 1e-12);
        let (ci, expected) = (mean_with_ci_from_summary(5, Some(3.0), Some(2.5)), mean_with_ci(&a));
        assert!((ci.ci_lower.unwrap() - expected.ci_lower.unwrap()).abs() < 1e-12);
        assert!((ci.ci_upper.unwrap() - expected.ci_upper.unwrap()).abs() < 1e-12);
    }

    fn assert_close(actual: f64, expected: f64, tol: f64) {
        assert!((actual - expected).abs() <= tol, "expected {expected}, got {actual}");
    }

    #[test]
    fn mean_and_sd_of_one_to_five_are_three_and_root_two_and_a_half() {
        // Σ = 15, mean = 3; squared deviations 4+1+0+1+4 = 10; 10/4 = 2.5; √2.5 = 1.5811388.
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(mean(&v), Some(3.0));
        assert_close(sample_sd(&v).unwrap(), 2.5_f64.sqrt(), 1e-12);
    }

    #[test]
    fn mean_is_none_when_empty_and_sd_needs_two_values() {
        assert_eq!(mean(&[]), None);
        assert_eq!(sample_sd(&[4.0]), None);
        assert_eq!(sample_sd(&[4.0, 4.0]), Some(0.0));
    }

    #[test]
    fn ci_of_one_to_five_uses_t_with_four_degrees_of_freedom() {
        // se = 1.5811388/√5 = 0.7071068; t(0.975, 4) = 2.7764451; half-width = 1.9632...
        // CI = [3 − 1.9632, 3 + 1.9632] = [1.0368, 4.9632].
        let ci = mean_with_ci(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!((ci.n, ci.mean), (5, Some(3.0)));
        assert_close(ci.ci_lower.unwrap(), 1.036_756, 1e-6);
        assert_close(ci.ci_upper.unwrap(), 4.963_244, 1e-6);
    }

    #[test]
    fn ci_with_one_value_has_a_mean_but_no_bounds() {
        let ci = mean_with_ci(&[33.0]);
        assert_eq!(ci, MeanWithCi { n: 1, mean: Some(33.0), ci_lower: None, ci_upper: None });
        assert_eq!(mean_with_ci(&[]), MeanWithCi { n: 0, mean: None, ci_lower: None, ci_upper: None });
    }

    #[test]
    fn ci_with_two_values_uses_t_with_one_degree_of_freedom() {
        // [30, 34]: mean 32; sd = √((4+4)/1) = 2.8284271; se = 2.8284271/√2 = 2;
        // t(0.975, 1) = 12.7062047; CI = 32 ± 25.4124095 = [6.5875905, 57.4124095].
        let ci = mean_with_ci(&[30.0, 34.0]);
        assert_close(ci.ci_lower.unwrap(), 6.587_590_5, 1e-6);
        assert_close(ci.ci_upper.unwrap(), 57.412_409_5, 1e-6);
    }

    #[test]
    fn ci_of_many_values_narrows_towards_the_normal_interval() {
        // 1..=100: mean 50.5, sd = √(100·101/12) = 29.0114920; se = 2.9011492;
        // t(0.975, 99) = 1.9842170; half-width = 2.9011492 × 1.9842170 = 5.7565094.
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let ci = mean_with_ci(&v);
        assert_close(ci.ci_lower.unwrap(), 50.5 - 5.756_509, 1e-6);
        assert_close(ci.ci_upper.unwrap(), 50.5 + 5.756_509, 1e-6);
    }

    #[test]
    fn ci_of_identical_values_collapses_to_the_mean() {
        let ci = mean_with_ci(&[40.0, 40.0, 40.0]);
        assert_eq!((ci.ci_lower, ci.ci_upper), (Some(40.0), Some(40.0)));
    }

    #[test]
    fn percentile_interpolates_between_closest_ranks_like_r_type_seven() {
        // n = 5 → h = 4·p/100. p10: h = 0.4 → 20 + 0.4·2 = 20.8; p25: h = 1 → 22;
        // p50: 24; p90: h = 3.6 → 26 + 0.6·2 = 27.2; p0 = min, p100 = max.
        let s = [20.0, 22.0, 24.0, 26.0, 28.0];
        assert_close(percentile(&s, 10.0).unwrap(), 20.8, 1e-12);
        assert_eq!(percentile(&s, 25.0), Some(22.0));
        assert_eq!(percentile(&s, 50.0), Some(24.0));
        assert_close(percentile(&s, 90.0).unwrap(), 27.2, 1e-12);
        assert_eq!((percentile(&s, 0.0), percentile(&s, 100.0)), (Some(20.0), Some(28.0)));
        // numpy.percentile([1, 2, 3, 4], 40) = 1 + 1.2 = 2.2 (h = 3·0.4 = 1.2).
        assert_close(percentile(&[1.0, 2.0, 3.0, 4.0], 40.0).unwrap(), 2.2, 1e-12);
    }

    #[test]
    fn percentile_of_nothing_or_out_of_range_is_none() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[1.0], 101.0), None);
        assert_eq!(percentile(&[7.0], 37.0), Some(7.0));
    }

    #[test]
    fn sorted_orders_ascending() {
        assert_eq!(sorted(&[3.0, -1.0, 2.0]), vec![-1.0, 2.0, 3.0]);
    }

    #[test]
    fn welch_difference_matches_a_hand_computation() {
        // a = [1,2,3,4,5]: mean 3, s² = 2.5, v_a = 0.5. b = [2,4,6]: mean 4, s² = 4, v_b = 4/3.
        // d = −1; se = √(0.5 + 1.3333333) = 1.3540064;
        // ν = 1.8333333² / (0.25/4 + 1.7777778/2) = 3.3611111 / 0.9513889 = 3.5328467;
        // t(0.975, 3.5328467) ≈ 2.9284 (between t₃ = 3.1824 and t₄ = 2.7764).
        let d = welch_difference(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 4.0, 6.0]).unwrap();
        assert_eq!((d.difference, d.n_a, d.n_b), (-1.0, 5, 3));
        let t = t_quantile(0.975, 3.361_111_111_111_111 / 0.951_388_888_888_889);
        assert!(t > 2.7764 && t < 3.1824);
        let se = (0.5_f64 + 4.0 / 3.0).sqrt();
        assert_close(d.ci_lower, -1.0 - t * se, 1e-9);
        assert_close(d.ci_upper, -1.0 + t * se, 1e-9);
        assert!(!d.excludes_zero());
    }

    #[test]
    fn welch_difference_with_equal_sizes_and_variances_uses_pooled_degrees_of_freedom() {
        // Equal n = 4 and equal variance: ν = 2(n − 1) = 6. a = [1,2,3,4], b = [3,4,5,6]:
        // d = −2, v_a = v_b = 1.6667/4 = 0.4166667, se = 0.9128709; t(0.975, 6) = 2.4469119;
        // half-width = 0.9128709 × 2.4469119 = 2.2337147 → CI [−4.2337147, 0.2337147].
        let d = welch_difference(&[1.0, 2.0, 3.0, 4.0], &[3.0, 4.0, 5.0, 6.0]).unwrap();
        assert_close(d.ci_lower, -4.233_714_7, 1e-6);
        assert_close(d.ci_upper, 0.233_714_7, 1e-6);
    }

    #[test]
    fn welch_difference_with_zero_variance_on_both_sides_collapses_to_the_point() {
        let d = welch_difference(&[9.0, 9.0], &[8.0, 8.0, 8.0]).unwrap();
        assert_eq!((d.difference, d.ci_lower, d.ci_upper), (1.0, 1.0, 1.0));
        assert!(d.excludes_zero());
    }

    #[test]
    fn welch_difference_needs_two_values_on_each_side() {
        assert_eq!(welch_difference(&[1.0], &[1.0, 2.0]), None);
        assert_eq!(welch_difference(&[1.0, 2.0], &[]), None);
    }

    #[test]
    fn round2_rounds_half_away_from_zero_at_the_edge() {
        assert_eq!(round2(2.345_6), 2.35);
        assert_eq!(round2(-2.345_6), -2.35);
        assert_eq!(round2(0.125), 0.13);
        assert_eq!(round2(8.825), 8.83);
        assert!(round2(f64::NAN).is_nan());
    }
}
