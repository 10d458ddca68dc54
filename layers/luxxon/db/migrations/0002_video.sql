-- Video plane: decoder leases, webhook replay protection.

-- A decoder task holds a session while it renews the lease; a dead task's leases lapse and another claims them.
CREATE TABLE decoder_leases (
    session_id   uuid PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    owner        text NOT NULL,
    expires_at   timestamptz NOT NULL,
    claimed_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    generation   integer NOT NULL DEFAULT 1
);
CREATE INDEX decoder_leases_owner_idx ON decoder_leases (owner);

-- Sessions that need a decoder: started (a live input exists) and not terminal.
CREATE INDEX sessions_needs_decoder_idx ON sessions (id)
    WHERE state IN ('ASSIGNED', 'LIVE', 'PAUSED') AND whep_url IS NOT NULL;

-- Every accepted webhook, by the hash of its signature: a replay is refused.
CREATE TABLE webhook_receipts (
    signature_sha256 bytea PRIMARY KEY,
    received_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    event            text NOT NULL,
    input_id         text
);

CREATE INDEX sessions_video_backend_ref_idx ON sessions (video_backend_ref) WHERE video_backend_ref IS NOT NULL;
