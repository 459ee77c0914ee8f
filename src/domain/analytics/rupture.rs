//! Session-by-session alliance trajectory: labels every point of one episode's SRS (or other
//! alliance) series and finds V-shaped rupture–repair sequences (Stiles et al. 2004; Strauss et
//! al. 2006; spread rule after Gumz et al. 2012). Pure arithmetic on an ordered slice: no I/O.
//!
//! Rules (docs/methodology.md, "Rupture and repair"):
//! - baseline at point t = mean of ALL earlier points of the series (needs ≥ 2 earlier points);
//! - spread `s = max(SD_within, SD_org)`: SD_within is the sample SD of those earlier points,
//!   SD_org the SD of session-to-session changes across the organization, or the fallback
//!   setting (default 2.0) while the organization has too few pairs (`org_change_sd = None`);
//! - rupture at t when `score_t ≤ baseline − k·s`; evidence carries baseline, s, k and
//!   `drop = baseline − score`;
//! - repair: a later point within `repair_window` points whose score is ≥ `baseline − 0.5·s`
//!   (the rupture's own baseline and s).
//!
//! Decisions where the spec is silent:
//! - the first qualifying point is the repair; if `repair_window` later points exist and none
//!   qualifies the rupture is `unrepaired`; with fewer later points and none qualifying yet it is
//!   `pending` (the episode may still repair it);
//! - one V counts once: while a rupture is pending, and at every point of its window up to and
//!   including its repair or the point that closes the window, no new rupture can start;
//! - baselines keep using all earlier points, including the low points of earlier ruptures;
//! - `spread_source` is `within` only when SD_within is strictly larger than the other SD;
//! - the window counts points (administrations), not session numbers, since sessions without an
//!   SRS leave gaps;
//! - every threshold comparison allows 1e-9 of float noise. Scores are sums of one-decimal VAS
//!   marks held in binary floating point (32.3 − 31.3 = 0.9999999999999964), so an exact
//!   comparison could miss a drop of exactly 1.0 or a score exactly on the threshold. 1e-9 is
//!   many orders of magnitude below the data's 0.1 resolution, so it never changes a real decision.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::trajectory_state::{RuptureEvent, TrajectoryState};

/// Tolerance for float noise in threshold comparisons (see the module doc).
pub const EPSILON: f64 = 1e-9;

/// One alliance score of the series, in session order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlliancePoint {
    pub session_number: i32,
    pub score: f64,
}

/// How "below cutoff" is read: `lt` is score < cutoff, `le` is score ≤ cutoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CutoffComparator {
    Lt,
    Le,
}

impl CutoffComparator {
    /// Whether `score` is below the cutoff under this comparator (with the float-noise guard).
    pub fn is_below(self, score: f64, cutoff: f64) -> bool {
        match self {
            Self::Lt => score < cutoff - EPSILON,
            Self::Le => score <= cutoff + EPSILON,
        }
    }
}

/// The `sensitivity` setting: `standard` is k = 1, `strict` is k = 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sensitivity {
    Standard,
    Strict,
}

impl Sensitivity {
    pub fn k(self) -> f64 {
        match self {
            Self::Standard => 1.0,
            Self::Strict => 2.0,
        }
    }
}

/// Organization settings for the trajectory. `Default` gives the SRS defaults of the spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RuptureSettings {
    /// Multiplier of the spread: 1.0 standard, 2.0 strict.
    pub k: f64,
    /// SD of session-to-session changes across the organization; `None` below 100 pairs.
    pub org_change_sd: Option<f64>,
    /// Spread used instead of the organization SD while that is `None` (default 2.0).
    pub fallback_sd: f64,
    /// Number of later points in which a repair may happen (default 3).
    pub repair_window: usize,
    /// Alliance cutoff (SRS default 36).
    pub cutoff: f64,
    pub cutoff_comparator: CutoffComparator,
    /// A fall of at least this much from the previous point is a drop (default 1.0).
    pub drop_threshold: f64,
}

impl Default for RuptureSettings {
    fn default() -> Self {
        Self {
            k: Sensitivity::Standard.k(),
            org_change_sd: None,
            fallback_sd: 2.0,
            repair_window: 3,
            cutoff: 36.0,
            cutoff_comparator: CutoffComparator::Lt,
            drop_threshold: 1.0,
        }
    }
}

/// A point of the series with its labels.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LabelledPoint {
    pub session_number: i32,
    pub score: f64,
    pub below_cutoff: bool,
    /// Signed change from the previous point (negative), present only when it fell by at least
    /// the drop threshold.
    pub drop: Option<f64>,
    pub rupture: bool,
    pub repair: bool,
}

/// Which SD gave the spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpreadSource {
    Within,
    Organization,
    Fallback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuptureStatus {
    Repaired,
    Unrepaired,
    Pending,
}

/// Evidence of one rupture: the numbers behind it, so a clinician can check it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Rupture {
    pub session_number: i32,
    pub score: f64,
    /// Mean of all earlier points.
    pub baseline: f64,
    /// `s = max(SD_within, SD_org or fallback)`.
    pub spread: f64,
    pub spread_source: SpreadSource,
    pub k: f64,
    /// `baseline − score` (positive).
    pub drop: f64,
    pub status: RuptureStatus,
    pub repaired_at_session: Option<i32>,
}

/// The labelled series and its ruptures. `pending_count` = ruptures whose window is still open.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AllianceTrajectory {
    pub points: Vec<LabelledPoint>,
    pub ruptures: Vec<Rupture>,
    pub rupture_count: usize,
    pub repaired_count: usize,
    pub unrepaired_count: usize,
    pub pending_count: usize,
}

/// Labels an episode's alliance series, already ordered by session number (then time, then id).
pub fn alliance_trajectory(series: &[AlliancePoint], settings: &RuptureSettings) -> AllianceTrajectory {
    let mut state = TrajectoryState::default();
    let mut points = Vec::with_capacity(series.len());
    let mut ruptures: Vec<Rupture> = Vec::new();
    for &point in series {
        let (labelled, event) = state.push(point, settings);
        points.push(labelled);
        match event {
            Some(RuptureEvent::Opened(rupture)) => ruptures.push(rupture),
            Some(RuptureEvent::Repaired(repaired)) => {
                if let Some(open) = ruptures.last_mut() {
                    *open = repaired;
                }
            }
            Some(RuptureEvent::Closed) => {
                if let Some(open) = ruptures.last_mut() {
                    open.status = RuptureStatus::Unrepaired;
                }
            }
            None => {}
        }
    }
    let count = |status| ruptures.iter().filter(|r| r.status == status).count();
    AllianceTrajectory {
        rupture_count: ruptures.len(),
        repaired_count: count(RuptureStatus::Repaired),
        unrepaired_count: count(RuptureStatus::Unrepaired),
        pending_count: count(RuptureStatus::Pending),
        points,
        ruptures,
    }
}

#[cfg(test)]
#[path = "rupture_tests.rs"]
mod tests;
