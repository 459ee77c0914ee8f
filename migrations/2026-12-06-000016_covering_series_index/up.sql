-- The series index also carries what clinician insights read of an episode's outcome history
-- (client, session, rater, total), so that read is an index-only scan instead of a heap fetch
-- per response: 9.7 ms -> 3.6 ms for a clinician's ~380 episodes on 1 M responses
-- (docs/scaling.md, §8). Same key and predicate, so every plan that used the
-- old index uses this one; one index, so a submission maintains no more indexes than before.
-- Building it holds writes to `responses` for about a second per million responses.
DROP INDEX responses_series;
CREATE INDEX responses_series ON responses (organization_id, episode_id, instrument_key, administered_at, id)
    INCLUDE (client_id, session_id, rater, total_hundredths)
    WHERE voided_at IS NULL;
