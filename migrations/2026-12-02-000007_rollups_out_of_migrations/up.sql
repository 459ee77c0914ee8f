-- The rollups (tables, functions, triggers of 000005 and 000006) are derived data: from now on
-- they live in src/db/rollup_schema.sql, which the service installs at start whenever it
-- differs from what the database has, and rebuilds from `responses` and `outcome_points`.
-- Migration 000005 was edited in place before this rule existed, so a database migrated
-- earlier may hold any of its versions (alliance_daily, alliance_monthly, older functions):
-- drop every variant here, so that every database converges on the installed schema.

DROP TRIGGER IF EXISTS alliance_rollup_maintenance ON responses;
DROP TRIGGER IF EXISTS etr_reference_maintenance ON outcome_points;
DROP FUNCTION IF EXISTS alliance_rollup_rebuild(uuid) CASCADE;
DROP FUNCTION IF EXISTS alliance_rollup_apply() CASCADE;
DROP FUNCTION IF EXISTS alliance_rollup_lock_key(uuid) CASCADE;
DROP FUNCTION IF EXISTS alliance_contribution(uuid, uuid, uuid, uuid, timestamptz, text, text, integer, jsonb, jsonb, integer, boolean) CASCADE;
DROP FUNCTION IF EXISTS alliance_contribution(responses, integer, boolean) CASCADE;
DROP FUNCTION IF EXISTS alliance_cutoff(uuid) CASCADE;
DROP FUNCTION IF EXISTS etr_reference_apply() CASCADE;
DROP FUNCTION IF EXISTS etr_reference_rebuild(uuid) CASCADE;
DROP TABLE IF EXISTS alliance_clinician_clients, alliance_clinician_sums, alliance_daily, alliance_monthly,
    alliance_rollup, etr_reference CASCADE;

-- Clinician insights read a clinician's responses index-only; earlier versions of 000005 left
-- narrower forms of this index behind.
DROP INDEX IF EXISTS responses_by_clinician;
CREATE INDEX responses_by_clinician ON responses (organization_id, clinician_id, instrument_key, administered_at)
    INCLUDE (total_hundredths, episode_id, client_id, rater, session_id, id) WHERE voided_at IS NULL;

-- What the service installed outside migrations, by name, with the checksum of its SQL.
-- Global (not per organization): a reference table under Citus.
CREATE TABLE schema_objects (
    name         text PRIMARY KEY,
    checksum     text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
    installed_at timestamptz NOT NULL
);
