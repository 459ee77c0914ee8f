//! Citus: spreading the schema over a cluster by organization (docs/scaling.md).
//!
//! Every tenant table is distributed by `organization_id` and colocated with `users`, so all of
//! one organization's rows live on one node and every query the service sends (each filtered by
//! its organization) is routed to a single shard. The few global tables become reference tables
//! (a copy on every node). Functions are created on every node, because the rollup trigger runs
//! on the node of the shard it fires on and calls them there.
//!
//! [`distribute`] is idempotent: it distributes whatever is not yet distributed, in an order
//! Citus accepts (reference tables first; then tenant tables, parents before children). It runs
//! after migrations whenever the database has the `citus` extension, and `rapport distribute`
//! runs it by hand. On plain PostgreSQL nothing here runs.

use super::DbError;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Tables that belong to no organization: a copy on every node (Citus reference tables).
/// Every other table in `public` must have an `organization_id` column to be distributed by.
pub const REFERENCE_TABLES: &[&str] = &["organizations", "login_names", "__diesel_schema_migrations", "schema_objects"];

/// The table every distributed table is colocated with.
pub const COLOCATION_ANCHOR: &str = "users";

/// The column every tenant table is distributed by.
pub const DISTRIBUTION_COLUMN: &str = "organization_id";

/// What one call distributed (empty lists: it was all done already).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Distributed {
    pub reference_tables: Vec<String>,
    pub distributed_tables: Vec<String>,
    pub functions: Vec<String>,
}

impl Distributed {
    pub fn is_empty(&self) -> bool {
        self.reference_tables.is_empty() && self.distributed_tables.is_empty() && self.functions.is_empty()
    }

    fn absorb(&mut self, other: Self) {
        self.reference_tables.extend(other.reference_tables);
        self.distributed_tables.extend(other.distributed_tables);
        self.functions.extend(other.functions);
    }
}

/// How the database is laid out over the cluster, after a call.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Layout {
    pub reference_tables: Vec<String>,
    pub distributed_tables: Vec<String>,
    /// Colocation groups of the distributed tables: 1 when every organization's rows of every
    /// table live together.
    pub colocation_groups: usize,
    pub functions: Vec<String>,
    /// Tables in `public` that Citus does not manage (none after a successful call).
    pub local_tables: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DistributionError {
    #[error(
        "the database has no `citus` extension: run `CREATE EXTENSION citus` on the coordinator and add the \
         workers (docs/scaling.md) before distributing"
    )]
    CitusMissing,
    #[error("table `{0}` has no organization_id column and is not a reference table: it cannot be distributed")]
    NoDistributionColumn(String),
    #[error("the foreign keys between tenant tables form a cycle through {0:?}")]
    Cycle(Vec<String>),
    #[error(transparent)]
    Database(#[from] DbError),
}

impl From<diesel::result::Error> for DistributionError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Database(error.into())
    }
}

