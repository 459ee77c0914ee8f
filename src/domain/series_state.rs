//! The running summary of one series: an episode's administrations of one instrument by one
//! rater, in series order (session number, administered time, id). It holds what the signal
//! rules need of the earlier points (the intake, the previous point, how many, and the alliance
//! trajectory's state), so evaluating a new response does not re-read the series
//! (docs/scaling.md, "Series state").

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::analytics::{AlliancePoint, RuptureEvent, RuptureSettings, TrajectoryState};
use super::signals::EarlierScore;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeriesState {
    /// The first administration: the intake of an outcome series.
    pub first: Option<EarlierScore>,
    /// The latest administration.
    pub last: Option<EarlierScore>,
    pub trajectory: TrajectoryState,
    /// The response at the point of the rupture whose repair window is open.
    pub open_rupture_response: Option<Uuid>,
}

impl SeriesState {
    /// The state after `points`, given oldest first.
    pub fn from_series(points: &[EarlierScore], settings: &RuptureSettings) -> SeriesState {
        let mut state = SeriesState::default();
        for point in points {
            state.push(point, settings);
        }
        state
    }

    /// Administrations so far.
    pub fn count(&self) -> usize {
        self.trajectory.count
    }

    /// The trajectory point of `score` as the next of the series: a point without a session
    /// takes its position (1-based) as its session number.
    pub fn next_point(&self, session_number: Option<i32>, total: f64) -> AlliancePoint {
        let position = i32::try_from(self.count()).map_or(i32::MAX, |n| n.saturating_add(1));
        AlliancePoint { session_number: session_number.unwrap_or(position), score: total }
    }

    /// Takes `score` as the next point of the series; returns what it did to the ruptures.
    pub fn push(&mut self, score: &EarlierScore, settings: &RuptureSettings) -> Option<RuptureEvent> {
        let point = self.next_point(score.session_number, score.total);
        let (_, event) = self.trajectory.push(point, settings);
        match event {
            Some(RuptureEvent::Opened(_)) if self.trajectory.open_rupture_session().is_some() => {
                self.open_rupture_response = Some(score.response_id);
            }
            Some(RuptureEvent::Repaired(_) | RuptureEvent::Closed) => self.open_rupture_response = None,
            _ => {}
        }
        if self.first.is_none() {
            self.first = Some(score.clone());
        }
        self.last = Some(score.clone());
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::analytics::{RuptureStatus, alliance_trajectory};

    fn scores(totals: &[f64]) -> Vec<EarlierScore> {
        totals
            .iter()
            .zip(1..)
            .map(|(&total, n)| EarlierScore { response_id: Uuid::now_v7(), session_number: Some(n), total })
            .collect()
    }

    #[test]
    fn the_state_folded_point_by_point_agrees_with_the_whole_trajectory() {
        // Two V-shapes, the first repaired at s6 and the second left open: the running state must
        // end where the trajectory over all points ends.
        let totals = [37.0, 39.0, 38.0, 34.5, 36.9, 37.0, 38.0, 31.0, 32.0];
        let settings = RuptureSettings::default();
        let series = scores(&totals);
        let state = SeriesState::from_series(&series, &settings);
        let points: Vec<AlliancePoint> =
            totals.iter().zip(1..).map(|(&score, session_number)| AlliancePoint { session_number, score }).collect();
        let whole = alliance_trajectory(&points, &settings);
        assert_eq!(state.count(), 9);
        assert_eq!(state.first.as_ref().map(|f| f.total), Some(37.0));
        assert_eq!(state.last.as_ref().map(|l| l.total), Some(32.0));
        let pending = whole.ruptures.iter().find(|r| r.status == RuptureStatus::Pending).map(|r| r.session_number);
        assert_eq!(state.trajectory.open_rupture_session(), pending);
        assert_eq!(pending, Some(8));
        assert_eq!(state.open_rupture_response, Some(series[7].response_id));
    }

    #[test]
    fn a_state_survives_storage_unchanged() {
        let state = SeriesState::from_series(&scores(&[37.0, 39.0, 38.0, 34.5]), &RuptureSettings::default());
        let stored = serde_json::to_value(&state).expect("serializes");
        assert_eq!(serde_json::from_value::<SeriesState>(stored).expect("deserializes"), state);
    }

    #[test]
    fn points_without_a_session_take_their_position() {
        let state = SeriesState::from_series(&scores(&[30.0, 31.0]), &RuptureSettings::default());
        assert_eq!(state.next_point(None, 32.0).session_number, 3);
        assert_eq!(state.next_point(Some(7), 32.0).session_number, 7);
    }
}
