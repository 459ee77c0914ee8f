DROP INDEX responses_by_clinician;
DROP TABLE outcome_points;
DROP TABLE alliance_change_stats;
