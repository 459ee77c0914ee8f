//! Alliance analytics through the API, checked against hand-computed numbers.

use crate::fixtures::{Care, likert, open_episode, ors, put_client, signal_kinds, srs, submit};
use crate::harness::{TestApp, assert_problem, spawn_app};
use serde_json::{Value, json};

/// Submits one SRS per total, a session each (sessions 1, 2, …), all items equal to total / 4.
async fn srs_series(app: &TestApp, care: &Care, totals: &[f64]) -> Vec<Value> {
    let mut bodies = Vec::new();
    for (index, total) in totals.iter().enumerate() {
        let session = if index == 0 { care.session_id.clone() } else { care.new_session(app).await };
        let item = total / 4.0;
        bodies.push(submit(app, &care.admin.token, &srs(&session, [item; 4])).await);
    }
    bodies
}

/// The API rounds every fractional analytics number to two decimals: `actual` must be exactly
/// `expected`, so rounded.
fn close(actual: &Value, expected: f64) -> bool {
    actual.as_f64().is_some_and(|a| (a - rapport::domain::analytics::round2(expected)).abs() < 1e-9)
}

#[tokio::test]
async fn a_v_shaped_rupture_is_labelled_repaired_and_raised_at_submission() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Rupture Clinic").await;
    // 38, 38, 38 → baseline 38, within SD 0, spread = fallback 2.0 (fewer than 100 org pairs);
    // k = 1 → rupture at ≤ 36.0: session 4 at 35.2 (drop 2.8). Repair: ≥ 38 − 1.0 = 37.0 at session 5.
    let bodies = srs_series(&app, &care, &[38.0, 38.0, 38.0, 35.2, 38.0]).await;
    assert!(signal_kinds(&bodies[3]).contains(&"alliance_rupture".to_owned()), "{:?}", signal_kinds(&bodies[3]));
    assert_eq!(signal_kinds(&bodies[4]), ["alliance_repair"]);
    let alliance: Value = app
        .get_as(&care.clinician.token, &format!("/v1/episodes/{}/alliance", care.episode_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(alliance["instrument"], "srs");
    assert_eq!(alliance["rule"]["org_change_sd"], Value::Null);
    let labels: Vec<(bool, bool)> = alliance["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["rupture"].as_bool().unwrap(), p["repair"].as_bool().unwrap()))
        .collect();
    assert_eq!(labels, [(false, false), (false, false), (false, false), (true, false), (false, true)]);
    assert_eq!(alliance["series"][3]["below_cutoff"], true);
    assert!(close(&alliance["series"][3]["drop"], -2.8));
    assert_eq!(alliance["series"][3]["items"]["relationship"], 8.8);
    let rupture = &alliance["ruptures"][0];
    assert_eq!(
        (rupture["baseline"].clone(), rupture["spread"].clone(), rupture["k"].clone()),
        (json!(38.0), json!(2.0), json!(1.0))
    );
    assert_eq!(
        (rupture["spread_source"].clone(), rupture["status"].clone(), rupture["repaired_at_session"].clone()),
        (json!("fallback"), json!("repaired"), json!(5))
    );
    assert!(close(&rupture["drop"], 2.8));
    assert_eq!((alliance["rupture_count"].clone(), alliance["repaired_count"].clone()), (json!(1), json!(1)));
    let kinds: Vec<&str> =
        alliance["signals"].as_array().unwrap().iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"alliance_rupture") && kinds.contains(&"alliance_repair"), "{kinds:?}");
}

