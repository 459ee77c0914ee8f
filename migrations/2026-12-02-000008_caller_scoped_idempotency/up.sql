-- An Idempotency-Key belongs to the caller who sent it (a person, a service account or a
-- form-request token), not to the whole organization: another caller's key is another key,
-- and a replay returns the stored answer only to its own caller, after the access checks a
-- fresh request passes. The responses a stored answer holds are listed, so erasing a client
-- can remove the stored answers that carry their data, and answers older than the replay
-- window are purged by the service (the index on their age).
--
-- Keys stored before this change belong to no caller we could name: they could never be
-- replayed again, and their stored answers repeat clients' answers and comments, so they go.
DELETE FROM idempotency_keys;
ALTER TABLE idempotency_keys
    ADD COLUMN principal_id uuid NOT NULL,
    ADD COLUMN response_ids uuid[] NOT NULL DEFAULT '{}';
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (organization_id, principal_id, key);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (organization_id, created_at);
