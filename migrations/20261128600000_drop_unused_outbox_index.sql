-- `outbox_unpublished (txid, id) WHERE published_at IS NULL` served a relay
-- that read in transaction-id order. The relay reads unpublished rows in id
-- order (per-identifier order; see ARCHITECTURE.md) through
-- `outbox_unpublished_by_id`, and no other statement filters or orders the
-- outbox by txid, so the index was only written: one more B-tree insert for
-- every state change.
DROP INDEX numbering.outbox_unpublished;
