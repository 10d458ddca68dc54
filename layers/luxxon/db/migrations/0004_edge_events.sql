-- Disconnect windows from two video sources, and the edge's live-input events they are derived from.

-- Every window records who reported it: the video edge's notifications ('edge'), the frame decoder ('decoder') or
-- the operator's side ('operator': telemetry). Each source keeps its own windows, so the edge's reconnect never
-- closes the decoder's window or the reverse; the meter counts the union of all of them.
ALTER TABLE disconnect_windows ADD COLUMN source text;
UPDATE disconnect_windows SET source = CASE WHEN reason = 'NETWORK_ERROR' THEN 'edge' ELSE 'operator' END;
ALTER TABLE disconnect_windows
    ALTER COLUMN source SET NOT NULL,
    ADD CONSTRAINT disconnect_windows_source_check CHECK (source IN ('edge', 'decoder', 'operator'));
-- At most one open window per session, reason and source (was: per session and reason).
DROP INDEX disconnect_windows_one_open_idx;
CREATE UNIQUE INDEX disconnect_windows_one_open_idx ON disconnect_windows (session_id, reason, source)
    WHERE closed_at IS NULL;

-- Every live-input event the edge reported (Cloudflare Notifications: connected, disconnected, errored), once.
-- The scheme signs no timestamp and may redeliver or reorder, so the edge's windows are derived from all of an
-- input's events in `updated_at` order; `event_key` (a hash of the event's content) makes a redelivery a no-op.
-- Rows of inputs whose session is terminal are no longer read and may be pruned.
CREATE TABLE edge_events (
    event_key   bytea PRIMARY KEY,
    input_id    text NOT NULL,
    event_type  text NOT NULL,
    signal      text NOT NULL CHECK (signal IN ('connected', 'disconnected', 'errored')),
    updated_at  timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX edge_events_input_idx ON edge_events (input_id, updated_at);
