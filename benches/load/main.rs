//! The load benchmark (README.md, "Benchmarks"): `cargo bench --bench load -- [scenario …] [--seconds N]`.
//! Scenarios: `token`, `analytics`, `ingest`, `episode-length`, `fhir`, `webhooks`, `export`, and `transcripts`
//! (rule quality and analysis time; no server).
//!
//! Starts a throw-away PostgreSQL (embedded cluster, or a database on `DATABASE_URL`), runs the
//! release `rapport` binary against it on a free port, and measures each scenario with a
//! closed-model saturation run after a warm-up, next to its baseline measured in the same run.
//! Prints one table and writes `target/bench-results.json`. Speed is measured here, never in a test.

mod analytics;
mod client;
mod cpu;
mod episode_length;
mod export;
mod seed;
mod server;
mod transcripts;
mod webhooks;

use client::{Measured, saturate};
use serde_json::{Value, json};
use std::time::Duration;

struct Row {
    scenario: String,
    measured: Measured,
    baseline: Option<(String, f64)>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let seconds = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(10u64);
    let wanted: Vec<&str> =
        args.iter().map(String::as_str).filter(|a| !a.starts_with("--") && a.parse::<u64>().is_err()).collect();
    // Responses to seed for the analytics and export scenarios.
    let responses: usize = args
        .iter()
        .position(|a| a == "--responses")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let runs = |name: &str| wanted.is_empty() || wanted.contains(&"all") || wanted.contains(&name);
    if runs("transcripts") {
        transcripts::run();
        if wanted == ["transcripts"] {
            return;
        }
    }
    let duration = Duration::from_secs(seconds);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let server = server::Server::start();
    let rows = runtime.block_on(async {
        let setup = client::Setup::new(&server).await;
        let mut rows = Vec::new();
        let ceiling = saturate(16, duration, |_| setup.get("/healthz", None)).await;
        rows.push(Row { scenario: "healthz (HTTP ceiling)".into(), measured: ceiling.clone(), baseline: None });
        if runs("token") {
            let password = saturate(4, duration, |_| setup.password_grant()).await;
            rows.push(Row { scenario: "token: password grant (Argon2id)".into(), measured: password, baseline: None });
            let credentials = saturate(4, duration, |_| setup.client_credentials_grant()).await;
            rows.push(Row {
                scenario: "token: client_credentials (Argon2id)".into(),
                measured: credentials,
                baseline: None,
            });
        }
        if runs("analytics") {
            for (scenario, measured, baseline) in analytics::run(&server, &setup, responses, duration, &ceiling).await {
                rows.push(Row { scenario, measured, baseline });
            }
        }
        if runs("ingest") {
            let baseline = server.insert_baseline(16, duration);
            let ingest = saturate(16, duration, |n| setup.submit_srs(n)).await;
            rows.push(Row {
                scenario: "ingest: POST /v1/responses (SRS, Idempotency-Key)".into(),
                measured: ingest,
                baseline: Some(("single-row INSERT tx/s".into(), baseline)),
            });
        }
        if runs("episode-length") {
            for (scenario, measured, baseline) in episode_length::run(&setup, duration).await {
                rows.push(Row { scenario, measured, baseline });
            }
        }
        if runs("fhir") {
            let rest = saturate(16, duration, |n| setup.submit_srs(n + 10_000_000)).await;
            let fhir = saturate(16, duration, |n| setup.fhir_submit_srs(n)).await;
            rows.push(Row {
                scenario: "fhir: POST QuestionnaireResponse (SRS, If-None-Exist)".into(),
                measured: fhir,
                baseline: Some(("POST /v1/responses req/s".into(), rest.rate)),
            });
            let rest = saturate(16, duration, |n| setup.rest_responses(n)).await;
            let fhir = saturate(16, duration, |n| setup.fhir_observations(n)).await;
            rows.push(Row {
                scenario: "fhir: GET Observation?subject= (a patient's scores)".into(),
                measured: fhir,
                baseline: Some(("GET /v1/responses?client_id= req/s".into(), rest.rate)),
            });
            let grant = saturate(4, duration, |n| setup.assertion_grant(n)).await;
            rows.push(Row {
                scenario: "token: client assertion (ES384, SMART)".into(),
                measured: grant,
                baseline: None,
            });
        }
        if runs("export") {
            let results = export::run(&server, &setup, responses).await;
            let copy_rate = results.iter().find(|r| r.label.starts_with("COPY")).map(|r| r.rows as f64 / r.seconds);
            for result in &results {
                let rate = result.rows as f64 / result.seconds;
                println!(
                    "export | {:<45} | {:>9} rows | {:>7.2} s | {:>9.0} rows/s | {:>6.1} MB | ratio to COPY {} | peak RSS {}",
                    result.label,
                    result.rows,
                    result.seconds,
                    rate,
                    result.bytes as f64 / 1e6,
                    copy_rate.map_or("n/a".into(), |copy| format!("{:.2}", rate / copy)),
                    if result.peak_rss_kib > 0 { format!("{} MB", result.peak_rss_kib / 1024) } else { "—".into() },
                );
            }
        }
        if runs("webhooks") {
            for (scenario, measured, baseline) in webhooks::run(&setup, duration).await {
                rows.push(Row { scenario, measured, baseline });
            }
        }
        rows
    });
    let rss = server.peak_rss_kib();
    print_table(&rows, rss);
    write_json(&rows, rss);
    server.stop();
}

