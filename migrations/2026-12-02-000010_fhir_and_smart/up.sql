-- FHIR conditional create: a QuestionnaireResponse's business identifier (system and value)
-- names at most one response per organization. The unique index decides under concurrency,
-- never a search first. A missing system is stored as '' so that two identifiers without one
-- still collide (NULLs would not).
ALTER TABLE responses
    ADD COLUMN identifier_system text,
    ADD COLUMN identifier_value  text,
    ADD CONSTRAINT responses_identifier_whole
        CHECK ((identifier_system IS NULL) = (identifier_value IS NULL)),
    ADD CONSTRAINT responses_identifier_length
        CHECK (char_length(identifier_system) <= 1024 AND char_length(identifier_value) BETWEEN 1 AND 1024);
CREATE UNIQUE INDEX responses_by_identifier ON responses (organization_id, identifier_system, identifier_value);

-- An EHR names a session by its encounter identifier.
ALTER TABLE sessions
    ADD COLUMN external_id text CHECK (char_length(external_id) BETWEEN 1 AND 255);
CREATE UNIQUE INDEX sessions_by_external_id ON sessions (organization_id, external_id);

-- SMART Backend Services: a service account may authenticate with a JWT signed by a key of
-- its registered JSON Web Key Set (inline, or fetched from a URL).
ALTER TABLE service_accounts
    ADD COLUMN jwks     jsonb,
    ADD COLUMN jwks_url text CHECK (char_length(jwks_url) BETWEEN 1 AND 2048),
    ADD CONSTRAINT service_accounts_one_key_source CHECK (jwks IS NULL OR jwks_url IS NULL);

-- Every client assertion's `jti` is used once: the primary key refuses a replay. Rows are
-- kept until the assertion expires, when it could no longer be replayed anyway.
CREATE TABLE client_assertions (
    organization_id    uuid NOT NULL,
    service_account_id uuid NOT NULL,
    jti                text NOT NULL CHECK (char_length(jti) BETWEEN 1 AND 255),
    expires_at         timestamptz NOT NULL,
    PRIMARY KEY (organization_id, service_account_id, jti),
    FOREIGN KEY (organization_id, service_account_id) REFERENCES service_accounts (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX client_assertions_by_expiry ON client_assertions (organization_id, expires_at);
