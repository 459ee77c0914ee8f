//! Every protected route × every role → the documented status, from one table. A route in the
//! OpenAPI document without a row here fails the test.

use crate::harness::{Person, TestApp, claims_for, spawn_app, test_keys, unique_email};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const ROLES: [&str; 6] = ["admin", "supervisor", "clinician", "integration", "analyst", "client"];

/// (method, path, expected status for admin, supervisor, clinician, integration, analyst, client).
/// Client-role tokens are only minted for form requests; a token naming no form request is 401.
const MATRIX: &[(&str, &str, [u16; 6])] = &[
    ("POST", "/v1/users", [201, 403, 403, 403, 403, 401]),
    ("GET", "/v1/users", [200, 200, 403, 403, 403, 401]),
    ("GET", "/v1/users/{id}", [200, 200, 403, 403, 403, 401]),
    ("PATCH", "/v1/users/{id}", [200, 403, 403, 403, 403, 401]),
    ("POST", "/v1/service-accounts", [201, 403, 403, 403, 403, 401]),
    ("GET", "/v1/service-accounts", [200, 403, 403, 403, 403, 401]),
    ("POST", "/v1/clients", [201, 403, 201, 201, 403, 401]),
    ("GET", "/v1/clients", [200, 200, 200, 200, 403, 401]),
    // Outside its caseload a clinician gets 404, exactly as for a missing client.
    ("GET", "/v1/clients/{id}", [200, 200, 404, 200, 403, 401]),
    ("PATCH", "/v1/clients/{id}", [200, 403, 404, 200, 403, 401]),
    ("DELETE", "/v1/clients/{id}", [204, 403, 403, 403, 403, 401]),
    ("GET", "/v1/audit-events", [200, 403, 403, 403, 403, 401]),
];

struct Org {
    admin: Person,
    tokens: Vec<String>,
    clinician: Person,
}

async fn org_with_every_role(app: &TestApp) -> Org {
    let admin = app.create_org("Matrix Clinic").await;
    let supervisor = app.create_person(&admin, "supervisor").await;
    let clinician = app.create_person(&admin, "clinician").await;
    let analyst = app.create_person(&admin, "analyst").await;
    let (_, integration) = app.create_service_account(&admin, "integration").await;
    let client = test_keys().sign(&claims_for(&admin, "client"));
    let tokens = vec![
        admin.token.clone(),
        supervisor.token.clone(),
        clinician.token.clone(),
        integration,
        analyst.token.clone(),
        client,
    ];
    Org { admin, tokens, clinician }
}

/// A valid request for `(method, path)`, with fresh resources where it consumes them.
async fn call(app: &TestApp, org: &Org, method: &str, path: &str, token: &str) -> u16 {
    let fresh_client = || async {
        app.create_client(&org.admin.token, &unique_email("client")).await["id"].as_str().unwrap().to_owned()
    };
    let (method, url, body): (Method, String, Option<Value>) = match (method, path) {
        ("POST", "/v1/users") => {
            (Method::POST, path.into(), Some(json!({"email": unique_email("new"), "role": "clinician"})))
        }
        ("GET", "/v1/users/{id}") => (Method::GET, format!("/v1/users/{}", org.clinician.id), None),
        ("PATCH", "/v1/users/{id}") => {
            (Method::PATCH, format!("/v1/users/{}", org.clinician.id), Some(json!({"display_name": "Dr. Matrix"})))
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
        ("GET", _) => (Method::GET, path.into(), None),
        other => panic!("the matrix has a row for {other:?} but no request for it"),
    };
    let mut request = app.client.request(method, app.url(&url)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn every_protected_route_answers_every_role_as_documented() {
    let app = spawn_app().await;
    let org = org_with_every_role(&app).await;

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
            let status = call(&app, &org, method, path, &org.tokens[index]).await;
            if status != expected[index] {
                mismatches.push(format!("{method} {path} as {role}: expected {}, got {status}", expected[index]));
            }
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}
