//! `POST /v1/auth/token`: the OAuth 2.0 token endpoint (RFC 6749), JSON or form-encoded.
//!
//! Grants: `password` (people; returns a refresh token), `client_credentials` (service
//! accounts, credentials in the body or HTTP Basic, or a signed JWT client assertion: SMART
//! Backend Services, see `auth::client_assertion`), `refresh_token` (rotation: each works once;
//! reuse revokes the family). Errors use the RFC 6749 §5.2 shape, not problem+json. Every
//! attempt is audited. Attempts are rate-limited per client address and per username.

use super::auth_user::request_id;
use super::extract::read_body;
use super::public_url::PublicUrl;
use crate::auth::client_assertion::{self, ASSERTION_TYPE, AssertionRejected};
use crate::auth::hashing_pool::HashingPool;
use crate::auth::password;
use crate::auth::refresh::RefreshToken;
use crate::auth::remote_jwks::RemoteKeySets;
use crate::auth::tokens::TokenKeys;
use crate::config::TokenSettings;
use crate::db::Database;
use crate::db::audit::Outcome;
use crate::db::refresh_tokens::{AuthenticationEvent, Rotation};
use crate::db::service_accounts::{KeySource, KeyedAccount};
use crate::db::users::PrincipalKind;
use crate::domain::Role;
use crate::domain::scopes::Scopes;
use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, post, web};
use base64::Engine;
use futures_util::future::LocalBoxFuture;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock, clock::DefaultClock};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::LazyLock;
use utoipa::ToSchema;
use uuid::Uuid;

const TOKEN_BODY_LIMIT: usize = 16 * 1024;

