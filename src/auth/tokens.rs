//! Access tokens: short-lived JWTs (RFC 9068 style, header `typ: at+jwt`).
//!
//! Signed with HS256 and the configured secret by default, or with an Ed25519 key (EdDSA)
//! whose public half is published at `/.well-known/jwks.json` under a `kid` (its RFC 7638
//! thumbprint), so other services can verify Rapport's tokens. During a key rotation earlier
//! public keys keep verifying. Validation follows RFC 8725: the algorithm is pinned (never
//! taken from the token), every claim is required, `iss`, `aud`, `exp` and `nbf` are checked
//! with a small leeway.

use super::Role;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;
use uuid::Uuid;

/// The `typ` header of every access token Rapport issues.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 10;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The person, service account or form request the token speaks for.
    pub sub: Uuid,
    pub org: Uuid,
    pub role: Role,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: Uuid,
    /// SMART system scopes granted to a backend service (space-separated); absent on tokens
    /// bounded by their role alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a usable Ed25519 key: {detail}")]
    Invalid { path: PathBuf, detail: String },
}

/// Why a token was refused. For the log only: clients just get 401.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TokenRejected(pub String);

struct Verifier {
    kid: Option<String>,
    key: DecodingKey,
}

pub struct IssuedToken {
    pub token: String,
    pub expires_in: u64,
    pub jti: Uuid,
}

pub struct TokenKeys {
    algorithm: Algorithm,
    signing_kid: Option<String>,
    signing_key: EncodingKey,
    verifiers: Vec<Verifier>,
    public_jwks: Vec<serde_json::Value>,
    validation: Validation,
    issuer: String,
    audience: String,
    access_ttl: Duration,
}

impl TokenKeys {
    /// HS256 with a shared secret.
    pub fn hs256(secret: &[u8], issuer: &str, audience: &str, access_ttl: Duration) -> Self {
        Self {
            algorithm: Algorithm::HS256,
            signing_kid: None,
            signing_key: EncodingKey::from_secret(secret),
            verifiers: vec![Verifier { kid: None, key: DecodingKey::from_secret(secret) }],
            public_jwks: Vec::new(),
            validation: validation(Algorithm::HS256, issuer, audience),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            access_ttl,
        }
    }

