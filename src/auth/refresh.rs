//! Refresh tokens: opaque strings `<organization>.<token id>.<secret>` (ids as 32 hex digits,
//! the secret 256 random bits in base64url). Only a SHA-256 of the secret is stored: the
//! secret is random, so a slow hash adds nothing; the ids let the row be found by its
//! primary key without scanning.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub organization_id: Uuid,
    pub id: Uuid,
    secret: String,
}

impl RefreshToken {
    pub fn generate(organization_id: Uuid) -> Self {
        let mut secret = [0u8; 32];
        rand::fill(&mut secret);
        Self { organization_id, id: Uuid::now_v7(), secret: URL_SAFE_NO_PAD.encode(secret) }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.trim().split('.');
        let (org, id, secret) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || org.len() != 32 || id.len() != 32 || secret.len() != 43 {
            return None;
        }
        Some(Self {
            organization_id: Uuid::try_parse(org).ok()?,
            id: Uuid::try_parse(id).ok()?,
            secret: secret.to_owned(),
        })
    }

    /// What the client holds.
    pub fn token(&self) -> String {
        format!("{}.{}.{}", self.organization_id.simple(), self.id.simple(), self.secret)
    }

    /// What the database holds.
    pub fn secret_hash(&self) -> String {
        hex::encode(Sha256::digest(self.secret.as_bytes()))
    }

    pub fn matches(&self, stored_hash: &str) -> bool {
        self.secret_hash().as_bytes().ct_eq(stored_hash.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_and_matches_only_its_own_hash() {
        let token = RefreshToken::generate(Uuid::now_v7());
        let parsed = RefreshToken::parse(&token.token()).unwrap();
        assert_eq!(parsed, token);
        assert!(parsed.matches(&token.secret_hash()));
        assert!(!RefreshToken::generate(token.organization_id).matches(&token.secret_hash()));
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        for bad in ["", "a.b.c", "x.y", &format!("{}.{}.short", Uuid::nil().simple(), Uuid::nil().simple())] {
            assert!(RefreshToken::parse(bad).is_none(), "{bad}");
        }
    }
}
