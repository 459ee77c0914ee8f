//! The analytics scenarios on a seeded database (≥ 1 M responses by default): episode alliance
//! and outcomes reads against the HTTP ceiling, clinician insights against the database's own
//! floor (its main aggregate as one hand-written query), organization analytics against a plain
//! GROUP BY scan. Also prints the query plans behind them (target/bench-plans.txt).

use super::client::{Measured, Setup, at_rate, saturate};
use super::server::Server;
use diesel::prelude::*;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// A scenario's name, measurement and baseline (name and req/s).
type ScenarioRow = (String, Measured, Option<(String, f64)>);

const RANGE: &str = "from=2025-06-01T00:00:00Z&to=2026-06-01T00:00:00Z";

/// Mean wall time of `sql`, run `times` times on one connection, in milliseconds.
fn time_sql(conn: &mut PgConnection, sql: &str, times: usize) -> f64 {
    diesel::sql_query(sql).execute(conn).unwrap();
    let started = Instant::now();
    for _ in 0..times {
        diesel::sql_query(sql).execute(conn).unwrap();
    }
    started.elapsed().as_secs_f64() * 1000.0 / times as f64
}

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
    line: String,
}

fn explain(conn: &mut PgConnection, title: &str, sql: &str, out: &mut String) {
    let lines: Vec<PlanLine> =
        diesel::sql_query(format!("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}")).load(conn).unwrap();
    out.push_str(&format!("\n== {title}\n{sql}\n"));
    for line in lines {
        out.push_str(&line.line);
        out.push('\n');
    }
}

