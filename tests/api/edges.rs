//! What the fuzzers and probes found at the edge: NUL bytes, dates outside PostgreSQL's range,
//! arithmetic on caller-supplied values, unbounded metric labels, missing security headers.
//! Each must answer a clear 4xx with the pointer of the bad parameter or field, never a 500 or
//! a dropped connection.

use crate::fixtures::{Care, srs};
use crate::harness::{TestApp, assert_problem, spawn_app};
use serde_json::{Value, json};

/// Asserts a 4xx problem whose `errors` name `pointer` (and `in`, when not the body).
async fn assert_refused_at(
    response: reqwest::Response,
    status: u16,
    code: &str,
    pointer: &str,
    location: Option<&str>,
) {
    let url = response.url().to_string();
    let body = assert_problem(response, status, code).await;
    let errors = body["errors"].as_array().unwrap_or_else(|| panic!("{url}: no errors in {body}"));
    let found = errors.iter().any(|e| e["pointer"] == pointer && e.get("in").and_then(Value::as_str) == location);
    assert!(found, "{url}: expected {pointer} ({location:?}) in {body}");
}

#[tokio::test]
async fn nul_bytes_in_token_requests_are_refused_before_the_database() {
    let app = spawn_app().await;
    for field in ["username", "password", "grant_type"] {
        let mut form = vec![("grant_type", "password"), ("username", "a@b.example"), ("password", "long enough")];
        form.iter_mut().filter(|(name, _)| *name == field).for_each(|pair| pair.1 = "x\u{0}y");
        let response = app.token_form(&form).await;
        assert_eq!(response.status(), 400, "form {field}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{body}");
        assert!(body["error_description"].as_str().unwrap().contains(field), "{body}");
    }
    for body in [
        r#"{"grant_type":"password","username":"a\u0000b","password":"long enough"}"#,
        r#"{"grant_type":"client_credentials","client_id":"id\u0000","client_secret":"secret"}"#,
    ] {
        let response = app.post_raw("/v1/auth/token", "application/json", body).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_request");
    }
    let basic = base64_basic("client\u{0}id", "secret");
    let response = app
        .client
        .post(app.url("/v1/auth/token"))
        .header("authorization", basic)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

fn base64_basic(id: &str, secret: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")))
}

#[tokio::test]
async fn nul_bytes_in_queries_paths_and_bodies_are_refused_with_their_pointer() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Nul Bytes").await;
    let admin = &care.admin.token;
    for (path, parameter) in [
        ("/v1/clients?external_id=%00", "/external_id"),
        ("/v1/responses?instrument=srs%00", "/instrument"),
        ("/v1/audit-events?action=%00x", "/action"),
        ("/v1/instruments?locale=%00", "/locale"),
    ] {
        assert_refused_at(app.get_as(admin, path).await, 400, "invalid_query", parameter, Some("query")).await;
    }
    let response = app.get_as(admin, "/v1/instruments/srs%00").await;
    assert_refused_at(response, 400, "invalid_path", "", Some("path")).await;
    let response = app.request(reqwest::Method::GET, "/nowhere%00").await;
    assert_refused_at(response, 400, "invalid_path", "", Some("path")).await;

    let mut body = srs(&care.session_id, [9.0, 9.0, 9.0, 9.0]);
    body["instrument"] = json!("srs\u{0}");
    let response = app.post_json_as(&care.integration, "/v1/responses", &body).await;
    assert_refused_at(response, 422, "validation", "/instrument", None).await;
    let response = app.post_json_as(&care.integration, "/v1/responses/batch", &json!({"responses": [body]})).await;
    assert_refused_at(response, 422, "validation", "/responses/0/instrument", None).await;
    let response = app
        .post_json_as(
            &care.clinician.token,
            "/v1/form-requests",
            &json!({"session_id": care.session_id, "instruments": ["srs\u{0}"]}),
        )
        .await;
    assert_refused_at(response, 422, "validation", "/instruments/0", None).await;
    let custom = json!({"key": "mood", "name": "Mood\u{0}", "licence": "org-owned", "ships_text": false, "category": "other",
                        "raters": ["client"], "items": [{"id": "a", "domain": "mood", "answer": {"type": "vas"}}],
                        "total": "sum", "direction": "higher_is_better"});
    let response = app.post_json_as(admin, "/v1/instruments", &custom).await;
    assert_refused_at(response, 422, "validation", "/name", None).await;
    let response = app
        .post_json_as(
            admin,
            "/v1/clients",
            &json!({"external_id": "MRN", "age_group": "adult", "attributes": {"k\u{0}": 1}}),
        )
        .await;
    assert_refused_at(response, 422, "validation", "/attributes/k\u{0}", None).await;
}

