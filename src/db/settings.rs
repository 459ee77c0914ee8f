//! Versioned organization settings. Version 0 is the documented defaults (no row).

use super::audit::Actor;
use super::schema::organization_settings;
use super::{Database, DbError};
use crate::domain::settings::OrganizationSettings;
use diesel::prelude::*;
use uuid::Uuid;

/// The settings in force and their version.
pub(super) fn current(conn: &mut PgConnection, organization_id: Uuid) -> Result<(i32, OrganizationSettings), DbError> {
    let latest = organization_settings::table
        .filter(organization_settings::organization_id.eq(organization_id))
        .order(organization_settings::version.desc())
        .select((organization_settings::version, organization_settings::settings))
        .first::<(i32, serde_json::Value)>(conn)
        .optional()?;
    match latest {
        None => Ok((0, OrganizationSettings::default())),
        Some((version, stored)) => serde_json::from_value(stored)
            .map(|settings| (version, settings))
            .map_err(|e| DbError::Corrupt(format!("stored settings: {e}"))),
    }
}

impl Database {
    pub async fn organization_settings(&self, organization_id: Uuid) -> Result<(i32, OrganizationSettings), DbError> {
        self.run(move |conn| current(conn, organization_id)).await
    }

    /// Stores `settings` as the next version.
    pub async fn put_organization_settings(
        &self,
        actor: Actor,
        settings: OrganizationSettings,
    ) -> Result<i32, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let (version, previous) = current(conn, actor.organization_id)?;
                let next = version + 1;
                diesel::insert_into(organization_settings::table)
                    .values((
                        organization_settings::organization_id.eq(actor.organization_id),
                        organization_settings::version.eq(next),
                        organization_settings::settings.eq(serde_json::to_value(&settings).expect("serializes")),
                        organization_settings::created_by.eq(actor.id),
                    ))
                    .execute(conn)?;
                if (previous.srs_cutoff, previous.srs_cutoff_comparator)
                    != (settings.srs_cutoff, settings.srs_cutoff_comparator)
                {
                    // The rollup's below-cutoff counts depend on the cutoff.
                    super::alliance_rollup::rebuild(conn, actor.organization_id)?;
                }
                actor.record(
                    conn,
                    "settings.update",
                    "organization",
                    Some(actor.organization_id),
                    serde_json::json!({ "version": next }),
                )?;
                Ok(next)
            })
        })
        .await
    }
}
