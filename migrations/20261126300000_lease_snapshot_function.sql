-- The hot path's Postgres tier in one round trip: what ValidateLease needs
-- to know about one identifier (state, holder, current lease, version),
-- read across tenants without a scope-setting transaction. It returns
-- nothing a caller could not learn from the verdict itself plus the version
-- the caches order their writes by.
CREATE FUNCTION numbering.lease_snapshot(p_identity_key text)
    RETURNS TABLE (state text, tenant_id text, reserved_until timestamptz, version bigint,
                   lease_id uuid, lease_term_end timestamptz, read_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = numbering, pg_temp
AS $$
    SELECT n.state::text, n.tenant_id, n.reserved_until, n.version, l.id, l.term_end, now()
    FROM numbering.numbers n
    LEFT JOIN numbering.leases l ON l.number_id = n.id AND l.status IN ('ACTIVE', 'SUSPENDED')
    WHERE n.identity_key = p_identity_key AND n.state <> 'RETIRED'
$$;
REVOKE ALL ON FUNCTION numbering.lease_snapshot(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION numbering.lease_snapshot(text) TO numbering_app;

-- Routing's Lookup in one round trip, likewise.
CREATE FUNCTION numbering.lookup_identifier(p_identity_key text)
    RETURNS TABLE (kind text, state text, operator_id text, operator_name text, mcc text, mnc text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = numbering, pg_temp
AS $$
    SELECT n.kind::text, n.state::text, n.operator_id, o.name, coalesce(n.mcc, o.mcc), n.mnc
    FROM numbering.numbers n
    LEFT JOIN numbering.mobile_operators o ON o.id = n.operator_id
    WHERE n.identity_key = p_identity_key
    ORDER BY (n.state = 'RETIRED'), n.id DESC
    LIMIT 1
$$;
REVOKE ALL ON FUNCTION numbering.lookup_identifier(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION numbering.lookup_identifier(text) TO numbering_app;
