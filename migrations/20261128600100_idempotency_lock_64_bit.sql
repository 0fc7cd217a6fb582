-- The advisory lock that marks an Idempotency-Key in use was keyed by a
-- 32-bit hash, (1229212491, hashtext(owner || E'\n' || key)): two
-- different keys whose hashes collide while both run made the later one
-- answer 409 (in use) for a key nobody was using. Among k keys in flight
-- that happens to a request with probability about k / 2^32, so some in a
-- billion requests. The lock is now the single-bigint advisory lock on a
-- 64-bit hash of the same text, seeded with the old class number, which
-- makes a collision (with another key, or with the handful of fixed
-- single-bigint locks of the sealer, the importer, the exporter and the
-- sweeper) about 2^32 times less likely. Both ways of running a request
-- take the same lock, as before; grants are unchanged (CREATE OR REPLACE
-- keeps them).
CREATE OR REPLACE FUNCTION numbering.enter_idempotency_key(
    p_owner text, p_key text, p_abandoned_after_secs double precision)
RETURNS TABLE (claimed boolean, request_fingerprint text, status text,
               response_status smallint, response_headers json, response_body bytea)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtextextended(p_owner || E'\n' || p_key, 1229212491)) THEN
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
    IF NOT pg_try_advisory_xact_lock(hashtextextended(p_owner || E'\n' || p_key, 1229212491)) THEN
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
