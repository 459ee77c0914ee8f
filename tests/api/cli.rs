//! The `rapport` binary itself: configuration errors, subcommands, and the embedded default.

use crate::harness::{TEST_JWT_SECRET, TestDatabase};
use diesel::prelude::*;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn rapport() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rapport"));
    command.env_remove("DATABASE_URL").env_remove("RAPPORT_JWT_SECRET").env("RUST_LOG", "warn");
    command
}

fn with_database(database: &TestDatabase) -> Command {
    let mut command = rapport();
    command.env("DATABASE_URL", &database.url).env("RAPPORT_JWT_SECRET", TEST_JWT_SECRET);
    command
}

fn stdout_json(output: &Output) -> serde_json::Value {
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

#[test]
fn a_bad_setting_stops_the_binary_with_one_line_naming_the_variable() {
    let output = rapport().env("RAPPORT_BIND", "everywhere").arg("openapi").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("RAPPORT_BIND"), "{stderr}");
}

#[test]
fn the_openapi_subcommand_prints_the_generated_document() {
    let output = rapport().arg("openapi").output().unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8(output.stdout).unwrap().trim_end(), rapport::openapi::to_pretty_json().trim_end());
}

#[test]
fn migrate_applies_every_migration_to_an_empty_database_once() {
    let database = TestDatabase::create_empty();
    let first = with_database(&database).arg("migrate").output().unwrap();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations")).unwrap().count();
    assert!(String::from_utf8_lossy(&first.stdout).contains(&format!("applied {migrations} migration(s)")));
    let second = with_database(&database).arg("migrate").output().unwrap();
    assert!(String::from_utf8_lossy(&second.stdout).contains("applied 0 migration(s)"));
}

#[derive(QueryableByName)]
struct AdminRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    email: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    role: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    password_hash: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    audit_events: i64,
}

#[test]
fn create_org_prints_the_ids_and_a_generated_password_that_verifies() {
    let database = TestDatabase::create();
    let output = with_database(&database)
        .args(["create-org", "--name", "Northside Counselling", "--admin-email", "Admin@Northside.Example"])
        .output()
        .unwrap();
    let created = stdout_json(&output);
    let password = created["admin_password"].as_str().unwrap();
    assert!(password.len() >= 20);
    let admin: AdminRow = diesel::sql_query(
        "SELECT u.email, u.role, u.password_hash, \
                (SELECT count(*) FROM audit_events a WHERE a.organization_id = u.organization_id) AS audit_events \
         FROM users u WHERE u.organization_id = $1::uuid AND u.id = $2::uuid",
    )
    .bind::<diesel::sql_types::Text, _>(created["organization_id"].as_str().unwrap())
    .bind::<diesel::sql_types::Text, _>(created["admin_user_id"].as_str().unwrap())
    .get_result(&mut database.connect())
    .unwrap();
    assert_eq!(admin.email, "admin@northside.example");
    assert_eq!(admin.role, "admin");
    assert!(admin.password_hash.starts_with("$argon2id$"));
    assert!(rapport::auth::password::verify(&admin.password_hash, password));
    assert_eq!(admin.audit_events, 1);
}

#[test]
fn create_org_takes_a_password_from_stdin_and_refuses_bad_input() {
    let database = TestDatabase::create();
    let mut child = with_database(&database)
        .args(["create-org", "--name", "Clinic", "--admin-email", "a@clinic.example", "--admin-password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"a long enough passphrase\n").unwrap();
    let created = stdout_json(&child.wait_with_output().unwrap());
    assert!(created.get("admin_password").is_none(), "a chosen password is never printed back");

    let bad_email = with_database(&database)
        .args(["create-org", "--name", "Clinic", "--admin-email", "not-an-email"])
        .output()
        .unwrap();
    assert!(!bad_email.status.success());
    assert!(String::from_utf8_lossy(&bad_email.stderr).contains("--admin-email"));
    let empty_name = with_database(&database)
        .args(["create-org", "--name", " ", "--admin-email", "b@clinic.example"])
        .output()
        .unwrap();
    assert!(!empty_name.status.success());
}

/// A `rapport serve` child that is stopped (and its cluster with it) even when a test fails.
struct Served {
    child: Option<Child>,
    data_dir: PathBuf,
}

impl Served {
    fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.terminate();
        }
        if let Some(pid) = postmaster_pid(&self.data_dir) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGQUIT);
        }
    }
}

