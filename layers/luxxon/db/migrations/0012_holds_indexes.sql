-- Holds read only what can hold: a wallet's open sessions, and its ended sessions whose settlement is not CONFIRMED
-- (each through an index that holds nothing else), never the wallet's whole history. Same definition as 0011.
CREATE INDEX sessions_consumer_wallet_open_idx ON sessions (lower(consumer_wallet))
    WHERE state IN ('REQUESTED', 'ASSIGNED', 'LIVE', 'PAUSED');
CREATE INDEX settlements_consumer_wallet_open_idx ON settlements (lower(consumer_wallet))
    WHERE status IN ('PENDING', 'SUBMITTED', 'FAILED');
DROP INDEX sessions_consumer_wallet_idx;

CREATE OR REPLACE FUNCTION lx_wallet_holds(p_wallet text)
RETURNS TABLE (session_id uuid, workspace_id uuid, state text, amount bigint, created_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT s.id, s.consumer_workspace_id, s.state, s.hold_micro_usdc, s.created_at
    FROM sessions s
    WHERE lower(s.consumer_wallet) = lower(p_wallet) AND s.state IN ('REQUESTED', 'ASSIGNED', 'LIVE', 'PAUSED')
    UNION ALL
    SELECT s.id, s.consumer_workspace_id, s.state, s.charged_micro_usdc, s.created_at
    FROM settlements t JOIN sessions s ON s.id = t.session_id
    WHERE lower(t.consumer_wallet) = lower(p_wallet) AND t.status IN ('PENDING', 'SUBMITTED', 'FAILED')
      AND s.charged_micro_usdc > 0
$$;