#[tokio::test]
async fn a_rupture_not_repaired_within_three_sessions_stays_unrepaired() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Unrepaired Clinic").await;
    // Rupture at 35.2; then 35.6, 35.6, 35.6 are all below 37.0: the window of 3 closes.
    srs_series(&app, &care, &[38.0, 38.0, 38.0, 35.2, 35.6, 35.6, 35.6]).await;
    let alliance: Value = app
        .get_as(&care.admin.token, &format!("/v1/episodes/{}/alliance", care.episode_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(alliance["ruptures"][0]["status"], "unrepaired");
    assert_eq!((alliance["rupture_count"].clone(), alliance["unrepaired_count"].clone()), (json!(1), json!(1)));
}

#[tokio::test]
async fn a_decline_that_is_a_rupture_under_standard_is_not_under_strict() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Strict Clinic").await;
    let strict = app
        .send_json_as(
            reqwest::Method::PUT,
            &care.admin.token,
            "/v1/organization/settings",
            &json!({"rupture_sensitivity": "strict"}),
        )
        .await;
    assert_eq!(strict.status(), 200);
    // k = 2: the threshold is 38 − 2 × 2.0 = 34.0, and 35.2 is above it.
    let bodies = srs_series(&app, &care, &[38.0, 38.0, 38.0, 35.2]).await;
    assert!(!signal_kinds(&bodies[3]).contains(&"alliance_rupture".to_owned()));
    let alliance: Value = app
        .get_as(&care.admin.token, &format!("/v1/episodes/{}/alliance", care.episode_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((alliance["rule"]["k"].clone(), alliance["rupture_count"].clone()), (json!(2.0), json!(0)));
}

#[tokio::test]
async fn outcomes_classify_reliable_change_and_place_the_episode_against_its_reference_set() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Outcome Clinic").await;
    app.send_json_as(
        reqwest::Method::PUT,
        &care.admin.token,
        "/v1/organization/settings",
        &json!({"etr_min_reference": 5}),
    )
    .await;
    // Five reference episodes: intake ORS 18.0, session 2 at 20, 22, 24, 26, 28.
    for (n, second) in [20.0, 22.0, 24.0, 26.0, 28.0].iter().enumerate() {
        let client = put_client(&app, &care.integration, &format!("REF-{n}"), "adult").await;
        let episode =
            open_episode(&app, &care.integration, client["id"].as_str().unwrap(), &care.clinician.id.to_string()).await;
        for (number, total) in [(1, 18.0), (2, *second)] {
            let session = app
                .post_json_as(
                    &care.integration,
                    "/v1/sessions",
                    &json!({"episode_id": episode["id"], "number": number, "occurred_at": "2026-02-01T10:00:00Z"}),
                )
                .await
                .json::<Value>()
                .await
                .unwrap();
            submit(&app, &care.integration, &ors(session["id"].as_str().unwrap(), [total / 4.0; 4])).await;
        }
    }
    // This episode: intake 18.0, then 19.0 at session 2. Reference at session 2: 20, 22, 24, 26, 28
    // → p10 = 20 + 0.4 × 2 = 20.8, p25 = 22, p50 = 24: 19.0 < p10 → off track.
    submit(&app, &care.admin.token, &ors(&care.session_id, [4.5; 4])).await;
    let second = care.new_session(&app).await;
    let body = submit(&app, &care.admin.token, &ors(&second, [4.7, 4.8, 4.7, 4.8])).await;
    assert!(signal_kinds(&body).contains(&"off_track".to_owned()), "{:?}", signal_kinds(&body));
    // PHQ-9: 15 → 8 is a reliable improvement (−7 ≥ 6) out of caseness (≥ 10): recovered.
    submit(&app, &care.admin.token, &likert("phq-9", &care.session_id, "client", &[3, 3, 3, 3, 3, 0, 0, 0, 0])).await;
    submit(&app, &care.admin.token, &likert("phq-9", &second, "client", &[2, 2, 2, 2, 0, 0, 0, 0, 0])).await;
    let outcomes: Value = app
        .get_as(&care.admin.token, &format!("/v1/episodes/{}/outcomes", care.episode_id))
        .await
        .json()
        .await
        .unwrap();
    let ors_view = outcomes["instruments"].as_array().unwrap().iter().find(|i| i["instrument"] == "ors").unwrap();
    assert_eq!(ors_view["change"]["class"], "unchanged", "+1.0 is not reliable");
    assert_eq!(ors_view["clinical_cutoff"], 25.0);
    let etr = &ors_view["etr"];
    assert_eq!((etr["status"].clone(), etr["reference_count"].clone()), (json!("off_track"), json!(5)));
    let band = etr["band"].as_array().unwrap().iter().find(|b| b["session_number"] == 2).unwrap();
    assert!(
        close(&band["p10"], 20.8)
            && close(&band["p25"], 22.0)
            && close(&band["p50"], 24.0)
            && close(&band["p90"], 27.2)
    );
    let phq = outcomes["instruments"].as_array().unwrap().iter().find(|i| i["instrument"] == "phq-9").unwrap();
    assert_eq!((phq["change"]["class"].clone(), phq["change"]["change"].clone()), (json!("recovered"), json!(-7.0)));
    assert!(phq["etr"].is_null());

    // A reference episode's view: intake 18 → 28 is recovered (+10, out of the clinical range).
    let episodes: Value = app.get_as(&care.admin.token, "/v1/episodes").await.json().await.unwrap();
    let last = episodes["items"].as_array().unwrap().last().unwrap()["id"].as_str().unwrap().to_owned();
    let reference: Value =
        app.get_as(&care.admin.token, &format!("/v1/episodes/{last}/outcomes")).await.json().await.unwrap();
    assert_eq!(reference["instruments"][0]["change"]["class"], "recovered");
}

#[tokio::test]
async fn insufficient_reference_says_how_many_there_were() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Small Clinic").await;
    submit(&app, &care.admin.token, &ors(&care.session_id, [5.0; 4])).await;
    let outcomes: Value = app
        .get_as(&care.admin.token, &format!("/v1/episodes/{}/outcomes", care.episode_id))
        .await
        .json()
        .await
        .unwrap();
    let ors_view = &outcomes["instruments"][0];
    assert_eq!(ors_view["change"]["class"], "insufficient_data");
    assert_eq!(
        (ors_view["etr"]["status"].clone(), ors_view["etr"]["reference_count"].clone()),
        (json!("insufficient_reference"), json!(0))
    );
}

