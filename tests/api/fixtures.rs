//! A care structure built through the API: organization, people of every role, a client with
//! an episode and sessions, and helpers to submit forms.

use crate::actors::{Person, unique_email};
use crate::harness::TestApp;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicI32, Ordering};

pub struct Care {
    pub admin: Person,
    pub supervisor: Person,
    pub clinician: Person,
    pub analyst: Person,
    pub integration: String,
    pub client_id: String,
    pub episode_id: String,
    pub session_id: String,
    next_session: AtomicI32,
}

impl Care {
    pub async fn new(app: &TestApp, name: &str) -> Care {
        let admin = app.create_org(name).await;
        let supervisor = app.create_person(&admin, "supervisor").await;
        let clinician = app.create_person(&admin, "clinician").await;
        let analyst = app.create_person(&admin, "analyst").await;
        let (_, integration) = app.create_service_account(&admin, "integration").await;
        let client = put_client(app, &integration, &format!("MRN-{}", unique_email("c")), "adult").await;
        let client_id = client["id"].as_str().unwrap().to_owned();
        let episode = open_episode(app, &integration, &client_id, &clinician.id.to_string()).await;
        let episode_id = episode["id"].as_str().unwrap().to_owned();
        let care = Care {
            admin,
            supervisor,
            clinician,
            analyst,
            integration,
            client_id,
            episode_id,
            session_id: String::new(),
            next_session: AtomicI32::new(1),
        };
        let session_id = care.new_session(app).await;
        Care { session_id, ..care }
    }

    /// A new session of the episode (numbers 1, 2, …).
    pub async fn new_session(&self, app: &TestApp) -> String {
        let number = self.next_session.fetch_add(1, Ordering::Relaxed);
        let response = app
            .post_json_as(
                &self.integration,
                "/v1/sessions",
                &json!({"episode_id": self.episode_id, "number": number, "occurred_at": format!("2026-03-{:02}T10:00:00Z", number.min(28))}),
            )
            .await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap_or_default());
        response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
    }

    /// A client-role token for a form request of `session_id`.
    pub async fn client_token(&self, app: &TestApp, session_id: &str, instruments: &[&str]) -> (Value, String) {
        let response = app
            .post_json_as(
                &self.clinician.token,
                "/v1/form-requests",
                &json!({"session_id": session_id, "instruments": instruments}),
            )
            .await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap_or_default());
        let body: Value = response.json().await.unwrap();
        let token = body["token"].as_str().unwrap().to_owned();
        (body, token)
    }
}

pub async fn put_client(app: &TestApp, token: &str, external_id: &str, age_group: &str) -> Value {
    let response = app
        .send_json_as(
            reqwest::Method::PUT,
            token,
            &format!("/v1/clients/by-external-id/{external_id}"),
            &json!({"age_group": age_group}),
        )
        .await;
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.unwrap()
}

pub async fn open_episode(app: &TestApp, token: &str, client_id: &str, clinician_id: &str) -> Value {
    let response = app
        .post_json_as(
            token,
            "/v1/episodes",
            &json!({"client_id": client_id, "clinician_id": clinician_id, "started_on": "2026-03-01"}),
        )
        .await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap_or_default());
    response.json().await.unwrap()
}

pub fn srs(session_id: &str, values: [f64; 4]) -> Value {
    json!({
        "instrument": "srs", "session_id": session_id, "rater": "client", "administered_at": "2026-03-02T10:50:00Z",
        "answers": {"relationship": values[0], "goals_topics": values[1], "approach_method": values[2], "overall": values[3]}
    })
}

pub fn ors(session_id: &str, values: [f64; 4]) -> Value {
    json!({
        "instrument": "ors", "session_id": session_id, "rater": "client", "administered_at": "2026-03-02T10:00:00Z",
        "answers": {"individually": values[0], "interpersonally": values[1], "socially": values[2], "overall": values[3]}
    })
}

pub fn likert(instrument: &str, session_id: &str, rater: &str, values: &[i64]) -> Value {
    let answers: serde_json::Map<String, Value> =
        values.iter().enumerate().map(|(i, v)| (format!("item{}", i + 1), json!(v))).collect();
    json!({"instrument": instrument, "session_id": session_id, "rater": rater, "administered_at": "2026-03-02T11:00:00Z", "answers": answers})
}

/// Submits and asserts 201; returns the body.
pub async fn submit(app: &TestApp, token: &str, body: &Value) -> Value {
    let response = app.post_json_as(token, "/v1/responses", body).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap_or_default());
    response.json().await.unwrap()
}

pub fn signal_kinds(response: &Value) -> Vec<String> {
    response["signals"].as_array().unwrap().iter().map(|s| s["kind"].as_str().unwrap().to_owned()).collect()
}

/// `POST /v1/responses` with an `Idempotency-Key`.
pub async fn submit_keyed(app: &TestApp, token: &str, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/responses"))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .expect("request sent")
}
