//! The connection pool, with two things r2d2 and diesel do not do by themselves:
//!
//! - A connection whose server went away (killed postmaster, restart, network cut) is marked
//!   lost by the query that noticed, and r2d2 drops it instead of handing it out again.
//! - When one connection is found lost, the others that were idle at the time are probably dead
//!   too: each pooled connection remembers the pool's *epoch* when it last proved alive, the
//!   epoch advances on every loss, and a connection from an older epoch is pinged (`SELECT 1`)
//!   before use. A healthy service pays nothing; after an outage each stale connection costs one
//!   ping instead of one failed request.

use diesel::PgConnection;
use diesel::r2d2::{ConnectionManager, ManageConnection, R2D2Connection};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A pooled connection and what the pool knows about its health.
pub struct TrackedConnection {
    connection: PgConnection,
    /// Set by the query that found the server gone: r2d2 discards the connection.
    pub(super) lost: bool,
    /// The pool epoch in which this connection last proved alive.
    pub(super) epoch: u64,
}

impl Deref for TrackedConnection {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.connection
    }
}

impl DerefMut for TrackedConnection {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.connection
    }
}

impl TrackedConnection {
    /// Whether the server still answers on this connection.
    pub(super) fn ping(&mut self) -> bool {
        self.connection.ping().is_ok()
    }
}

/// Counts connection losses; shared by the pool's manager and [`super::Database`].
#[derive(Clone, Debug, Default)]
pub struct Epoch(Arc<AtomicU64>);

impl Epoch {
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    pub fn advance(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

#[derive(Debug)]
pub struct Manager {
    inner: ConnectionManager<PgConnection>,
    epoch: Epoch,
}

impl Manager {
    pub fn new(url: &str, epoch: Epoch) -> Self {
        Self { inner: ConnectionManager::new(url), epoch }
    }
}

impl ManageConnection for Manager {
    type Connection = TrackedConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<TrackedConnection, Self::Error> {
        let connection = self.inner.connect()?;
        Ok(TrackedConnection { connection, lost: false, epoch: self.epoch.current() })
    }

    fn is_valid(&self, conn: &mut TrackedConnection) -> Result<(), Self::Error> {
        self.inner.is_valid(&mut conn.connection)
    }

    fn has_broken(&self, conn: &mut TrackedConnection) -> bool {
        conn.lost || self.inner.has_broken(&mut conn.connection)
    }
}
