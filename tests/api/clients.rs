//! Clients, and every kind of bad request body (problem+json, never a 500).

use crate::harness::{assert_problem, spawn_app, spawn_app_with};
use serde_json::{Value, json};

#[tokio::test]
async fn a_client_is_created_read_changed_and_listed() {
    let app = spawn_app().await;
    let admin = app.create_org("Care Clinic").await;
    let response = app
        .post_json_as(
            &admin.token,
            "/v1/clients",
            &json!({"external_id": "MRN-1", "age_group": "adolescent", "display_name": "Sam", "birth_year": 2011,
                    "attributes": {"cultural_group": "Métis", "veteran": false}}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let client: Value = response.json().await.unwrap();
    let url = format!("/v1/clients/{}", client["id"].as_str().unwrap());
    assert_eq!(client["age_group"], "adolescent");
    assert_eq!(client["attributes"]["cultural_group"], "Métis");

    let changed: Value = app
        .patch_json_as(&admin.token, &url, &json!({"display_name": null, "age_group": "adult"}))
        .await
        .json()
        .await
        .unwrap();
    assert!(changed["display_name"].is_null());
    assert_eq!(changed["birth_year"], 2011, "fields not named are kept");
    assert_eq!(changed["age_group"], "adult");

    let listed: Value = app.get_as(&admin.token, "/v1/clients?external_id=MRN-1").await.json().await.unwrap();
    assert_eq!(listed["items"][0]["id"], client["id"]);
    let duplicate =
        app.post_json_as(&admin.token, "/v1/clients", &json!({"external_id": "MRN-1", "age_group": "adult"})).await;
    assert_problem(duplicate, 409, "external_id_taken").await;
}

#[tokio::test]
async fn a_clinician_sees_no_client_outside_its_caseload() {
    let app = spawn_app().await;
    let admin = app.create_org("Caseload Clinic").await;
    let clinician = app.create_person(&admin, "clinician").await;
    let client = app.create_client(&admin.token, "MRN-OTHER").await;
    let listed: Value = app.get_as(&clinician.token, "/v1/clients").await.json().await.unwrap();
    assert!(listed["items"].as_array().unwrap().is_empty());
    let url = format!("/v1/clients/{}", client["id"].as_str().unwrap());
    assert_problem(app.get_as(&clinician.token, &url).await, 404, "not_found").await;
}

#[tokio::test]
async fn a_clinician_reads_back_its_intake_until_an_episode_decides_the_caseload() {
    let app = spawn_app().await;
    let admin = app.create_org("Intake Clinic").await;
    let creator = app.create_person(&admin, "clinician").await;
    let colleague = app.create_person(&admin, "clinician").await;
    let created =
        app.post_json_as(&creator.token, "/v1/clients", &json!({"external_id": "MRN-IN", "age_group": "adult"})).await;
    assert_eq!(created.status(), 201);
    let client: Value = created.json().await.unwrap();
    let url = format!("/v1/clients/{}", client["id"].as_str().unwrap());

    let read = app.get_as(&creator.token, &url).await;
    assert_eq!(read.status(), 200, "the creator reads back its intake");
    let listed: Value = app.get_as(&creator.token, "/v1/clients").await.json().await.unwrap();
    assert_eq!(listed["items"][0]["id"], client["id"]);
    let upsert = app
        .send_json_as(
            reqwest::Method::PUT,
            &creator.token,
            "/v1/clients/by-external-id/MRN-IN",
            &json!({"age_group": "adolescent"}),
        )
        .await;
    assert_eq!(upsert.status(), 200, "the creator may complete its intake");
    assert_problem(app.get_as(&colleague.token, &url).await, 404, "not_found").await;

    // Once the client is in someone's care, the caseload alone decides.
    crate::fixtures::open_episode(&app, &admin.token, client["id"].as_str().unwrap(), &colleague.id.to_string()).await;
    assert_problem(app.get_as(&creator.token, &url).await, 404, "not_found").await;
    let listed: Value = app.get_as(&creator.token, "/v1/clients").await.json().await.unwrap();
    assert!(listed["items"].as_array().unwrap().is_empty());
    let upsert = app
        .send_json_as(
            reqwest::Method::PUT,
            &creator.token,
            "/v1/clients/by-external-id/MRN-IN",
            &json!({"age_group": "adult"}),
        )
        .await;
    assert_problem(upsert, 404, "not_found").await;
    assert_eq!(app.get_as(&colleague.token, &url).await.status(), 200);
}

#[tokio::test]
async fn every_bad_body_gets_a_clear_4xx_problem() {
    let app = spawn_app_with(&[("RAPPORT_BODY_LIMIT_BYTES", "4096")]).await;
    let admin = app.create_org("Input Clinic").await;
    let send = |content_type: &'static str, body: Vec<u8>| {
        let app = &app;
        let token = admin.token.clone();
        async move {
            app.client
                .post(app.url("/v1/clients"))
                .bearer_auth(token)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let json_body = |value: Value| value.to_string().into_bytes();
    let deep = format!(
        r#"{{"external_id": "A", "age_group": "adult", "attributes": {{"a": {}{}}}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    // (body, content type, status, code, pointer)
    type Case = (Vec<u8>, &'static str, u16, &'static str, Option<&'static str>);
    let cases: Vec<Case> = vec![
        (b"{\"external_id\": ".to_vec(), "application/json", 400, "malformed_json", None),
        (b"".to_vec(), "application/json", 400, "malformed_json", None),
        (vec![0xff, 0xfe, 0x7b], "application/json", 400, "malformed_json", None),
        (deep.into_bytes(), "application/json", 400, "malformed_json", None),
        (
            json_body(json!({"external_id": "A", "age_group": "adult"})),
            "text/plain",
            415,
            "unsupported_media_type",
            None,
        ),
        (vec![b' '; 5000], "application/json", 413, "payload_too_large", None),
        (
            json_body(json!({"external_id": "A", "age_group": "adult", "id": "x"})),
            "application/json",
            422,
            "validation",
            Some("/id"),
        ),
        (json_body(json!({"external_id": "A"})), "application/json", 422, "validation", Some("/age_group")),
        (
            json_body(json!({"external_id": "A", "age_group": "elder"})),
            "application/json",
            422,
            "validation",
            Some("/age_group"),
        ),
        (
            json_body(json!({"external_id": 5, "age_group": "adult"})),
            "application/json",
            422,
            "validation",
            Some("/external_id"),
        ),
        (
            json_body(json!({"external_id": "A\u{0}B", "age_group": "adult"})),
            "application/json",
            422,
            "validation",
            Some("/external_id"),
        ),
        (
            json_body(json!({"external_id": "A", "age_group": "adult", "birth_year": 1e300})),
            "application/json",
            422,
            "validation",
            Some("/birth_year"),
        ),
        (
            json_body(json!({"external_id": "A", "age_group": "adult", "birth_year": 99999999999i64})),
            "application/json",
            422,
            "validation",
            Some("/birth_year"),
        ),
        (
            json_body(json!({"external_id": "A", "age_group": "adult", "attributes": [1]})),
            "application/json",
            422,
            "validation",
            Some("/attributes"),
        ),
        (
            br#"{"external_id": "A", "external_id": "B", "age_group": "adult"}"#.to_vec(),
            "application/json",
            422,
            "validation",
            Some("/external_id"),
        ),
        (json_body(json!([1, 2])), "application/json", 422, "validation", None),
    ];
    for (body, content_type, status, code, pointer) in cases {
        let preview = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        let problem = assert_problem(send(content_type, body).await, status, code).await;
        if let Some(pointer) = pointer {
            assert_eq!(problem["errors"][0]["pointer"], pointer, "{preview}");
        }
    }
    let listed: Value = app.get_as(&admin.token, "/v1/clients").await.json().await.unwrap();
    assert!(listed["items"].as_array().unwrap().is_empty(), "nothing was stored by a bad request");
}
