//! Key sets a service account publishes at a URL (SMART Backend Services "JWKS URL"): fetched
//! when first needed, kept for five minutes, fetched again early when an assertion names a key
//! the cached set lacks (the client rotated), but at most every ten seconds per URL.
//!
//! The URL passes the outbound guard ([`crate::outbound`]: `https`, public addresses only,
//! checked again at every connection, no redirects). The answer may be at most 64 KiB and the
//! whole fetch must finish in five seconds: a slow or hostile host must not hold a token
//! request.

use super::client_assertion::check_key_set;
use crate::outbound::TargetPolicy;
use jsonwebtoken::jwk::JwkSet;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const FRESH_FOR: Duration = Duration::from_secs(300);
const REFETCH_AFTER: Duration = Duration::from_secs(10);
const MAX_BYTES: usize = 64 * 1024;
const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("the key set URL could not be fetched: {0}")]
    Unreachable(String),
    #[error("the key set URL answered {0}")]
    Status(u16),
    #[error("the key set at the URL is unusable: {0}")]
    Unusable(String),
}

struct Cached {
    fetched: Instant,
    keys: JwkSet,
}

pub struct RemoteKeySets {
    policy: TargetPolicy,
    client: reqwest::Client,
    cache: Mutex<HashMap<String, Cached>>,
}

impl Default for RemoteKeySets {
    fn default() -> Self {
        Self::new(TargetPolicy::default())
    }
}

impl RemoteKeySets {
    pub fn new(policy: TargetPolicy) -> Self {
        Self { policy, client: policy.client(TIMEOUT), cache: Mutex::new(HashMap::new()) }
    }

    fn cached(&self, url: &str, max_age: Duration) -> Option<JwkSet> {
        let cache = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.get(url).filter(|c| c.fetched.elapsed() < max_age).map(|c| c.keys.clone())
    }

    /// The key set at `url`. With `stale_ok` false (the cached set lacked the key an assertion
    /// names) a set older than ten seconds is fetched again.
    pub async fn get(&self, url: &str, stale_ok: bool) -> Result<JwkSet, FetchError> {
        let max_age = if stale_ok { FRESH_FOR } else { REFETCH_AFTER };
        if let Some(keys) = self.cached(url, max_age) {
            return Ok(keys);
        }
        let keys = self.fetch(url).await?;
        let mut cache = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if cache.len() > 10_000 {
            cache.retain(|_, c| c.fetched.elapsed() < FRESH_FOR);
        }
        cache.insert(url.to_owned(), Cached { fetched: Instant::now(), keys: keys.clone() });
        Ok(keys)
    }

    async fn fetch(&self, url: &str) -> Result<JwkSet, FetchError> {
        let url = self.policy.check_url(url).map_err(FetchError::Unusable)?;
        // The resolver's refusal is the innermost source; say it rather than "error sending request".
        let unreachable = |e: reqwest::Error| {
            let mut cause: &dyn std::error::Error = &e;
            while let Some(inner) = cause.source() {
                cause = inner;
            }
            FetchError::Unreachable(cause.to_string())
        };
        let mut response =
            self.client.get(url).header("accept", "application/json").send().await.map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if body.len().saturating_add(chunk.len()) > MAX_BYTES {
                return Err(FetchError::Unusable(format!("larger than {MAX_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| FetchError::Unusable(format!("not JSON: {e}")))?;
        check_key_set(&value).map_err(|problems| {
            let text: Vec<String> = problems.into_iter().map(|(at, why)| format!("{at}: {why}")).collect();
            FetchError::Unusable(text.join("; "))
        })
    }
}
