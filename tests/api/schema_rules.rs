//! Rules the schema must keep, checked against the live schema.

use crate::harness::TestDatabase;
use crate::sql_rules;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use std::collections::BTreeSet;

/// Tables that are not owned by one organization (Citus reference tables): the one list the
/// distribution uses.
const GLOBAL_TABLES: &[&str] = rapport::db::distribution::REFERENCE_TABLES;

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

#[derive(QueryableByName, Debug)]
struct Function {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    language: String,
    #[diesel(sql_type = Text)]
    body: String,
}

#[derive(QueryableByName, Debug)]
struct Volatility {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    volatility: String,
}

/// The tenant tables (every table of `public` but the global ones) and, for every function
/// name in the database, whether all its overloads are IMMUTABLE.
fn tenant_tables_and_immutability(
    conn: &mut PgConnection,
) -> (BTreeSet<String>, std::collections::BTreeMap<String, bool>) {
    let tables: Vec<TableName> = diesel::sql_query(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .load(conn)
    .unwrap();
    let tenant = tables.into_iter().map(|t| t.table_name).filter(|t| !GLOBAL_TABLES.contains(&t.as_str())).collect();
    let volatility: Vec<Volatility> =
        diesel::sql_query("SELECT proname::text AS name, provolatile::text AS volatility FROM pg_proc")
            .load(conn)
            .unwrap();
    let mut immutable = std::collections::BTreeMap::new();
    for row in volatility {
        *immutable.entry(row.name).or_insert(true) &= row.volatility == "i";
    }
    (tenant, immutable)
}

/// The functions of `public` that are Rapport's own (not an extension's), with their bodies.
fn our_functions(conn: &mut PgConnection) -> Vec<Function> {
    diesel::sql_query(
        "SELECT p.proname::text AS name, l.lanname::text AS language, p.prosrc AS body FROM pg_proc p \
         JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang \
         WHERE n.nspname = 'public' \
         AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')",
    )
    .load(conn)
    .unwrap()
}

/// What Citus refuses in an expression it evaluates once for all rows (an `ON CONFLICT … DO
/// UPDATE SET` clause, a RETURNING list, a CASE or coalesce in a modification).
fn citus_refusals(assignments: &str, immutable: &std::collections::BTreeMap<String, bool>) -> Vec<String> {
    let mut found = Vec::new();
    if sql_rules::has_subquery(assignments) {
        found.push("a subquery".to_owned());
    }
    for keyword in sql_rules::volatile_keywords(assignments) {
        found.push(format!("`{keyword}`"));
    }
    for call in sql_rules::function_calls(assignments) {
        if !immutable.get(&call).copied().unwrap_or(false) {
            found.push(format!("`{call}()`, which is not IMMUTABLE"));
        }
    }
    found
}

/// Citus (docs/scaling.md): no volatile function or subquery in `DO UPDATE SET`, no `LANGUAGE
/// sql` function reading a tenant table, no advisory lock (it holds only on the node that took
/// it), and every unique index of a tenant table holds `organization_id`.
#[test]
fn functions_and_indexes_in_the_live_schema_keep_the_citus_rules() {
    let database = TestDatabase::create();
    let mut conn = database.connect();
    let (tenant, immutable) = tenant_tables_and_immutability(&mut conn);
    let functions = our_functions(&mut conn);
    assert!(functions.iter().any(|f| f.name == "alliance_rollup_apply"), "the check must see the trigger functions");
    let mut violations = Vec::new();
    let mut clauses_checked = 0;
    for function in &functions {
        let body = sql_rules::normalized(&function.body);
        if function.language == "sql" {
            let read = sql_rules::tables_used(&body, &tenant);
            if !read.is_empty() {
                violations.push(format!("{}: a LANGUAGE sql function reads tenant tables {read:?}", function.name));
            }
        }
        if sql_rules::takes_advisory_lock(&body) {
            violations.push(format!("{}: takes an advisory lock", function.name));
        }
        for statement in sql_rules::statements(&body) {
            for assignments in sql_rules::do_update_assignments(statement) {
                clauses_checked += 1;
                for problem in citus_refusals(assignments, &immutable) {
                    violations.push(format!("{}: DO UPDATE SET uses {problem}", function.name));
                }
            }
        }
    }
    assert!(clauses_checked >= 4, "the check must see the rollup upserts, saw {clauses_checked}");

    let unique: Vec<TableName> = diesel::sql_query(
        "SELECT c.relname::text || ' (' || i.relname::text || ')' AS table_name FROM pg_index x \
         JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND x.indisunique AND NOT EXISTS ( \
           SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'organization_id' \
           AND a.attnum = ANY (x.indkey))",
    )
    .load(&mut conn)
    .unwrap();
    for index in unique {
        let table = index.table_name.split(' ').next().unwrap_or_default();
        if tenant.contains(table) {
            violations.push(format!("{}: a unique index without organization_id", index.table_name));
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
}

/// Every statement the service sends while the broadest tests run (the role matrix, tenancy,
/// webhooks with retries, analytics over ranges, exports, FHIR bulk, transcripts): over tenant tables only with an organization
/// filter, with Citus-safe upserts, RETURNING clauses and CASE or coalesce in modifications,
/// without calling a function that reads tenant tables or
/// takes a snapshot's transaction ids inside a query over them, and without advisory locks but
/// for the migration lock (taken once at start, on the coordinator, around the schema change).
#[test]
fn the_sql_the_service_sends_keeps_the_citus_rules() {
    sql_rules::start_recording();
    crate::role_matrix::every_protected_route_answers_every_role_as_documented();
    crate::tenancy::every_id_taking_route_answers_as_for_a_missing_id_across_organizations();
    crate::webhooks::every_event_is_signed_and_delivered_once_in_order_without_free_text();
    crate::webhooks::a_500_and_a_timeout_are_retried_until_acknowledged_and_a_rolled_back_change_sends_nothing();
    crate::analytics_rollup::analytics_are_exact_for_ranges_cutting_through_months_and_follow_voids_and_cutoff_changes(
    );
    crate::export::a_resumed_export_returns_exactly_what_changed_after_its_cursor();
    crate::fhir_bulk::a_bulk_export_runs_to_its_manifest_and_its_files_parse_as_r4();
    crate::transcripts::upload_analysis_alliance_signal_insights_and_erasure();
    let statements = sql_rules::recorded();

    let database = TestDatabase::create();
    let mut conn = database.connect();
    let (tenant, immutable) = tenant_tables_and_immutability(&mut conn);
    // Functions that read tenant tables: Citus cannot run one inside a query it pushes down to a
    // shard (the query inside would have to be distributed from the shard).
    let functions = our_functions(&mut conn);
    let reading_tenant_tables: BTreeSet<String> = functions
        .into_iter()
        .filter(|f| !sql_rules::tables_used(&sql_rules::normalized(&f.body), &tenant).is_empty())
        .map(|f| f.name)
        .collect();
    assert!(reading_tenant_tables.contains("alliance_cutoff"), "{reading_tenant_tables:?}");
    let mut violations = Vec::new();
    let mut tenant_statements = 0;
    for text in &statements {
        // Migrations (a file is sent as one batch of statements, backfills included, while the
        // schema changes at start, on the coordinator) and the rollup schema's DDL: checked above
        // through the live schema. A request's statements are sent one at a time.
        if ["create ", "alter ", "drop ", "set "].iter().any(|ddl| text.starts_with(ddl))
            || sql_rules::statements(text).nth(1).is_some()
        {
            continue;
        }
        if sql_rules::takes_advisory_lock(text)
            && !(text.starts_with("select pg_advisory_lock(") || text.starts_with("select pg_advisory_unlock("))
        {
            violations.push(format!("an advisory lock: {text}"));
        }
        for statement in sql_rules::statements(text) {
            for assignments in sql_rules::do_update_assignments(statement) {
                for problem in citus_refusals(assignments, &immutable) {
                    violations.push(format!("DO UPDATE SET uses {problem}: {statement}"));
                }
            }
            if !sql_rules::tables_used(statement, &tenant).is_empty() {
                tenant_statements += 1;
                if !sql_rules::filters_by_organization(statement) {
                    violations.push(format!("no organization filter: {statement}"));
                }
                if ["insert ", "update ", "delete "].iter().any(|verb| statement.starts_with(verb)) {
                    for expression in sql_rules::conditional_expressions(statement) {
                        for problem in citus_refusals(expression, &immutable) {
                            violations.push(format!("CASE or coalesce in a modification uses {problem}: {statement}"));
                        }
                        // Operators have volatility too: timestamptz ± interval is STABLE.
                        if sql_rules::has_interval_arithmetic(expression) {
                            violations.push(format!(
                                "CASE or coalesce in a modification does interval arithmetic: {statement}"
                            ));
                        }
                    }
                }
                if let Some((_, returning)) = statement.split_once(" returning ") {
                    for problem in citus_refusals(returning, &immutable) {
                        violations.push(format!("RETURNING uses {problem}: {statement}"));
                    }
                }
                for call in sql_rules::function_calls(statement) {
                    if reading_tenant_tables.contains(&call) {
                        violations.push(format!("`{call}()` reads tenant tables inside a tenant query: {statement}"));
                    }
                    // Transaction ids are per node: a snapshot taken inside a query a worker runs
                    // cannot be compared with ids the coordinator handed out.
                    if sql_rules::TRANSACTION_ID_FUNCTIONS.contains(&call.as_str())
                        && !statement.starts_with("insert ")
                        && !statement.starts_with("update ")
                    {
                        violations.push(format!("`{call}()` inside a tenant query: {statement}"));
                    }
                }
            }
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
    assert!(tenant_statements > 100, "the workload must reach the service's queries, saw {tenant_statements}");
}
