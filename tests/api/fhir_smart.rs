//! SMART Backend Services: a service account registers its public keys (inline or at a URL),
//! signs a client assertion (RS384 or ES384), gets a token limited to its granted system
//! scopes, and uses it on the FHIR API only. Every assertion that must fail does.

use crate::fhir::phq9_loinc_style;
use crate::fixtures::Care;
use crate::harness::{TestApp, spawn_app, spawn_app_with};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const ALL_SCOPES: &str = "system/QuestionnaireResponse.cruds system/Observation.rs system/Questionnaire.rs";

fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/smart/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn fixture(name: &str) -> String {
    String::from_utf8(fixture_bytes(name)).unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// How an assertion is made; each test changes one thing.
struct Assertion {
    algorithm: Algorithm,
    kid: &'static str,
    key: &'static str,
    issuer: String,
    audience: String,
    lifetime: i64,
    jti: String,
}

impl Assertion {
    fn rs384(app: &TestApp, client_id: &str) -> Self {
        Assertion {
            algorithm: Algorithm::RS384,
            kid: "ehr-rsa-2026",
            key: "rsa.der",
            issuer: client_id.to_owned(),
            audience: app.url("/v1/auth/token"),
            lifetime: 240,
            jti: uuid::Uuid::now_v7().to_string(),
        }
    }

    fn es384(app: &TestApp, client_id: &str) -> Self {
        Assertion { algorithm: Algorithm::ES384, kid: "ehr-ec-2026", key: "ec.der", ..Self::rs384(app, client_id) }
    }

    fn sign(&self) -> String {
        let der = fixture_bytes(self.key);
        let key = match self.algorithm {
            Algorithm::RS384 => EncodingKey::from_rsa_der(&der),
            _ => EncodingKey::from_ec_der(&der),
        };
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.to_owned());
        header.typ = Some("JWT".to_owned());
        let claims = json!({
            "iss": self.issuer, "sub": self.issuer, "aud": self.audience,
            "exp": now() + self.lifetime, "iat": now(), "jti": self.jti,
        });
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }
}