#[tokio::test]
async fn filters_that_name_a_machine_word_refuse_anything_else_as_their_pattern_says() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Filter Words").await;
    let admin = &care.admin.token;
    for (path, parameter) in [
        ("/v1/responses?instrument=SRS", "/instrument"),
        ("/v1/responses?instrument=s%01rs", "/instrument"),
        ("/v1/audit-events?action=client%20read", "/action"),
        ("/v1/audit-events?resource_type=client.read", "/resource_type"),
    ] {
        assert_refused_at(app.get_as(admin, path).await, 400, "invalid_query", parameter, Some("query")).await;
    }
    for path in ["/v1/responses?instrument=phq9", "/v1/audit-events?action=client.read&resource_type=client"] {
        assert_eq!(app.get_as(admin, path).await.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn dates_outside_the_documented_range_are_refused_with_their_pointer() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Far Dates").await;
    let admin = &care.admin.token;
    for far in ["-262143-01-01T00:00:00Z", "+262142-12-31T00:00:00Z", "1899-12-31T23:59:59Z", "2200-01-01T00:00:00Z"] {
        let encoded = far.replace('+', "%2B");
        for (path, parameter) in [
            (format!("/v1/responses?from={encoded}"), "/from"),
            (format!("/v1/responses?to={encoded}"), "/to"),
            (format!("/v1/audit-events?from={encoded}"), "/from"),
            (format!("/v1/analytics/alliance?group_by=month&to={encoded}"), "/to"),
            (format!("/v1/analytics/alliance?group_by=clinician&from={encoded}"), "/from"),
            (format!("/v1/clinicians/{}/insights?to={encoded}", care.clinician.id), "/to"),
        ] {
            assert_refused_at(app.get_as(admin, &path).await, 400, "invalid_query", parameter, Some("query")).await;
        }
    }
    let response = app
        .post_json_as(
            &care.integration,
            "/v1/sessions",
            &json!({"episode_id": care.episode_id, "number": 7, "occurred_at": "-5000-01-01T10:00:00Z"}),
        )
        .await;
    assert_refused_at(response, 422, "validation", "/occurred_at", None).await;
    let mut body = srs(&care.session_id, [9.0, 9.0, 9.0, 9.0]);
    body["administered_at"] = json!("-5000-03-02T10:50:00Z");
    let response = app.post_json_as(&care.integration, "/v1/responses", &body).await;
    assert_refused_at(response, 422, "validation", "/administered_at", None).await;
    let response = app
        .post_json_as(
            &care.integration,
            "/v1/episodes",
            &json!({"client_id": care.client_id, "clinician_id": care.clinician.id, "started_on": "-5000-01-01"}),
        )
        .await;
    assert_refused_at(response, 422, "validation", "/started_on", None).await;
}

#[tokio::test]
async fn ranges_that_would_overflow_and_numbers_past_i32_get_an_answer() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Overflow").await;
    let admin = &care.admin.token;
    // Earliest accepted `to` with the default one-year range: `from` stops at the range start.
    let response = app.get_as(admin, "/v1/analytics/alliance?group_by=month&to=1900-02-01T00:00:00Z").await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let response =
        app.get_as(admin, &format!("/v1/clinicians/{}/insights?to=1900-01-01T00:00:01Z", care.clinician.id)).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let response =
        app.get_as(admin, &format!("/v1/clinicians/{}/insights?to=1900-01-01T00:00:00Z", care.clinician.id)).await;
    assert_refused_at(response, 400, "invalid_query", "/from", Some("query")).await;
    let response = app
        .post_json_as(
            &care.integration,
            "/v1/sessions",
            &json!({"episode_id": care.episode_id, "number": 2147483648_i64, "occurred_at": "2026-03-03T10:00:00Z"}),
        )
        .await;
    assert_refused_at(response, 422, "validation", "/number", None).await;
    let response = app.get_as(admin, "/v1/responses?limit=99999999999999999999").await;
    assert_refused_at(response, 400, "invalid_query", "/limit", Some("query")).await;
}

