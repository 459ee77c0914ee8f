//! The load client: set-up through the API, and a closed-model saturation loop.

use super::server::Server;
use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Measured {
    pub requests: usize,
    pub errors: usize,
    pub rate: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// CPU per request of the service and of PostgreSQL over the measured run.
    pub cpu: Option<super::cpu::PerRequest>,
}

/// Runs `concurrency` loops of `request` for a one-second warm-up, then for `duration`.
pub async fn saturate<F, Fut>(concurrency: usize, duration: Duration, request: F) -> Measured
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = bool>,
{
    let counter = Arc::new(AtomicUsize::new(0));
    let run = |until: Instant| {
        let counter = counter.clone();
        let request = &request;
        async move {
            let loops = (0..concurrency).map(|_| {
                let counter = counter.clone();
                async move {
                    let mut latencies = Vec::new();
                    let mut errors = 0;
                    while Instant::now() < until {
                        let n = counter.fetch_add(1, Ordering::Relaxed);
                        let started = Instant::now();
                        if !request(n).await {
                            errors += 1;
                        }
                        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                    }
                    (latencies, errors)
                }
            });
            futures_util::future::join_all(loops).await
        }
    };
    run(Instant::now() + Duration::from_secs(1)).await;
    let cpu_before = super::cpu::now();
    let started = Instant::now();
    let results = run(started + duration).await;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = super::cpu::now();
    let latencies: Vec<f64> = results.iter().flat_map(|(l, _)| l.iter().copied()).collect();
    let errors = results.iter().map(|(_, e)| e).sum();
    let requests = latencies.len();
    summarize(latencies, errors, elapsed, super::cpu::per_request(cpu_before, cpu_after, requests))
}