async fn register(app: &TestApp, care: &Care, keys: Value) -> (u16, Value) {
    let mut body = json!({"name": "Epic backend", "role": "integration"});
    body.as_object_mut().unwrap().extend(keys.as_object().unwrap().clone());
    let response = app.post_json_as(&care.admin.token, "/v1/service-accounts", &body).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn keyed_account(app: &TestApp, care: &Care) -> String {
    let jwks: Value = serde_json::from_str(&fixture("jwks.json")).unwrap();
    let (status, account) = register(app, care, json!({"jwks": jwks})).await;
    assert_eq!(status, 201, "{account:#}");
    account["client_id"].as_str().unwrap().to_owned()
}

async fn exchange(app: &TestApp, assertion: &str, scope: Option<&str>) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let response = app.token_form(&form).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn create_phq9(app: &TestApp, care: &Care, token: &str) -> reqwest::Response {
    let client: Value =
        app.get_as(&care.admin.token, &format!("/v1/clients/{}", care.client_id)).await.json().await.unwrap();
    let body = phq9_loinc_style(client["external_id"].as_str().unwrap(), &care.session_id, [1; 9]);
    app.client
        .post(app.url("/fhir/r4/QuestionnaireResponse"))
        .bearer_auth(token)
        .header("content-type", "application/fhir+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_signed_assertion_gets_a_scoped_token_that_works_on_fhir_only() {
    let app = spawn_app().await;
    let care = Care::new(&app, "SMART Clinic").await;
    let jwks: Value = serde_json::from_str(&fixture("jwks.json")).unwrap();
    let (status, account) = register(&app, &care, json!({"jwks": jwks})).await;
    assert_eq!(status, 201);
    assert_eq!(account["authentication"], "private_key_jwt");
    assert!(account.get("client_secret").is_none(), "an account with keys has no secret");
    let client_id = account["client_id"].as_str().unwrap().to_owned();

    let (status, token) = exchange(&app, &Assertion::rs384(&app, &client_id).sign(), Some(ALL_SCOPES)).await;
    assert_eq!(status, 200, "{token:#}");
    assert_eq!(token["scope"], "system/Observation.rs system/Questionnaire.rs system/QuestionnaireResponse.crs");
    assert_eq!(token["token_type"], "Bearer");
    let access = token["access_token"].as_str().unwrap();
    assert_eq!(create_phq9(&app, &care, access).await.status(), 201);
    let rest = app.get_as(access, "/v1/clients").await;
    assert_eq!(rest.status(), 403, "a SMART token is for the FHIR API only");

    let (status, token) =
        exchange(&app, &Assertion::es384(&app, &client_id).sign(), Some("system/Observation.read")).await;
    assert_eq!((status, token["scope"].clone()), (200, json!("system/Observation.rs")));

    let audit: Value = app.get_as(&care.admin.token, "/v1/audit-events?limit=500").await.json().await.unwrap();
    let granted = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "auth.client_assertion" && e["outcome"] == "success")
        .count();
    assert_eq!(granted, 2);
    let secret_login = app
        .token_form(&[("grant_type", "client_credentials"), ("client_id", &client_id), ("client_secret", "!keys-only")])
        .await;
    assert_eq!(secret_login.status(), 401, "no secret works for an account with keys");
}

#[tokio::test]
async fn every_assertion_that_must_fail_does() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Refusing Clinic").await;
    let client_id = keyed_account(&app, &care).await;
    let good = Assertion::rs384(&app, &client_id);

    let replayed = good.sign();
    assert_eq!(exchange(&app, &replayed, Some(ALL_SCOPES)).await.0, 200);
    let (status, body) = exchange(&app, &replayed, Some(ALL_SCOPES)).await;
    assert_eq!((status, body["error"].clone()), (401, json!("invalid_client")), "a replayed jti");

    let fresh = || uuid::Uuid::now_v7().to_string();
    let cases: Vec<(&str, String)> = vec![
        (
            "wrong audience",
            Assertion {
                audience: "https://elsewhere.example/token".into(),
                jti: fresh(),
                ..Assertion::rs384(&app, &client_id)
            }
            .sign(),
        ),
        ("expired", Assertion { lifetime: -120, jti: fresh(), ..Assertion::rs384(&app, &client_id) }.sign()),
        ("lives ten minutes", Assertion { lifetime: 600, jti: fresh(), ..Assertion::rs384(&app, &client_id) }.sign()),
        (
            "a key not in the set, under a registered kid",
            Assertion { key: "other-ec.der", jti: fresh(), ..Assertion::es384(&app, &client_id) }.sign(),
        ),
        ("an unknown kid", Assertion { kid: "nobody", jti: fresh(), ..Assertion::rs384(&app, &client_id) }.sign()),
        (
            "the RSA key's kid on an ES384 signature",
            Assertion { kid: "ehr-rsa-2026", jti: fresh(), ..Assertion::es384(&app, &client_id) }.sign(),
        ),
        (
            "another issuer",
            Assertion { issuer: "svc_nobody".into(), jti: fresh(), ..Assertion::rs384(&app, &client_id) }.sign(),
        ),
    ];
    for (case, assertion) in cases {
        let (status, body) = exchange(&app, &assertion, Some(ALL_SCOPES)).await;
        assert_eq!((status, body["error"].clone()), (401, json!("invalid_client")), "{case}");
    }

    // alg none, and HS256 keyed with the RSA public key (algorithm confusion).
    let claims = json!({"iss": client_id, "sub": client_id, "aud": app.url("/v1/auth/token"), "exp": now() + 60, "jti": fresh()});
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let none = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"ehr-rsa-2026"}"#));
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("ehr-rsa-2026".into());
    let confused =
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(fixture("jwks.json").as_bytes())).unwrap();
    for (case, assertion) in [("alg none", none), ("HS256", confused)] {
        let (status, body) = exchange(&app, &assertion, Some(ALL_SCOPES)).await;
        assert!(status == 401 || status == 400, "{case}: {status}");
        assert_ne!(body["error"], "", "{case}");
        assert!(body.get("access_token").is_none(), "{case}");
    }

    let (status, body) =
        exchange(&app, &Assertion { jti: fresh(), ..Assertion::rs384(&app, &client_id) }.sign(), None).await;
    assert_eq!((status, body["error"].clone()), (400, json!("invalid_scope")), "scope is required");
    let (status, body) = exchange(
        &app,
        &Assertion { jti: fresh(), ..Assertion::rs384(&app, &client_id) }.sign(),
        Some("system/Patient.rs"),
    )
    .await;
    assert_eq!((status, body["error"].clone()), (400, json!("invalid_scope")), "nothing grantable");
    let wrong_type = app
        .token_form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:other"),
            ("client_assertion", &good.sign()),
        ])
        .await;
    assert_eq!(wrong_type.status(), 400);

    let audit: Value = app.get_as(&care.admin.token, "/v1/audit-events?limit=500").await.json().await.unwrap();
    let reasons: Vec<String> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "auth.client_assertion" && e["outcome"] == "failure")
        .map(|e| e["detail"]["reason"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(reasons.iter().any(|r| r.contains("used before")), "{reasons:?}");
    assert!(reasons.len() >= 8, "{reasons:?}");
}

#[tokio::test]
async fn a_token_without_the_write_scope_cannot_create() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Read-only Clinic").await;
    let client_id = keyed_account(&app, &care).await;
    let (status, token) =
        exchange(&app, &Assertion::es384(&app, &client_id).sign(), Some("system/QuestionnaireResponse.rs")).await;
    assert_eq!(status, 200);
    let access = token["access_token"].as_str().unwrap();
    let refused = create_phq9(&app, &care, access).await;
    assert_eq!(refused.status(), 403);
    let outcome: Value = refused.json().await.unwrap();
    assert_eq!(outcome["issue"][0]["code"], "forbidden");
    let list = app.client.get(app.url("/fhir/r4/QuestionnaireResponse")).bearer_auth(access).send().await.unwrap();
    assert_eq!(list.status(), 200);
    let observations = app.client.get(app.url("/fhir/r4/Observation")).bearer_auth(access).send().await.unwrap();
    assert_eq!(observations.status(), 403, "no Observation scope");
}

