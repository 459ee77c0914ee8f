//! Every protected route × every role → the documented status, from one table. A route in the
//! OpenAPI document without a row here fails the test.

use crate::actors::unique_email;
use crate::fixtures::{Care, srs, submit};
use crate::harness::{TestApp, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const ROLES: [&str; 6] = ["admin", "supervisor", "clinician", "integration", "analyst", "client"];

/// (method, path, expected status for admin, supervisor, clinician, integration, analyst, client).
const MATRIX: &[(&str, &str, [u16; 6])] = &[
    ("POST", "/v1/users", [201, 403, 403, 403, 403, 403]),
    ("GET", "/v1/users", [200, 200, 403, 403, 403, 403]),
    ("GET", "/v1/users/{id}", [200, 200, 403, 403, 403, 403]),
    ("PATCH", "/v1/users/{id}", [200, 403, 403, 403, 403, 403]),
    ("POST", "/v1/service-accounts", [201, 403, 403, 403, 403, 403]),
    ("GET", "/v1/service-accounts", [200, 403, 403, 403, 403, 403]),
    ("POST", "/v1/clients", [201, 403, 201, 201, 403, 403]),
    ("GET", "/v1/clients", [200, 200, 200, 200, 403, 403]),
    // A client outside the clinician's caseload answers 404, exactly as a missing one.
    ("GET", "/v1/clients/{id}", [200, 200, 404, 200, 403, 403]),
    ("PATCH", "/v1/clients/{id}", [200, 403, 404, 200, 403, 403]),
    ("DELETE", "/v1/clients/{id}", [204, 403, 403, 403, 403, 403]),
    ("PUT", "/v1/clients/by-external-id/{external_id}", [201, 403, 201, 201, 403, 403]),
    ("POST", "/v1/episodes", [201, 403, 201, 201, 403, 403]),
    ("GET", "/v1/episodes", [200, 200, 200, 200, 403, 403]),
    ("GET", "/v1/episodes/{id}", [200, 200, 200, 200, 403, 403]),
    ("PATCH", "/v1/episodes/{id}", [200, 403, 200, 200, 403, 403]),
    ("POST", "/v1/sessions", [201, 403, 201, 201, 403, 403]),
    ("GET", "/v1/episodes/{id}/sessions", [200, 200, 200, 200, 403, 403]),
    ("GET", "/v1/instruments", [200, 200, 200, 200, 200, 403]),
    ("GET", "/v1/instruments/{key}", [200, 200, 200, 200, 200, 403]),
    ("PUT", "/v1/instruments/{key}/texts/{locale}", [200, 403, 403, 403, 403, 403]),
    ("POST", "/v1/instruments", [201, 403, 403, 403, 403, 403]),
    ("POST", "/v1/responses", [201, 403, 201, 201, 403, 201]),
    ("POST", "/v1/responses/batch", [201, 403, 201, 201, 403, 403]),
    ("GET", "/v1/responses", [200, 200, 200, 200, 403, 403]),
    ("GET", "/v1/responses/{id}", [200, 200, 200, 200, 403, 403]),
    ("POST", "/v1/responses/{id}/void", [200, 403, 200, 200, 403, 403]),
    ("GET", "/v1/signals", [200, 200, 200, 200, 403, 403]),
    ("POST", "/v1/signals/{id}/acknowledge", [200, 200, 200, 403, 403, 403]),
    ("POST", "/v1/signals/{id}/resolve", [200, 200, 200, 403, 403, 403]),
    ("POST", "/v1/form-requests", [201, 403, 201, 201, 403, 403]),
    ("GET", "/v1/me/form-requests", [403, 403, 403, 403, 403, 200]),
    ("GET", "/v1/organization/settings", [200, 200, 200, 200, 200, 403]),
    ("PUT", "/v1/organization/settings", [200, 403, 403, 403, 403, 403]),
    ("GET", "/v1/audit-events", [200, 403, 403, 403, 403, 403]),
    ("GET", "/v1/episodes/{id}/alliance", [200, 200, 200, 200, 403, 403]),
    ("GET", "/v1/episodes/{id}/outcomes", [200, 200, 200, 200, 403, 403]),
    ("GET", "/v1/clinicians/{id}/insights", [200, 200, 200, 403, 403, 403]),
    ("GET", "/v1/clinicians/{id}/report", [200, 200, 200, 403, 403, 403]),
    ("GET", "/v1/episodes/{id}/charts/alliance.svg", [200, 200, 200, 200, 403, 403]),
    ("GET", "/v1/episodes/{id}/charts/outcomes.svg", [200, 200, 200, 200, 403, 403]),
    ("POST", "/v1/episodes/{id}/chart-links", [201, 201, 201, 201, 403, 403]),
    ("GET", "/v1/analytics/alliance", [200, 200, 403, 403, 200, 403]),
    ("GET", "/v1/export/responses", [200, 403, 403, 403, 200, 403]),
    ("PUT", "/v1/sessions/{id}/transcript", [201, 403, 201, 201, 403, 403]),
    ("GET", "/v1/sessions/{id}/transcript-analysis", [200, 200, 200, 200, 403, 403]),
    // Without sealing keys no text is kept: the roles that may read it get 404.
    ("GET", "/v1/sessions/{id}/transcript", [404, 404, 404, 403, 403, 403]),
    ("DELETE", "/v1/sessions/{id}/transcript", [204, 403, 204, 403, 403, 403]),
    ("POST", "/v1/webhooks", [201, 403, 403, 403, 403, 403]),
    ("GET", "/v1/webhooks", [200, 403, 403, 403, 403, 403]),
    ("GET", "/v1/webhooks/{id}", [200, 403, 403, 403, 403, 403]),
    ("PATCH", "/v1/webhooks/{id}", [200, 403, 403, 403, 403, 403]),
    ("DELETE", "/v1/webhooks/{id}", [204, 403, 403, 403, 403, 403]),
    ("GET", "/v1/webhooks/{id}/deliveries", [200, 403, 403, 403, 403, 403]),
    ("POST", "/v1/webhooks/{id}/deliveries/{delivery_id}/retry", [202, 403, 403, 403, 403, 403]),
    ("POST", "/v1/webhooks/{id}/ping", [202, 403, 403, 403, 403, 403]),
];

/// A fresh low SRS on a new session: its id and the id of a signal it raised.
async fn fresh_response(app: &TestApp, care: &Care) -> (String, String) {
    let session = care.new_session(app).await;
    let body = submit(app, &care.admin.token, &srs(&session, [5.0, 5.0, 5.0, 5.0])).await;
    (body["id"].as_str().unwrap().to_owned(), body["signals"][0]["id"].as_str().unwrap().to_owned())
}

/// A valid request for `(method, path)` made by `role`, with fresh resources where it consumes them.
async fn call(app: &TestApp, care: &Care, method: &str, path: &str, role: &str, token: &str) -> u16 {
    let fresh_client = || async {
        app.create_client(&care.admin.token, &unique_email("client")).await["id"].as_str().unwrap().to_owned()
    };
    let episode = &care.episode_id;
    // The episode's clinician: for the clinician role that is itself, as the intake rule requires.
    let self_or_clinician = care.clinician.id.to_string();
    let (method, url, body): (Method, String, Option<Value>) = match (method, path) {
        ("POST", "/v1/users") => {
            (Method::POST, path.into(), Some(json!({"email": unique_email("new"), "role": "clinician"})))
        }
        ("GET", "/v1/users/{id}") => (Method::GET, format!("/v1/users/{}", care.clinician.id), None),
        ("PATCH", "/v1/users/{id}") => {
            (Method::PATCH, format!("/v1/users/{}", care.clinician.id), Some(json!({"display_name": "Dr. M"})))
        }
        ("POST", "/v1/service-accounts") => {
            (Method::POST, path.into(), Some(json!({"name": "pipeline", "role": "analyst"})))
        }
        ("POST", "/v1/clients") => {
            (Method::POST, path.into(), Some(json!({"external_id": unique_email("c"), "age_group": "child"})))
        }
        ("GET", "/v1/clients/{id}") => (Method::GET, format!("/v1/clients/{}", fresh_client().await), None),
        ("PATCH", "/v1/clients/{id}") => {
            (Method::PATCH, format!("/v1/clients/{}", fresh_client().await), Some(json!({"display_name": "R."})))
        }
        ("DELETE", "/v1/clients/{id}") => (Method::DELETE, format!("/v1/clients/{}", fresh_client().await), None),
        ("PUT", "/v1/clients/by-external-id/{external_id}") => (
            Method::PUT,
            format!("/v1/clients/by-external-id/{}", unique_email("x")),
            Some(json!({"age_group": "adult"})),
        ),
        ("POST", "/v1/episodes") => {
            let body = json!({"client_id": fresh_client().await, "clinician_id": self_or_clinician, "started_on": "2026-01-05"});
            (Method::POST, path.into(), Some(body))
        }
        ("GET", "/v1/episodes/{id}") => (Method::GET, format!("/v1/episodes/{episode}"), None),
        ("PATCH", "/v1/episodes/{id}") => {
            (Method::PATCH, format!("/v1/episodes/{episode}"), Some(json!({"program": "adult-outpatient"})))
        }
        ("GET", "/v1/episodes/{id}/sessions") => (Method::GET, format!("/v1/episodes/{episode}/sessions"), None),
        ("GET", "/v1/episodes/{id}/alliance") => (Method::GET, format!("/v1/episodes/{episode}/alliance"), None),
        ("GET", "/v1/episodes/{id}/outcomes") => (Method::GET, format!("/v1/episodes/{episode}/outcomes"), None),
        ("GET", "/v1/clinicians/{id}/insights") => {
            (Method::GET, format!("/v1/clinicians/{}/insights", care.clinician.id), None)
        }
        ("GET", "/v1/clinicians/{id}/report") => {
            (Method::GET, format!("/v1/clinicians/{}/report", care.clinician.id), None)
        }
        ("GET", "/v1/episodes/{id}/charts/alliance.svg") => {
            (Method::GET, format!("/v1/episodes/{episode}/charts/alliance.svg"), None)
        }
        ("GET", "/v1/episodes/{id}/charts/outcomes.svg") => {
            (Method::GET, format!("/v1/episodes/{episode}/charts/outcomes.svg"), None)
        }
        ("POST", "/v1/episodes/{id}/chart-links") => {
            (Method::POST, format!("/v1/episodes/{episode}/chart-links"), Some(json!({})))
        }
        ("GET", "/v1/analytics/alliance") => (Method::GET, "/v1/analytics/alliance?group_by=clinician".into(), None),
        ("POST", "/v1/sessions") => {
            static NEXT: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(5000);
            let number = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            (
                Method::POST,
                path.into(),
                Some(json!({"episode_id": episode, "number": number, "occurred_at": "2026-03-03T09:00:00Z"})),
            )
        }
        ("GET", "/v1/instruments/{key}") => (Method::GET, "/v1/instruments/srs".into(), None),
        ("PUT", "/v1/instruments/{key}/texts/{locale}") => (
            Method::PUT,
            "/v1/instruments/srs/texts/fr-CA".into(),
            Some(json!({"items": {"relationship": "Relation"}})),
        ),
        ("POST", "/v1/instruments") => {
            (Method::POST, path.into(), Some(custom_instrument(&format!("custom-{}", rand::random::<u32>()))))
        }
        ("POST", "/v1/responses") => {
            let session = care.new_session(app).await;
            if role == "client" {
                let (_, client_token) = care.client_token(app, &session, &["srs"]).await;
                return app.post_json_as(&client_token, path, &srs(&session, [9.0; 4])).await.status().as_u16();
            }
            (Method::POST, path.into(), Some(srs(&session, [9.0; 4])))
        }
        ("POST", "/v1/responses/batch") => {
            let session = care.new_session(app).await;
            (Method::POST, path.into(), Some(json!({"responses": [srs(&session, [9.0; 4])]})))
        }
        ("GET", "/v1/responses/{id}") => {
            (Method::GET, format!("/v1/responses/{}", fresh_response(app, care).await.0), None)
        }
        ("POST", "/v1/responses/{id}/void") => (
            Method::POST,
            format!("/v1/responses/{}/void", fresh_response(app, care).await.0),
            Some(json!({"reason": "entered twice"})),
        ),
        ("POST", "/v1/signals/{id}/acknowledge") => {
            (Method::POST, format!("/v1/signals/{}/acknowledge", fresh_response(app, care).await.1), None)
        }
        ("POST", "/v1/signals/{id}/resolve") => (
            Method::POST,
            format!("/v1/signals/{}/resolve", fresh_response(app, care).await.1),
            Some(json!({"note": "talked"})),
        ),
        ("POST", "/v1/form-requests") => {
            (Method::POST, path.into(), Some(json!({"session_id": care.session_id, "instruments": ["srs"]})))
        }
        ("PUT", "/v1/organization/settings") => (Method::PUT, path.into(), Some(json!({"srs_cutoff": 36.0}))),
        ("POST", "/v1/webhooks") => {
            (Method::POST, path.into(), Some(json!({"url": PUBLIC_TARGET, "event_types": ["response.voided"]})))
        }
        ("GET", "/v1/webhooks/{id}") => (Method::GET, format!("/v1/webhooks/{}", fresh_webhook(app, care).await), None),
        ("PATCH", "/v1/webhooks/{id}") => (
            Method::PATCH,
            format!("/v1/webhooks/{}", fresh_webhook(app, care).await),
            Some(json!({"description": "EHR inbox"})),
        ),
        ("DELETE", "/v1/webhooks/{id}") => {
            (Method::DELETE, format!("/v1/webhooks/{}", fresh_webhook(app, care).await), None)
        }
        ("GET", "/v1/webhooks/{id}/deliveries") => {
            (Method::GET, format!("/v1/webhooks/{}/deliveries", fresh_webhook(app, care).await), None)
        }
        ("POST", "/v1/webhooks/{id}/ping") => {
            (Method::POST, format!("/v1/webhooks/{}/ping", fresh_webhook(app, care).await), None)
        }
        ("POST", "/v1/webhooks/{id}/deliveries/{delivery_id}/retry") => {
            let hook = fresh_webhook(app, care).await;
            let ping = format!("/v1/webhooks/{hook}/ping");
            assert_eq!(app.post_json_as(&care.admin.token, &ping, &json!({})).await.status(), 202);
            let listed: Value =
                app.get_as(&care.admin.token, &format!("/v1/webhooks/{hook}/deliveries")).await.json().await.unwrap();
            let delivery = listed["items"][0]["id"].as_str().unwrap().to_owned();
            (Method::POST, format!("/v1/webhooks/{hook}/deliveries/{delivery}/retry"), None)
        }
        ("PUT", "/v1/sessions/{id}/transcript") => {
            let session = care.new_session(app).await;
            (Method::PUT, format!("/v1/sessions/{session}/transcript"), Some(crate::transcripts::ruptured_transcript()))
        }
        ("GET" | "DELETE", "/v1/sessions/{id}/transcript-analysis" | "/v1/sessions/{id}/transcript") => {
            let session = care.new_session(app).await;
            let body = crate::transcripts::ruptured_transcript();
            assert_eq!(crate::transcripts::upload(app, &care.admin.token, &session, &body).await.status(), 201);
            let method = if method == "GET" { Method::GET } else { Method::DELETE };
            (method, path.replace("{id}", &session), None)
        }
        ("GET", _) => (Method::GET, path.into(), None),
        other => panic!("the matrix has a row for {other:?} but no request for it"),
    };
    let mut request = app.client.request(method, app.url(&url)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap().status().as_u16()
}

/// A public address (documentation would be refused): nothing answers there from the tests,
/// which only look at the subscription.
const PUBLIC_TARGET: &str = "https://93.184.216.34/rapport-hook";

/// A new subscription of the care's organization, made by its admin.
async fn fresh_webhook(app: &TestApp, care: &Care) -> String {
    let body = json!({"url": PUBLIC_TARGET, "event_types": ["response.voided"]});
    let response = app.post_json_as(&care.admin.token, "/v1/webhooks", &body).await;
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

pub fn custom_instrument(key: &str) -> Value {
    json!({
        "key": key, "name": "Session check-in", "licence": "org-owned", "ships_text": true, "category": "other",
        "raters": ["client"], "total": "sum", "direction": "higher_is_better",
        "items": [
            {"id": "energy", "domain": "energy", "answer": {"type": "likert", "min": 1, "max": 5}, "text": "How is your energy?"},
            {"id": "worry", "domain": "worry", "answer": {"type": "likert", "min": 1, "max": 5}, "reversed": true}
        ]
    })
}

#[tokio::test]
pub async fn every_protected_route_answers_every_role_as_documented() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Matrix Clinic").await;
    let (_, client_token) = care.client_token(&app, &care.session_id, &["srs", "ors"]).await;
    let tokens = [
        care.admin.token.clone(),
        care.supervisor.token.clone(),
        care.clinician.token.clone(),
        care.integration.clone(),
        care.analyst.token.clone(),
        client_token,
    ];

    let document = serde_json::to_value(rapport::openapi::build()).unwrap();
    let mut protected = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if operation.get("security").is_some() {
                protected.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let in_matrix: BTreeSet<(String, String)> = MATRIX.iter().map(|(m, p, _)| (m.to_string(), p.to_string())).collect();
    let missing: Vec<_> = protected.difference(&in_matrix).collect();
    assert!(missing.is_empty(), "protected routes without a row in the role matrix: {missing:?}");
    let stale: Vec<_> = in_matrix.difference(&protected).collect();
    assert!(stale.is_empty(), "matrix rows for routes that are not protected operations: {stale:?}");

    let mut mismatches = Vec::new();
    for (method, path, expected) in MATRIX {
        for (index, role) in ROLES.iter().enumerate() {
            let status = call(&app, &care, method, path, role, &tokens[index]).await;
            if status != expected[index] {
                mismatches.push(format!("{method} {path} as {role}: expected {}, got {status}", expected[index]));
            }
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}
