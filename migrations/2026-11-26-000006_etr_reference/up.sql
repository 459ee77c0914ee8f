-- The expected-treatment-response reference set, condensed: per instrument, intake and
-- session, the sorted totals of every episode's point (outcome_points). The band of an
-- episode reads ~20 rows per intake value in its window instead of every point (~55 k index
-- entries on 1 M responses); the reader takes the episode's own points back out.
CREATE TABLE etr_reference (
    organization_id   uuid NOT NULL REFERENCES organizations (id),
    instrument_key    text NOT NULL,
    intake_hundredths integer NOT NULL,
    session_number    integer NOT NULL,
    -- Ascending; one entry per episode with a point at this intake and session.
    totals            integer[] NOT NULL,
    PRIMARY KEY (organization_id, instrument_key, intake_hundredths, session_number)
);

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
            totals = ARRAY(SELECT v FROM unnest(etr_reference.totals || EXCLUDED.totals) AS v ORDER BY v);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER etr_reference_maintenance
    AFTER INSERT OR UPDATE OR DELETE ON outcome_points
    FOR EACH ROW EXECUTE FUNCTION etr_reference_apply();

-- Recomputes an organization's reference from its outcome points (after bulk loads).
CREATE FUNCTION etr_reference_rebuild(org uuid) RETURNS void LANGUAGE sql AS $$
    DELETE FROM etr_reference WHERE organization_id = org;
    INSERT INTO etr_reference (organization_id, instrument_key, intake_hundredths, session_number, totals)
    SELECT organization_id, instrument_key, intake_hundredths, session_number,
           array_agg(total_hundredths ORDER BY total_hundredths)
    FROM outcome_points WHERE organization_id = org
    GROUP BY 1, 2, 3, 4;
$$;

SELECT etr_reference_rebuild(id) FROM organizations;
