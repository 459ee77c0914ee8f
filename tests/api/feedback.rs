//! Feedback forms end to end: an EHR structures care, an app submits the forms, Rapport scores
//! them and raises signals.

use crate::fixtures::{Care, likert, ors, put_client, signal_kinds, srs, submit, submit_keyed};
use crate::harness::{assert_problem, spawn_app};
use serde_json::{Value, json};

#[tokio::test]
async fn an_ehr_and_an_app_record_a_session_and_get_correct_scores_and_signals() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Whole Session Clinic").await;
    // The EHR's upsert is repeatable.
    let first = put_client(&app, &care.integration, "MRN-REPEAT", "adult").await;
    let again = put_client(&app, &care.integration, "MRN-REPEAT", "adult").await;
    assert_eq!(first["id"], again["id"]);

    let (request, client) =
        care.client_token(&app, &care.session_id, &["srs", "ors", "wai-sr", "phq-9", "gad-7"]).await;
    assert_eq!(request["items"].as_array().unwrap().len(), 5);
    let mine: Value = app.get_as(&client, "/v1/me/form-requests").await.json().await.unwrap();
    let instruments = mine["items"][0]["instruments"].as_array().unwrap();
    let phq = instruments.iter().find(|i| i["key"] == "phq-9").unwrap();
    assert_eq!(phq["items"][0]["text"], "Little interest or pleasure in doing things");
    let srs_definition = instruments.iter().find(|i| i["key"] == "srs").unwrap();
    assert!(srs_definition["items"][0].get("text").is_none(), "licensed wording is not shipped");

    // SRS 9.1 + 8.4 + 9.0 + 8.8 = 35.3 < 36.
    let body = submit(&app, &client, &srs(&care.session_id, [9.1, 8.4, 9.0, 8.8])).await;
    assert_eq!(body["scores"]["total"], 35.3);
    assert_eq!(body["scores"]["item_mean"], 8.83);
    assert_eq!(body["scores"]["band"], "below_cutoff");
    assert_eq!(body["answers"]["relationship"], 9.1);
    assert_eq!(body["instrument_version"], 1);
    assert_eq!(signal_kinds(&body), ["alliance_below_cutoff"]);
    // ORS 5.0 + 6.0 + 7.0 + 4.5 = 22.5 < 25 (adult): clinical.
    let body = submit(&app, &client, &ors(&care.session_id, [5.0, 6.0, 7.0, 4.5])).await;
    assert_eq!((body["scores"]["total"].clone(), body["scores"]["band"].clone()), (json!(22.5), json!("clinical")));
    // WAI-SR: goal 16 (4.00), task 17 (4.25), bond 15 (3.75), total 48.
    let body =
        submit(&app, &client, &likert("wai-sr", &care.session_id, "client", &[5, 4, 3, 5, 4, 3, 5, 4, 3, 5, 4, 3]))
            .await;
    assert_eq!(body["scores"]["total"], 48.0);
    assert_eq!(body["scores"]["subscales"]["task"]["item_mean"], 4.25);
    assert_eq!(body["scores"]["subscales"]["bond"]["total"], 15.0);
    // PHQ-9 all ones = 9 (mild) with item 9 > 0: a critical safety signal.
    let body = submit(&app, &client, &likert("phq-9", &care.session_id, "client", &[1; 9])).await;
    assert_eq!((body["scores"]["total"].clone(), body["scores"]["band"].clone()), (json!(9.0), json!("mild")));
    assert_eq!(signal_kinds(&body), ["safety_item"]);
    assert_eq!(body["signals"][0]["severity"], "critical");
    // GAD-7 2+2+2+2+1+1+0 = 10 (moderate).
    let body = submit(&app, &client, &likert("gad-7", &care.session_id, "client", &[2, 2, 2, 2, 1, 1, 0])).await;
    assert_eq!((body["scores"]["total"].clone(), body["scores"]["band"].clone()), (json!(10.0), json!("moderate")));

    // Each form once; nothing else for a client token.
    let twice = app.post_json_as(&client, "/v1/responses", &srs(&care.session_id, [9.0; 4])).await;
    assert_problem(twice, 409, "form_already_submitted").await;
    assert_problem(app.get_as(&client, "/v1/clients").await, 403, "forbidden").await;
    let done: Value = app.get_as(&client, "/v1/me/form-requests").await.json().await.unwrap();
    assert!(done["items"][0]["items"].as_array().unwrap().iter().all(|i| i["response_id"].is_string()));

    // The therapist's WAI-SR-T, a point lower on every goal item: a discrepancy on goal.
    let body = submit(
        &app,
        &care.clinician.token,
        &likert("wai-sr-t", &care.session_id, "therapist", &[5, 4, 3, 4, 4, 2, 5, 3, 3, 5, 3, 3]),
    )
    .await;
    assert_eq!(signal_kinds(&body), ["alliance_discrepancy"]);
    assert_eq!(body["signals"][0]["evidence"]["subscales"][0]["subscale"], "goal");
    assert_eq!(body["signals"][0]["evidence"]["subscales"][0]["difference"], 1.0);

    let signals: Value = app
        .get_as(&care.clinician.token, &format!("/v1/signals?episode_id={}", care.episode_id))
        .await
        .json()
        .await
        .unwrap();
    let mut kinds: Vec<&str> =
        signals["items"].as_array().unwrap().iter().map(|s| s["kind"].as_str().unwrap()).collect();
    kinds.sort();
    assert_eq!(kinds, ["alliance_below_cutoff", "alliance_discrepancy", "safety_item"], "each signal exactly once");
}