fn postmaster_pid(data_dir: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(data_dir.join("pg/data/postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_until_ready(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("serve exited early with {status}");
        }
        if ready(port) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("serve did not become ready");
}

/// Reads a child's output as it is written: a debug log fills a pipe's 64 KiB long before the
/// child exits, and a child blocked on a full pipe answers nothing.
fn drain(pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut pipe = pipe;
        let mut text = Vec::new();
        let _ = pipe.read_to_end(&mut text);
        text
    })
}

fn serve_embedded(data_dir: &Path, port: u16) -> Served {
    let mut child = rapport()
        .env("RAPPORT_DATA_DIR", data_dir)
        .env("RAPPORT_BIND", format!("127.0.0.1:{port}"))
        .env("RAPPORT_HTTP_WORKERS", "1")
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until_ready(port, &mut child);
    Served { child: Some(child), data_dir: data_dir.to_owned() }
}

#[test]
fn with_no_configuration_serve_runs_a_private_cluster_that_create_org_shares_and_sigterm_stops() {
    let temp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let data_dir = temp.path().join("data");
    let port = free_port();

    let mut served = serve_embedded(&data_dir, port);
    assert!(data_dir.join("pg/data/PG_VERSION").exists(), "the cluster lives under RAPPORT_DATA_DIR");
    let running = postmaster_pid(&data_dir).expect("the cluster runs while serve does");

    // create-org connects to the running cluster and leaves it running.
    let created = rapport()
        .env("RAPPORT_DATA_DIR", &data_dir)
        .args(["create-org", "--name", "Embedded Clinic", "--admin-email", "admin@embedded.example"])
        .output()
        .unwrap();
    assert!(stdout_json(&created)["organization_id"].is_string());
    assert_eq!(postmaster_pid(&data_dir), Some(running));

    let status = served.terminate();
    assert!(status.success(), "serve exits cleanly on SIGTERM: {status}");
    assert_eq!(postmaster_pid(&data_dir), None, "serve stops its cluster when it stops");

    // With serve stopped, create-org starts the cluster, does its work and stops it again.
    let created = rapport()
        .env("RAPPORT_DATA_DIR", &data_dir)
        .args(["create-org", "--name", "Second Clinic", "--admin-email", "admin@second.example"])
        .output()
        .unwrap();
    assert!(stdout_json(&created)["admin_password"].is_string());
    assert_eq!(postmaster_pid(&data_dir), None);

    // The next start reuses the cluster and its data.
    let mut served = serve_embedded(&data_dir, port);
    let listing = rapport()
        .env("RAPPORT_DATA_DIR", &data_dir)
        .args(["create-org", "--name", "Third Clinic", "--admin-email", "admin@third.example"])
        .output()
        .unwrap();
    assert!(listing.status.success());
    assert!(served.terminate().success());
}

