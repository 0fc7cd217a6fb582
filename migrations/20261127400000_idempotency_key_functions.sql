-- Claiming and completing an Idempotency-Key in one round trip each. Both
-- run as the caller (SECURITY INVOKER): they set the transaction's scope
-- themselves, and row-level security on idempotency_keys applies exactly as
-- it does to the statements they replace.
CREATE FUNCTION numbering.claim_idempotency_key(
    p_tenant text, p_owner text, p_key text, p_fingerprint text, p_abandoned_after_secs double precision)
RETURNS TABLE (claimed boolean, request_fingerprint text, status text,
               response_status smallint, response_headers json, response_body bytea)
LANGUAGE plpgsql SET search_path = numbering, pg_temp AS $$
DECLARE
    n integer;
BEGIN
    PERFORM set_config('numbering.tenant_id', coalesce(p_tenant, ''), true),
            set_config('numbering.scope', CASE WHEN p_tenant IS NULL THEN 'platform' ELSE 'tenant' END, true);
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

CREATE FUNCTION numbering.complete_idempotency_key(
    p_tenant text, p_owner text, p_key text, p_status smallint, p_headers json, p_body bytea)
RETURNS boolean
LANGUAGE plpgsql SET search_path = numbering, pg_temp AS $$
DECLARE
    n integer;
BEGIN
    PERFORM set_config('numbering.tenant_id', coalesce(p_tenant, ''), true),
            set_config('numbering.scope', CASE WHEN p_tenant IS NULL THEN 'platform' ELSE 'tenant' END, true);
    UPDATE numbering.idempotency_keys k
       SET status = 'COMPLETED', response_status = p_status, response_headers = p_headers,
           response_body = p_body, completed_at = now()
     WHERE k.scope = p_owner AND k.key = p_key;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n = 1;
END
$$;

REVOKE ALL ON FUNCTION numbering.claim_idempotency_key(text, text, text, text, double precision) FROM PUBLIC;
REVOKE ALL ON FUNCTION numbering.complete_idempotency_key(text, text, text, smallint, json, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION numbering.claim_idempotency_key(text, text, text, text, double precision) TO numbering_app;
GRANT EXECUTE ON FUNCTION numbering.complete_idempotency_key(text, text, text, smallint, json, bytea) TO numbering_app;
