-- The hot statements as PL/pgSQL functions, for plan reuse behind RDS Proxy.
--
-- Server-side prepared statements pin a client to one backend behind RDS Proxy, so the application sends every
-- statement unprepared, and an unprepared statement is planned on every call (the supplier inbox: ~1.4 ms of
-- planning for ~0.1 ms of execution). A PL/pgSQL function's statements are prepared inside the server and their
-- plans cached per backend connection, which RDS Proxy keeps for many clients: calling the function is a plain
-- SELECT (no session state, no pinning), and after a few calls the backend reuses a generic plan.
--
-- State names in these bodies are literals where a partial index must match (the inbox: state = 'REQUESTED');
-- tests compare them with luxxon.domain.states. Everything else arrives as a parameter.

-- The session as the domain reads it (the field order of luxxon.domain.ports.Session).
CREATE TYPE lx_session AS (
    id                         text,
    consumer_workspace_id      text,
    operator_workspace_id      text,
    state                      text,
    max_duration_seconds       integer,
    wait_timeout_seconds       integer,
    rate_per_second_micro_usdc bigint,
    hold_micro_usdc            bigint,
    started_at                 timestamptz,
    ended_at                   timestamptz,
    clean_seconds              integer,
    charged_micro_usdc         bigint,
    settlement_tx_hash         text,
    video_backend_ref          text,
    created_at                 timestamptz,
    requested_lat              double precision,
    requested_lng              double precision,
    authorized                 boolean,
    whep_url                   text,
    whip_url                   text
);

-- A sessions row as lx_session (inlined by the planner: no call per row).
CREATE FUNCTION lx_session_of(s sessions) RETURNS lx_session
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ROW(s.id::text, s.consumer_workspace_id::text, s.operator_workspace_id::text, s.state,
               s.max_duration_seconds, s.wait_timeout_seconds, s.rate_per_second_micro_usdc, s.hold_micro_usdc,
               s.started_at, s.ended_at, s.clean_seconds, s.charged_micro_usdc, s.settlement_tx_hash,
               s.video_backend_ref, s.created_at,
               ST_Y(s.requested_at_point::geometry), ST_X(s.requested_at_point::geometry),
               s.authorized, s.whep_url, s.whip_url)::lx_session
$$;

-- Every authenticated request: the principal of an API key (unrevoked).
CREATE FUNCTION lx_principal(p_key_hash bytea)
RETURNS TABLE (key_id text, workspace_id text, scopes text[], roles text[])
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT k.id::text, k.workspace_id::text, k.scopes, w.roles
    FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id
    WHERE k.key_hash = p_key_hash AND k.revoked_at IS NULL;
END
$$;

-- GET /sessions/{id} and every read of one session.
CREATE FUNCTION lx_session_get(p_id uuid) RETURNS SETOF lx_session
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT (lx_session_of(s)).* FROM sessions s WHERE s.id = p_id;
END
$$;

-- GET /sessions/inbox: REQUESTED sessions whose point lies in the supplier's coverage area, oldest first. The
-- partial GiST index on REQUESTED points answers the bounding-box test; the exact intersection runs on those rows.
CREATE FUNCTION lx_session_inbox(p_workspace_id uuid, p_limit integer) RETURNS SETOF lx_session
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT (lx_session_of(s)).*
    FROM workspaces w
    JOIN sessions s ON s.state = 'REQUESTED' AND ST_Intersects(s.requested_at_point, w.coverage_area)
    WHERE w.id = p_workspace_id AND s.consumer_workspace_id <> w.id
    ORDER BY s.created_at, s.id
    LIMIT p_limit;
END
$$;

-- POST /sessions/{id}/accept: the compare-and-swap p_from → p_to with the caller as operator (never the consumer).
-- Returns the changed session; no row when the CAS lost.
CREATE FUNCTION lx_session_cas_accept(p_id uuid, p_operator uuid, p_from text, p_to text) RETURNS SETOF lx_session
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN QUERY
    UPDATE sessions s SET state = p_to, operator_workspace_id = p_operator,
           assigned_at = clock_timestamp(), updated_at = clock_timestamp()
    WHERE s.id = p_id AND s.state = p_from AND s.consumer_workspace_id <> p_operator
    RETURNING (lx_session_of(s)).*;
END
$$;
