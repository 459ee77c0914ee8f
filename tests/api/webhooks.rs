//! Webhooks: a receiver in this test verifies every delivery with the Standard Webhooks
//! reference library (crates.io `standardwebhooks`), sees each event once and in order, sees
//! retries after a 500 and a timeout, nothing for a change that was rolled back, and a
//! subscription disabled once its retry budget is spent. Targets inside the network are refused.

use crate::fixtures::{Care, srs, submit};
use crate::harness::{TestApp, assert_problem, spawn_app, spawn_app_with};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the receiver answers one request.
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    Ok,
    Status(u16),
    /// Say nothing for this long (longer than the service's attempt timeout).
    Stall(Duration),
    /// A redirect towards a metadata address.
    Redirect,
}

#[derive(Clone, Debug)]
pub struct Received {
    pub headers: http::HeaderMap,
    pub raw: Vec<u8>,
    pub body: Value,
    pub answer: Answer,
}

impl Received {
    pub fn id(&self) -> String {
        self.headers["webhook-id"].to_str().unwrap().to_owned()
    }

    fn kind(&self) -> String {
        self.body["type"].as_str().unwrap().to_owned()
    }
}

/// An HTTP receiver on a loopback port. Answers from `plan` in turn, then 200.
pub struct Receiver {
    pub url: String,
    plan: Arc<Mutex<VecDeque<Answer>>>,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub fn start() -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/rapport/events", listener.local_addr().unwrap());
        let plan: Arc<Mutex<VecDeque<Answer>>> = Arc::default();
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let (plan_in, got_in) = (plan.clone(), got.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (plan, got) = (plan_in.clone(), got_in.clone());
                std::thread::spawn(move || serve_one(stream, &plan, &got));
            }
        });
        Receiver { url, plan, got }
    }

    pub fn plan(&self, answers: &[Answer]) {
        self.plan.lock().unwrap().extend(answers.iter().copied());
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    pub async fn until(&self, what: &str, condition: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        for _ in 0..600 {
            let received = self.received();
            if condition(&received) {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the receiver never saw {what}: {:#?}", self.received());
    }
}

fn serve_one(stream: std::net::TcpStream, plan: &Mutex<VecDeque<Answer>>, got: &Mutex<Vec<Received>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut headers = http::HeaderMap::new();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        let (name, value) = trimmed.split_once(':').unwrap();
        headers.append(
            http::HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
            http::HeaderValue::from_str(value.trim()).unwrap(),
        );
    }
    let length: usize = headers.get("content-length").map_or(0, |v| v.to_str().unwrap().parse().unwrap());
    let mut raw = vec![0; length];
    reader.read_exact(&mut raw).unwrap();
    let answer = plan.lock().unwrap().pop_front().unwrap_or(Answer::Ok);
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let mut stream = stream;
    let text = match answer {
        Answer::Ok => "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned(),
        Answer::Status(code) => format!("HTTP/1.1 {code} Nope\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
        Answer::Stall(time) => {
            got.lock().unwrap().push(Received { headers, raw, body, answer });
            std::thread::sleep(time);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            return;
        }
        Answer::Redirect => "HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned(),
    };
    // Recorded before the answer is written: once the service has it, the test may look.
    got.lock().unwrap().push(Received { headers, raw, body, answer });
    let _ = stream.write_all(text.as_bytes());
}

/// Quick retries and a short attempt timeout, and loopback targets allowed (the receiver).
const FAST: &[(&str, &str)] = &[
    ("RAPPORT_ALLOW_LOOPBACK_TARGETS", "true"),
    ("RAPPORT_WEBHOOK_FIRST_RETRY_MS", "100"),
    ("RAPPORT_WEBHOOK_TIMEOUT_MS", "700"),
];

async fn subscribe(app: &TestApp, care: &Care, url: &str, types: &[&str]) -> (String, String) {
    let response =
        app.post_json_as(&care.admin.token, "/v1/webhooks", &json!({"url": url, "event_types": types})).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap_or_default());
    let hook: Value = response.json().await.unwrap();
    (hook["id"].as_str().unwrap().to_owned(), hook["secret"].as_str().unwrap().to_owned())
}

async fn deliveries(app: &TestApp, care: &Care, hook: &str) -> Vec<Value> {
    let listed: Value =
        app.get_as(&care.admin.token, &format!("/v1/webhooks/{hook}/deliveries")).await.json().await.unwrap();
    listed["items"].as_array().unwrap().clone()
}

pub fn verify(secret: &str, received: &Received) {
    let verifier = standardwebhooks::Webhook::new(secret).unwrap();
    verifier.verify(&received.raw, &received.headers).unwrap_or_else(|e| panic!("{e:?}: {received:?}"));
}

const ALL: [&str; 4] = ["response.created", "response.voided", "signal.created", "signal.updated"];

#[tokio::test]
pub async fn every_event_is_signed_and_delivered_once_in_order_without_free_text() {
    let app = spawn_app_with(FAST).await;
    let care = Care::new(&app, "Webhook Clinic").await;
    let receiver = Receiver::start();
    let (hook, secret) = subscribe(&app, &care, &receiver.url, &ALL).await;

    // Two low SRS forms in a row: the second raises a signal. Then acknowledge, resolve, void.
    let session = care.new_session(&app).await;
    let mut low = srs(&session, [3.0, 3.0, 3.0, 3.0]);
    low["comment"] = json!("CANARY-COMMENT mentions a name");
    let first = submit(&app, &care.clinician.token, &low).await;
    let next = care.new_session(&app).await;
    let second = submit(&app, &care.clinician.token, &srs(&next, [2.0, 2.0, 2.0, 2.0])).await;
    let signal = second["signals"][0]["id"].as_str().expect("a signal was raised").to_owned();
    let path = format!("/v1/signals/{signal}/acknowledge");
    assert_eq!(app.post_json_as(&care.clinician.token, &path, &json!({})).await.status(), 200);
    let path = format!("/v1/signals/{signal}/resolve");
    let resolved =
        app.post_json_as(&care.clinician.token, &path, &json!({"note": "CANARY-NOTE talked it through"})).await;
    assert_eq!(resolved.status(), 200);
    let path = format!("/v1/responses/{}/void", first["id"].as_str().unwrap());
    assert_eq!(
        app.post_json_as(&care.clinician.token, &path, &json!({"reason": "CANARY-REASON wrong client"})).await.status(),
        200
    );

    let raised = |response: &Value| response["signals"].as_array().unwrap().len();
    let expected = 2 + raised(&first) + raised(&second) + 2 + 1;
    let received = receiver.until("every event", |r| r.len() >= expected).await;
    // Anything sent twice would arrive within the next rounds.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.received().len(), received.len(), "each event exactly once: {:#?}", receiver.received());
    assert_eq!(received.len(), expected);

    let kinds: Vec<String> = received.iter().map(Received::kind).collect();
    let mut order = vec!["response.created".to_owned()];
    order.extend(std::iter::repeat_n("signal.created".to_owned(), raised(&first)));
    order.push("response.created".to_owned());
    order.extend(std::iter::repeat_n("signal.created".to_owned(), raised(&second)));
    order.extend(["signal.updated", "signal.updated", "response.voided"].map(String::from));
    assert_eq!(kinds, order, "in the order the changes were made");
    let mut ids: Vec<String> = received.iter().map(Received::id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), expected, "one webhook-id per event");
    for event in &received {
        verify(&secret, event);
        let text = String::from_utf8_lossy(&event.raw);
        assert!(!text.contains("CANARY"), "free text left the service: {text}");
    }
    assert_eq!(received[0].body["data"]["id"], first["id"]);
    assert_eq!(received[0].body["data"]["total"], first["scores"]["total"]);
    let second_created = &received[1 + raised(&first)].body["data"];
    assert_eq!(second_created["id"], second["id"]);
    assert!(second_created["signal_ids"].as_array().unwrap().contains(&json!(signal)));
    assert_eq!(received[expected - 2].body["data"]["status"], "resolved");
    assert_eq!(received[expected - 1].body["data"]["id"], first["id"]);

    let listed = deliveries(&app, &care, &hook).await;
    assert_eq!(listed.len(), expected);
    for delivery in &listed {
        assert_eq!(delivery["status"], "delivered", "{delivery:#}");
        assert_eq!(delivery["attempts"].as_array().unwrap().len(), 1);
        assert_eq!(delivery["attempts"][0]["status_code"], 200);
    }
}

#[tokio::test]
pub async fn a_500_and_a_timeout_are_retried_until_acknowledged_and_a_rolled_back_change_sends_nothing() {
    let app = spawn_app_with(FAST).await;
    let care = Care::new(&app, "Retry Clinic").await;
    let receiver = Receiver::start();
    receiver.plan(&[Answer::Status(500), Answer::Stall(Duration::from_millis(1500))]);
    let (hook, secret) = subscribe(&app, &care, &receiver.url, &["response.created"]).await;

    // A batch whose second form is invalid is refused whole: nothing stored, nothing sent.
    let session = care.new_session(&app).await;
    let mut bad = srs(&session, [9.0; 4]);
    bad["answers"]["relationship"] = json!(11);
    let refused = app
        .post_json_as(
            &care.clinician.token,
            "/v1/responses/batch",
            &json!({"responses": [srs(&session, [9.0; 4]), bad]}),
        )
        .await;
    assert_eq!(refused.status(), 422);

    let stored = submit(&app, &care.clinician.token, &srs(&session, [9.0; 4])).await;
    let received =
        receiver.until("an acknowledged delivery", |r| r.iter().any(|e| matches!(e.answer, Answer::Ok))).await;
    assert_eq!(received.len(), 3, "a 500, a timeout, then the acknowledged attempt: {received:#?}");
    let ids: Vec<String> = received.iter().map(Received::id).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "every attempt carries the same webhook-id");
    for event in &received {
        verify(&secret, event);
        assert_eq!(event.body["data"]["id"], stored["id"], "only the stored response");
    }
    let listed = deliveries(&app, &care, &hook).await;
    assert_eq!(listed.len(), 1);
    let attempts = listed[0]["attempts"].as_array().unwrap();
    assert_eq!(listed[0]["status"], "delivered");
    assert_eq!(attempts.len(), 3, "{attempts:#?}");
    assert_eq!(attempts[0]["status_code"], 500);
    assert!(attempts[1].get("status_code").is_none() && attempts[1]["error"] == "timed out", "{attempts:#?}");
    assert_eq!(attempts[2]["status_code"], 200);
}

