//! Service accounts: EHR integrations and analytics pipelines that authenticate with a client
//! id and secret.

use super::audit::Actor;
use super::page::{Page, PageRequest};
use super::schema::{login_names, service_accounts};
use super::{Database, DbError};
use crate::domain::Role;
use chrono::{DateTime, Utc};
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
}

pub struct NewServiceAccount {
    pub name: String,
    pub role: Role,
    pub client_id: String,
    pub secret_hash: String,
}

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
                        service_accounts::secret_hash.eq(&new.secret_hash),
                        service_accounts::created_by.eq(actor.id),
                    ))
                    .returning(ServiceAccountRow::as_returning())
                    .get_result(conn)?;
                actor.record(conn, "service_account.create", "service_account", Some(id), serde_json::json!({}))?;
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
