-- What a supplier chose, and how far its coverage area reaches.

-- The availability the operator chose (PATCH /workspaces/me, the admin CLI): ONLINE or OFFLINE. `availability` stays
-- what everything reads (ONLINE, BUSY or OFFLINE); BUSY is the session lifecycle's (/start sets it) and, once the
-- operator has no started session left, the release puts back this choice rather than ONLINE. An operator that chose
-- OFFLINE while BUSY (or before /start) is OFFLINE again when its work stops.
-- Existing rows: an OFFLINE workspace chose OFFLINE; an ONLINE one ONLINE; a BUSY one ONLINE (what its release gave back
-- until now).
ALTER TABLE workspaces
    ADD COLUMN chosen_availability text NOT NULL DEFAULT 'OFFLINE'
        CHECK (chosen_availability IN ('ONLINE', 'OFFLINE'));
UPDATE workspaces SET chosen_availability = 'ONLINE' WHERE availability IN ('ONLINE', 'BUSY');

-- How far a coverage area reaches: the greatest great-circle distance (on the mean-radius sphere, within 0.5 % of the
-- ellipsoid's) from the area's centroid to any of its positions, in metres. Every position within R of a point puts the
-- whole area within R of it (a spherical cap smaller than a hemisphere holds every shortest arc between its points).
-- PATCH /workspaces/me refuses an area whose radius exceeds the documented maximum (luxxon.models.identity
-- MAX_COVERAGE_RADIUS_M) with 400 input:coverageArea. Existing areas are not rewritten: an area set before the bound
-- keeps working as it is until its workspace sets another one, which must be within it; this finds them:
--     SELECT id FROM workspaces WHERE lx_coverage_radius_m(coverage_area) > 50000;
-- On the sphere rather than the ellipsoid: a spheroidal distance per position cost seconds for a 2,000-position area.
CREATE FUNCTION lx_coverage_radius_m(p_area geography) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH centre AS MATERIALIZED (SELECT ST_Centroid(p_area, false) AS c)
    SELECT max(ST_Distance(centre.c, (d).geom::geography, false))
    FROM centre, ST_DumpPoints(p_area::geometry) d
$$;

-- Accept reads the operator's choice too: a BUSY operator that chose OFFLINE takes no new session (it is finishing what
-- it has). The same function as 0014 plus `chosen_availability`.
DROP FUNCTION lx_accept_facts(uuid, uuid);
CREATE FUNCTION lx_accept_facts(p_operator uuid, p_session uuid)
RETURNS TABLE (session lx_session, availability text, chosen_availability text, covers boolean, active bigint,
               wait_deadline_passed boolean, has_wallet boolean)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM 1 FROM workspaces w WHERE w.id = p_operator FOR NO KEY UPDATE;
    RETURN QUERY
    SELECT lx_session_of(s), w.availability, w.chosen_availability,
           coalesce(ST_Intersects(w.coverage_area, s.requested_at_point), false),
           (SELECT count(*) FROM sessions o
            WHERE o.operator_workspace_id = w.id AND o.state IN ('ASSIGNED', 'LIVE', 'PAUSED')),
           s.wait_deadline_at <= clock_timestamp(),
           w.wallet_address IS NOT NULL
    FROM workspaces w JOIN sessions s ON s.id = p_session
    WHERE w.id = p_operator;
END
$$;
