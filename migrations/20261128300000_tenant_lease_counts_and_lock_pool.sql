-- How many current (ACTIVE or SUSPENDED) leases each tenant holds, per
-- kind, kept by the database itself. Every reservation checks the tenant's
-- quota under its pool lock; counting the leases there costs time in
-- proportion to what the tenant holds (a tenant with 50,000 numbers would
-- make each of its reservations scan 50,000 rows while holding its pool
-- lock). The counter makes that check O(1).
--
-- Only the trigger below writes it (SECURITY DEFINER, owned by the schema
-- owner, which row-level security does not bind on this table); the
-- application role may read it, its own tenant's rows only.
CREATE TABLE numbering.tenant_lease_counts (
    tenant_id      text NOT NULL,
    kind           numbering.identifier_kind NOT NULL,
    current_leases integer NOT NULL CONSTRAINT tenant_lease_counts_non_negative CHECK (current_leases >= 0),
    PRIMARY KEY (tenant_id, kind)
);

ALTER TABLE numbering.tenant_lease_counts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_lease_counts_scope ON numbering.tenant_lease_counts FOR SELECT
    USING (numbering.is_platform() OR tenant_id = numbering.current_tenant());
GRANT SELECT ON numbering.tenant_lease_counts TO numbering_app;

CREATE FUNCTION numbering.count_current_leases() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = numbering, pg_temp AS $$
DECLARE
    was_current boolean := TG_OP <> 'INSERT' AND OLD.status IN ('ACTIVE', 'SUSPENDED');
    is_current  boolean := TG_OP <> 'DELETE' AND NEW.status IN ('ACTIVE', 'SUSPENDED');
BEGIN
    IF was_current AND is_current AND OLD.tenant_id = NEW.tenant_id AND OLD.kind = NEW.kind THEN
        RETURN NULL; -- suspended or reinstated: still held
    END IF;
    IF was_current THEN
        UPDATE numbering.tenant_lease_counts c SET current_leases = c.current_leases - 1
         WHERE c.tenant_id = OLD.tenant_id AND c.kind = OLD.kind;
    END IF;
    IF is_current THEN
        INSERT INTO numbering.tenant_lease_counts AS c (tenant_id, kind, current_leases)
            VALUES (NEW.tenant_id, NEW.kind, 1)
            ON CONFLICT (tenant_id, kind) DO UPDATE SET current_leases = c.current_leases + 1;
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION numbering.count_current_leases() FROM PUBLIC;

CREATE TRIGGER leases_count_current AFTER INSERT OR DELETE OR UPDATE OF status, tenant_id, kind
    ON numbering.leases FOR EACH ROW EXECUTE FUNCTION numbering.count_current_leases();

INSERT INTO numbering.tenant_lease_counts (tenant_id, kind, current_leases)
SELECT tenant_id, kind, count(*) FROM numbering.leases
 WHERE status IN ('ACTIVE', 'SUSPENDED') GROUP BY tenant_id, kind;

-- What a tenant uses, per kind: its live reservations (few: they last
-- minutes to days) plus its current leases from the counter. A lapsed
-- reservation no longer counts, swept or not.
CREATE FUNCTION numbering.tenant_usage(p_tenant text)
RETURNS TABLE (msisdn bigint, short_code bigint, alpha bigint)
LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(u.n) FILTER (WHERE u.kind = 'MSISDN'), 0)::bigint,
           coalesce(sum(u.n) FILTER (WHERE u.kind = 'SHORT_CODE'), 0)::bigint,
           coalesce(sum(u.n) FILTER (WHERE u.kind = 'ALPHA'), 0)::bigint
      FROM (SELECT r.kind, count(*) AS n FROM numbering.reservations r
             WHERE r.tenant_id = p_tenant AND r.status IN ('RESERVED', 'HELD') AND r.expires_at > now()
             GROUP BY r.kind
            UNION ALL
            SELECT c.kind, c.current_leases::bigint FROM numbering.tenant_lease_counts c
             WHERE c.tenant_id = p_tenant) u
$$;
REVOKE ALL ON FUNCTION numbering.tenant_usage(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION numbering.tenant_usage(text) TO numbering_app;

-- A tenant's pool, locked, with what the tenant already uses: one round
-- trip at the start of every reservation instead of two.
--
-- The usage is counted by a second statement, after the pool row's lock has
-- been granted. A single SELECT … FOR UPDATE with the counts beside it would
-- count from the snapshot it started with, before waiting for the lock, so
-- two racing reservations of one tenant could both fit under the quota.
-- Inside a VOLATILE plpgsql function every statement takes a fresh snapshot
-- (READ COMMITTED), which is exactly the old two-statement behaviour.
--
-- SECURITY INVOKER: row-level security applies to the caller's scope as it
-- did to the statements this replaces. No row: the tenant has no pool. No
-- `SET search_path` (every name is qualified, and an invoker function gains
-- no privilege a path could abuse): that clause alone made each call reset
-- and recompute the search path twice, a fifth of the database's CPU in the
-- flows benchmark.
CREATE FUNCTION numbering.lock_pool(p_tenant text)
RETURNS TABLE (status text, quota_msisdn integer, quota_short_code integer, quota_alpha integer,
               allowed_kinds text[], allowed_operators text[], vanity_allowed boolean,
               used_msisdn bigint, used_short_code bigint, used_alpha bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    p numbering.tenant_pools;
BEGIN
    SELECT * INTO p FROM numbering.tenant_pools t WHERE t.tenant_id = p_tenant FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT p.status::text, p.quota_msisdn, p.quota_short_code, p.quota_alpha,
               p.allowed_kinds::text[], p.allowed_operators, p.vanity_allowed,
               u.msisdn, u.short_code, u.alpha
          FROM numbering.tenant_usage(p_tenant) u;
END
$$;

REVOKE ALL ON FUNCTION numbering.lock_pool(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION numbering.lock_pool(text) TO numbering_app;
