//! Instruments per organization: the built-ins (installed into every organization, so a
//! response's version is always a row of its own organization), custom definitions, versions
//! and the organization's licensed item texts.

use super::audit::Actor;
use super::instrument_definitions::{definitions, digest};
use super::schema::{instrument_texts, instrument_versions, instruments, organizations};
use super::{Database, DbError};
use crate::domain::instruments::{Catalogue, InstrumentDefinition, builtin};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use uuid::Uuid;

/// One version of an instrument, ready to parse and score with.
#[derive(Debug, Clone)]
pub struct InstrumentVersion {
    pub instrument_id: Uuid,
    pub version_id: Uuid,
    pub version: i32,
    pub builtin: bool,
    pub definition: InstrumentDefinition,
    pub created_at: DateTime<Utc>,
}

/// Adds the built-in instruments an organization lacks, and a new version of any whose
/// definition changed in this release.
pub(super) fn install_builtins(conn: &mut PgConnection, organization_id: Uuid) -> Result<usize, DbError> {
    let mut changed = 0;
    for definition in builtin::all() {
        let encoded = serde_json::to_value(&definition).expect("definitions serialize");
        let existing = instruments::table
            .filter(instruments::organization_id.eq(organization_id))
            .filter(instruments::key.eq(&definition.key))
            .select(instruments::id)
            .first::<Uuid>(conn)
            .optional()?;
        let instrument_id = match existing {
            Some(id) => id,
            None => {
                let id = Uuid::now_v7();
                diesel::insert_into(instruments::table)
                    .values((
                        instruments::organization_id.eq(organization_id),
                        instruments::id.eq(id),
                        instruments::key.eq(&definition.key),
                        instruments::name.eq(&definition.name),
                        instruments::builtin.eq(true),
                    ))
                    .execute(conn)?;
                id
            }
        };
        let latest = instrument_versions::table
            .filter(instrument_versions::organization_id.eq(organization_id))
            .filter(instrument_versions::instrument_id.eq(instrument_id))
            .order(instrument_versions::version.desc())
            .select((instrument_versions::version, instrument_versions::definition))
            .first::<(i32, Value)>(conn)
            .optional()?;
        if latest.as_ref().is_some_and(|(_, stored)| *stored == encoded) {
            continue;
        }
        diesel::insert_into(instrument_versions::table)
            .values((
                instrument_versions::organization_id.eq(organization_id),
                instrument_versions::id.eq(Uuid::now_v7()),
                instrument_versions::instrument_id.eq(instrument_id),
                instrument_versions::version.eq(latest.map_or(1, |(v, _)| v + 1)),
                instrument_versions::definition.eq(encoded),
            ))
            .execute(conn)?;
        changed += 1;
    }
    Ok(changed)
}

type VersionRow = (Uuid, Uuid, i32, bool, String, DateTime<Utc>);

/// Versions of the organization's instruments (the definition comes by its digest, see
/// `instrument_definitions`).
#[diesel::dsl::auto_type]
fn versions_of(organization_id: Uuid) -> _ {
    let same_instrument = instrument_versions::organization_id
        .eq(instruments::organization_id)
        .and(instrument_versions::instrument_id.eq(instruments::id));
    instruments::table
        .inner_join(instrument_versions::table.on(same_instrument))
        .filter(instruments::organization_id.eq(organization_id))
}

type VersionColumns = (
    instruments::id,
    instrument_versions::id,
    instrument_versions::version,
    instruments::builtin,
    diesel::expression::SqlLiteral<diesel::sql_types::Text>,
    instrument_versions::created_at,
);

fn version_columns() -> VersionColumns {
    (
        instruments::id,
        instrument_versions::id,
        instrument_versions::version,
        instruments::builtin,
        digest(),
        instrument_versions::created_at,
    )
}

fn decode_versions(
    conn: &mut PgConnection,
    organization_id: Uuid,
    rows: Vec<VersionRow>,
) -> Result<Vec<InstrumentVersion>, DbError> {
    let keys: Vec<(Uuid, String)> = rows.iter().map(|row| (row.1, row.4.clone())).collect();
    let mut definitions = definitions(conn, organization_id, &keys)?;
    rows.into_iter()
        .map(|(instrument_id, version_id, version, builtin, _, created_at)| {
            let definition = definitions
                .remove(&version_id)
                .ok_or_else(|| DbError::Corrupt(format!("instrument version {version_id} vanished")))?;
            Ok(InstrumentVersion { instrument_id, version_id, version, builtin, definition, created_at })
        })
        .collect()
}