#[tokio::test]
async fn bad_submissions_are_refused_whole_with_a_pointer_per_bad_item() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Strict Forms Clinic").await;
    let s = care.session_id.clone();
    let with_answers = |answers: Value| {
        let mut body = srs(&s, [9.0; 4]);
        body["answers"] = answers;
        body
    };
    let full = |relationship: Value| {
        with_answers(json!({"relationship": relationship, "goals_topics": 9, "approach_method": 9, "overall": 9}))
    };
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (full(json!(10.1)), vec!["/answers/relationship"]),
        (full(json!(-0.1)), vec!["/answers/relationship"]),
        (full(json!(9.15)), vec!["/answers/relationship"]),
        (full(json!("9")), vec!["/answers/relationship"]),
        (full(json!(null)), vec!["/answers/relationship"]),
        (full(json!([9])), vec!["/answers/relationship"]),
        (full(json!(1e300)), vec!["/answers/relationship"]),
        (
            with_answers(json!({"relationship": 9, "goals_topics": 9})),
            vec!["/answers/approach_method", "/answers/overall"],
        ),
        (
            with_answers(json!({"relationship": 9, "goals_topics": 9, "approach_method": 9, "overall": 9, "mood": 3})),
            vec!["/answers/mood"],
        ),
        (
            with_answers(json!({"relationship": 11, "goals_topics": "x", "approach_method": 9.25, "overall": 9})),
            // json! sorts keys; errors come in the order the items were sent.
            vec!["/answers/approach_method", "/answers/goals_topics", "/answers/relationship"],
        ),
        (with_answers(json!([1, 2])), vec!["/answers"]),
        (
            {
                let mut b = srs(&s, [9.0; 4]);
                b["instrument"] = json!("nope");
                b
            },
            vec!["/instrument"],
        ),
        (
            {
                let mut b = srs(&s, [9.0; 4]);
                b["rater"] = json!("therapist");
                b
            },
            vec!["/rater"],
        ),
        (
            {
                let mut b = srs(&s, [9.0; 4]);
                b["rater"] = json!("robot");
                b
            },
            vec!["/rater"],
        ),
        (
            {
                let mut b = srs(&s, [9.0; 4]);
                b["session_id"] = json!(uuid::Uuid::now_v7());
                b
            },
            vec!["/session_id"],
        ),
        (
            {
                let mut b = srs(&s, [9.0; 4]);
                b.as_object_mut().unwrap().remove("session_id");
                b
            },
            vec!["/session_id"],
        ),
        (
            {
                let mut b = srs(&s, [9.0; 4]);
                b["administered_at"] = json!("yesterday");
                b
            },
            vec!["/administered_at"],
        ),
        (
            {
                let mut b = srs(&s, [9.0; 4]);
                b["score"] = json!(40);
                b
            },
            vec!["/score"],
        ),
        (
            {
                let mut b = srs(&s, [9.0; 4]);
                b["comment"] = json!("a\u{0}b");
                b
            },
            vec!["/comment"],
        ),
    ];
    for (body, pointers) in cases {
        let problem =
            assert_problem(app.post_json_as(&care.admin.token, "/v1/responses", &body).await, 422, "validation").await;
        let found: Vec<&str> =
            problem["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap()).collect();
        assert_eq!(found, pointers, "{body}");
    }
    // A key given twice is refused rather than silently taking the last.
    let duplicate = format!(
        r#"{{"instrument":"srs","session_id":"{s}","rater":"client","administered_at":"2026-03-02T10:00:00Z",
            "answers":{{"relationship":9,"relationship":2,"goals_topics":9,"approach_method":9,"overall":9}}}}"#
    );
    let response = app
        .client
        .post(app.url("/v1/responses"))
        .bearer_auth(&care.admin.token)
        .header("content-type", "application/json")
        .body(duplicate)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 422, "validation").await;
    assert_eq!(problem["errors"][0]["pointer"], "/answers/relationship");
    let stored: Value = app.get_as(&care.admin.token, "/v1/responses").await.json().await.unwrap();
    assert!(stored["items"].as_array().unwrap().is_empty(), "nothing was partially stored");
}

