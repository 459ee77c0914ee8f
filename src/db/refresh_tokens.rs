//! Refresh-token families: issue on login, rotate on use, revoke the family on reuse.
//! Every outcome is audited in the same transaction.

use super::audit::{self, NewAuditEvent, Outcome};
use super::schema::{refresh_tokens, users};
use super::users::role_of;
use super::{Database, DbError};
use crate::auth::refresh::RefreshToken;
use crate::domain::Role;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use std::time::Duration;
use uuid::Uuid;

/// What presenting a refresh token led to.
#[derive(Debug)]
pub enum Rotation {
    /// The token was live: here is its successor, for this person and role.
    Rotated { user_id: Uuid, role: Role, successor: RefreshToken },
    /// Unknown, expired, or its person is inactive.
    Refused,
    /// Already used or revoked: the whole family is now revoked.
    Reused,
}

fn insert(
    conn: &mut PgConnection,
    token: &RefreshToken,
    family_id: Uuid,
    user_id: Uuid,
    ttl: Duration,
) -> Result<(), DbError> {
    let expires_at = Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(30));
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::organization_id.eq(token.organization_id),
            refresh_tokens::id.eq(token.id),
            refresh_tokens::family_id.eq(family_id),
            refresh_tokens::user_id.eq(user_id),
            refresh_tokens::secret_hash.eq(token.secret_hash()),
            refresh_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

fn token_event<'a>(
    organization_id: Uuid,
    user_id: Option<Uuid>,
    role: Option<&'a str>,
    action: &'a str,
    request_id: &'a str,
    outcome: Outcome,
    detail: serde_json::Value,
) -> NewAuditEvent<'a> {
    NewAuditEvent {
        organization_id,
        actor_id: user_id,
        actor_role: role,
        action,
        resource_type: "user",
        resource_id: user_id,
        request_id: Some(request_id),
        outcome,
        detail,
    }
}

impl Database {
    /// Starts a new family for a successful password login and audits the login.
    pub async fn start_refresh_family(
        &self,
        organization_id: Uuid,
        user_id: Uuid,
        role: Role,
        ttl: Duration,
        request_id: String,
    ) -> Result<RefreshToken, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let token = RefreshToken::generate(organization_id);
                insert(conn, &token, Uuid::now_v7(), user_id, ttl)?;
                audit::append(
                    conn,
                    token_event(
                        organization_id,
                        Some(user_id),
                        Some(role.as_str()),
                        "auth.login",
                        &request_id,
                        Outcome::Success,
                        serde_json::json!({ "grant_type": "password" }),
                    ),
                )?;
                Ok(token)
            })
        })
        .await
    }

    /// Rotates `presented`. A used or revoked token revokes its family (and that is committed
    /// even though the caller is refused).
    pub async fn rotate_refresh_token(
        &self,
        presented: RefreshToken,
        ttl: Duration,
        request_id: String,
    ) -> Result<Rotation, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let org = presented.organization_id;
                let row = refresh_tokens::table
                    .find((org, presented.id))
                    .select((
                        refresh_tokens::family_id,
                        refresh_tokens::user_id,
                        refresh_tokens::secret_hash,
                        refresh_tokens::expires_at,
                        refresh_tokens::used_at,
                        refresh_tokens::revoked_at,
                    ))
                    .for_update()
                    .first::<(Uuid, Uuid, String, DateTime<Utc>, Option<DateTime<Utc>>, Option<DateTime<Utc>>)>(conn)
                    .optional()?;
                let Some((family_id, user_id, hash, expires_at, used_at, revoked_at)) = row else {
                    return Ok(Rotation::Refused);
                };
                if !presented.matches(&hash) {
                    return Ok(Rotation::Refused);
                }
                let fail = |conn: &mut PgConnection, reason: &str| {
                    audit::append(
                        conn,
                        token_event(
                            org,
                            Some(user_id),
                            None,
                            "auth.refresh",
                            &request_id,
                            Outcome::Failure,
                            serde_json::json!({ "reason": reason, "family_id": family_id }),
                        ),
                    )
                };
                if used_at.is_some() || revoked_at.is_some() {
                    diesel::update(
                        refresh_tokens::table
                            .filter(refresh_tokens::organization_id.eq(org))
                            .filter(refresh_tokens::family_id.eq(family_id))
                            .filter(refresh_tokens::revoked_at.is_null()),
                    )
                    .set(refresh_tokens::revoked_at.eq(diesel::dsl::now))
                    .execute(conn)?;
                    fail(conn, "reused; family revoked")?;
                    return Ok(Rotation::Reused);
                }
                let user = users::table
                    .find((org, user_id))
                    .select((users::role, users::active))
                    .first::<(String, bool)>(conn)?;
                if expires_at <= Utc::now() || !user.1 {
                    fail(conn, if user.1 { "expired" } else { "inactive user" })?;
                    return Ok(Rotation::Refused);
                }
                diesel::update(refresh_tokens::table.find((org, presented.id)))
                    .set(refresh_tokens::used_at.eq(diesel::dsl::now))
                    .execute(conn)?;
                let successor = RefreshToken::generate(org);
                insert(conn, &successor, family_id, user_id, ttl)?;
                let role = role_of(&user.0)?;
                audit::append(
                    conn,
                    token_event(
                        org,
                        Some(user_id),
                        Some(role.as_str()),
                        "auth.refresh",
                        &request_id,
                        Outcome::Success,
                        serde_json::json!({ "family_id": family_id }),
                    ),
                )?;
                Ok(Rotation::Rotated { user_id, role, successor })
            })
        })
        .await
    }

    /// Records an authentication event that changed nothing else (a failed login, a
    /// client-credentials grant).
    pub async fn record_authentication(&self, event: AuthenticationEvent) -> Result<(), DbError> {
        self.run(move |conn| {
            audit::append(
                conn,
                NewAuditEvent {
                    organization_id: event.organization_id.unwrap_or(audit::NO_ORGANIZATION),
                    actor_id: event.principal_id,
                    actor_role: event.role.map(Role::as_str),
                    action: event.action,
                    resource_type: "principal",
                    resource_id: event.principal_id,
                    request_id: Some(&event.request_id),
                    outcome: event.outcome,
                    detail: event.detail,
                },
            )
            .map(|_| ())
        })
        .await
    }
}

/// An authentication attempt, for the audit log. `None` ids: the login was unknown.
#[derive(Debug)]
pub struct AuthenticationEvent {
    pub organization_id: Option<Uuid>,
    pub principal_id: Option<Uuid>,
    pub role: Option<Role>,
    pub action: &'static str,
    pub outcome: Outcome,
    pub request_id: String,
    pub detail: serde_json::Value,
}
