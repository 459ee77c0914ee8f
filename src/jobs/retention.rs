//! Keeps what has no more use from lingering: stored idempotent answers (they repeat clients'
//! answers and comments) once the 24-hour replay window has passed, and the used ids of client
//! assertions that have expired. Runs every ten minutes,
//! one organization at a time; several replicas running it at once only delete the same rows.

use crate::db::Database;
use std::time::Duration;

const EVERY: Duration = Duration::from_secs(600);

/// Starts the retention loop on the current runtime.
pub fn spawn(database: Database) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(EVERY).await;
            match database.purge_expired_answers().await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "purged idempotent answers past their replay window"),
                Err(error) => tracing::warn!(%error, "could not purge expired idempotent answers"),
            }
            if let Err(error) = database.purge_expired_assertions().await {
                tracing::warn!(%error, "could not purge expired client assertion ids");
            }
        }
    });
}
