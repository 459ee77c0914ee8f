//! Runs Bulk Data jobs from the database, in the service process. Every second it deletes
//! expired jobs and claims waiting ones (`FOR UPDATE SKIP LOCKED` and a lease, so replicas
//! never run one job at once, and a job left by a killed process is taken up again after its
//! lease). A job reads through the same listings (and tenancy and audit) as a search, in pages,
//! and stores its NDJSON a part at a time, so memory holds one part.

use super::patient;
use crate::db::bulk_exports::{BulkExport, BulkPart};
use crate::db::clients::ClientFilter;
use crate::db::page::PageRequest;
use crate::db::responses::ResponseFilter;
use crate::db::{Database, DbError};
use crate::domain::bulk_export::BulkResourceType;
use crate::domain::time::Timestamp;
use crate::http::fhir::observation::observations;
use crate::http::fhir::questionnaire_response::{Canonicals, render};
use serde_json::Value;
use std::time::Duration;

const POLL_EVERY: Duration = Duration::from_secs(1);
/// Rows read per page.
const PAGE: i64 = 500;
/// Resources per output file.
const PART_RESOURCES: usize = 10_000;
/// How long a runner holds a job between two parts before another may take it over.
const LEASE: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug)]
pub struct BulkSettings {
    /// How long a finished job's files stay available.
    pub ttl: Duration,
    /// Whether this process runs jobs (a replica may only take requests).
    pub run_jobs: bool,
}

pub fn spawn(database: Database, settings: BulkSettings) {
    if !settings.run_jobs {
        return;
    }
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(POLL_EVERY).await;
            if let Err(error) = database.expire_bulk_exports().await {
                tracing::warn!(%error, "expiring Bulk Data jobs failed");
            }
            loop {
                match database.claim_bulk_export(LEASE).await {
                    Ok(Some(job)) => run(&database, job, settings).await,
                    Ok(None) => break,
                    Err(error) => {
                        tracing::warn!(%error, "claiming a Bulk Data job failed");
                        break;
                    }
                }
            }
        }
    });
}

async fn run(database: &Database, job: BulkExport, settings: BulkSettings) {
    let outcome = match export(database, &job).await {
        Ok(()) => None,
        // Cancelled (deleted) while it ran: nothing left to finish.
        Err(DbError::NotFound) => return,
        Err(error) => {
            tracing::error!(%error, export_id = %job.id, "Bulk Data job failed");
            Some("The export failed; start a new one.".to_owned())
        }
    };
    if let Err(error) = database.finish_bulk_export(&job, outcome, settings.ttl).await {
        tracing::warn!(%error, export_id = %job.id, "finishing a Bulk Data job failed; it will run again");
    }
}

/// NDJSON lines of one resource type, cut into parts.
struct Output<'a> {
    database: &'a Database,
    job: &'a BulkExport,
    kind: BulkResourceType,
    part: i32,
    lines: Vec<u8>,
    resources: usize,
    total: usize,
}

impl Output<'_> {
    async fn push(&mut self, resource: &Value) -> Result<(), DbError> {
        serde_json::to_writer(&mut self.lines, resource).map_err(|e| DbError::Corrupt(e.to_string()))?;
        self.lines.push(b'\n');
        self.resources = self.resources.saturating_add(1);
        self.total = self.total.saturating_add(1);
        if self.resources >= PART_RESOURCES { self.store().await } else { Ok(()) }
    }

    async fn store(&mut self) -> Result<(), DbError> {
        if self.resources == 0 {
            return Ok(());
        }
        let part = BulkPart {
            resource_type: self.kind,
            part: self.part,
            resources: i32::try_from(self.resources).unwrap_or(i32::MAX),
            content: std::mem::take(&mut self.lines),
            progress: format!("{}: {} resources", self.kind.as_str(), self.total),
        };
        self.database.store_bulk_part(self.job, part, LEASE).await?;
        self.part = self.part.saturating_add(1);
        self.resources = 0;
        Ok(())
    }
}

async fn export(database: &Database, job: &BulkExport) -> Result<(), DbError> {
    let until = job.transaction_time.ok_or_else(|| DbError::Corrupt("a running job without its time".into()))?;
    let bound = |at| Timestamp::new(at).map_err(|_| DbError::Corrupt("a Bulk Data bound out of range".into()));
    let (since, until) = (job.since.map(bound).transpose()?, bound(until)?);
    let actor = job.requester();
    let versions = database.all_instrument_versions(job.organization_id).await?;
    let canonicals = Canonicals::new(&versions, job.organization_id);
    for &kind in &job.resource_types {
        let mut output = Output { database, job, kind, part: 1, lines: Vec::new(), resources: 0, total: 0 };
        let mut after = None;
        loop {
            let page = PageRequest { limit: PAGE, after };
            after = match kind {
                BulkResourceType::Patient => {
                    let filter = ClientFilter {
                        updated_from: since.map(Timestamp::get),
                        updated_to: Some(until.get()),
                        ..ClientFilter::default()
                    };
                    let clients = database.list_clients(actor.clone(), filter, page).await?;
                    for client in &clients.items {
                        output.push(&patient::render(client)).await?;
                    }
                    clients.next
                }
                BulkResourceType::QuestionnaireResponse | BulkResourceType::Observation => {
                    let filter =
                        ResponseFilter { changed_from: since, changed_to: Some(until), ..ResponseFilter::default() };
                    let responses = database.list_responses(actor.clone(), filter, page).await?;
                    for stored in &responses.items {
                        if kind == BulkResourceType::QuestionnaireResponse {
                            output.push(&render(stored, &canonicals)).await?;
                        } else {
                            for (_, observation) in observations(stored, None) {
                                output.push(&observation).await?;
                            }
                        }
                    }
                    responses.next
                }
            };
            if after.is_none() {
                break;
            }
        }
        output.store().await?;
    }
    Ok(())
}
