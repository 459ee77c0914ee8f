//! Upgrades keep data right: a landed migration never changes, and a database that lived through
//! earlier releases ends up exactly like a fresh one, rollups and analytics included.

use crate::fixtures::{Care, likert, ors, srs, submit};
use crate::harness::{TestApp, TestDatabase, spawn_app, spawn_app_on};
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_migrations::MigrationHarness;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Every landed migration and the SHA-256 of its `up.sql`, its `down.sql` and (when it has one)
/// its `metadata.toml`, in that order. A landed migration never changes: a schema change is a
/// new migration (and the rollups, functions and triggers live in `src/db/rollup_schema.sql`,
/// which may change). Add a line when a new migration lands; never edit one.
const LANDED: &[(&str, &str)] = &[
    ("2026-11-25-000001_core_schema", "f7713dc3ad403628ec427d36f9d7349646572603dce5e15c0ca0bb0c6199ebfe"),
    ("2026-11-25-000002_authentication", "7186da160d2687702cdfd712aade80650ebeb2583cdc7c4862f5be8dd0db21dd"),
    ("2026-11-25-000003_feedback_forms", "9f7682731d1ea8fd6a0009d6b0249070668e18cc391649ff36651862655e3a6b"),
    ("2026-11-25-000004_alliance_analytics", "0fbf24eec26a22556ab1317db054dcdf3f3bd6a58ba905965b51e89938f0995f"),
    ("2026-11-26-000005_alliance_rollup", "5b06f0b3fda385f979a9499553873ce7ce3cdbc7d9b1e4793dba38d605aa492f"),
    ("2026-11-26-000006_etr_reference", "e86b849a7daaf23bac3bb4d51bd4a280391525eac9b43c028738fdabeb8ecb8d"),
    ("2026-12-02-000007_rollups_out_of_migrations", "038a47524155d203c7ab6fc3a336c3a4c418829364f5a000cd0ae2160c8a136b"),
    ("2026-12-02-000008_caller_scoped_idempotency", "1f5acb662532a01fa4e586526d8c3981e6800711de5f67e6cd2e10ffdeee1ae9"),
    ("2026-12-02-000009_administered_at_defaulted", "1f8f5ff5b5de74d0cb0063b6716c348cbab3d3482e0d1fe676a599c657b2b5c3"),
    ("2026-12-02-000010_fhir_and_smart", "840ecdc9aa03bb9ffcd0dcc13fe7ac6652580e74eaab1817a5178af3ae4e4be6"),
    ("2026-12-05-000011_client_creator", "cc6a2da0b940b679db7c5facd5085802013a17c46d29927154567e9fc47170f3"),
    ("2026-12-05-000012_webhooks", "7e6b49db94c93f8547530cb603587d1452b6289bc3eae2a154cfc687b3e84cb7"),
    ("2026-12-05-000013_export", "20c1b18fffda95c3053bad54701b7600cabb49406d5204d400f92854e7c1b96d"),
    ("2026-12-05-000014_transcripts", "181c23ca3268369f441d06d1281bed8f9fa7587f1f53edeb7ca27d00662e9365"),
    ("2026-12-05-000015_series_states", "26026d0fd5bd1b0da1ac089f80fe08714cba0214316fb28b611026261a1147f0"),
    ("2026-12-06-000016_covering_series_index", "6b56785968a7792478efc60142a3ea64abd5b85852abdf6d143a7b71776f7dce"),
    (
        "2026-12-06-000017_narrow_series_index_dropped",
        "7387cc167646bf41510e31c34f868bf6073a67a408fb39750c2c4bc8e84bd457",
    ),
    (
        "2026-12-06-000018_covering_series_index_renamed",
        "7859886a5086fd6bf1f09c85b8648dcd1feb2953786cfadb975aa6874d317f68",
    ),
];

