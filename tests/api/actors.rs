//! The actors of a test: organizations with their admin, people of each role, service
//! accounts, clients, and tokens signed as the test apps sign them (to forge bad ones).

use crate::harness::{TEST_JWT_SECRET, TestApp};
use std::sync::atomic::{AtomicU32, Ordering};

/// A person who can log in: ids, credentials and a fresh access token.
#[derive(Clone, Debug)]
pub struct Person {
    pub id: uuid::Uuid,
    pub organization_id: uuid::Uuid,
    pub email: String,
    pub password: String,
    pub token: String,
    pub refresh_token: String,
}

static NEXT_NAME: AtomicU32 = AtomicU32::new(0);

/// A unique e-mail address for a test person.
pub fn unique_email(role: &str) -> String {
    format!("{role}{}-{}@clinic.example", NEXT_NAME.fetch_add(1, Ordering::Relaxed), std::process::id())
}

impl TestApp {
    fn with_bearer(&self, builder: reqwest::RequestBuilder, token: &str) -> reqwest::RequestBuilder {
        builder.bearer_auth(token)
    }

    pub async fn get_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.with_bearer(self.client.get(self.url(path)), token).send().await.expect("request sent")
    }

    pub async fn delete_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.with_bearer(self.client.delete(self.url(path)), token).send().await.expect("request sent")
    }

    pub async fn send_json_as(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.with_bearer(self.client.request(method, self.url(path)), token)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_json_as(&self, token: &str, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.send_json_as(reqwest::Method::POST, token, path, body).await
    }

    pub async fn patch_json_as(&self, token: &str, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.send_json_as(reqwest::Method::PATCH, token, path, body).await
    }

    /// `POST /v1/auth/token` with a form body.
    pub async fn token_form(&self, form: &[(&str, &str)]) -> reqwest::Response {
        let body = serde_urlencoded::to_string(form).unwrap();
        self.post_raw("/v1/auth/token", "application/x-www-form-urlencoded", body).await
    }

    pub async fn login(&self, email: &str, password: &str) -> serde_json::Value {
        let response =
            self.token_form(&[("grant_type", "password"), ("username", email), ("password", password)]).await;
        assert_eq!(response.status(), 200, "login of {email}");
        response.json().await.unwrap()
    }

    /// A new organization with its admin, logged in.
    pub async fn create_org(&self, name: &str) -> Person {
        let email = unique_email("admin");
        let password = "admin password for tests".to_owned();
        let created = self
            .db
            .create_organization(
                rapport::domain::people::OrganizationName::parse(name, "/name").unwrap(),
                rapport::domain::people::EmailAddress::parse(&email, "/email").unwrap(),
                rapport::auth::password::hash(&password),
            )
            .await
            .expect("organization created");
        let tokens = self.login(&email, &password).await;
        Person {
            id: created.admin_user_id,
            organization_id: created.organization_id,
            email,
            token: tokens["access_token"].as_str().unwrap().to_owned(),
            refresh_token: tokens["refresh_token"].as_str().unwrap().to_owned(),
            password,
        }
    }

    /// A person of `admin`'s organization with `role`, logged in.
    pub async fn create_person(&self, admin: &Person, role: &str) -> Person {
        let email = unique_email(role);
        let password = format!("{role} password for tests");
        let response = self
            .post_json_as(
                &admin.token,
                "/v1/users",
                &serde_json::json!({"email": email, "role": role, "password": password}),
            )
            .await;
        assert_eq!(response.status(), 201, "create {role}: {}", response.text().await.unwrap_or_default());
        let user: serde_json::Value = response.json().await.unwrap();
        let tokens = self.login(&email, &password).await;
        Person {
            id: user["id"].as_str().unwrap().parse().unwrap(),
            organization_id: admin.organization_id,
            email,
            password,
            token: tokens["access_token"].as_str().unwrap().to_owned(),
            refresh_token: tokens["refresh_token"].as_str().unwrap().to_owned(),
        }
    }

    /// A service account of `admin`'s organization, with an access token.
    pub async fn create_service_account(&self, admin: &Person, role: &str) -> (serde_json::Value, String) {
        let response = self
            .post_json_as(
                &admin.token,
                "/v1/service-accounts",
                &serde_json::json!({"name": format!("{role} account"), "role": role}),
            )
            .await;
        assert_eq!(response.status(), 201);
        let account: serde_json::Value = response.json().await.unwrap();
        let response = self
            .token_form(&[
                ("grant_type", "client_credentials"),
                ("client_id", account["client_id"].as_str().unwrap()),
                ("client_secret", account["client_secret"].as_str().unwrap()),
            ])
            .await;
        assert_eq!(response.status(), 200);
        let token = response.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
        (account, token)
    }

    /// A client of `actor`'s organization.
    pub async fn create_client(&self, token: &str, external_id: &str) -> serde_json::Value {
        let response = self
            .post_json_as(token, "/v1/clients", &serde_json::json!({"external_id": external_id, "age_group": "adult"}))
            .await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap_or_default());
        response.json().await.unwrap()
    }
}

/// Keys that sign exactly as the test apps' do (HS256 with the test secret).
pub fn test_keys() -> rapport::auth::tokens::TokenKeys {
    rapport::auth::tokens::TokenKeys::hs256(
        TEST_JWT_SECRET.as_bytes(),
        "rapport",
        "rapport-api",
        std::time::Duration::from_secs(900),
    )
}

/// Claims for `person` as the service would issue them, to be altered by a test.
pub fn claims_for(person: &Person, role: &str) -> serde_json::Value {
    let now = chrono::Utc::now().timestamp();
    serde_json::json!({
        "iss": "rapport", "aud": "rapport-api", "sub": person.id, "org": person.organization_id,
        "role": role, "exp": now + 600, "iat": now, "nbf": now, "jti": uuid::Uuid::now_v7(),
    })
}
