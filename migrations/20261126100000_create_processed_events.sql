-- Inbound events already handled by the event consumer, by event id: a
-- redelivered or re-sent event changes nothing twice.
CREATE TABLE numbering.processed_events (
    event_id     text PRIMARY KEY,
    event_type   text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    outcome      json NOT NULL DEFAULT '{}'
);
CREATE INDEX processed_events_prune ON numbering.processed_events (processed_at);

GRANT SELECT, INSERT, DELETE ON numbering.processed_events TO numbering_app;
