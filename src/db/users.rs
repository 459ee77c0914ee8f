//! People of an organization, their login names, and the credentials the token endpoint checks.

use super::audit::Actor;
use super::page::{Page, PageRequest};
use super::schema::{login_names, refresh_tokens, service_accounts, users};
use super::{Database, DbError};
use crate::domain::Role;
use crate::domain::people::EmailAddress;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub display_name: Option<String>,
    pub role: Role,
    pub external_id: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub struct NewUser {
    pub email: EmailAddress,
    pub role: Role,
    pub display_name: Option<String>,
    pub external_id: Option<String>,
    pub password_hash: String,
}

/// A change to a person; `None` leaves a field as it is.
#[derive(Default)]
pub struct UserChanges {
    pub role: Option<Role>,
    pub active: Option<bool>,
    pub display_name: Option<Option<String>>,
    pub external_id: Option<Option<String>>,
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub role: Option<Role>,
    pub active: Option<bool>,
}

/// What the token endpoint needs to check a login.
#[derive(Debug, Clone)]
pub struct LoginCredentials {
    pub organization_id: Uuid,
    pub principal_id: Uuid,
    pub kind: PrincipalKind,
    pub role: Role,
    pub active: bool,
    pub secret_hash: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    User,
    ServiceAccount,
}

pub(super) fn role_of(raw: &str) -> Result<Role, DbError> {
    Role::parse(raw).ok_or_else(|| DbError::Corrupt(format!("unknown role `{raw}` in the database")))
}

