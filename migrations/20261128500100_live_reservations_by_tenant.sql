-- The quota check counts a tenant's live reservations on every reservation
-- (`numbering.tenant_usage`, under the pool lock). Its plan is cached
-- generic inside `numbering.lock_pool`, and for `tenant_id = $1` over a
-- table where most rows are ended, a generic plan may well be a sequential
-- scan of every reservation ever made (the flows benchmark caught it
-- reading thousands of CONSUMED rows per call). An index holding only the
-- live ones, by tenant, makes the count's cost the tenant's live
-- reservations, whatever the history.
CREATE INDEX reservations_live_by_tenant ON numbering.reservations (tenant_id, kind, expires_at)
    WHERE status IN ('RESERVED', 'HELD');
