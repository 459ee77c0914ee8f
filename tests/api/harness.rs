//! `spawn_app()`: the real application on port 0 against a fresh database.

use diesel::prelude::*;
use diesel::{Connection, PgConnection, RunQueryDsl};
use rapport::config::Settings;
use rapport::embedded_pg::EmbeddedCluster;
use rapport::startup::Application;
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

pub const TEST_JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

/// The PostgreSQL server the tests use, and the migrated template they clone.
struct TestServer {
    /// libpq URL without the database name, e.g. `postgres://u:p@127.0.0.1:5432`.
    base_url: String,
    template: String,
    admin: Mutex<PgConnection>,
    /// Kept so the clean-up can remove it; `None` with `DATABASE_URL`.
    cluster_dir: Option<PathBuf>,
    cluster: Option<EmbeddedCluster>,
    /// With `DATABASE_URL` naming a Citus coordinator: its workers (see `harness_citus`).
    citus: Option<crate::harness_citus::Cluster>,
}

static SERVER: OnceLock<TestServer> = OnceLock::new();
static NEXT_DATABASE: AtomicU32 = AtomicU32::new(0);

fn server() -> &'static TestServer {
    SERVER.get_or_init(|| {
        let server = start_server();
        // SAFETY: registers a plain `extern "C" fn` once; glibc runs it at process exit with the
        // exit status.
        unsafe { on_exit(clean_up_at_exit, std::ptr::null_mut()) };
        server
    })
}

/// Splits `postgres://…/name?x` into (`postgres://…`, `name`).
fn split_database_url(url: &str) -> (String, String) {
    let without_query = url.split('?').next().unwrap_or(url);
    match without_query.rsplit_once('/') {
        Some((base, name)) if base.contains("//") && !base.ends_with('/') && base.matches('/').count() >= 2 => {
            (base.to_owned(), if name.is_empty() { "postgres".to_owned() } else { name.to_owned() })
        }
        _ => (without_query.trim_end_matches('/').to_owned(), "postgres".to_owned()),
    }
}

fn start_server() -> TestServer {
    let (base_url, maintenance_database, cluster_dir, cluster) = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => {
            let (base, database) = split_database_url(url.trim());
            (base, database, None, None)
        }
        _ => {
            let dir =
                tempfile::Builder::new().prefix("rapport-test-pg-").tempdir().expect("a temporary directory").keep();
            // The server may run as another user (PostgreSQL refuses root): let it through.
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711)).expect("chmod");
            let cluster = EmbeddedCluster::open(&dir).expect("the test PostgreSQL cluster starts");
            spawn_watchdog(&dir, cluster.postmaster_pid());
            let url = cluster.database_url("postgres");
            let (base, _) = split_database_url(&url);
            (base, "postgres".to_owned(), Some(dir), Some(cluster))
        }
    };
    let mut admin = PgConnection::establish(&format!("{base_url}/{maintenance_database}"))
        .expect("the tests connect to PostgreSQL");
    let citus = crate::harness_citus::Cluster::detect(&mut admin, &base_url);
    sweep_stale_databases(&mut admin);
    if let Some(citus) = &citus {
        citus.each_worker(sweep_stale_databases);
    }
    let template = format!("rapport_tmpl_{}", std::process::id());
    if citus.is_none() {
        diesel::sql_query(format!("CREATE DATABASE {template}")).execute(&mut admin).expect("create the template");
        let mut conn = PgConnection::establish(&format!("{base_url}/{template}")).expect("connect to the template");
        rapport::db::prepare_schema(&mut conn).expect("migrate the template");
    }
    TestServer { base_url, template, admin: Mutex::new(admin), cluster_dir, cluster, citus }
}

/// Stops the throw-away cluster and deletes it if this process dies without running its exit
/// handlers (killed, aborted).
fn spawn_watchdog(dir: &std::path::Path, postmaster: Option<i32>) {
    let script = format!(
        "while kill -0 {parent} 2>/dev/null; do sleep 1; done; {stop} rm -rf '{dir}'",
        parent = std::process::id(),
        stop = postmaster.map(|pid| format!("kill -QUIT {pid} 2>/dev/null; sleep 1;")).unwrap_or_default(),
        dir = dir.display(),
    );
    let _ = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

/// Drops databases left by earlier runs whose process no longer exists.
fn sweep_stale_databases(admin: &mut PgConnection) {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        datname: String,
    }
    let names: Vec<Name> = diesel::sql_query(
        "SELECT datname FROM pg_database WHERE datname LIKE 'rapport\\_test\\_%' OR datname LIKE 'rapport\\_tmpl\\_%'",
    )
    .load(admin)
    .unwrap_or_default();
    for Name { datname } in names {
        let pid: Option<i32> = datname.split('_').nth(2).and_then(|p| p.parse().ok());
        let alive = pid.is_some_and(|pid| nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok());
        if !alive {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {datname} WITH (FORCE)")).execute(admin);
        }
    }
}

unsafe extern "C" {
    /// glibc's `on_exit(3)`: like `atexit`, but the handler learns the exit status.
    fn on_exit(function: extern "C" fn(libc::c_int, *mut libc::c_void), argument: *mut libc::c_void) -> libc::c_int;
}

