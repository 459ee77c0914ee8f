-- Session transcripts read for alliance markers (docs/methodology.md, section 14). One row per
-- session: the latest analysis (re-uploading replaces it and counts the version up). The text
-- itself is kept only when the organization asks, sealed with an authenticated cipher under a
-- key named by `text_key_id` (docs/security.md, section 15).
CREATE TABLE session_transcripts (
    organization_id     uuid NOT NULL,
    session_id          uuid NOT NULL,
    episode_id          uuid NOT NULL,
    client_id           uuid NOT NULL,
    clinician_id        uuid NOT NULL,
    session_occurred_at timestamptz NOT NULL,
    version             integer NOT NULL CHECK (version >= 1),
    rules_version       text NOT NULL,
    settings_version    integer NOT NULL,
    language            text NOT NULL,
    analysis            jsonb NOT NULL,
    metrics             jsonb NOT NULL,
    text_key_id         text,
    text_sealed         bytea,
    uploaded_by         uuid NOT NULL,
    uploaded_at         timestamptz NOT NULL DEFAULT now(),
    CHECK ((text_key_id IS NULL) = (text_sealed IS NULL)),
    PRIMARY KEY (organization_id, session_id),
    FOREIGN KEY (organization_id, session_id) REFERENCES sessions (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, episode_id) REFERENCES episodes (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, client_id) REFERENCES clients (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX session_transcripts_by_episode ON session_transcripts (organization_id, episode_id);
CREATE INDEX session_transcripts_by_clinician
    ON session_transcripts (organization_id, clinician_id, session_occurred_at);

-- A transcript signal belongs to a session, not to a response: one per kind per session.
ALTER TABLE signals ALTER COLUMN response_id DROP NOT NULL;
ALTER TABLE signals ALTER COLUMN instrument_key DROP NOT NULL;
ALTER TABLE signals ADD CONSTRAINT signals_have_a_source
    CHECK ((response_id IS NOT NULL AND instrument_key IS NOT NULL) OR session_id IS NOT NULL);
CREATE UNIQUE INDEX signals_one_per_session ON signals (organization_id, session_id, kind)
    WHERE response_id IS NULL;
