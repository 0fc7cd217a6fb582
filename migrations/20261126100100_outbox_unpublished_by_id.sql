-- The relay reads unpublished rows in id order (per-identifier order, see
-- ARCHITECTURE.md); this index makes that read touch only unpublished rows,
-- however many published ones await pruning.
CREATE INDEX outbox_unpublished_by_id ON numbering.outbox (id) WHERE published_at IS NULL;
