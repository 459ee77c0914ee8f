DROP INDEX responses_by_clinician;
CREATE INDEX responses_by_clinician ON responses (organization_id, clinician_id, instrument_key, administered_at)
    INCLUDE (total_hundredths, episode_id, client_id, rater) WHERE voided_at IS NULL;
DROP TRIGGER alliance_rollup_maintenance ON responses;
DROP FUNCTION alliance_rollup_rebuild(uuid);
DROP FUNCTION alliance_rollup_apply();
DROP FUNCTION alliance_rollup_lock_key(uuid);
DROP FUNCTION alliance_contribution(uuid, uuid, uuid, uuid, timestamptz, text, text, integer, jsonb, jsonb, integer, boolean);
DROP FUNCTION alliance_cutoff(uuid);
DROP TABLE alliance_clinician_clients;
DROP TABLE alliance_clinician_sums;
DROP TABLE alliance_rollup;
