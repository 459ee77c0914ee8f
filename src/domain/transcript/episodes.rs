//! Rupture episodes: markers close together form one, and a resolving move within the window
//! addresses it (docs/methodology.md, section 14.6).

use super::analysis::{Marker, Move};
use super::kinds::{Family, MoveKind};
use super::lexicon::Lexicon;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EpisodeFamily {
    Withdrawal,
    Confrontation,
    /// Markers of both families in one episode.
    Mixed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EpisodeStatus {
    /// A resolving move followed within the window.
    Addressed,
    Unaddressed,
}

/// The move that addressed a rupture episode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Resolution {
    pub turn: usize,
    pub kind: MoveKind,
    /// Index into `moves`.
    #[serde(rename = "move")]
    pub move_index: usize,
}

/// Markers close together (each within the window of the previous one, no resolving move
/// between them) form one rupture episode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RuptureEpisode {
    pub family: EpisodeFamily,
    pub first_turn: usize,
    pub last_turn: usize,
    /// Indexes into `markers`.
    pub markers: Vec<usize>,
    pub status: EpisodeStatus,
    pub resolved_by: Option<Resolution>,
}

fn first_resolution(moves: &[Move], lexicon: &Lexicon, after: usize, until: usize) -> Option<Resolution> {
    moves
        .iter()
        .enumerate()
        .find(|(_, m)| m.turn > after && m.turn <= until && lexicon.resolves(m.kind))
        .map(|(index, m)| Resolution { turn: m.turn, kind: m.kind, move_index: index })
}

pub(super) fn episodes(markers: &[Marker], moves: &[Move], lexicon: &Lexicon, window: usize) -> Vec<RuptureEpisode> {
    let close = |markers_in: Vec<usize>, first_turn: usize, last_turn: usize| {
        let families: Vec<Family> = markers_in.iter().filter_map(|&i| markers.get(i)).map(|m| m.family).collect();
        let family = if families.iter().all(|f| *f == Family::Withdrawal) {
            EpisodeFamily::Withdrawal
        } else if families.iter().all(|f| *f == Family::Confrontation) {
            EpisodeFamily::Confrontation
        } else {
            EpisodeFamily::Mixed
        };
        let resolved_by = first_resolution(moves, lexicon, last_turn, last_turn.saturating_add(window));
        RuptureEpisode {
            family,
            first_turn,
            last_turn,
            markers: markers_in,
            status: if resolved_by.is_some() { EpisodeStatus::Addressed } else { EpisodeStatus::Unaddressed },
            resolved_by,
        }
    };
    let mut done = Vec::new();
    let mut open: Option<(Vec<usize>, usize, usize)> = None;
    for (index, marker) in markers.iter().enumerate() {
        open = match open.take() {
            Some((mut members, first, last))
                if marker.turn <= last.saturating_add(window)
                    && first_resolution(moves, lexicon, last, marker.turn).is_none() =>
            {
                members.push(index);
                Some((members, first, marker.turn))
            }
            Some((members, first, last)) => {
                done.push(close(members, first, last));
                Some((vec![index], marker.turn, marker.turn))
            }
            None => Some((vec![index], marker.turn, marker.turn)),
        };
    }
    if let Some((members, first, last)) = open {
        done.push(close(members, first, last));
    }
    done
}
