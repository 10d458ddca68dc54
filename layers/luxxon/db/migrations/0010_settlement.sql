-- The settlement plane: wallets stamped on sessions, settlement requests, the relayer's nonces, the chain index.

-- The wallets a session settles between, copied from the workspaces when the session is created (consumer) and
-- accepted (operator): a workspace that changes its wallet later cannot redirect a session's payout.
ALTER TABLE sessions
    ADD COLUMN consumer_wallet text CHECK (consumer_wallet ~ '^0x[0-9a-fA-F]{40}$'),
    ADD COLUMN operator_wallet text CHECK (operator_wallet ~ '^0x[0-9a-fA-F]{40}$');

-- Sessions under way when this runs are stamped now (a workspace without a wallet leaves its session unsettleable:
-- its settlement will be FAILED wallet:missing, visible and retryable once a wallet is stamped by hand).
UPDATE sessions s SET consumer_wallet = w.wallet_address
FROM workspaces w WHERE w.id = s.consumer_workspace_id AND s.state IN ('REQUESTED', 'ASSIGNED', 'LIVE', 'PAUSED');
UPDATE sessions s SET operator_wallet = w.wallet_address
FROM workspaces w WHERE w.id = s.operator_workspace_id AND s.state IN ('ASSIGNED', 'LIVE', 'PAUSED');

CREATE OR REPLACE FUNCTION lx_session_cas_accept(p_id uuid, p_operator uuid, p_from text, p_to text)
RETURNS SETOF lx_session
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN QUERY
    UPDATE sessions s SET state = p_to, operator_workspace_id = p_operator,
           operator_wallet = (SELECT w.wallet_address FROM workspaces w WHERE w.id = p_operator),
           assigned_at = clock_timestamp(), updated_at = clock_timestamp()
    WHERE s.id = p_id AND s.state = p_from AND s.consumer_workspace_id <> p_operator
      AND s.wait_deadline_at > clock_timestamp()
    RETURNING (lx_session_of(s)).*;
END
$$;

-- Nothing ever wrote the v1 tables: they are replaced by the shapes the relayer and the indexer use.
DROP TABLE settlements;
DROP TABLE chain_events;

-- One row per session that ended metered (ENDED, or EXPIRED past maxDurationSeconds), written by the same statement
-- that ends it. PENDING → SUBMITTED (a transaction carries it) → CONFIRMED (its Settled event is `confirmations`
-- deep) or FAILED (the contract skipped it, with the reason). NOT_REQUIRED: nothing to charge (0 clean seconds).
CREATE TABLE settlements (
    session_id                 uuid PRIMARY KEY REFERENCES sessions (id),
    status                     text NOT NULL
        CHECK (status IN ('PENDING', 'SUBMITTED', 'CONFIRMED', 'FAILED', 'NOT_REQUIRED')),
    consumer_wallet            text,
    operator_wallet            text,
    clean_seconds              integer NOT NULL CHECK (clean_seconds >= 0),
    rate_per_second_micro_usdc bigint NOT NULL CHECK (rate_per_second_micro_usdc >= 0),
    max_duration_seconds       integer NOT NULL CHECK (max_duration_seconds > 0),
    amount_micro_usdc          bigint NOT NULL CHECK (amount_micro_usdc = clean_seconds * rate_per_second_micro_usdc),
    -- The transaction that carries it (the latest: a replacement changes it) and how it was sent.
    tx_hash                    text,
    nonce                      bigint,
    max_fee_per_gas            numeric(78),
    priority_fee_per_gas       numeric(78),
    submitted_at               timestamptz,
    attempts                   integer NOT NULL DEFAULT 0,
    -- Where its Settled event is (CONFIRMED), or why it failed (FAILED).
    block_number               bigint,
    block_hash                 text,
    failure                    text,
    -- Set by the sweep's reconciliation when the chain's Settled event disagrees with this row.
    discrepancy                text,
    created_at                 timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at                 timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (status <> 'CONFIRMED' OR (tx_hash IS NOT NULL AND block_number IS NOT NULL))
);
-- The sweep re-queues requests that stalled, oldest first; the relayer replaces a stuck nonce's transaction.
CREATE INDEX settlements_open_idx ON settlements (updated_at) WHERE status IN ('PENDING', 'SUBMITTED');
CREATE INDEX settlements_nonce_idx ON settlements (nonce) WHERE status = 'SUBMITTED';
-- Holds: a wallet's ended sessions whose settlement is not CONFIRMED yet.
CREATE INDEX sessions_consumer_wallet_idx ON sessions (lower(consumer_wallet)) WHERE consumer_wallet IS NOT NULL;

-- The next nonce of each relayer key, as this system last used it. The row is locked while a transaction is signed
-- and sent, which serializes one key's sends across concurrent relayer invocations.
CREATE TABLE relayer_nonces (
    address    text PRIMARY KEY,
    next_nonce bigint NOT NULL CHECK (next_nonce >= 0),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The indexer's copy of the settlement contract's events, `confirmations` deep (per contract address, lowercase).
CREATE TABLE chain_events (
    contract     text NOT NULL,
    block_number bigint NOT NULL,
    log_index    integer NOT NULL,
    block_hash   text NOT NULL,
    tx_hash      text NOT NULL,
    event_name   text NOT NULL,
    session_id   uuid,   -- Settled, SettlementSkipped
    consumer     text,   -- the pool it touches (lowercase)
    operator     text,   -- the earnings it touches (lowercase)
    amount       numeric(78),
    args         jsonb NOT NULL,
    PRIMARY KEY (contract, block_number, log_index)
);
CREATE INDEX chain_events_consumer_idx ON chain_events (contract, consumer, block_number DESC, log_index DESC)
    WHERE consumer IS NOT NULL;
CREATE INDEX chain_events_operator_idx ON chain_events (contract, operator, block_number DESC, log_index DESC)
    WHERE operator IS NOT NULL;
CREATE INDEX chain_events_session_idx ON chain_events (session_id) WHERE session_id IS NOT NULL;

-- The blocks the indexer has read (their hashes), newest kept: the cursor is the highest, and a hash that no longer
-- matches the chain is a reorg deeper than the confirmation depth.
CREATE TABLE chain_blocks (
    contract     text NOT NULL,
    block_number bigint NOT NULL,
    block_hash   text NOT NULL,
    PRIMARY KEY (contract, block_number)
);
