//! The running state of one alliance trajectory: everything the rules of `rupture.rs` need to
//! label the next point, without the points themselves. [`super::alliance_trajectory`] is a fold
//! of [`TrajectoryState::push`], and a submission keeps this state per series, so labelling a
//! new point costs the same however long the episode is (docs/methodology.md, "Rupture and
//! repair", and docs/scaling.md, "Series state").
//!
//! The baseline is the running sum over the count, summed in series order exactly as
//! `statistics::mean` sums a slice, so it is the same float either way. SD_within is kept with
//! Welford's update, which differs from the two-pass SD only far below the 1e-9 comparison guard.

use serde::{Deserialize, Serialize};

use super::rupture::{AlliancePoint, EPSILON, LabelledPoint, Rupture, RuptureSettings, RuptureStatus, SpreadSource};

/// What happened to the ruptures at a pushed point.
#[derive(Debug, Clone, PartialEq)]
pub enum RuptureEvent {
    /// The point is a rupture (its status is `Pending`, or `Unrepaired` with a zero window).
    Opened(Rupture),
    /// The point repairs the open rupture, which started at `session_number`.
    Repaired(Rupture),
    /// The open rupture's window closed at this point without a repair.
    Closed,
}

/// The state after some points of a series, in series order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrajectoryState {
    /// Points so far.
    pub count: usize,
    sum: f64,
    welford_mean: f64,
    welford_m2: f64,
    previous: Option<f64>,
    /// The rupture whose repair window is open, and the index of its point.
    open: Option<(Rupture, usize)>,
}

impl TrajectoryState {
    /// Labels `point` as the next of the series and takes it into the state.
    pub fn push(&mut self, point: AlliancePoint, settings: &RuptureSettings) -> (LabelledPoint, Option<RuptureEvent>) {
        let index = self.count;
        let mut labelled = LabelledPoint {
            session_number: point.session_number,
            score: point.score,
            below_cutoff: settings.cutoff_comparator.is_below(point.score, settings.cutoff),
            drop: self
                .previous
                .map(|previous| point.score - previous)
                .filter(|change| -change >= settings.drop_threshold - EPSILON),
            rupture: false,
            repair: false,
        };
        let mut event = None;
        if let Some((rupture, at)) = self.open.take() {
            // One V counts once: no new rupture starts inside an open window.
            if point.score >= rupture.baseline - 0.5 * rupture.spread - EPSILON {
                labelled.repair = true;
                event = Some(RuptureEvent::Repaired(Rupture {
                    status: RuptureStatus::Repaired,
                    repaired_at_session: Some(point.session_number),
                    ..rupture
                }));
            } else if index.saturating_sub(at) >= settings.repair_window {
                event = Some(RuptureEvent::Closed);
            } else {
                self.open = Some((rupture, at));
            }
        } else if let Some(mut rupture) = self.detect(point, settings) {
            labelled.rupture = true;
            if settings.repair_window == 0 {
                rupture.status = RuptureStatus::Unrepaired;
            } else {
                self.open = Some((rupture.clone(), index));
            }
            event = Some(RuptureEvent::Opened(rupture));
        }
        self.take(point.score);
        (labelled, event)
    }

    /// The session of the rupture whose window is open, if any.
    pub fn open_rupture_session(&self) -> Option<i32> {
        self.open.as_ref().map(|(rupture, _)| rupture.session_number)
    }

    fn take(&mut self, score: f64) {
        self.count = self.count.saturating_add(1);
        self.sum += score;
        let delta = score - self.welford_mean;
        self.welford_mean += delta / self.count as f64;
        self.welford_m2 += delta * (score - self.welford_mean);
        self.previous = Some(score);
    }

    /// Baseline, spread and the rupture test for `point` against all points so far.
    fn detect(&self, point: AlliancePoint, settings: &RuptureSettings) -> Option<Rupture> {
        if self.count < 2 {
            return None;
        }
        let baseline = self.sum / self.count as f64;
        let within = (self.welford_m2.max(0.0) / self.count.saturating_sub(1) as f64).sqrt();
        let (other, other_source) = match settings.org_change_sd {
            Some(sd) => (sd, SpreadSource::Organization),
            None => (settings.fallback_sd, SpreadSource::Fallback),
        };
        let (spread, spread_source) =
            if within > other { (within, SpreadSource::Within) } else { (other, other_source) };
        (point.score <= baseline - settings.k * spread + EPSILON).then_some(Rupture {
            session_number: point.session_number,
            score: point.score,
            baseline,
            spread,
            spread_source,
            k: settings.k,
            drop: baseline - point.score,
            status: RuptureStatus::Pending,
            repaired_at_session: None,
        })
    }
}
