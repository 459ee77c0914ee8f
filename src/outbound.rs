//! Requests the service makes to URLs its callers register (today a service account's key-set
//! URL): the guard against server-side request forgery (docs/security.md, "Outbound requests").
//!
//! A registered URL must be `https` and every address its host resolves to must be public
//! ([`crate::domain::network`]). The check runs when the URL is registered and again on every
//! connection, after DNS resolution and by the resolver the HTTP client connects with, so a
//! name that later resolves elsewhere (DNS rebinding) is refused too. Redirects are never
//! followed. `RAPPORT_ALLOW_LOOPBACK_TARGETS=true`, a development setting, also allows `http`
//! and loopback addresses (a receiver on the developer's machine); private, link-local and
//! the other ranges stay refused.

use crate::domain::network::{AddressClass, refusal};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// How long a registration waits for DNS before it refuses the URL.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Development only: `http` and loopback addresses are allowed too.
    pub allow_loopback: bool,
}

impl TargetPolicy {
    fn permits(self, address: IpAddr) -> Result<(), AddressClass> {
        match refusal(address) {
            None => Ok(()),
            Some(AddressClass::Loopback) if self.allow_loopback => Ok(()),
            Some(class) => Err(class),
        }
    }

    /// Whether `url` may be registered, judged without the network: absolute, `https` (or
    /// `http` under the development setting), no credentials or fragment, and a host that is
    /// a name or a permitted address. Says why not.
    pub fn check_url(self, url: &str) -> Result<reqwest::Url, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("not an absolute URL: {e}"))?;
        match parsed.scheme() {
            "https" => {}
            "http" if self.allow_loopback => {}
            _ => return Err("must be an https URL".into()),
        }
        if !parsed.username().is_empty() || parsed.password().is_some() || parsed.fragment().is_some() {
            return Err("must not carry credentials or a fragment".into());
        }
        let literal = match parsed.host() {
            Some(url::Host::Domain(_)) => None,
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            None => return Err("the URL has no host".into()),
        };
        if let Some(address) = literal {
            self.permits(address).map_err(|class| format!("must not point at {}", class.describe()))?;
        }
        Ok(parsed)
    }

    /// [`Self::check_url`], then the host's DNS answer: every address must be permitted.
    pub async fn check_target(self, url: &str) -> Result<reqwest::Url, String> {
        let parsed = self.check_url(url)?;
        if let Some(url::Host::Domain(name)) = parsed.host() {
            let port = parsed.port_or_known_default().unwrap_or(443);
            let resolved = tokio::time::timeout(RESOLVE_TIMEOUT, resolve(self, name, port)).await;
            match resolved {
                Ok(Ok(_)) => {}
                Ok(Err(ResolveError::Refused(class))) => {
                    return Err(format!("the host resolves to {}", class.describe()));
                }
                Ok(Err(ResolveError::Lookup(_))) | Err(_) => return Err("the host name does not resolve".into()),
            }
        }
        Ok(parsed)
    }

    /// An HTTP client for registered URLs: connects only to permitted addresses, follows no
    /// redirect, and gives up after `timeout`.
    pub fn client(self, timeout: Duration) -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver(self)))
            .user_agent(concat!("rapport/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client with a TLS backend builds")
    }
}

#[derive(Debug, thiserror::Error)]
enum ResolveError {
    #[error("the name resolves to {}", .0.describe())]
    Refused(AddressClass),
    #[error("the name does not resolve: {0}")]
    Lookup(std::io::Error),
}

/// Every address `name` resolves to, when all of them are permitted: one refused address
/// refuses the name (a client may connect to any of them).
async fn resolve(policy: TargetPolicy, name: &str, port: u16) -> Result<Vec<SocketAddr>, ResolveError> {
    let addresses: Vec<SocketAddr> =
        tokio::net::lookup_host((name, port)).await.map_err(ResolveError::Lookup)?.collect();
    for address in &addresses {
        policy.permits(address.ip()).map_err(ResolveError::Refused)?;
    }
    if addresses.is_empty() {
        return Err(ResolveError::Lookup(std::io::Error::other("no addresses")));
    }
    Ok(addresses)
}

/// The resolver the client connects through. Literal addresses in a URL never reach a
/// resolver, which is why [`TargetPolicy::check_url`] runs before every request too.
struct GuardedResolver(TargetPolicy);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0;
        Box::pin(async move {
            let addresses = resolve(policy, name.as_str(), 0).await?;
            let addresses: reqwest::dns::Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::TargetPolicy;

    #[test]
    fn only_https_urls_to_public_hosts_without_credentials_are_accepted() {
        let strict = TargetPolicy::default();
        for good in ["https://ehr.example/jwks.json", "https://93.184.216.34/k", "https://[2606:4700::1111]/k"] {
            assert!(strict.check_url(good).is_ok(), "{good}");
        }
        for bad in [
            "http://ehr.example/jwks.json",
            "ftp://x/y",
            "https://user:pw@ehr.example/k",
            "/jwks.json",
            "https://ehr.example/k#frag",
            "https://127.0.0.1/k",
            "https://127.1/k",
            "https://2130706433/k",
            "https://10.0.0.1/k",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::1]/k",
            "https://[::ffff:10.0.0.1]/k",
            "https://[fd00:ec2::254]/k",
        ] {
            assert!(strict.check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_development_setting_allows_http_and_loopback_only() {
        let development = TargetPolicy { allow_loopback: true };
        for good in ["http://127.0.0.1:9000/jwks", "http://[::1]/k", "http://localhost/k"] {
            assert!(development.check_url(good).is_ok(), "{good}");
        }
        for bad in ["http://10.0.0.1/k", "http://169.254.169.254/k", "http://192.168.0.2/k"] {
            assert!(development.check_url(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused_unless_developing() {
        let refused = TargetPolicy::default().check_target("https://localhost/jwks.json").await.unwrap_err();
        assert!(refused.contains("loopback"), "{refused}");
        assert!(TargetPolicy { allow_loopback: true }.check_target("http://localhost:1/k").await.is_ok());
    }

    #[tokio::test]
    async fn the_client_connects_through_the_guard() {
        let client = TargetPolicy::default().client(std::time::Duration::from_secs(5));
        let error = client.get("https://localhost:1/k").send().await.unwrap_err();
        let mut cause: &dyn std::error::Error = &error;
        while let Some(inner) = cause.source() {
            cause = inner;
        }
        assert!(cause.to_string().contains("loopback"), "{cause}");
    }
}