pub async fn run(
    server: &Server,
    setup: &Setup,
    responses: usize,
    duration: Duration,
    ceiling: &Measured,
) -> Vec<(String, Measured, Option<(String, f64)>)> {
    let started = Instant::now();
    let (episodes, clinicians) = {
        let url = server.database_url.clone();
        let org = setup.organization_id;
        tokio::task::spawn_blocking(move || super::seed::seed(&url, org, responses)).await.unwrap()
    };
    println!("seeding took {:.1} s", started.elapsed().as_secs_f64());
    let org = setup.organization_id;
    let pick = |n: usize, list: &[Uuid]| list[(n.wrapping_mul(2654435761)) % list.len()];
    let token = setup.admin_token.clone();
    let mut rows = Vec::new();
    let alliance = saturate(16, duration, |n| {
        setup.get_owned(format!("/v1/episodes/{}/alliance", pick(n, &episodes)), token.clone())
    })
    .await;
    let alliance_open = at_rate(alliance.rate / 2.0, duration, |n| {
        setup.get_owned(format!("/v1/episodes/{}/alliance", pick(n, &episodes)), token.clone())
    })
    .await;
    rows.push((
        "alliance read: GET /v1/episodes/{id}/alliance".to_owned(),
        alliance,
        Some(("healthz req/s (ceiling)".to_owned(), ceiling.rate)),
    ));
    rows.push(("  the same, open model at half that rate".to_owned(), alliance_open, None));
    let outcomes = saturate(16, duration, |n| {
        setup.get_owned(format!("/v1/episodes/{}/outcomes", pick(n, &episodes)), token.clone())
    })
    .await;
    let outcomes_open = at_rate(outcomes.rate / 2.0, duration, |n| {
        setup.get_owned(format!("/v1/episodes/{}/outcomes", pick(n, &episodes)), token.clone())
    })
    .await;
    rows.push((
        "outcomes read: GET /v1/episodes/{id}/outcomes".to_owned(),
        outcomes,
        Some(("healthz req/s (ceiling)".to_owned(), ceiling.rate)),
    ));
    rows.push(("  the same, open model at half that rate".to_owned(), outcomes_open, None));
    rows.extend(charts(setup, &episodes, &token, duration, &rows).await);

    let mut conn = PgConnection::establish(&server.database_url).unwrap();
    let clinician = clinicians[0];
    let floor_sql = format!(
        "SELECT count(*), avg(total_hundredths), stddev_samp(total_hundredths), count(DISTINCT client_id) FROM responses \
         WHERE organization_id = '{org}' AND clinician_id = '{clinician}' AND instrument_key = 'srs' AND voided_at IS NULL \
         AND administered_at >= '2025-06-01' AND administered_at < '2026-06-01'"
    );
    let floor_ms = time_sql(&mut conn, &floor_sql, 20);
    let insights = saturate(4, duration, |n| {
        setup.get_owned(format!("/v1/clinicians/{}/insights?{RANGE}", pick(n, &clinicians)), token.clone())
    })
    .await;
    let insights_open = at_rate(insights.rate / 2.0, duration, |n| {
        setup.get_owned(format!("/v1/clinicians/{}/insights?{RANGE}", pick(n, &clinicians)), token.clone())
    })
    .await;
    let insights_rate = insights.rate;
    rows.push((
        "insights: GET /v1/clinicians/{id}/insights (1 year)".to_owned(),
        insights,
        Some(("1/floor-query-ms (req/s)".to_owned(), 1000.0 / floor_ms)),
    ));
    rows.push(("  the same, open model at half that rate".to_owned(), insights_open, None));
    let report = saturate(4, duration, |n| {
        setup.get_owned(format!("/v1/clinicians/{}/report?{RANGE}", pick(n, &clinicians)), token.clone())
    })
    .await;
    rows.push((
        "report: GET /v1/clinicians/{id}/report (1 year, HTML)".to_owned(),
        report,
        Some(("insights req/s".to_owned(), insights_rate)),
    ));
    let scan_sql = format!(
        "SELECT r.clinician_id, count(DISTINCT r.client_id), count(*), avg(r.total_hundredths), stddev_samp(r.total_hundredths) \
         FROM responses r WHERE r.organization_id = '{org}' AND r.instrument_key IN ('srs', 'csrs') AND r.rater = 'client' \
         AND r.voided_at IS NULL AND r.administered_at >= '2025-06-01' AND r.administered_at < '2026-06-01' GROUP BY 1"
    );
    let scan_ms = time_sql(&mut conn, &scan_sql, 3);
    let analytics = saturate(2, duration, |_| {
        setup.get_owned(format!("/v1/analytics/alliance?group_by=clinician&{RANGE}"), token.clone())
    })
    .await;
    let analytics_open = at_rate(analytics.rate / 2.0, duration, |_| {
        setup.get_owned(format!("/v1/analytics/alliance?group_by=clinician&{RANGE}"), token.clone())
    })
    .await;
    rows.push((
        "org analytics: GET /v1/analytics/alliance?group_by=clinician".to_owned(),
        analytics,
        Some(("1/GROUP-BY-scan-ms (req/s)".to_owned(), 1000.0 / scan_ms)),
    ));
    rows.push(("  the same, open model at half that rate".to_owned(), analytics_open, None));
    // The other groupings read the per-episode monthly rollup joined to episodes or clients.
    setup.put("/v1/organization/settings", serde_json::json!({"declared_attributes": ["cultural_group"]})).await;
    for group_by in ["program", "age_group", "attribute:cultural_group"] {
        let path = format!("/v1/analytics/alliance?group_by={group_by}&{RANGE}");
        let measured = saturate(2, duration, |_| setup.get_owned(path.clone(), token.clone())).await;
        let open = at_rate(measured.rate / 2.0, duration, |_| setup.get_owned(path.clone(), token.clone())).await;
        rows.push((
            format!("org analytics: group_by={group_by}"),
            measured,
            Some(("1/GROUP-BY-scan-ms (req/s)".to_owned(), 1000.0 / scan_ms)),
        ));
        rows.push(("  the same, open model at half that rate".to_owned(), open, None));
    }

    let mut plans = String::new();
    let episode = episodes[episodes.len() / 2];
    explain(
        &mut conn,
        "episode series (alliance, outcomes)",
        &format!(
            "SELECT r.id, r.instrument_key, r.rater, s.number, r.administered_at, r.answers, r.scores FROM responses r \
         LEFT JOIN sessions s ON s.organization_id = r.organization_id AND s.id = r.session_id \
         WHERE r.organization_id = '{org}' AND r.episode_id = '{episode}' AND r.voided_at IS NULL"
        ),
        &mut plans,
    );
    explain(
        &mut conn,
        "ETR reference: sorted totals per intake and session, the intake window 19-21",
        &format!(
            "SELECT session_number, totals FROM etr_reference WHERE organization_id = '{org}' AND instrument_key = 'ors' \
         AND intake_hundredths BETWEEN 1900 AND 2100 AND session_number <= 20"
        ),
        &mut plans,
    );
    explain(
        &mut conn,
        "organization change SD (rupture spread)",
        &format!(
            "SELECT sum(n), sum(sum), sum(sum_sq) FROM alliance_change_stats WHERE organization_id = '{org}' AND instrument_key = 'srs'"
        ),
        &mut plans,
    );
    explain(
        &mut conn,
        "clinician responses in range (insights)",
        &format!(
            "SELECT r.id FROM responses r WHERE r.organization_id = '{org}' AND r.clinician_id = '{clinician}' AND r.voided_at IS NULL \
         AND r.administered_at >= '2025-06-01' AND r.administered_at < '2026-06-01'"
        ),
        &mut plans,
    );
    explain(
        &mut conn,
        "rest of the organization (insights): alliance_clinician_sums, whole months of the year",
        &format!(
            "SELECT sum(srs_n), sum(relationship_sum), sum(relationship_sum_sq), sum(wai_n), sum(goal_sum) FROM alliance_clinician_sums \
         WHERE organization_id = '{org}' AND grain = 'month' AND period >= '2025-06-01' AND period < '2026-06-01' AND clinician_key <> '{clinician}'"
        ),
        &mut plans,
    );
    explain(
        &mut conn,
        "organization analytics by clinician, sums: alliance_clinician_sums",
        &format!(
            "SELECT clinician_key, sum(total_n), sum(total_sum), sum(total_sum_sq), sum(below_cutoff), sum(ceiling) \
         FROM alliance_clinician_sums WHERE organization_id = '{org}' AND grain = 'month' AND period >= '2025-06-01' \
         AND period < '2026-06-01' GROUP BY 1"
        ),
        &mut plans,
    );
    explain(
        &mut conn,
        "organization analytics by clinician, distinct clients: alliance_clinician_clients",
        &format!(
            "SELECT clinician_key, count(*) FROM alliance_clinician_clients WHERE organization_id = '{org}' \
         AND last_month >= '2025-06-01' AND first_month < '2026-06-01' \
         AND ((first_month >= '2025-06-01' AND last_month < '2026-06-01') OR months && ARRAY(SELECT d::date \
         FROM generate_series('2025-06-01'::timestamp, '2026-05-31'::timestamp, interval '1 month') AS d)) GROUP BY 1"
        ),
        &mut plans,
    );
    explain(
        &mut conn,
        "organization analytics by program (per-episode monthly rollup joined to episodes)",
        &format!(
            "SELECT e.program, count(DISTINCT r.client_id), sum(r.total_n) FROM alliance_rollup r \
         JOIN episodes e ON e.organization_id = r.organization_id AND e.id = r.episode_id \
         WHERE r.organization_id = '{org}' AND r.month >= '2025-06-01' AND r.month < '2026-06-01' AND r.total_n > 0 GROUP BY 1"
        ),
        &mut plans,
    );
    explain(&mut conn, "baseline: GROUP BY scan of the responses", &scan_sql, &mut plans);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-plans.txt");
    std::fs::write(&path, &plans).unwrap();
    println!("query plans written to {}", path.display());
    println!("floors: insights aggregate {floor_ms:.2} ms, organization GROUP BY scan {scan_ms:.1} ms");
    rows
}

