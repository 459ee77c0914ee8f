DROP INDEX signals_one_per_session;
DELETE FROM signals WHERE response_id IS NULL OR instrument_key IS NULL;
ALTER TABLE signals DROP CONSTRAINT signals_have_a_source;
ALTER TABLE signals ALTER COLUMN instrument_key SET NOT NULL;
ALTER TABLE signals ALTER COLUMN response_id SET NOT NULL;
DROP TABLE session_transcripts;
