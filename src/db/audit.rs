//! Appending audit events. The table refuses UPDATE and DELETE (a trigger), so this module
//! only ever inserts; callers pass the same connection as the change they audit, inside its
//! transaction.

use super::DbError;
use super::schema::audit_events;
use diesel::prelude::*;
use uuid::Uuid;

/// Organization id used for events that belong to no organization.
pub const NO_ORGANIZATION: Uuid = Uuid::nil();

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    fn as_str(self) -> &'static str {
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
