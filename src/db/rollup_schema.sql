-- The rollups and reference sets: derived data, rebuilt from `responses` and `outcome_points`
-- whenever this file changes. Unlike a migration, this file may change from one release to the
-- next: at start the service compares its checksum (rendered, with the instrument keys filled in
-- from the instrument definitions) with the one recorded in `schema_objects`, and when they
-- differ it runs the whole file in one transaction: it drops what it made, makes it again and
-- rebuilds every organization's data. A database upgraded from any earlier release therefore
-- ends up exactly like a fresh one. See src/db/rollup_schema.rs and docs/methodology.md.
--
-- Placeholders (filled by the service, never by hand): {{session_alliance}} (SRS, CSRS),
-- {{item_comparison}} (SRS), {{client_working_alliance}} (WAI-SR), {{rolled_up}} (all three),
-- {{ceiling_hundredths}} (the session alliance forms' maximum total, in hundredths).
--
-- Citus-safe: no volatile functions or subqueries in ON CONFLICT … DO UPDATE, no LANGUAGE sql
-- function reads a tenant table (the inlined alliance_contribution reads only its arguments).

DROP TRIGGER IF EXISTS alliance_rollup_maintenance ON responses;
DROP TRIGGER IF EXISTS etr_reference_maintenance ON outcome_points;
DROP FUNCTION IF EXISTS alliance_rollup_rebuild(uuid), alliance_rollup_apply(), alliance_rollup_lock_key(uuid),
    alliance_rollup_guard_take(uuid, boolean),
    alliance_contribution(uuid, uuid, uuid, uuid, timestamptz, text, text, integer, jsonb, jsonb, integer, boolean),
    alliance_cutoff(uuid), etr_reference_apply(), etr_reference_rebuild(uuid),
    rapport_sorted_dates(date[]), rapport_sorted_integers(integer[]) CASCADE;
DROP TABLE IF EXISTS alliance_clinician_clients, alliance_clinician_sums, alliance_rollup, etr_reference,
    alliance_rollup_guard CASCADE;

-- Sorted, distinct dates and sorted integers: upserts merge arrays through these IMMUTABLE
-- helpers (a subquery in ON CONFLICT … DO UPDATE is refused by Citus).
CREATE FUNCTION rapport_sorted_dates(dates date[]) RETURNS date[] LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN ARRAY(SELECT DISTINCT d FROM unnest(dates) AS d ORDER BY d);
END
$$;

CREATE FUNCTION rapport_sorted_integers(values_ integer[]) RETURNS integer[] LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN ARRAY(SELECT v FROM unnest(values_) AS v ORDER BY v);
END
$$;

-- Tables.

CREATE TABLE alliance_rollup (
    organization_id      uuid NOT NULL,
    month                date NOT NULL CHECK (extract(day FROM month) = 1),
    episode_id           uuid NOT NULL,
    -- responses.clinician_id, with the nil UUID standing for "none" (a key cannot be NULL).
    clinician_key        uuid NOT NULL,
    client_id            uuid NOT NULL,
    -- Client-rated SRS and CSRS totals, in hundredths.
    total_n              integer NOT NULL DEFAULT 0,
    total_sum            bigint NOT NULL DEFAULT 0,
    total_sum_sq         bigint NOT NULL DEFAULT 0,
    below_cutoff         integer NOT NULL DEFAULT 0,
    ceiling              integer NOT NULL DEFAULT 0,
    -- Client-rated SRS items, in tenths.
    srs_n                integer NOT NULL DEFAULT 0,
    relationship_sum     bigint NOT NULL DEFAULT 0,
    relationship_sum_sq  bigint NOT NULL DEFAULT 0,
    goals_topics_sum     bigint NOT NULL DEFAULT 0,
    goals_topics_sum_sq  bigint NOT NULL DEFAULT 0,
    approach_method_sum    bigint NOT NULL DEFAULT 0,
    approach_method_sum_sq bigint NOT NULL DEFAULT 0,
    overall_sum          bigint NOT NULL DEFAULT 0,
    overall_sum_sq       bigint NOT NULL DEFAULT 0,
    -- Client-rated WAI-SR subscale item means.
    wai_n                integer NOT NULL DEFAULT 0,
    goal_sum             double precision NOT NULL DEFAULT 0,
    goal_sum_sq          double precision NOT NULL DEFAULT 0,
    task_sum             double precision NOT NULL DEFAULT 0,
    task_sum_sq          double precision NOT NULL DEFAULT 0,
    bond_sum             double precision NOT NULL DEFAULT 0,
    bond_sum_sq          double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (organization_id, month, episode_id, clinician_key)
);
CREATE INDEX alliance_rollup_by_episode ON alliance_rollup (organization_id, episode_id);
CREATE INDEX alliance_rollup_by_client ON alliance_rollup (organization_id, client_id);
-- The analytics read of whole months: index-only once the visibility map is set.
CREATE INDEX alliance_rollup_totals ON alliance_rollup (organization_id, month)
    INCLUDE (clinician_key, client_id, episode_id, total_n, total_sum, total_sum_sq, below_cutoff, ceiling)
    WHERE total_n > 0;

-- The same sums per clinician and UTC month or day, without the episode: clinician insights'
-- item statistics and the sums of analytics by clinician (whole months from the month rows,
-- whole days of partial months from the day rows, partial days from the responses).
-- Concurrent submissions for one clinician on one day spread over up to 32 shards (more than a
-- service's pool has connections) instead of queueing on one row; readers add the shards up.
CREATE TABLE alliance_clinician_sums (
    organization_id        uuid NOT NULL,
    grain                  text NOT NULL CHECK (grain IN ('day', 'month')),
    -- The day, or the first day of the month.
    period                 date NOT NULL,
    clinician_key          uuid NOT NULL,
    shard                  smallint NOT NULL CHECK (shard BETWEEN 0 AND 31),
    total_n                integer NOT NULL DEFAULT 0,
    total_sum              bigint NOT NULL DEFAULT 0,
    total_sum_sq           bigint NOT NULL DEFAULT 0,
    below_cutoff           integer NOT NULL DEFAULT 0,
    ceiling                integer NOT NULL DEFAULT 0,
    srs_n                  integer NOT NULL DEFAULT 0,
    relationship_sum       bigint NOT NULL DEFAULT 0,
    relationship_sum_sq    bigint NOT NULL DEFAULT 0,
    goals_topics_sum       bigint NOT NULL DEFAULT 0,
    goals_topics_sum_sq    bigint NOT NULL DEFAULT 0,
    approach_method_sum    bigint NOT NULL DEFAULT 0,
    approach_method_sum_sq bigint NOT NULL DEFAULT 0,
    overall_sum            bigint NOT NULL DEFAULT 0,
    overall_sum_sq         bigint NOT NULL DEFAULT 0,
    wai_n                  integer NOT NULL DEFAULT 0,
    goal_sum               double precision NOT NULL DEFAULT 0,
    goal_sum_sq            double precision NOT NULL DEFAULT 0,
    task_sum               double precision NOT NULL DEFAULT 0,
    task_sum_sq            double precision NOT NULL DEFAULT 0,
    bond_sum               double precision NOT NULL DEFAULT 0,
    bond_sum_sq            double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (organization_id, grain, period, clinician_key, shard)
);
-- Analytics by clinician, index-only once the visibility map is set.
CREATE INDEX alliance_clinician_sums_totals ON alliance_clinician_sums (organization_id, grain, period)
    INCLUDE (clinician_key, total_n, total_sum, total_sum_sq, below_cutoff, ceiling);

-- Which clients each clinician had a client-rated SRS/CSRS from, and in which months (sorted,
-- distinct): distinct clients per clinician over a range without touching a row per month.
CREATE TABLE alliance_clinician_clients (
    organization_id uuid NOT NULL,
    clinician_key   uuid NOT NULL,
    client_id       uuid NOT NULL,
    months          date[] NOT NULL,
    first_month     date GENERATED ALWAYS AS (months[1]) STORED,
    last_month      date GENERATED ALWAYS AS (months[array_upper(months, 1)]) STORED,
    PRIMARY KEY (organization_id, clinician_key, client_id)
);
CREATE INDEX alliance_clinician_clients_recent ON alliance_clinician_clients (organization_id, last_month)
    INCLUDE (first_month, clinician_key, client_id, months);

-- One row per organization with rollups: the lock that alliance_rollup_guard_take takes.
CREATE TABLE alliance_rollup_guard (
    organization_id uuid PRIMARY KEY
);

CREATE TABLE etr_reference (
    organization_id   uuid NOT NULL,
    instrument_key    text NOT NULL,
    intake_hundredths integer NOT NULL,
    session_number    integer NOT NULL,
    -- Ascending; one entry per episode with a point at this intake and session.
    totals            integer[] NOT NULL,
    PRIMARY KEY (organization_id, instrument_key, intake_hundredths, session_number)
);



-- On Citus the tables above are distributed here, before any foreign key ties them to a
-- distributed table (src/db/distribution.rs). The marker line is read by src/db/rollup_schema.rs.
-- @citus: distribute tables

-- One constraint per statement: Citus runs ADD CONSTRAINT alone.
ALTER TABLE alliance_rollup
    ADD FOREIGN KEY (organization_id, episode_id) REFERENCES episodes (organization_id, id) ON DELETE CASCADE;
ALTER TABLE alliance_rollup
    ADD FOREIGN KEY (organization_id, client_id) REFERENCES clients (organization_id, id) ON DELETE CASCADE;
ALTER TABLE alliance_clinician_sums ADD FOREIGN KEY (organization_id) REFERENCES organizations (id);
ALTER TABLE alliance_clinician_clients
    ADD FOREIGN KEY (organization_id, client_id) REFERENCES clients (organization_id, id) ON DELETE CASCADE;
ALTER TABLE alliance_rollup_guard ADD FOREIGN KEY (organization_id) REFERENCES organizations (id) ON DELETE CASCADE;
ALTER TABLE etr_reference ADD FOREIGN KEY (organization_id) REFERENCES organizations (id);

-- Functions.

-- The SRS cutoff in force for an organization (settings version 0 = the documented default,
-- 36 with "<"), in hundredths, and whether a total equal to it counts as below.
CREATE FUNCTION alliance_cutoff(org uuid, OUT cutoff_hundredths integer, OUT inclusive boolean)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    latest jsonb;
BEGIN
    SELECT s.settings INTO latest FROM organization_settings s
    WHERE s.organization_id = org ORDER BY s.version DESC LIMIT 1;
    cutoff_hundredths := coalesce(round((latest->>'srs_cutoff')::numeric * 100)::integer, 3600);
    inclusive := coalesce(latest->>'srs_cutoff_comparator' = 'le', false);
END
$$;

-- What one response adds to its rollup row (voided or not: callers decide whether it counts).
-- Declared as a set-returning SQL function over plain columns so that PostgreSQL inlines it
-- into the queries that call it in FROM (rebuild, range edges): no per-row function call.
CREATE FUNCTION alliance_contribution(
    organization_id uuid, episode_id uuid, clinician_id uuid, client_id uuid, administered_at timestamptz,
    rater text, instrument_key text, total_hundredths integer, answers jsonb, scores jsonb,
    cutoff_hundredths integer, inclusive boolean)
RETURNS SETOF alliance_rollup LANGUAGE sql IMMUTABLE AS $$
    SELECT organization_id,
           date_trunc('month', administered_at AT TIME ZONE 'UTC')::date,
           episode_id,
           coalesce(clinician_id, '00000000-0000-0000-0000-000000000000'::uuid),
           client_id,
           v.t::integer, v.total, v.total * v.total,
           (v.t AND (v.total < cutoff_hundredths OR (inclusive AND v.total = cutoff_hundredths)))::integer,
           (v.t AND v.total = {{ceiling_hundredths}})::integer,
           v.s::integer, v.rel, v.rel * v.rel, v.goals, v.goals * v.goals,
           v.approach, v.approach * v.approach, v.overall, v.overall * v.overall,
           v.w::integer, v.goal, v.goal * v.goal, v.task, v.task * v.task, v.bond, v.bond * v.bond
    FROM (SELECT k.t, k.s, k.w,
                 CASE WHEN k.t THEN total_hundredths::bigint ELSE 0::bigint END AS total,
                 CASE WHEN k.s THEN (answers->>'relationship')::bigint ELSE 0::bigint END AS rel,
                 CASE WHEN k.s THEN (answers->>'goals_topics')::bigint ELSE 0::bigint END AS goals,
                 CASE WHEN k.s THEN (answers->>'approach_method')::bigint ELSE 0::bigint END AS approach,
                 CASE WHEN k.s THEN (answers->>'overall')::bigint ELSE 0::bigint END AS overall,
                 CASE WHEN k.w THEN (scores->'subscales'->'goal'->>'item_mean')::float8 ELSE 0::float8 END AS goal,
                 CASE WHEN k.w THEN (scores->'subscales'->'task'->>'item_mean')::float8 ELSE 0::float8 END AS task,
                 CASE WHEN k.w THEN (scores->'subscales'->'bond'->>'item_mean')::float8 ELSE 0::float8 END AS bond
          FROM (SELECT rater = 'client' AND instrument_key IN ({{session_alliance}}) AS t,
                       rater = 'client' AND instrument_key IN ({{item_comparison}}) AS s,
                       rater = 'client' AND instrument_key IN ({{client_working_alliance}}) AS w) AS k) AS v
$$;

-- Holds a rebuild (settings change) and concurrent submissions of one organization apart:
-- submissions lock the organization's guard row FOR KEY SHARE and run side by side; a rebuild
-- locks it FOR UPDATE, waits for them and holds new ones back until it commits. A row lock
-- rather than an advisory lock: on Citus the row lives on the node that holds the
-- organization's shards, which is where the trigger runs too (docs/scaling.md).
CREATE FUNCTION alliance_rollup_guard_take(org uuid, exclusive boolean) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    FOR attempt IN 1..2 LOOP
        IF exclusive THEN
            PERFORM 1 FROM alliance_rollup_guard WHERE organization_id = org FOR UPDATE;
        ELSE
            PERFORM 1 FROM alliance_rollup_guard WHERE organization_id = org FOR KEY SHARE;
        END IF;
        EXIT WHEN FOUND;
        INSERT INTO alliance_rollup_guard (organization_id) VALUES (org) ON CONFLICT DO NOTHING;
    END LOOP;
END
$$;
CREATE FUNCTION alliance_rollup_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r responses;
    adding boolean;
    v_sign integer;
    cut record;
    c alliance_rollup;
    v_day date;
    v_shard smallint;
    v_taken bigint;
    v_period record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        r := NEW; adding := NEW.voided_at IS NULL;
        IF NOT adding THEN RETURN NULL; END IF;
    ELSIF TG_OP = 'DELETE' THEN
        r := OLD; adding := false;
        IF OLD.voided_at IS NOT NULL THEN RETURN NULL; END IF;
    ELSIF OLD.voided_at IS NULL AND NEW.voided_at IS NOT NULL THEN
        r := OLD; adding := false;
    ELSIF OLD.voided_at IS NOT NULL AND NEW.voided_at IS NULL THEN
        r := NEW; adding := true;
    ELSE
        RETURN NULL;
    END IF;
    IF r.rater <> 'client' OR r.instrument_key NOT IN ({{rolled_up}}) THEN
        RETURN NULL;
    END IF;
    v_sign := CASE WHEN adding THEN 1 ELSE -1 END;
    PERFORM alliance_rollup_guard_take(r.organization_id, false);
    SELECT * INTO cut FROM alliance_cutoff(r.organization_id);
    SELECT * INTO c FROM alliance_contribution(r.organization_id, r.episode_id, r.clinician_id, r.client_id,
        r.administered_at, r.rater, r.instrument_key, r.total_hundredths, r.answers, r.scores,
        cut.cutoff_hundredths, cut.inclusive);

    -- Monthly, per episode.
    IF adding THEN
        INSERT INTO alliance_rollup VALUES (c.*)
        ON CONFLICT (organization_id, month, episode_id, clinician_key) DO UPDATE SET
            total_n = alliance_rollup.total_n + EXCLUDED.total_n,
            total_sum = alliance_rollup.total_sum + EXCLUDED.total_sum,
            total_sum_sq = alliance_rollup.total_sum_sq + EXCLUDED.total_sum_sq,
            below_cutoff = alliance_rollup.below_cutoff + EXCLUDED.below_cutoff,
            ceiling = alliance_rollup.ceiling + EXCLUDED.ceiling,
            srs_n = alliance_rollup.srs_n + EXCLUDED.srs_n,
            relationship_sum = alliance_rollup.relationship_sum + EXCLUDED.relationship_sum,
            relationship_sum_sq = alliance_rollup.relationship_sum_sq + EXCLUDED.relationship_sum_sq,
            goals_topics_sum = alliance_rollup.goals_topics_sum + EXCLUDED.goals_topics_sum,
            goals_topics_sum_sq = alliance_rollup.goals_topics_sum_sq + EXCLUDED.goals_topics_sum_sq,
            approach_method_sum = alliance_rollup.approach_method_sum + EXCLUDED.approach_method_sum,
            approach_method_sum_sq = alliance_rollup.approach_method_sum_sq + EXCLUDED.approach_method_sum_sq,
            overall_sum = alliance_rollup.overall_sum + EXCLUDED.overall_sum,
            overall_sum_sq = alliance_rollup.overall_sum_sq + EXCLUDED.overall_sum_sq,
            wai_n = alliance_rollup.wai_n + EXCLUDED.wai_n,
            goal_sum = alliance_rollup.goal_sum + EXCLUDED.goal_sum,
            goal_sum_sq = alliance_rollup.goal_sum_sq + EXCLUDED.goal_sum_sq,
            task_sum = alliance_rollup.task_sum + EXCLUDED.task_sum,
            task_sum_sq = alliance_rollup.task_sum_sq + EXCLUDED.task_sum_sq,
            bond_sum = alliance_rollup.bond_sum + EXCLUDED.bond_sum,
            bond_sum_sq = alliance_rollup.bond_sum_sq + EXCLUDED.bond_sum_sq;
    ELSE
        -- A plain UPDATE: during an erasure the row may already be gone with its episode.
        UPDATE alliance_rollup SET
            total_n = total_n - c.total_n,
            total_sum = total_sum - c.total_sum,
            total_sum_sq = total_sum_sq - c.total_sum_sq,
            below_cutoff = below_cutoff - c.below_cutoff,
            ceiling = ceiling - c.ceiling,
            srs_n = srs_n - c.srs_n,
            relationship_sum = relationship_sum - c.relationship_sum,
            relationship_sum_sq = relationship_sum_sq - c.relationship_sum_sq,
            goals_topics_sum = goals_topics_sum - c.goals_topics_sum,
            goals_topics_sum_sq = goals_topics_sum_sq - c.goals_topics_sum_sq,
            approach_method_sum = approach_method_sum - c.approach_method_sum,
            approach_method_sum_sq = approach_method_sum_sq - c.approach_method_sum_sq,
            overall_sum = overall_sum - c.overall_sum,
            overall_sum_sq = overall_sum_sq - c.overall_sum_sq,
            wai_n = wai_n - c.wai_n,
            goal_sum = goal_sum - c.goal_sum,
            goal_sum_sq = goal_sum_sq - c.goal_sum_sq,
            task_sum = task_sum - c.task_sum,
            task_sum_sq = task_sum_sq - c.task_sum_sq,
            bond_sum = bond_sum - c.bond_sum,
            bond_sum_sq = bond_sum_sq - c.bond_sum_sq
        WHERE organization_id = c.organization_id AND month = c.month
          AND episode_id = c.episode_id AND clinician_key = c.clinician_key;
    END IF;

    -- Per clinician and day and month: the first shard row no concurrent transaction holds
    -- (SKIP LOCKED); when every existing one is held, the next shard, up to 32; when all 32
    -- are held, any one of them, so that the waits spread instead of queueing on one row.
    v_day := (r.administered_at AT TIME ZONE 'UTC')::date;
    v_shard := 0;
    IF adding THEN
        SELECT s.shard INTO v_shard FROM alliance_clinician_sums s
        WHERE s.organization_id = c.organization_id AND s.grain = 'day' AND s.period = v_day
          AND s.clinician_key = c.clinician_key
        ORDER BY s.shard LIMIT 1 FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            SELECT count(*) INTO v_taken FROM alliance_clinician_sums s
            WHERE s.organization_id = c.organization_id AND s.grain = 'day' AND s.period = v_day
              AND s.clinician_key = c.clinician_key;
            v_shard := CASE WHEN v_taken < 32 THEN v_taken ELSE floor(random() * 32)::smallint END;
        END IF;
    END IF;
    FOR v_period IN SELECT * FROM (VALUES ('day', v_day), ('month', c.month)) AS periods (grain, period) LOOP
        INSERT INTO alliance_clinician_sums (organization_id, grain, period, clinician_key, shard, total_n, total_sum, total_sum_sq, below_cutoff, ceiling, srs_n, relationship_sum, relationship_sum_sq, goals_topics_sum, goals_topics_sum_sq, approach_method_sum, approach_method_sum_sq, overall_sum, overall_sum_sq, wai_n, goal_sum, goal_sum_sq, task_sum, task_sum_sq, bond_sum, bond_sum_sq)
        VALUES (c.organization_id, v_period.grain, v_period.period, c.clinician_key, v_shard, v_sign * c.total_n, v_sign * c.total_sum, v_sign * c.total_sum_sq, v_sign * c.below_cutoff, v_sign * c.ceiling, v_sign * c.srs_n, v_sign * c.relationship_sum, v_sign * c.relationship_sum_sq, v_sign * c.goals_topics_sum, v_sign * c.goals_topics_sum_sq, v_sign * c.approach_method_sum, v_sign * c.approach_method_sum_sq, v_sign * c.overall_sum, v_sign * c.overall_sum_sq, v_sign * c.wai_n, v_sign * c.goal_sum, v_sign * c.goal_sum_sq, v_sign * c.task_sum, v_sign * c.task_sum_sq, v_sign * c.bond_sum, v_sign * c.bond_sum_sq)
        ON CONFLICT (organization_id, grain, period, clinician_key, shard) DO UPDATE SET
                total_n = alliance_clinician_sums.total_n + EXCLUDED.total_n,
                total_sum = alliance_clinician_sums.total_sum + EXCLUDED.total_sum,
                total_sum_sq = alliance_clinician_sums.total_sum_sq + EXCLUDED.total_sum_sq,
                below_cutoff = alliance_clinician_sums.below_cutoff + EXCLUDED.below_cutoff,
                ceiling = alliance_clinician_sums.ceiling + EXCLUDED.ceiling,
                srs_n = alliance_clinician_sums.srs_n + EXCLUDED.srs_n,
                relationship_sum = alliance_clinician_sums.relationship_sum + EXCLUDED.relationship_sum,
                relationship_sum_sq = alliance_clinician_sums.relationship_sum_sq + EXCLUDED.relationship_sum_sq,
                goals_topics_sum = alliance_clinician_sums.goals_topics_sum + EXCLUDED.goals_topics_sum,
                goals_topics_sum_sq = alliance_clinician_sums.goals_topics_sum_sq + EXCLUDED.goals_topics_sum_sq,
                approach_method_sum = alliance_clinician_sums.approach_method_sum + EXCLUDED.approach_method_sum,
                approach_method_sum_sq = alliance_clinician_sums.approach_method_sum_sq + EXCLUDED.approach_method_sum_sq,
                overall_sum = alliance_clinician_sums.overall_sum + EXCLUDED.overall_sum,
                overall_sum_sq = alliance_clinician_sums.overall_sum_sq + EXCLUDED.overall_sum_sq,
                wai_n = alliance_clinician_sums.wai_n + EXCLUDED.wai_n,
                goal_sum = alliance_clinician_sums.goal_sum + EXCLUDED.goal_sum,
                goal_sum_sq = alliance_clinician_sums.goal_sum_sq + EXCLUDED.goal_sum_sq,
                task_sum = alliance_clinician_sums.task_sum + EXCLUDED.task_sum,
                task_sum_sq = alliance_clinician_sums.task_sum_sq + EXCLUDED.task_sum_sq,
                bond_sum = alliance_clinician_sums.bond_sum + EXCLUDED.bond_sum,
                bond_sum_sq = alliance_clinician_sums.bond_sum_sq + EXCLUDED.bond_sum_sq;
    END LOOP;

    -- Months of the clinician–client pair.
    IF c.total_n > 0 THEN
        IF adding THEN
            INSERT INTO alliance_clinician_clients (organization_id, clinician_key, client_id, months)
            VALUES (c.organization_id, c.clinician_key, c.client_id, ARRAY[c.month])
            ON CONFLICT (organization_id, clinician_key, client_id) DO UPDATE SET
                months = rapport_sorted_dates(alliance_clinician_clients.months || EXCLUDED.months)
            WHERE NOT (EXCLUDED.months[1] = ANY (alliance_clinician_clients.months));
        ELSE
            -- Lock the pair first, so the recount below sees every committed change to it.
            PERFORM 1 FROM alliance_clinician_clients
            WHERE organization_id = c.organization_id AND clinician_key = c.clinician_key AND client_id = c.client_id
            FOR UPDATE;
            UPDATE alliance_clinician_clients SET months = ARRAY(
                SELECT DISTINCT month FROM alliance_rollup
                WHERE organization_id = c.organization_id AND client_id = c.client_id
                  AND clinician_key = c.clinician_key AND total_n > 0
                ORDER BY month)
            WHERE organization_id = c.organization_id AND clinician_key = c.clinician_key AND client_id = c.client_id;
        END IF;
    END IF;
    RETURN NULL;
END
$$;

-- Recomputes an organization's rollups from its responses: after a change of the SRS cutoff
-- (below_cutoff depends on it), and after bulk loads that bypass the trigger.
CREATE FUNCTION alliance_rollup_rebuild(org uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    cut record;
BEGIN
    PERFORM alliance_rollup_guard_take(org, true);
    SELECT * INTO cut FROM alliance_cutoff(org);
    DELETE FROM alliance_rollup WHERE organization_id = org;
    DELETE FROM alliance_clinician_sums WHERE organization_id = org;
    DELETE FROM alliance_clinician_clients WHERE organization_id = org;
    INSERT INTO alliance_rollup
    SELECT c.organization_id, c.month, c.episode_id, c.clinician_key, c.client_id, sum(c.total_n), sum(c.total_sum), sum(c.total_sum_sq), sum(c.below_cutoff), sum(c.ceiling), sum(c.srs_n), sum(c.relationship_sum), sum(c.relationship_sum_sq), sum(c.goals_topics_sum), sum(c.goals_topics_sum_sq), sum(c.approach_method_sum), sum(c.approach_method_sum_sq), sum(c.overall_sum), sum(c.overall_sum_sq), sum(c.wai_n), sum(c.goal_sum), sum(c.goal_sum_sq), sum(c.task_sum), sum(c.task_sum_sq), sum(c.bond_sum), sum(c.bond_sum_sq)
    FROM responses r
    CROSS JOIN LATERAL alliance_contribution(r.organization_id, r.episode_id, r.clinician_id, r.client_id,
        r.administered_at, r.rater, r.instrument_key, r.total_hundredths, r.answers, r.scores,
        cut.cutoff_hundredths, cut.inclusive) AS c
    WHERE r.organization_id = org AND r.voided_at IS NULL AND r.rater = 'client'
      AND r.instrument_key IN ({{rolled_up}})
    GROUP BY 1, 2, 3, 4, 5;
    INSERT INTO alliance_clinician_sums (organization_id, grain, period, clinician_key, shard, total_n, total_sum, total_sum_sq, below_cutoff, ceiling, srs_n, relationship_sum, relationship_sum_sq, goals_topics_sum, goals_topics_sum_sq, approach_method_sum, approach_method_sum_sq, overall_sum, overall_sum_sq, wai_n, goal_sum, goal_sum_sq, task_sum, task_sum_sq, bond_sum, bond_sum_sq)
    SELECT c.organization_id, 'day', (r.administered_at AT TIME ZONE 'UTC')::date, c.clinician_key, 0, sum(c.total_n), sum(c.total_sum), sum(c.total_sum_sq), sum(c.below_cutoff), sum(c.ceiling), sum(c.srs_n), sum(c.relationship_sum), sum(c.relationship_sum_sq), sum(c.goals_topics_sum), sum(c.goals_topics_sum_sq), sum(c.approach_method_sum), sum(c.approach_method_sum_sq), sum(c.overall_sum), sum(c.overall_sum_sq), sum(c.wai_n), sum(c.goal_sum), sum(c.goal_sum_sq), sum(c.task_sum), sum(c.task_sum_sq), sum(c.bond_sum), sum(c.bond_sum_sq)
    FROM responses r
    CROSS JOIN LATERAL alliance_contribution(r.organization_id, r.episode_id, r.clinician_id, r.client_id,
        r.administered_at, r.rater, r.instrument_key, r.total_hundredths, r.answers, r.scores,
        cut.cutoff_hundredths, cut.inclusive) AS c
    WHERE r.organization_id = org AND r.voided_at IS NULL AND r.rater = 'client'
      AND r.instrument_key IN ({{rolled_up}})
    GROUP BY 1, 2, 3, 4;
    INSERT INTO alliance_clinician_sums (organization_id, grain, period, clinician_key, shard, total_n, total_sum, total_sum_sq, below_cutoff, ceiling, srs_n, relationship_sum, relationship_sum_sq, goals_topics_sum, goals_topics_sum_sq, approach_method_sum, approach_method_sum_sq, overall_sum, overall_sum_sq, wai_n, goal_sum, goal_sum_sq, task_sum, task_sum_sq, bond_sum, bond_sum_sq)
    SELECT organization_id, 'month', date_trunc('month', period)::date, clinician_key, 0, sum(total_n), sum(total_sum), sum(total_sum_sq), sum(below_cutoff), sum(ceiling), sum(srs_n), sum(relationship_sum), sum(relationship_sum_sq), sum(goals_topics_sum), sum(goals_topics_sum_sq), sum(approach_method_sum), sum(approach_method_sum_sq), sum(overall_sum), sum(overall_sum_sq), sum(wai_n), sum(goal_sum), sum(goal_sum_sq), sum(task_sum), sum(task_sum_sq), sum(bond_sum), sum(bond_sum_sq)
    FROM alliance_clinician_sums WHERE organization_id = org AND grain = 'day'
    GROUP BY 1, 2, 3, 4;
    INSERT INTO alliance_clinician_clients (organization_id, clinician_key, client_id, months)
    SELECT organization_id, clinician_key, client_id, array_agg(DISTINCT month ORDER BY month)
    FROM alliance_rollup WHERE organization_id = org AND total_n > 0
    GROUP BY 1, 2, 3;
END
$$;

CREATE FUNCTION etr_reference_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_position integer;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        -- Take out one occurrence of the old total.
        SELECT array_position(totals, OLD.total_hundredths) INTO v_position FROM etr_reference
        WHERE organization_id = OLD.organization_id AND instrument_key = OLD.instrument_key
          AND intake_hundredths = OLD.intake_hundredths AND session_number = OLD.session_number
        FOR UPDATE;
        IF v_position IS NOT NULL THEN
            UPDATE etr_reference SET totals = totals[:v_position - 1] || totals[v_position + 1:]
            WHERE organization_id = OLD.organization_id AND instrument_key = OLD.instrument_key
              AND intake_hundredths = OLD.intake_hundredths AND session_number = OLD.session_number;
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO etr_reference (organization_id, instrument_key, intake_hundredths, session_number, totals)
        VALUES (NEW.organization_id, NEW.instrument_key, NEW.intake_hundredths, NEW.session_number,
                ARRAY[NEW.total_hundredths])
        ON CONFLICT (organization_id, instrument_key, intake_hundredths, session_number) DO UPDATE SET
            totals = rapport_sorted_integers(etr_reference.totals || EXCLUDED.totals);
    END IF;
    RETURN NULL;
END
$$;

-- Recomputes an organization's reference from its outcome points (after bulk loads).
CREATE FUNCTION etr_reference_rebuild(org uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM etr_reference WHERE organization_id = org;
    INSERT INTO etr_reference (organization_id, instrument_key, intake_hundredths, session_number, totals)
    SELECT organization_id, instrument_key, intake_hundredths, session_number,
           array_agg(total_hundredths ORDER BY total_hundredths)
    FROM outcome_points WHERE organization_id = org
    GROUP BY 1, 2, 3, 4;
END
$$;

-- Triggers.

CREATE TRIGGER alliance_rollup_maintenance
    AFTER INSERT OR DELETE OR UPDATE OF voided_at ON responses
    FOR EACH ROW EXECUTE FUNCTION alliance_rollup_apply();

CREATE TRIGGER etr_reference_maintenance
    AFTER INSERT OR UPDATE OR DELETE ON outcome_points
    FOR EACH ROW EXECUTE FUNCTION etr_reference_apply();

-- On Citus the functions above are created on every node here, before the rebuild needs them
-- on the workers.
-- @citus: distribute functions

-- Every organization's data, computed afresh.
SELECT alliance_rollup_rebuild(id) FROM organizations;
SELECT etr_reference_rebuild(id) FROM organizations;
