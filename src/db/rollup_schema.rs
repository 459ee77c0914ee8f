//! The rollups and reference sets (`rollup_schema.sql`): derived data with its tables,
//! functions and triggers, installed at start whenever the rendered file differs from what the
//! database has, then rebuilt from the source tables. Migrations hold the source of truth and
//! never change once landed; this file may change with any release, and an upgraded database
//! ends up exactly like a fresh one.
//!
//! The instrument keys the SQL filters on are filled in from the built-in instrument
//! definitions (their measure says which are session alliance ratings, which has its items
//! compared, which is the client's working-alliance form), so the SQL never decides by itself
//! what an instrument means.

use super::{DbError, distribution};
use crate::domain::instruments::Catalogue;
use crate::domain::instruments::definition::Rater;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

const TEMPLATE: &str = include_str!("rollup_schema.sql");

/// The name under which `schema_objects` records the installed checksum.
const OBJECT_NAME: &str = "rollups";

/// Instrument keys as SQL literal lists, from the built-in definitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupKeys {
    /// Client-rated session alliance ratings (SRS, CSRS): their totals are rolled up.
    pub session_alliance: Vec<String>,
    /// The one whose items are compared with the organization's (SRS).
    pub item_comparison: Vec<String>,
    /// The client's working-alliance form (WAI-SR): its subscale means are rolled up.
    pub client_working_alliance: Vec<String>,
    /// The highest total of a session alliance rating, in hundredths (the ceiling).
    pub ceiling_hundredths: i64,
}

impl RollupKeys {
    pub fn from_catalogue(catalogue: &Catalogue) -> Self {
        let keys = |test: &dyn Fn(&crate::domain::instruments::InstrumentDefinition) -> bool| -> Vec<String> {
            catalogue.iter().filter(|d| test(d)).map(|d| d.key.clone()).collect()
        };
        let session_alliance = keys(&|d| d.is_session_alliance());
        let ceiling =
            catalogue.iter().filter(|d| d.is_session_alliance()).map(|d| d.total_range().1).fold(0.0_f64, f64::max);
        Self {
            item_comparison: keys(&|d| d.compares_items()),
            client_working_alliance: keys(&|d| d.counterpart().is_some() && d.raters == [Rater::Client]),
            ceiling_hundredths: (ceiling * 100.0).round() as i64,
            session_alliance,
        }
    }

    /// Every key whose responses feed the rollups.
    pub fn rolled_up(&self) -> Vec<String> {
        let mut all = self.session_alliance.clone();
        all.extend(self.client_working_alliance.iter().cloned());
        all
    }

    /// `'srs', 'csrs'`: keys are identifiers (`[a-z0-9_-]`), checked when defined.
    pub fn sql_list(keys: &[String]) -> String {
        keys.iter().map(|key| format!("'{}'", key.replace('\'', "''"))).collect::<Vec<_>>().join(", ")
    }
}

/// The keys of this release's built-ins.
pub fn keys() -> &'static RollupKeys {
    static KEYS: LazyLock<RollupKeys> = LazyLock::new(|| RollupKeys::from_catalogue(&Catalogue::builtin()));
    &KEYS
}

/// The SQL this release installs, with the keys filled in.
pub fn rendered() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let keys = keys();
        TEMPLATE
            .replace("{{session_alliance}}", &RollupKeys::sql_list(&keys.session_alliance))
            .replace("{{item_comparison}}", &RollupKeys::sql_list(&keys.item_comparison))
            .replace("{{client_working_alliance}}", &RollupKeys::sql_list(&keys.client_working_alliance))
            .replace("{{rolled_up}}", &RollupKeys::sql_list(&keys.rolled_up()))
            .replace("{{ceiling_hundredths}}", &keys.ceiling_hundredths.to_string())
    });
    &SQL
}

/// SHA-256 of [`rendered`], hex.
pub fn checksum() -> &'static str {
    static SUM: LazyLock<String> = LazyLock::new(|| hex::encode(Sha256::digest(rendered().as_bytes())));
    &SUM
}

#[derive(QueryableByName)]
struct Installed {
    #[diesel(sql_type = Text)]
    checksum: String,
}

/// Whether the database has this release's rollup schema.
pub fn is_current(conn: &mut PgConnection) -> Result<bool, DbError> {
    let installed: Option<Installed> = diesel::sql_query("SELECT checksum FROM schema_objects WHERE name = $1")
        .bind::<Text, _>(OBJECT_NAME)
        .get_result(conn)
        .optional()?;
    Ok(installed.is_some_and(|row| row.checksum == checksum()))
}

/// The markers in `rollup_schema.sql` where, on Citus, its new tables and then its new
/// functions are distributed (see [`super::distribution`]).
const DISTRIBUTE_TABLES: &str = "-- @citus: distribute tables";
const DISTRIBUTE_FUNCTIONS: &str = "-- @citus: distribute functions";

/// [`rendered`] cut at the two markers: tables; keys, functions and triggers; the rebuild.
fn parts() -> [&'static str; 3] {
    let sql = rendered();
    let tables_end = sql.find(DISTRIBUTE_TABLES).expect("rollup_schema.sql has the table marker");
    let functions_end = sql.find(DISTRIBUTE_FUNCTIONS).expect("rollup_schema.sql has the function marker");
    [&sql[..tables_end], &sql[tables_end..functions_end], &sql[functions_end..]]
}

