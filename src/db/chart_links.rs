//! Chart links leave no row of their own: the token is the link (see `auth::chart_links`). Making
//! one checks that the caller may see the episode and writes the audit event that every later
//! view refers to by the link's id.

use super::audit::Actor;
use super::episodes::find_visible_episode;
use super::{Database, DbError};
use chrono::{DateTime, Utc};
use diesel::Connection;
use uuid::Uuid;

impl Database {
    /// Records that `actor` made link `link_id` for `episode_id`; `NotFound` when the episode
    /// is not the caller's to see.
    pub async fn record_chart_link(
        &self,
        actor: Actor,
        episode_id: Uuid,
        link_id: Uuid,
        expires_at: DateTime<Utc>,
    ) -> Result<(), DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                find_visible_episode(conn, &actor, episode_id)?;
                let detail = serde_json::json!({ "link_id": link_id, "expires_at": expires_at });
                actor.record(conn, "episode.chart_link.create", "episode", Some(episode_id), detail)
            })
        })
        .await
    }
}
