//! Typed settings read from the environment and validated once, at start-up.
//!
//! A bad value stops the process with a one-line explanation naming the variable, so an
//! operator never has to read a stack trace to fix a typo. Nothing here is global: the
//! `Settings` value is built in `main` and passed down.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Where the database comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseSource {
    /// `DATABASE_URL` was given: use that server.
    Url(String),
    /// No `DATABASE_URL`: a private PostgreSQL cluster under the data directory.
    Embedded,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub database: DatabaseSource,
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    /// `None` in embedded mode means "generate once and keep in the data directory".
    pub jwt_secret: Option<String>,
    pub log_format: LogFormat,
    pub db_pool_size: u32,
    /// How long a request waits for a free database connection before it answers 503.
    pub db_acquire_timeout: Duration,
    pub db_statement_timeout: Duration,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_timeout: Duration,
    /// HTTP worker threads; 0 means one per CPU core.
    pub http_workers: usize,
    /// The service's public base URL (`RAPPORT_PUBLIC_URL`, e.g. `https://rapport.example`):
    /// the audience of SMART client assertions and the base of FHIR links. Unset, it is taken
    /// from each request's `Host`; set it behind a proxy.
    pub public_url: Option<String>,
    /// Development only (`RAPPORT_ALLOW_LOOPBACK_TARGETS=true`): URLs callers register may be
    /// `http` and reach loopback addresses. Off, only `https` to public addresses is called.
    pub allow_loopback_targets: bool,
    pub webhooks: crate::jobs::webhooks::DispatchSettings,
    pub bulk_exports: crate::http::fhir::bulk::worker::BulkSettings,
    /// Keys that seal retained transcript text (`RAPPORT_TRANSCRIPT_KEYS`); none: no retention.
    pub transcript_keys: Option<crate::sealing::TextVault>,
    pub tokens: TokenSettings,
}

/// How access and refresh tokens are made and checked.
#[derive(Clone, Debug)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// Ed25519 private key (PKCS#8 PEM) to sign with EdDSA instead of HS256.
    pub private_key_file: Option<PathBuf>,
    /// Public keys (PEM) of earlier signing keys that still verify during a rotation.
    pub previous_public_key_files: Vec<PathBuf>,
    /// Token requests allowed per minute from one client address.
    pub rate_per_address: u32,
    /// Token requests allowed per minute for one username or client id.
    pub rate_per_username: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{variable}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