#[tokio::test]
async fn made_up_methods_do_not_grow_the_metrics() {
    let app = spawn_app().await;
    let size = |app: &TestApp| {
        let url = app.url("/metrics");
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    app.request(reqwest::Method::from_bytes(b"XYZ0").unwrap(), "/healthz").await;
    let before = size(&app).await;
    for n in 1..200 {
        let method = reqwest::Method::from_bytes(format!("XYZ{n}").as_bytes()).unwrap();
        assert_eq!(app.request(method, "/healthz").await.status(), 405);
        app.request(reqwest::Method::GET, &format!("/made/up/{n}")).await;
    }
    let after = size(&app).await;
    assert!(!after.contains("XYZ"), "{after}");
    assert!(after.contains(r#"method="other""#), "{after}");
    assert!(after.contains(r#"route="unmatched""#), "{after}");
    let series = |text: &str| text.lines().filter(|l| l.starts_with("rapport_http_requests_total")).count();
    assert!(series(&after) <= series(&before) + 3, "{before}\n---\n{after}");
}

#[tokio::test]
async fn client_data_is_never_cached_or_sniffed_and_the_api_page_cannot_be_framed() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Headers").await;
    for response in [
        app.get_as(&care.admin.token, &format!("/v1/clients/{}", care.client_id)).await,
        app.get_as(&care.admin.token, "/v1/nothing").await,
        app.get_as(&care.admin.token, "/v1/responses").await,
    ] {
        assert_eq!(response.headers()["cache-control"], "no-store", "{}", response.url());
        assert_eq!(response.headers()["x-content-type-options"], "nosniff", "{}", response.url());
    }
    let docs = app.get("/docs/").await;
    assert_eq!(docs.status(), 200);
    let policy = docs.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.contains("frame-ancestors 'none'") && policy.contains("script-src 'self'"), "{policy}");
    assert_eq!(docs.headers()["x-frame-options"], "DENY");
    assert_eq!(docs.headers()["x-content-type-options"], "nosniff");
}

#[actix_web::test]
async fn a_panic_in_a_handler_answers_500_problem_json_and_the_server_keeps_serving() {
    use actix_web::{App, HttpServer, web};
    let server = HttpServer::new(|| {
        rapport::http::panic::answering_panics(
            App::new()
                .route("/boom", web::get().to(|| async { if true { panic!("boom") } else { "" } }))
                .route("/fine", web::get().to(|| async { "fine" })),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let address = server.addrs()[0];
    let running = server.run();
    let handle = running.handle();
    actix_web::rt::spawn(running);
    let client = reqwest::Client::new();
    let response = client.get(format!("http://{address}/boom")).header("x-request-id", "probe-1").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "probe-1");
    let body = assert_problem(response, 500, "internal").await;
    assert!(!body.to_string().contains("boom"), "the panic message stays in the log: {body}");
    let fine = client.get(format!("http://{address}/fine")).send().await.unwrap();
    assert_eq!(fine.text().await.unwrap(), "fine");
    handle.stop(false).await;
}