fn current_versions(
    conn: &mut PgConnection,
    organization_id: Uuid,
    keys: Option<&[String]>,
) -> Result<Vec<InstrumentVersion>, DbError> {
    let mut query = versions_of(organization_id)
        .select(version_columns())
        .distinct_on(instruments::key)
        .order((instruments::key, instrument_versions::version.desc()))
        .into_boxed();
    if let Some(keys) = keys {
        query = query.filter(instruments::key.eq_any(keys));
    }
    let rows = query.load::<VersionRow>(conn)?;
    decode_versions(conn, organization_id, rows)
}

/// The organization's instruments at their current version: the built-ins in their own order,
/// then its custom instruments by key. What analytics ask about a stored response's key.
pub(super) fn catalogue(conn: &mut PgConnection, organization_id: Uuid) -> Result<Catalogue, DbError> {
    let builtin_order: Vec<String> = builtin::all().into_iter().map(|d| d.key).collect();
    let mut versions = current_versions(conn, organization_id, None)?;
    versions.sort_by_key(|v| {
        let position = builtin_order.iter().position(|key| *key == v.definition.key);
        (position.is_none(), position, v.definition.key.clone())
    });
    Ok(Catalogue::new(versions.into_iter().map(|v| v.definition)))
}

/// Definitions of specific versions, by version id (to render stored answers).
pub(super) fn versions_by_id(
    conn: &mut PgConnection,
    organization_id: Uuid,
    ids: &[Uuid],
) -> Result<BTreeMap<Uuid, (i32, InstrumentDefinition)>, DbError> {
    let rows: Vec<(Uuid, i32, String)> = instrument_versions::table
        .filter(instrument_versions::organization_id.eq(organization_id))
        .filter(instrument_versions::id.eq_any(ids))
        .select((instrument_versions::id, instrument_versions::version, digest()))
        .load(conn)?;
    let keys: Vec<(Uuid, String)> = rows.iter().map(|(id, _, key)| (*id, key.clone())).collect();
    let mut definitions = definitions(conn, organization_id, &keys)?;
    rows.into_iter()
        .filter_map(|(id, version, _)| definitions.remove(&id).map(|definition| Ok((id, (version, definition)))))
        .collect()
}

/// Every version of every instrument of the organization, by key then version.
fn all_versions(conn: &mut PgConnection, organization_id: Uuid) -> Result<Vec<InstrumentVersion>, DbError> {
    let rows = versions_of(organization_id)
        .select(version_columns())
        .order((instruments::key, instrument_versions::version))
        .load(conn)?;
    decode_versions(conn, organization_id, rows)
}

impl Database {
    /// Every version of every instrument of the organization (FHIR Questionnaires), by key
    /// then version.
    pub async fn all_instrument_versions(&self, organization_id: Uuid) -> Result<Vec<InstrumentVersion>, DbError> {
        self.run(move |conn| all_versions(conn, organization_id)).await
    }

    /// The organization's item texts for `locale`, per instrument id.
    pub async fn texts_for_locale(
        &self,
        organization_id: Uuid,
        locale: String,
    ) -> Result<BTreeMap<Uuid, Map<String, Value>>, DbError> {
        self.run(move |conn| {
            let rows: Vec<(Uuid, Value)> = instrument_texts::table
                .filter(instrument_texts::organization_id.eq(organization_id))
                .filter(instrument_texts::locale.eq(&locale))
                .select((instrument_texts::instrument_id, instrument_texts::texts))
                .load(conn)?;
            Ok(rows.into_iter().filter_map(|(id, texts)| texts.as_object().cloned().map(|t| (id, t))).collect())
        })
        .await
    }
}

impl Database {
    /// Installs the built-ins into every organization (at start: a release may change them).
    pub async fn sync_builtin_instruments(&self) -> Result<usize, DbError> {
        self.run(|conn| {
            let organizations: Vec<Uuid> = organizations::table.select(organizations::id).load(conn)?;
            let mut changed = 0;
            for organization_id in organizations {
                changed += conn.transaction(|conn| install_builtins(conn, organization_id))?;
            }
            Ok(changed)
        })
        .await
    }

    /// The current version of every instrument of the organization, by key.
    pub async fn current_instruments(&self, organization_id: Uuid) -> Result<Vec<InstrumentVersion>, DbError> {
        self.run(move |conn| current_versions(conn, organization_id, None)).await
    }

    /// The current versions of `keys` (missing keys are simply absent).
    pub async fn instruments_by_key(
        &self,
        organization_id: Uuid,
        keys: Vec<String>,
    ) -> Result<BTreeMap<String, InstrumentVersion>, DbError> {
        self.run(move |conn| {
            Ok(current_versions(conn, organization_id, Some(&keys))?
                .into_iter()
                .map(|v| (v.definition.key.clone(), v))
                .collect())
        })
        .await
    }

