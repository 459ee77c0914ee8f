-- An Idempotency-Key belongs to the caller who sent it (a person, a service account or a
-- form-request token), not to the whole organization: another caller's key is another key,
-- and a replay returns the stored answer only to its own caller, after the access checks a
-- fresh request passes. The responses a stored answer holds are listed, so erasing a client
-- can remove the stored answers that carry their data.
--
-- Keys stored before this migration are given the nil principal, which no caller has: they can
-- no longer be replayed, and expire as before.
ALTER TABLE idempotency_keys
    ADD COLUMN principal_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    ADD COLUMN response_ids uuid[] NOT NULL DEFAULT '{}';
ALTER TABLE idempotency_keys ALTER COLUMN principal_id DROP DEFAULT;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (organization_id, principal_id, key);
