//! SMART Backend Services client authentication (RFC 7523, docs/security.md "Service accounts
//! with keys"): a service account proves who it is with a short-lived JWT signed by one of the
//! keys of its registered JSON Web Key Set.
//!
//! The assertion must be signed with RS384 or ES384 (the algorithms SMART requires servers to
//! support; `none` and every HMAC are refused), name its key by `kid`, carry `iss` = `sub` = the
//! client id, `aud` = the token endpoint's URL, an `exp` at most five minutes ahead and a `jti`
//! (whose single use the caller records).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// `client_assertion_type` of a JWT client assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The longest an assertion may live, from now to its `exp`, in seconds.
pub const MAX_LIFETIME_SECS: i64 = 300;
/// Clock skew tolerated on `exp`, in seconds.
const LEEWAY_SECS: u64 = 10;
/// At most this many keys in a registered set.
pub const MAX_KEYS: usize = 10;
const ALGORITHMS: [Algorithm; 2] = [Algorithm::RS384, Algorithm::ES384];

/// Why an assertion was refused. For the log and the audit trail; the caller only learns
/// `invalid_client`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AssertionRejected {
    #[error("the assertion is not a JWT")]
    Malformed,
    #[error("the assertion's algorithm is not RS384 or ES384")]
    Algorithm,
    #[error("the assertion names no key (kid)")]
    NoKeyId,
    #[error("no key of the registered set has the assertion's kid")]
    UnknownKey,
    #[error("the assertion's signature or claims are invalid: {0}")]
    Invalid(String),
    #[error("the assertion lives longer than five minutes")]
    TooLong,
    #[error("the assertion has no jti")]
    NoJti,
}

/// What the caller needs of a verified assertion: its `jti`, to be used once, until `exp`.
#[derive(Debug, PartialEq, Eq)]
pub struct VerifiedAssertion {
    pub jti: String,
    pub exp: i64,
}

#[derive(Deserialize)]
struct AssertionClaims {
    exp: i64,
    jti: Option<String>,
}

/// The `iss` of an assertion, read without verifying it: which account's keys to verify with.
pub fn claimed_issuer(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

/// Verifies `assertion` as `client_id`'s, against its `keys`, for the token endpoint at any
/// of `audiences`, at time `now` (seconds).
pub fn verify(
    assertion: &str,
    keys: &JwkSet,
    client_id: &str,
    audiences: &[String],
    now: i64,
) -> Result<VerifiedAssertion, AssertionRejected> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| AssertionRejected::Malformed)?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(AssertionRejected::Algorithm);
    }
    let kid = header.kid.as_deref().ok_or(AssertionRejected::NoKeyId)?;
    let jwk = keys.find(kid).ok_or(AssertionRejected::UnknownKey)?;
    if key_algorithm(jwk) != Some(header.alg) {
        return Err(AssertionRejected::UnknownKey);
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|e| AssertionRejected::Invalid(e.to_string()))?;
    let mut validation = Validation::new(header.alg);
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.set_issuer(&[client_id]);
    validation.sub = Some(client_id.to_owned());
    validation.set_audience(audiences);
    validation.leeway = LEEWAY_SECS;
    let claims = jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &validation)
        .map_err(|e| AssertionRejected::Invalid(e.to_string()))?
        .claims;
    if claims.exp.saturating_sub(now) > MAX_LIFETIME_SECS.saturating_add(LEEWAY_SECS as i64) {
        return Err(AssertionRejected::TooLong);
    }
    let jti = claims.jti.filter(|jti| (1..=255).contains(&jti.len())).ok_or(AssertionRejected::NoJti)?;
    Ok(VerifiedAssertion { jti, exp: claims.exp })
}

/// The one algorithm a key may sign with: RS384 for an RSA key, ES384 for a P-384 key, and the
/// key's own `alg` must agree when it names one.
fn key_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS384,
        AlgorithmParameters::EllipticCurve(params) if params.curve == EllipticCurve::P384 => Algorithm::ES384,
        _ => return None,
    };
    match jwk.common.key_algorithm {
        None => Some(by_type),
        Some(KeyAlgorithm::RS384) if by_type == Algorithm::RS384 => Some(by_type),
        Some(KeyAlgorithm::ES384) if by_type == Algorithm::ES384 => Some(by_type),
        Some(_) => None,
    }
}

/// Checks a key set a service account registers: 1 to [`MAX_KEYS`] public RSA or P-384 keys,
/// each with a distinct `kid`, usable for RS384 or ES384. Private key material is refused so
/// that it is never stored. Each problem names the key's index.
pub fn check_key_set(value: &serde_json::Value) -> Result<JwkSet, Vec<(String, String)>> {
    let keys = value.get("keys").and_then(|keys| keys.as_array());
    let Some(keys) = keys.filter(|keys| (1..=MAX_KEYS).contains(&keys.len())) else {
        return Err(vec![("/keys".into(), format!("a JSON Web Key Set with 1 to {MAX_KEYS} keys"))]);
    };
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (index, raw) in keys.iter().enumerate() {
        let at = format!("/keys/{index}");
        let private = ["d", "p", "q", "dp", "dq", "qi", "k"].iter().any(|name| raw.get(name).is_some());
        if private {
            problems.push((at, "holds private key material; register the public key only".into()));
            continue;
        }
        let jwk: Jwk = match serde_json::from_value(raw.clone()) {
            Ok(jwk) => jwk,
            Err(error) => {
                problems.push((at, format!("not a JSON Web Key: {error}")));
                continue;
            }
        };
        match jwk.common.key_id.as_deref() {
            Some(kid) if (1..=255).contains(&kid.len()) => {
                if !seen.insert(kid.to_owned()) {
                    problems.push((format!("{at}/kid"), "another key has this kid".into()));
                }
            }
            _ => problems.push((format!("{at}/kid"), "every key needs a kid of 1 to 255 characters".into())),
        }
        if key_algorithm(&jwk).is_none() || DecodingKey::from_jwk(&jwk).is_err() {
            problems.push((at, "must be an RSA key for RS384 or an EC P-384 key for ES384".into()));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    serde_json::from_value(value.clone()).map_err(|e| vec![("/keys".into(), e.to_string())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuer_is_read_without_verification_and_garbage_has_none() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"iss":"svc_1","sub":"svc_1"}"#);
        assert_eq!(claimed_issuer(&format!("e30.{payload}.sig")), Some("svc_1".into()));
        assert_eq!(claimed_issuer("not-a-jwt"), None);
        assert_eq!(claimed_issuer("a.!!!.c"), None);
    }

    #[test]
    fn key_sets_with_private_symmetric_or_unusable_keys_are_refused() {
        let private = serde_json::json!({"keys": [{"kty": "RSA", "kid": "a", "n": "AQAB", "e": "AQAB", "d": "AQAB"}]});
        assert_eq!(check_key_set(&private).unwrap_err()[0].0, "/keys/0");
        let symmetric = serde_json::json!({"keys": [{"kty": "oct", "kid": "a", "k": "c2VjcmV0"}]});
        assert!(check_key_set(&symmetric).is_err());
        let p256 = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "a",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]});
        assert!(check_key_set(&p256).is_err());
        assert!(check_key_set(&serde_json::json!({"keys": []})).is_err());
        assert!(check_key_set(&serde_json::json!([])).is_err());
    }
}
