-- Feedback forms: organization texts for instruments, versioned settings, scored responses,
-- signals, idempotency keys and form requests for clients' apps.

CREATE TABLE instrument_texts (
    organization_id uuid NOT NULL,
    instrument_id   uuid NOT NULL,
    locale          text NOT NULL CHECK (locale ~ '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$'),
    texts           jsonb NOT NULL CHECK (jsonb_typeof(texts) = 'object'),
    updated_by      uuid,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, instrument_id, locale),
    FOREIGN KEY (organization_id, instrument_id) REFERENCES instruments (organization_id, id)
);

CREATE TABLE organization_settings (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    version         integer NOT NULL CHECK (version >= 1),
    settings        jsonb NOT NULL CHECK (jsonb_typeof(settings) = 'object'),
    created_by      uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, version)
);

-- Version 0 means the documented defaults (no row).
ALTER TABLE responses
    ADD COLUMN instrument_key text NOT NULL DEFAULT '',
    ADD COLUMN settings_version integer NOT NULL DEFAULT 0,
    -- The total in hundredths (exact for VAS tenths and Likert units), for analytics.
    ADD COLUMN total_hundredths integer NOT NULL DEFAULT 0,
    ADD COLUMN clinician_id uuid;
ALTER TABLE responses ALTER COLUMN instrument_key DROP DEFAULT;
COMMENT ON COLUMN responses.answers IS
    'item id → answer in units of the item''s scale: tenths for VAS (91 = 9.1), units for Likert';

DROP INDEX responses_by_episode;
CREATE INDEX responses_series ON responses (organization_id, episode_id, instrument_key, administered_at, id)
    WHERE voided_at IS NULL;
CREATE INDEX responses_by_session ON responses (organization_id, session_id) WHERE session_id IS NOT NULL;
CREATE INDEX responses_by_time ON responses (organization_id, administered_at, id);

CREATE TABLE signals (
    organization_id  uuid NOT NULL,
    id               uuid NOT NULL,
    kind             text NOT NULL,
    severity         text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    client_id        uuid NOT NULL,
    episode_id       uuid NOT NULL,
    session_id       uuid,
    clinician_id     uuid NOT NULL,
    response_id      uuid NOT NULL,
    instrument_key   text NOT NULL,
    response_ids     uuid[] NOT NULL,
    evidence         jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'resolved')),
    acknowledged_by  uuid,
    acknowledged_at  timestamptz,
    resolved_by      uuid,
    resolved_at      timestamptz,
    resolution_note  text CHECK (char_length(resolution_note) <= 2000),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    -- One signal per kind per triggering response.
    UNIQUE (organization_id, response_id, kind),
    FOREIGN KEY (organization_id, response_id) REFERENCES responses (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, client_id) REFERENCES clients (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, episode_id) REFERENCES episodes (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX signals_by_episode ON signals (organization_id, episode_id, instrument_key, kind);
CREATE INDEX signals_by_status ON signals (organization_id, status, id);

-- Idempotency-Key: the unique key enforces "one first request"; the stored answer replays it.
CREATE TABLE idempotency_keys (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    key             text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
    request_hash    text NOT NULL,
    status_code     integer,
    response_body   jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, key)
);

CREATE TABLE form_requests (
    organization_id uuid NOT NULL,
    id              uuid NOT NULL,
    session_id      uuid NOT NULL,
    episode_id      uuid NOT NULL,
    client_id       uuid NOT NULL,
    created_by      uuid NOT NULL,
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, session_id) REFERENCES sessions (organization_id, id) ON DELETE CASCADE
);

CREATE TABLE form_request_items (
    organization_id uuid NOT NULL,
    form_request_id uuid NOT NULL,
    instrument_key  text NOT NULL,
    response_id     uuid,
    PRIMARY KEY (organization_id, form_request_id, instrument_key),
    FOREIGN KEY (organization_id, form_request_id) REFERENCES form_requests (organization_id, id) ON DELETE CASCADE
);
