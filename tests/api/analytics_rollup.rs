//! Organization analytics and the organization side of insights read a monthly rollup kept by
//! triggers; these tests check that it stays exact: ranges cutting through months, voids,
//! cutoff changes, erasure, and the rollup against a rebuild from the responses.

use crate::fixtures::{Care, open_episode, ors, put_client, srs, submit};
use crate::harness::{TestApp, spawn_app};
use diesel::prelude::*;
use serde_json::{Value, json};

/// An SRS of equal items summing to `total`, for a new session, administered at `at`.
async fn srs_at(app: &TestApp, care: &Care, at: &str, total: f64) -> Value {
    let session = care.new_session(app).await;
    let mut body = srs(&session, [total / 4.0; 4]);
    body["administered_at"] = json!(at);
    submit(app, &care.admin.token, &body).await
}

async fn analytics(app: &TestApp, care: &Care, group_by: &str, from: &str, to: &str) -> Vec<Value> {
    let url = format!("/v1/analytics/alliance?group_by={group_by}&from={from}&to={to}");
    let response = app.get_as(&care.admin.token, &url).await;
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["groups"].as_array().unwrap().clone()
}

/// The API rounds every fractional analytics number to two decimals: `actual` must be exactly
/// `expected`, so rounded.
fn close(actual: &Value, expected: f64) -> bool {
    actual.as_f64().is_some_and(|a| (a - rapport::domain::analytics::round2(expected)).abs() < 1e-9)
}

#[derive(QueryableByName, Debug, PartialEq)]
struct RollupRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    row: String,
}

/// The organization's non-empty rollup rows, as text, in key order.
fn rollup_rows(conn: &mut PgConnection, organization_id: &str) -> Vec<RollupRow> {
    diesel::sql_query(format!(
        "SELECT concat_ws(' ', month, episode_id, clinician_key, client_id, total_n, total_sum, total_sum_sq, \
           below_cutoff, ceiling, srs_n, relationship_sum, relationship_sum_sq, goals_topics_sum, overall_sum_sq, \
           wai_n, round(goal_sum::numeric, 9), round(bond_sum_sq::numeric, 9)) AS row \
         FROM alliance_rollup WHERE organization_id = '{organization_id}' AND (total_n > 0 OR wai_n > 0) \
         ORDER BY month, episode_id, clinician_key"
    ))
    .load(conn)
    .unwrap()
}

/// The organization's per-day and per-month sums (shards added up) and clinician–client months, as text.
fn daily_and_pair_rows(conn: &mut PgConnection, organization_id: &str) -> Vec<RollupRow> {
    diesel::sql_query(format!(
        "SELECT concat_ws(' ', grain, period, clinician_key, sum(total_n), sum(total_sum), sum(total_sum_sq), \
           sum(below_cutoff), sum(ceiling), sum(srs_n), sum(relationship_sum), sum(overall_sum_sq), sum(wai_n), \
           round(sum(goal_sum)::numeric, 9)) AS row \
         FROM alliance_clinician_sums WHERE organization_id = '{organization_id}' GROUP BY grain, period, clinician_key \
         HAVING sum(total_n) <> 0 OR sum(wai_n) <> 0 \
         UNION ALL \
         SELECT concat_ws(' ', 'pair', clinician_key, client_id, months::text) FROM alliance_clinician_clients \
         WHERE organization_id = '{organization_id}' AND cardinality(months) > 0 \
         ORDER BY 1"
    ))
    .load(conn)
    .unwrap()
}

