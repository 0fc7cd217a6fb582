-- `outbox_per_aggregate_order (aggregate_id, id)` was made for reading one
-- aggregate's events in order. Nothing does: the relay publishes every
-- unpublished row in id order (which is also each aggregate's order)
-- through `outbox_unpublished_by_id`, pruning goes by `published_at`, and no
-- query filters the outbox by aggregate. The index was only ever written:
-- a B-tree insert for every state change and again for every publish (the
-- relay's update of `published_at` is not HOT).
DROP INDEX numbering.outbox_per_aggregate_order;
