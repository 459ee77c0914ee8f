//! Each organization's instrument catalogue kept in memory, checked against the database on
//! every use. An episode read asked for the catalogue with a join, a sort and an md5 of every
//! stored definition, then cloned each decoded definition into a new catalogue: about 0.23 ms
//! of PostgreSQL and 0.1 ms of the service per read (docs/scaling.md, §8).
//!
//! The check is exact. A catalogue is a function of the organization's rows in
//! `instrument_versions`, and those rows are only ever added: a new version is a new row, and
//! nothing updates or deletes one short of deleting the organization. So the count of rows
//! changes with every change of the catalogue; the newest `created_at` rides along in case a
//! later release ever replaces a row. Both are read in the caller's own transaction (a dozen
//! rows), so every replica sees a new version the moment it commits.
//! Nothing needs invalidating and no replica needs telling.

use super::DbError;
use super::schema::instrument_versions;
use crate::domain::instruments::Catalogue;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use uuid::Uuid;

/// Organizations kept; past it the cache starts again, so many tenants cannot grow the process
/// without bound.
const CAPACITY: usize = 4096;

/// What the catalogue is built from, in a form that changes whenever it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fingerprint {
    versions: i64,
    newest: Option<DateTime<Utc>>,
}

/// A catalogue and the fingerprint it was built from, by organization.
type Kept = HashMap<Uuid, (Fingerprint, Arc<Catalogue>)>;

static CATALOGUES: LazyLock<Mutex<Kept>> = LazyLock::new(Default::default);

fn fingerprint(conn: &mut PgConnection, organization_id: Uuid) -> Result<Fingerprint, DbError> {
    let (versions, newest): (i64, Option<DateTime<Utc>>) = instrument_versions::table
        .filter(instrument_versions::organization_id.eq(organization_id))
        .select((diesel::dsl::count_star(), diesel::dsl::max(instrument_versions::created_at)))
        .first(conn)?;
    Ok(Fingerprint { versions, newest })
}

/// The organization's catalogue (see [`super::instruments::catalogue`]), from memory when its
/// versions are the ones it was built from.
pub(super) fn current(conn: &mut PgConnection, organization_id: Uuid) -> Result<Arc<Catalogue>, DbError> {
    let seen = fingerprint(conn, organization_id)?;
    {
        let cached = CATALOGUES.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((built_from, catalogue)) = cached.get(&organization_id) {
            if *built_from == seen {
                return Ok(catalogue.clone());
            }
        }
    }
    let catalogue = Arc::new(super::instruments::catalogue(conn, organization_id)?);
    let mut cached = CATALOGUES.lock().unwrap_or_else(PoisonError::into_inner);
    if cached.len() >= CAPACITY {
        cached.clear();
    }
    cached.insert(organization_id, (seen, catalogue.clone()));
    Ok(catalogue)
}