/// The episode charts against the JSON they draw (the ratio is the price of drawing), and a
/// chart seen through a chart link (no bearer token: the link's own check instead).
async fn charts(
    setup: &Setup,
    episodes: &[Uuid],
    token: &str,
    duration: Duration,
    earlier: &[ScenarioRow],
) -> Vec<ScenarioRow> {
    let pick = |n: usize, list: &[Uuid]| list[(n.wrapping_mul(2654435761)) % list.len()];
    let rate_of =
        |prefix: &str| earlier.iter().find(|(name, ..)| name.starts_with(prefix)).map_or(0.0, |(_, m, _)| m.rate);
    let token = token.to_owned();
    let alliance = saturate(16, duration, |n| {
        setup.get_owned(format!("/v1/episodes/{}/charts/alliance.svg", pick(n, episodes)), token.clone())
    })
    .await;
    let outcomes = saturate(16, duration, |n| {
        setup.get_owned(format!("/v1/episodes/{}/charts/outcomes.svg", pick(n, episodes)), token.clone())
    })
    .await;
    let mut links = Vec::new();
    for episode in episodes.iter().take(64) {
        let link = setup.post(&format!("/v1/episodes/{episode}/chart-links"), serde_json::json!({})).await;
        let url = link["alliance_url"].as_str().expect("a chart link").to_owned();
        links.push(url[url.find("/v1/").expect("a path")..].to_owned());
    }
    let linked = saturate(16, duration, |n| {
        let path = links[n % links.len()].clone();
        async move { setup.get(&path, None).await }
    })
    .await;
    vec![
        (
            "alliance chart: GET /v1/episodes/{id}/charts/alliance.svg".to_owned(),
            alliance,
            Some(("alliance JSON req/s".to_owned(), rate_of("alliance read"))),
        ),
        (
            "outcomes chart: GET /v1/episodes/{id}/charts/outcomes.svg".to_owned(),
            outcomes,
            Some(("outcomes JSON req/s".to_owned(), rate_of("outcomes read"))),
        ),
        (
            "  alliance chart through a chart link (no bearer token)".to_owned(),
            linked,
            Some(("alliance JSON req/s".to_owned(), rate_of("alliance read"))),
        ),
    ]
}
