//! Two organizations with the same data shapes: every id-taking route called across
//! organizations answers exactly as for a missing id (404, or 422 for an id inside a body), and
//! changes nothing.

use crate::fixtures::{Care, srs, submit};
use crate::harness::{TestApp, spawn_app};
use crate::role_matrix::custom_instrument;
use reqwest::Method;
use serde_json::{Value, json};

struct Shapes {
    care: Care,
    response_id: String,
    signal_id: String,
    instrument: String,
    webhook_id: String,
    delivery_id: String,
}

async fn organization(app: &TestApp, name: &str) -> Shapes {
    let care = Care::new(app, name).await;
    let response = submit(app, &care.admin.token, &srs(&care.session_id, [5.0; 4])).await;
    let instrument = format!("only-{}", name.to_lowercase().replace(' ', "-"));
    let defined = app.post_json_as(&care.admin.token, "/v1/instruments", &custom_instrument(&instrument)).await;
    assert_eq!(defined.status(), 201);
    // A subscription (a public address nothing answers at, from here) with one delivery.
    let hook = json!({"url": "https://93.184.216.34/rapport-hook", "event_types": ["response.voided"]});
    let hook: Value = app.post_json_as(&care.admin.token, "/v1/webhooks", &hook).await.json().await.unwrap();
    let webhook_id = hook["id"].as_str().unwrap().to_owned();
    let ping = app.post_json_as(&care.admin.token, &format!("/v1/webhooks/{webhook_id}/ping"), &json!({})).await;
    assert_eq!(ping.status(), 202);
    let listed: Value =
        app.get_as(&care.admin.token, &format!("/v1/webhooks/{webhook_id}/deliveries")).await.json().await.unwrap();
    let transcript = crate::transcripts::ruptured_transcript();
    assert_eq!(crate::transcripts::upload(app, &care.admin.token, &care.session_id, &transcript).await.status(), 201);
    Shapes {
        response_id: response["id"].as_str().unwrap().to_owned(),
        signal_id: response["signals"][0]["id"].as_str().unwrap().to_owned(),
        instrument,
        webhook_id,
        delivery_id: listed["items"][0]["id"].as_str().unwrap().to_owned(),
        care,
    }
}

