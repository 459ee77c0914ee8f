//! The token endpoint and bearer-token validation (RFC 6749, RFC 8725).

use crate::actors::{claims_for, test_keys};
use crate::harness::{TEST_JWT_SECRET, TestApp, assert_problem, spawn_app, spawn_app_with};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

fn decode_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn oauth_error(response: reqwest::Response, status: u16, error: &str) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string());
    body
}

#[tokio::test]
async fn the_password_grant_issues_a_typed_jwt_with_every_claim_and_a_refresh_token() {
    let app = spawn_app().await;
    let admin = app.create_org("Token Clinic").await;
    let response =
        app.token_form(&[("grant_type", "password"), ("username", &admin.email), ("password", &admin.password)]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    let token = body["access_token"].as_str().unwrap();
    let header = decode_part(token, 0);
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["typ"], "at+jwt");
    let claims = decode_part(token, 1);
    for claim in ["iss", "aud", "sub", "org", "role", "exp", "iat", "nbf", "jti"] {
        assert!(!claims[claim].is_null(), "claim {claim} missing: {claims}");
    }
    assert_eq!(claims["role"], "admin");
    assert_eq!(claims["org"], admin.organization_id.to_string());
    assert!(body["refresh_token"].as_str().is_some_and(|t| t.len() > 60));
    assert_eq!(app.get_as(token, "/v1/users").await.status(), 200);
}

