//! `rapport distribute`: it refuses on plain PostgreSQL, and on a Citus coordinator (the suite
//! run with `DATABASE_URL` pointing at one, docs/scaling.md) it leaves every table distributed
//! or a reference table, in one colocation group.

use crate::harness::{TEST_JWT_SECRET, TestDatabase};
use std::process::{Command, Output};

fn distribute(database: &TestDatabase) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rapport"))
        .env("DATABASE_URL", &database.url)
        .env("RAPPORT_JWT_SECRET", TEST_JWT_SECRET)
        .env("RUST_LOG", "warn")
        .arg("distribute")
        .output()
        .unwrap()
}

#[test]
fn distribute_refuses_plain_postgresql_and_lays_out_a_citus_database_once() {
    let database = TestDatabase::create();
    let first = distribute(&database);
    let stderr = String::from_utf8_lossy(&first.stderr);
    if !TestDatabase::on_citus() {
        assert!(!first.status.success(), "distribute must refuse a database without Citus");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains("no `citus` extension") && stderr.contains("CREATE EXTENSION citus"), "{stderr}");
        assert!(first.stdout.is_empty());
        return;
    }
    assert!(first.status.success(), "{stderr}");
    let layout: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let names = |key: &str| -> Vec<String> {
        layout[key].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
    };
    let mut reference = names("reference_tables");
    reference.sort();
    let mut expected: Vec<String> =
        rapport::db::distribution::REFERENCE_TABLES.iter().map(|t| (*t).to_owned()).collect();
    expected.sort();
    assert_eq!(reference, expected);
    for table in ["users", "clients", "episodes", "responses", "alliance_rollup", "alliance_rollup_guard"] {
        assert!(names("distributed_tables").iter().any(|t| t == table), "{table} is distributed: {layout:#}");
    }
    assert_eq!(layout["colocation_groups"], 1, "{layout:#}");
    assert_eq!(layout["local_tables"], serde_json::json!([]), "{layout:#}");
    assert!(names("functions").iter().any(|f| f.starts_with("alliance_cutoff(")), "{layout:#}");
    let second = distribute(&database);
    assert!(second.status.success());
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&second.stdout).unwrap(), layout, "idempotent");
}