async fn send(app: &TestApp, token: &str, method: &Method, url: &str, body: &Option<Value>) -> (u16, Value) {
    let mut request = app.client.request(method.clone(), app.url(url)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
pub async fn every_id_taking_route_answers_as_for_a_missing_id_across_organizations() {
    let app = spawn_app().await;
    let a = organization(&app, "Clinic A").await;
    let b = organization(&app, "Clinic B").await;
    let missing = uuid::Uuid::now_v7().to_string();
    let bc = &b.care;
    // (method, url with B's id, the same url with a missing id, body with B's id, body with a missing id)
    type Case = (Method, String, String, Option<Value>, Option<Value>);
    let path = |template: &str, id: &str| template.replace("{}", id);
    let same = |template: &str, b_id: &str, body: Option<Value>| -> Case {
        (Method::GET, path(template, b_id), path(template, &missing), body.clone(), body)
    };
    let with = |method: Method, mut case: Case| {
        case.0 = method;
        case
    };
    let in_body = |method: Method, url: &str, field: &str, b_id: &str, extra: Value| -> Case {
        let mut with_b = extra.clone();
        with_b[field] = json!(b_id);
        let mut with_missing = extra;
        with_missing[field] = json!(missing);
        (method, url.to_owned(), url.to_owned(), Some(with_b), Some(with_missing))
    };
    let cases: Vec<Case> = vec![
        same("/v1/users/{}", &bc.clinician.id.to_string(), None),
        with(Method::PATCH, same("/v1/users/{}", &bc.clinician.id.to_string(), Some(json!({"active": false})))),
        same("/v1/clients/{}", &bc.client_id, None),
        with(Method::PATCH, same("/v1/clients/{}", &bc.client_id, Some(json!({"display_name": "x"})))),
        with(Method::DELETE, same("/v1/clients/{}", &bc.client_id, None)),
        same("/v1/episodes/{}", &bc.episode_id, None),
        with(Method::PATCH, same("/v1/episodes/{}", &bc.episode_id, Some(json!({"program": "x"})))),
        same("/v1/episodes/{}/sessions", &bc.episode_id, None),
        same("/v1/episodes/{}/alliance", &bc.episode_id, None),
        same("/v1/episodes/{}/outcomes", &bc.episode_id, None),
        same("/v1/clinicians/{}/insights", &bc.clinician.id.to_string(), None),
        same("/v1/clinicians/{}/report", &bc.clinician.id.to_string(), None),
        same("/v1/episodes/{}/charts/alliance.svg", &bc.episode_id, None),
        same("/v1/episodes/{}/charts/outcomes.svg", &bc.episode_id, None),
        with(Method::POST, same("/v1/episodes/{}/chart-links", &bc.episode_id, Some(json!({})))),
        same("/v1/responses/{}", &b.response_id, None),
        same("/v1/sessions/{}/transcript", &bc.session_id, None),
        same("/v1/sessions/{}/transcript-analysis", &bc.session_id, None),
        with(Method::DELETE, same("/v1/sessions/{}/transcript", &bc.session_id, None)),
        with(
            Method::PUT,
            same("/v1/sessions/{}/transcript", &bc.session_id, Some(crate::transcripts::ruptured_transcript())),
        ),
        with(Method::POST, same("/v1/responses/{}/void", &b.response_id, Some(json!({"reason": "x"})))),
        with(Method::POST, same("/v1/signals/{}/acknowledge", &b.signal_id, None)),
        with(Method::POST, same("/v1/signals/{}/resolve", &b.signal_id, Some(json!({})))),
        same("/v1/instruments/{}", &b.instrument, None),
        with(Method::PUT, same("/v1/instruments/{}/texts/en", &b.instrument, Some(json!({"items": {"energy": "x"}})))),
        same("/v1/webhooks/{}", &b.webhook_id, None),
        with(Method::PATCH, same("/v1/webhooks/{}", &b.webhook_id, Some(json!({"description": "x"})))),
        with(Method::DELETE, same("/v1/webhooks/{}", &b.webhook_id, None)),
        same("/v1/webhooks/{}/deliveries", &b.webhook_id, None),
        with(Method::POST, same("/v1/webhooks/{}/ping", &b.webhook_id, None)),
        with(Method::POST, same(&format!("/v1/webhooks/{{}}/deliveries/{}/retry", b.delivery_id), &b.webhook_id, None)),
        with(Method::POST, same(&format!("/v1/webhooks/{}/deliveries/{{}}/retry", b.webhook_id), &b.delivery_id, None)),
        in_body(
            Method::POST,
            "/v1/episodes",
            "client_id",
            &bc.client_id,
            json!({"clinician_id": a.care.clinician.id, "started_on": "2026-01-01"}),
        ),
        in_body(
            Method::POST,
            "/v1/sessions",
            "episode_id",
            &bc.episode_id,
            json!({"number": 77, "occurred_at": "2026-01-01T00:00:00Z"}),
        ),
        in_body(Method::POST, "/v1/responses", "session_id", &bc.session_id, srs("x", [9.0; 4])),
        in_body(Method::POST, "/v1/form-requests", "session_id", &bc.session_id, json!({"instruments": ["srs"]})),
    ];
    // Every templated path of the document has a case (the upsert by external id is below).
    let document = serde_json::to_value(rapport::openapi::build()).unwrap();
    for (template, item) in document["paths"].as_object().unwrap() {
        if !template.contains('{') || template.contains("by-external-id") {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            let prefix = template.split('{').next().unwrap();
            let suffix = template.rsplit('}').next().unwrap();
            let covered = cases.iter().any(|(m, url, ..)| {
                m.as_str().eq_ignore_ascii_case(method) && url.starts_with(prefix) && url.ends_with(suffix)
            });
            assert!(covered, "{method} {template} has no cross-organization case");
        }
    }
    for (method, across_url, missing_url, across_body, missing_body) in cases {
        let across = send(&app, &a.care.admin.token, &method, &across_url, &across_body).await;
        let absent = send(&app, &a.care.admin.token, &method, &missing_url, &missing_body).await;
        assert!(matches!(across.0, 404 | 422), "{method} {across_url}: {across:?}");
        assert_eq!(
            across, absent,
            "{method} {across_url}: another organization's record must look exactly like a missing one"
        );
    }
    // Nothing of B changed.
    let (status, client) =
        send(&app, &bc.admin.token, &Method::GET, &format!("/v1/clients/{}", bc.client_id), &None).await;
    assert_eq!(status, 200);
    assert!(client["display_name"].is_null());
    let (_, response) =
        send(&app, &bc.admin.token, &Method::GET, &format!("/v1/responses/{}", b.response_id), &None).await;
    assert!(response["voided_at"].is_null());
    assert_eq!(response["signals"][0]["status"], "open");
    // The same external id in A is A's own client: B's is untouched.
    let external = send(&app, &bc.admin.token, &Method::GET, &format!("/v1/clients/{}", bc.client_id), &None).await.1["external_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, created) = send(
        &app,
        &a.care.admin.token,
        &Method::PUT,
        &format!("/v1/clients/by-external-id/{external}"),
        &Some(json!({"age_group": "child"})),
    )
    .await;
    assert_eq!(status, 201);
    assert_ne!(created["id"], json!(bc.client_id));
    // Lists never show the other organization's records.
    for list in ["/v1/clients", "/v1/episodes", "/v1/responses", "/v1/signals", "/v1/users"] {
        let (_, page) = send(&app, &a.care.admin.token, &Method::GET, list, &None).await;
        let text = page.to_string();
        for b_id in [&bc.client_id, &bc.episode_id, &b.response_id, &b.signal_id, &bc.clinician.id.to_string()] {
            assert!(!text.contains(b_id.as_str()), "{list} shows {b_id} of another organization");
        }
    }
}
