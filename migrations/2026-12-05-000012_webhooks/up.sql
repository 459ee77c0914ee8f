-- Webhooks: an organization's subscriptions, the outbox of events, and one delivery per event
-- and subscription (docs/integration.md, "Webhooks").

CREATE TABLE webhooks (
    organization_id       uuid NOT NULL REFERENCES organizations (id),
    id                    uuid NOT NULL,
    url                   text NOT NULL CHECK (char_length(url) BETWEEN 1 AND 2048),
    event_types           text[] NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 4),
    description           text CHECK (char_length(description) BETWEEN 1 AND 200),
    -- Standard Webhooks secrets (`whsec_` + base64 of 32 random bytes). The HMAC needs the
    -- secret itself, so it is stored as such; the API shows it once.
    secret                text NOT NULL,
    -- After a rotation the previous secret also signs until `previous_secret_until`.
    previous_secret       text,
    previous_secret_until timestamptz,
    active                boolean NOT NULL DEFAULT true,
    disabled_reason       text CHECK (char_length(disabled_reason) <= 200),
    created_by            uuid,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT webhooks_previous_secret_whole CHECK ((previous_secret IS NULL) = (previous_secret_until IS NULL))
);

-- The outbox: an event row is written in the transaction of the change that causes it, so it
-- exists if and only if that change committed. `xact` is the writing transaction's id: the
-- dispatcher delivers an event only once every transaction that began before it has ended, so
-- an event never overtakes an earlier one that was still being written.
CREATE TABLE webhook_events (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    id              uuid NOT NULL,
    event_type      text NOT NULL CHECK (event_type IN ('response.created', 'response.voided', 'signal.created', 'signal.updated', 'webhook.ping')),
    -- The client the event is about, so erasure can remove it (NULL for a ping).
    client_id       uuid,
    payload         jsonb NOT NULL,
    xact            xid8 NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id)
);
CREATE INDEX webhook_events_by_client ON webhook_events (organization_id, client_id) WHERE client_id IS NOT NULL;

CREATE TABLE webhook_deliveries (
    organization_id uuid NOT NULL,
    id              uuid NOT NULL,
    webhook_id      uuid NOT NULL,
    event_id        uuid NOT NULL,
    xact            xid8 NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- A dispatcher holds a delivery until then while it sends it; another may take it after.
    claimed_until   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, webhook_id) REFERENCES webhooks (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, event_id) REFERENCES webhook_events (organization_id, id) ON DELETE CASCADE,
    UNIQUE (organization_id, webhook_id, event_id)
);
-- The head of each subscription's queue: one index entry per subscription, however long the
-- backlog.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (organization_id, webhook_id, xact, event_id) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_listed ON webhook_deliveries (organization_id, webhook_id, id);

CREATE TABLE webhook_attempts (
    organization_id uuid NOT NULL,
    delivery_id     uuid NOT NULL,
    attempt         integer NOT NULL CHECK (attempt >= 1),
    started_at      timestamptz NOT NULL,
    duration_ms     integer NOT NULL CHECK (duration_ms >= 0),
    -- The receiver's HTTP status, or NULL when there was none (timeout, refused connection).
    status_code     integer CHECK (status_code BETWEEN 100 AND 599),
    error           text CHECK (char_length(error) <= 300),
    PRIMARY KEY (organization_id, delivery_id, attempt),
    FOREIGN KEY (organization_id, delivery_id) REFERENCES webhook_deliveries (organization_id, id) ON DELETE CASCADE
);
