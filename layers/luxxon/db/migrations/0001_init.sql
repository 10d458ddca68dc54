-- Luxxon schema v1: identity, sessions, meter inputs, pricing, settlement, outbox.
-- PostgreSQL 15 + PostGIS 3 (Aurora PostgreSQL compatible). Money is integer µUSDC (BIGINT).

CREATE EXTENSION IF NOT EXISTS postgis;

CREATE TABLE workspaces (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    roles          text[] NOT NULL CHECK (cardinality(roles) > 0 AND roles <@ ARRAY['CONSUMER', 'SUPPLIER']),
    availability   text NOT NULL DEFAULT 'OFFLINE' CHECK (availability IN ('ONLINE', 'BUSY', 'OFFLINE')),
    coverage_area  geography(MultiPolygon, 4326),
    wallet_address text CHECK (wallet_address ~ '^0x[0-9a-fA-F]{40}$'),
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- Dispatch looks only at suppliers that can take work: a partial index keeps the rest out of the tree.
CREATE INDEX workspaces_dispatchable_coverage_gix ON workspaces USING gist (coverage_area)
    WHERE availability = 'ONLINE' AND 'SUPPLIER' = ANY (roles);

CREATE TABLE members (
    workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    wallet_address text NOT NULL CHECK (wallet_address ~ '^0x[0-9a-fA-F]{40}$'),
    role           text NOT NULL DEFAULT 'MEMBER' CHECK (role IN ('OWNER', 'ADMIN', 'MEMBER')),
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (workspace_id, wallet_address)
);
CREATE INDEX members_wallet_idx ON members (lower(wallet_address));

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    prefix       text NOT NULL,
    key_hash     bytea NOT NULL UNIQUE, -- sha256 of the full key; the key itself is never stored
    scopes       text[] NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    revoked_at   timestamptz
);
CREATE INDEX api_keys_workspace_idx ON api_keys (workspace_id, created_at);

CREATE TABLE quotes (
    id                         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    consumer_workspace_id      uuid NOT NULL REFERENCES workspaces (id),
    point                      geography(Point, 4326) NOT NULL,
    rate_per_second_micro_usdc bigint NOT NULL CHECK (rate_per_second_micro_usdc >= 0),
    expires_at                 timestamptz NOT NULL,
    consumed_at                timestamptz,
    created_at                 timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE sessions (
    id                         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    consumer_workspace_id      uuid NOT NULL REFERENCES workspaces (id),
    operator_workspace_id      uuid REFERENCES workspaces (id),
    state                      text NOT NULL DEFAULT 'REQUESTED'
        CHECK (state IN ('REQUESTED', 'ASSIGNED', 'LIVE', 'PAUSED', 'ENDED', 'EXPIRED', 'CANCELLED')),
    requested_at_point         geography(Point, 4326) NOT NULL,
    geofence_radius_m          integer NOT NULL CHECK (geofence_radius_m > 0),
    max_duration_seconds       integer NOT NULL CHECK (max_duration_seconds > 0),
    wait_timeout_seconds       integer NOT NULL CHECK (wait_timeout_seconds BETWEEN 5 AND 3600),
    wait_deadline_at           timestamptz NOT NULL,
    rate_per_second_micro_usdc bigint NOT NULL CHECK (rate_per_second_micro_usdc >= 0),
    hold_micro_usdc            bigint NOT NULL CHECK (hold_micro_usdc >= 0),
    quote_id                   uuid REFERENCES quotes (id),
    assigned_at                timestamptz,
    started_at                 timestamptz,
    ended_at                   timestamptz,
    clean_seconds              integer NOT NULL DEFAULT 0 CHECK (clean_seconds >= 0),
    failed_seconds             integer NOT NULL DEFAULT 0 CHECK (failed_seconds >= 0),
    charged_micro_usdc         bigint NOT NULL DEFAULT 0 CHECK (charged_micro_usdc >= 0),
    authorized                 boolean NOT NULL DEFAULT false,
    settlement_tx_hash         text,
    video_backend_ref          text,
    whip_url                   text,
    whep_url                   text,
    created_at                 timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at                 timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (charged_micro_usdc <= hold_micro_usdc),
    CHECK (clean_seconds <= max_duration_seconds),
    CHECK (operator_workspace_id IS NOT NULL OR state IN ('REQUESTED', 'CANCELLED', 'EXPIRED')),
    CHECK (started_at IS NOT NULL OR state NOT IN ('LIVE', 'PAUSED', 'ENDED'))
);
-- Either side lists its sessions newest first (keyset pagination on (created_at, id)).
CREATE INDEX sessions_consumer_created_idx ON sessions (consumer_workspace_id, created_at DESC, id DESC);
CREATE INDEX sessions_operator_created_idx ON sessions (operator_workspace_id, created_at DESC, id DESC)
    WHERE operator_workspace_id IS NOT NULL;
-- Supplier inbox: only REQUESTED rows are in the spatial index.
CREATE INDEX sessions_requested_point_gix ON sessions USING gist (requested_at_point) WHERE state = 'REQUESTED';
-- Pre-LIVE expiry sweep.
CREATE INDEX sessions_wait_deadline_idx ON sessions (wait_deadline_at) WHERE state IN ('REQUESTED', 'ASSIGNED');

CREATE TABLE disconnect_windows (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    reason     text NOT NULL CHECK (reason IN ('NETWORK_ERROR', 'STALE_TELEMETRY', 'OUTSIDE_GEOFENCE')),
    opened_at  timestamptz NOT NULL,
    closed_at  timestamptz,
    CHECK (closed_at IS NULL OR closed_at >= opened_at)
);
CREATE INDEX disconnect_windows_session_idx ON disconnect_windows (session_id, opened_at);
-- At most one open window per reason and session.
CREATE UNIQUE INDEX disconnect_windows_one_open_idx ON disconnect_windows (session_id, reason) WHERE closed_at IS NULL;

CREATE TABLE telemetry_samples (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id   uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    recorded_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    point        geography(Point, 4326) NOT NULL,
    accuracy_m   real,
    heading_deg  real,
    speed_mps    real
);
CREATE INDEX telemetry_samples_session_idx ON telemetry_samples (session_id, recorded_at DESC);

CREATE TABLE settlements (
    session_id         uuid PRIMARY KEY REFERENCES sessions (id),
    status             text NOT NULL DEFAULT 'PENDING'
        CHECK (status IN ('PENDING', 'SUBMITTED', 'CONFIRMED', 'FAILED')),
    charged_micro_usdc bigint NOT NULL CHECK (charged_micro_usdc >= 0),
    clean_seconds      integer NOT NULL,
    tx_hash            text,
    attempts           integer NOT NULL DEFAULT 0,
    last_error         text,
    created_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at         timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE chain_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    block_number bigint NOT NULL,
    tx_hash      text NOT NULL,
    log_index    integer NOT NULL,
    event_name   text NOT NULL,
    args         jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (tx_hash, log_index)
);

-- Side effects that cannot join a transaction (SQS sends, live-input teardown) are written here in the
-- same transaction as the state change and delivered after commit; the sweep retries what is left.
CREATE TABLE outbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    available_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text,
    delivered_at timestamptz
);
CREATE INDEX outbox_pending_idx ON outbox (available_at) WHERE delivered_at IS NULL;