#[test]
fn no_health_information_token_or_secret_reaches_the_log() {
    let database = TestDatabase::create();
    let port = free_port();
    let mut child = with_database(&database)
        .env("RAPPORT_BIND", format!("127.0.0.1:{port}"))
        .env("RAPPORT_HTTP_WORKERS", "1")
        .env("RAPPORT_LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (stdout, stderr) = (drain(child.stdout.take().unwrap()), drain(child.stderr.take().unwrap()));
    wait_until_ready(port, &mut child);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (canary_password, canary) = ("CANARY-PASSWORD-7f3a9", "CANARY-PHI-5b2e1");
    let secrets = runtime.block_on(async {
        let created = with_database(&database)
            .args([
                "create-org",
                "--name",
                "Canary Clinic",
                "--admin-email",
                "canary@clinic.example",
                "--admin-password-stdin",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        created.stdin.as_ref().unwrap().write_all(canary_password.as_bytes()).unwrap();
        assert!(created.wait_with_output().unwrap().status.success());
        let client = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let tokens = password_tokens(&client, &base, "canary@clinic.example", canary_password).await;
        let token = tokens["access_token"].as_str().unwrap().to_owned();
        let body = serde_json::json!({"external_id": canary, "age_group": "adult", "display_name": canary,
                                      "attributes": {"note": canary}});
        let created: serde_json::Value = client
            .post(format!("{base}/v1/clients"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = created["id"].as_str().unwrap();
        client.get(format!("{base}/v1/clients/{id}")).bearer_auth(&token).send().await.unwrap();
        client.get(format!("{base}/v1/clients?external_id={canary}")).bearer_auth(&token).send().await.unwrap();
        // Bad input echoing the canary, and a failed login.
        client.post(format!("{base}/v1/clients")).bearer_auth(&token).json(&body).send().await.unwrap();
        client
            .post(format!("{base}/v1/auth/token"))
            .form(&[("grant_type", "password"), ("username", canary), ("password", canary_password)])
            .send()
            .await
            .unwrap();
        // A chart link: its token rides in the URL, which must not reach the log either.
        let post = |path: String, body: serde_json::Value| {
            let request = client.post(format!("{base}{path}")).bearer_auth(&token).json(&body);
            async move { request.send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
        };
        let users: serde_json::Value =
            client.get(format!("{base}/v1/users")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        let episode =
            serde_json::json!({"client_id": id, "clinician_id": users["items"][0]["id"], "started_on": "2026-03-01"});
        let episode = post("/v1/episodes".into(), episode).await;
        let link =
            post(format!("/v1/episodes/{}/chart-links", episode["id"].as_str().unwrap()), serde_json::json!({})).await;
        let chart_url = link["alliance_url"].as_str().unwrap();
        assert_eq!(client.get(chart_url).send().await.unwrap().status(), 200);
        let chart_token = chart_url.split("token=").nth(1).unwrap().to_owned();
        vec![token, tokens["refresh_token"].as_str().unwrap().to_owned(), chart_token]
    });
    let mut served = Served { child: Some(child), data_dir: PathBuf::from("/nonexistent") };
    assert!(served.terminate().success());
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    let log = format!("{}{}", String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr));
    assert!(log.contains("request finished"), "the log was captured: {log}");
    for secret in [canary, canary_password].iter().map(|s| s.to_string()).chain(secrets) {
        assert!(!log.contains(&secret), "the log contains `{secret}`");
    }
}

#[test]
fn the_embedded_cluster_is_restarted_when_its_postmaster_dies() {
    let temp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let data_dir = temp.path().join("data");
    let port = free_port();
    let mut served = serve_embedded(&data_dir, port);
    let first = postmaster_pid(&data_dir).expect("running");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(first), nix::sys::signal::Signal::SIGKILL).unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let restarted = postmaster_pid(&data_dir).is_some_and(|pid| pid != first);
        if restarted && ready(port) {
            break;
        }
        assert!(Instant::now() < deadline, "the cluster was not restarted");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(served.terminate().success());
    assert_eq!(postmaster_pid(&data_dir), None, "and stopped with the service");
}

#[test]
fn a_cluster_that_cannot_start_is_named_with_the_end_of_its_log() {
    let temp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let data_dir = temp.path().join("data");
    // Create the cluster (and stop it), then break its configuration.
    let created = rapport()
        .env("RAPPORT_DATA_DIR", &data_dir)
        .args(["create-org", "--name", "Broken Clinic", "--admin-email", "admin@broken.example"])
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let mut conf = std::fs::OpenOptions::new().append(true).open(data_dir.join("pg/data/postgresql.conf")).unwrap();
    writeln!(conf, "shared_buffers = 'plenty'").unwrap();
    let output = rapport().env("RAPPORT_DATA_DIR", &data_dir).arg("migrate").output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("did not start") && stderr.contains("server.log"), "{stderr}");
    assert!(stderr.contains("shared_buffers"), "the log's own words: {stderr}");
}

fn ready(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok_and(|mut stream| {
        use std::io::Read;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = stream.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer.starts_with("HTTP/1.1 200")
    })
}

/// Only root meets this: PostgreSQL runs as another account, which a 0700 home keeps out.
#[test]
fn a_data_directory_the_server_account_cannot_reach_gets_its_cluster_elsewhere() {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let data_dir = home.path().join("checkout/.rapport");
    let created = rapport()
        .env("RAPPORT_DATA_DIR", &data_dir)
        .env("RUST_LOG", "info")
        .args(["create-org", "--name", "Home Clinic", "--admin-email", "admin@home.example"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&created.stderr).into_owned() + &String::from_utf8_lossy(&created.stdout);
    let location = std::fs::read_to_string(data_dir.join("pg-location")).ok();
    // Clean up the relocated cluster whatever happened.
    if let Some(location) = &location {
        let cluster = PathBuf::from(location.trim());
        if let Ok(text) = std::fs::read_to_string(cluster.join("data/postmaster.pid")) {
            if let Some(pid) = text.lines().next().and_then(|l| l.trim().parse().ok()) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGQUIT);
            }
        }
        std::thread::sleep(Duration::from_millis(500));
        let _ = std::fs::remove_dir_all(&cluster);
    }
    assert!(created.status.success(), "{log}");
    let location = location.expect("the data directory records where the cluster is");
    assert!(location.starts_with("/var/lib/rapport/"), "{location}");
    assert!(log.contains("cannot reach the data directory"), "the start-up log says where: {log}");
}

/// A password login against a served binary: the token answer.
async fn password_tokens(client: &reqwest::Client, base: &str, email: &str, password: &str) -> serde_json::Value {
    let form = [("grant_type", "password"), ("username", email), ("password", password)];
    client.post(format!("{base}/v1/auth/token")).form(&form).send().await.unwrap().json().await.unwrap()
}

/// `method` `{base}{path}` with a bearer token (and a JSON body); the answer's JSON.
async fn call_json(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<&serde_json::Value>,
) -> serde_json::Value {
    let mut request = client.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap().json().await.unwrap()
}

#[test]
fn a_delivery_cut_off_by_kill_9_is_sent_again_after_restart_and_acknowledged_once() {
    use crate::webhooks::{Answer, Receiver, verify};
    let database = TestDatabase::create();
    let port = free_port();
    let serve = || {
        let mut child = with_database(&database)
            .env("RAPPORT_BIND", format!("127.0.0.1:{port}"))
            .env("RAPPORT_HTTP_WORKERS", "1")
            .env("RAPPORT_ALLOW_LOOPBACK_TARGETS", "true")
            .env("RAPPORT_WEBHOOK_TIMEOUT_MS", "2000")
            .env("RAPPORT_WEBHOOK_FIRST_RETRY_MS", "100")
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_until_ready(port, &mut child);
        child
    };
    // Killed when the test fails before it kills it on purpose, so no service outlives the test.
    struct KilledOnDrop(std::process::Child);
    impl Drop for KilledOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut first = KilledOnDrop(serve());
    let created = with_database(&database)
        .args(["create-org", "--name", "Kill Clinic", "--admin-email", "kill@clinic.example"])
        .output()
        .unwrap();
    let password = stdout_json(&created)["admin_password"].as_str().unwrap().to_owned();
    let receiver = Receiver::start();
    // The first delivery is held by the receiver, unanswered, while the service is killed.
    receiver.plan(&[Answer::Stall(Duration::from_secs(30))]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let (token, hook, secret, event) = runtime.block_on(async {
        let tokens = password_tokens(&client, &base, "kill@clinic.example", &password).await;
        let token = tokens["access_token"].as_str().unwrap().to_owned();
        let body = serde_json::json!({"url": receiver.url, "event_types": ["response.created"]});
        let hook = call_json(&client, reqwest::Method::POST, format!("{base}/v1/webhooks"), &token, Some(&body)).await;
        let id = hook["id"].as_str().unwrap().to_owned();
        let ping = format!("{base}/v1/webhooks/{id}/ping");
        let queued = call_json(&client, reqwest::Method::POST, ping, &token, None).await;
        receiver.until("the first attempt", |r| !r.is_empty()).await;
        (token, id, hook["secret"].as_str().unwrap().to_owned(), queued["event_id"].as_str().unwrap().to_owned())
    });
    first.0.kill().unwrap();
    first.0.wait().unwrap();

    let second = serve();
    let mut served = Served { child: Some(second), data_dir: PathBuf::from("/nonexistent") };
    runtime.block_on(async {
        receiver.until("the delivery sent again", |r| r.iter().any(|e| matches!(e.answer, Answer::Ok))).await;
        // Anything sent once more would arrive within the next rounds.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let received = receiver.received();
        assert_eq!(received.len(), 2, "the cut-off attempt, then one acknowledged: {received:#?}");
        assert!(received.iter().all(|r| r.id() == event), "the same webhook-id both times");
        assert_eq!(received.iter().filter(|r| matches!(r.answer, Answer::Ok)).count(), 1);
        verify(&secret, &received[1]);
        let deliveries = format!("{base}/v1/webhooks/{hook}/deliveries");
        let listed = call_json(&client, reqwest::Method::GET, deliveries, &token, None).await;
        assert_eq!(listed["items"][0]["status"], "delivered", "{listed:#}");
    });
    assert!(served.terminate().success());
}
