//! Configuring forms: versioned settings, instruments and their texts, custom versions, and
//! batches.

use crate::fixtures::{Care, ors, signal_kinds, srs, submit};
use crate::harness::{assert_problem, spawn_app};
use crate::role_matrix::custom_instrument;
use serde_json::{Value, json};

#[tokio::test]
async fn settings_are_versioned_and_each_response_keeps_the_version_that_scored_it() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Settings Clinic").await;
    let defaults: Value = app.get_as(&care.clinician.token, "/v1/organization/settings").await.json().await.unwrap();
    assert_eq!(defaults["version"], 0);
    assert_eq!(defaults["settings"]["srs_cutoff"], 36.0);
    let before = submit(&app, &care.admin.token, &srs(&care.session_id, [9.1, 8.4, 9.0, 8.8])).await;
    let bad = app
        .send_json_as(
            reqwest::Method::PUT,
            &care.admin.token,
            "/v1/organization/settings",
            &json!({"srs_cutoff": 50, "small_cell_k": 1}),
        )
        .await;
    let problem = assert_problem(bad, 422, "validation").await;
    assert_eq!(problem["errors"].as_array().unwrap().len(), 2);
    let put = app
        .send_json_as(
            reqwest::Method::PUT,
            &care.admin.token,
            "/v1/organization/settings",
            &json!({"srs_cutoff": 35.0, "srs_cutoff_comparator": "le"}),
        )
        .await;
    assert_eq!(put.json::<Value>().await.unwrap()["version"], 1);
    let session = care.new_session(&app).await;
    let after = submit(&app, &care.admin.token, &srs(&session, [9.1, 8.4, 9.0, 8.8])).await;
    assert_eq!(
        (after["settings_version"].clone(), after["scores"]["band"].clone()),
        (json!(1), json!("at_or_above_cutoff"))
    );
    let kept: Value = app
        .get_as(&care.admin.token, &format!("/v1/responses/{}", before["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((kept["settings_version"].clone(), kept["scores"]["band"].clone()), (json!(0), json!("below_cutoff")));
}

#[tokio::test]
async fn instruments_are_listed_texts_uploaded_and_custom_versions_never_rescore() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Instrument Clinic").await;
    let list: Value = app.get_as(&care.analyst.token, "/v1/instruments").await.json().await.unwrap();
    let keys: Vec<&str> = list["items"].as_array().unwrap().iter().map(|i| i["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["cors", "csrs", "gad-7", "ors", "phq-9", "srs", "wai-sr", "wai-sr-t"]);
    let srs_view: Value = app.get_as(&care.admin.token, "/v1/instruments/srs").await.json().await.unwrap();
    assert_eq!((srs_view["licence"].clone(), srs_view["ships_text"].clone()), (json!("pcoms"), json!(false)));
    assert_eq!(srs_view["total_range"], json!({"min": 0.0, "max": 40.0}));

    let texts = json!({"items": {"relationship": "Je me suis senti·e écouté·e."}});
    let put =
        app.send_json_as(reqwest::Method::PUT, &care.admin.token, "/v1/instruments/srs/texts/fr-CA", &texts).await;
    assert_eq!(put.status(), 200);
    let localized: Value =
        app.get_as(&care.clinician.token, "/v1/instruments/srs?locale=fr-CA").await.json().await.unwrap();
    assert_eq!(localized["items"][0]["text"], "Je me suis senti·e écouté·e.");
    let unknown = app
        .send_json_as(
            reqwest::Method::PUT,
            &care.admin.token,
            "/v1/instruments/srs/texts/fr-CA",
            &json!({"items": {"mood": "x"}}),
        )
        .await;
    assert_eq!(assert_problem(unknown, 422, "validation").await["errors"][0]["pointer"], "/items/mood");
    assert_problem(
        app.get_as(&care.admin.token, "/v1/instruments/srs?locale=NOT A LOCALE").await,
        400,
        "invalid_locale",
    )
    .await;
    assert_problem(
        app.post_json_as(&care.admin.token, "/v1/instruments", &custom_instrument("srs")).await,
        409,
        "builtin_instrument",
    )
    .await;

    // A custom instrument: energy 4, worry 2 reverse-keyed (1 + 5 − 2 = 4) → total 8.
    let v1 = app.post_json_as(&care.admin.token, "/v1/instruments", &custom_instrument("check-in")).await;
    assert_eq!(v1.status(), 201);
    let answer = json!({"instrument": "check-in", "session_id": care.session_id, "rater": "client",
                        "administered_at": "2026-03-02T10:00:00Z", "answers": {"energy": 4, "worry": 2}});
    let first = submit(&app, &care.admin.token, &answer).await;
    assert_eq!((first["scores"]["total"].clone(), first["instrument_version"].clone()), (json!(8.0), json!(1)));
    let mut second_definition = custom_instrument("check-in");
    second_definition["items"][1]["reversed"] = json!(false);
    let v2: Value =
        app.post_json_as(&care.admin.token, "/v1/instruments", &second_definition).await.json().await.unwrap();
    assert_eq!(v2["version"], 2);
    let kept: Value = app
        .get_as(&care.admin.token, &format!("/v1/responses/{}", first["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((kept["scores"]["total"].clone(), kept["instrument_version"].clone()), (json!(8.0), json!(1)));
    let second = submit(&app, &care.admin.token, &answer).await;
    assert_eq!((second["scores"]["total"].clone(), second["instrument_version"].clone()), (json!(6.0), json!(2)));
    let mut invalid = custom_instrument("broken");
    invalid["items"][1]["id"] = json!("energy");
    assert_eq!(
        assert_problem(app.post_json_as(&care.admin.token, "/v1/instruments", &invalid).await, 422, "validation").await
            ["errors"][0]["pointer"],
        "/items/1/id"
    );
}

#[tokio::test]
async fn a_batch_is_stored_all_or_nothing_with_errors_by_index() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Batch Clinic").await;
    let s2 = care.new_session(&app).await;
    let mut bad = srs(&s2, [9.0; 4]);
    bad["answers"]["overall"] = json!(12);
    let refused = app
        .post_json_as(
            &care.integration,
            "/v1/responses/batch",
            &json!({"responses": [srs(&care.session_id, [9.0; 4]), ors(&care.session_id, [5.0; 4]), bad]}),
        )
        .await;
    let problem = assert_problem(refused, 422, "validation").await;
    assert_eq!(problem["errors"][0]["pointer"], "/responses/2/answers/overall");
    let none: Value = app.get_as(&care.admin.token, "/v1/responses").await.json().await.unwrap();
    assert!(none["items"].as_array().unwrap().is_empty());
    let stored = app
        .post_json_as(
            &care.integration,
            "/v1/responses/batch",
            &json!({"responses": [srs(&care.session_id, [9.5; 4]), srs(&s2, [8.5; 4])]}),
        )
        .await;
    assert_eq!(stored.status(), 201);
    let body: Value = stored.json().await.unwrap();
    assert_eq!(body["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        signal_kinds(&body["items"][1]),
        ["alliance_below_cutoff", "alliance_drop"],
        "the batch's series counts its own earlier items"
    );
    let empty = app.post_json_as(&care.integration, "/v1/responses/batch", &json!({"responses": []})).await;
    assert_eq!(assert_problem(empty, 422, "validation").await["errors"][0]["pointer"], "/responses");
}

/// The instrument catalogue is kept in memory between reads (src/db/catalogues.rs): a new
/// custom instrument, and a new version of it, must count in the very next episode read.
#[tokio::test]
async fn an_episode_read_follows_each_new_instrument_version_at_once() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Catalogue Clinic").await;
    let path = format!("/v1/episodes/{}/outcomes", care.episode_id);
    let outcome_of = |view: &Value| -> Option<Value> {
        view["instruments"].as_array().unwrap().iter().find(|i| i["instrument"] == "energy-check").cloned()
    };
    let measured = |cutoff: f64| {
        let mut definition = custom_instrument("energy-check");
        definition["category"] = json!("outcome");
        definition["measure"] = json!({"kind": "outcome", "reliable_change": {"value": 2.0},
                                       "clinical_cutoff": {"rule": "below", "cutoff": {"value": cutoff}}});
        definition
    };
    // Read once so the catalogue without the instrument is in memory.
    let before: Value = app.get_as(&care.admin.token, &path).await.json().await.unwrap();
    assert_eq!(outcome_of(&before), None);

    // As an unspecified measure, then as an outcome measure: two new versions.
    let unspecified = app.post_json_as(&care.admin.token, "/v1/instruments", &custom_instrument("energy-check")).await;
    assert_eq!(unspecified.status(), 201);
    let second = care.new_session(&app).await;
    for (session, energy) in [(&care.session_id, 2), (&second, 5)] {
        let body = json!({"instrument": "energy-check", "session_id": session, "rater": "client",
                          "answers": {"energy": energy, "worry": 3}});
        submit(&app, &care.admin.token, &body).await;
    }
    let not_outcome: Value = app.get_as(&care.admin.token, &path).await.json().await.unwrap();
    assert_eq!(outcome_of(&not_outcome), None, "an unspecified measure has no outcome view");

    assert_eq!(app.post_json_as(&care.admin.token, "/v1/instruments", &measured(7.0)).await.status(), 201);
    let first_rule = outcome_of(&app.get_as(&care.admin.token, &path).await.json().await.unwrap())
        .expect("the outcome version counts in the next read");
    assert_eq!(
        (first_rule["clinical_cutoff"].clone(), first_rule["reliable_change"].clone()),
        (json!(7.0), json!(2.0))
    );

    assert_eq!(app.post_json_as(&care.admin.token, "/v1/instruments", &measured(9.0)).await.status(), 201);
    let second_rule = outcome_of(&app.get_as(&care.admin.token, &path).await.json().await.unwrap()).unwrap();
    assert_eq!(second_rule["clinical_cutoff"], 9.0, "the newest version's cutoff, not the cached one");
}
