//! Building the application: database (embedded or `DATABASE_URL`), migrations, routes,
//! listener. `Application::build` binds port 0 happily, which is how the tests start it.

use crate::auth::hashing_pool::HashingPool;
use crate::auth::tokens::TokenKeys;
use crate::config::{DatabaseSource, Settings};
use crate::db::{Database, DbError, PoolOptions};
use crate::domain::people::{EmailAddress, NewPassword, OrganizationName};
use crate::embedded_pg::{EMBEDDED_DATABASE, EmbeddedCluster, EmbeddedPgError, Supervisor};
use crate::error;
use crate::http::drain::{Drain, Stopper};
use crate::http::{self, extract::BodyLimit, fallback::RouteTable, metrics::Metrics, observe, token::TokenRateLimits};
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use serde::Serialize;
use std::net::{SocketAddr, TcpListener};
use tracing_actix_web::TracingLogger;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("embedded PostgreSQL: {0}")]
    Embedded(#[from] EmbeddedPgError),
    #[error("database: {0}")]
    Database(#[from] DbError),
    #[error("cannot listen on {address}: {source}")]
    Bind { address: SocketAddr, source: std::io::Error },
    #[error("server: {0}")]
    Serve(std::io::Error),
    #[error("reading standard input: {0}")]
    Stdin(std::io::Error),
    #[error("{field}: {detail}")]
    Invalid { field: &'static str, detail: String },
    #[error("{0}")]
    Distribution(#[from] crate::db::distribution::DistributionError),
    #[error("signing keys: {0}")]
    Keys(#[from] crate::auth::tokens::KeyError),
}

/// Where the database is, and the embedded cluster when we use one.
pub struct DatabaseHandle {
    url: String,
    cluster: Option<EmbeddedCluster>,
    supervisor: Option<Supervisor>,
}

impl DatabaseHandle {
    /// `DATABASE_URL` when set; otherwise the embedded cluster, started unless already running.
    pub fn open(settings: &Settings) -> Result<Self, StartupError> {
        match &settings.database {
            DatabaseSource::Url(url) => Ok(Self { url: url.clone(), cluster: None, supervisor: None }),
            DatabaseSource::Embedded => {
                let cluster = EmbeddedCluster::open(&settings.data_dir)?;
                if cluster.started_here() {
                    tracing::info!(port = cluster.port(), "started the embedded PostgreSQL cluster");
                }
                Ok(Self { url: cluster.database_url(EMBEDDED_DATABASE), cluster: Some(cluster), supervisor: None })
            }
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Keeps the embedded cluster running while the service runs (restarts it if it dies).
    pub fn supervise(&mut self) {
        if let Some(cluster) = &self.cluster {
            self.supervisor = Some(Supervisor::watch(cluster.clone()));
        }
    }

    /// Stops the embedded cluster if this process started it.
    pub fn close(mut self) {
        self.stop_supervising();
        if let Some(cluster) = self.cluster.take().filter(EmbeddedCluster::started_here) {
            stop_cluster(&cluster);
        }
    }

    /// Stops the embedded cluster whoever started it (the service owns its private cluster).
    pub fn close_always(mut self) {
        self.stop_supervising();
        if let Some(cluster) = self.cluster.take() {
            stop_cluster(&cluster);
        }
    }

    fn stop_supervising(&mut self) {
        if let Some(supervisor) = self.supervisor.take() {
            supervisor.stop();
        }
    }

    /// `rapport migrate`.
    pub fn migrate(&self, settings: &Settings) -> Result<usize, StartupError> {
        let database = Database::new(&self.url, &pool_options(settings));
        Ok(block_on(database.migrate())?)
    }

    /// `rapport distribute`: on a Citus coordinator, what was distributed.
    pub fn distribute(&self, settings: &Settings) -> Result<crate::db::distribution::Layout, StartupError> {
        let database = Database::new(&self.url, &pool_options(settings));
        Ok(block_on(database.distribute())?)
    }

    /// `rapport create-org`: the organization and its first admin.
    pub fn create_organization(
        &self,
        settings: &Settings,
        name: &str,
        admin_email: &str,
        admin_password: Option<String>,
    ) -> Result<CreatedOrganizationOutput, StartupError> {
        let invalid =
            |field| move |e: crate::domain::validation::FieldError| StartupError::Invalid { field, detail: e.detail };
        let name = OrganizationName::parse(name, "/name").map_err(invalid("--name"))?;
        let email = EmailAddress::parse(admin_email, "/admin_email").map_err(invalid("--admin-email"))?;
        let generated = admin_password.is_none();
        let password = admin_password.unwrap_or_else(crate::auth::password::generate);
        let password = NewPassword::parse(&password, "/admin_password").map_err(invalid("admin password"))?;
        let hash = crate::auth::password::hash(password.expose());
        let database = Database::new(&self.url, &pool_options(settings));
        let created = block_on(async {
            database.migrate().await?;
            database.create_organization(name, email, hash).await
        })?;
        Ok(CreatedOrganizationOutput {
            organization_id: created.organization_id,
            admin_user_id: created.admin_user_id,
            admin_password: generated.then(|| password.expose().to_owned()),
        })
    }
}

impl DatabaseHandle {
    /// `rapport reseal-transcripts`: kept text sealed under an older key, sealed again under the
    /// current one (docs/security.md, section 15).
    pub fn reseal_transcripts(&self, settings: &Settings) -> Result<serde_json::Value, StartupError> {
        let vault = settings.transcript_keys.clone().ok_or(StartupError::Invalid {
            field: "RAPPORT_TRANSCRIPT_KEYS",
            detail: "no keys are configured: nothing can be sealed".into(),
        })?;
        let current = vault.current_key_id().to_owned();
        let database = Database::new(&self.url, &pool_options(settings));
        let (resealed, unopened) = block_on(async {
            database.migrate().await?;
            database
                .reseal_transcripts(current.clone(), move |org, session, version, key_id, sealed| {
                    let binding = crate::db::transcripts::seal_binding(org, session, version);
                    let plain = vault.open(key_id, sealed, &binding).ok()?;
                    Some(vault.seal(&plain, &binding))
                })
                .await
        })?;
        Ok(serde_json::json!({ "key_id": current, "resealed": resealed, "not_opened": unopened }))
    }
}

fn stop_cluster(cluster: &EmbeddedCluster) {
    match cluster.stop() {
        Ok(()) => tracing::info!("stopped the embedded PostgreSQL cluster"),
        Err(error) => tracing::error!(%error, "could not stop the embedded PostgreSQL cluster"),
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime builds")
        .block_on(future)
}

/// What `create-org` prints.
#[derive(Debug, Serialize)]
pub struct CreatedOrganizationOutput {
    pub organization_id: Uuid,
    pub admin_user_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_password: Option<String>,
}

pub fn pool_options(settings: &Settings) -> PoolOptions {
    PoolOptions {
        max_size: settings.db_pool_size,
        acquire_timeout: settings.db_acquire_timeout,
        statement_timeout: settings.db_statement_timeout,
    }
}

/// The HS256 secret: configured, or (embedded default) generated once and kept in the data
/// directory, so tokens survive restarts.
fn jwt_secret(settings: &Settings) -> Result<String, StartupError> {
    if let Some(secret) = &settings.jwt_secret {
        return Ok(secret.clone());
    }
    let path = settings.data_dir.join("jwt-secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        if existing.trim().len() >= crate::config::MIN_JWT_SECRET_BYTES {
            return Ok(existing.trim().to_owned());
        }
    }
    std::fs::create_dir_all(&settings.data_dir)
        .map_err(|e| StartupError::Invalid { field: "RAPPORT_DATA_DIR", detail: e.to_string() })?;
    let secret = crate::embedded_pg::random_hex(32);
    crate::embedded_pg::write_private_file(&path, &secret)?;
    Ok(secret)
}

/// The running HTTP service.
pub struct Application {
    address: SocketAddr,
    server: Server,
    stopper: Stopper,
}

impl Application {
    /// Connects, migrates, binds `settings.bind` (port 0 picks a free port) and builds the server.
    pub async fn build(settings: &Settings, database_url: &str) -> Result<Self, StartupError> {
        let database = Database::new(database_url, &pool_options(settings));
        let applied = database.migrate().await?;
        if applied > 0 {
            tracing::info!(applied, "applied database migrations");
        }
        let installed = database.sync_builtin_instruments().await?;
        if installed > 0 {
            tracing::info!(installed, "installed built-in instrument versions");
        }
        crate::jobs::retention::spawn(database.clone());
        let outbound = crate::outbound::TargetPolicy { allow_loopback: settings.allow_loopback_targets };
        crate::jobs::webhooks::spawn(database.clone(), outbound, settings.webhooks);
        crate::http::fhir::bulk::worker::spawn(database.clone(), settings.bulk_exports);
        let secret = jwt_secret(settings)?;
        let keys = web::Data::new(TokenKeys::from_settings(&settings.tokens, &secret)?);
        let limits = web::Data::new(TokenRateLimits::new(&settings.tokens));
        let token_settings = web::Data::new(settings.tokens.clone());
        let hashing = web::Data::new(HashingPool::new(std::thread::available_parallelism().map_or(2, |n| n.get())));
        let listener =
            TcpListener::bind(settings.bind).map_err(|source| StartupError::Bind { address: settings.bind, source })?;
        let address = listener.local_addr().map_err(StartupError::Serve)?;
        let api = crate::openapi::build();
        let routes = web::Data::new(RouteTable::from_openapi(&api));
        let metrics = web::Data::new(Metrics::new(database.clone()));
        let database = web::Data::new(database);
        let body_limit = web::Data::new(BodyLimit(settings.body_limit));
        let drain = web::Data::new(Drain::default());
        let drain_handle = drain.clone();
        let public_url = web::Data::new(http::public_url::PublicUrl(settings.public_url.clone()));
        let vault = web::Data::new(http::transcripts::Vault(settings.transcript_keys.clone()));
        let target_policy = crate::outbound::TargetPolicy { allow_loopback: settings.allow_loopback_targets };
        let remote_keys = web::Data::new(crate::auth::remote_jwks::RemoteKeySets::new(target_policy));
        let target_policy = web::Data::new(target_policy);
        let workers = if settings.http_workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            settings.http_workers
        };
        let server = HttpServer::new(move || {
            let app = App::new()
                .into_utoipa_app()
                .configure(http::api_routes)
                .into_app()
                .app_data(database.clone())
                .app_data(target_policy.clone())
                .app_data(metrics.clone())
                .app_data(routes.clone())
                .app_data(body_limit.clone())
                .app_data(drain.clone())
                .app_data(keys.clone())
                .app_data(limits.clone())
                .app_data(token_settings.clone())
                .app_data(hashing.clone())
                .app_data(public_url.clone())
                .app_data(vault.clone())
                .app_data(remote_keys.clone())
                .app_data(web::PathConfig::default().error_handler(error::path_error))
                .configure(http::fhir::routes)
                .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", api.clone()))
                .service(web::redirect("/docs", "/docs/"))
                .default_service(web::to(http::fallback::unmatched))
                .wrap(from_fn(http::guard::refuse_unstorable_parameters))
                .wrap(from_fn(http::drain::track_in_flight))
                .wrap(from_fn(http::fhir::outcome::as_operation_outcome))
                .wrap(from_fn(http::security_headers::add_security_headers))
                .wrap(from_fn(observe::observe))
                .wrap(TracingLogger::<observe::RequestSpan>::new());
            http::panic::answering_panics(app)
        })
        .workers(workers)
        .shutdown_timeout(settings.shutdown_timeout.as_secs())
        // Signals are ours: SIGTERM drains first (see `http::drain`).
        .disable_signals()
        .listen(listener.try_clone().map_err(StartupError::Serve)?)
        .map_err(StartupError::Serve)?
        .run();
        let stopper = Stopper {
            server: server.handle(),
            drain: drain_handle,
            timeout: settings.shutdown_timeout,
            listener: std::sync::Arc::new(std::sync::Mutex::new(Some(listener))),
        };
        Ok(Self { address, server, stopper })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// A handle to stop the server at once (tests stop theirs when they end).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Stops the server as SIGTERM does: drain, then stop.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Serves until SIGTERM or SIGINT, then drains in-flight requests (up to the shutdown
    /// timeout) and stops.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Self { server, stopper, .. } = self;
        let signalled = async {
            wait_for_stop_signal().await;
            stopper.stop().await;
        };
        futures_util::pin_mut!(signalled);
        match futures_util::future::select(server, signalled).await {
            futures_util::future::Either::Left((served, _)) => served,
            futures_util::future::Either::Right(((), server)) => server.await,
        }
    }
}

/// SIGTERM or SIGINT (a second one stops waiting for the drain: the process exits).
async fn wait_for_stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut interrupt)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::error!("cannot listen for SIGTERM/SIGINT; stop the service with SIGKILL");
        return std::future::pending().await;
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = interrupt.recv() => "SIGINT",
    };
    tracing::info!(signal = name, "stopping: draining requests in flight");
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = interrupt.recv() => {},
        }
        tracing::warn!("second stop signal: exiting without waiting for the drain");
        std::process::exit(130);
    });
}
