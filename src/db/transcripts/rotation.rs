//! Key rotation for kept transcript text (docs/security.md, section 15).

use crate::db::schema::session_transcripts;
use crate::db::{Database, DbError};
use diesel::prelude::*;
use uuid::Uuid;

/// A kept text as stored: session, version, key id, sealed bytes.
type KeptText = (Uuid, i32, Option<String>, Option<Vec<u8>>);

impl Database {
    /// Key rotation: seals again, under the current key, every kept text sealed under another.
    /// `reseal(organization, session, version, key id, sealed)` returns the new key id and bytes,
    /// or `None` when the text does not open (counted, left as it is). Returns (resealed, not opened).
    pub async fn reseal_transcripts(
        &self,
        current_key: String,
        reseal: impl Fn(Uuid, Uuid, i32, &str, &[u8]) -> Option<(String, Vec<u8>)> + Send + 'static,
    ) -> Result<(usize, usize), DbError> {
        use crate::db::schema::organizations;
        self.run(move |conn| {
            let (mut resealed, mut unopened) = (0usize, 0usize);
            let organization_ids: Vec<Uuid> = organizations::table.select(organizations::id).load(conn)?;
            for org in organization_ids {
                let mut after = Uuid::nil();
                loop {
                    let batch: Vec<KeptText> = session_transcripts::table
                        .filter(session_transcripts::organization_id.eq(org))
                        .filter(session_transcripts::session_id.gt(after))
                        .filter(session_transcripts::text_key_id.ne(&current_key))
                        .order(session_transcripts::session_id.asc())
                        .limit(200)
                        .select((
                            session_transcripts::session_id,
                            session_transcripts::version,
                            session_transcripts::text_key_id,
                            session_transcripts::text_sealed,
                        ))
                        .load(conn)?;
                    let Some(last) = batch.last() else { break };
                    after = last.0;
                    for (session_id, version, key_id, sealed) in batch {
                        let (Some(key_id), Some(sealed)) = (key_id, sealed) else { continue };
                        let Some((new_key, new_sealed)) = reseal(org, session_id, version, &key_id, &sealed) else {
                            unopened = unopened.saturating_add(1);
                            continue;
                        };
                        // Only if no upload replaced it meanwhile (same version, same key).
                        let updated = diesel::update(
                            session_transcripts::table
                                .filter(session_transcripts::organization_id.eq(org))
                                .filter(session_transcripts::session_id.eq(session_id))
                                .filter(session_transcripts::version.eq(version))
                                .filter(session_transcripts::text_key_id.eq(&key_id)),
                        )
                        .set((
                            session_transcripts::text_key_id.eq(new_key),
                            session_transcripts::text_sealed.eq(new_sealed),
                        ))
                        .execute(conn)?;
                        resealed = resealed.saturating_add(updated);
                    }
                }
            }
            Ok((resealed, unopened))
        })
        .await
    }
}
