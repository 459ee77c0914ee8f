-- The series index, carrying what clinician insights read of an episode's outcome history
-- (client, session, rater, total), so that read is an index-only scan instead of a heap fetch
-- per response: 9.7 ms -> 3.6 ms for a clinician's ~380 episodes on 1 M responses
-- (docs/scaling.md, §8). Same key and predicate as `responses_series`, which 000017 drops
-- and whose name 000018 gives this one.
--
-- Built CONCURRENTLY (outside a transaction, metadata.toml): reads and writes of `responses`
-- go on while it builds. CONCURRENTLY must be the only statement of its migration. If the build
-- is interrupted it leaves an invalid index of this name: drop it by hand
-- (`DROP INDEX CONCURRENTLY responses_series_covering`) and start the service again.
CREATE INDEX CONCURRENTLY responses_series_covering
    ON responses (organization_id, episode_id, instrument_key, administered_at, id)
    INCLUDE (client_id, session_id, rater, total_hundredths)
    WHERE voided_at IS NULL;
