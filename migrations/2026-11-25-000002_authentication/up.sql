-- Service accounts, global login names, refresh-token families.

CREATE TABLE service_accounts (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    id              uuid NOT NULL,
    name            text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    role            text NOT NULL CHECK (role IN ('integration', 'analyst')),
    secret_hash     text NOT NULL,
    active          boolean NOT NULL DEFAULT true,
    created_by      uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id)
);

-- A person logs in with an e-mail address alone and a service account with its client id, so
-- login names are unique across organizations. This small table is global (a reference table
-- under Citus); it is written in the same transaction as the user or service account.
CREATE TABLE login_names (
    login           text PRIMARY KEY CHECK (char_length(login) BETWEEN 1 AND 254),
    organization_id uuid NOT NULL,
    principal_id    uuid NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('user', 'service_account'))
);

INSERT INTO login_names (login, organization_id, principal_id, kind)
SELECT email, organization_id, id, 'user' FROM users
ON CONFLICT (login) DO NOTHING;

-- Rotation: each token works once; presenting a used one revokes its whole family.
CREATE TABLE refresh_tokens (
    organization_id uuid NOT NULL,
    id              uuid NOT NULL,
    family_id       uuid NOT NULL,
    user_id         uuid NOT NULL,
    secret_hash     text NOT NULL,
    issued_at       timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    revoked_at      timestamptz,
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, user_id) REFERENCES users (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (organization_id, family_id);
CREATE INDEX refresh_tokens_live_by_user ON refresh_tokens (organization_id, user_id) WHERE revoked_at IS NULL;

CREATE INDEX audit_events_by_resource ON audit_events (organization_id, resource_type, resource_id);
