-- The running summary of each series (an episode's administrations of one instrument by one
-- rater) that a submission continues, so that evaluating a new response does not re-read the
-- episode's whole series (docs/scaling.md, "Series state"). A row whose state is NULL, whose
-- settings version is not the organization's current one, or whose last point sorts after a
-- new response is rebuilt from the series; a void deletes the row.
CREATE TABLE series_states (
    organization_id      uuid NOT NULL,
    episode_id           uuid NOT NULL,
    instrument_key       text NOT NULL,
    rater                text NOT NULL CHECK (rater IN ('client', 'therapist', 'collateral')),
    settings_version     integer,
    -- The series order of the last point: session number (NULL sorts last), time, id.
    last_session_number  integer,
    last_administered_at timestamptz,
    last_response_id     uuid,
    state                jsonb,
    PRIMARY KEY (organization_id, episode_id, instrument_key, rater)
);
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        PERFORM create_distributed_table('series_states', 'organization_id', colocate_with => 'users');
    END IF;
END
$$;
ALTER TABLE series_states
    ADD FOREIGN KEY (organization_id, episode_id) REFERENCES episodes (organization_id, id) ON DELETE CASCADE;
