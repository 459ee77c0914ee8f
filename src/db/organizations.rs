//! Organizations and their first admin.

use super::audit::{self, NewAuditEvent, Outcome};
use super::schema::{login_names, organizations, users};
use super::{Database, DbError};
use crate::domain::people::{EmailAddress, OrganizationName};
use diesel::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreatedOrganization {
    pub organization_id: Uuid,
    pub admin_user_id: Uuid,
}

impl Database {
    /// Creates an organization and its first admin (with an already-hashed password) in one
    /// transaction, with the audit event of the creation.
    pub async fn create_organization(
        &self,
        name: OrganizationName,
        admin_email: EmailAddress,
        admin_password_hash: String,
    ) -> Result<CreatedOrganization, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let organization_id = Uuid::now_v7();
                let admin_user_id = Uuid::now_v7();
                diesel::insert_into(organizations::table)
                    .values((organizations::id.eq(organization_id), organizations::name.eq(name.as_str())))
                    .execute(conn)?;
                diesel::insert_into(login_names::table)
                    .values((
                        login_names::login.eq(admin_email.as_str()),
                        login_names::organization_id.eq(organization_id),
                        login_names::principal_id.eq(admin_user_id),
                        login_names::kind.eq("user"),
                    ))
                    .execute(conn)?;
                diesel::insert_into(users::table)
                    .values((
                        users::organization_id.eq(organization_id),
                        users::id.eq(admin_user_id),
                        users::email.eq(admin_email.as_str()),
                        users::role.eq("admin"),
                        users::password_hash.eq(admin_password_hash),
                    ))
                    .execute(conn)?;
                audit::append(
                    conn,
                    NewAuditEvent {
                        organization_id,
                        actor_id: None,
                        actor_role: Some("system"),
                        action: "organization.create",
                        resource_type: "organization",
                        resource_id: Some(organization_id),
                        request_id: None,
                        outcome: Outcome::Success,
                        detail: serde_json::json!({ "admin_user_id": admin_user_id }),
                    },
                )?;
                super::instruments::install_builtins(conn, organization_id)?;
                Ok(CreatedOrganization { organization_id, admin_user_id })
            })
        })
        .await
    }
}
