//! The SQL constructs Citus refuses or routes to every shard, found in text: the SQL the
//! service sends (recorded from its pool's connections) and the bodies of the functions in the
//! live schema. docs/scaling.md lists the rules and why each exists.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};

/// `sql` lower-cased, with comments removed, string and dollar-quoted literals emptied (`''`),
/// identifier quotes dropped and whitespace collapsed: what the rules below read.
pub fn normalized(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("--") {
            rest = &rest[rest.find('\n').unwrap_or(rest.len())..];
        } else if c == '\'' {
            let end = rest[1..].find('\'').map_or(rest.len(), |i| i + 2);
            out.push_str("''");
            rest = &rest[end..];
        } else if c == '"' {
            rest = &rest[1..];
        } else if c.is_whitespace() {
            if !out.ends_with(' ') {
                out.push(' ');
            }
            rest = &rest[c.len_utf8()..];
        } else {
            out.extend(c.to_lowercase());
            rest = &rest[c.len_utf8()..];
        }
    }
    out.trim().to_owned()
}

/// The statements of a function body or batch (split at `;`, which [`normalized`] text only
/// holds outside literals).
pub fn statements(normalized: &str) -> impl Iterator<Item = &str> {
    normalized.split(';').map(str::trim).filter(|s| !s.is_empty())
}

/// The `SET …` part of each `ON CONFLICT … DO UPDATE SET …` in a statement (up to its `WHERE`
/// or `RETURNING`).
pub fn do_update_assignments(statement: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = statement;
    while let Some(at) = rest.find("do update set ") {
        let clause = &rest[at + "do update set ".len()..];
        let end = [" where ", " returning "].iter().filter_map(|w| clause.find(w)).min().unwrap_or(clause.len());
        found.push(&clause[..end]);
        rest = &clause[end..];
    }
    found
}

/// The names called as functions in `text` (`name(`), keywords that take parentheses left out.
pub fn function_calls(text: &str) -> BTreeSet<String> {
    const NOT_FUNCTIONS: &[&str] = &["and", "or", "not", "in", "any", "all", "array", "values", "set", "row", "on"];
    let mut calls = BTreeSet::new();
    for (at, _) in text.match_indices('(') {
        let before = text[..at].trim_end();
        let start = before.rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.')).map_or(0, |i| i + 1);
        let name = &before[start..];
        let is_word = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if is_word && !NOT_FUNCTIONS.contains(&name) {
            calls.insert(name.rsplit('.').next().unwrap_or(name).to_owned());
        }
    }
    calls
}

/// SQL value functions written without parentheses that change with time.
pub fn volatile_keywords(text: &str) -> Vec<&'static str> {
    ["current_timestamp", "localtimestamp", "current_date", "current_time", "localtime"]
        .into_iter()
        .filter(|k| words(text).any(|w| w == *k))
        .collect()
}

/// The `CASE … END` and `coalesce(…)` expressions of `statement` (Citus refuses a function that
/// is not IMMUTABLE inside them in a modification).
pub fn conditional_expressions(statement: &str) -> Vec<&str> {
    let mut found = Vec::new();
    for (at, _) in statement.match_indices("case ") {
        let body = &statement[at..];
        found.push(&body[..body.find(" end").map_or(body.len(), |end| end + 4)]);
    }
    for (at, _) in statement.match_indices("coalesce(") {
        let body = &statement[at..];
        let mut depth = 0usize;
        let mut end = body.len();
        for (i, c) in body.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        found.push(&body[..end]);
    }
    found
}

/// Whether `text` adds or subtracts an interval (STABLE on timestamptz, which a text rule
/// cannot tell from a date's IMMUTABLE arithmetic: both are refused where it matters).
pub fn has_interval_arithmetic(text: &str) -> bool {
    ["make_interval(", "interval ''", "::interval"].iter().any(|marker| text.contains(marker))
}

/// Whether `text` holds a subquery.
pub fn has_subquery(text: &str) -> bool {
    text.contains("(select ") || text.contains("( select ")
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty())
}

/// The tables of `tables` that `statement` reads or writes (after FROM, JOIN, UPDATE, INTO).
pub fn tables_used<'t>(statement: &str, tables: &'t BTreeSet<String>) -> BTreeSet<&'t str> {
    let tokens: Vec<&str> = words(statement).collect();
    let mut used = BTreeSet::new();
    for pair in tokens.windows(2) {
        if matches!(pair[0], "from" | "join" | "update" | "into")
            && let Some(table) = tables.get(pair[1])
        {
            used.insert(table.as_str());
        }
    }
    used
}