    /// EdDSA with an Ed25519 private key (PKCS#8 PEM); `previous` are public keys (SPKI PEM)
    /// of earlier signing keys that still verify.
    pub fn ed25519(
        private_pem: (&Path, &str),
        previous: &[(PathBuf, String)],
        issuer: &str,
        audience: &str,
        access_ttl: Duration,
    ) -> Result<Self, KeyError> {
        use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey};
        let invalid = |path: &Path, detail: String| KeyError::Invalid { path: path.to_owned(), detail };
        let (path, pem) = private_pem;
        let signing = ed25519_dalek::SigningKey::from_pkcs8_pem(pem).map_err(|e| invalid(path, e.to_string()))?;
        let der = signing.to_pkcs8_der().map_err(|e| invalid(path, e.to_string()))?;
        let signing_key = EncodingKey::from_ed_der(der.as_bytes());
        let mut public_keys = vec![signing.verifying_key()];
        for (path, pem) in previous {
            public_keys
                .push(ed25519_dalek::VerifyingKey::from_public_key_pem(pem).map_err(|e| invalid(path, e.to_string()))?);
        }
        let mut verifiers = Vec::new();
        let mut public_jwks = Vec::new();
        for key in &public_keys {
            let x = URL_SAFE_NO_PAD.encode(key.as_bytes());
            let kid = thumbprint(&x);
            verifiers.push(Verifier {
                kid: Some(kid.clone()),
                key: DecodingKey::from_ed_components(&x).map_err(|e| invalid(path, e.to_string()))?,
            });
            public_jwks.push(serde_json::json!({
                "kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"
            }));
        }
        Ok(Self {
            algorithm: Algorithm::EdDSA,
            signing_kid: verifiers[0].kid.clone(),
            signing_key,
            verifiers,
            public_jwks,
            validation: validation(Algorithm::EdDSA, issuer, audience),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            access_ttl,
        })
    }

    /// From settings: the Ed25519 key files when configured, else HS256 with `secret`.
    pub fn from_settings(settings: &crate::config::TokenSettings, secret: &str) -> Result<Self, KeyError> {
        let read = |path: &PathBuf| {
            std::fs::read_to_string(path).map_err(|source| KeyError::Read { path: path.clone(), source })
        };
        match &settings.private_key_file {
            None => Ok(Self::hs256(secret.as_bytes(), &settings.issuer, &settings.audience, settings.access_ttl)),
            Some(private) => {
                let pem = read(private)?;
                let previous = settings
                    .previous_public_key_files
                    .iter()
                    .map(|path| read(path).map(|pem| (path.clone(), pem)))
                    .collect::<Result<Vec<_>, _>>()?;
                Self::ed25519((private, &pem), &previous, &settings.issuer, &settings.audience, settings.access_ttl)
            }
        }
    }

    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// The `iss` and `aud` every token carries.
    pub fn issuer_and_audience(&self) -> (&str, &str) {
        (&self.issuer, &self.audience)
    }

    /// Issues an access token for `subject` of `organization` acting as `role`.
    pub fn issue(&self, subject: Uuid, organization: Uuid, role: Role, now: i64) -> IssuedToken {
        self.issue_until(subject, organization, role, now, now + self.access_ttl.as_secs() as i64)
    }

    /// Issues an access token limited to SMART `scope` (see `domain::scopes`).
    pub fn issue_scoped(&self, subject: Uuid, organization: Uuid, role: Role, now: i64, scope: String) -> IssuedToken {
        let exp = now + self.access_ttl.as_secs() as i64;
        self.issue_claims(subject, organization, role, now, exp, Some(scope))
    }

    /// Issues a token that expires at `exp` (form-request tokens live as long as the request).
    pub fn issue_until(&self, subject: Uuid, organization: Uuid, role: Role, now: i64, exp: i64) -> IssuedToken {
        self.issue_claims(subject, organization, role, now, exp, None)
    }

    fn issue_claims(
        &self,
        subject: Uuid,
        organization: Uuid,
        role: Role,
        now: i64,
        exp: i64,
        scope: Option<String>,
    ) -> IssuedToken {
        let jti = Uuid::now_v7();
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: subject,
            org: organization,
            role,
            exp,
            iat: now,
            nbf: now,
            jti,
            scope,
        };
        IssuedToken { token: self.sign(&claims), expires_in: (exp - now).max(0) as u64, jti }
    }

    /// Signs arbitrary claims with the current key (tests use this to forge bad tokens).
    pub fn sign(&self, claims: &impl Serialize) -> String {
        self.sign_typed(ACCESS_TOKEN_TYPE, claims)
    }

    /// Signs claims as a token of type `typ` (an access token, or a chart link's token).
    pub fn sign_typed(&self, typ: &str, claims: &impl Serialize) -> String {
        let mut header = Header::new(self.algorithm);
        header.typ = Some(typ.to_owned());
        header.kid = self.signing_kid.clone();
        jsonwebtoken::encode(&header, claims, &self.signing_key).expect("signing with a loaded key cannot fail")
    }

    /// Verifies signature, algorithm, type and every claim of an access token.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenRejected> {
        self.verify_typed(token, ACCESS_TOKEN_TYPE)
    }

    /// Verifies a token of type `typ` whose claims are `T`. A token of another type is refused
    /// before its claims are read, so no kind of token stands in for another.
    pub fn verify_typed<T: serde::de::DeserializeOwned>(&self, token: &str, typ: &str) -> Result<T, TokenRejected> {
        let reject = |why: &str| TokenRejected(why.to_owned());
        let header = jsonwebtoken::decode_header(token).map_err(|e| TokenRejected(format!("bad header: {e}")))?;
        if header.alg != self.algorithm {
            return Err(reject("algorithm is not the pinned one"));
        }
        if header.typ.as_deref() != Some(typ) {
            return Err(reject("not a token of the expected type (typ)"));
        }
        let verifier = match (&self.algorithm, &header.kid) {
            (Algorithm::HS256, _) => self.verifiers.first(),
            (_, Some(kid)) => self.verifiers.iter().find(|v| v.kid.as_deref() == Some(kid)),
            (_, None) => None,
        }
        .ok_or_else(|| reject("unknown key id"))?;
        jsonwebtoken::decode::<T>(token, &verifier.key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| TokenRejected(format!("invalid token: {e}")))
    }

    /// The JSON Web Key Set of the public keys (empty with HS256, whose key is secret).
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": self.public_jwks })
    }
}

fn validation(algorithm: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.validate_nbf = true;
    validation.leeway = LEEWAY_SECS;
    validation
}

/// RFC 7638 thumbprint of an Ed25519 JWK.
fn thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn keys() -> TokenKeys {
        TokenKeys::hs256(SECRET, "rapport", "rapport-api", Duration::from_secs(900))
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn an_issued_token_verifies_with_all_its_claims() {
        let keys = keys();
        let (user, org) = (Uuid::now_v7(), Uuid::now_v7());
        let issued = keys.issue(user, org, Role::Clinician, now());
        let claims = keys.verify(&issued.token).unwrap();
        assert_eq!((claims.sub, claims.org, claims.role, claims.jti), (user, org, Role::Clinician, issued.jti));
        assert_eq!(claims.exp - claims.iat, 900);
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let other =
            TokenKeys::hs256(b"another-secret-another-secret-xx", "rapport", "rapport-api", Duration::from_secs(60));
        let token = other.issue(Uuid::now_v7(), Uuid::now_v7(), Role::Admin, now()).token;
        assert!(keys().verify(&token).is_err());
    }

    #[test]
    fn expiry_allows_only_the_small_leeway() {
        let keys = keys();
        let mut claims = keys.verify(&keys.issue(Uuid::now_v7(), Uuid::now_v7(), Role::Admin, now()).token).unwrap();
        claims.exp = now() - LEEWAY_SECS as i64 + 3;
        assert!(keys.verify(&keys.sign(&claims)).is_ok());
        claims.exp = now() - LEEWAY_SECS as i64 - 3;
        assert!(keys.verify(&keys.sign(&claims)).is_err());
    }

    #[test]
    fn the_thumbprint_matches_rfc_8037_appendix_a3() {
        // RFC 8037 A.3: the thumbprint of the example Ed25519 key.
        assert_eq!(
            thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }
}
