//! Admission of the reads that aggregate thousands of rows in the service (clinician insights
//! and reports, organization analytics): one per core at a time, the rest wait in line.
//!
//! The permit covers the database read and the decoding of its rows, where each holds its
//! rows twice (the database driver's result and the decoded rows, several MB for a
//! clinician's year). On 2 cores four of them at once finished no sooner than two (they are
//! CPU-bound) but left the service above 100 MB resident (`cargo bench --bench load --
//! analytics`, README.md). Queued, they also leave connections and cores to the episode reads
//! a clinician waits on in session. The permit travels into the blocking task, so a request
//! that is dropped (its client gone) keeps its turn until its read really ends. A wait longer
//! than the pool's acquire timeout is `Unavailable` (503 with `Retry-After`), like a pool with
//! no free connection; the pool's own acquire timeout follows, so the longest wait is twice it.

use super::{Database, DbError, PoolOptions};
use diesel::PgConnection;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub(super) struct AggregateAdmission {
    permits: Arc<tokio::sync::Semaphore>,
    patience: Duration,
}

impl AggregateAdmission {
    /// One permit per core, never more than the pool has connections.
    pub(super) fn new(options: &PoolOptions) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        Self {
            permits: Arc::new(tokio::sync::Semaphore::new(cores.clamp(1, options.max_size.max(1) as usize))),
            patience: options.acquire_timeout,
        }
    }
}

impl Database {
    /// [`Self::run`] for a read that aggregates many rows in the service, once admitted (see
    /// the module's documentation).
    pub async fn run_aggregate<T, F>(&self, work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut PgConnection) -> Result<T, DbError> + Send + 'static,
    {
        let admission = self.aggregates.permits.clone().acquire_owned();
        let permit = match tokio::time::timeout(self.aggregates.patience, admission).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(closed)) => return Err(DbError::Unavailable(closed.to_string())),
            Err(_) => {
                return Err(DbError::Unavailable("no turn for an aggregate read within the acquire timeout".into()));
            }
        };
        self.run(move |conn| {
            let _held_until_the_read_ends = permit;
            work(conn)
        })
        .await
    }
}
