-- The outbox's NOTIFY moves out of the writing transaction. A transaction
-- that notifies takes one cluster-wide lock at commit and keeps it until
-- its commit record is flushed, so with this trigger every lifecycle
-- change committed one at a time behind the previous one's WAL flush.
-- The store now sends the wakeup after its commits, in a transaction of
-- its own committed asynchronously, coalesced (`store/src/wakeup.rs`);
-- relays still poll for anything else.
DROP TRIGGER outbox_notify ON numbering.outbox;
DROP FUNCTION numbering.notify_outbox();
