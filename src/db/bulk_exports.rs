//! FHIR Bulk Data export jobs and their NDJSON files (docs/integration.md, "FHIR Bulk Data").
//! A job is a row: any replica may claim it (`FOR UPDATE SKIP LOCKED` and a lease), so a job
//! outlives the process that began it; a job whose lease ran out is run again from the start.
//! Cancelling deletes the job, and its files with it.

use super::audit::Actor;
use super::schema::{bulk_export_files, bulk_exports};
use super::stored::stored;
use super::{Database, DbError};
use crate::domain::Role;
use crate::domain::bulk_export::{BulkLevel, BulkResourceType, BulkStatus};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Timestamptz};
use std::time::Duration;
use uuid::Uuid;

#[derive(Queryable, Selectable)]
#[diesel(table_name = bulk_exports, check_for_backend(diesel::pg::Pg))]
struct BulkExportRow {
    organization_id: Uuid,
    id: Uuid,
    requested_by: Uuid,
    requester_role: String,
    level: String,
    resource_types: Vec<String>,
    since: Option<DateTime<Utc>>,
    request_url: String,
    status: String,
    progress: Option<String>,
    error: Option<String>,
    transaction_time: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
}

/// A job as the API and the worker see it.
#[derive(Clone, Debug)]
pub struct BulkExport {
    pub organization_id: Uuid,
    pub id: Uuid,
    pub requested_by: Uuid,
    pub requester_role: Role,
    pub level: BulkLevel,
    pub resource_types: Vec<BulkResourceType>,
    pub since: Option<DateTime<Utc>>,
    pub request_url: String,
    pub status: BulkStatus,
    pub progress: Option<String>,
    pub error: Option<String>,
    pub transaction_time: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl BulkExport {
    /// The requester, as the worker acts for them (their reads are audited as theirs).
    pub fn requester(&self) -> Actor {
        Actor {
            organization_id: self.organization_id,
            id: self.requested_by,
            role: self.requester_role,
            request_id: format!("bulk-export:{}", self.id),
        }
    }
}

fn typed(row: BulkExportRow) -> Result<BulkExport, DbError> {
    Ok(BulkExport {
        organization_id: row.organization_id,
        id: row.id,
        requested_by: row.requested_by,
        requester_role: stored(&row.requester_role, Role::parse, "bulk_exports.requester_role")?,
        level: stored(&row.level, BulkLevel::parse, "bulk_exports.level")?,
        resource_types: row
            .resource_types
            .iter()
            .map(|kind| stored(kind, BulkResourceType::parse, "bulk_exports.resource_types"))
            .collect::<Result<_, _>>()?,
        since: row.since,
        request_url: row.request_url,
        status: stored(&row.status, BulkStatus::parse, "bulk_exports.status")?,
        progress: row.progress,
        error: row.error,
        transaction_time: row.transaction_time,
        created_at: row.created_at,
        expires_at: row.expires_at,
    })
}

/// One output file, without its content.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = bulk_export_files, check_for_backend(diesel::pg::Pg))]
pub struct BulkFile {
    pub id: Uuid,
    pub resource_type: String,
    pub part: i32,
    pub resources: i32,
}

pub struct NewBulkExport {
    pub level: BulkLevel,
    pub resource_types: Vec<BulkResourceType>,
    pub since: Option<DateTime<Utc>>,
    pub request_url: String,
}

/// One part of a job's output, ready to store.
pub struct BulkPart {
    pub resource_type: BulkResourceType,
    pub part: i32,
    pub resources: i32,
    pub content: Vec<u8>,
    pub progress: String,
}

#[derive(QueryableByName)]
struct Horizon {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    horizon: Option<DateTime<Utc>>,
}

/// The job's row, if the caller may see it: its organization's, asked for by the caller (or
/// an admin), and not expired.
fn visible(conn: &mut PgConnection, actor: &Actor, id: Uuid) -> Result<BulkExport, DbError> {
    let row: BulkExportRow = bulk_exports::table
        .filter(bulk_exports::organization_id.eq(actor.organization_id))
        .filter(bulk_exports::id.eq(id))
        .select(BulkExportRow::as_select())
        .first(conn)?;
    let job = typed(row)?;
    let expired = job.expires_at.is_some_and(|at| at <= Utc::now());
    if expired || (job.requested_by != actor.id && actor.role != Role::Admin) {
        return Err(DbError::NotFound);
    }
    Ok(job)
}

/// Deletes every Bulk Data job of the organization, and so their files (a client's erasure).
pub(in crate::db) fn forget_outputs(conn: &mut PgConnection, organization_id: Uuid) -> Result<usize, DbError> {
    Ok(diesel::delete(bulk_exports::table.filter(bulk_exports::organization_id.eq(organization_id))).execute(conn)?)
}

impl Database {
    pub async fn create_bulk_export(&self, actor: Actor, new: NewBulkExport) -> Result<Uuid, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let id = Uuid::now_v7();
                let types: Vec<&str> = new.resource_types.iter().map(|kind| kind.as_str()).collect();
                diesel::insert_into(bulk_exports::table)
                    .values((
                        bulk_exports::organization_id.eq(actor.organization_id),
                        bulk_exports::id.eq(id),
                        bulk_exports::requested_by.eq(actor.id),
                        bulk_exports::requester_role.eq(actor.role.as_str()),
                        bulk_exports::level.eq(new.level.as_str()),
                        bulk_exports::resource_types.eq(&types),
                        bulk_exports::since.eq(new.since),
                        bulk_exports::request_url.eq(&new.request_url),
                    ))
                    .execute(conn)?;
                actor.record(
                    conn,
                    "bulk_export.request",
                    "bulk_export",
                    Some(id),
                    serde_json::json!({ "level": new.level.as_str(), "types": types }),
                )?;
                Ok(id)
            })
        })
        .await
    }

    /// A job and (when complete) its files.
    pub async fn find_bulk_export(&self, actor: Actor, id: Uuid) -> Result<(BulkExport, Vec<BulkFile>), DbError> {
        self.run(move |conn| {
            let job = visible(conn, &actor, id)?;
            let files = if job.status == BulkStatus::Completed {
                bulk_export_files::table
                    .filter(bulk_export_files::organization_id.eq(actor.organization_id))
                    .filter(bulk_export_files::export_id.eq(id))
                    .order((bulk_export_files::resource_type.asc(), bulk_export_files::part.asc()))
                    .select(BulkFile::as_select())
                    .load(conn)?
            } else {
                Vec::new()
            };
            Ok((job, files))
        })
        .await
    }

    /// Cancels a job, or deletes a finished one's files.
    pub async fn delete_bulk_export(&self, actor: Actor, id: Uuid) -> Result<(), DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                visible(conn, &actor, id)?;
                diesel::delete(bulk_exports::table.find((actor.organization_id, id))).execute(conn)?;
                actor.record(conn, "bulk_export.delete", "bulk_export", Some(id), serde_json::json!({}))?;
                Ok(())
            })
        })
        .await
    }

    /// The content of one file of a completed job: (resource type, NDJSON).
    pub async fn bulk_export_file(&self, actor: Actor, id: Uuid, file_id: Uuid) -> Result<Vec<u8>, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let job = visible(conn, &actor, id)?;
                if job.status != BulkStatus::Completed {
                    return Err(DbError::NotFound);
                }
                let content: Vec<u8> = bulk_export_files::table
                    .filter(bulk_export_files::organization_id.eq(actor.organization_id))
                    .filter(bulk_export_files::export_id.eq(id))
                    .filter(bulk_export_files::id.eq(file_id))
                    .select(bulk_export_files::content)
                    .first(conn)?;
                actor.record(
                    conn,
                    "bulk_export.download",
                    "bulk_export",
                    Some(id),
                    serde_json::json!({ "file_id": file_id }),
                )?;
                Ok(content)
            })
        })
        .await
    }

    /// Claims the oldest job that is waiting, or whose runner's lease ran out, and marks it
    /// running from scratch: its earlier files are dropped and its transaction time is set.
    ///
    /// The transaction time is the start of the oldest transaction still open in this database
    /// (or now): every change stamped earlier has committed or never will, so what the job
    /// reads below it is complete, and `_since` = this time next time misses nothing.
    pub async fn claim_bulk_export(&self, lease: Duration) -> Result<Option<BulkExport>, DbError> {
        let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        self.run(move |conn| {
            conn.transaction(|conn| {
                let now = Utc::now();
                // The worker serves every organization, asking each in turn so that on Citus
                // every query stays on one organization's shard (a row lock cannot span shards).
                let organizations: Vec<Uuid> =
                    crate::db::schema::organizations::table.select(crate::db::schema::organizations::id).load(conn)?;
                let mut waiting = None;
                for organization_id in organizations {
                    waiting = bulk_exports::table
                        .filter(bulk_exports::organization_id.eq(organization_id))
                        .filter(
                            bulk_exports::status.eq_any([BulkStatus::Queued.as_str(), BulkStatus::Running.as_str()]),
                        )
                        .filter(bulk_exports::claimed_until.is_null().or(bulk_exports::claimed_until.lt(now)))
                        .order(bulk_exports::created_at.asc())
                        .select(BulkExportRow::as_select())
                        .for_update()
                        .skip_locked()
                        .first(conn)
                        .optional()?;
                    if waiting.is_some() {
                        break;
                    }
                }
                let Some(row) = waiting else {
                    return Ok(None);
                };
                let horizon: Horizon = diesel::sql_query(
                    "SELECT least(now(), min(xact_start)) AS horizon FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL",
                )
                .get_result(conn)?;
                let transaction_time = horizon.horizon.unwrap_or(now);
                diesel::delete(
                    bulk_export_files::table
                        .filter(bulk_export_files::organization_id.eq(row.organization_id))
                        .filter(bulk_export_files::export_id.eq(row.id)),
                )
                .execute(conn)?;
                let row: BulkExportRow = diesel::update(bulk_exports::table.find((row.organization_id, row.id)))
                    .set((
                        bulk_exports::status.eq(BulkStatus::Running.as_str()),
                        bulk_exports::claimed_until.eq(now + lease),
                        bulk_exports::attempts.eq(bulk_exports::attempts + 1),
                        bulk_exports::transaction_time.eq(transaction_time),
                        bulk_exports::progress.eq("started"),
                    ))
                    .returning(BulkExportRow::as_select())
                    .get_result(conn)?;
                typed(row).map(Some)
            })
        })
        .await
    }

    /// Stores one part and renews the lease. `NotFound` when the job was cancelled meanwhile.
    pub async fn store_bulk_part(&self, job: &BulkExport, part: BulkPart, lease: Duration) -> Result<(), DbError> {
        let (organization_id, id) = (job.organization_id, job.id);
        let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        self.run(move |conn| {
            conn.transaction(|conn| {
                let renewed = diesel::update(bulk_exports::table.find((organization_id, id)))
                    .filter(bulk_exports::status.eq(BulkStatus::Running.as_str()))
                    .set((
                        bulk_exports::claimed_until.eq(Utc::now() + lease),
                        bulk_exports::progress.eq(&part.progress),
                    ))
                    .execute(conn)?;
                if renewed == 0 {
                    return Err(DbError::NotFound);
                }
                if part.resources > 0 {
                    diesel::insert_into(bulk_export_files::table)
                        .values((
                            bulk_export_files::organization_id.eq(organization_id),
                            bulk_export_files::export_id.eq(id),
                            bulk_export_files::id.eq(Uuid::now_v7()),
                            bulk_export_files::resource_type.eq(part.resource_type.as_str()),
                            bulk_export_files::part.eq(part.part),
                            bulk_export_files::resources.eq(part.resources),
                            bulk_export_files::content.eq(&part.content),
                        ))
                        .execute(conn)?;
                }
                Ok(())
            })
        })
        .await
    }

    /// Ends a job: completed (files kept until `ttl` from now) or failed with a message for
    /// the requester (no PHI, no internals).
    pub async fn finish_bulk_export(
        &self,
        job: &BulkExport,
        failure: Option<String>,
        ttl: Duration,
    ) -> Result<(), DbError> {
        let (organization_id, id) = (job.organization_id, job.id);
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
        self.run(move |conn| {
            let now = Utc::now();
            let status = if failure.is_some() { BulkStatus::Failed } else { BulkStatus::Completed };
            diesel::update(bulk_exports::table.find((organization_id, id)))
                .filter(bulk_exports::status.eq(BulkStatus::Running.as_str()))
                .set((
                    bulk_exports::status.eq(status.as_str()),
                    bulk_exports::error.eq(&failure),
                    bulk_exports::progress.eq(status.as_str()),
                    bulk_exports::claimed_until.eq(None::<DateTime<Utc>>),
                    bulk_exports::finished_at.eq(now),
                    bulk_exports::expires_at.eq(now + ttl),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    /// Deletes jobs past their expiry, with their files. Returns how many.
    pub async fn expire_bulk_exports(&self) -> Result<usize, DbError> {
        self.run(|conn| {
            let now = Utc::now();
            super::sum_over_organizations(conn, |conn, organization_id| {
                diesel::delete(
                    bulk_exports::table
                        .filter(bulk_exports::organization_id.eq(organization_id))
                        .filter(bulk_exports::expires_at.lt(now)),
                )
                .execute(conn)
            })
        })
        .await
    }
}
