-- Transactional outbox: every state change writes its event here in the same
-- transaction; the relay publishes to NATS JetStream in per-aggregate order
-- with Nats-Msg-Id = event_id. `txid` lets a relay publish only rows whose
-- transaction is older than every running one (ids can commit out of order).
CREATE TABLE numbering.outbox (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id       uuid NOT NULL CONSTRAINT outbox_event_once UNIQUE,
    txid           xid8 NOT NULL DEFAULT pg_current_xact_id(),
    stream         text NOT NULL CONSTRAINT outbox_stream_known CHECK (stream IN
                   ('NUMBERING_EVENTS', 'NUMBERING_LEASES', 'NUMBERING_AUDIT', 'NUMBERING_OPS', 'NUMBERING_REGULATOR')),
    event_type     text NOT NULL,
    aggregate_type text NOT NULL,
    aggregate_id   text NOT NULL,
    tenant_id      text,
    payload        json NOT NULL,
    occurred_at    timestamptz NOT NULL DEFAULT now(),
    published_at   timestamptz
);
CREATE INDEX outbox_per_aggregate_order ON numbering.outbox (aggregate_id, id);
CREATE INDEX outbox_unpublished ON numbering.outbox (txid, id) WHERE published_at IS NULL;
CREATE INDEX outbox_published_prune ON numbering.outbox (published_at) WHERE published_at IS NOT NULL;

-- Wake relays; polling remains the fallback for notifications lost while disconnected.
CREATE FUNCTION numbering.notify_outbox() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('numbering_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON numbering.outbox
    FOR EACH STATEMENT EXECUTE FUNCTION numbering.notify_outbox();

GRANT SELECT, INSERT, UPDATE (published_at), DELETE ON numbering.outbox TO numbering_app;