impl Database {
    pub async fn insert_user(&self, actor: Actor, new: NewUser) -> Result<UserRow, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let id = Uuid::now_v7();
                diesel::insert_into(login_names::table)
                    .values((
                        login_names::login.eq(new.email.as_str()),
                        login_names::organization_id.eq(actor.organization_id),
                        login_names::principal_id.eq(id),
                        login_names::kind.eq("user"),
                    ))
                    .execute(conn)?;
                let row = diesel::insert_into(users::table)
                    .values((
                        users::organization_id.eq(actor.organization_id),
                        users::id.eq(id),
                        users::email.eq(new.email.as_str()),
                        users::role.eq(new.role.as_str()),
                        users::display_name.eq(new.display_name),
                        users::external_id.eq(new.external_id),
                        users::password_hash.eq(new.password_hash),
                    ))
                    .returning(UserRow::as_returning())
                    .get_result(conn)?;
                actor.record(conn, "user.create", "user", Some(id), serde_json::json!({ "role": row.role }))?;
                Ok(row)
            })
        })
        .await
    }

    pub async fn list_users(
        &self,
        actor: Actor,
        filter: UserFilter,
        page: PageRequest,
    ) -> Result<Page<UserRow>, DbError> {
        self.run(move |conn| {
            let mut query = users::table
                .filter(users::organization_id.eq(actor.organization_id))
                .select(UserRow::as_select())
                .order(users::id.asc())
                .limit(page.limit + 1)
                .into_boxed();
            if let Some(after) = page.after {
                query = query.filter(users::id.gt(after));
            }
            if let Some(role) = filter.role {
                query = query.filter(users::role.eq(role.as_str()));
            }
            if let Some(active) = filter.active {
                query = query.filter(users::active.eq(active));
            }
            Ok(Page::from_rows(query.load(conn)?, page.limit, |row| row.id))
        })
        .await
    }

    pub async fn find_user(&self, actor: Actor, id: Uuid) -> Result<UserRow, DbError> {
        self.run(move |conn| {
            Ok(users::table.find((actor.organization_id, id)).select(UserRow::as_select()).first(conn)?)
        })
        .await
    }

    /// Applies `changes`; deactivating a person also revokes their refresh tokens.
    pub async fn update_user(&self, actor: Actor, id: Uuid, changes: UserChanges) -> Result<UserRow, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let key = (actor.organization_id, id);
                let current: UserRow = users::table.find(key).select(UserRow::as_select()).for_update().first(conn)?;
                let role = changes.role.unwrap_or(current.role);
                let active = changes.active.unwrap_or(current.active);
                let display_name = changes.display_name.unwrap_or(current.display_name.clone());
                let external_id = changes.external_id.unwrap_or(current.external_id.clone());
                let row: UserRow = diesel::update(users::table.find(key))
                    .set((
                        users::role.eq(role.as_str()),
                        users::active.eq(active),
                        users::display_name.eq(display_name),
                        users::external_id.eq(external_id),
                        users::updated_at.eq(diesel::dsl::now),
                    ))
                    .returning(UserRow::as_returning())
                    .get_result(conn)?;
                if let Some(hash) = changes.password_hash {
                    diesel::update(users::table.find(key)).set(users::password_hash.eq(hash)).execute(conn)?;
                }
                let deactivated = current.active && !active;
                if deactivated || changes.role.is_some_and(|r| r != current.role) {
                    revoke_refresh_tokens(conn, actor.organization_id, id)?;
                }
                actor.record(
                    conn,
                    "user.update",
                    "user",
                    Some(id),
                    serde_json::json!({ "role": role.as_str(), "active": active, "deactivated": deactivated }),
                )?;
                Ok(row)
            })
        })
        .await
    }

    /// Finds the person or service account that logs in as `login`.
    pub async fn login_credentials(&self, login: String) -> Result<Option<LoginCredentials>, DbError> {
        self.run(move |conn| {
            let Some((organization_id, principal_id, kind)) = login_names::table
                .find(&login)
                .select((login_names::organization_id, login_names::principal_id, login_names::kind))
                .first::<(Uuid, Uuid, String)>(conn)
                .optional()?
            else {
                return Ok(None);
            };
            let (kind, found) = if kind == "user" {
                let found = users::table
                    .find((organization_id, principal_id))
                    .select((users::role, users::active, users::password_hash))
                    .first::<(String, bool, Option<String>)>(conn)
                    .optional()?;
                (PrincipalKind::User, found)
            } else {
                let found = service_accounts::table
                    .find((organization_id, principal_id))
                    .select((
                        service_accounts::role,
                        service_accounts::active,
                        service_accounts::secret_hash.nullable(),
                    ))
                    .first::<(String, bool, Option<String>)>(conn)
                    .optional()?;
                (PrincipalKind::ServiceAccount, found)
            };
            let Some((role, active, secret_hash)) = found else { return Ok(None) };
            Ok(Some(LoginCredentials {
                organization_id,
                principal_id,
                kind,
                role: role_of(&role)?,
                active,
                secret_hash,
            }))
        })
        .await
    }

    /// The current role and whether the person, service account or (for `client` tokens) form
    /// request may act at all.
    pub async fn principal_status(
        &self,
        organization_id: Uuid,
        id: Uuid,
        claimed: Role,
    ) -> Result<Option<(Role, bool)>, DbError> {
        self.run(move |conn| {
            if claimed == Role::Client {
                return Ok(Some((Role::Client, super::form_requests::is_live(conn, organization_id, id)?)));
            }
            let user = users::table
                .find((organization_id, id))
                .select((users::role, users::active))
                .first::<(String, bool)>(conn)
                .optional()?;
            let found = match user {
                Some(found) => Some(found),
                None => service_accounts::table
                    .find((organization_id, id))
                    .select((service_accounts::role, service_accounts::active))
                    .first::<(String, bool)>(conn)
                    .optional()?,
            };
            found.map(|(role, active)| Ok((role_of(&role)?, active))).transpose()
        })
        .await
    }
}

pub(super) fn revoke_refresh_tokens(
    conn: &mut PgConnection,
    organization_id: Uuid,
    user_id: Uuid,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::organization_id.eq(organization_id))
            .filter(refresh_tokens::user_id.eq(user_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(diesel::dsl::now))
    .execute(conn)?)
}
