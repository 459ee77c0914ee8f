//! The database and the service under test: a throw-away PostgreSQL database and the release
//! `rapport` binary as a child process (so its RSS is its own).

use diesel::prelude::*;
use rapport::embedded_pg::EmbeddedCluster;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub base_url: String,
    pub database_url: String,
    admin_url: String,
    database: String,
    child: Child,
    cluster: Option<(EmbeddedCluster, std::path::PathBuf)>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Server {
    pub fn start() -> Self {
        let (admin_url, cluster) = match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => (url, None),
            _ => {
                let dir = tempfile::Builder::new().prefix("rapport-bench-").tempdir().unwrap().keep();
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711)).unwrap();
                let cluster = EmbeddedCluster::open(&dir).expect("embedded PostgreSQL");
                (cluster.database_url("postgres"), Some((cluster, dir)))
            }
        };
        let database = format!("rapport_bench_{}", std::process::id());
        let mut admin = PgConnection::establish(&admin_url).expect("connect");
        diesel::sql_query(format!("CREATE DATABASE {database}")).execute(&mut admin).unwrap();
        let base = admin_url.rsplit_once('/').unwrap().0.to_owned();
        let database_url = format!("{base}/{database}");
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_rapport"))
            .arg("serve")
            .env("DATABASE_URL", &database_url)
            .env("RAPPORT_JWT_SECRET", "bench-secret-bench-secret-bench-secret!!")
            .env("RAPPORT_BIND", format!("127.0.0.1:{port}"))
            .env("RAPPORT_TOKEN_RATE_PER_ADDRESS", "1000000")
            .env("RAPPORT_TOKEN_RATE_PER_USERNAME", "1000000")
            // The webhook scenario's receiver listens on loopback.
            .env("RAPPORT_ALLOW_LOOPBACK_TARGETS", "true")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the release binary starts");
        let server =
            Server { base_url: format!("http://127.0.0.1:{port}"), database_url, admin_url, database, child, cluster };
        server.wait_ready();
        super::cpu::watch(server.pid(), server.postmaster_pid());
        server
    }

    /// The PostgreSQL postmaster's process id, when the benchmark started the cluster itself.
    pub fn postmaster_pid(&self) -> Option<u32> {
        let (cluster, _) = self.cluster.as_ref()?;
        cluster.postmaster_pid().and_then(|pid| u32::try_from(pid).ok())
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(mut stream) = std::net::TcpStream::connect(self.base_url.trim_start_matches("http://")) {
                use std::io::{Read, Write};
                let _ = stream.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                let mut answer = String::new();
                let _ = stream.read_to_string(&mut answer);
                if answer.starts_with("HTTP/1.1 200") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the service did not become ready");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident set size of the service so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
    }

    /// The database's floor for ingest: single-row INSERT transactions into an equivalent
    /// table (uuid primary key led by the organization, a jsonb payload), same concurrency.
    pub fn insert_baseline(&self, concurrency: usize, duration: Duration) -> f64 {
        let mut conn = PgConnection::establish(&self.database_url).unwrap();
        diesel::sql_query(
            "CREATE TABLE IF NOT EXISTS bench_baseline (organization_id uuid, id uuid, answers jsonb, \
             created_at timestamptz DEFAULT now(), PRIMARY KEY (organization_id, id))",
        )
        .execute(&mut conn)
        .unwrap();
        let deadline = Instant::now() + duration;
        let threads: Vec<_> = (0..concurrency)
            .map(|_| {
                let url = self.database_url.clone();
                std::thread::spawn(move || {
                    let mut conn = PgConnection::establish(&url).unwrap();
                    let org = uuid::Uuid::now_v7();
                    let mut done = 0u64;
                    while Instant::now() < deadline {
                        diesel::sql_query(
                            "INSERT INTO bench_baseline (organization_id, id, answers) VALUES ($1, $2, $3)",
                        )
                        .bind::<diesel::sql_types::Uuid, _>(org)
                        .bind::<diesel::sql_types::Uuid, _>(uuid::Uuid::now_v7())
                        .bind::<diesel::sql_types::Jsonb, _>(
                            serde_json::json!({"relationship": 91, "goals_topics": 84}),
                        )
                        .execute(&mut conn)
                        .unwrap();
                        done += 1;
                    }
                    done
                })
            })
            .collect();
        let total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        total as f64 / duration.as_secs_f64()
    }

    pub fn stop(mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
        if std::env::var_os("RAPPORT_BENCH_KEEP_DATABASE").is_some() && self.cluster.is_none() {
            println!("kept database {} (RAPPORT_BENCH_KEEP_DATABASE)", self.database);
            return;
        }
        if let Ok(mut admin) = PgConnection::establish(&self.admin_url) {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database))
                .execute(&mut admin);
        }
        if let Some((cluster, dir)) = self.cluster.take() {
            let _ = cluster.stop();
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