#[tokio::test]
async fn a_json_token_request_works_like_a_form() {
    let app = spawn_app().await;
    let admin = app.create_org("Json Clinic").await;
    let response = app
        .post_raw(
            "/v1/auth/token",
            "application/json",
            json!({"grant_type": "password", "username": admin.email.to_uppercase(), "password": admin.password})
                .to_string(),
        )
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn malformed_token_requests_answer_in_the_oauth_error_format() {
    let app = spawn_app().await;
    oauth_error(app.token_form(&[("grant_type", "magic")]).await, 400, "unsupported_grant_type").await;
    oauth_error(app.token_form(&[("username", "x")]).await, 400, "invalid_request").await;
    oauth_error(app.token_form(&[("grant_type", "password"), ("username", "x@y.org")]).await, 400, "invalid_request")
        .await;
    oauth_error(app.post_raw("/v1/auth/token", "text/plain", "grant_type=password").await, 400, "invalid_request")
        .await;
    oauth_error(app.post_raw("/v1/auth/token", "application/json", "{not json").await, 400, "invalid_request").await;
    oauth_error(
        app.token_form(&[("grant_type", "refresh_token"), ("refresh_token", "garbage")]).await,
        400,
        "invalid_grant",
    )
    .await;
    let huge = "a".repeat(100_000);
    oauth_error(app.token_form(&[("grant_type", "password"), ("username", &huge)]).await, 400, "invalid_request").await;
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_login_both_answer_invalid_grant_and_are_audited() {
    let app = spawn_app().await;
    let admin = app.create_org("Failing Clinic").await;
    oauth_error(
        app.token_form(&[("grant_type", "password"), ("username", &admin.email), ("password", "not the password")])
            .await,
        400,
        "invalid_grant",
    )
    .await;
    oauth_error(
        app.token_form(&[
            ("grant_type", "password"),
            ("username", "nobody@nowhere.example"),
            ("password", "whatever it is"),
        ])
        .await,
        400,
        "invalid_grant",
    )
    .await;
    let events: Value =
        app.get_as(&admin.token, "/v1/audit-events?action=auth.login&outcome=failure").await.json().await.unwrap();
    let items = events["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "the wrong password for a known person is in its organization's log: {events}");
    assert_eq!(items[0]["detail"]["reason"], "wrong password");
    assert_eq!(items[0]["resource_id"], admin.id.to_string());
}

#[tokio::test]
async fn service_accounts_get_tokens_with_client_credentials_in_the_body_or_basic_auth() {
    let app = spawn_app().await;
    let admin = app.create_org("Integration Clinic").await;
    let (account, token) = app.create_service_account(&admin, "integration").await;
    assert_eq!(decode_part(&token, 1)["role"], "integration");
    let (id, secret) = (account["client_id"].as_str().unwrap(), account["client_secret"].as_str().unwrap());
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let response = app
        .client
        .post(app.url("/v1/auth/token"))
        .header("authorization", format!("Basic {basic}"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body.get("refresh_token").is_none(), "no refresh token for a service account");

    let wrong =
        app.token_form(&[("grant_type", "client_credentials"), ("client_id", id), ("client_secret", "wrong")]).await;
    assert!(wrong.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    oauth_error(wrong, 401, "invalid_client").await;
    // A person's credentials are not a client's.
    oauth_error(
        app.token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &admin.email),
            ("client_secret", &admin.password),
        ])
        .await,
        401,
        "invalid_client",
    )
    .await;
    // The secret is never listed again.
    let listed: Value = app.get_as(&admin.token, "/v1/service-accounts").await.json().await.unwrap();
    assert_eq!(listed["items"][0]["client_id"], id);
    assert!(listed["items"][0].get("client_secret").is_none());
}

#[tokio::test]
async fn a_refresh_token_works_once_and_its_reuse_revokes_the_whole_family() {
    let app = spawn_app().await;
    let admin = app.create_org("Refresh Clinic").await;
    let refresh = |token: String| {
        let app = &app;
        async move { app.token_form(&[("grant_type", "refresh_token"), ("refresh_token", &token)]).await }
    };
    let first = refresh(admin.refresh_token.clone()).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    let successor = first["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(successor, admin.refresh_token);
    assert_eq!(app.get_as(first["access_token"].as_str().unwrap(), "/v1/users").await.status(), 200);

    // The used token again: refused, and the family (with the successor) is revoked.
    oauth_error(refresh(admin.refresh_token.clone()).await, 400, "invalid_grant").await;
    oauth_error(refresh(successor).await, 400, "invalid_grant").await;
    let reuse: Value =
        app.get_as(&admin.token, "/v1/audit-events?action=auth.refresh&outcome=failure").await.json().await.unwrap();
    assert!(reuse["items"][0]["detail"]["reason"].as_str().unwrap().starts_with("reused"));

    // A refresh token is not an access token.
    let as_bearer = app.get_as(&admin.refresh_token, "/v1/users").await;
    assert_problem(as_bearer, 401, "unauthorized").await;
}

#[tokio::test]
async fn a_deactivated_person_loses_access_at_once() {
    let app = spawn_app().await;
    let admin = app.create_org("Deactivation Clinic").await;
    let clinician = app.create_person(&admin, "clinician").await;
    assert_eq!(app.get_as(&clinician.token, "/v1/clients").await.status(), 200);
    let response =
        app.patch_json_as(&admin.token, &format!("/v1/users/{}", clinician.id), &json!({"active": false})).await;
    assert_eq!(response.status(), 200);
    assert_problem(app.get_as(&clinician.token, "/v1/clients").await, 401, "unauthorized").await;
    oauth_error(
        app.token_form(&[("grant_type", "refresh_token"), ("refresh_token", &clinician.refresh_token)]).await,
        400,
        "invalid_grant",
    )
    .await;
    oauth_error(
        app.token_form(&[
            ("grant_type", "password"),
            ("username", &clinician.email),
            ("password", &clinician.password),
        ])
        .await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn a_changed_role_invalidates_tokens_that_name_the_old_one() {
    let app = spawn_app().await;
    let admin = app.create_org("Role Clinic").await;
    let supervisor = app.create_person(&admin, "supervisor").await;
    assert_eq!(app.get_as(&supervisor.token, "/v1/users").await.status(), 200);
    app.patch_json_as(&admin.token, &format!("/v1/users/{}", supervisor.id), &json!({"role": "clinician"})).await;
    assert_problem(app.get_as(&supervisor.token, "/v1/users").await, 401, "unauthorized").await;
}

/// Every way a bearer token can be wrong (docs/security.md, RFC 8725) answers 401.
#[tokio::test]
async fn every_kind_of_bad_bearer_token_answers_401() {
    let app = spawn_app().await;
    let admin = app.create_org("Bad Token Clinic").await;
    let keys = test_keys();
    let now = chrono::Utc::now().timestamp();
    let good = claims_for(&admin, "admin");
    let altered = |change: &dyn Fn(&mut Value)| {
        let mut claims = good.clone();
        change(&mut claims);
        keys.sign(&claims)
    };
    let header = |value: Value| URL_SAFE_NO_PAD.encode(value.to_string());
    let body = URL_SAFE_NO_PAD.encode(good.to_string());
    let hs384 = {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS384);
        h.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&h, &good, &jsonwebtoken::EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes())).unwrap()
    };
    let untyped = {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &good,
            &jsonwebtoken::EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()),
        )
        .unwrap()
    };
    let valid = keys.sign(&good);
    let mut tampered = valid.clone();
    tampered.pop();
    tampered.push(if valid.ends_with('A') { 'B' } else { 'A' });
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("malformed", Some("not.a.jwt".into())),
        ("not even dots", Some("garbage".into())),
        ("bad signature", Some(tampered)),
        ("alg none", Some(format!("{}.{body}.", header(json!({"alg": "none", "typ": "at+jwt"}))))),
        ("another algorithm (HS384)", Some(hs384)),
        ("no typ header", Some(untyped)),
        ("expired", Some(altered(&|c| c["exp"] = json!(now - 120)))),
        ("not yet valid", Some(altered(&|c| c["nbf"] = json!(now + 300)))),
        ("wrong iss", Some(altered(&|c| c["iss"] = json!("someone-else")))),
        ("wrong aud", Some(altered(&|c| c["aud"] = json!("another-api")))),
        ("missing sub", Some(altered(&|c| drop(c.as_object_mut().unwrap().remove("sub"))))),
        ("missing org", Some(altered(&|c| drop(c.as_object_mut().unwrap().remove("org"))))),
        ("missing role", Some(altered(&|c| drop(c.as_object_mut().unwrap().remove("role"))))),
        ("missing exp", Some(altered(&|c| drop(c.as_object_mut().unwrap().remove("exp"))))),
        ("missing jti", Some(altered(&|c| drop(c.as_object_mut().unwrap().remove("jti"))))),
        ("unknown role", Some(altered(&|c| c["role"] = json!("root")))),
        ("role not the subject's", Some(altered(&|c| c["role"] = json!("supervisor")))),
        ("subject of another organization", Some(altered(&|c| c["org"] = json!(uuid::Uuid::now_v7())))),
        ("unknown subject", Some(altered(&|c| c["sub"] = json!(uuid::Uuid::now_v7())))),
        ("refresh token as access token", Some(admin.refresh_token.clone())),
    ];
    assert_eq!(app.get_as(&valid, "/v1/users").await.status(), 200, "the unaltered token works");
    for (case, token) in cases {
        let response = match &token {
            Some(token) => app.get_as(token, "/v1/users").await,
            None => app.get("/v1/users").await,
        };
        assert_eq!(response.status(), 401, "{case}");
        assert!(response.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"), "{case}");
        assert_problem(response, 401, "unauthorized").await;
    }
    let scheme =
        app.client.get(app.url("/v1/users")).header("authorization", format!("Token {valid}")).send().await.unwrap();
    assert_eq!(scheme.status(), 401);
}

