DROP TABLE client_assertions;
ALTER TABLE service_accounts DROP CONSTRAINT service_accounts_one_key_source, DROP COLUMN jwks_url, DROP COLUMN jwks;
DROP INDEX sessions_by_external_id;
ALTER TABLE sessions DROP COLUMN external_id;
DROP INDEX responses_by_identifier;
ALTER TABLE responses DROP CONSTRAINT responses_identifier_length, DROP CONSTRAINT responses_identifier_whole,
    DROP COLUMN identifier_value, DROP COLUMN identifier_system;
