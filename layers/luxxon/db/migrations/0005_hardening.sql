-- Accept rules, the overdue-LIVE scan, and housekeeping.

-- Accept is a compare-and-swap on REQUESTED that also refuses a session past its wait deadline (the sweep may not
-- have expired it yet).
CREATE OR REPLACE FUNCTION lx_session_cas_accept(p_id uuid, p_operator uuid, p_from text, p_to text)
RETURNS SETOF lx_session
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN QUERY
    UPDATE sessions s SET state = p_to, operator_workspace_id = p_operator,
           assigned_at = clock_timestamp(), updated_at = clock_timestamp()
    WHERE s.id = p_id AND s.state = p_from AND s.consumer_workspace_id <> p_operator
      AND s.wait_deadline_at > clock_timestamp()
    RETURNING (lx_session_of(s)).*;
END
$$;

-- The inbox no longer offers sessions past their wait deadline.
CREATE OR REPLACE FUNCTION lx_session_inbox(p_workspace_id uuid, p_limit integer) RETURNS SETOF lx_session
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT (lx_session_of(s)).*
    FROM workspaces w
    JOIN sessions s ON s.state = 'REQUESTED' AND ST_Intersects(s.requested_at_point, w.coverage_area)
    WHERE w.id = p_workspace_id AND s.consumer_workspace_id <> w.id AND s.wait_deadline_at > clock_timestamp()
    ORDER BY s.created_at, s.id
    LIMIT p_limit;
END
$$;

-- The sweep's overdue-LIVE scan reads LIVE sessions oldest first: only they are in this index.
CREATE INDEX sessions_live_started_idx ON sessions (started_at) WHERE state = 'LIVE';
-- Accept counts an operator's active sessions.
CREATE INDEX sessions_operator_active_idx ON sessions (operator_workspace_id)
    WHERE state IN ('ASSIGNED', 'LIVE', 'PAUSED');

-- Housekeeping: delivered outbox rows are pruned by age.
CREATE INDEX outbox_delivered_idx ON outbox (delivered_at) WHERE delivered_at IS NOT NULL;