#[tokio::test]
async fn an_idempotency_key_replays_refuses_another_body_and_stores_once_under_concurrency() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Idempotent Clinic").await;
    let body = srs(&care.session_id, [9.5, 9.5, 9.5, 9.5]);
    let send = |key: &'static str, body: Value| {
        let (app, token) = (&app, care.integration.clone());
        async move { submit_keyed(app, &token, key, &body).await }
    };
    let first = send("visit-1", body.clone()).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let replay = send("visit-1", body.clone()).await;
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.json::<Value>().await.unwrap(), first, "the stored first answer again");
    let other = send("visit-1", srs(&care.session_id, [1.0; 4])).await;
    assert_problem(other, 422, "validation").await;

    let concurrent: Vec<_> = (0..8).map(|_| send("visit-2", srs(&care.session_id, [8.5; 4]))).collect();
    let answers = futures_util::future::join_all(concurrent).await;
    let mut bodies = Vec::new();
    for answer in answers {
        assert_eq!(answer.status(), 201);
        bodies.push(answer.json::<Value>().await.unwrap());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "N identical answers");
    let stored: Value = app.get_as(&care.admin.token, "/v1/responses").await.json().await.unwrap();
    assert_eq!(stored["items"].as_array().unwrap().len(), 2, "one response per key");
    let too_long = app
        .client
        .post(app.url("/v1/responses"))
        .bearer_auth(&care.integration)
        .header("idempotency-key", "k".repeat(256))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(too_long, 400, "invalid_idempotency_key").await;
}

