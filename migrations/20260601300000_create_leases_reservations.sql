CREATE TABLE numbering.reservations (
    id          uuid PRIMARY KEY,
    number_id   bigint NOT NULL REFERENCES numbering.numbers (id),
    identifier  text NOT NULL,
    kind        numbering.identifier_kind NOT NULL,
    tenant_id   text NOT NULL,
    status      numbering.reservation_status NOT NULL DEFAULT 'RESERVED',
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    held_at     timestamptz,
    ended_at    timestamptz,
    CONSTRAINT reservations_expiry_after_creation CHECK (expires_at > created_at),
    CONSTRAINT reservations_ended_iff_final CHECK ((status IN ('RESERVED', 'HELD')) = (ended_at IS NULL))
);
-- At most one live reservation per identifier. A reservation whose TTL has
-- passed is lapsed by the store (numbering.lapse_reservation) before a new
-- one is written, so expiry never depends on a sweeper having run.
CREATE UNIQUE INDEX reservations_one_live_per_number ON numbering.reservations (number_id)
    WHERE status IN ('RESERVED', 'HELD');
CREATE INDEX reservations_by_tenant ON numbering.reservations (tenant_id, status, kind);

CREATE TABLE numbering.leases (
    id             uuid PRIMARY KEY,
    number_id      bigint NOT NULL REFERENCES numbering.numbers (id),
    identifier     text NOT NULL,
    kind           numbering.identifier_kind NOT NULL,
    tenant_id      text NOT NULL,
    reservation_id uuid REFERENCES numbering.reservations (id),
    status         numbering.lease_status NOT NULL DEFAULT 'ACTIVE',
    auto_renew     boolean NOT NULL DEFAULT true,
    started_at     timestamptz NOT NULL DEFAULT now(),
    term_end       timestamptz NOT NULL,
    renewals       integer NOT NULL DEFAULT 0 CONSTRAINT leases_renewals_non_negative CHECK (renewals >= 0),
    ended_at       timestamptz,
    end_reason     numbering.quarantine_reason,
    CONSTRAINT leases_term_after_start CHECK (term_end > started_at),
    CONSTRAINT leases_ended_iff_final CHECK ((status = 'ENDED') = (ended_at IS NOT NULL AND end_reason IS NOT NULL))
);
-- At most one active or suspended lease per identifier.
CREATE UNIQUE INDEX leases_one_active_per_number ON numbering.leases (number_id)
    WHERE status IN ('ACTIVE', 'SUSPENDED');
CREATE INDEX leases_by_tenant ON numbering.leases (tenant_id, status);
CREATE INDEX leases_renewal_due ON numbering.leases (term_end) WHERE status = 'ACTIVE';
CREATE INDEX leases_by_number ON numbering.leases (number_id, started_at);

ALTER TABLE numbering.reservations ENABLE ROW LEVEL SECURITY;
ALTER TABLE numbering.reservations FORCE ROW LEVEL SECURITY;
CREATE POLICY reservations_scope ON numbering.reservations
    USING (numbering.is_platform() OR tenant_id = numbering.current_tenant())
    WITH CHECK (numbering.is_platform() OR tenant_id = numbering.current_tenant());

ALTER TABLE numbering.leases ENABLE ROW LEVEL SECURITY;
ALTER TABLE numbering.leases FORCE ROW LEVEL SECURITY;
CREATE POLICY leases_scope ON numbering.leases
    USING (numbering.is_platform() OR tenant_id = numbering.current_tenant())
    WITH CHECK (numbering.is_platform() OR tenant_id = numbering.current_tenant());

GRANT SELECT, INSERT, UPDATE ON numbering.reservations, numbering.leases TO numbering_app;

-- Lapse a reservation whose TTL has passed, whoever holds it. Tenant scope
-- cannot see another tenant's reservation, yet a lapsed one must not block a
-- new reservation: this narrow definer function is the only way across, and
-- it can do nothing but expire what has already expired. It returns what it
-- lapsed so the caller writes the audit entry and event in its transaction.
CREATE FUNCTION numbering.lapse_reservation(p_identity_key text)
    RETURNS TABLE (number_id bigint, identifier text, kind text, reservation_id uuid, tenant_id text, from_state numbering.number_state,
                   expires_at timestamptz, new_version bigint)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = numbering, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    prior_scope text := current_setting('numbering.scope', true);
    n record;
    r record;
BEGIN
    PERFORM set_config('numbering.scope', 'platform', true);
    SELECT nb.id, nb.identifier, nb.kind, nb.state, nb.tenant_id, nb.version INTO n
        FROM numbering.numbers nb
        WHERE nb.identity_key = p_identity_key AND nb.state IN ('RESERVED', 'HELD') AND nb.reserved_until <= now()
        FOR UPDATE;
    IF FOUND THEN
        UPDATE numbering.reservations rs SET status = 'EXPIRED', ended_at = now()
            WHERE rs.number_id = n.id AND rs.status IN ('RESERVED', 'HELD')
            RETURNING rs.id, rs.expires_at INTO r;
        UPDATE numbering.numbers SET state = 'AVAILABLE', tenant_id = NULL, reserved_until = NULL,
                version = version + 1, state_changed_at = now()
            WHERE id = n.id;
        number_id := n.id; identifier := n.identifier; kind := n.kind::text; reservation_id := r.id; tenant_id := n.tenant_id; from_state := n.state;
        expires_at := r.expires_at; new_version := n.version + 1;
        RETURN NEXT;
    END IF;
    PERFORM set_config('numbering.scope', coalesce(prior_scope, ''), true);
END
$$;
REVOKE ALL ON FUNCTION numbering.lapse_reservation(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION numbering.lapse_reservation(text) TO numbering_app;

-- The state of an identifier in inventory, whoever holds it, and nothing
-- more: lets a tenant told "not visible" distinguish "taken" (CONFLICT)
-- from "not in inventory" (NOT_FOUND) without seeing the holder.
CREATE FUNCTION numbering.inventory_state(p_identity_key text) RETURNS numbering.number_state
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = numbering, pg_temp
    AS $$ SELECT state FROM numbering.numbers WHERE identity_key = p_identity_key
          ORDER BY (state = 'RETIRED'), id DESC LIMIT 1 $$;
REVOKE ALL ON FUNCTION numbering.inventory_state(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION numbering.inventory_state(text) TO numbering_app;
