DROP INDEX idempotency_keys_by_age;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
DELETE FROM idempotency_keys a USING idempotency_keys b
WHERE a.organization_id = b.organization_id AND a.key = b.key AND a.principal_id < b.principal_id;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (organization_id, key);
ALTER TABLE idempotency_keys DROP COLUMN response_ids, DROP COLUMN principal_id;
