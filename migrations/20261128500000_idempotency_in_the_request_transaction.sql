-- An Idempotency-Key taken inside the request's own transaction, so that
-- the change and its stored response commit together (exactly once, even
-- if the process dies at any point).
--
-- A key in use is marked by a transaction-scoped advisory lock on
-- (IDEMPOTENCY_LOCK_CLASS, hashtext(owner || E'\n' || key)) instead of a
-- committed IN_PROGRESS row: it is visible to every other transaction at
-- once and goes away with the transaction, however that ends. The class
-- keeps these locks apart from the single-bigint advisory locks of the
-- sealer, the importer, the exporter and the sweeper. Two different keys
-- whose 32-bit hashes collide while both run make the later one answer
-- 409 (in use), which a client retries.
--
-- SECURITY INVOKER with qualified names and no SET clause (see
-- 20261128300400): row-level security applies to the caller's scope, which
-- the transaction has already set.
CREATE FUNCTION numbering.enter_idempotency_key(
    p_owner text, p_key text, p_abandoned_after_secs double precision)
RETURNS TABLE (claimed boolean, request_fingerprint text, status text,
               response_status smallint, response_headers json, response_body bytea)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock(1229212491, hashtext(p_owner || E'\n' || p_key)) THEN
        -- another request with this key runs right now
        RETURN QUERY SELECT false, NULL::text, NULL::text, NULL::smallint, NULL::json, NULL::bytea;
        RETURN;
    END IF;
    -- a statement of its own, so a fresh snapshot: it sees what a request
    -- that held the lock until just now committed
    RETURN QUERY
        SELECT false, k.request_fingerprint, k.status, k.response_status, k.response_headers, k.response_body
          FROM numbering.idempotency_keys k
         WHERE k.scope = p_owner AND k.key = p_key
           AND k.expires_at > now()
           AND NOT (k.status = 'IN_PROGRESS'
                    AND k.created_at < now() - make_interval(secs => p_abandoned_after_secs));
    IF NOT FOUND THEN
        -- free, or expired, or abandoned by a dead process: ours
        RETURN QUERY SELECT true, NULL::text, NULL::text, NULL::smallint, NULL::json, NULL::bytea;
    END IF;
END
$$;
REVOKE ALL ON FUNCTION numbering.enter_idempotency_key(text, text, double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION numbering.enter_idempotency_key(text, text, double precision) TO numbering_app;

-- The claim-first way (long requests) takes the same lock for the length
-- of its claim, so it never claims a key that a request runs in its own
-- transaction right now.
CREATE OR REPLACE FUNCTION numbering.claim_idempotency_key(
    p_tenant text, p_owner text, p_key text, p_fingerprint text, p_abandoned_after_secs double precision)
RETURNS TABLE (claimed boolean, request_fingerprint text, status text,
               response_status smallint, response_headers json, response_body bytea)
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    PERFORM set_config('numbering.tenant_id', coalesce(p_tenant, ''), true),
            set_config('numbering.scope', CASE WHEN p_tenant IS NULL THEN 'platform' ELSE 'tenant' END, true);
    IF NOT pg_try_advisory_xact_lock(1229212491, hashtext(p_owner || E'\n' || p_key)) THEN
        RETURN QUERY SELECT false, NULL::text, NULL::text, NULL::smallint, NULL::json, NULL::bytea;
        RETURN;
    END IF;
    INSERT INTO numbering.idempotency_keys (scope, key, request_fingerprint)
        VALUES (p_owner, p_key, p_fingerprint) ON CONFLICT (scope, key) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        -- expired keys, and claims abandoned by a dead process, are free again
        DELETE FROM numbering.idempotency_keys k
         WHERE k.scope = p_owner AND k.key = p_key
           AND (k.expires_at <= now()
                OR (k.status = 'IN_PROGRESS' AND k.created_at < now() - make_interval(secs => p_abandoned_after_secs)));
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n = 1 THEN
            INSERT INTO numbering.idempotency_keys (scope, key, request_fingerprint)
                VALUES (p_owner, p_key, p_fingerprint) ON CONFLICT (scope, key) DO NOTHING;
            GET DIAGNOSTICS n = ROW_COUNT;
        END IF;
    END IF;
    IF n = 1 THEN
        RETURN QUERY SELECT true, NULL::text, NULL::text, NULL::smallint, NULL::json, NULL::bytea;
        RETURN;
    END IF;
    RETURN QUERY SELECT false, k.request_fingerprint, k.status, k.response_status, k.response_headers, k.response_body
                   FROM numbering.idempotency_keys k WHERE k.scope = p_owner AND k.key = p_key;
END
$$;
