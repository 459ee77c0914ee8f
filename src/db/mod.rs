//! The database layer: the only module that imports diesel.
//!
//! **How diesel runs off the async workers, decided once, here:** sync diesel over libpq with
//! an r2d2 pool, every call going through [`Database::run`], which moves the closure onto
//! tokio's blocking pool. Why not diesel-async: measured on this machine both gave the same
//! throughput (PostgreSQL and the CPU were the limit, not the pool); sync diesel keeps
//! transactions as plain closures (`conn.transaction(|c| ...)`) with no boxed futures, runs
//! embedded migrations directly, and is the better-trodden path. The blocking pool is larger
//! than the connection pool, so a closure waiting for a connection never starves the workers,
//! and a pool that stays empty for `db_acquire_timeout` answers 503 quickly instead of queueing.
//!
//! One file per table group; rows convert to `domain` types inside this module.

pub mod admission;
pub mod alliance_rollup;
pub mod audit;
pub mod bulk_exports;
mod catalogues;
pub mod chart_links;
pub mod clients;
pub mod distribution;
pub mod episode_analytics;
pub mod episodes;
pub mod export;
pub mod form_requests;
pub mod insights;
pub mod instrument_definitions;
pub mod instruments;
pub mod organizations;
pub mod page;
pub mod pool;
pub mod references;
pub mod refresh_tokens;
pub mod responses;
pub mod rollup_schema;
pub mod rollups;
pub mod schema;
pub mod series_states;
pub mod service_accounts;
pub mod settings;
pub mod signals;
pub mod stored;
pub mod transcripts;
pub mod users;
pub mod webhooks;

use admission::AggregateAdmission;
use diesel::PgConnection;
use diesel::connection::SimpleConnection;
use diesel::r2d2::{CustomizeConnection, Pool, PooledConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use pool::{Epoch, Manager, TrackedConnection};
use std::time::Duration;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Serializes migration runs across processes (two replicas starting at once).
const MIGRATION_LOCK_KEY: i64 = 0x7261_7070_6f72_7401;

type PgPool = Pool<Manager>;
pub type Conn = PooledConnection<Manager>;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("no such record")]
    NotFound,
    #[error("unique or foreign-key constraint `{constraint}` refused the change")]
    Conflict { constraint: String },
    /// Busy: deadlock, statement timeout, no free connection. Worth a retry.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The server went away under this connection (killed, restarting, network cut).
    #[error("database connection lost: {0}")]
    Lost(String),
    #[error("query failed")]
    Query(#[source] DieselError),
    #[error("migrations failed: {0}")]
    Migration(String),
    #[error("the database task was cancelled or panicked")]
    Task,
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

impl From<distribution::DistributionError> for DbError {
    fn from(error: distribution::DistributionError) -> Self {
        match error {
            distribution::DistributionError::Database(error) => error,
            other => Self::Migration(other.to_string()),
        }
    }
}

impl From<DieselError> for DbError {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::NotFound => Self::NotFound,
            DieselError::DatabaseError(
                kind @ (DatabaseErrorKind::UniqueViolation | DatabaseErrorKind::ForeignKeyViolation),
                info,
            ) => {
                let constraint = info.constraint_name().unwrap_or(match kind {
                    DatabaseErrorKind::UniqueViolation => "unique",
                    _ => "foreign_key",
                });
                Self::Conflict { constraint: constraint.to_owned() }
            }
            DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                Self::Unavailable("serialization failure".into())
            }
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                ref info,
            ) => Self::Lost(info.message().to_owned()),
            DieselError::DatabaseError(_, ref info) if is_connection_loss(info.message()) => {
                Self::Lost(info.message().to_owned())
            }
            DieselError::BrokenTransactionManager => Self::Lost("the transaction could not be ended".into()),
            // Transient: two transactions locking rollup rows in opposite orders, a query cut
            // off by the statement timeout under load, or a wait for a row lock (a series'
            // state held by a concurrent submission) past the lock timeout. Worth a retry, not
            // a 500.
            DieselError::DatabaseError(_, ref info)
                if info.message().starts_with("deadlock detected")
                    || info.message().starts_with("canceling statement due to statement timeout")
                    || info.message().starts_with("canceling statement due to lock timeout") =>
            {
                Self::Unavailable(info.message().to_owned())
            }
            other => Self::Query(other),
        }
    }
}