#[tokio::test]
pub async fn analytics_are_exact_for_ranges_cutting_through_months_and_follow_voids_and_cutoff_changes() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Rollup Clinic").await;
    srs_at(&app, &care, "2026-01-20T10:00:00Z", 30.0).await;
    let february = srs_at(&app, &care, "2026-02-10T10:00:00Z", 38.0).await;
    srs_at(&app, &care, "2026-03-05T10:00:00Z", 40.0).await;
    srs_at(&app, &care, "2026-03-25T10:00:00Z", 34.0).await;

    // Mid-January to mid-March: 30 (edge), 38 (whole month), 40 (edge); 34 is after the range.
    let months = analytics(&app, &care, "month", "2026-01-15T00:00:00Z", "2026-03-20T00:00:00Z").await;
    let summary: Vec<(Value, Value)> =
        months.iter().map(|g| (g["group"].clone(), g["mean_srs"]["mean"].clone())).collect();
    assert_eq!(
        summary,
        vec![(json!("2026-01"), json!(30.0)), (json!("2026-02"), json!(38.0)), (json!("2026-03"), json!(40.0))]
    );
    // Together: mean 36, SD √((36 + 4 + 16) / 2) = √28; t(0.975, 2) = 4.3027;
    // half width 4.3027 · √28 / √3 = 13.14482; below 36: one of three; at the ceiling: one.
    let clinician = &analytics(&app, &care, "clinician", "2026-01-15T00:00:00Z", "2026-03-20T00:00:00Z").await[0];
    assert_eq!((clinician["responses"].clone(), clinician["clients"].clone()), (json!(3), json!(1)));
    assert!(close(&clinician["mean_srs"]["mean"], 36.0), "{clinician}");
    assert!(close(&clinician["mean_srs"]["ci_lower"], 36.0 - 13.144_82), "{clinician}");
    assert!(close(&clinician["below_cutoff_share"], 1.0 / 3.0) && close(&clinician["ceiling_share"], 1.0 / 3.0));
    // Partial days at both ends (responses), whole days (per-day rollup), a whole month.
    let hours = analytics(&app, &care, "clinician", "2026-01-20T09:00:00Z", "2026-03-05T12:00:00Z").await;
    assert_eq!((hours[0]["responses"].clone(), hours[0]["mean_srs"]["mean"].clone()), (json!(3), json!(36.0)));
    let later = analytics(&app, &care, "clinician", "2026-01-20T10:30:00Z", "2026-03-05T09:59:59Z").await;
    assert_eq!((later[0]["responses"].clone(), later[0]["mean_srs"]["mean"].clone()), (json!(1), json!(38.0)));
    // Inside one month: only the edge query answers.
    let inside = analytics(&app, &care, "clinician", "2026-03-01T00:00:00Z", "2026-03-10T00:00:00Z").await;
    assert_eq!((inside[0]["responses"].clone(), inside[0]["mean_srs"]["mean"].clone()), (json!(1), json!(40.0)));
    // Nothing in range: no group at all.
    assert!(analytics(&app, &care, "clinician", "2025-01-01T00:00:00Z", "2025-06-01T00:00:00Z").await.is_empty());

    // A void leaves the rollup at once: January to March whole months now hold 30, 40, 34.
    let voided = app
        .post_json_as(
            &care.admin.token,
            &format!("/v1/responses/{}/void", february["id"].as_str().unwrap()),
            &json!({"reason": "entered twice"}),
        )
        .await;
    assert_eq!(voided.status(), 200);
    let whole = "2026-01-01T00:00:00Z";
    let after_void = &analytics(&app, &care, "clinician", whole, "2026-04-01T00:00:00Z").await[0];
    assert_eq!(after_void["responses"], 3);
    assert!(close(&after_void["mean_srs"]["mean"], 104.0 / 3.0) && close(&after_void["below_cutoff_share"], 2.0 / 3.0));
    let months = analytics(&app, &care, "month", whole, "2026-04-01T00:00:00Z").await;
    assert!(months.iter().all(|g| g["group"] != "2026-02"), "the voided month is gone: {months:?}");

    // A new cutoff recounts what is below it: 30 is not below 30 with "<", it is with "≤".
    for (comparator, expected) in [("lt", 0.0), ("le", 1.0 / 3.0)] {
        let response = app
            .send_json_as(
                reqwest::Method::PUT,
                &care.admin.token,
                "/v1/organization/settings",
                &json!({"srs_cutoff": 30.0, "srs_cutoff_comparator": comparator}),
            )
            .await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
        let group = &analytics(&app, &care, "clinician", whole, "2026-04-01T00:00:00Z").await[0];
        assert!(close(&group["below_cutoff_share"], expected), "{comparator}: {group}");
    }
    // New submissions after the change are counted with the new cutoff, by the trigger.
    srs_at(&app, &care, "2026-03-26T10:00:00Z", 28.0).await;
    let group = &analytics(&app, &care, "clinician", whole, "2026-04-01T00:00:00Z").await[0];
    assert!(close(&group["below_cutoff_share"], 2.0 / 4.0), "{group}");

    // What the triggers kept equals a rebuild from the responses.
    let organization = care.admin.organization_id.to_string();
    let mut conn = app.database.connect();
    let kept = rollup_rows(&mut conn, &organization);
    assert_eq!(kept.len(), 2, "January and March of one episode; February, emptied by the void, is left out");
    let kept_daily = daily_and_pair_rows(&mut conn, &organization);
    assert_eq!(kept_daily.len(), 7, "four days, two months with an SRS and one clinician–client pair: {kept_daily:?}");
    assert!(kept_daily.iter().any(|r| r.row.ends_with("{2026-01-01,2026-03-01}")), "{kept_daily:?}");
    diesel::sql_query(format!("SELECT alliance_rollup_rebuild('{organization}')")).execute(&mut conn).unwrap();
    assert_eq!(kept, rollup_rows(&mut conn, &organization));
    assert_eq!(kept_daily, daily_and_pair_rows(&mut conn, &organization));
}

