-- The credit check (POST /sessions): one row per wallet to serialize the creates drawing on it, and holds.

-- Locked (FOR UPDATE) by a create while it reads the pool on chain and the holds and inserts its session, so
-- concurrent creates against one wallet, from any workspace sharing it, can never together exceed its balance.
-- A row lock, not an advisory lock: behind RDS Proxy an advisory lock pins the connection.
CREATE TABLE wallet_locks (
    address text PRIMARY KEY CHECK (address = lower(address))
);

-- Holds, the one definition (DESIGN.md, "Money plane"), used by the credit check, /wallet and settlement: a session
-- holds its `hold_micro_usdc` against its consumer wallet from creation until it ends; an ENDED/EXPIRED one its
-- `charged_micro_usdc` until its settlement is CONFIRMED (a FAILED one keeps holding); nothing otherwise.
CREATE FUNCTION lx_wallet_holds(p_wallet text)
RETURNS TABLE (session_id uuid, workspace_id uuid, state text, amount bigint, created_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT s.id, s.consumer_workspace_id, s.state,
           CASE WHEN s.state IN ('REQUESTED', 'ASSIGNED', 'LIVE', 'PAUSED') THEN s.hold_micro_usdc
                ELSE s.charged_micro_usdc END,
           s.created_at
    FROM sessions s LEFT JOIN settlements t ON t.session_id = s.id
    WHERE lower(s.consumer_wallet) = lower(p_wallet)
      AND (s.state IN ('REQUESTED', 'ASSIGNED', 'LIVE', 'PAUSED')
           OR (s.charged_micro_usdc > 0 AND t.status IS DISTINCT FROM 'CONFIRMED'))
$$;