/// A token request. Unknown parameters are ignored, as RFC 6749 §3.2 requires.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// `password`, `client_credentials` or `refresh_token`.
    #[schema(example = "password")]
    pub grant_type: String,
    /// E-mail address (password grant).
    pub username: Option<String>,
    pub password: Option<String>,
    /// Service account client id (client-credentials grant; or HTTP Basic).
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub refresh_token: Option<String>,
    /// With a client assertion: the SMART system scopes asked for (e.g.
    /// `system/QuestionnaireResponse.crs system/Observation.rs`); the token grants what the
    /// account's role allows of them. Otherwise ignored: the token carries its principal's role.
    pub scope: Option<String>,
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer` (SMART Backend Services).
    pub client_assertion_type: Option<String>,
    /// A JWT signed by a key of the service account's registered key set (RFC 7523).
    pub client_assertion: Option<String>,
}

impl TokenRequest {
    /// The first parameter holding a NUL character (no credential can contain one, and
    /// PostgreSQL cannot store it).
    fn field_with_nul(&self) -> Option<&'static str> {
        let fields = [
            ("grant_type", Some(&self.grant_type)),
            ("username", self.username.as_ref()),
            ("password", self.password.as_ref()),
            ("client_id", self.client_id.as_ref()),
            ("client_secret", self.client_secret.as_ref()),
            ("refresh_token", self.refresh_token.as_ref()),
            ("scope", self.scope.as_ref()),
            ("client_assertion_type", self.client_assertion_type.as_ref()),
            ("client_assertion", self.client_assertion.as_ref()),
        ];
        fields.into_iter().find(|(_, value)| value.is_some_and(|v| v.contains('\0'))).map(|(name, _)| name)
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Password and refresh grants only. Works once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The SMART scopes granted (client-assertion grant only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "system/Observation.rs system/QuestionnaireResponse.crs")]
    pub scope: Option<String>,
}

/// RFC 6749 §5.2 error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthErrorBody {
    #[schema(example = "invalid_grant")]
    pub error: String,
    pub error_description: String,
}

/// The parsed body of a token request, JSON or form-encoded.
pub struct TokenForm(TokenRequest);

impl FromRequest for TokenForm {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
            .unwrap_or_default();
        let payload = payload.take();
        Box::pin(async move {
            let body = read_body(payload, TOKEN_BODY_LIMIT)
                .await
                .map_err(|_| invalid_request("the request body is too large"))?;
            let parsed = match content_type.as_str() {
                "application/x-www-form-urlencoded" => {
                    serde_urlencoded::from_bytes::<TokenRequest>(&body).map_err(|e| invalid_request(&e.to_string()))
                }
                "application/json" => {
                    serde_json::from_slice::<TokenRequest>(&body).map_err(|e| invalid_request(&e.to_string()))
                }
                _ => Err(invalid_request("send application/x-www-form-urlencoded or application/json")),
            }?;
            if let Some(name) = parsed.field_with_nul() {
                return Err(invalid_request(&format!("`{name}` must not contain NUL characters")));
            }
            Ok(TokenForm(parsed))
        })
    }
}

fn oauth(status: u16, error: &'static str, description: &str) -> ApiError {
    ApiError::OAuth { status, error, description: description.to_owned(), retry_after_secs: None }
}

fn invalid_request(description: &str) -> ApiError {
    oauth(400, "invalid_request", description)
}

fn invalid_grant() -> ApiError {
    oauth(400, "invalid_grant", "the credentials or refresh token are invalid, expired or revoked")
}

fn invalid_client() -> ApiError {
    oauth(401, "invalid_client", "client authentication failed")
}

/// Per-address and per-username limits on token requests.
pub struct TokenRateLimits {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    per_username: DefaultKeyedRateLimiter<String>,
}

impl TokenRateLimits {
    pub fn new(settings: &TokenSettings) -> Self {
        let per_minute = |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).expect("at least 1"));
        Self {
            per_address: RateLimiter::keyed(per_minute(settings.rate_per_address)),
            per_username: RateLimiter::keyed(per_minute(settings.rate_per_username)),
        }
    }

    fn check<K: std::hash::Hash + Eq + Clone>(limiter: &DefaultKeyedRateLimiter<K>, key: &K) -> Result<(), ApiError> {
        if limiter.len() > 100_000 {
            limiter.retain_recent();
        }
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::OAuth {
                status: 429,
                error: "slow_down",
                description: "too many token requests; retry later".into(),
                retry_after_secs: Some(wait.as_secs().max(1)),
            }
        })
    }
}

/// A hash to verify against when the login is unknown, so that costs the same work.
static UNKNOWN_LOGIN_HASH: LazyLock<String> = LazyLock::new(|| password::hash("no such login"));

async fn verify_secret(hashing: &HashingPool, hash: Option<String>, secret: String) -> Result<bool, ApiError> {
    // The stand-in hash is made (once, lazily) on the pool too, never on an async worker.
    let verified = hashing.run(move || match hash {
        Some(hash) => password::verify(&hash, &secret),
        None => {
            password::verify(&UNKNOWN_LOGIN_HASH, &secret);
            false
        }
    });
    verified.await.map_err(ApiError::internal)
}

fn client_address(request: &HttpRequest) -> IpAddr {
    request.peer_addr().map(|a| a.ip()).unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

fn basic_credentials(request: &HttpRequest) -> Option<(String, String)> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let (id, secret) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    // No credential holds a NUL; refused here rather than sent to the database.
    if id.contains('\0') || secret.contains('\0') {
        return None;
    }
    Some((id.to_owned(), secret.to_owned()))
}

fn ok(body: TokenResponse) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

/// Issue an access token (OAuth 2.0 token endpoint).
///
/// Grants: `password` (username = e-mail), `client_credentials` (service accounts; in the body
/// or HTTP Basic; or, for an account with registered keys, SMART Backend Services:
/// `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`, a
/// `client_assertion` JWT signed RS384 or ES384 by a registered key with `iss` = `sub` = the
/// client id, `aud` = this endpoint's URL, `exp` at most 5 minutes ahead and a `jti` never used
/// before, and `scope` with SMART system scopes), `refresh_token` (each refresh token works
/// once; presenting a used one revokes its whole family). Access tokens are JWTs valid for
/// `expires_in` seconds; a SMART token carries its granted `scope` and is good for the FHIR API
/// only. Errors follow RFC 6749 §5.2. Rate-limited per client address and per username (429
/// with `Retry-After`).
#[utoipa::path(
    tag = "authentication",
    request_body(content(
        (TokenRequest = "application/x-www-form-urlencoded"),
        (TokenRequest = "application/json"),
    )),
    responses(
        (status = 200, description = "Tokens issued", body = TokenResponse),
        (status = 400, description = "invalid_request, invalid_grant or unsupported_grant_type", body = OAuthErrorBody),
        (status = 401, description = "invalid_client", body = OAuthErrorBody),
        (status = 429, description = "slow_down: too many attempts; see Retry-After", body = OAuthErrorBody),
    )
)]
#[post("/v1/auth/token")]
pub async fn issue_token(
    request: HttpRequest,
    form: TokenForm,
    database: web::Data<Database>,
    hashing: web::Data<HashingPool>,
    keys: web::Data<TokenKeys>,
    limits: web::Data<TokenRateLimits>,
    settings: web::Data<TokenSettings>,
) -> Result<HttpResponse, ApiError> {
    TokenRateLimits::check(&limits.per_address, &client_address(&request))?;
    let TokenForm(form) = form;
    let request_id = request_id(&request);
    if form.grant_type == "client_credentials"
        && (form.client_assertion.is_some() || form.client_assertion_type.is_some())
    {
        let token_url = format!("{}/v1/auth/token", PublicUrl::base(&request));
        let remote = request.app_data::<web::Data<RemoteKeySets>>().cloned().unwrap_or_default();
        let grant = AssertionGrant { database: &database, keys: &keys, remote: &remote, token_url, request_id };
        return grant.run(form, &limits).await;
    }
    match form.grant_type.as_str() {
        "password" => {
            let (Some(username), Some(secret)) = (form.username, form.password) else {
                return Err(invalid_request("the password grant needs `username` and `password`"));
            };
            let username = username.trim().to_lowercase();
            TokenRateLimits::check(&limits.per_username, &username)?;
            password_grant(&database, &hashing, &keys, &settings, username, secret, request_id).await
        }
        "client_credentials" => {
            let (client_id, secret) = match (form.client_id, form.client_secret) {
                (Some(id), Some(secret)) => (id, secret),
                _ => basic_credentials(&request).ok_or_else(invalid_client)?,
            };
            TokenRateLimits::check(&limits.per_username, &client_id)?;
            client_credentials_grant(&database, &hashing, &keys, client_id, secret, request_id).await
        }
        "refresh_token" => {
            let presented = form.refresh_token.ok_or_else(|| invalid_request("`refresh_token` is required"))?;
            refresh_grant(&database, &keys, &settings, &presented, request_id).await
        }
        "" => Err(invalid_request("`grant_type` is required")),
        _ => Err(oauth(400, "unsupported_grant_type", "use password, client_credentials or refresh_token")),
    }
}

async fn password_grant(
    database: &Database,
    hashing: &HashingPool,
    keys: &TokenKeys,
    settings: &TokenSettings,
    username: String,
    secret: String,
    request_id: String,
) -> Result<HttpResponse, ApiError> {
    let found = database.login_credentials(username).await?.filter(|c| c.kind == PrincipalKind::User);
    let hash = found.as_ref().and_then(|c| c.secret_hash.clone());
    let matches = verify_secret(hashing, hash, secret).await?;
    match found {
        Some(login) if matches && login.active => {
            let refresh = database
                .start_refresh_family(
                    login.organization_id,
                    login.principal_id,
                    login.role,
                    settings.refresh_ttl,
                    request_id,
                )
                .await?;
            let issued = keys.issue(login.principal_id, login.organization_id, login.role, now());
            Ok(ok(TokenResponse {
                access_token: issued.token,
                token_type: "Bearer",
                expires_in: issued.expires_in,
                refresh_token: Some(refresh.token()),
                scope: None,
            }))
        }
        other => {
            let reason = match &other {
                None => "unknown login",
                Some(login) if !login.active => "inactive",
                Some(_) => "wrong password",
            };
            let (org, id, role) =
                other.map_or((None, None, None), |c| (Some(c.organization_id), Some(c.principal_id), Some(c.role)));
            let event = AuthenticationEvent {
                organization_id: org,
                principal_id: id,
                role,
                action: "auth.login",
                outcome: Outcome::Failure,
                request_id,
                detail: serde_json::json!({ "reason": reason }),
            };
            database.record_authentication(event).await?;
            Err(invalid_grant())
        }
    }
}

async fn client_credentials_grant(
    database: &Database,
    hashing: &HashingPool,
    keys: &TokenKeys,
    client_id: String,
    secret: String,
    request_id: String,
) -> Result<HttpResponse, ApiError> {
    let found = database.login_credentials(client_id).await?.filter(|c| c.kind == PrincipalKind::ServiceAccount);
    let hash = found.as_ref().and_then(|c| c.secret_hash.clone());
    let matches = verify_secret(hashing, hash, secret).await?;
    let (org, id, role): (Option<Uuid>, Option<Uuid>, Option<Role>) =
        found.as_ref().map_or((None, None, None), |c| (Some(c.organization_id), Some(c.principal_id), Some(c.role)));
    let granted = found.as_ref().is_some_and(|c| matches && c.active);
    let outcome = if granted { Outcome::Success } else { Outcome::Failure };
    let event = AuthenticationEvent {
        organization_id: org,
        principal_id: id,
        role,
        action: "auth.client_credentials",
        outcome,
        request_id,
        detail: serde_json::json!({}),
    };
    database.record_authentication(event).await?;
    match found {
        Some(login) if granted => {
            let issued = keys.issue(login.principal_id, login.organization_id, login.role, now());
            Ok(ok(TokenResponse {
                access_token: issued.token,
                token_type: "Bearer",
                expires_in: issued.expires_in,
                refresh_token: None,
                scope: None,
            }))
        }
        _ => Err(invalid_client()),
    }
}

async fn refresh_grant(
    database: &Database,
    keys: &TokenKeys,
    settings: &TokenSettings,
    presented: &str,
    request_id: String,
) -> Result<HttpResponse, ApiError> {
    let Some(token) = RefreshToken::parse(presented) else {
        return Err(invalid_grant());
    };
    let organization_id = token.organization_id;
    match database.rotate_refresh_token(token, settings.refresh_ttl, request_id).await? {
        Rotation::Rotated { user_id, role, successor } => {
            let issued = keys.issue(user_id, organization_id, role, now());
            Ok(ok(TokenResponse {
                access_token: issued.token,
                token_type: "Bearer",
                expires_in: issued.expires_in,
                refresh_token: Some(successor.token()),
                scope: None,
            }))
        }
        Rotation::Refused | Rotation::Reused => Err(invalid_grant()),
    }
}

/// The client-assertion grant (SMART Backend Services).
struct AssertionGrant<'a> {
    database: &'a Database,
    keys: &'a TokenKeys,
    remote: &'a RemoteKeySets,
    /// This endpoint's URL: the audience the assertion must name.
    token_url: String,
    request_id: String,
}

impl AssertionGrant<'_> {
    async fn run(self, form: TokenRequest, limits: &TokenRateLimits) -> Result<HttpResponse, ApiError> {
        if form.client_assertion_type.as_deref() != Some(ASSERTION_TYPE) {
            return Err(invalid_request(&format!("`client_assertion_type` must be {ASSERTION_TYPE}")));
        }
        let assertion = form.client_assertion.ok_or_else(|| invalid_request("`client_assertion` is required"))?;
        let client_id =
            form.client_id.or_else(|| client_assertion::claimed_issuer(&assertion)).ok_or_else(invalid_client)?;
        TokenRateLimits::check(&limits.per_username, &client_id)?;
        let requested = form.scope.ok_or_else(|| oauth(400, "invalid_scope", "`scope` is required"))?;
        let requested = Scopes::parse(&requested).map_err(|e| oauth(400, "invalid_scope", &e.to_string()))?;
        let Some(account) = self.database.keyed_account(client_id.clone()).await? else {
            self.audit(None, Outcome::Failure, "unknown client or not registered with keys").await?;
            return Err(invalid_client());
        };
        let verified = match self.verify(&account, &assertion, &client_id).await {
            Ok(verified) => verified,
            Err(why) => {
                tracing::info!(reason = %why, "client assertion refused");
                self.audit(Some(&account), Outcome::Failure, &why).await?;
                return Err(invalid_client());
            }
        };
        if !self.database.use_assertion(account.organization_id, account.id, verified.jti, verified.exp).await? {
            self.audit(Some(&account), Outcome::Failure, "the assertion's jti was used before").await?;
            return Err(invalid_client());
        }
        if !account.active {
            self.audit(Some(&account), Outcome::Failure, "inactive").await?;
            return Err(invalid_client());
        }
        let supported = if account.role == Role::Integration { super::fhir::supported_interactions() } else { vec![] };
        let granted = match requested.grant(&supported) {
            Ok(granted) => granted,
            Err(why) => {
                self.audit(Some(&account), Outcome::Failure, "no requested scope can be granted").await?;
                return Err(oauth(400, "invalid_scope", &why.to_string()));
            }
        };
        self.audit(Some(&account), Outcome::Success, "").await?;
        let scope = granted.to_string();
        let issued = self.keys.issue_scoped(account.id, account.organization_id, account.role, now(), scope.clone());
        Ok(ok(TokenResponse {
            access_token: issued.token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            refresh_token: None,
            scope: Some(scope),
        }))
    }

    /// Verifies against the account's keys; a key set at a URL is fetched again once when it
    /// lacks the assertion's key (the client rotated).
    async fn verify(
        &self,
        account: &KeyedAccount,
        assertion: &str,
        client_id: &str,
    ) -> Result<client_assertion::VerifiedAssertion, String> {
        let audiences = [self.token_url.clone()];
        let check =
            |keys: &jsonwebtoken::jwk::JwkSet| client_assertion::verify(assertion, keys, client_id, &audiences, now());
        match &account.keys {
            KeySource::Inline(jwks) => {
                let keys = serde_json::from_value(jwks.clone()).map_err(|e| format!("stored key set: {e}"))?;
                check(&keys).map_err(|e| e.to_string())
            }
            KeySource::Url(url) => {
                let keys = self.remote.get(url, true).await.map_err(|e| e.to_string())?;
                match check(&keys) {
                    Err(AssertionRejected::UnknownKey) => {
                        let keys = self.remote.get(url, false).await.map_err(|e| e.to_string())?;
                        check(&keys).map_err(|e| e.to_string())
                    }
                    other => other.map_err(|e| e.to_string()),
                }
            }
        }
    }

    async fn audit(&self, account: Option<&KeyedAccount>, outcome: Outcome, reason: &str) -> Result<(), ApiError> {
        let detail = if reason.is_empty() { serde_json::json!({}) } else { serde_json::json!({ "reason": reason }) };
        let event = AuthenticationEvent {
            organization_id: account.map(|a| a.organization_id),
            principal_id: account.map(|a| a.id),
            role: account.map(|a| a.role),
            action: "auth.client_assertion",
            outcome,
            request_id: self.request_id.clone(),
            detail,
        };
        self.database.record_authentication(event).await?;
        Ok(())
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
