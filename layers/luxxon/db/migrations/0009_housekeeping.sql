-- Webhook receipts were the replay guard of the signed-webhook scheme; edge_events (0004) replaced them.
DROP TABLE webhook_receipts;
-- The sweep prunes edge events older than any session they could still bill (sessions last at most a few hours).
CREATE INDEX edge_events_received_idx ON edge_events (received_at);