/// Answers every request on a loopback port with `answer` (a whole HTTP/1.1 response); counts
/// the requests. Returns the base URL.
fn serve(answer: String) -> (String, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            counted.fetch_add(1, Ordering::SeqCst);
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    (base, hits)
}

/// Serves `body` as JSON at any path on a loopback port; counts the requests.
fn serve_key_set(body: String) -> (String, Arc<AtomicUsize>) {
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (base, hits) = serve(answer);
    (format!("{base}/.well-known/jwks.json"), hits)
}

/// The development setting that lets a test's own loopback server stand in for an EHR.
const LOOPBACK_TARGETS: &[(&str, &str)] = &[("RAPPORT_ALLOW_LOOPBACK_TARGETS", "true")];

#[tokio::test]
async fn a_key_set_at_a_url_is_fetched_and_cached() {
    let app = spawn_app_with(LOOPBACK_TARGETS).await;
    let care = Care::new(&app, "JWKS URL Clinic").await;
    let (url, hits) = serve_key_set(fixture("jwks.json"));
    let (status, account) = register(&app, &care, json!({"jwks_url": url})).await;
    assert_eq!(status, 201, "{account:#}");
    assert_eq!(
        (account["authentication"].clone(), account["jwks_url"].clone()),
        (json!("private_key_jwt"), json!(url))
    );
    let client_id = account["client_id"].as_str().unwrap().to_owned();
    for assertion in [Assertion::es384(&app, &client_id), Assertion::rs384(&app, &client_id)] {
        let (status, token) = exchange(&app, &assertion.sign(), Some(ALL_SCOPES)).await;
        assert_eq!(status, 200, "{token:#}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "the set is cached");

    // A key set the URL does not have: refused.
    let stranger = Assertion { key: "other-ec.der", ..Assertion::es384(&app, &client_id) };
    assert_eq!(exchange(&app, &stranger.sign(), Some(ALL_SCOPES)).await.0, 401);

    // An unreachable URL refuses the client, not the server.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (status, gone) = register(&app, &care, json!({"jwks_url": format!("http://{closed}/jwks.json")})).await;
    assert_eq!(status, 201);
    let gone_id = gone["client_id"].as_str().unwrap().to_owned();
    let (status, body) = exchange(&app, &Assertion::rs384(&app, &gone_id).sign(), Some(ALL_SCOPES)).await;
    assert_eq!((status, body["error"].clone()), (401, json!("invalid_client")));

    // A redirect (here towards a metadata address) is never followed.
    let (base, hits) = serve(
        "HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            .to_owned(),
    );
    let (status, moved) = register(&app, &care, json!({"jwks_url": format!("{base}/jwks.json")})).await;
    assert_eq!(status, 201);
    let moved_id = moved["client_id"].as_str().unwrap().to_owned();
    let (status, body) = exchange(&app, &Assertion::es384(&app, &moved_id).sign(), Some(ALL_SCOPES)).await;
    assert_eq!((status, body["error"].clone()), (401, json!("invalid_client")));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn key_set_urls_that_reach_inside_the_network_are_refused() {
    let app = spawn_app().await;
    let care = Care::new(&app, "SSRF Clinic").await;
    // The development setting is off: a test's own loopback server is refused like any other.
    let (loopback_server, hits) = serve_key_set(fixture("jwks.json"));
    for url in [
        loopback_server.as_str(),
        "https://127.0.0.1/jwks.json",
        "https://127.1/jwks.json",
        "https://10.0.0.8/jwks.json",
        "https://192.168.1.20/jwks.json",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/jwks.json",
        "https://[::ffff:127.0.0.1]/jwks.json",
        "https://[fd00:ec2::254]/jwks.json",
        "https://localhost/jwks.json",
    ] {
        let (status, problem) = register(&app, &care, json!({"jwks_url": url})).await;
        assert_eq!(status, 422, "{url}: {problem:#}");
        assert_eq!(problem["errors"][0]["pointer"], "/jwks_url", "{url}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing was fetched");
    let listed = app.get_as(&care.admin.token, "/v1/service-accounts").await;
    let listed: Value = listed.json().await.unwrap();
    assert!(listed["items"].as_array().unwrap().iter().all(|a| a["jwks_url"].is_null()), "nothing was stored");
}

#[tokio::test]
async fn bad_key_registrations_are_refused_by_pointer() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Key Registry Clinic").await;
    let mut private: Value = serde_json::from_str(&fixture("jwks.json")).unwrap();
    private["keys"][1]["d"] = json!("c2VjcmV0");
    let cases = [
        (json!({"jwks": private}), "/jwks/keys/1"),
        (json!({"jwks": {"keys": []}}), "/jwks/keys"),
        (json!({"jwks": {"keys": [{"kty": "oct", "kid": "a", "k": "c2VjcmV0"}]}}), "/jwks/keys/0"),
        (json!({"jwks_url": "http://ehr.example/jwks.json"}), "/jwks_url"),
        (json!({"jwks_url": "https://ehr.example/jwks.json", "jwks": {"keys": []}}), "/jwks_url"),
    ];
    for (keys, pointer) in cases {
        let (status, problem) = register(&app, &care, keys.clone()).await;
        assert_eq!(status, 422, "{keys}");
        let pointers: Vec<&str> =
            problem["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap()).collect();
        assert!(pointers.contains(&pointer), "{pointer} in {pointers:?}");
    }
}
