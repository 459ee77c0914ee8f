//! The export scenario: rows/s of `GET /v1/export/responses` in NDJSON and Parquet over the
//! seeded responses (≥ 1 M by default), against `COPY (SELECT …) TO STDOUT` of the same rows
//! in the same run, and the service's resident memory sampled during each export.

use super::client::Setup;
use super::server::Server;
use diesel::prelude::*;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The rows the export reads, as one query (the same joins).
const COPY_SQL: &str = "COPY (SELECT r.change_xact, r.id, r.client_id, r.episode_id, r.session_id, \
     coalesce(r.clinician_id, e.clinician_id), r.instrument_key, r.instrument_version_id, r.rater, r.administered_at, \
     r.created_at, r.answers, r.scores, r.voided_at, s.number, e.program, c.age_group, c.attributes \
     FROM responses r JOIN episodes e ON e.organization_id = r.organization_id AND e.id = r.episode_id \
     JOIN clients c ON c.organization_id = r.organization_id AND c.id = r.client_id \
     LEFT JOIN sessions s ON s.organization_id = r.organization_id AND s.id = r.session_id \
     ORDER BY r.change_xact, r.id) TO STDOUT";

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

pub struct ExportResult {
    pub label: String,
    pub rows: u64,
    pub seconds: f64,
    pub bytes: u64,
    pub peak_rss_kib: u64,
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// Samples the service's RSS every 20 ms until stopped; returns the highest.
fn sample_rss(pid: u32) -> (Arc<AtomicBool>, std::thread::JoinHandle<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        let peak = AtomicU64::new(0);
        while !flag.load(Ordering::Relaxed) {
            peak.fetch_max(rss_kib(pid).unwrap_or(0), Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(20));
        }
        peak.load(Ordering::Relaxed)
    });
    (stop, handle)
}

pub async fn run(server: &Server, setup: &Setup, responses: usize) -> Vec<ExportResult> {
    let mut conn = PgConnection::establish(&server.database_url).unwrap();
    let count = |conn: &mut PgConnection| -> u64 {
        diesel::sql_query("SELECT count(*) AS n FROM responses").get_result::<Count>(conn).unwrap().n as u64
    };
    if count(&mut conn) < responses as u64 / 2 {
        let (url, org) = (server.database_url.clone(), setup.organization_id);
        let started = Instant::now();
        tokio::task::spawn_blocking(move || super::seed::seed(&url, org, responses)).await.unwrap();
        println!("seeding took {:.1} s", started.elapsed().as_secs_f64());
    }
    let rows = count(&mut conn);
    let mut results = Vec::new();

    let started = Instant::now();
    let copied = Command::new("psql")
        .arg(&server.database_url)
        .args(["-X", "-q", "-c", COPY_SQL])
        .stdout(std::process::Stdio::piped())
        .output();
    match copied {
        Ok(output) if output.status.success() => results.push(ExportResult {
            label: "COPY (SELECT …) TO STDOUT (psql)".into(),
            rows,
            seconds: started.elapsed().as_secs_f64(),
            bytes: output.stdout.len() as u64,
            peak_rss_kib: 0,
        }),
        _ => println!("psql is not on PATH: no COPY baseline"),
    }

    for format in ["ndjson", "parquet"] {
        let (stop, sampler) = sample_rss(server.pid());
        let started = Instant::now();
        let bytes = setup.download(&format!("/v1/export/responses?format={format}")).await;
        let seconds = started.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        let peak_rss_kib = sampler.join().unwrap();
        results.push(ExportResult {
            label: format!("GET /v1/export/responses?format={format}"),
            rows,
            seconds,
            bytes,
            peak_rss_kib,
        });
    }
    results
}
