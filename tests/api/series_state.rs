//! The stored running state of a series (docs/scaling.md, "Series state"): however responses
//! arrive (in order, late, or voided later), the state a submission leaves behind is the one the
//! whole series gives, and the signals it raises name the right responses.

use crate::fixtures::{Care, signal_kinds, srs, submit};
use crate::harness::{TestApp, spawn_app};
use diesel::prelude::*;
use rapport::domain::analytics::RuptureSettings;
use rapport::domain::series_state::SeriesState;
use rapport::domain::signals::EarlierScore;
use serde_json::{Value, json};
use uuid::Uuid;

/// The stored state of the episode's client SRS series, and the state the whole series gives.
fn stored_and_whole(app: &TestApp, care: &Care) -> (SeriesState, SeriesState) {
    let mut conn = app.database.connect();
    let episode: Uuid = care.episode_id.parse().unwrap();
    let stored: Value = diesel::sql_query(
        "SELECT state AS value FROM series_states WHERE episode_id = $1 AND instrument_key = 'srs' AND rater = 'client'",
    )
    .bind::<diesel::sql_types::Uuid, _>(episode)
    .get_result::<JsonValue>(&mut conn)
    .expect("the series has a stored state")
    .value;
    let rows: Vec<SeriesPoint> = diesel::sql_query(
        "SELECT r.id, s.number, r.total_hundredths FROM responses r \
         LEFT JOIN sessions s ON s.organization_id = r.organization_id AND s.id = r.session_id \
         WHERE r.episode_id = $1 AND r.instrument_key = 'srs' AND r.rater = 'client' AND r.voided_at IS NULL \
         ORDER BY coalesce(s.number, 2147483647), r.administered_at, r.id",
    )
    .bind::<diesel::sql_types::Uuid, _>(episode)
    .load(&mut conn)
    .unwrap();
    let points: Vec<EarlierScore> = rows
        .iter()
        .map(|p| EarlierScore {
            response_id: p.id,
            session_number: p.number,
            total: f64::from(p.total_hundredths) / 100.0,
        })
        .collect();
    (serde_json::from_value(stored).unwrap(), SeriesState::from_series(&points, &RuptureSettings::default()))
}

#[derive(QueryableByName)]
struct JsonValue {
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    value: Value,
}

#[derive(QueryableByName)]
struct SeriesPoint {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Integer>)]
    number: Option<i32>,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    total_hundredths: i32,
}

#[tokio::test]
async fn late_entries_and_voids_leave_the_state_the_whole_series_gives() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Series State Clinic").await;
    let mut sessions = vec![care.session_id.clone()];
    for _ in 0..5 {
        sessions.push(care.new_session(&app).await);
    }
    let token = care.admin.token.clone();
    // Sessions 1, 2 and 4 in order; the state is continued point by point.
    let first = submit(&app, &token, &srs(&sessions[0], [9.5; 4])).await;
    let second = submit(&app, &token, &srs(&sessions[1], [9.5; 4])).await;
    submit(&app, &token, &srs(&sessions[3], [9.0; 4])).await;
    let (stored, whole) = stored_and_whole(&app, &care);
    assert_eq!((stored.count(), &stored), (3, &whole));
    // Session 3 arrives late: it sorts before session 4, so the state is rebuilt around it.
    submit(&app, &token, &srs(&sessions[2], [9.4; 4])).await;
    let (stored, whole) = stored_and_whole(&app, &care);
    assert_eq!((stored.count(), stored.last.as_ref().map(|l| l.total)), (4, Some(36.0)));
    assert_eq!(stored, whole);
    // A void drops the state; the next submission rebuilds it without the voided point.
    let voided = app
        .post_json_as(
            &token,
            &format!("/v1/responses/{}/void", second["id"].as_str().unwrap()),
            &json!({"reason": "twice"}),
        )
        .await;
    assert_eq!(voided.status(), 200);
    submit(&app, &token, &srs(&sessions[4], [9.5; 4])).await;
    let (stored, whole) = stored_and_whole(&app, &care);
    assert_eq!((stored.count(), &stored), (4, &whole));
    assert_eq!(stored.first.as_ref().map(|f| f.response_id.to_string()), first["id"].as_str().map(str::to_owned));
}

#[tokio::test]
async fn a_repair_names_the_response_of_the_rupture_it_repairs() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Repair Evidence Clinic").await;
    let token = care.admin.token.clone();
    let mut bodies = Vec::new();
    // 38, 38, 38, then 35.2 (a rupture below 36), then 38 (a repair at ≥ 37).
    for (index, total) in [38.0, 38.0, 38.0, 35.2, 38.0].iter().enumerate() {
        let session = if index == 0 { care.session_id.clone() } else { care.new_session(&app).await };
        bodies.push(submit(&app, &token, &srs(&session, [total / 4.0; 4])).await);
    }
    assert!(signal_kinds(&bodies[3]).contains(&"alliance_rupture".to_owned()));
    let repair = bodies[4]["signals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "alliance_repair")
        .expect("the fifth response raises a repair")
        .clone();
    assert_eq!(repair["response_ids"], json!([bodies[4]["id"], bodies[3]["id"]]));
    assert_eq!(repair["evidence"]["rupture_session"], 4);
}
