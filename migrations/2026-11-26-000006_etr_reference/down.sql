DROP TRIGGER etr_reference_maintenance ON outcome_points;
DROP FUNCTION etr_reference_rebuild(uuid);
DROP FUNCTION etr_reference_apply();
DROP TABLE etr_reference;
