-- Idempotency keys (Stripe's semantics): the first response to a (workspace, key) is kept for 24 h and replayed to
-- a retry with the same request; the same key with another request is refused. The row is written in the same
-- transaction as the effect, so a crash never leaves an effect without its key or a key without its effect.
CREATE TABLE idempotency_keys (
    workspace_id uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    key          text        NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    fingerprint  bytea       NOT NULL, -- sha256 of the request (method, path, canonical body)
    response     jsonb,                -- the response's data; null only inside the transaction that claims the key
    token        text,                 -- the consistency token of that transaction
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (workspace_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
