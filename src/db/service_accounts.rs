//! Service accounts: EHR integrations and analytics pipelines that authenticate with a client
//! id and secret, or (SMART Backend Services) with a JWT signed by a key of their registered
//! key set, each assertion's `jti` used once.

use super::audit::Actor;
use super::page::{Page, PageRequest};
use super::schema::{client_assertions, login_names, service_accounts};
use super::{Database, DbError};
use crate::domain::Role;
use chrono::{DateTime, TimeZone, Utc};
use diesel::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = service_accounts, check_for_backend(diesel::pg::Pg))]
pub struct ServiceAccountRow {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub jwks: Option<serde_json::Value>,
    pub jwks_url: Option<String>,
}

/// Where a service account's public keys are.
#[derive(Debug, Clone, PartialEq)]
pub enum KeySource {
    /// A JSON Web Key Set registered with the account.
    Inline(serde_json::Value),
    /// A URL serving the account's JSON Web Key Set.
    Url(String),
}

pub struct NewServiceAccount {
    pub name: String,
    pub role: Role,
    pub client_id: String,
    /// Argon2id hash of the client secret; `None` for an account that authenticates with keys.
    pub secret_hash: Option<String>,
    pub keys: Option<KeySource>,
}

/// A service account that authenticates with keys, as its client id finds it.
pub struct KeyedAccount {
    pub organization_id: Uuid,
    pub id: Uuid,
    pub role: Role,
    pub active: bool,
    pub keys: KeySource,
}

/// A `secret_hash` no secret verifies against (not a PHC string): accounts with keys have no secret.
const NO_SECRET: &str = "!keys-only";

impl Database {
    pub async fn insert_service_account(
        &self,
        actor: Actor,
        new: NewServiceAccount,
    ) -> Result<ServiceAccountRow, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let id = Uuid::now_v7();
                diesel::insert_into(login_names::table)
                    .values((
                        login_names::login.eq(&new.client_id),
                        login_names::organization_id.eq(actor.organization_id),
                        login_names::principal_id.eq(id),
                        login_names::kind.eq("service_account"),
                    ))
                    .execute(conn)?;
                let row = diesel::insert_into(service_accounts::table)
                    .values((
                        service_accounts::organization_id.eq(actor.organization_id),
                        service_accounts::id.eq(id),
                        service_accounts::name.eq(&new.name),
                        service_accounts::role.eq(new.role.as_str()),
                        service_accounts::secret_hash.eq(new.secret_hash.as_deref().unwrap_or(NO_SECRET)),
                        service_accounts::created_by.eq(actor.id),
                        service_accounts::jwks.eq(match &new.keys {
                            Some(KeySource::Inline(jwks)) => Some(jwks),
                            _ => None,
                        }),
                        service_accounts::jwks_url.eq(match &new.keys {
                            Some(KeySource::Url(url)) => Some(url),
                            _ => None,
                        }),
                    ))
                    .returning(ServiceAccountRow::as_returning())
                    .get_result(conn)?;
                let keys = match &new.keys {
                    None => "secret",
                    Some(KeySource::Inline(_)) => "jwks",
                    Some(KeySource::Url(_)) => "jwks_url",
                };
                actor.record(
                    conn,
                    "service_account.create",
                    "service_account",
                    Some(id),
                    serde_json::json!({ "authentication": keys }),
                )?;
                Ok(row)
            })
        })
        .await
    }

    pub async fn list_service_accounts(
        &self,
        actor: Actor,
        page: PageRequest,
    ) -> Result<Page<(ServiceAccountRow, String)>, DbError> {
        self.run(move |conn| {
            let mut query = service_accounts::table
                .inner_join(login_names::table.on(login_names::principal_id.eq(service_accounts::id)))
                .filter(service_accounts::organization_id.eq(actor.organization_id))
                .select((ServiceAccountRow::as_select(), login_names::login))
                .order(service_accounts::id.asc())
                .limit(page.limit + 1)
                .into_boxed();
            if let Some(after) = page.after {
                query = query.filter(service_accounts::id.gt(after));
            }
            Ok(Page::from_rows(query.load(conn)?, page.limit, |(row, _)| row.id))
        })
        .await
    }
}

impl Database {
    /// The service account with client id `client_id`, when it authenticates with keys.
    pub async fn keyed_account(&self, client_id: String) -> Result<Option<KeyedAccount>, DbError> {
        self.run(move |conn| {
            let Some((organization_id, id)) = login_names::table
                .find(&client_id)
                .filter(login_names::kind.eq("service_account"))
                .select((login_names::organization_id, login_names::principal_id))
                .first::<(Uuid, Uuid)>(conn)
                .optional()?
            else {
                return Ok(None);
            };
            let found = service_accounts::table
                .find((organization_id, id))
                .select((
                    service_accounts::role,
                    service_accounts::active,
                    service_accounts::jwks,
                    service_accounts::jwks_url,
                ))
                .first::<(Role, bool, Option<serde_json::Value>, Option<String>)>(conn)
                .optional()?;
            Ok(found.and_then(|(role, active, jwks, url)| {
                let keys = match (jwks, url) {
                    (Some(jwks), _) => KeySource::Inline(jwks),
                    (None, Some(url)) => KeySource::Url(url),
                    (None, None) => return None,
                };
                Some(KeyedAccount { organization_id, id, role, active, keys })
            }))
        })
        .await
    }

    /// Records the single use of a client assertion's `jti` until `expires_at` (seconds); false
    /// when it was used before (a replay).
    pub async fn use_assertion(
        &self,
        organization_id: Uuid,
        account_id: Uuid,
        jti: String,
        expires_at: i64,
    ) -> Result<bool, DbError> {
        self.run(move |conn| {
            let expires_at = Utc.timestamp_opt(expires_at, 0).single().unwrap_or_else(Utc::now);
            let inserted = diesel::insert_into(client_assertions::table)
                .values((
                    client_assertions::organization_id.eq(organization_id),
                    client_assertions::service_account_id.eq(account_id),
                    client_assertions::jti.eq(&jti),
                    client_assertions::expires_at.eq(expires_at),
                ))
                .on_conflict_do_nothing()
                .execute(conn)?;
            Ok(inserted == 1)
        })
        .await
    }

    /// Forgets used assertion ids whose assertions have expired (they can no longer be
    /// replayed); returns how many.
    pub async fn purge_expired_assertions(&self) -> Result<usize, DbError> {
        self.run(move |conn| {
            super::sum_over_organizations(conn, |conn, organization_id| {
                diesel::delete(
                    client_assertions::table
                        .filter(client_assertions::organization_id.eq(organization_id))
                        .filter(client_assertions::expires_at.lt(diesel::dsl::now)),
                )
                .execute(conn)
            })
        })
        .await
    }
}