/// The shortest HS256 secret we accept: 256 bits, as RFC 7518 §3.2 requires.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests can supply an environment of their own.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());

        let database = match get("DATABASE_URL") {
            Some(url) => DatabaseSource::Url(parse_database_url(&url)?),
            None => DatabaseSource::Embedded,
        };
        let bind = match get("RAPPORT_BIND") {
            Some(raw) => raw.trim().parse().map_err(|_| ConfigError {
                variable: "RAPPORT_BIND",
                reason: format!("`{raw}` is not an address:port such as 127.0.0.1:8080"),
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let data_dir = PathBuf::from(get("RAPPORT_DATA_DIR").unwrap_or_else(|| "./.rapport".into()));
        let jwt_secret = get("RAPPORT_JWT_SECRET");
        let private_key_file = get("RAPPORT_JWT_PRIVATE_KEY_FILE").map(PathBuf::from);
        if let Some(secret) = &jwt_secret {
            if secret.len() < MIN_JWT_SECRET_BYTES {
                return Err(ConfigError {
                    variable: "RAPPORT_JWT_SECRET",
                    reason: format!("must be at least {MIN_JWT_SECRET_BYTES} bytes long"),
                });
            }
        } else if matches!(database, DatabaseSource::Url(_)) && private_key_file.is_none() {
            return Err(ConfigError {
                variable: "RAPPORT_JWT_SECRET",
                reason: "is required when DATABASE_URL is set and RAPPORT_JWT_PRIVATE_KEY_FILE is not \
                         (only the embedded default generates one)"
                    .into(),
            });
        }
        let log_format = match get("RAPPORT_LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError {
                    variable: "RAPPORT_LOG_FORMAT",
                    reason: format!("`{other}` is neither `json` nor `pretty`"),
                });
            }
        };
        Ok(Self {
            database,
            bind,
            data_dir,
            jwt_secret,
            log_format,
            db_pool_size: parse_number(&get, "RAPPORT_DB_POOL_SIZE", 16, 1..=512)? as u32,
            db_acquire_timeout: Duration::from_millis(parse_number(
                &get,
                "RAPPORT_DB_ACQUIRE_TIMEOUT_MS",
                2_000,
                10..=60_000,
            )?),
            db_statement_timeout: Duration::from_millis(parse_number(
                &get,
                "RAPPORT_DB_STATEMENT_TIMEOUT_MS",
                10_000,
                100..=600_000,
            )?),
            body_limit: parse_number(&get, "RAPPORT_BODY_LIMIT_BYTES", 1_048_576, 1_024..=67_108_864)? as usize,
            shutdown_timeout: Duration::from_secs(parse_number(&get, "RAPPORT_SHUTDOWN_TIMEOUT_SECS", 30, 0..=600)?),
            http_workers: parse_number(&get, "RAPPORT_HTTP_WORKERS", 0, 0..=256)? as usize,
            public_url: get("RAPPORT_PUBLIC_URL").map(|url| parse_public_url(&url)).transpose()?,
            allow_loopback_targets: parse_flag(&get, "RAPPORT_ALLOW_LOOPBACK_TARGETS", false)?,
            transcript_keys: get("RAPPORT_TRANSCRIPT_KEYS")
                .map(|raw| crate::sealing::TextVault::parse(&raw))
                .transpose()
                .map_err(|reason| ConfigError { variable: "RAPPORT_TRANSCRIPT_KEYS", reason })?,
            bulk_exports: crate::http::fhir::bulk::worker::BulkSettings {
                ttl: Duration::from_secs(parse_number(&get, "RAPPORT_BULK_EXPORT_TTL_SECS", 3_600, 60..=604_800)?),
                run_jobs: parse_flag(&get, "RAPPORT_BULK_EXPORT_JOBS", true)?,
            },
            webhooks: crate::jobs::webhooks::DispatchSettings {
                attempt_timeout: Duration::from_millis(parse_number(
                    &get,
                    "RAPPORT_WEBHOOK_TIMEOUT_MS",
                    10_000,
                    100..=60_000,
                )?),
                first_retry: Duration::from_millis(parse_number(
                    &get,
                    "RAPPORT_WEBHOOK_FIRST_RETRY_MS",
                    5_000,
                    10..=3_600_000,
                )?),
                retry_budget: Duration::from_secs(parse_number(
                    &get,
                    "RAPPORT_WEBHOOK_RETRY_BUDGET_SECS",
                    86_400,
                    1..=7 * 86_400,
                )?),
            },
            tokens: TokenSettings {
                issuer: get("RAPPORT_JWT_ISSUER").unwrap_or_else(|| "rapport".into()),
                audience: get("RAPPORT_JWT_AUDIENCE").unwrap_or_else(|| "rapport-api".into()),
                access_ttl: Duration::from_secs(parse_number(&get, "RAPPORT_ACCESS_TOKEN_TTL_SECS", 900, 30..=86_400)?),
                refresh_ttl: Duration::from_secs(parse_number(
                    &get,
                    "RAPPORT_REFRESH_TOKEN_TTL_SECS",
                    30 * 86_400,
                    60..=365 * 86_400,
                )?),
                private_key_file,
                previous_public_key_files: get("RAPPORT_JWT_PREVIOUS_PUBLIC_KEY_FILES")
                    .map(|files| files.split(',').map(str::trim).filter(|f| !f.is_empty()).map(PathBuf::from).collect())
                    .unwrap_or_default(),
                rate_per_address: parse_number(&get, "RAPPORT_TOKEN_RATE_PER_ADDRESS", 60, 1..=1_000_000)? as u32,
                rate_per_username: parse_number(&get, "RAPPORT_TOKEN_RATE_PER_USERNAME", 10, 1..=1_000_000)? as u32,
            },
        })
    }
}

fn parse_database_url(url: &str) -> Result<String, ConfigError> {
    let url = url.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(url.to_owned())
    } else {
        Err(ConfigError { variable: "DATABASE_URL", reason: "must start with postgres:// or postgresql://".into() })
    }
}