#[test]
fn every_landed_migration_keeps_its_recorded_checksum() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut found: Vec<(String, String)> = std::fs::read_dir(&root)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .map(|dir| {
            let mut hasher = Sha256::new();
            hasher.update(std::fs::read(dir.join("up.sql")).unwrap());
            hasher.update(std::fs::read(dir.join("down.sql")).unwrap());
            // Whether it runs in a transaction is part of a migration too (none landed before
            // 000016 had this file, so their sums are unchanged).
            if let Ok(metadata) = std::fs::read(dir.join("metadata.toml")) {
                hasher.update(metadata);
            }
            (dir.file_name().unwrap().to_string_lossy().into_owned(), hex::encode(hasher.finalize()))
        })
        .collect();
    found.sort();
    let recorded: Vec<(String, String)> = LANDED.iter().map(|(n, s)| (n.to_string(), s.to_string())).collect();
    assert_eq!(found, recorded, "a landed migration changed, or a new one is not recorded in LANDED");
}

/// The first `count` migrations (an earlier release's schema).
fn migrate_first(conn: &mut PgConnection, count: usize) {
    for _ in 0..count {
        conn.run_next_migration(rapport::db::MIGRATIONS).unwrap();
    }
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

/// The schema as a sorted list of lines: columns, constraints, indexes, functions, triggers.
fn schema(conn: &mut PgConnection) -> Vec<String> {
    let lines: Vec<Line> = diesel::sql_query(
        "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable \
                || ' ' || coalesce(column_default, '') AS line \
         FROM information_schema.columns WHERE table_schema = 'public' \
         UNION ALL SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) \
         FROM pg_constraint WHERE connamespace = 'public'::regnamespace \
         UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public' \
         UNION ALL SELECT 'function ' || pg_get_functiondef(p.oid) FROM pg_proc p \
           WHERE p.pronamespace = 'public'::regnamespace \
         UNION ALL SELECT 'trigger ' || pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal \
         ORDER BY 1",
    )
    .load(conn)
    .unwrap();
    lines.into_iter().map(|l| l.line).collect()
}

/// The tables that hold data (not derived), in an order that respects their foreign keys.
const SOURCE_TABLES: &[&str] = &[
    "organizations",
    "users",
    "login_names",
    "service_accounts",
    "clients",
    "episodes",
    "sessions",
    "instruments",
    "instrument_versions",
    "organization_settings",
    "responses",
    "signals",
    "alliance_change_stats",
    "outcome_points",
    "form_requests",
    "form_request_items",
];

/// Copies every source row of `from` into `to`, whose schema may be older (extra columns of
/// newer releases are left out, as the old release never had them).
fn copy_rows(from: &mut PgConnection, to: &mut PgConnection) {
    for table in SOURCE_TABLES {
        let rows: Line = diesel::sql_query(format!("SELECT coalesce(json_agg(t), '[]')::text AS line FROM {table} t"))
            .get_result(from)
            .unwrap();
        diesel::sql_query(format!(
            "INSERT INTO {table} SELECT * FROM json_populate_recordset(NULL::{table}, $1::json)"
        ))
        .bind::<Text, _>(rows.line)
        .execute(to)
        .unwrap_or_else(|e| panic!("copy {table}: {e}"));
    }
}

/// A care structure with every kind of form and a rupture, built through the current API.
async fn clinic(app: &TestApp) -> Care {
    let care = Care::new(app, "Upgraded Clinic").await;
    let mut session = care.session_id.clone();
    for (n, total) in [38.0, 38.0, 38.0, 33.2, 38.4].iter().enumerate() {
        if n > 0 {
            session = care.new_session(app).await;
        }
        let mut form = srs(&session, [total / 4.0; 4]);
        form["administered_at"] = json!(format!("2026-0{}-1{n}T10:00:00Z", 1 + n % 3));
        submit(app, &care.integration, &form).await;
        let outcome = ors(&session, [4.0 + n as f64, 5.0, 5.0, 5.0]);
        submit(app, &care.integration, &outcome).await;
        if n % 2 == 0 {
            submit(app, &care.integration, &likert("wai-sr", &session, "client", &[4; 12])).await;
            submit(app, &care.integration, &likert("wai-sr-t", &session, "therapist", &[3; 12])).await;
        }
    }
    care
}

/// What the analytics answer for the clinic.
async fn answers(app: &TestApp, care: &Care) -> Vec<Value> {
    let token = &care.admin.token;
    let mut all = Vec::new();
    for path in [
        format!("/v1/episodes/{}/alliance", care.episode_id),
        format!("/v1/episodes/{}/outcomes", care.episode_id),
        format!("/v1/clinicians/{}/insights?from=2025-12-01T00:00:00Z&to=2026-12-01T00:00:00Z", care.clinician.id),
        "/v1/analytics/alliance?group_by=month&from=2025-12-15T00:00:00Z&to=2026-06-15T00:00:00Z".to_owned(),
        "/v1/analytics/alliance?group_by=clinician&from=2025-12-15T00:00:00Z&to=2026-06-15T00:00:00Z".to_owned(),
    ] {
        let response = app.get_as(token, &path).await;
        assert_eq!(response.status(), 200, "{path}");
        all.push(response.json().await.unwrap());
    }
    all
}

#[tokio::test]
async fn a_database_migrated_by_the_first_releases_ends_up_like_a_fresh_one() {
    // Fresh: every migration and this release's rollup schema; the data stored by the API.
    let fresh = spawn_app().await;
    let care = clinic(&fresh).await;
    let expected = answers(&fresh, &care).await;

    // Upgraded: the schema of the first releases (through 000006, whose triggers kept their own
    // rollups), with a table an earlier edit of 000005 left behind, then the same rows.
    let upgraded = TestDatabase::create_empty();
    {
        let mut conn = upgraded.connect();
        migrate_first(&mut conn, 6);
        diesel::sql_query("CREATE TABLE alliance_daily (organization_id uuid, day date)").execute(&mut conn).unwrap();
        copy_rows(&mut fresh.database.connect(), &mut conn);
    }
    let app = spawn_app_on(upgraded).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    assert_eq!(answers(&app, &care).await, expected, "analytics after the upgrade equal a fresh computation");

    let mut upgraded_conn = app.database.connect();
    let mut fresh_conn = fresh.database.connect();
    assert_eq!(schema(&mut upgraded_conn), schema(&mut fresh_conn), "the upgraded schema is the fresh one");
    // The rollups equal a rebuild from the responses.
    let rollups = |conn: &mut PgConnection| -> Vec<String> {
        let lines: Vec<Line> = diesel::sql_query(
            "SELECT t::text AS line FROM alliance_rollup t UNION ALL SELECT t::text FROM alliance_clinician_clients t \
             UNION ALL SELECT t::text FROM etr_reference t ORDER BY 1",
        )
        .load(conn)
        .unwrap();
        lines.into_iter().map(|l| l.line).collect()
    };
    let before = rollups(&mut upgraded_conn);
    assert!(!before.is_empty());
    diesel::sql_query("SELECT alliance_rollup_rebuild(id), etr_reference_rebuild(id) FROM organizations")
        .execute(&mut upgraded_conn)
        .unwrap();
    assert_eq!(rollups(&mut upgraded_conn), before);
}

#[tokio::test]
async fn readiness_reports_a_rollup_schema_of_another_release() {
    let app = spawn_app().await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    diesel::sql_query("UPDATE schema_objects SET checksum = repeat('0', 64)")
        .execute(&mut app.database.connect())
        .unwrap();
    crate::harness::assert_problem(app.get("/readyz").await, 503, "migrations_pending").await;
    app.db.migrate().await.unwrap();
    assert_eq!(app.get("/readyz").await.status(), 200, "reinstalled by the next start or `rapport migrate`");
}