#[tokio::test]
async fn insights_compare_with_the_rest_of_the_organization_over_exactly_the_range() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Comparison Clinic").await;
    let other = app.create_person(&care.admin, "clinician").await;
    let client = put_client(&app, &care.integration, "MRN-OTHER-1", "adult").await;
    let episode = open_episode(&app, &care.integration, client["id"].as_str().unwrap(), &other.id.to_string()).await;
    // The other clinician's SRS items: 5 (February 10), 9 (March 5), 8 (March 25).
    for (number, (at, item)) in
        [("2026-02-10T10:00:00Z", 5.0), ("2026-03-05T10:00:00Z", 9.0), ("2026-03-25T10:00:00Z", 8.0)]
            .into_iter()
            .enumerate()
    {
        let session = app
            .post_json_as(
                &care.integration,
                "/v1/sessions",
                &json!({"episode_id": episode["id"], "number": number + 1, "occurred_at": at}),
            )
            .await
            .json::<Value>()
            .await
            .unwrap();
        let mut body = srs(session["id"].as_str().unwrap(), [item; 4]);
        body["administered_at"] = json!(at);
        submit(&app, &care.admin.token, &body).await;
    }
    srs_at(&app, &care, "2026-03-04T10:00:00Z", 20.0).await;
    let insights = |from: &'static str, to: &'static str| {
        let url = format!("/v1/clinicians/{}/insights?from={from}&to={to}", care.clinician.id);
        let token = care.admin.token.clone();
        let app = &app;
        async move { app.get_as(&token, &url).await.json::<Value>().await.unwrap() }
    };
    let relationship = |insights: &Value| insights["areas"]["comparisons"][0]["organization"].clone();
    // Whole months January–March: 5, 9, 8 → n 3, mean 22/3.
    let whole = insights("2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z").await;
    assert_eq!(whole["areas"]["comparisons"][0]["area"], "srs:relationship");
    assert_eq!(relationship(&whole)["n"], 3);
    assert!(close(&relationship(&whole)["mean"], 22.0 / 3.0), "{whole}");
    // February 15 to March 20 (two edges, no whole month): only 9 → n 1.
    let edges = insights("2026-02-15T00:00:00Z", "2026-03-20T00:00:00Z").await;
    assert_eq!((relationship(&edges)["n"].clone(), relationship(&edges)["mean"].clone()), (json!(1), json!(9.0)));
    // February 1 to March 31 noon: February whole, March as an edge: 5, 9, 8 → SD √(((−7/3)² + (5/3)² + (2/3)²)/2) = √(13/3).
    let mixed = insights("2026-02-01T00:00:00Z", "2026-03-31T12:00:00Z").await;
    assert_eq!(relationship(&mixed)["n"], 3);
    // Own clinician: one response of 5 per item → n 1; the difference needs n ≥ 2 on both sides.
    assert_eq!(mixed["areas"]["comparisons"][0]["clinician"]["mean"], 5.0);
    let ci = &relationship(&mixed);
    let half = 4.302_653 * (13.0_f64 / 3.0).sqrt() / 3.0_f64.sqrt();
    assert!(close(&ci["ci_upper"], 22.0 / 3.0 + half), "{ci}");
}

