DROP TABLE form_request_items;
DROP TABLE form_requests;
DROP TABLE idempotency_keys;
DROP TABLE signals;
DROP INDEX responses_by_time;
DROP INDEX responses_by_session;
DROP INDEX responses_series;
CREATE INDEX responses_by_episode ON responses (organization_id, episode_id, administered_at);
ALTER TABLE responses DROP COLUMN instrument_key, DROP COLUMN settings_version, DROP COLUMN total_hundredths,
    DROP COLUMN clinician_id;
DROP TABLE organization_settings;
DROP TABLE instrument_texts;
