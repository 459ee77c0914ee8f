-- The core schema. Rule for every tenant table: `organization_id` leads its primary key and
-- every foreign key, so the schema can be distributed by organization (Citus) with
-- co-located joins. tests/api/schema_rules.rs checks this against information_schema.

CREATE TABLE organizations (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    id              uuid NOT NULL,
    email           text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    display_name    text CHECK (char_length(display_name) <= 200),
    role            text NOT NULL CHECK (role IN ('admin', 'supervisor', 'clinician', 'integration', 'analyst')),
    external_id     text CHECK (char_length(external_id) BETWEEN 1 AND 128),
    password_hash   text,
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    UNIQUE (organization_id, email),
    UNIQUE (organization_id, external_id)
);

CREATE TABLE clients (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    id              uuid NOT NULL,
    external_id     text NOT NULL CHECK (char_length(external_id) BETWEEN 1 AND 128),
    age_group       text NOT NULL CHECK (age_group IN ('adult', 'adolescent', 'child')),
    display_name    text CHECK (char_length(display_name) <= 200),
    birth_year      integer CHECK (birth_year BETWEEN 1900 AND 2200),
    attributes      jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(attributes) = 'object'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    UNIQUE (organization_id, external_id)
);

CREATE TABLE episodes (
    organization_id uuid NOT NULL,
    id              uuid NOT NULL,
    client_id       uuid NOT NULL,
    clinician_id    uuid NOT NULL,
    started_on      date NOT NULL,
    ended_on        date CHECK (ended_on IS NULL OR ended_on >= started_on),
    program         text CHECK (char_length(program) BETWEEN 1 AND 100),
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'closed')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, client_id) REFERENCES clients (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, clinician_id) REFERENCES users (organization_id, id)
);
CREATE INDEX episodes_by_client ON episodes (organization_id, client_id);
CREATE INDEX episodes_by_clinician ON episodes (organization_id, clinician_id, started_on);

CREATE TABLE sessions (
    organization_id uuid NOT NULL,
    id              uuid NOT NULL,
    episode_id      uuid NOT NULL,
    number          integer NOT NULL CHECK (number BETWEEN 1 AND 10000),
    occurred_at     timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    UNIQUE (organization_id, episode_id, number),
    FOREIGN KEY (organization_id, episode_id) REFERENCES episodes (organization_id, id) ON DELETE CASCADE
);

-- Built-in instruments are installed into every organization, so a response's instrument
-- version is always a row of its own organization (co-located, and org texts attach to it).
CREATE TABLE instruments (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    id              uuid NOT NULL,
    key             text NOT NULL CHECK (key ~ '^[a-z0-9][a-z0-9-]{0,63}$'),
    name            text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    builtin         boolean NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    UNIQUE (organization_id, key)
);

CREATE TABLE instrument_versions (
    organization_id uuid NOT NULL,
    id              uuid NOT NULL,
    instrument_id   uuid NOT NULL,
    version         integer NOT NULL CHECK (version >= 1),
    definition      jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    UNIQUE (organization_id, instrument_id, version),
    FOREIGN KEY (organization_id, instrument_id) REFERENCES instruments (organization_id, id)
);

CREATE TABLE responses (
    organization_id       uuid NOT NULL,
    id                    uuid NOT NULL,
    instrument_version_id uuid NOT NULL,
    client_id             uuid NOT NULL,
    episode_id            uuid NOT NULL,
    session_id            uuid,
    rater                 text NOT NULL CHECK (rater IN ('client', 'therapist', 'collateral')),
    administered_at       timestamptz NOT NULL,
    -- VAS answers are stored as integer tenths, Likert answers as integers: never binary floats.
    answers               jsonb NOT NULL CHECK (jsonb_typeof(answers) = 'object'),
    scores                jsonb NOT NULL CHECK (jsonb_typeof(scores) = 'object'),
    comment               text CHECK (char_length(comment) <= 4000),
    submitted_by          uuid,
    voided_at             timestamptz,
    void_reason           text CHECK (char_length(void_reason) <= 1000),
    created_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, instrument_version_id) REFERENCES instrument_versions (organization_id, id),
    FOREIGN KEY (organization_id, client_id) REFERENCES clients (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, episode_id) REFERENCES episodes (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, session_id) REFERENCES sessions (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX responses_by_episode ON responses (organization_id, episode_id, administered_at);
CREATE INDEX responses_by_client ON responses (organization_id, client_id, administered_at);

-- The audit log outlives what it describes (erasure leaves the record of the erasure), so it
-- has no foreign keys; events that belong to no organization (a failed login for an unknown
-- address) use the nil UUID.
CREATE TABLE audit_events (
    organization_id uuid NOT NULL,
    id              uuid NOT NULL,
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    actor_id        uuid,
    actor_role      text,
    action          text NOT NULL,
    resource_type   text NOT NULL,
    resource_id     uuid,
    request_id      text,
    outcome         text NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    detail          jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (organization_id, id)
);
CREATE INDEX audit_events_by_time ON audit_events (organization_id, occurred_at DESC, id DESC);

CREATE FUNCTION audit_events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_events_refuse_update_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_are_append_only();

CREATE TRIGGER audit_events_refuse_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_are_append_only();