/// Whether `statement` pins its rows to one organization: an `organization_id` compared with a
/// value (`=`, `= any`, `in`), or inserted as a column.
pub fn filters_by_organization(statement: &str) -> bool {
    let mut rest = statement;
    while let Some(at) = rest.find("organization_id") {
        let after = rest[at + "organization_id".len()..].trim_start();
        let before = rest[..at].trim_end();
        if after.starts_with('=') || after.starts_with("in ") || after.starts_with("in(") {
            return true;
        }
        // An INSERT's column list: `(organization_id, …` or `…, organization_id, …`.
        if (before.ends_with('(') || before.ends_with(',')) && statement.starts_with("insert ") {
            return true;
        }
        rest = &rest[at + "organization_id".len()..];
    }
    false
}

/// Functions whose values are one node's transaction ids: on Citus, Rapport takes them on the
/// coordinator only (a statement of their own, or an INSERT or UPDATE, which Citus evaluates
/// there), never inside a query that a worker runs.
pub const TRANSACTION_ID_FUNCTIONS: &[&str] =
    &["pg_current_snapshot", "pg_snapshot_xmin", "pg_current_xact_id", "txid_current", "txid_current_snapshot"];

/// Whether `statement` takes an advisory lock.
pub fn takes_advisory_lock(statement: &str) -> bool {
    words(statement).any(|w| w.starts_with("pg_advisory") || w.starts_with("pg_try_advisory"))
}

// The recorder: every statement the service's pooled connections send (r2d2 opens them on its
// own threads; a test's own `PgConnection` is opened on the test's thread and is not recorded).

static RECORDING: AtomicBool = AtomicBool::new(false);
static RECORDED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

struct Recorder;

impl diesel::connection::Instrumentation for Recorder {
    fn on_connection_event(&mut self, event: diesel::connection::InstrumentationEvent<'_>) {
        if let diesel::connection::InstrumentationEvent::StartQuery { query, .. } = event
            && RECORDING.load(Ordering::Relaxed)
        {
            let text = query.to_string();
            // Diesel's display appends the bound values; the rules read the SQL only.
            let sql = text.split(" -- binds: ").next().unwrap_or(&text);
            RECORDED.lock().unwrap_or_else(|e| e.into_inner()).insert(normalized(sql));
        }
    }
}

fn recorder() -> Option<Box<dyn diesel::connection::Instrumentation>> {
    let pooled = std::thread::current().name().is_some_and(|name| name.starts_with("r2d2-worker"));
    pooled.then(|| Box::new(Recorder) as Box<dyn diesel::connection::Instrumentation>)
}

/// Starts recording the service's statements (connections opened from now on).
pub fn start_recording() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| diesel::connection::set_default_instrumentation(recorder).expect("install the recorder"));
    RECORDING.store(true, Ordering::Relaxed);
}

/// Stops recording and returns every distinct statement recorded so far.
pub fn recorded() -> BTreeSet<String> {
    RECORDING.store(false, Ordering::Relaxed);
    std::mem::take(&mut *RECORDED.lock().unwrap_or_else(|e| e.into_inner()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_normalized_without_comments_literals_or_quotes() {
        assert_eq!(
            normalized("SELECT \"a\".\"b\" -- x; y\nFROM  T WHERE c = 'O''Neil; '"),
            "select a.b from t where c = ''''"
        );
    }

    #[test]
    fn the_rules_find_what_citus_refuses() {
        let upsert = normalized(
            "INSERT INTO clients (organization_id, id) VALUES ($1, $2) ON CONFLICT (organization_id, id) \
             DO UPDATE SET updated_at = now(), n = (SELECT 1), m = CURRENT_TIMESTAMP WHERE clients.x = 1",
        );
        let set = do_update_assignments(&upsert);
        assert_eq!(set, ["updated_at = now(), n = (select 1), m = current_timestamp"]);
        assert!(function_calls(set[0]).contains("now"));
        assert!(has_subquery(set[0]));
        assert_eq!(volatile_keywords(set[0]), ["current_timestamp"]);
        assert!(filters_by_organization(&upsert));

        let tenants: BTreeSet<String> = ["responses".to_owned(), "clients".to_owned()].into();
        let scan = normalized("SELECT * FROM responses r JOIN clients c ON c.id = r.client_id WHERE r.total > 1");
        assert_eq!(tables_used(&scan, &tenants), BTreeSet::from(["clients", "responses"]));
        assert!(!filters_by_organization(&scan));
        assert!(filters_by_organization(&normalized("DELETE FROM responses WHERE \"organization_id\" = $1")));
        assert!(takes_advisory_lock("select pg_try_advisory_xact_lock(1, 2)"));
        let update = normalized("UPDATE d SET s = CASE WHEN a <= now() THEN 1 END, f = coalesce(x, (g(y)))");
        assert_eq!(conditional_expressions(&update), ["case when a <= now() then 1 end", "coalesce(x, (g(y)))"]);
        assert!(has_interval_arithmetic("case when created_at + make_interval(secs => $4) <= $5 then 1 end"));
        assert_eq!(
            function_calls("x = rapport_sorted_dates(a.months || b.months)"),
            BTreeSet::from(["rapport_sorted_dates".to_owned()])
        );
    }
}