/// Installs the rollup schema and rebuilds every organization's rollups unless the database has
/// this release's already. The caller holds the migration lock. Returns whether it installed.
/// On Citus (`citus`), the new tables and functions are distributed at the file's markers, in
/// the same transaction.
pub fn install(conn: &mut PgConnection, citus: bool) -> Result<bool, DbError> {
    conn.transaction(|conn| {
        if is_current(conn)? {
            return Ok(false);
        }
        let [tables, functions, rebuild] = parts();
        // One statement at a time: Citus forwards the text of DDL on a distributed table (a
        // drop, a foreign key, a trigger) to the workers, which refuse a string of several.
        let run = |conn: &mut PgConnection, part: &str| -> Result<(), DbError> {
            for statement in statements(part) {
                conn.batch_execute(statement)?;
            }
            Ok(())
        };
        if citus {
            distribution::prepare_session(conn)?;
        }
        run(conn, tables)?;
        if citus {
            distribution::distribute_tables(conn)?;
        }
        run(conn, functions)?;
        if citus {
            distribution::distribute_functions(conn)?;
        }
        run(conn, rebuild)?;
        diesel::sql_query(
            "INSERT INTO schema_objects (name, checksum, installed_at) VALUES ($1, $2, now()) \
             ON CONFLICT (name) DO UPDATE SET checksum = EXCLUDED.checksum, installed_at = EXCLUDED.installed_at",
        )
        .bind::<Text, _>(OBJECT_NAME)
        .bind::<Text, _>(checksum())
        .execute(conn)?;
        Ok(true)
    })
}

/// `sql` cut into its statements at the semicolons outside comments, quotes and
/// dollar-quoted bodies; empty ones (comments only) left out.
fn statements(sql: &str) -> Vec<&str> {
    let bytes = sql.as_bytes();
    let mut found = Vec::new();
    let (mut start, mut at) = (0usize, 0usize);
    let mut has_code = false;
    while let Some(&byte) = bytes.get(at) {
        let rest = &sql[at..];
        if rest.starts_with("--") {
            at += rest.find('\n').unwrap_or(rest.len());
        } else if byte == b'\'' {
            has_code = true;
            at += 1 + rest[1..].find('\'').map_or(rest.len() - 1, |end| end + 1);
        } else if let Some(tag) = dollar_tag(rest) {
            has_code = true;
            at += tag.len() + rest[tag.len()..].find(tag).map_or(rest.len() - tag.len(), |end| end + tag.len());
        } else if byte == b';' {
            if has_code {
                found.push(sql[start..=at].trim());
            }
            at += 1;
            start = at;
            has_code = false;
        } else {
            has_code |= !byte.is_ascii_whitespace();
            at += 1;
        }
    }
    if has_code {
        found.push(sql[start..].trim());
    }
    found
}

/// `$$` or `$tag$` at the start of `text`.
fn dollar_tag(text: &str) -> Option<&str> {
    let after = text.strip_prefix('$')?;
    let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
    (after.as_bytes().get(end) == Some(&b'$')).then(|| &text[..end + 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_cut_outside_comments_quotes_and_bodies() {
        let sql = "-- a; comment\nALTER TABLE a ADD x int;\nCREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$\n\
                   BEGIN PERFORM 1; END\n$$;\nSELECT ';' || $q$;$q$;\n-- trailing; comment\n";
        assert_eq!(
            statements(sql),
            [
                "-- a; comment\nALTER TABLE a ADD x int;",
                "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$\nBEGIN PERFORM 1; END\n$$;",
                "SELECT ';' || $q$;$q$;",
            ]
        );
    }

    #[test]
    fn the_install_cuts_at_both_markers() {
        let [tables, functions, rebuild] = parts();
        assert!(tables.contains("CREATE TABLE alliance_rollup ("));
        assert!(!tables.contains("FOREIGN KEY"), "no key may tie a table to a distributed one before distribution");
        assert!(functions.starts_with(DISTRIBUTE_TABLES) && functions.contains("CREATE TRIGGER"));
        assert!(rebuild.starts_with(DISTRIBUTE_FUNCTIONS) && rebuild.contains("alliance_rollup_rebuild(id)"));
        assert!(statements(functions).len() > 10);
    }

    #[test]
    fn the_keys_come_from_the_definitions() {
        let keys = keys();
        assert_eq!(keys.session_alliance, ["srs", "csrs"]);
        assert_eq!(keys.item_comparison, ["srs"]);
        assert_eq!(keys.client_working_alliance, ["wai-sr"]);
        assert_eq!(keys.ceiling_hundredths, 4000);
        assert_eq!(RollupKeys::sql_list(&keys.rolled_up()), "'srs', 'csrs', 'wai-sr'");
    }

    #[test]
    fn every_placeholder_is_filled() {
        assert!(!rendered().contains("{{"), "an unfilled placeholder is left");
        assert!(rendered().contains("instrument_key IN ('srs', 'csrs')"));
    }

    #[test]
    fn the_rollup_columns_are_those_the_definitions_name() {
        // The rollup tables have a column per compared item and per working-alliance subscale;
        // db::insights reads them under these names.
        let catalogue = Catalogue::builtin();
        let items: Vec<String> = catalogue
            .iter()
            .filter(|d| d.compares_items())
            .flat_map(|d| d.scored_items().map(|i| format!("{}:{}", d.key, i.id)).collect::<Vec<_>>())
            .collect();
        let subscales: Vec<String> = catalogue
            .iter()
            .filter(|d| d.counterpart().is_some() && d.raters == [Rater::Client])
            .flat_map(|d| d.subscales.iter().map(|s| format!("wai:{}", s.key)).collect::<Vec<_>>())
            .collect();
        let named: Vec<&str> = super::super::insights::ROLLUP_MEASURES.iter().map(|m| m.0).collect();
        assert_eq!(named, items.iter().chain(&subscales).map(String::as_str).collect::<Vec<_>>());
        for (_, _, column, _) in super::super::insights::ROLLUP_MEASURES {
            assert!(TEMPLATE.contains(&format!("{column}_sum_sq")), "{column}");
        }
    }
}
