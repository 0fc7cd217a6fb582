-- The hot path reads across tenants in one round trip, as a role that can
-- do nothing else: `numbering_reader` holds SELECT on the inventory, sees
-- every row through a SELECT-only policy, and owns the definer functions
-- below. (The migration owner cannot do this job: FORCE row-level security
-- binds it too unless it is a superuser.)
DO $$
BEGIN
    CREATE ROLE numbering_reader NOLOGIN;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
DO $$
BEGIN
    EXECUTE format('GRANT numbering_reader TO %I', current_user);
EXCEPTION
    WHEN others THEN NULL;  -- already a member, or a superuser
END
$$;
GRANT USAGE, CREATE ON SCHEMA numbering TO numbering_reader;
GRANT SELECT ON numbering.numbers, numbering.leases, numbering.mobile_operators TO numbering_reader;
CREATE POLICY numbers_reader ON numbering.numbers FOR SELECT TO numbering_reader USING (true);
CREATE POLICY leases_reader ON numbering.leases FOR SELECT TO numbering_reader USING (true);

-- What ValidateLease needs to know about one identifier (state, holder,
-- current lease, version): nothing a caller could not learn from the
-- verdict itself, plus the version the caches order their writes by.
-- plpgsql, so the plan is cached per session.
CREATE FUNCTION numbering.lease_snapshot(p_identity_key text)
    RETURNS TABLE (state text, tenant_id text, reserved_until timestamptz, version bigint,
                   lease_id uuid, lease_term_end timestamptz, read_at timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = numbering, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT n.state::text, n.tenant_id, n.reserved_until, n.version, l.id, l.term_end, now()
    FROM numbering.numbers n
    LEFT JOIN numbering.leases l ON l.number_id = n.id AND l.status IN ('ACTIVE', 'SUSPENDED')
    WHERE n.identity_key = p_identity_key AND n.state <> 'RETIRED';
END
$$;
ALTER FUNCTION numbering.lease_snapshot(text) OWNER TO numbering_reader;
REVOKE ALL ON FUNCTION numbering.lease_snapshot(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION numbering.lease_snapshot(text) TO numbering_app;

-- Routing's Lookup in one round trip, likewise.
CREATE FUNCTION numbering.lookup_identifier(p_identity_key text)
    RETURNS TABLE (kind text, state text, operator_id text, operator_name text, mcc text, mnc text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = numbering, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT n.kind::text, n.state::text, n.operator_id, o.name, coalesce(n.mcc, o.mcc), n.mnc
    FROM numbering.numbers n
    LEFT JOIN numbering.mobile_operators o ON o.id = n.operator_id
    WHERE n.identity_key = p_identity_key
    ORDER BY (n.state = 'RETIRED'), n.id DESC
    LIMIT 1;
END
$$;
ALTER FUNCTION numbering.lookup_identifier(text) OWNER TO numbering_reader;
REVOKE ALL ON FUNCTION numbering.lookup_identifier(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION numbering.lookup_identifier(text) TO numbering_app;

-- reserve's "taken or not in inventory?" needs the same cross-tenant read.
ALTER FUNCTION numbering.inventory_state(text) OWNER TO numbering_reader;
