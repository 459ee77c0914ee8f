-- Exports for pipelines (docs/integration.md, "Export" and "FHIR Bulk Data").

-- The transaction that last changed a response (its insert, or its void). An export hands out
-- a cursor below which every transaction has ended (the snapshot's xmin), so a row committed
-- later always carries a larger value and can never slip behind a cursor already given out.
ALTER TABLE responses ADD COLUMN change_xact xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX responses_by_change ON responses (organization_id, change_xact, id);

-- Per organization, the key of the pseudonyms analysts see in exports (HMAC-SHA256). Stable
-- across exports; without it a pseudonym cannot be traced back to a record.
CREATE TABLE organization_keys (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    pseudonym_key   bytea NOT NULL CHECK (octet_length(pseudonym_key) = 32),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id)
);

-- FHIR Bulk Data export jobs. Kept in the database so they survive a restart and any replica
-- can run them or serve their files.
CREATE TABLE bulk_exports (
    organization_id  uuid NOT NULL REFERENCES organizations (id),
    id               uuid NOT NULL,
    requested_by     uuid NOT NULL,
    requester_role   text NOT NULL,
    level            text NOT NULL CHECK (level IN ('system', 'patient')),
    resource_types   text[] NOT NULL CHECK (cardinality(resource_types) BETWEEN 1 AND 3),
    since            timestamptz,
    request_url      text NOT NULL CHECK (char_length(request_url) <= 4096),
    status           text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    progress         text CHECK (char_length(progress) <= 100),
    error            text CHECK (char_length(error) <= 500),
    -- The instant the export's data reflects (the Bulk Data manifest's `transactionTime`).
    transaction_time timestamptz,
    -- A replica runs a job until then; another may take it over after (a crash mid-run).
    claimed_until    timestamptz,
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    expires_at       timestamptz,
    PRIMARY KEY (organization_id, id)
);
CREATE INDEX bulk_exports_waiting ON bulk_exports (created_at) WHERE status IN ('queued', 'running');
CREATE INDEX bulk_exports_expiring ON bulk_exports (expires_at) WHERE expires_at IS NOT NULL;

-- The NDJSON output files of a job, each at most a bounded number of resources.
CREATE TABLE bulk_export_files (
    organization_id uuid NOT NULL,
    export_id       uuid NOT NULL,
    id              uuid NOT NULL,
    resource_type   text NOT NULL CHECK (resource_type IN ('Patient', 'QuestionnaireResponse', 'Observation')),
    part            integer NOT NULL CHECK (part >= 1),
    resources       integer NOT NULL CHECK (resources >= 0),
    content         bytea NOT NULL,
    PRIMARY KEY (organization_id, id),
    UNIQUE (organization_id, export_id, resource_type, part),
    FOREIGN KEY (organization_id, export_id) REFERENCES bulk_exports (organization_id, id) ON DELETE CASCADE
);