/// Removes the throw-away cluster (or the template database), then ends the process at once.
///
/// Servers of finished tests may still have threads inside libpq when `exit` runs. The C
/// libraries' own exit handlers (OpenSSL's clean-up, which libpq's SCRAM uses) would free state
/// under those threads, which once crashed the test binary after every test had passed. Nothing
/// after this handler is needed: Rust has already flushed its output, so `_exit` keeps the status
/// and skips that race.
extern "C" fn clean_up_at_exit(status: libc::c_int, _: *mut libc::c_void) {
    if let Some(server) = SERVER.get() {
        if let Some(cluster) = &server.cluster {
            let _ = cluster.stop();
            if let Some(dir) = &server.cluster_dir {
                let _ = std::fs::remove_dir_all(dir);
            }
        } else if let Ok(mut admin) = server.admin.lock() {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", server.template))
                .execute(&mut *admin);
        }
    }
    // SAFETY: ends the process; no Rust destructor or buffer is left to run.
    unsafe { libc::_exit(status) }
}

/// A fresh database cloned from the template; dropped with this value.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    pub fn create() -> Self {
        let server = server();
        let name = format!("rapport_test_{}_{}", std::process::id(), NEXT_DATABASE.fetch_add(1, Ordering::Relaxed));
        let url = format!("{}/{name}", server.base_url);
        let mut admin = server.admin.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(citus) = &server.citus {
            diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut *admin).expect("create a database");
            drop(admin);
            citus.prepare(&name, &url, true);
        } else {
            diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {}", server.template))
                .execute(&mut *admin)
                .expect("clone the template");
        }
        Self { url, name }
    }

    /// A database with no schema at all (for `rapport migrate`).
    pub fn create_empty() -> Self {
        let server = server();
        let name = format!("rapport_test_{}_{}", std::process::id(), NEXT_DATABASE.fetch_add(1, Ordering::Relaxed));
        let url = format!("{}/{name}", server.base_url);
        let mut admin = server.admin.lock().unwrap_or_else(|e| e.into_inner());
        diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut *admin).expect("create a database");
        drop(admin);
        if let Some(citus) = &server.citus {
            citus.prepare(&name, &url, false);
        }
        Self { url, name }
    }

    /// Whether the tests run on a Citus cluster.
    pub fn on_citus() -> bool {
        server().citus.is_some()
    }

    pub fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connect to the test database")
    }

    pub fn drop_now(&self) {
        let server = server();
        let mut admin = server.admin.lock().unwrap_or_else(|e| e.into_inner());
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).execute(&mut *admin);
        drop(admin);
        if let Some(citus) = &server.citus {
            citus.drop_database(&self.name);
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        self.drop_now();
    }
}

/// Settings for a test app: port 0, the given database, one worker, quiet logs.
pub fn test_settings(database_url: &str, extra: &[(&str, &str)]) -> Settings {
    let mut env: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".into(), database_url.to_owned()),
        ("RAPPORT_BIND".into(), "127.0.0.1:0".into()),
        ("RAPPORT_JWT_SECRET".into(), TEST_JWT_SECRET.into()),
        ("RAPPORT_HTTP_WORKERS".into(), "1".into()),
        ("RAPPORT_DB_POOL_SIZE".into(), "4".into()),
        ("RAPPORT_SHUTDOWN_TIMEOUT_SECS".into(), "1".into()),
        ("RAPPORT_TOKEN_RATE_PER_ADDRESS".into(), "1000000".into()),
        ("RAPPORT_TOKEN_RATE_PER_USERNAME".into(), "1000000".into()),
    ]);
    for (key, value) in extra {
        env.insert((*key).to_owned(), (*value).to_owned());
    }
    Settings::from_lookup(|name| env.get(name).cloned()).expect("valid test settings")
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub handle: actix_web::dev::ServerHandle,
    /// Stops as SIGTERM does: drain, then stop.
    pub stopper: rapport::http::drain::Stopper,
    pub db: rapport::db::Database,
    // Dropped after the server is told to stop.
    pub database: TestDatabase,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Sends the stop command now; the future only waits for completion.
        drop(self.handle.stop(false));
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    start_app(TestDatabase::create(), extra).await
}

/// The application on `database`, migrating it as a start does.
pub async fn spawn_app_on(database: TestDatabase) -> TestApp {
    start_app(database, &[]).await
}

/// Another process of the same service on `first`'s database (a restart, or a replica).
pub async fn spawn_app_beside(first: &TestApp, extra: &[(&str, &str)]) -> TestApp {
    // Both values drop the same database; dropping it twice is harmless.
    let shared = TestDatabase { name: first.database.name.clone(), url: first.database.url.clone() };
    start_app(shared, extra).await
}

async fn start_app(database: TestDatabase, extra: &[(&str, &str)]) -> TestApp {
    let settings = test_settings(&database.url, extra);
    let application = Application::build(&settings, &database.url).await.expect("the application builds");
    let db = rapport::db::Database::new(&database.url, &rapport::startup::pool_options(&settings));
    let address = format!("http://{}", application.address());
    let handle = application.handle();
    let stopper = application.stopper();
    tokio::spawn(application.run_until_stopped());
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    TestApp { address, client, handle, stopper, db, database }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request sent")
    }

    pub async fn request(&self, method: reqwest::Method, path: &str) -> reqwest::Response {
        self.client.request(method, self.url(path)).send().await.expect("request sent")
    }

    pub async fn post_raw(&self, path: &str, content_type: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request sent")
    }
}

/// Asserts an RFC 9457 problem answer and returns its body.
pub async fn assert_problem(response: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "status of {}", response.url());
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: serde_json::Value = response.json().await.expect("a JSON problem body");
    assert_eq!(body["status"], status);
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["type"], format!("https://rapport.dev/problems/{}", code.replace('_', "-")));
    assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
    body
}
