//! Appending audit events. The table refuses UPDATE and DELETE (a trigger), so this module
//! only ever inserts; callers pass the same connection as the change they audit, inside its
//! transaction.

use super::page::{Page, PageRequest};
use super::schema::audit_events;
use super::{Database, DbError};
use crate::domain::Role;
use crate::domain::time::Timestamp;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

/// Who is acting, for scoping queries and writing audit events.
#[derive(Clone, Debug)]
pub struct Actor {
    pub organization_id: Uuid,
    pub id: Uuid,
    pub role: Role,
    pub request_id: String,
}

impl Actor {
    pub fn event<'a>(
        &'a self,
        action: &'a str,
        resource_type: &'a str,
        resource_id: Option<Uuid>,
        detail: serde_json::Value,
    ) -> NewAuditEvent<'a> {
        NewAuditEvent {
            organization_id: self.organization_id,
            actor_id: Some(self.id),
            actor_role: Some(self.role.as_str()),
            action,
            resource_type,
            resource_id,
            request_id: Some(&self.request_id),
            outcome: Outcome::Success,
            detail,
        }
    }

    /// Appends a successful event of this actor.
    pub fn record(
        &self,
        conn: &mut PgConnection,
        action: &str,
        resource_type: &str,
        resource_id: Option<Uuid>,
        detail: serde_json::Value,
    ) -> Result<(), DbError> {
        append(conn, self.event(action, resource_type, resource_id, detail)).map(|_| ())
    }
}

/// Organization id used for events that belong to no organization.
pub const NO_ORGANIZATION: Uuid = Uuid::nil();

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

/// One event to append. `detail` must not hold PHI or secrets: ids and counts only.
#[derive(Debug, Clone)]
pub struct NewAuditEvent<'a> {
    pub organization_id: Uuid,
    pub actor_id: Option<Uuid>,
    pub actor_role: Option<&'a str>,
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: Option<Uuid>,
    pub request_id: Option<&'a str>,
    pub outcome: Outcome,
    pub detail: serde_json::Value,
}

pub fn append(conn: &mut PgConnection, event: NewAuditEvent<'_>) -> Result<Uuid, DbError> {
    let id = Uuid::now_v7();
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::organization_id.eq(event.organization_id),
            audit_events::id.eq(id),
            audit_events::actor_id.eq(event.actor_id),
            audit_events::actor_role.eq(event.actor_role),
            audit_events::action.eq(event.action),
            audit_events::resource_type.eq(event.resource_type),
            audit_events::resource_id.eq(event.resource_id),
            audit_events::request_id.eq(event.request_id),
            audit_events::outcome.eq(event.outcome.as_str()),
            audit_events::detail.eq(event.detail),
        ))
        .execute(conn)?;
    Ok(id)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events, check_for_backend(diesel::pg::Pg))]
pub struct AuditEventRow {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor_role: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<Uuid>,
    pub request_id: Option<String>,
    pub outcome: String,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor_id: Option<Uuid>,
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<Uuid>,
    pub outcome: Option<Outcome>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

impl Database {
    /// The organization's audit events, newest first.
    pub async fn list_audit_events(
        &self,
        actor: Actor,
        filter: AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEventRow>, DbError> {
        self.run(move |conn| {
            let mut query = audit_events::table
                .filter(audit_events::organization_id.eq(actor.organization_id))
                .select(AuditEventRow::as_select())
                .order(audit_events::id.desc())
                .limit(page.limit + 1)
                .into_boxed();
            if let Some(after) = page.after {
                query = query.filter(audit_events::id.lt(after));
            }
            if let Some(actor_id) = filter.actor_id {
                query = query.filter(audit_events::actor_id.eq(actor_id));
            }
            if let Some(action) = filter.action {
                query = query.filter(audit_events::action.eq(action));
            }
            if let Some(resource_type) = filter.resource_type {
                query = query.filter(audit_events::resource_type.eq(resource_type));
            }
            if let Some(resource_id) = filter.resource_id {
                query = query.filter(audit_events::resource_id.eq(resource_id));
            }
            if let Some(outcome) = filter.outcome {
                query = query.filter(audit_events::outcome.eq(outcome.as_str()));
            }
            if let Some(from) = filter.from {
                query = query.filter(audit_events::occurred_at.ge(from.get()));
            }
            if let Some(to) = filter.to {
                query = query.filter(audit_events::occurred_at.lt(to.get()));
            }
            let rows = query.load(conn)?;
            Ok(Page::from_rows(rows, page.limit, |row| row.id))
        })
        .await
    }
}