/// libpq's and the server's words for a connection that is gone (libpq reports some as errors of
/// unknown kind; diesel exposes no SQLSTATE). The server's own are for `lc_messages = C`, which
/// the embedded cluster uses; elsewhere libpq's (always English) still catch the common cases.
fn is_connection_loss(message: &str) -> bool {
    const SIGNS: [&str; 11] = [
        "no connection to the server",
        "server closed the connection unexpectedly",
        "terminating connection due to",
        "could not receive data from server",
        "could not send data to server",
        "connection to server",
        "the database system is shutting down",
        "the database system is starting up",
        "the database system is in recovery mode",
        "SSL connection has been closed unexpectedly",
        "lost synchronization with server",
    ];
    SIGNS.iter().any(|sign| message.contains(sign))
}

/// Session settings every pooled connection gets, so no query or forgotten transaction can
/// hold resources forever.
#[derive(Debug)]
struct SessionSettings {
    statement_timeout: Duration,
}

impl CustomizeConnection<TrackedConnection, diesel::r2d2::Error> for SessionSettings {
    fn on_acquire(&self, conn: &mut TrackedConnection) -> Result<(), diesel::r2d2::Error> {
        let statement_ms = self.statement_timeout.as_millis();
        conn.batch_execute(&format!(
            "SET statement_timeout = {statement_ms}; \
             SET idle_in_transaction_session_timeout = {}; \
             SET application_name = 'rapport'; SET TIME ZONE 'UTC'",
            statement_ms * 2
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Pool settings, from [`crate::config::Settings`].
#[derive(Clone, Debug)]
pub struct PoolOptions {
    pub max_size: u32,
    pub acquire_timeout: Duration,
    pub statement_timeout: Duration,
}

/// The connection pool; cheap to clone.
#[derive(Clone)]
pub struct Database {
    pool: PgPool,
    epoch: Epoch,
    aggregates: AggregateAdmission,
}

impl Database {
    /// Builds the pool without connecting yet: the service starts, and `/readyz` reports,
    /// even while the database is briefly away.
    pub fn new(url: &str, options: &PoolOptions) -> Self {
        let epoch = Epoch::default();
        let manager = Manager::new(url, epoch.clone());
        let pool = Pool::builder()
            .max_size(options.max_size)
            .min_idle(Some(0))
            .connection_timeout(options.acquire_timeout)
            // A broken connection is noticed by the query that hits it (and dropped by r2d2), so a
            // per-checkout `SELECT 1` would only add a round trip to every request.
            .test_on_check_out(false)
            .connection_customizer(Box::new(SessionSettings { statement_timeout: options.statement_timeout }))
            .build_unchecked(manager);
        let aggregates = AggregateAdmission::new(options);
        Self { pool, epoch, aggregates }
    }

    /// Runs `work` with a pooled connection on the blocking thread pool.
    pub async fn run<T, F>(&self, work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut PgConnection) -> Result<T, DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let epoch = self.epoch.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = checkout(&pool, &epoch)?;
            let result = work(&mut conn);
            if let Err(DbError::Lost(cause)) = &result {
                tracing::warn!(error = %cause, "database connection lost; dropping it");
                conn.lost = true;
                epoch.advance();
            }
            result
        })
        .await
        .map_err(|_| DbError::Task)?
    }

    /// Applies pending migrations and this release's rollup schema under an advisory lock;
    /// returns how many migrations ran.
    pub async fn migrate(&self) -> Result<usize, DbError> {
        self.run(|conn| prepare_schema(conn).map(|prepared| prepared.migrations)).await
    }

    /// `rapport distribute`: refuses on a database without Citus; otherwise applies what
    /// [`Self::migrate`] applies (which distributes what is new) and reports the layout.
    pub async fn distribute(&self) -> Result<distribution::Layout, distribution::DistributionError> {
        if !self.run(distribution::citus_installed).await? {
            return Err(distribution::DistributionError::CitusMissing);
        }
        self.run(prepare_schema).await?;
        self.run(|conn| {
            distribution::distribute(conn)?;
            distribution::layout(conn)
        })
        .await
        .map_err(Into::into)
    }

    /// Ready means: reachable, no migration pending, and the rollup schema of this release.
    pub async fn readiness(&self) -> Result<Readiness, DbError> {
        self.run(|conn| {
            let pending = conn.has_pending_migration(MIGRATIONS).map_err(|e| DbError::Migration(e.to_string()))?;
            Ok(if pending || !rollup_schema::is_current(conn)? { Readiness::SchemaBehind } else { Readiness::Ready })
        })
        .await
    }

    /// Connections open and idle, for the metrics endpoint.
    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (state.connections, state.idle_connections)
    }
}