#[derive(QueryableByName)]
struct Present {
    #[diesel(sql_type = Bool)]
    present: bool,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Edge {
    #[diesel(sql_type = Text)]
    child: String,
    #[diesel(sql_type = Text)]
    parent: String,
}

/// Whether the connected database has the `citus` extension.
pub fn citus_installed(conn: &mut PgConnection) -> Result<bool, DbError> {
    let row: Present =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') AS present")
            .get_result(conn)?;
    Ok(row.present)
}

/// Distributes what is not distributed yet, in one transaction. Refuses without Citus.
pub fn distribute(conn: &mut PgConnection) -> Result<Distributed, DistributionError> {
    if !citus_installed(conn)? {
        return Err(DistributionError::CitusMissing);
    }
    conn.transaction(|conn| {
        prepare_session(conn)?;
        let mut done = distribute_tables(conn)?;
        done.absorb(distribute_functions(conn)?);
        Ok(done)
    })
}

/// The settings distribution needs, for the current transaction: without the first, making
/// `organizations` a reference table would silently turn every table with a foreign key to it
/// into a Citus local table, after which none could be distributed; the second lets the rollup
/// triggers be created on the shards (they only touch rows of the shard's own organization).
/// Sequential mode lets one transaction mix DDL with distribution.
pub(crate) fn prepare_session(conn: &mut PgConnection) -> Result<(), DbError> {
    conn.batch_execute(
        "SET LOCAL citus.enable_local_reference_table_foreign_keys = off; \
         SET LOCAL citus.enable_unsafe_triggers = on; \
         SET LOCAL citus.multi_shard_modify_mode = 'sequential';",
    )?;
    Ok(())
}

/// Reference tables, then tenant tables parents first, each colocated with [`COLOCATION_ANCHOR`].
pub(crate) fn distribute_tables(conn: &mut PgConnection) -> Result<Distributed, DistributionError> {
    let already: BTreeSet<String> = names(conn, "SELECT logicalrelid::regclass::text AS name FROM pg_dist_partition")?;
    let tables: Vec<String> = names(
        conn,
        "SELECT c.relname::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
         AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e') ORDER BY 1",
    )?
    .into_iter()
    .collect();
    let with_column: BTreeSet<String> = names(
        conn,
        "SELECT c.relname::text AS name FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND a.attname = 'organization_id' AND NOT a.attisdropped",
    )?;
    let edges: Vec<Edge> = diesel::sql_query(
        "SELECT DISTINCT child.relname::text AS child, parent.relname::text AS parent FROM pg_constraint k \
         JOIN pg_class child ON child.oid = k.conrelid JOIN pg_class parent ON parent.oid = k.confrelid \
         JOIN pg_namespace n ON n.oid = child.relnamespace \
         WHERE k.contype = 'f' AND n.nspname = 'public' AND k.conrelid <> k.confrelid",
    )
    .load(conn)?;

    let mut done = Distributed::default();
    for table in REFERENCE_TABLES {
        if tables.iter().any(|t| t == table) && !already.contains(*table) {
            diesel::sql_query("SELECT create_reference_table($1::regclass)").bind::<Text, _>(*table).execute(conn)?;
            done.reference_tables.push((*table).to_owned());
        }
    }
    let tenant: Vec<String> = tables.into_iter().filter(|t| !REFERENCE_TABLES.contains(&t.as_str())).collect();
    if let Some(missing) = tenant.iter().find(|t| !with_column.contains(*t)) {
        return Err(DistributionError::NoDistributionColumn(missing.clone()));
    }
    let parents: Vec<(String, String)> = edges.into_iter().map(|e| (e.child, e.parent)).collect();
    for table in parents_first(&tenant, &parents)? {
        if already.contains(&table) {
            continue;
        }
        let colocate_with = if table == COLOCATION_ANCHOR { "default" } else { COLOCATION_ANCHOR };
        diesel::sql_query("SELECT create_distributed_table($1::regclass, $2, colocate_with => $3)")
            .bind::<Text, _>(&table)
            .bind::<Text, _>(DISTRIBUTION_COLUMN)
            .bind::<Text, _>(colocate_with)
            .execute(conn)?;
        done.distributed_tables.push(table);
    }
    Ok(done)
}

/// Every function of ours (not an extension's) in `public` that Citus does not know yet.
pub(crate) fn distribute_functions(conn: &mut PgConnection) -> Result<Distributed, DistributionError> {
    let pending = names(
        conn,
        "SELECT p.oid::regprocedure::text AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
         WHERE n.nspname = 'public' AND p.prokind = 'f' \
         AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') \
         AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_object o \
                         WHERE o.classid = 'pg_proc'::regclass AND o.objid = p.oid) ORDER BY 1",
    )?;
    let mut done = Distributed::default();
    for function in pending {
        diesel::sql_query("SELECT create_distributed_function($1)").bind::<Text, _>(&function).execute(conn)?;
        done.functions.push(function);
    }
    Ok(done)
}

/// The current [`Layout`] (Citus only).
pub fn layout(conn: &mut PgConnection) -> Result<Layout, DbError> {
    let reference =
        names(conn, "SELECT logicalrelid::regclass::text AS name FROM pg_dist_partition WHERE partmethod = 'n'")?;
    let distributed =
        names(conn, "SELECT logicalrelid::regclass::text AS name FROM pg_dist_partition WHERE partmethod = 'h'")?;
    let groups =
        names(conn, "SELECT DISTINCT colocationid::text AS name FROM pg_dist_partition WHERE partmethod = 'h'")?;
    let functions = names(
        conn,
        "SELECT o.objid::regprocedure::text AS name FROM pg_catalog.pg_dist_object o \
         WHERE o.classid = 'pg_proc'::regclass",
    )?;
    let local = names(
        conn,
        "SELECT c.relname::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
         AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e') \
         AND NOT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = c.oid)",
    )?;
    Ok(Layout {
        reference_tables: reference.into_iter().collect(),
        distributed_tables: distributed.into_iter().collect(),
        colocation_groups: groups.len(),
        functions: functions.into_iter().collect(),
        local_tables: local.into_iter().collect(),
    })
}

fn names(conn: &mut PgConnection, query: &str) -> Result<BTreeSet<String>, DbError> {
    Ok(diesel::sql_query(query).load::<Name>(conn)?.into_iter().map(|row| row.name).collect())
}

/// `tables` ordered so that each comes after every table it references, with
/// [`COLOCATION_ANCHOR`] as early as its own parents allow (the others are colocated with it).
fn parents_first(tables: &[String], edges: &[(String, String)]) -> Result<Vec<String>, DistributionError> {
    let members: BTreeSet<&str> = tables.iter().map(String::as_str).collect();
    let mut waiting_on: BTreeMap<&str, BTreeSet<&str>> = members.iter().map(|t| (*t, BTreeSet::new())).collect();
    for (child, parent) in edges {
        if members.contains(child.as_str()) && members.contains(parent.as_str()) {
            waiting_on.entry(child.as_str()).or_default().insert(parent.as_str());
        }
    }
    let mut ordered: Vec<String> = Vec::with_capacity(tables.len());
    while !waiting_on.is_empty() {
        let ready: Vec<&str> = waiting_on.iter().filter(|(_, parents)| parents.is_empty()).map(|(t, _)| *t).collect();
        if ready.is_empty() {
            return Err(DistributionError::Cycle(waiting_on.keys().map(|t| (*t).to_owned()).collect()));
        }
        // The anchor goes first whenever it is ready: the rest are colocated with it.
        let next = ready.iter().copied().find(|t| *t == COLOCATION_ANCHOR).unwrap_or(ready[0]);
        waiting_on.remove(next);
        for parents in waiting_on.values_mut() {
            parents.remove(next);
        }
        ordered.push(next.to_owned());
    }
    Ok(ordered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    fn edge(child: &str, parent: &str) -> (String, String) {
        (child.to_owned(), parent.to_owned())
    }

    #[test]
    fn parents_come_before_children_and_the_anchor_first() {
        let tables = owned(&["clients", "episodes", "responses", "users"]);
        let edges = [edge("responses", "episodes"), edge("episodes", "clients"), edge("responses", "users")];
        let order = parents_first(&tables, &edges).unwrap();
        assert_eq!(order, owned(&["users", "clients", "episodes", "responses"]));
    }

    #[test]
    fn edges_to_tables_outside_the_set_are_ignored() {
        let tables = owned(&["audit_events", "users"]);
        let edges = [edge("users", "organizations"), edge("audit_events", "organizations")];
        assert_eq!(parents_first(&tables, &edges).unwrap(), owned(&["users", "audit_events"]));
    }

    #[test]
    fn a_cycle_is_refused_with_its_members() {
        let tables = owned(&["a", "b", "users"]);
        let edges = [edge("a", "b"), edge("b", "a")];
        match parents_first(&tables, &edges) {
            Err(DistributionError::Cycle(members)) => assert_eq!(members, owned(&["a", "b"])),
            other => panic!("expected a cycle, got {other:?}"),
        }
    }
}
