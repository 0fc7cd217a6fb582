-- `reservations_by_tenant (tenant_id, status, kind)` indexed every
-- reservation ever made. Every query that looks reservations up by tenant
-- wants the live ones only — the quota count (`numbering.tenant_usage`) and
-- a tenant's live reservations when its pool is suspended — and
-- `reservations_live_by_tenant` serves them from the few live rows. Others
-- go by id or by number. The index was written by every reservation and
-- again by every hold, assignment, cancellation or expiry (each changes the
-- status, so none is a HOT update) and never read.
DROP INDEX numbering.reservations_by_tenant;
