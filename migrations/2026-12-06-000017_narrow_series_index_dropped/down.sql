CREATE INDEX CONCURRENTLY responses_series ON responses (organization_id, episode_id, instrument_key, administered_at, id)
    WHERE voided_at IS NULL;