#[tokio::test]
async fn a_drop_is_raised_once_and_signals_are_acknowledged_then_resolved() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Signal Clinic").await;
    submit(&app, &care.admin.token, &srs(&care.session_id, [9.5; 4])).await;
    let second = care.new_session(&app).await;
    // 38.0 → 36.0: a fall of 2.0, not below 36.
    let body = submit(&app, &care.admin.token, &srs(&second, [9.0; 4])).await;
    assert_eq!(signal_kinds(&body), ["alliance_drop"]);
    assert_eq!(body["signals"][0]["evidence"]["change"], -2.0);
    assert_eq!(body["signals"][0]["response_ids"].as_array().unwrap().len(), 2);
    let id = body["signals"][0]["id"].as_str().unwrap();
    let listed: Value =
        app.get_as(&care.supervisor.token, "/v1/signals?kind=alliance_drop").await.json().await.unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);

    let acknowledged: Value = app
        .post_json_as(&care.supervisor.token, &format!("/v1/signals/{id}/acknowledge"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(acknowledged["status"], "acknowledged");
    assert_eq!(acknowledged["acknowledged_by"], care.supervisor.id.to_string());
    assert_problem(
        app.post_json_as(&care.supervisor.token, &format!("/v1/signals/{id}/acknowledge"), &json!({})).await,
        409,
        "signal_state",
    )
    .await;
    let resolved: Value = app
        .post_json_as(&care.clinician.token, &format!("/v1/signals/{id}/resolve"), &json!({"note": "discussed"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (resolved["status"].clone(), resolved["resolution_note"].clone()),
        (json!("resolved"), json!("discussed"))
    );
    assert_problem(
        app.post_json_as(&care.clinician.token, &format!("/v1/signals/{id}/resolve"), &json!({})).await,
        409,
        "signal_state",
    )
    .await;
    let open: Value = app.get_as(&care.admin.token, "/v1/signals?status=open").await.json().await.unwrap();
    assert!(open["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_voided_response_leaves_the_series() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Void Clinic").await;
    let first = submit(&app, &care.admin.token, &srs(&care.session_id, [10.0; 4])).await;
    let voided = app
        .post_json_as(
            &care.admin.token,
            &format!("/v1/responses/{}/void", first["id"].as_str().unwrap()),
            &json!({"reason": "wrong client"}),
        )
        .await;
    assert_eq!(voided.status(), 200);
    assert_eq!(voided.json::<Value>().await.unwrap()["void_reason"], "wrong client");
    let again = app
        .post_json_as(
            &care.admin.token,
            &format!("/v1/responses/{}/void", first["id"].as_str().unwrap()),
            &json!({"reason": "x"}),
        )
        .await;
    assert_problem(again, 409, "already_void").await;
    let second = care.new_session(&app).await;
    let body = submit(&app, &care.admin.token, &srs(&second, [9.0; 4])).await;
    assert!(signal_kinds(&body).is_empty(), "no drop against a voided response: {body}");
}

#[tokio::test]
async fn a_clinician_works_only_within_its_caseload() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Caseload Forms Clinic").await;
    let other = app.create_person(&care.admin, "clinician").await;
    let response = submit(&app, &care.clinician.token, &srs(&care.session_id, [5.0; 4])).await;
    let id = response["id"].as_str().unwrap();
    assert_problem(app.get_as(&other.token, &format!("/v1/episodes/{}", care.episode_id)).await, 404, "not_found")
        .await;
    assert_problem(app.get_as(&other.token, &format!("/v1/responses/{id}")).await, 404, "not_found").await;
    for list in ["/v1/responses", "/v1/signals", "/v1/episodes", "/v1/clients"] {
        let page: Value = app.get_as(&other.token, list).await.json().await.unwrap();
        assert!(page["items"].as_array().unwrap().is_empty(), "{list}");
    }
    let refused = app.post_json_as(&other.token, "/v1/responses", &srs(&care.session_id, [9.0; 4])).await;
    let problem = assert_problem(refused, 422, "validation").await;
    assert_eq!(problem["errors"][0]["pointer"], "/session_id");
    // Opening an episode is no way into another clinician's client, nor a way to learn that it
    // exists: it is refused exactly like an unknown client.
    let taken = app
        .post_json_as(
            &other.token,
            "/v1/episodes",
            &json!({"client_id": care.client_id, "clinician_id": other.id, "started_on": "2026-04-01"}),
        )
        .await;
    let taken = assert_problem(taken, 422, "validation").await;
    let unknown = app
        .post_json_as(
            &other.token,
            "/v1/episodes",
            &json!({"client_id": uuid::Uuid::now_v7(), "clinician_id": other.id, "started_on": "2026-04-01"}),
        )
        .await;
    let unknown = assert_problem(unknown, 422, "validation").await;
    assert_eq!(taken["errors"], unknown["errors"]);
    // Its own client and episode work.
    let mine = app.create_client(&other.token, "MRN-OWN").await;
    let episode = app
        .post_json_as(
            &other.token,
            "/v1/episodes",
            &json!({"client_id": mine["id"], "clinician_id": other.id, "started_on": "2026-04-01"}),
        )
        .await;
    assert_eq!(episode.status(), 201);
    let visible: Value = app.get_as(&other.token, "/v1/clients").await.json().await.unwrap();
    assert_eq!(visible["items"][0]["id"], mine["id"]);
}

#[tokio::test]
async fn an_idempotency_key_belongs_to_its_caller_and_a_replay_is_checked_and_audited() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Keyed Clinic").await;
    let other_clinician = app.create_person(&care.admin, "clinician").await;
    let body = srs(&care.session_id, [9.5, 9.5, 9.5, 9.5]);
    let send = |token: String, key: &'static str| {
        let (app, body) = (&app, body.clone());
        async move { submit_keyed(app, &token, key, &body).await }
    };
    let first = send(care.clinician.token.clone(), "visit-42").await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let response_id = first["id"].as_str().unwrap().to_owned();

    // Another clinician, whose caseload does not hold the session: the same key is not theirs,
    // and the request fails exactly as it does without a key. Nothing of the first leaks.
    let stranger = send(other_clinician.token.clone(), "visit-42").await;
    let problem = assert_problem(stranger, 422, "validation").await;
    assert_eq!(problem["errors"][0]["pointer"], "/session_id");
    assert!(!problem.to_string().contains(&response_id), "{problem}");

    // A client token for another form request: refused, not replayed.
    let second_session = care.new_session(&app).await;
    let (_, client_token) = care.client_token(&app, &second_session, &["srs"]).await;
    let client = send(client_token, "visit-42").await;
    assert_eq!(client.status(), 422, "{}", client.text().await.unwrap());

    // The caller itself replays, and the replay is audited.
    let replay = send(care.clinician.token.clone(), "visit-42").await;
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.json::<Value>().await.unwrap(), first);
    let events: Value =
        app.get_as(&care.admin.token, "/v1/audit-events?action=response.replay").await.json().await.unwrap();
    let replays = events["items"].as_array().unwrap();
    assert_eq!(replays.len(), 1, "{events}");
    assert_eq!(replays[0]["resource_id"], response_id.as_str());
    assert_eq!(replays[0]["actor_id"], care.clinician.id.to_string());

    // Once the clinician no longer has the episode, a replay fails as a fresh request would.
    let moved = app
        .patch_json_as(
            &care.admin.token,
            &format!("/v1/episodes/{}", care.episode_id),
            &json!({"clinician_id": other_clinician.id}),
        )
        .await;
    assert_eq!(moved.status(), 200, "{}", moved.text().await.unwrap());
    let after_move = send(care.clinician.token.clone(), "visit-42").await;
    assert_problem(after_move, 422, "validation").await;
    let stored: Value = app.get_as(&care.admin.token, "/v1/responses").await.json().await.unwrap();
    assert_eq!(stored["items"].as_array().unwrap().len(), 1, "still one response");
}