fn parse_public_url(raw: &str) -> Result<String, ConfigError> {
    let url = raw.trim().trim_end_matches('/');
    let invalid = |reason: &str| ConfigError { variable: "RAPPORT_PUBLIC_URL", reason: reason.into() };
    let parsed = url::Url::parse(url).map_err(|e| invalid(&format!("`{raw}` is not an absolute URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(invalid("must be an http or https URL with a host"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("must not have a query or fragment"));
    }
    Ok(url.to_owned())
}

fn parse_number(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let Some(raw) = get(variable) else {
        return Ok(default);
    };
    match raw.trim().parse::<u64>() {
        Ok(value) if range.contains(&value) => Ok(value),
        _ => Err(ConfigError {
            variable,
            reason: format!("`{raw}` is not a whole number from {} to {}", range.start(), range.end()),
        }),
    }
}

/// A `true`/`false` setting.
fn parse_flag(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(variable).as_deref().map(str::trim) {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(ConfigError { variable, reason: format!("`{other}` is neither true nor false") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let env: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(|name| env.get(name).cloned())
    }

    #[test]
    fn no_configuration_means_the_embedded_default_on_localhost_8080() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.database, DatabaseSource::Embedded);
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.data_dir, PathBuf::from("./.rapport"));
        assert!(s.jwt_secret.is_none());
    }

    #[test]
    fn a_database_url_without_a_jwt_secret_is_refused() {
        let err = settings(&[("DATABASE_URL", "postgres://localhost/x")]).unwrap_err();
        assert_eq!(err.variable, "RAPPORT_JWT_SECRET");
    }

    #[test]
    fn a_short_jwt_secret_is_refused() {
        let err = settings(&[("RAPPORT_JWT_SECRET", "short")]).unwrap_err();
        assert_eq!(err.variable, "RAPPORT_JWT_SECRET");
    }

    #[test]
    fn a_bad_bind_address_names_the_variable_in_one_line() {
        let err = settings(&[("RAPPORT_BIND", "localhost")]).unwrap_err();
        assert_eq!(err.variable, "RAPPORT_BIND");
        assert!(!err.to_string().contains('\n'));
    }

    #[test]
    fn a_database_url_of_another_scheme_is_refused() {
        let err = settings(&[("DATABASE_URL", "mysql://x"), ("RAPPORT_JWT_SECRET", &"s".repeat(32))]).unwrap_err();
        assert_eq!(err.variable, "DATABASE_URL");
    }

    #[test]
    fn outbound_requests_stay_public_unless_development_says_otherwise() {
        assert!(!settings(&[]).unwrap().allow_loopback_targets);
        assert!(settings(&[("RAPPORT_ALLOW_LOOPBACK_TARGETS", "true")]).unwrap().allow_loopback_targets);
        let err = settings(&[("RAPPORT_ALLOW_LOOPBACK_TARGETS", "yes")]).unwrap_err();
        assert_eq!(err.variable, "RAPPORT_ALLOW_LOOPBACK_TARGETS");
    }

    #[test]
    fn numbers_out_of_range_are_refused() {
        let err = settings(&[("RAPPORT_DB_POOL_SIZE", "0")]).unwrap_err();
        assert_eq!(err.variable, "RAPPORT_DB_POOL_SIZE");
        let err = settings(&[("RAPPORT_LOG_FORMAT", "xml")]).unwrap_err();
        assert_eq!(err.variable, "RAPPORT_LOG_FORMAT");
    }

    #[test]
    fn the_public_url_loses_its_trailing_slash_and_must_be_http() {
        let ok = settings(&[("RAPPORT_PUBLIC_URL", "https://rapport.example/base/")]).unwrap();
        assert_eq!(ok.public_url.as_deref(), Some("https://rapport.example/base"));
        for bad in ["rapport.example", "ftp://rapport.example", "https://rapport.example/?x=1"] {
            assert_eq!(settings(&[("RAPPORT_PUBLIC_URL", bad)]).unwrap_err().variable, "RAPPORT_PUBLIC_URL", "{bad}");
        }
    }
}
