//! Chart-link tokens: short-lived, read-only JWTs for one episode's charts, carried in the URL
//! so that an EHR can put a chart in an `<img>` or `<iframe>` without a bearer token.
//!
//! They are signed with the service's token key but have their own type (`typ: chart+jwt`) and
//! claim set, so one is refused wherever an access token is expected, and an access token is
//! refused where a chart token is (docs/security.md, "Chart links"). Each names its episode: the
//! chart handlers check that it matches the path, and the creator's account is checked on every
//! view, so a deactivated user's links stop working at once.

use super::Role;
use super::tokens::{TokenKeys, TokenRejected};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The `typ` header of a chart-link token.
pub const CHART_TOKEN_TYPE: &str = "chart+jwt";
/// The longest a link lives, and its default lifetime.
pub const MAX_LIFETIME_SECS: i64 = 600;
pub const MIN_LIFETIME_SECS: i64 = 30;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartClaims {
    pub iss: String,
    pub aud: String,
    /// The person or service account that made the link; views are audited as theirs.
    pub sub: Uuid,
    pub org: Uuid,
    pub role: Role,
    /// The one episode whose charts the link shows.
    pub episode: Uuid,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    /// The link's id, in the audit events of its creation and of every view.
    pub jti: Uuid,
}

pub struct IssuedChartLink {
    pub token: String,
    pub jti: Uuid,
    pub expires_at: i64,
}

/// A link for `episode`, made by `subject` (of `organization`, acting as `role`), valid for
/// `lifetime` seconds (clamped to 30–600).
pub fn issue(
    keys: &TokenKeys,
    subject: Uuid,
    organization: Uuid,
    role: Role,
    episode: Uuid,
    now: i64,
    lifetime: i64,
) -> IssuedChartLink {
    let (iss, aud) = keys.issuer_and_audience();
    let exp = now.saturating_add(lifetime.clamp(MIN_LIFETIME_SECS, MAX_LIFETIME_SECS));
    let jti = Uuid::now_v7();
    let claims = ChartClaims {
        iss: iss.to_owned(),
        aud: aud.to_owned(),
        sub: subject,
        org: organization,
        role,
        episode,
        exp,
        iat: now,
        nbf: now,
        jti,
    };
    IssuedChartLink { token: keys.sign_typed(CHART_TOKEN_TYPE, &claims), jti, expires_at: exp }
}

/// Verifies a chart-link token: signature, type, issuer, audience, time, and a lifetime no
/// longer than the maximum (a token signed with a longer one is refused).
pub fn verify(keys: &TokenKeys, token: &str) -> Result<ChartClaims, TokenRejected> {
    let claims: ChartClaims = keys.verify_typed(token, CHART_TOKEN_TYPE)?;
    if claims.exp.saturating_sub(claims.iat) > MAX_LIFETIME_SECS {
        return Err(TokenRejected("a chart link may live at most ten minutes".to_owned()));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn keys() -> TokenKeys {
        TokenKeys::hs256(b"unit-test-secret-unit-test-secret-0123", "rapport", "rapport-api", Duration::from_secs(900))
    }

    #[test]
    fn a_link_verifies_as_a_link_and_never_as_an_access_token() {
        let keys = keys();
        let now = chrono::Utc::now().timestamp();
        let (user, org, episode) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let link = issue(&keys, user, org, Role::Clinician, episode, now, 10_000);
        assert_eq!(link.expires_at, now + MAX_LIFETIME_SECS, "clamped to ten minutes");
        let claims = verify(&keys, &link.token).expect("a fresh link verifies");
        assert_eq!((claims.sub, claims.org, claims.episode, claims.jti), (user, org, episode, link.jti));
        assert!(keys.verify(&link.token).is_err(), "a chart token is not an access token");
        let access = keys.issue(user, org, Role::Clinician, now);
        assert!(verify(&keys, &access.token).is_err(), "an access token is not a chart token");
    }

    #[test]
    fn expired_and_overlong_links_are_refused() {
        let keys = keys();
        let now = chrono::Utc::now().timestamp();
        let expired = issue(&keys, Uuid::now_v7(), Uuid::now_v7(), Role::Admin, Uuid::now_v7(), now - 700, 600);
        assert!(verify(&keys, &expired.token).is_err());
        let (iss, aud) = keys.issuer_and_audience();
        let overlong = ChartClaims {
            iss: iss.to_owned(),
            aud: aud.to_owned(),
            sub: Uuid::now_v7(),
            org: Uuid::now_v7(),
            role: Role::Admin,
            episode: Uuid::now_v7(),
            exp: now + 3600,
            iat: now,
            nbf: now,
            jti: Uuid::now_v7(),
        };
        assert!(verify(&keys, &keys.sign_typed(CHART_TOKEN_TYPE, &overlong)).is_err());
    }
}