fn print_table(rows: &[Row], peak_rss_kib: Option<u64>) {
    println!(
        "\n{:<52} {:>9} {:>8} {:>8} {:>8} {:>7} {:>26} {:>6} {:>9} {:>9}",
        "scenario", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "baseline", "ratio", "svc CPU", "pg CPU"
    );
    for row in rows {
        let m = &row.measured;
        let (baseline, ratio) = match &row.baseline {
            Some((name, value)) => (format!("{value:.0} {name}"), format!("{:.2}", m.rate / value)),
            None => (String::from("—"), String::from("—")),
        };
        // CPU milliseconds per request, of the service and of PostgreSQL.
        let service_cpu = m.cpu.map_or(String::from("—"), |c| format!("{:.2} ms", c.service_ms));
        let postgres_cpu = m.cpu.and_then(|c| c.postgres_ms).map_or(String::from("—"), |ms| format!("{ms:.2} ms"));
        println!(
            "{:<52} {:>9.1} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>26} {:>6} {:>9} {:>9}",
            row.scenario, m.rate, m.p50_ms, m.p95_ms, m.p99_ms, m.errors, baseline, ratio, service_cpu, postgres_cpu
        );
    }
    if let Some(kib) = peak_rss_kib {
        println!("peak RSS of the service: {:.1} MB", kib as f64 / 1024.0);
    }
}

fn write_json(rows: &[Row], peak_rss_kib: Option<u64>) {
    let rows: Vec<Value> = rows
        .iter()
        .map(|row| {
            json!({"scenario": row.scenario, "requests_per_second": row.measured.rate, "p50_ms": row.measured.p50_ms,
                   "p95_ms": row.measured.p95_ms, "p99_ms": row.measured.p99_ms, "errors": row.measured.errors,
                   "requests": row.measured.requests,
                   "cpu_ms_per_request": row.measured.cpu.map(|c| json!({"service": c.service_ms, "postgres": c.postgres_ms})),
                   "baseline": row.baseline.as_ref().map(|(name, value)| json!({"name": name, "value": value})),
                   "ratio": row.baseline.as_ref().map(|(_, value)| row.measured.rate / value)})
        })
        .collect();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-results.json");
    let document = json!({"rows": rows, "peak_rss_mb": peak_rss_kib.map(|k| k as f64 / 1024.0)});
    let _ = std::fs::write(&path, serde_json::to_string_pretty(&document).unwrap());
    println!("written: {}", path.display());
}
