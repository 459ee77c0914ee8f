//! Decoded instrument definitions kept in memory, by the md5 of their stored JSON. A version's
//! definition never changes once stored and the built-ins are the same in every organization, so
//! the key alone says whether a decoded copy is still right: nothing needs invalidating, and
//! every replica may keep its own. A read asks the database for the keys of the versions it
//! needs, and for the JSON only of the ones this process has not decoded yet (issue 14: parsing
//! every definition on every request was most of an analytics read's CPU).

use super::DbError;
use super::schema::instrument_versions;
use crate::domain::instruments::InstrumentDefinition;
use diesel::expression::SqlLiteral;
use diesel::prelude::*;
use diesel::sql_types::Text;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};
use uuid::Uuid;

/// Distinct definitions kept; past it the cache starts again (custom instruments of many
/// organizations must not grow the process without bound).
const CAPACITY: usize = 1024;

static DECODED: LazyLock<Mutex<HashMap<String, InstrumentDefinition>>> = LazyLock::new(Default::default);

/// The cache key of a version's definition, as a select expression.
pub(super) fn digest() -> SqlLiteral<Text> {
    diesel::dsl::sql::<Text>("md5(instrument_versions.definition::text)")
}

fn decode(definition: Value) -> Result<InstrumentDefinition, DbError> {
    serde_json::from_value(definition).map_err(|e| DbError::Corrupt(format!("stored instrument definition: {e}")))
}

/// The definitions of `versions` (version id, digest) of the organization, by version id.
pub(super) fn definitions(
    conn: &mut PgConnection,
    organization_id: Uuid,
    versions: &[(Uuid, String)],
) -> Result<HashMap<Uuid, InstrumentDefinition>, DbError> {
    let mut found = HashMap::with_capacity(versions.len());
    let mut missing = Vec::new();
    {
        let decoded = DECODED.lock().unwrap_or_else(PoisonError::into_inner);
        for (id, key) in versions {
            match decoded.get(key) {
                Some(definition) => {
                    found.insert(*id, definition.clone());
                }
                None => missing.push(*id),
            }
        }
    }
    if missing.is_empty() {
        return Ok(found);
    }
    let rows: Vec<(Uuid, String, Value)> = instrument_versions::table
        .filter(instrument_versions::organization_id.eq(organization_id))
        .filter(instrument_versions::id.eq_any(&missing))
        .select((instrument_versions::id, digest(), instrument_versions::definition))
        .load(conn)?;
    let mut fresh = Vec::with_capacity(rows.len());
    for (id, key, json) in rows {
        let definition = decode(json)?;
        found.insert(id, definition.clone());
        fresh.push((key, definition));
    }
    let mut decoded = DECODED.lock().unwrap_or_else(PoisonError::into_inner);
    if decoded.len().saturating_add(fresh.len()) > CAPACITY {
        decoded.clear();
    }
    decoded.extend(fresh);
    Ok(found)
}