async fn rate_limited_app() -> TestApp {
    spawn_app_with(&[("RAPPORT_TOKEN_RATE_PER_USERNAME", "3"), ("RAPPORT_TOKEN_RATE_PER_ADDRESS", "6")]).await
}

#[tokio::test]
async fn token_requests_are_rate_limited_per_username_and_per_address() {
    let app = rate_limited_app().await;
    let attempt = |user: &'static str| {
        let app = &app;
        async move {
            app.token_form(&[("grant_type", "password"), ("username", user), ("password", "wrong password")]).await
        }
    };
    for _ in 0..3 {
        assert_eq!(attempt("victim@clinic.example").await.status(), 400);
    }
    let limited = attempt("victim@clinic.example").await;
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    oauth_error(limited, 429, "slow_down").await;
    // Another username still gets through, until the address runs out.
    assert_eq!(attempt("other@clinic.example").await.status(), 400);
    assert_eq!(attempt("third@clinic.example").await.status(), 400);
    oauth_error(attempt("fourth@clinic.example").await, 429, "slow_down").await;
}

#[tokio::test]
async fn with_hs256_the_jwks_is_empty() {
    let app = spawn_app().await;
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"keys": []}));
}

fn write_ed25519_key(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding};
    let mut seed = [0u8; 32];
    rand::fill(&mut seed);
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    std::fs::write(&private, key.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes()).unwrap();
    std::fs::write(&public, key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap()).unwrap();
    (private, public)
}

#[tokio::test]
async fn an_ed25519_key_signs_with_a_kid_published_in_the_jwks_and_survives_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let (old_private, old_public) = write_ed25519_key(dir.path(), "old");
    let (new_private, _) = write_ed25519_key(dir.path(), "new");
    let old_app = spawn_app_with(&[("RAPPORT_JWT_PRIVATE_KEY_FILE", old_private.to_str().unwrap())]).await;
    let admin = old_app.create_org("Key Clinic").await;
    let header = decode_part(&admin.token, 0);
    assert_eq!(header["alg"], "EdDSA");
    let jwks: Value = old_app.get("/.well-known/jwks.json").await.json().await.unwrap();
    assert_eq!(jwks["keys"][0]["kid"], header["kid"]);
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
    // Another service verifies the token with the published key alone.
    let x = jwks["keys"][0]["x"].as_str().unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&["rapport-api"]);
    let decoded = jsonwebtoken::decode::<Value>(
        &admin.token,
        &jsonwebtoken::DecodingKey::from_ed_components(x).unwrap(),
        &validation,
    );
    assert!(decoded.is_ok(), "{decoded:?}");
    // An HS256 token with the shared test secret is refused: the algorithm is pinned.
    assert_eq!(old_app.get_as(&test_keys().sign(&claims_for(&admin, "admin")), "/v1/users").await.status(), 401);

    // Rotation: a new signing key, the old public key still trusted, on the same database.
    let settings = crate::harness::test_settings(
        &old_app.database.url,
        &[
            ("RAPPORT_JWT_PRIVATE_KEY_FILE", new_private.to_str().unwrap()),
            ("RAPPORT_JWT_PREVIOUS_PUBLIC_KEY_FILES", old_public.to_str().unwrap()),
        ],
    );
    let rotated = rapport::startup::Application::build(&settings, &old_app.database.url).await.unwrap();
    let address = format!("http://{}", rotated.address());
    let handle = rotated.handle();
    tokio::spawn(rotated.run_until_stopped());
    let client = reqwest::Client::new();
    let old_token_still_works =
        client.get(format!("{address}/v1/users")).bearer_auth(&admin.token).send().await.unwrap();
    assert_eq!(old_token_still_works.status(), 200);
    let jwks: Value =
        client.get(format!("{address}/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    drop(handle.stop(false));
}
