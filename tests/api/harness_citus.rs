//! The suite on a Citus cluster (docs/scaling.md): when the database `DATABASE_URL` names has
//! the `citus` extension with workers registered, every test database is created on the
//! coordinator and on each worker, given the extension and the workers, migrated and distributed
//! (a template cannot be cloned: its shards live in the workers' databases).
//!
//! Each test database logs every query that fans out to more than one shard
//! (`citus.multi_task_query_log_level`), so the coordinator's log shows whether any request was
//! not routed to a single shard.

use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use std::sync::Mutex;

pub struct Cluster {
    /// `postgres://user@` (everything before the host), shared by every node.
    user_prefix: String,
    coordinator: (String, i32),
    workers: Vec<(String, i32)>,
    /// Connections to each worker's maintenance database, in `workers` order.
    worker_admins: Vec<Mutex<PgConnection>>,
}

#[derive(QueryableByName)]
struct Node {
    #[diesel(sql_type = Text)]
    host: String,
    #[diesel(sql_type = Integer)]
    port: i32,
    #[diesel(sql_type = Integer)]
    group: i32,
}

impl Cluster {
    /// The cluster behind `admin` (connected to `base_url`'s maintenance database), if it is one.
    pub fn detect(admin: &mut PgConnection, base_url: &str) -> Option<Self> {
        let nodes: Vec<Node> = diesel::sql_query(
            "SELECT nodename::text AS host, nodeport AS port, groupid AS group FROM pg_dist_node \
             WHERE isactive AND noderole = 'primary' ORDER BY groupid",
        )
        .load(admin)
        .ok()?;
        let workers: Vec<(String, i32)> =
            nodes.iter().filter(|n| n.group != 0).map(|n| (n.host.clone(), n.port)).collect();
        if workers.is_empty() {
            return None;
        }
        let (scheme_and_user, host_port) = base_url
            .rsplit_once('@')
            .map_or_else(|| base_url.split_at(base_url.find("//").map_or(0, |i| i + 2)), |(user, host)| (user, host));
        let user_prefix =
            if base_url.contains('@') { format!("{scheme_and_user}@") } else { scheme_and_user.to_owned() };
        let coordinator = nodes.iter().find(|n| n.group == 0).map(|n| (n.host.clone(), n.port)).unwrap_or_else(|| {
            let (host, port) = host_port.rsplit_once(':').unwrap_or((host_port, "5432"));
            (host.to_owned(), port.parse().unwrap_or(5432))
        });
        let worker_admins = workers
            .iter()
            .map(|(host, port)| {
                let url = format!("{user_prefix}{host}:{port}/postgres");
                Mutex::new(PgConnection::establish(&url).expect("the tests connect to every Citus worker"))
            })
            .collect();
        Some(Self { user_prefix, coordinator, workers, worker_admins })
    }

    /// Creates `name` on every worker with the extension, then prepares the coordinator's
    /// database (already created by the caller at `url`): extension, nodes, settings, and with
    /// `migrate` the schema, distributed.
    pub fn prepare(&self, name: &str, url: &str, migrate: bool) {
        for (admin, (host, port)) in self.worker_admins.iter().zip(&self.workers) {
            let mut admin = admin.lock().unwrap_or_else(|e| e.into_inner());
            diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut *admin).expect("create on a worker");
            let mut worker = PgConnection::establish(&format!("{}{host}:{port}/{name}", self.user_prefix))
                .expect("connect to a worker's database");
            diesel::sql_query("CREATE EXTENSION citus").execute(&mut worker).expect("citus on a worker");
        }
        {
            let mut conn = PgConnection::establish(url).expect("connect to the coordinator's database");
            diesel::sql_query("CREATE EXTENSION citus").execute(&mut conn).expect("citus on the coordinator");
            diesel::sql_query("SELECT citus_set_coordinator_host($1, $2)")
                .bind::<Text, _>(&self.coordinator.0)
                .bind::<Integer, _>(self.coordinator.1)
                .execute(&mut conn)
                .expect("register the coordinator");
            for (host, port) in &self.workers {
                diesel::sql_query("SELECT citus_add_node($1, $2)")
                    .bind::<Text, _>(host)
                    .bind::<Integer, _>(*port)
                    .execute(&mut conn)
                    .expect("register a worker");
            }
            // Few shards keep a test's distribution quick; the routing is the same with 32.
            for setting in ["citus.shard_count = 4", "citus.multi_task_query_log_level = 'log'"] {
                diesel::sql_query(format!("ALTER DATABASE {name} SET {setting}"))
                    .execute(&mut conn)
                    .expect("set a database setting");
            }
        }
        if migrate {
            let mut conn = PgConnection::establish(url).expect("connect to the coordinator's database");
            rapport::db::prepare_schema(&mut conn).expect("migrate and distribute a test database");
        }
    }

    /// Drops `name` on every worker (the caller drops the coordinator's).
    pub fn drop_database(&self, name: &str) {
        for admin in &self.worker_admins {
            let mut admin = admin.lock().unwrap_or_else(|e| e.into_inner());
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut *admin);
        }
    }

    /// Runs `sweep` on every worker's maintenance connection.
    pub fn each_worker(&self, mut sweep: impl FnMut(&mut PgConnection)) {
        for admin in &self.worker_admins {
            sweep(&mut admin.lock().unwrap_or_else(|e| e.into_inner()));
        }
    }
}