#[tokio::test]
async fn a_spent_retry_budget_fails_the_delivery_and_disables_the_subscription_until_resumed() {
    let mut settings = FAST.to_vec();
    settings.push(("RAPPORT_WEBHOOK_RETRY_BUDGET_SECS", "1"));
    let app = spawn_app_with(&settings).await;
    let care = Care::new(&app, "Failing Receiver Clinic").await;
    let receiver = Receiver::start();
    receiver.plan(&[Answer::Status(503); 200]);
    let (hook, _) = subscribe(&app, &care, &receiver.url, &["response.created"]).await;
    let session = care.new_session(&app).await;
    submit(&app, &care.clinician.token, &srs(&session, [9.0; 4])).await;

    let url = format!("/v1/webhooks/{hook}");
    let mut disabled = Value::Null;
    for _ in 0..200 {
        disabled = app.get_as(&care.admin.token, &url).await.json().await.unwrap();
        if disabled["active"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(disabled["active"], false, "{disabled:#}");
    assert!(disabled["disabled_reason"].as_str().unwrap().contains("retry budget"));
    let failed = deliveries(&app, &care, &hook).await;
    assert_eq!(failed[0]["status"], "failed");
    let attempts = failed[0]["attempts"].as_array().unwrap();
    assert!(!attempts.is_empty() && attempts.iter().all(|a| a["status_code"] == 503), "{failed:#?}");
    let audit: Value =
        app.get_as(&care.admin.token, "/v1/audit-events?action=webhook.disable").await.json().await.unwrap();
    assert_eq!(audit["items"][0]["resource_id"], json!(hook));

    // The receiver is fixed: retry the failed delivery and resume the subscription.
    receiver.plan.lock().unwrap().clear();
    let retry = format!("/v1/webhooks/{hook}/deliveries/{}/retry", failed[0]["id"].as_str().unwrap());
    assert_eq!(app.post_json_as(&care.admin.token, &retry, &json!({})).await.status(), 202);
    let resumed = app.patch_json_as(&care.admin.token, &url, &json!({"active": true})).await;
    assert_eq!(resumed.status(), 200);
    receiver.until("the retried delivery acknowledged", |r| r.iter().any(|e| matches!(e.answer, Answer::Ok))).await;
    let listed = deliveries(&app, &care, &hook).await;
    for _ in 0..100 {
        if deliveries(&app, &care, &hook).await[0]["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(deliveries(&app, &care, &hook).await[0]["status"], "delivered", "{listed:#?}");
    assert_problem(app.post_json_as(&care.admin.token, &retry, &json!({})).await, 409, "already_delivered").await;
}

#[tokio::test]
async fn a_rotated_secret_and_the_previous_one_both_verify_during_the_grace_period() {
    let app = spawn_app_with(FAST).await;
    let care = Care::new(&app, "Rotation Clinic").await;
    let receiver = Receiver::start();
    let (hook, old_secret) = subscribe(&app, &care, &receiver.url, &["response.created"]).await;
    let rotated: Value = app
        .patch_json_as(&care.admin.token, &format!("/v1/webhooks/{hook}"), &json!({"rotate_secret": true}))
        .await
        .json()
        .await
        .unwrap();
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, old_secret);
    assert!(rotated["previous_secret_until"].is_string());
    let fetched: Value = app.get_as(&care.admin.token, &format!("/v1/webhooks/{hook}")).await.json().await.unwrap();
    assert!(fetched.get("secret").is_none(), "a secret is shown once");

    let ping: Value = app
        .post_json_as(&care.admin.token, &format!("/v1/webhooks/{hook}/ping"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let received = receiver.until("the ping", |r| !r.is_empty()).await;
    assert_eq!(received[0].kind(), "webhook.ping");
    assert_eq!(received[0].id(), ping["event_id"].as_str().unwrap());
    verify(&new_secret, &received[0]);
    verify(&old_secret, &received[0]);
    let wrong = standardwebhooks::Webhook::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    assert!(wrong.verify(&received[0].raw, &received[0].headers).is_err(), "a stranger's secret does not verify");
}

#[tokio::test]
async fn targets_inside_the_network_are_refused_and_redirects_are_not_followed() {
    let app = spawn_app().await;
    let care = Care::new(&app, "SSRF Webhook Clinic").await;
    let receiver = Receiver::start();
    for url in [
        receiver.url.as_str(),
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://localhost/hook",
        "https://[::ffff:192.168.0.1]/hook",
    ] {
        let response =
            app.post_json_as(&care.admin.token, "/v1/webhooks", &json!({"url": url, "event_types": ALL})).await;
        let problem = assert_problem(response, 422, "validation").await;
        assert_eq!(problem["errors"][0]["pointer"], "/url", "{url}");
    }
    let listed: Value = app.get_as(&care.admin.token, "/v1/webhooks").await.json().await.unwrap();
    assert!(listed["items"].as_array().unwrap().is_empty());

    // With loopback allowed (development), a redirect is an answer, never followed.
    let app = spawn_app_with(FAST).await;
    let care = Care::new(&app, "Redirect Clinic").await;
    receiver.plan(&[Answer::Redirect]);
    let (hook, _) = subscribe(&app, &care, &receiver.url, &["response.created"]).await;
    app.post_json_as(&care.admin.token, &format!("/v1/webhooks/{hook}/ping"), &json!({})).await;
    receiver.until("the retry after the redirect", |r| r.len() >= 2).await;
    let attempts = &deliveries(&app, &care, &hook).await[0]["attempts"];
    assert_eq!(attempts[0]["status_code"], 302, "{attempts:#}");
}

#[tokio::test]
async fn bad_subscriptions_are_refused_by_pointer_and_other_tenants_see_nothing() {
    let app = spawn_app_with(FAST).await;
    let care = Care::new(&app, "Validation Clinic").await;
    let receiver = Receiver::start();
    let cases = [
        (json!({"url": receiver.url, "event_types": ["response.deleted"]}), "/event_types/0"),
        (json!({"url": receiver.url, "event_types": ["webhook.ping"]}), "/event_types/0"),
        (json!({"url": receiver.url, "event_types": ["signal.created", "signal.created"]}), "/event_types/1"),
        (json!({"url": receiver.url, "event_types": []}), "/event_types"),
        (json!({"url": "ftp://ehr.example/x", "event_types": ALL}), "/url"),
        (json!({"url": receiver.url, "event_types": ALL, "secret": "mine"}), "/secret"),
        (json!({"url": receiver.url, "event_types": ALL, "description": " "}), "/description"),
    ];
    for (body, pointer) in cases {
        let response = app.post_json_as(&care.admin.token, "/v1/webhooks", &body).await;
        assert_eq!(response.status(), 422, "{body}");
        let problem: Value = response.json().await.unwrap();
        let pointers: Vec<&str> =
            problem["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap()).collect();
        assert!(pointers.contains(&pointer), "{pointer} in {pointers:?} for {body}");
    }

    let (hook, _) = subscribe(&app, &care, &receiver.url, &["response.created"]).await;
    let other = Care::new(&app, "Other Clinic").await;
    for path in [format!("/v1/webhooks/{hook}"), format!("/v1/webhooks/{hook}/deliveries")] {
        assert_problem(app.get_as(&other.admin.token, &path).await, 404, "not_found").await;
    }
    let ping = format!("/v1/webhooks/{hook}/ping");
    assert_problem(app.post_json_as(&other.admin.token, &ping, &json!({})).await, 404, "not_found").await;
    let listed: Value = app.get_as(&other.admin.token, "/v1/webhooks").await.json().await.unwrap();
    assert!(listed["items"].as_array().unwrap().is_empty());
    // The other organization's submissions reach no subscription of this one.
    let session = other.new_session(&app).await;
    submit(&app, &other.clinician.token, &srs(&session, [9.0; 4])).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(receiver.received().is_empty(), "{:#?}", receiver.received());
    assert_eq!(app.get_as(&care.clinician.token, "/v1/webhooks").await.status(), 403);
}

#[tokio::test]
async fn erasing_a_client_forgets_the_events_about_them() {
    let app = spawn_app_with(FAST).await;
    let care = Care::new(&app, "Erasure Webhook Clinic").await;
    let receiver = Receiver::start();
    let (hook, _) = subscribe(&app, &care, &receiver.url, &["response.created"]).await;
    let session = care.new_session(&app).await;
    submit(&app, &care.clinician.token, &srs(&session, [9.0; 4])).await;
    receiver.until("the event", |r| !r.is_empty()).await;
    assert_eq!(deliveries(&app, &care, &hook).await.len(), 1);
    let erased = app
        .send_json_as(
            reqwest::Method::DELETE,
            &care.admin.token,
            &format!("/v1/clients/{}", care.client_id),
            &json!(null),
        )
        .await;
    assert_eq!(erased.status(), 204);
    assert!(deliveries(&app, &care, &hook).await.is_empty(), "no trace of the client's events remains");
}
