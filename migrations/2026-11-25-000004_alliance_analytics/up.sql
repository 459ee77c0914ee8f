-- Incremental statistics maintained in the same transaction as each response, so that
-- submission-time rupture and off-track signals, and the analytics reads, never scan responses.

-- Session-to-session changes of SRS/CSRS totals across the organization (for the rupture
-- spread). Sharded so concurrent submissions do not queue on one row; readers sum the shards.
CREATE TABLE alliance_change_stats (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    instrument_key  text NOT NULL,
    shard           smallint NOT NULL CHECK (shard BETWEEN 0 AND 15),
    n               bigint NOT NULL DEFAULT 0,
    sum             double precision NOT NULL DEFAULT 0,
    sum_sq          double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (organization_id, instrument_key, shard)
);

-- One point per episode and session of the outcome scales (ORS/CORS, client-rated), with the
-- episode's intake: the reference set of the expected treatment response.
CREATE TABLE outcome_points (
    organization_id   uuid NOT NULL,
    instrument_key    text NOT NULL,
    episode_id        uuid NOT NULL,
    session_number    integer NOT NULL,
    intake_hundredths integer NOT NULL,
    total_hundredths  integer NOT NULL,
    PRIMARY KEY (organization_id, instrument_key, episode_id, session_number),
    FOREIGN KEY (organization_id, episode_id) REFERENCES episodes (organization_id, id) ON DELETE CASCADE
);
-- The ETR read: one instrument, an intake window, sessions up to N; index-only.
CREATE INDEX outcome_points_reference ON outcome_points
    (organization_id, instrument_key, intake_hundredths, session_number) INCLUDE (total_hundredths, episode_id);

-- Per-clinician reads over a date range.
CREATE INDEX responses_by_clinician ON responses (organization_id, clinician_id, instrument_key, administered_at)
    INCLUDE (total_hundredths, episode_id, client_id, rater) WHERE voided_at IS NULL;
