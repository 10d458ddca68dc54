-- A refused request spends nothing, for real. 0006 took the workspace's token first and the key's second, and kept
-- the workspace's when the key's bucket refused: a leaked key sending 200 requests a second got its 25 and drained
-- its workspace's 50 with the rest, so every other key of the workspace was refused (`429 rate:workspace`). Now a
-- request takes a token from both of its buckets or from neither, and a refusal reports the wait of each (0 for a
-- bucket holding a token), so the Retry-After it becomes covers both.
--
-- In this order:
-- 1. The key's bucket is read, without a lock or a write. A key over its budget (the refusal a runaway agent meets
--    200 times a second) goes no further: it locks nothing its workspace's other keys need and writes nothing.
-- 2. The workspace's token is taken (lx_rate_take, 0006: its row stays locked until commit, so the requests of one
--    workspace take their tokens one at a time). A refusal there writes nothing.
-- 3. The key's token is taken. Only a concurrent request of the same key, which took the key's last token between 1
--    and 3, can make this refuse; then the workspace's token goes back, under the lock that hid it from every other
--    request. Rows are locked workspace first, key second, as in 0006: no deadlock.
-- Nothing is created by a refusal either: a bucket that refuses exists already (a missing bucket is full).

-- The seconds until a bucket holds a token: 0 when it holds one (a missing bucket is full). Reads only.
CREATE FUNCTION lx_rate_wait(p_subject uuid, p_rate float8, p_burst float8, p_now timestamptz) RETURNS float8
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_level float8;
BEGIN
    SELECT least(p_burst, b.tokens + p_rate * greatest(0, extract(epoch FROM p_now - b.refilled_at)))
    INTO v_level FROM rate_buckets b WHERE b.subject = p_subject;
    IF NOT FOUND OR v_level >= 1 THEN
        RETURN 0;
    END IF;
    RETURN greatest((1 - v_level) / p_rate, 0.001);
END
$$;

-- Same signature and result as 0006: the principal of an unrevoked key and the wait of each of its buckets (both 0:
-- admitted, one token taken from each; else nothing taken).
CREATE OR REPLACE FUNCTION lx_principal_metered(
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
    v_ws_wait   float8 := 0;
    v_key_wait  float8;
BEGIN
    SELECT k.id, k.workspace_id, k.scopes, w.roles INTO v_key, v_workspace, v_scopes, v_roles
    FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id
    WHERE k.key_hash = p_key_hash AND k.revoked_at IS NULL;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    v_key_wait := lx_rate_wait(v_key, p_key_rate, p_key_burst, v_now);
    IF v_key_wait > 0 THEN
        v_ws_wait := lx_rate_wait(v_workspace, p_workspace_rate, p_workspace_burst, v_now);
    ELSE
        v_ws_wait := lx_rate_take(v_workspace, p_workspace_rate, p_workspace_burst, v_now);
        IF v_ws_wait = 0 THEN
            v_key_wait := lx_rate_take(v_key, p_key_rate, p_key_burst, v_now);
            IF v_key_wait > 0 THEN
                UPDATE rate_buckets SET tokens = tokens + 1 WHERE subject = v_workspace;
            END IF;
        END IF;
    END IF;
    RETURN QUERY SELECT v_key::text, v_workspace::text, v_scopes, v_roles, v_ws_wait, v_key_wait;
END
$$;