/// An open-model run: requests sent at a fixed `rate` for `duration` whatever the answers do,
/// each one's latency counted from when it was due to be sent (so a stall is charged to every
/// request that waited behind it, unlike in a closed loop).
pub async fn at_rate<F, Fut>(rate: f64, duration: Duration, request: F) -> Measured
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = bool>,
{
    use futures_util::stream::{FuturesUnordered, StreamExt};
    let interval = 1.0 / rate.max(0.001);
    let mut in_flight = FuturesUnordered::new();
    let mut latencies = Vec::new();
    let mut errors = 0;
    let cpu_before = super::cpu::now();
    let started = Instant::now();
    let end = started + duration;
    let mut sent = 0usize;
    loop {
        let due = started + Duration::from_secs_f64(sent as f64 * interval);
        if due >= end {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(due.into()) => {
                let answer = request(sent);
                in_flight.push(async move { (due, answer.await) });
                sent += 1;
            }
            Some((due, ok)) = in_flight.next(), if !in_flight.is_empty() => {
                latencies.push(due.elapsed().as_secs_f64() * 1000.0);
                errors += usize::from(!ok);
            }
        }
    }
    while let Some((due, ok)) = in_flight.next().await {
        latencies.push(due.elapsed().as_secs_f64() * 1000.0);
        errors += usize::from(!ok);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = super::cpu::now();
    summarize(latencies, errors, elapsed, super::cpu::per_request(cpu_before, cpu_after, sent))
}

fn summarize(mut latencies: Vec<f64>, errors: usize, elapsed: f64, cpu: Option<super::cpu::PerRequest>) -> Measured {
    latencies.sort_by(f64::total_cmp);
    let at = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    Measured {
        requests: latencies.len(),
        errors,
        rate: latencies.len() as f64 / elapsed,
        p50_ms: at(0.50),
        p95_ms: at(0.95),
        p99_ms: at(0.99),
        cpu,
    }
}

pub struct Setup {
    http: reqwest::Client,
    base: String,
    pub admin_token: String,
    admin_email: String,
    admin_password: String,
    client_id: String,
    client_secret: String,
    pub sessions: Vec<String>,
    pub episodes: Vec<String>,
    /// The client of each episode, by the same index.
    pub clients: Vec<String>,
    pub organization_id: uuid::Uuid,
    clinician_id: String,
    /// A service account with the test key set (SMART Backend Services), once registered.
    keyed_client_id: String,
}

impl Setup {
    pub async fn new(server: &Server) -> Setup {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_rapport"))
            .args(["create-org", "--name", "Bench Clinic", "--admin-email", "bench@clinic.example"])
            .env("DATABASE_URL", &server.database_url)
            .env("RAPPORT_JWT_SECRET", "bench-secret-bench-secret-bench-secret!!")
            .output()
            .unwrap();
        let created: Value = serde_json::from_slice(&output.stdout).expect("create-org prints JSON");
        let http = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
        let mut setup = Setup {
            http,
            base: server.base_url.clone(),
            admin_token: String::new(),
            admin_email: "bench@clinic.example".into(),
            admin_password: created["admin_password"].as_str().unwrap().to_owned(),
            client_id: String::new(),
            client_secret: String::new(),
            sessions: Vec::new(),
            episodes: Vec::new(),
            clients: Vec::new(),
            organization_id: created["organization_id"].as_str().unwrap().parse().unwrap(),
            clinician_id: String::new(),
            keyed_client_id: String::new(),
        };
        let tokens = setup
            .token(&[
                ("grant_type", "password"),
                ("username", "bench@clinic.example"),
                ("password", &setup.admin_password),
            ])
            .await;
        setup.admin_token = tokens["access_token"].as_str().unwrap().to_owned();
        let account = setup.post("/v1/service-accounts", json!({"name": "bench", "role": "integration"})).await;
        setup.client_id = account["client_id"].as_str().unwrap().to_owned();
        setup.client_secret = account["client_secret"].as_str().unwrap().to_owned();
        let clinician = setup.post("/v1/users", json!({"email": "clin@clinic.example", "role": "clinician"})).await;
        setup.clinician_id = clinician["id"].as_str().unwrap().to_owned();
        for (client, episode, session) in setup.episodes_with_a_session("BENCH", 200).await {
            setup.episodes.push(episode);
            setup.sessions.push(session);
            setup.clients.push(client);
        }
        let jwks: Value = serde_json::from_str(&fixture("jwks.json")).unwrap();
        let keyed =
            setup.post("/v1/service-accounts", json!({"name": "bench ehr", "role": "integration", "jwks": jwks})).await;
        setup.keyed_client_id = keyed["client_id"].as_str().unwrap().to_owned();
        setup
    }

    /// `count` new clients, each with an episode of the bench clinician and its first session:
    /// (client, episode, session) ids.
    pub async fn episodes_with_a_session(&self, prefix: &str, count: usize) -> Vec<(String, String, String)> {
        let mut created = Vec::new();
        for n in 0..count {
            let client =
                self.put(&format!("/v1/clients/by-external-id/{prefix}-{n}"), json!({"age_group": "adult"})).await;
            let episode = self
                .post(
                    "/v1/episodes",
                    json!({"client_id": client["id"], "clinician_id": self.clinician_id, "started_on": "2026-01-05"}),
                )
                .await;
            let session = self
                .post(
                    "/v1/sessions",
                    json!({"episode_id": episode["id"], "number": 1, "occurred_at": "2026-01-05T10:00:00Z"}),
                )
                .await;
            let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
            created.push((id(&client), id(&episode), id(&session)));
        }
        created
    }

    async fn token(&self, form: &[(&str, &str)]) -> Value {
        self.http.post(format!("{}/v1/auth/token", self.base)).form(form).send().await.unwrap().json().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.admin_token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn put(&self, path: &str, body: Value) -> Value {
        self.http
            .put(format!("{}{path}", self.base))
            .bearer_auth(&self.admin_token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `DELETE` as the admin; true on a 2xx.
    pub async fn delete(&self, path: &str) -> bool {
        let response = self.http.delete(format!("{}{path}", self.base)).bearer_auth(&self.admin_token).send().await;
        response.is_ok_and(|r| r.status().is_success())
    }

    /// Downloads `path` as the admin, chunk by chunk; returns the bytes received.
    pub async fn download(&self, path: &str) -> u64 {
        let mut response =
            self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.admin_token).send().await.unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        let mut bytes = 0u64;
        while let Some(chunk) = response.chunk().await.unwrap() {
            bytes += chunk.len() as u64;
        }
        bytes
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> bool {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.is_ok_and(|r| r.status().is_success())
    }

    /// An authenticated GET that owns its arguments (for per-request paths).
    pub async fn get_owned(&self, path: String, token: String) -> bool {
        self.get(&path, Some(&token)).await
    }

    async fn token_ok(&self, form: &[(&str, &str)]) -> bool {
        let url = format!("{}/v1/auth/token", self.base);
        self.http.post(url).form(form).send().await.is_ok_and(|r| r.status().is_success())
    }

    pub async fn password_grant(&self) -> bool {
        self.token_ok(&[
            ("grant_type", "password"),
            ("username", &self.admin_email),
            ("password", &self.admin_password),
        ])
        .await
    }

    pub async fn client_credentials_grant(&self) -> bool {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
        ];
        self.token_ok(&form).await
    }

    /// The n-th SRS as a FHIR QuestionnaireResponse, conditional on a fresh identifier.
    pub async fn fhir_submit_srs(&self, n: usize) -> bool {
        let index = n % self.sessions.len();
        let relationship = [9.1, 8.7, 9.5, 7.9][n % 4];
        let values = [relationship, 8.5, 9.1, 8.8];
        let items: Vec<Value> = ["relationship", "goals_topics", "approach_method", "overall"]
            .iter()
            .zip(values)
            .map(|(id, value)| json!({"linkId": id, "answer": [{"valueDecimal": value}]}))
            .collect();
        let body = json!({
            "resourceType": "QuestionnaireResponse", "status": "completed",
            "questionnaire": "https://rapport.dev/fhir/Questionnaire/srs",
            "subject": {"reference": format!("Patient/{}", self.clients[index])},
            "encounter": {"reference": format!("Encounter/{}", self.sessions[index])},
            "authored": "2026-01-05T10:50:00Z", "item": items,
        });
        self.http
            .post(format!("{}/fhir/r4/QuestionnaireResponse", self.base))
            .bearer_auth(&self.admin_token)
            .header("content-type", "application/fhir+json")
            .header("if-none-exist", format!("identifier=urn:bench|fhir-{n}"))
            .body(body.to_string())
            .send()
            .await
            .is_ok_and(|r| r.status().as_u16() == 201)
    }

    /// A patient's scores as FHIR Observations (one page).
    pub async fn fhir_observations(&self, n: usize) -> bool {
        let client = &self.clients[n % self.clients.len()];
        self.get(&format!("/fhir/r4/Observation?subject=Patient/{client}&_count=50"), Some(&self.admin_token)).await
    }

    /// The same patient's responses through REST (one page).
    pub async fn rest_responses(&self, n: usize) -> bool {
        let client = &self.clients[n % self.clients.len()];
        self.get(&format!("/v1/responses?client_id={client}&limit=50"), Some(&self.admin_token)).await
    }

    /// SMART Backend Services: an ES384 client assertion for a token with system scopes.
    pub async fn assertion_grant(&self, n: usize) -> bool {
        let key = jsonwebtoken::EncodingKey::from_ec_der(&fixture_bytes("ec.der"));
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES384);
        header.kid = Some("ehr-ec-2026".into());
        let now = chrono::Utc::now().timestamp();
        let claims = json!({"iss": self.keyed_client_id, "sub": self.keyed_client_id, "aud": format!("{}/v1/auth/token", self.base),
                            "exp": now + 240, "jti": format!("bench-{n}-{}", uuid::Uuid::now_v7())});
        let assertion = jsonwebtoken::encode(&header, &claims, &key).expect("signed");
        self.token_ok(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", &assertion),
            ("scope", "system/QuestionnaireResponse.crs system/Observation.rs"),
        ])
        .await
    }

    /// The n-th SRS: round-robin over the sessions, a fresh Idempotency-Key each.
    pub async fn submit_srs(&self, n: usize) -> bool {
        self.submit_srs_to(&self.sessions, n, "bench").await
    }

    /// The n-th SRS to `sessions`, round-robin; `key_prefix` keeps Idempotency-Keys apart.
    pub async fn submit_srs_to(&self, sessions: &[String], n: usize, key_prefix: &str) -> bool {
        let session = &sessions[n % sessions.len()];
        let relationship = [9.1, 8.7, 9.5, 7.9][n % 4];
        let body = json!({"instrument": "srs", "session_id": session, "rater": "client", "administered_at": "2026-01-05T10:50:00Z",
                          "answers": {"relationship": relationship, "goals_topics": 8.5, "approach_method": 9.1, "overall": 8.8}});
        self.http
            .post(format!("{}/v1/responses", self.base))
            .bearer_auth(&self.admin_token)
            .header("idempotency-key", format!("{key_prefix}-{n}"))
            .json(&body)
            .send()
            .await
            .is_ok_and(|r| r.status().as_u16() == 201)
    }
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/smart/{name}", env!("CARGO_MANIFEST_DIR"))).expect("test key fixture")
}

fn fixture(name: &str) -> String {
    String::from_utf8(fixture_bytes(name)).expect("UTF-8 fixture")
}