    /// The organization's item texts of an instrument for a locale.
    pub async fn instrument_texts(
        &self,
        organization_id: Uuid,
        instrument_id: Uuid,
        locale: String,
    ) -> Result<Option<Map<String, Value>>, DbError> {
        self.run(move |conn| {
            let texts = instrument_texts::table
                .find((organization_id, instrument_id, locale))
                .select(instrument_texts::texts)
                .first::<Value>(conn)
                .optional()?;
            Ok(texts.and_then(|t| t.as_object().cloned()))
        })
        .await
    }

    pub async fn put_instrument_texts(
        &self,
        actor: Actor,
        instrument_id: Uuid,
        locale: String,
        texts: Map<String, Value>,
    ) -> Result<(), DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                diesel::insert_into(instrument_texts::table)
                    .values((
                        instrument_texts::organization_id.eq(actor.organization_id),
                        instrument_texts::instrument_id.eq(instrument_id),
                        instrument_texts::locale.eq(&locale),
                        instrument_texts::texts.eq(Value::Object(texts.clone())),
                        instrument_texts::updated_by.eq(actor.id),
                    ))
                    .on_conflict((
                        instrument_texts::organization_id,
                        instrument_texts::instrument_id,
                        instrument_texts::locale,
                    ))
                    .do_update()
                    .set((
                        instrument_texts::texts.eq(Value::Object(texts)),
                        instrument_texts::updated_by.eq(actor.id),
                        // A bound time, not now(): Citus refuses non-immutable functions in DO UPDATE SET.
                        instrument_texts::updated_at.eq(chrono::Utc::now()),
                    ))
                    .execute(conn)?;
                actor.record(
                    conn,
                    "instrument.texts",
                    "instrument",
                    Some(instrument_id),
                    serde_json::json!({ "locale": locale }),
                )
            })
        })
        .await
    }

    /// Creates a custom instrument, or a new version of an existing custom one. Built-in keys
    /// are refused (`Conflict`). Earlier responses keep the version they were scored with.
    pub async fn define_instrument(
        &self,
        actor: Actor,
        definition: InstrumentDefinition,
    ) -> Result<InstrumentVersion, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let org = actor.organization_id;
                let existing = instruments::table
                    .filter(instruments::organization_id.eq(org))
                    .filter(instruments::key.eq(&definition.key))
                    .select((instruments::id, instruments::builtin))
                    .for_update()
                    .first::<(Uuid, bool)>(conn)
                    .optional()?;
                let instrument_id = match existing {
                    Some((_, true)) => return Err(DbError::Conflict { constraint: "builtin_instrument".into() }),
                    Some((id, false)) => {
                        diesel::update(instruments::table.find((org, id)))
                            .set(instruments::name.eq(&definition.name))
                            .execute(conn)?;
                        id
                    }
                    None => {
                        let id = Uuid::now_v7();
                        diesel::insert_into(instruments::table)
                            .values((
                                instruments::organization_id.eq(org),
                                instruments::id.eq(id),
                                instruments::key.eq(&definition.key),
                                instruments::name.eq(&definition.name),
                                instruments::builtin.eq(false),
                            ))
                            .execute(conn)?;
                        id
                    }
                };
                let version: i32 = instrument_versions::table
                    .filter(instrument_versions::organization_id.eq(org))
                    .filter(instrument_versions::instrument_id.eq(instrument_id))
                    .select(diesel::dsl::max(instrument_versions::version))
                    .first::<Option<i32>>(conn)?
                    .unwrap_or(0)
                    + 1;
                let version_id = Uuid::now_v7();
                let created_at: DateTime<Utc> = diesel::insert_into(instrument_versions::table)
                    .values((
                        instrument_versions::organization_id.eq(org),
                        instrument_versions::id.eq(version_id),
                        instrument_versions::instrument_id.eq(instrument_id),
                        instrument_versions::version.eq(version),
                        instrument_versions::definition.eq(serde_json::to_value(&definition).expect("serializes")),
                    ))
                    .returning(instrument_versions::created_at)
                    .get_result(conn)?;
                actor.record(
                    conn,
                    "instrument.define",
                    "instrument",
                    Some(instrument_id),
                    serde_json::json!({ "version": version }),
                )?;
                Ok(InstrumentVersion { instrument_id, version_id, version, builtin: false, definition, created_at })
            })
        })
        .await
    }
}
