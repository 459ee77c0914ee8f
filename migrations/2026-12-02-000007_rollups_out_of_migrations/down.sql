-- The rollup schema is installed by the service, not by migrations; going back to 000006
-- leaves a database without rollups until a release that migrates forward again starts.
DROP TRIGGER IF EXISTS alliance_rollup_maintenance ON responses;
DROP TRIGGER IF EXISTS etr_reference_maintenance ON outcome_points;
DROP TABLE IF EXISTS alliance_clinician_clients, alliance_clinician_sums, alliance_rollup, etr_reference CASCADE;
DROP TABLE schema_objects;
