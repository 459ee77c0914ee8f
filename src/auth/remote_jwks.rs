//! Key sets a service account publishes at a URL (SMART Backend Services "JWKS URL"): fetched
//! when first needed, kept for five minutes, fetched again early when an assertion names a key
//! the cached set lacks (the client rotated), but at most every ten seconds per URL.
//!
//! The URL must be `https`, except on a loopback host (a local test double). Redirects are not
//! followed, the answer may be at most 64 KiB, and the whole fetch must finish in five seconds:
//! an administrator registers the URL, and a slow or hostile host must not hold a token
//! request.

use super::client_assertion::check_key_set;
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

/// Whether `url` may be registered: absolute `https`, or `http` on a loopback host; no user
/// information or fragment. Says why not.
pub fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not an absolute URL: {e}"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err("the URL has no host".into()),
    };
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err("must be an https URL".into()),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() || parsed.fragment().is_some() {
        return Err("must not carry credentials or a fragment".into());
    }
    Ok(())
}

struct Cached {
    fetched: Instant,
    keys: JwkSet,
}

pub struct RemoteKeySets {
    client: reqwest::Client,
    cache: Mutex<HashMap<String, Cached>>,
}

impl Default for RemoteKeySets {
    fn default() -> Self {
        Self::new()
    }
}

impl RemoteKeySets {
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("rapport/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client with a TLS backend builds");
        Self { client, cache: Mutex::new(HashMap::new()) }
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
        check_url(url).map_err(FetchError::Unusable)?;
        let unreachable = |e: reqwest::Error| FetchError::Unreachable(e.without_url().to_string());
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

#[cfg(test)]
mod tests {
    use super::check_url;

    #[test]
    fn only_https_or_loopback_http_urls_without_credentials_are_accepted() {
        for good in
            ["https://ehr.example/jwks.json", "http://127.0.0.1:9000/jwks", "http://localhost/k", "http://[::1]/k"]
        {
            assert_eq!(check_url(good), Ok(()), "{good}");
        }
        for bad in [
            "http://ehr.example/jwks.json",
            "ftp://x/y",
            "https://user:pw@ehr.example/k",
            "/jwks.json",
            "https://ehr.example/k#frag",
            "http://10.0.0.1/k",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