/// A connection from the pool that proved alive in the current epoch (see [`pool`]).
/// Runs `each` for every organization, one at a time (on Citus each touches one shard group),
/// and adds up what it returns: the sweeps that delete what has expired.
pub(crate) fn sum_over_organizations(
    conn: &mut PgConnection,
    mut each: impl FnMut(&mut PgConnection, uuid::Uuid) -> diesel::QueryResult<usize>,
) -> Result<usize, DbError> {
    use diesel::prelude::*;
    let organizations: Vec<uuid::Uuid> = schema::organizations::table.select(schema::organizations::id).load(conn)?;
    let mut total = 0usize;
    for organization_id in organizations {
        total = total.saturating_add(each(conn, organization_id)?);
    }
    Ok(total)
}

fn checkout(pool: &PgPool, epoch: &Epoch) -> Result<Conn, DbError> {
    // Every stale connection is either revived or dropped, so this ends within a pool's worth.
    loop {
        let mut conn = pool.get().map_err(|e| DbError::Unavailable(e.to_string()))?;
        let current = epoch.current();
        if conn.epoch == current {
            return Ok(conn);
        }
        if conn.ping() {
            conn.epoch = current;
            return Ok(conn);
        }
        conn.lost = true;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// A migration is pending, or the rollup schema is another release's.
    SchemaBehind,
}

/// What [`prepare_schema`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prepared {
    pub migrations: usize,
    /// The rollup schema was (re)installed and every organization's rollups rebuilt.
    pub rollups_installed: bool,
}

/// Migrations, then this release's rollup schema, one process at a time (replicas starting
/// together wait for each other). A backfill or rebuild may run for minutes on a large
/// database: the request-sized statement timeout of pooled connections does not apply.
pub fn prepare_schema(conn: &mut PgConnection) -> Result<Prepared, DbError> {
    use diesel::prelude::*;
    conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }
    let pooled: Setting = diesel::sql_query("SELECT current_setting('statement_timeout') AS value").get_result(conn)?;
    conn.batch_execute("SET statement_timeout = 0")?;
    let result = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|applied| applied.len())
        .map_err(|e| DbError::Migration(e.to_string()))
        .and_then(|migrations| {
            let citus = distribution::citus_installed(conn)?;
            if citus {
                let distributed = distribution::distribute(conn)?;
                if !distributed.is_empty() {
                    tracing::info!(
                        reference_tables = distributed.reference_tables.len(),
                        distributed_tables = distributed.distributed_tables.len(),
                        functions = distributed.functions.len(),
                        "distributed new tables and functions over the Citus cluster"
                    );
                }
            }
            let rollups_installed = rollup_schema::install(conn, citus)?;
            Ok(Prepared { migrations, rollups_installed })
        });
    let restored = diesel::sql_query("SELECT set_config('statement_timeout', $1, false)")
        .bind::<diesel::sql_types::Text, _>(pooled.value)
        .execute(conn);
    conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))?;
    restored?;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::DatabaseErrorInformation;

    struct Message(&'static str);

    impl DatabaseErrorInformation for Message {
        fn message(&self) -> &str {
            self.0
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            None
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn database_error(message: &'static str) -> DbError {
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, Box::new(Message(message))).into()
    }

    #[test]
    fn deadlocks_and_statement_timeouts_are_transient() {
        assert!(matches!(database_error("deadlock detected"), DbError::Unavailable(_)));
        assert!(matches!(database_error("canceling statement due to statement timeout"), DbError::Unavailable(_)));
        assert!(matches!(database_error("canceling statement due to lock timeout"), DbError::Unavailable(_)));
        assert!(matches!(database_error("division by zero"), DbError::Query(_)));
    }
}