#[tokio::test]
async fn erasing_a_client_removes_their_rollup_rows() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Erasure Rollup Clinic").await;
    srs_at(&app, &care, "2026-03-04T10:00:00Z", 30.0).await;
    let mut conn = app.database.connect();
    let organization = care.admin.organization_id.to_string();
    assert_eq!(rollup_rows(&mut conn, &organization).len(), 1);
    let erased = app.delete_as(&care.admin.token, &format!("/v1/clients/{}", care.client_id)).await;
    assert!(erased.status().is_success(), "{}", erased.status());
    assert!(rollup_rows(&mut conn, &organization).is_empty());
    assert!(analytics(&app, &care, "clinician", "2026-01-01T00:00:00Z", "2026-12-01T00:00:00Z").await.is_empty());
}

#[tokio::test]
async fn concurrent_submissions_for_one_clinician_and_day_add_up_across_shards() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Concurrent Rollup Clinic").await;
    let mut sessions = Vec::new();
    for _ in 0..12 {
        sessions.push(care.new_session(&app).await);
    }
    let submissions = sessions.iter().map(|session| {
        let mut body = srs(session, [9.0; 4]);
        body["administered_at"] = json!("2026-03-04T10:00:00Z");
        let (app, token) = (&app, care.admin.token.clone());
        async move { submit(app, &token, &body).await }
    });
    futures_util::future::join_all(submissions).await;
    let group = &analytics(&app, &care, "clinician", "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z").await[0];
    assert_eq!((group["responses"].clone(), group["mean_srs"]["mean"].clone()), (json!(12), json!(36.0)));
    let organization = care.admin.organization_id.to_string();
    let mut conn = app.database.connect();
    let kept = daily_and_pair_rows(&mut conn, &organization);
    diesel::sql_query(format!("SELECT alliance_rollup_rebuild('{organization}')")).execute(&mut conn).unwrap();
    assert_eq!(kept, daily_and_pair_rows(&mut conn, &organization));
}

/// The organization's ETR reference rows, as text.
fn etr_reference_rows(conn: &mut PgConnection, organization_id: &str) -> Vec<RollupRow> {
    diesel::sql_query(format!(
        "SELECT concat_ws(' ', instrument_key, intake_hundredths, session_number, totals::text) AS row \
         FROM etr_reference WHERE organization_id = '{organization_id}' AND cardinality(totals) > 0 ORDER BY 1"
    ))
    .load(conn)
    .unwrap()
}

#[tokio::test]
async fn the_etr_reference_follows_new_replaced_and_erased_outcome_points() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Reference Clinic").await;
    submit(&app, &care.admin.token, &ors(&care.session_id, [5.0; 4])).await;
    let second = care.new_session(&app).await;
    submit(&app, &care.admin.token, &ors(&second, [6.0; 4])).await;
    // A second ORS for the same session replaces that session's point (24 → 28).
    submit(&app, &care.admin.token, &ors(&second, [7.0; 4])).await;
    let organization = care.admin.organization_id.to_string();
    let mut conn = app.database.connect();
    let kept = etr_reference_rows(&mut conn, &organization);
    let texts: Vec<&str> = kept.iter().map(|r| r.row.as_str()).collect();
    assert_eq!(texts, vec!["ors 2000 1 {2000}", "ors 2000 2 {2800}"]);
    diesel::sql_query(format!("SELECT etr_reference_rebuild('{organization}')")).execute(&mut conn).unwrap();
    assert_eq!(kept, etr_reference_rows(&mut conn, &organization));
    let erased = app.delete_as(&care.admin.token, &format!("/v1/clients/{}", care.client_id)).await;
    assert!(erased.status().is_success(), "{}", erased.status());
    assert!(etr_reference_rows(&mut conn, &organization).is_empty());
}
