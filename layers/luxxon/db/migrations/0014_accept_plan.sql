-- POST /sessions/{id}/accept as the other hot paths (0003, 0013): the operator's row lock and the facts the domain
-- decides on are one PL/pgSQL call, whose plans are prepared once per connection. As a plain statement the facts
-- query (the session's shape, the coverage test, the operator's active count) spent ~1 ms planning on every accept.
-- The facts are read by their own statement, after the lock: READ COMMITTED then sees every accept or release of
-- this operator that held the lock before (a statement that waited for the lock keeps its older snapshot).
-- The active states are rendered literally so the plan can use the partial index sessions_operator_active_idx
-- (tests/integration/test_db_schema.py compares them with luxxon.domain.states.VIDEO_ACTIVE).
CREATE FUNCTION lx_accept_facts(p_operator uuid, p_session uuid)
RETURNS TABLE (session lx_session, availability text, covers boolean, active bigint, wait_deadline_passed boolean,
               has_wallet boolean)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM 1 FROM workspaces w WHERE w.id = p_operator FOR NO KEY UPDATE;
    RETURN QUERY
    SELECT lx_session_of(s), w.availability,
           coalesce(ST_Intersects(w.coverage_area, s.requested_at_point), false),
           (SELECT count(*) FROM sessions o
            WHERE o.operator_workspace_id = w.id AND o.state IN ('ASSIGNED', 'LIVE', 'PAUSED')),
           s.wait_deadline_at <= clock_timestamp(),
           w.wallet_address IS NOT NULL
    FROM workspaces w JOIN sessions s ON s.id = p_session
    WHERE w.id = p_operator;
END
$$;