#[tokio::test]
async fn clinician_insights_match_the_hand_computed_numbers() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Insight Clinic").await;
    srs_series(&app, &care, &[38.0, 38.0, 38.0, 35.2, 38.0]).await;
    let url =
        format!("/v1/clinicians/{}/insights?from=2026-01-01T00:00:00Z&to=2026-12-31T00:00:00Z", care.clinician.id);
    let insights: Value = app.get_as(&care.clinician.token, &url).await.json().await.unwrap();
    // Totals 38, 38, 38, 35.2, 38: mean 37.44; SD √(6.272 / 4) = 1.2522; t(0.975, 4) = 2.7764;
    // half width 2.776445 × 1.252198 / √5 = 1.554792 → [35.885208, 38.994792], served as [35.89, 38.99].
    let mean = &insights["alliance"]["mean_srs"];
    assert!(
        close(&mean["mean"], 37.44) && close(&mean["ci_lower"], 35.885_208) && close(&mean["ci_upper"], 38.994_792),
        "{mean}"
    );
    assert_eq!(insights["alliance"]["below_cutoff_share"], 0.2);
    assert_eq!(insights["alliance"]["ruptures"], 1);
    assert_eq!(insights["alliance"]["ruptures_per_100_sessions"], 20.0);
    assert_eq!(insights["alliance"]["repair_rate"], 1.0);
    assert_eq!(insights["alliance"]["ceiling_share"], 0.0);
    assert_eq!((insights["volume"]["clients"].clone(), insights["volume"]["sessions"].clone()), (json!(1), json!(5)));
    assert_eq!(insights["volume"]["srs_completion_rate"], 1.0);
    assert_eq!(insights["low_reliability"], true);
    assert!(insights["areas"]["area_for_growth"].is_null(), "no other clinician to compare with");
    let other = app.create_person(&care.admin, "clinician").await;
    assert_problem(app.get_as(&other.token, &url).await, 403, "forbidden").await;
    assert_problem(
        app.get_as(&care.admin.token, &format!("/v1/clinicians/{}/insights", uuid::Uuid::now_v7())).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.get_as(
            &care.admin.token,
            &format!("/v1/clinicians/{}/insights?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", care.clinician.id),
        )
        .await,
        400,
        "invalid_query",
    )
    .await;
}

