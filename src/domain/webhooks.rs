//! Webhooks, the pure part: event types, Standard Webhooks signatures and secrets, and when a
//! failed delivery is tried again (docs/integration.md, "Webhooks").

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;

/// What happened. A subscription names the types it wants; `webhook.ping` goes only to the
/// subscription it tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub enum EventType {
    #[serde(rename = "response.created")]
    ResponseCreated,
    #[serde(rename = "response.voided")]
    ResponseVoided,
    #[serde(rename = "signal.created")]
    SignalCreated,
    #[serde(rename = "signal.updated")]
    SignalUpdated,
    #[serde(rename = "webhook.ping")]
    Ping,
}

impl EventType {
    /// The types a subscription may name.
    pub const SUBSCRIBABLE: [EventType; 4] =
        [Self::ResponseCreated, Self::ResponseVoided, Self::SignalCreated, Self::SignalUpdated];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ResponseCreated => "response.created",
            Self::ResponseVoided => "response.voided",
            Self::SignalCreated => "signal.created",
            Self::SignalUpdated => "signal.updated",
            Self::Ping => "webhook.ping",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::ResponseCreated, Self::ResponseVoided, Self::SignalCreated, Self::SignalUpdated, Self::Ping]
            .into_iter()
            .find(|t| t.as_str() == text)
    }
}

/// The prefix Standard Webhooks gives a secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// A new secret from 32 random bytes: `whsec_` + base64.
pub fn secret_from(random: [u8; 32]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(random))
}

/// The key a secret signs with (the base64 after the prefix), or `None` for a malformed one.
fn key_of(secret: &str) -> Option<Vec<u8>> {
    STANDARD.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()
}

/// One Standard Webhooks signature, `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
pub fn sign(secret: &str, message_id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = key_of(secret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(message_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

/// The `webhook-signature` header: the current secret's signature, then the previous secret's
/// while a rotation's grace period lasts (receivers accept any one that verifies).
pub fn signature_header(secrets: &[&str], message_id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let signatures: Option<Vec<String>> = secrets.iter().map(|s| sign(s, message_id, timestamp, body)).collect();
    Some(signatures?.join(" "))
}

/// How long a delivery keeps being retried before it is `failed`.
pub const RETRY_BUDGET: Duration = Duration::from_secs(24 * 3600);

/// The wait before attempt `attempt + 1` after `attempt` failed ones: `first` doubled per
/// attempt, capped at an hour, then reduced by up to a fifth by `jitter` (0 to 1), so that
/// subscriptions failing together do not retry together.
pub fn backoff(first: Duration, attempt: u32, jitter: f64) -> Duration {
    let cap = Duration::from_secs(3600);
    let doubled = first.saturating_mul(2_u32.saturating_pow(attempt.saturating_sub(1).min(20)));
    let base = doubled.min(cap);
    base.mul_f64(1.0 - 0.2 * jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_reference_example() {
        // The example of the Standard Webhooks specification (spec/standard-webhooks.md).
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let signature = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap();
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_rotation_signs_with_both_secrets() {
        let (new, old) = (secret_from([1; 32]), secret_from([2; 32]));
        let header = signature_header(&[&new, &old], "msg", 1, b"{}").unwrap();
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts, [sign(&new, "msg", 1, b"{}").unwrap(), sign(&old, "msg", 1, b"{}").unwrap()]);
        assert_eq!(signature_header(&["not a secret"], "msg", 1, b"{}"), None);
    }

    #[test]
    fn retries_back_off_exponentially_with_a_cap_and_jitter() {
        let first = Duration::from_secs(5);
        assert_eq!(backoff(first, 1, 0.0), Duration::from_secs(5));
        assert_eq!(backoff(first, 2, 0.0), Duration::from_secs(10));
        assert_eq!(backoff(first, 5, 0.0), Duration::from_secs(80));
        assert_eq!(backoff(first, 40, 0.0), Duration::from_secs(3600));
        assert_eq!(backoff(first, 1, 1.0), Duration::from_secs(4));
    }

    #[test]
    fn event_types_round_trip_and_unknown_ones_are_none() {
        for t in EventType::SUBSCRIBABLE {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("response.deleted"), None);
    }
}
