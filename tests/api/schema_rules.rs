//! Rules the schema must keep, checked against the live schema.

use crate::harness::TestDatabase;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};

/// Tables that are not owned by one organization: the organizations themselves, diesel's
/// bookkeeping, login names (unique across organizations; a Citus reference table) and the
/// record of what the service installed outside migrations.
const GLOBAL_TABLES: &[&str] = &["organizations", "__diesel_schema_migrations", "login_names", "schema_objects"];

#[derive(QueryableByName, Debug)]
struct KeyColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    constraint_name: String,
    #[diesel(sql_type = Text)]
    constraint_type: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Integer)]
    ordinal_position: i32,
}

#[derive(QueryableByName, Debug)]
struct TableName {
    #[diesel(sql_type = Text)]
    table_name: String,
}

#[test]
fn organization_id_leads_every_tenant_tables_primary_key_and_foreign_keys() {
    let database = TestDatabase::create();
    let mut conn = database.connect();
    let tables: Vec<TableName> = diesel::sql_query(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name",
    )
    .load(&mut conn)
    .unwrap();
    let keys: Vec<KeyColumn> = diesel::sql_query(
        "SELECT tc.table_name::text, tc.constraint_name::text, tc.constraint_type::text, \
                kcu.column_name::text, kcu.ordinal_position::int AS ordinal_position \
         FROM information_schema.table_constraints tc \
         JOIN information_schema.key_column_usage kcu \
           ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema \
          AND kcu.table_name = tc.table_name \
         WHERE tc.table_schema = 'public' AND tc.constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY')",
    )
    .load(&mut conn)
    .unwrap();
    let tenant_tables: Vec<&str> =
        tables.iter().map(|t| t.table_name.as_str()).filter(|name| !GLOBAL_TABLES.contains(name)).collect();
    assert!(tenant_tables.contains(&"responses"), "the check must see the core tables: {tenant_tables:?}");
    let mut violations = Vec::new();
    for table in &tenant_tables {
        let leading = |kind: &str| -> Vec<(&str, &str)> {
            keys.iter()
                .filter(|k| k.table_name == *table && k.constraint_type == kind && k.ordinal_position == 1)
                .map(|k| (k.constraint_name.as_str(), k.column_name.as_str()))
                .collect()
        };
        let primary = leading("PRIMARY KEY");
        if primary.len() != 1 || primary[0].1 != "organization_id" {
            violations.push(format!("{table}: primary key does not lead with organization_id: {primary:?}"));
        }
        for (constraint, column) in leading("FOREIGN KEY") {
            if column != "organization_id" {
                violations.push(format!("{table}: foreign key {constraint} leads with {column}"));
            }
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn audit_events_cannot_be_updated_or_deleted_even_through_sql() {
    let database = TestDatabase::create();
    let mut conn = database.connect();
    diesel::sql_query(
        "INSERT INTO audit_events (organization_id, id, action, resource_type, outcome) \
         VALUES ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'test', 'test', 'success')",
    )
    .execute(&mut conn)
    .unwrap();
    for statement in
        ["UPDATE audit_events SET action = 'tampered'", "DELETE FROM audit_events", "TRUNCATE audit_events"]
    {
        let error = diesel::sql_query(statement).execute(&mut conn).unwrap_err();
        assert!(error.to_string().contains("append-only"), "{statement}: {error}");
    }
    let count: i64 = diesel::dsl::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM audit_events WHERE action = 'test')",
    ))
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(count, 1);
}