#[tokio::test]
async fn organization_analytics_suppress_small_cells_for_everyone_but_admins() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Analytics Clinic").await;
    srs_series(&app, &care, &[38.0, 30.0]).await;
    let url = "/v1/analytics/alliance?group_by=clinician&from=2026-01-01T00:00:00Z&to=2026-12-31T00:00:00Z";
    let admin: Value = app.get_as(&care.admin.token, url).await.json().await.unwrap();
    let group = &admin["groups"][0];
    assert_eq!(
        (group["group"].clone(), group["clients"].clone(), group["suppressed"].clone()),
        (json!(care.clinician.id), json!(1), json!(false))
    );
    assert_eq!((group["mean_srs"]["mean"].clone(), group["below_cutoff_share"].clone()), (json!(34.0), json!(0.5)));
    let analyst: Value = app.get_as(&care.analyst.token, url).await.json().await.unwrap();
    let group = &analyst["groups"][0];
    assert_eq!(
        (group["clients"].clone(), group["suppressed"].clone(), group["mean_srs"].clone()),
        (json!("<5"), json!(true), Value::Null)
    );
    assert_problem(
        app.get_as(&care.analyst.token, "/v1/analytics/alliance?group_by=attribute:ethnicity").await,
        400,
        "invalid_query",
    )
    .await;
    assert_problem(
        app.get_as(&care.analyst.token, "/v1/analytics/alliance?group_by=shoe_size").await,
        400,
        "invalid_query",
    )
    .await;
    app.send_json_as(
        reqwest::Method::PUT,
        &care.admin.token,
        "/v1/organization/settings",
        &json!({"declared_attributes": ["cultural_group"]}),
    )
    .await;
    let by_attribute: Value = app.get_as(&care.admin.token, "/v1/analytics/alliance?group_by=attribute:cultural_group&from=2026-01-01T00:00:00Z&to=2026-12-31T00:00:00Z").await.json().await.unwrap();
    assert_eq!(by_attribute["groups"][0]["group"], Value::Null, "the client has no such attribute");
    let by_month: Value = app
        .get_as(
            &care.admin.token,
            "/v1/analytics/alliance?group_by=month&from=2026-01-01T00:00:00Z&to=2026-12-31T00:00:00Z",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_month["groups"][0]["group"], "2026-03");
}

#[tokio::test]
async fn clinician_insights_judge_an_adolescent_caseload_against_the_adolescent_ors_cutoff() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Youth Clinic").await;
    // Two adolescents, ORS 18 → 26.4 each: +8.4 is reliable (5). 26.4 is non-clinical for an
    // adult (25) but still clinical for an adolescent (28): improved, not recovered.
    for external_id in ["TEEN-1", "TEEN-2"] {
        let client = put_client(&app, &care.integration, external_id, "adolescent").await;
        let episode =
            open_episode(&app, &care.integration, client["id"].as_str().unwrap(), &care.clinician.id.to_string()).await;
        for (number, each) in [(1, 4.5), (2, 6.6)] {
            let session = app
                .post_json_as(
                    &care.integration,
                    "/v1/sessions",
                    &json!({"episode_id": episode["id"], "number": number, "occurred_at": format!("2026-03-0{number}T10:00:00Z")}),
                )
                .await
                .json::<Value>()
                .await
                .unwrap();
            let form = ors(session["id"].as_str().unwrap(), [each; 4]);
            let stored = submit(&app, &care.integration, &form).await;
            assert_eq!(stored["scores"]["band"], "clinical", "18 and 26.4 are below 28: clinical for an adolescent");
        }
    }
    let url =
        format!("/v1/clinicians/{}/insights?from=2026-01-01T00:00:00Z&to=2026-12-31T00:00:00Z", care.clinician.id);
    let insights: Value = app.get_as(&care.clinician.token, &url).await.json().await.unwrap();
    let outcomes = &insights["outcomes"];
    assert_eq!(outcomes["episodes"], 2, "{outcomes}");
    assert_eq!((outcomes["recovered"].clone(), outcomes["improved"].clone()), (json!(0.0), json!(1.0)), "{outcomes}");
    assert!(close(&outcomes["mean_change"], 8.4), "{outcomes}");
}