#[tokio::test]
async fn a_form_without_administered_at_is_dated_on_receipt_and_says_so() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Undated Clinic").await;
    let mut body = srs(&care.session_id, [9.0, 9.0, 9.0, 9.0]);
    body.as_object_mut().unwrap().remove("administered_at");
    let before = chrono::Utc::now();
    let created = crate::fixtures::submit(&app, &care.integration, &body).await;
    let after = chrono::Utc::now();
    assert_eq!(created["administered_at_defaulted"], true);
    let at: chrono::DateTime<chrono::Utc> = created["administered_at"].as_str().unwrap().parse().unwrap();
    assert!(at >= before - chrono::Duration::seconds(1) && at <= after + chrono::Duration::seconds(1), "{at}");
    let read: Value = app
        .get_as(&care.admin.token, &format!("/v1/responses/{}", created["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["administered_at_defaulted"], true);
    let dated = crate::fixtures::submit(&app, &care.integration, &srs(&care.session_id, [9.0; 4])).await;
    assert_eq!(dated["administered_at_defaulted"], false);
    let mut future = srs(&care.session_id, [9.0; 4]);
    future["administered_at"] = json!((chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339());
    let response = app.post_json_as(&care.integration, "/v1/responses", &future).await;
    let problem = assert_problem(response, 422, "validation").await;
    assert_eq!(problem["errors"][0]["pointer"], "/administered_at");
}

#[tokio::test]
async fn stored_idempotent_answers_go_with_the_client_and_after_their_replay_window() {
    use diesel::prelude::*;
    let app = spawn_app().await;
    let care = Care::new(&app, "Forgetful Clinic").await;
    let send = |key: &'static str, session: String| {
        let (app, token) = (&app, care.integration.clone());
        async move { assert_eq!(submit_keyed(app, &token, key, &srs(&session, [9.0; 4])).await.status(), 201) }
    };
    send("old", care.session_id.clone()).await;
    send("recent", care.new_session(&app).await).await;
    let count = |conn: &mut diesel::PgConnection| -> i64 {
        diesel::dsl::select(diesel::dsl::sql::<diesel::sql_types::BigInt>("(SELECT count(*) FROM idempotency_keys)"))
            .get_result(conn)
            .unwrap()
    };
    let mut conn = app.database.connect();
    assert_eq!(count(&mut conn), 2);
    diesel::sql_query("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'old'")
        .execute(&mut conn)
        .unwrap();
    assert_eq!(app.db.purge_expired_answers().await.unwrap(), 1, "only the one past 24 h");
    assert_eq!(count(&mut conn), 1);
    // Erasing the client takes the stored answer that repeats its data with it.
    let erased = app.delete_as(&care.admin.token, &format!("/v1/clients/{}", care.client_id)).await;
    assert_eq!(erased.status(), 204, "{}", erased.text().await.unwrap());
    assert_eq!(count(&mut conn), 0);
}
