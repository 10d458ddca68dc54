-- POST /sessions as the other hot paths (0003): PL/pgSQL functions, whose plans are prepared once per connection.
-- The client prepares nothing (RDS Proxy pins prepared statements; a function's own plan cache does not pin), and
-- the create's INSERT alone spent ~1.7 ms planning, the holds' UNION ~0.5 ms.

-- Holds as of chain block p_block: 0012's (open sessions; ended ones whose settlement is not CONFIRMED) plus the
-- charges CONFIRMED in a block after p_block, which a pool read at p_block still contains. A read at a block the
-- indexer has passed (a lagging RPC node, a confirmation between the read and this statement) so counts them once.
-- PL/pgSQL: no longer inlined into, and planned again by, every caller.
DROP FUNCTION lx_wallet_holds(text);
CREATE FUNCTION lx_wallet_holds(p_wallet text, p_block bigint)
RETURNS TABLE (session_id uuid, workspace_id uuid, state text, amount bigint, created_at timestamptz)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT s.id, s.consumer_workspace_id, s.state, s.hold_micro_usdc, s.created_at
    FROM sessions s
    WHERE lower(s.consumer_wallet) = lower(p_wallet) AND s.state IN ('REQUESTED', 'ASSIGNED', 'LIVE', 'PAUSED')
    UNION ALL
    SELECT s.id, s.consumer_workspace_id, s.state, s.charged_micro_usdc, s.created_at
    FROM settlements t JOIN sessions s ON s.id = t.session_id
    WHERE lower(t.consumer_wallet) = lower(p_wallet) AND t.status IN ('PENDING', 'SUBMITTED', 'FAILED')
      AND s.charged_micro_usdc > 0
    UNION ALL
    SELECT s.id, s.consumer_workspace_id, s.state, s.charged_micro_usdc, s.created_at
    FROM settlements t JOIN sessions s ON s.id = t.session_id
    WHERE lower(t.consumer_wallet) = lower(p_wallet) AND t.status = 'CONFIRMED' AND t.block_number > p_block
      AND s.charged_micro_usdc > 0;
END
$$;
CREATE INDEX settlements_consumer_wallet_confirmed_idx ON settlements (lower(consumer_wallet), block_number)
    WHERE status = 'CONFIRMED';

-- The workspace's wallet, its row in wallet_locks locked until commit (NULL: the workspace has no wallet). The
-- creates drawing on one wallet, whichever workspaces share it, run one at a time from here.
CREATE FUNCTION lx_wallet_lock(p_workspace uuid) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_wallet text;
BEGIN
    SELECT w.wallet_address INTO v_wallet FROM workspaces w WHERE w.id = p_workspace;
    IF v_wallet IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO wallet_locks (address) VALUES (lower(v_wallet)) ON CONFLICT DO NOTHING;
    PERFORM 1 FROM wallet_locks l WHERE l.address = lower(v_wallet) FOR UPDATE;
    RETURN v_wallet;
END
$$;

-- The new session, drawing on p_wallet (locked by lx_wallet_lock in this transaction). With p_available (the pool's
-- deposits − pending withdrawal at chain block p_block), only when Σ holds on the wallet as of p_block plus this hold
-- fit in it; else no row and nothing written. The holds are read by their own statement, after the lock: READ
-- COMMITTED sees every create that held the lock before.
CREATE FUNCTION lx_session_create(
    p_consumer uuid, p_lat double precision, p_lng double precision, p_radius integer, p_duration integer,
    p_wait integer, p_rate bigint, p_hold bigint, p_wallet text, p_quote uuid, p_available numeric, p_block bigint)
RETURNS SETOF lx_session
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF p_available IS NOT NULL
       AND (SELECT coalesce(sum(h.amount), 0) FROM lx_wallet_holds(p_wallet, p_block) h) + p_hold > p_available THEN
        RETURN;
    END IF;
    RETURN QUERY
    INSERT INTO sessions AS s (
        consumer_workspace_id, requested_at_point, geofence_radius_m, max_duration_seconds, wait_timeout_seconds,
        wait_deadline_at, rate_per_second_micro_usdc, hold_micro_usdc, consumer_wallet, quote_id)
    VALUES (
        p_consumer, ST_SetSRID(ST_MakePoint(p_lng, p_lat), 4326)::geography, p_radius, p_duration, p_wait,
        clock_timestamp() + make_interval(secs => p_wait), p_rate, p_hold, p_wallet, p_quote)
    RETURNING (lx_session_of(s)).*;
END
$$;
