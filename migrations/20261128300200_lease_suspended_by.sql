-- Who suspended a lease (the actor label, e.g. `system:event-consumer` for
-- billing delinquency, `admin:<sub>` for an admin). A payment reinstates
-- only what billing suspended: an admin's suspension (a compliance hold, a
-- fraud investigation) is lifted by an admin, never by a paid invoice.
ALTER TABLE numbering.leases ADD COLUMN suspended_by text;

-- Leases suspended before this column existed: the actor of the identifier's
-- last `suspend` audit entry (what actually happened), else unknown, which
-- only an admin lifts.
UPDATE numbering.leases l
   SET suspended_by = coalesce(
       (SELECT a.actor FROM numbering.audit_log a
         WHERE a.subject = l.identifier AND a.action = 'suspend'
         ORDER BY a.occurred_at DESC, a.id DESC LIMIT 1),
       'unknown')
 WHERE l.status = 'SUSPENDED';

ALTER TABLE numbering.leases ADD CONSTRAINT leases_suspended_iff_suspended_by
    CHECK ((status = 'SUSPENDED') = (suspended_by IS NOT NULL));
