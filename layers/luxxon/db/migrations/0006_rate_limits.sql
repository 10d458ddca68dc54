-- Rate limits: a token bucket per API key and per workspace, spent by the statement that authenticates a request.
--
-- The budget (rate, burst) is policy and arrives as parameters (luxxon.domain.ratelimit); this only spends tokens
-- atomically. A bucket holds up to `burst` tokens and refills at `rate` per second; a request takes one token from
-- each of its buckets, and a request that finds a bucket empty takes nothing from it and learns how long to wait.
-- State lives in the database, so the limit holds across every Lambda instance and gateway worker.
--
-- UNLOGGED: a bucket is worth nothing after a crash (it refills within seconds), and a transaction that wrote only
-- unlogged rows commits without waiting for a WAL flush, so reads do not turn into synchronous commits. (Aurora
-- PostgreSQL keeps unlogged tables across failovers; they are readable on the writer only, which is where every
-- request authenticates.)
CREATE UNLOGGED TABLE rate_buckets (
    subject     uuid PRIMARY KEY, -- an API key's id or a workspace's id
    tokens      double precision NOT NULL,
    refilled_at timestamptz NOT NULL
) WITH (fillfactor = 50); -- room on the page for HOT updates: a hot bucket is rewritten on every request

-- Take one token from a bucket (created full on first use). Returns 0 when taken, else the seconds until one token
-- is there (nothing is written then: a refused request costs no write and does not push the wait further out).
CREATE FUNCTION lx_rate_take(p_subject uuid, p_rate float8, p_burst float8, p_now timestamptz) RETURNS float8
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_level float8;
BEGIN
    INSERT INTO rate_buckets AS b (subject, tokens, refilled_at)
    VALUES (p_subject, p_burst - 1, p_now)
    ON CONFLICT (subject) DO UPDATE
        SET tokens = least(p_burst, b.tokens + p_rate * greatest(0, extract(epoch FROM p_now - b.refilled_at))) - 1,
            refilled_at = greatest(b.refilled_at, p_now)
        WHERE least(p_burst, b.tokens + p_rate * greatest(0, extract(epoch FROM p_now - b.refilled_at))) >= 1
    RETURNING b.tokens INTO v_level;
    IF FOUND THEN
        RETURN 0;
    END IF;
    SELECT least(p_burst, b.tokens + p_rate * greatest(0, extract(epoch FROM p_now - b.refilled_at)))
    INTO v_level FROM rate_buckets b WHERE b.subject = p_subject;
    RETURN greatest((1 - v_level) / p_rate, 0.001);
END
$$;

-- Every authenticated request: the principal of an API key (unrevoked), and its metering in the same statement
-- (no extra round trip). The workspace's bucket is spent first, then the key's; a request refused by its
-- workspace's budget takes nothing from its key's. Waits are 0 within budget.
CREATE FUNCTION lx_principal_metered(
    p_key_hash bytea, p_workspace_rate float8, p_workspace_burst float8, p_key_rate float8, p_key_burst float8
)
RETURNS TABLE (
    key_id text, workspace_id text, scopes text[], roles text[], workspace_wait_s float8, key_wait_s float8
)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_now       timestamptz := clock_timestamp();
    v_key       uuid;
    v_workspace uuid;
    v_scopes    text[];
    v_roles     text[];
    v_ws_wait   float8;
    v_key_wait  float8 := 0;
BEGIN
    SELECT k.id, k.workspace_id, k.scopes, w.roles INTO v_key, v_workspace, v_scopes, v_roles
    FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id
    WHERE k.key_hash = p_key_hash AND k.revoked_at IS NULL;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    v_ws_wait := lx_rate_take(v_workspace, p_workspace_rate, p_workspace_burst, v_now);
    IF v_ws_wait = 0 THEN
        v_key_wait := lx_rate_take(v_key, p_key_rate, p_key_burst, v_now);
    END IF;
    RETURN QUERY SELECT v_key::text, v_workspace::text, v_scopes, v_roles, v_ws_wait, v_key_wait;
END
$$;
