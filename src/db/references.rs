//! Finding the client and session an EHR names by its own identifiers (a FHIR `subject`
//! Patient identifier is a client's `external_id`; an `encounter` identifier a session's).
//! Whether the caller may see them is decided where the response is stored.

use super::schema::{clients, sessions};
use super::{Database, DbError};
use diesel::prelude::*;
use uuid::Uuid;

impl Database {
    /// The ids of the client with `client_external_id` and the session with
    /// `session_external_id` in the organization, when given and found.
    pub async fn ids_by_external_id(
        &self,
        organization_id: Uuid,
        client_external_id: Option<String>,
        session_external_id: Option<String>,
    ) -> Result<(Option<Uuid>, Option<Uuid>), DbError> {
        self.run(move |conn| {
            let client = match client_external_id {
                Some(external_id) => clients::table
                    .filter(clients::organization_id.eq(organization_id))
                    .filter(clients::external_id.eq(external_id))
                    .select(clients::id)
                    .first::<Uuid>(conn)
                    .optional()?,
                None => None,
            };
            let session = match session_external_id {
                Some(external_id) => sessions::table
                    .filter(sessions::organization_id.eq(organization_id))
                    .filter(sessions::external_id.eq(external_id))
                    .select(sessions::id)
                    .first::<Uuid>(conn)
                    .optional()?,
                None => None,
            };
            Ok((client, session))
        })
        .await
    }
}
