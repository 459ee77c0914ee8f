//! An episode of care's life: open while treatment goes on, closed when it ends.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EpisodeStatus {
    Active,
    Closed,
}

impl EpisodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EpisodeStatus::Active => "active",
            EpisodeStatus::Closed => "closed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [EpisodeStatus::Active, EpisodeStatus::Closed].into_iter().find(|status| status.as_str() == raw)
    }
}
