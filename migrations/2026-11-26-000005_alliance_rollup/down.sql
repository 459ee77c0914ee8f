DROP TRIGGER alliance_rollup_maintenance ON responses;
DROP FUNCTION alliance_rollup_rebuild(uuid);
DROP FUNCTION alliance_rollup_apply();
DROP FUNCTION alliance_rollup_lock_key(uuid);
DROP FUNCTION alliance_contribution(uuid, uuid, uuid, uuid, timestamptz, text, text, integer, jsonb, jsonb, integer, boolean);
DROP FUNCTION alliance_cutoff(uuid);
DROP TABLE alliance_clinician_clients;
DROP TABLE alliance_daily;
DROP TABLE alliance_rollup;
