-- The schema after every migration, as `pg_dump --schema-only` prints it.
-- Generated: do not edit. A test compares it with what the migrations
-- produce; regenerate it with
--   NUMBERING_BLESS=1 cargo test -p numbering-tests --test it -- schema_dump::
-- Left out: the migrator's own table (public._sqlx_migrations), the roles
-- (cluster-wide: numbering_app, numbering_reader, numbering_hot_path are
-- created by the migrations), and the monthly audit partitions
-- (numbering.audit_log_yYYYYmMM), whose names depend on the day the
-- migrations ran: numbering.ensure_audit_partitions creates them.
--
-- PostgreSQL database dump
--



SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: numbering; Type: SCHEMA; Schema: -; Owner: postgres
--

CREATE SCHEMA numbering;


ALTER SCHEMA numbering OWNER TO postgres;

--
-- Name: contract_status; Type: TYPE; Schema: numbering; Owner: postgres
--

CREATE TYPE numbering.contract_status AS ENUM (
    'ACTIVE',
    'SUSPENDED',
    'ENDED'
);


ALTER TYPE numbering.contract_status OWNER TO postgres;

--
-- Name: export_status; Type: TYPE; Schema: numbering; Owner: postgres
--

CREATE TYPE numbering.export_status AS ENUM (
    'PENDING',
    'GENERATED',
    'REVIEWED',
    'SUBMITTED',
    'ACKNOWLEDGED',
    'FAILED',
    'REJECTED'
);


ALTER TYPE numbering.export_status OWNER TO postgres;

--
-- Name: identifier_kind; Type: TYPE; Schema: numbering; Owner: postgres
--

CREATE TYPE numbering.identifier_kind AS ENUM (
    'MSISDN',
    'SHORT_CODE',
    'ALPHA'
);


ALTER TYPE numbering.identifier_kind OWNER TO postgres;

--
-- Name: import_status; Type: TYPE; Schema: numbering; Owner: postgres
--

CREATE TYPE numbering.import_status AS ENUM (
    'PENDING',
    'APPLIED',
    'PARTIAL',
    'REJECTED'
);


ALTER TYPE numbering.import_status OWNER TO postgres;

--
-- Name: lease_status; Type: TYPE; Schema: numbering; Owner: postgres
--

CREATE TYPE numbering.lease_status AS ENUM (
    'ACTIVE',
    'SUSPENDED',
    'ENDED'
);


ALTER TYPE numbering.lease_status OWNER TO postgres;

--
-- Name: number_state; Type: TYPE; Schema: numbering; Owner: postgres
--

CREATE TYPE numbering.number_state AS ENUM (
    'AVAILABLE',
    'RESERVED',
    'HELD',
    'ASSIGNED',
    'SUSPENDED',
    'QUARANTINED',
    'RETIRED'
);


ALTER TYPE numbering.number_state OWNER TO postgres;

--
-- Name: pool_status; Type: TYPE; Schema: numbering; Owner: postgres
--

CREATE TYPE numbering.pool_status AS ENUM (
    'ACTIVE',
    'SUSPENDED'
);


ALTER TYPE numbering.pool_status OWNER TO postgres;

--
-- Name: quarantine_reason; Type: TYPE; Schema: numbering; Owner: postgres
--

CREATE TYPE numbering.quarantine_reason AS ENUM (
    'RELEASED',
    'RECALLED',
    'EXPIRED'
);


ALTER TYPE numbering.quarantine_reason OWNER TO postgres;

--
-- Name: renumbering_status; Type: TYPE; Schema: numbering; Owner: postgres
--

CREATE TYPE numbering.renumbering_status AS ENUM (
    'PLANNED',
    'APPLIED'
);


ALTER TYPE numbering.renumbering_status OWNER TO postgres;

--
-- Name: reservation_status; Type: TYPE; Schema: numbering; Owner: postgres
--

CREATE TYPE numbering.reservation_status AS ENUM (
    'RESERVED',
    'HELD',
    'CONSUMED',
    'CANCELLED',
    'EXPIRED'
);


ALTER TYPE numbering.reservation_status OWNER TO postgres;

--
-- Name: signing_algorithm; Type: TYPE; Schema: numbering; Owner: postgres
--

CREATE TYPE numbering.signing_algorithm AS ENUM (
    'ed25519',
    'ecdsa-p256-sha256'
);


ALTER TYPE numbering.signing_algorithm OWNER TO postgres;

--
-- Name: account_quota_usage(text, text); Type: FUNCTION; Schema: numbering; Owner: postgres
--

CREATE FUNCTION numbering.account_quota_usage(p_tenant text, p_account text) RETURNS TABLE(quota_msisdn integer, quota_short_code integer, quota_alpha integer, used_msisdn bigint, used_short_code bigint, used_alpha bigint)
    LANGUAGE sql STABLE
    AS $$
    SELECT a.quota_msisdn, a.quota_short_code, a.quota_alpha,
           coalesce(sum(u.n) FILTER (WHERE u.kind = 'MSISDN'), 0)::bigint,
           coalesce(sum(u.n) FILTER (WHERE u.kind = 'SHORT_CODE'), 0)::bigint,
           coalesce(sum(u.n) FILTER (WHERE u.kind = 'ALPHA'), 0)::bigint
      FROM numbering.tenant_accounts a
      LEFT JOIN (SELECT r.kind, count(*) AS n FROM numbering.reservations r
                  WHERE r.tenant_id = p_tenant AND r.account_id = p_account
                    AND r.status IN ('RESERVED', 'HELD') AND r.expires_at > now()
                  GROUP BY r.kind
                 UNION ALL
                 SELECT c.kind, c.current_leases::bigint FROM numbering.account_lease_counts c
                  WHERE c.tenant_id = p_tenant AND c.account_id = p_account) u ON true
     WHERE a.tenant_id = p_tenant AND a.account_id = p_account
     GROUP BY a.quota_msisdn, a.quota_short_code, a.quota_alpha
$$;


ALTER FUNCTION numbering.account_quota_usage(p_tenant text, p_account text) OWNER TO postgres;

--
-- Name: account_usage(text); Type: FUNCTION; Schema: numbering; Owner: postgres
--

CREATE FUNCTION numbering.account_usage(p_tenant text) RETURNS TABLE(account_id text, quota_msisdn integer, quota_short_code integer, quota_alpha integer, used_msisdn bigint, used_short_code bigint, used_alpha bigint)
    LANGUAGE sql STABLE
    AS $$
    SELECT a.account_id, a.quota_msisdn, a.quota_short_code, a.quota_alpha,
           coalesce(sum(u.n) FILTER (WHERE u.kind = 'MSISDN'), 0)::bigint,
           coalesce(sum(u.n) FILTER (WHERE u.kind = 'SHORT_CODE'), 0)::bigint,
           coalesce(sum(u.n) FILTER (WHERE u.kind = 'ALPHA'), 0)::bigint
      FROM numbering.tenant_accounts a
      LEFT JOIN (SELECT r.account_id, r.kind, count(*) AS n FROM numbering.reservations r
                  WHERE r.tenant_id = p_tenant AND r.account_id IS NOT NULL
                    AND r.status IN ('RESERVED', 'HELD') AND r.expires_at > now()
                  GROUP BY r.account_id, r.kind
                 UNION ALL
                 SELECT c.account_id, c.kind, c.current_leases::bigint FROM numbering.account_lease_counts c
                  WHERE c.tenant_id = p_tenant) u ON u.account_id = a.account_id
     WHERE a.tenant_id = p_tenant
     GROUP BY a.account_id, a.quota_msisdn, a.quota_short_code, a.quota_alpha
     ORDER BY a.account_id
$$;


ALTER FUNCTION numbering.account_usage(p_tenant text) OWNER TO postgres;

--
-- Name: approval_transition(); Type: FUNCTION; Schema: numbering; Owner: postgres
--

CREATE FUNCTION numbering.approval_transition() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'PENDING' THEN
            RAISE EXCEPTION 'an approval starts PENDING, not %', NEW.status
                USING ERRCODE = 'check_violation', CONSTRAINT = 'approvals_status_transition';
        END IF;
        RETURN NEW;
    END IF;
    IF (NEW.id, NEW.action, NEW.target_kind, NEW.target_id, NEW.target_version, NEW.payload,
        NEW.justification, NEW.requested_by, NEW.requested_at, NEW.expires_at)
       IS DISTINCT FROM
       (OLD.id, OLD.action, OLD.target_kind, OLD.target_id, OLD.target_version, OLD.payload,
        OLD.justification, OLD.requested_by, OLD.requested_at, OLD.expires_at)
       OR NEW.tenant_id IS DISTINCT FROM OLD.tenant_id THEN
        RAISE EXCEPTION 'what an approval requests never changes'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'approvals_immutable';
    END IF;
    IF OLD.status <> 'PENDING' OR NEW.status = 'PENDING' THEN
        RAISE EXCEPTION 'approval % cannot go from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'approvals_status_transition';
    END IF;
    RETURN NEW;
END
$$;


ALTER FUNCTION numbering.approval_transition() OWNER TO postgres;

--
-- Name: audit_partition_bounds(); Type: FUNCTION; Schema: numbering; Owner: postgres
--

CREATE FUNCTION numbering.audit_partition_bounds() RETURNS TABLE(partition text, month_start timestamp with time zone, month_end timestamp with time zone)
    LANGUAGE sql STABLE
    SET search_path TO 'numbering', 'pg_temp'
    AS $$
    SELECT c.relname::text, b[1]::timestamptz, b[2]::timestamptz
      FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
      CROSS JOIN LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                      'FROM \(''([^'']+)''\) TO \(''([^'']+)''\)') AS b
     WHERE i.inhparent = 'numbering.audit_log'::regclass
     ORDER BY 2
$$;


ALTER FUNCTION numbering.audit_partition_bounds() OWNER TO postgres;

--
-- Name: claim_idempotency_key(text, text, text, text, double precision); Type: FUNCTION; Schema: numbering; Owner: postgres
--

CREATE FUNCTION numbering.claim_idempotency_key(p_tenant text, p_owner text, p_key text, p_fingerprint text, p_abandoned_after_secs double precision) RETURNS TABLE(claimed boolean, request_fingerprint text, status text, response_status smallint, response_headers json, response_body bytea)
    LANGUAGE plpgsql
    AS $$
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


ALTER FUNCTION numbering.claim_idempotency_key(p_tenant text, p_owner text, p_key text, p_fingerprint text, p_abandoned_after_secs double precision) OWNER TO postgres;

--
-- Name: complete_idempotency_key(text, text, text, smallint, json, bytea); Type: FUNCTION; Schema: numbering; Owner: postgres
--

CREATE FUNCTION numbering.complete_idempotency_key(p_tenant text, p_owner text, p_key text, p_status smallint, p_headers json, p_body bytea) RETURNS boolean
    LANGUAGE plpgsql
    AS $$
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


ALTER FUNCTION numbering.complete_idempotency_key(p_tenant text, p_owner text, p_key text, p_status smallint, p_headers json, p_body bytea) OWNER TO postgres;

--
-- Name: count_current_account_leases(); Type: FUNCTION; Schema: numbering; Owner: postgres
--

CREATE FUNCTION numbering.count_current_account_leases() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'numbering', 'pg_temp'
    AS $$
DECLARE
    was_current boolean := TG_OP <> 'INSERT' AND OLD.account_id IS NOT NULL
                           AND OLD.status IN ('ACTIVE', 'SUSPENDED');
    is_current  boolean := TG_OP <> 'DELETE' AND NEW.account_id IS NOT NULL
                           AND NEW.status IN ('ACTIVE', 'SUSPENDED');
BEGIN
    IF was_current AND is_current AND OLD.tenant_id = NEW.tenant_id
       AND OLD.account_id = NEW.account_id AND OLD.kind = NEW.kind THEN
        RETURN NULL; -- suspended or reinstated: still held
    END IF;
    IF was_current THEN
        UPDATE numbering.account_lease_counts c SET current_leases = c.current_leases - 1
         WHERE c.tenant_id = OLD.tenant_id AND c.account_id = OLD.account_id AND c.kind = OLD.kind;
    END IF;
    IF is_current THEN
        INSERT INTO numbering.account_lease_counts AS c (tenant_id, account_id, kind, current_leases)
            VALUES (NEW.tenant_id, NEW.account_id, NEW.kind, 1)
            ON CONFLICT (tenant_id, account_id, kind) DO UPDATE SET current_leases = c.current_leases + 1;
    END IF;
    RETURN NULL;
END
$$;


ALTER FUNCTION numbering.count_current_account_leases() OWNER TO postgres;

--
-- Name: count_current_leases(); Type: FUNCTION; Schema: numbering; Owner: postgres
--

CREATE FUNCTION numbering.count_current_leases() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'numbering', 'pg_temp'
    AS $$
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


ALTER FUNCTION numbering.count_current_leases() OWNER TO postgres;

--
-- Name: create_audit_partition(date); Type: FUNCTION; Schema: numbering; Owner: postgres
--

CREATE FUNCTION numbering.create_audit_partition(month_start date) RETURNS text
    LANGUAGE plpgsql
    AS $$
DECLARE
    first_day date := date_trunc('month', month_start)::date;
    part text := format('audit_log_y%sm%s', to_char(first_day, 'YYYY'), to_char(first_day, 'MM'));
BEGIN
    IF to_regclass(format('numbering.%I', part)) IS NOT NULL THEN
        RETURN part;
    END IF;
    EXECUTE format('CREATE TABLE numbering.%I PARTITION OF numbering.audit_log FOR VALUES FROM (%L) TO (%L)',
                   part, first_day, (first_day + interval '1 month')::date);
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON numbering.%I FOR EACH STATEMENT '
                   'EXECUTE FUNCTION numbering.refuse_audit_mutation()', part || '_no_truncate', part);
    EXECUTE format('CREATE RULE %I AS ON UPDATE TO numbering.%I DO ALSO SELECT numbering.refuse_audit_mutation_rule(''UPDATE'')',
                   part || '_no_update', part);
    EXECUTE format('CREATE RULE %I AS ON DELETE TO numbering.%I DO ALSO SELECT numbering.refuse_audit_mutation_rule(''DELETE'')',
                   part || '_no_delete', part);
    RETURN part;
END
$$;


ALTER FUNCTION numbering.create_audit_partition(month_start date) OWNER TO postgres;

--
-- Name: current_tenant(); Type: FUNCTION; Schema: numbering; Owner: postgres
--

CREATE FUNCTION numbering.current_tenant() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('numbering.tenant_id', true), '') $$;


ALTER FUNCTION numbering.current_tenant() OWNER TO postgres;

--
-- Name: detach_audit_partition(text); Type: FUNCTION; Schema: numbering; Owner: postgres
--

CREATE FUNCTION numbering.detach_audit_partition(p_partition text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'numbering', 'pg_temp'
    AS $$
DECLARE
    ends timestamptz;
    archived bigint;
    present bigint;
BEGIN
    SELECT month_end INTO ends FROM numbering.audit_partition_bounds() WHERE partition = p_partition;
    IF ends IS NULL THEN
        RAISE EXCEPTION 'not a monthly audit partition: %', p_partition USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF ends > date_trunc('month', now()) - interval '13 months' THEN
        RAISE EXCEPTION 'audit partition % is younger than 13 months', p_partition
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT entry_count INTO archived FROM numbering.audit_archives WHERE partition = p_partition;
    IF archived IS NULL THEN
        RAISE EXCEPTION 'audit partition % has not been archived', p_partition USING ERRCODE = 'insufficient_privilege';
    END IF;
    EXECUTE format('SELECT count(*) FROM numbering.%I', p_partition) INTO present;
    IF present <> archived THEN
        RAISE EXCEPTION 'audit partition % holds % entries, its archive %', p_partition, present, archived
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    EXECUTE format('ALTER TABLE numbering.audit_log DETACH PARTITION numbering.%I', p_partition);
END
$$;


ALTER FUNCTION numbering.detach_audit_partition(p_partition text) OWNER TO postgres;

--
-- Name: ensure_audit_partitions(integer); Type: FUNCTION; Schema: numbering; Owner: postgres
--

CREATE FUNCTION numbering.ensure_audit_partitions(months_ahead integer) RETURNS integer
    LANGUAGE plpgsql
    AS $$
DECLARE
    i integer;
BEGIN
    FOR i IN 0..months_ahead LOOP
        PERFORM numbering.create_audit_partition((date_trunc('month', now()) + make_interval(months => i))::date);
    END LOOP;
    RETURN months_ahead + 1;
END
$$;


ALTER FUNCTION numbering.ensure_audit_partitions(months_ahead integer) OWNER TO postgres;

--
-- Name: enter_idempotency_key(text, text, double precision); Type: FUNCTION; Schema: numbering; Owner: postgres
--

CREATE FUNCTION numbering.enter_idempotency_key(p_owner text, p_key text, p_abandoned_after_secs double precision) RETURNS TABLE(claimed boolean, request_fingerprint text, status text, response_status smallint, response_headers json, response_body bytea)
    LANGUAGE plpgsql
    AS $$
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


ALTER FUNCTION numbering.enter_idempotency_key(p_owner text, p_key text, p_abandoned_after_secs double precision) OWNER TO postgres;

--
-- Name: inventory_state(text); Type: FUNCTION; Schema: numbering; Owner: numbering_reader
--

CREATE FUNCTION numbering.inventory_state(p_identity_key text) RETURNS numbering.number_state
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'numbering', 'pg_temp'
    AS $$ SELECT state FROM numbering.numbers WHERE identity_key = p_identity_key
          ORDER BY (state = 'RETIRED'), id DESC LIMIT 1 $$;


ALTER FUNCTION numbering.inventory_state(p_identity_key text) OWNER TO numbering_reader;

--
-- Name: is_platform(); Type: FUNCTION; Schema: numbering; Owner: postgres
--

CREATE FUNCTION numbering.is_platform() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(current_setting('numbering.scope', true), '') = 'platform' $$;


ALTER FUNCTION numbering.is_platform() OWNER TO postgres;

--
-- Name: lapse_reservation(text); Type: FUNCTION; Schema: numbering; Owner: postgres
--

CREATE FUNCTION numbering.lapse_reservation(p_identity_key text) RETURNS TABLE(number_id bigint, identifier text, kind text, reservation_id uuid, tenant_id text, from_state numbering.number_state, expires_at timestamp with time zone, new_version bigint)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'numbering', 'pg_temp'
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


ALTER FUNCTION numbering.lapse_reservation(p_identity_key text) OWNER TO postgres;

--
-- Name: lease_contracts_ended_is_final(); Type: FUNCTION; Schema: numbering; Owner: postgres
--

CREATE FUNCTION numbering.lease_contracts_ended_is_final() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF OLD.status = 'ENDED' AND NEW.status IS DISTINCT FROM 'ENDED' THEN
        RAISE EXCEPTION 'contract % has ended; it cannot become %', OLD.contract_ref, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'lease_contracts_ended_is_final';
    END IF;
    RETURN NEW;
END
$$;


ALTER FUNCTION numbering.lease_contracts_ended_is_final() OWNER TO postgres;

--
-- Name: lease_snapshot(text); Type: FUNCTION; Schema: numbering; Owner: numbering_reader
--

CREATE FUNCTION numbering.lease_snapshot(p_identity_key text) RETURNS TABLE(state text, tenant_id text, reserved_until timestamp with time zone, version bigint, lease_id uuid, lease_term_end timestamp with time zone, read_at timestamp with time zone, link_until timestamp with time zone)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'numbering', 'pg_temp'
    AS $$
BEGIN
    RETURN QUERY
    SELECT n.state::text, n.tenant_id, n.reserved_until, n.version, l.id, l.term_end, now(), s.link_until
    FROM (SELECT x.id, NULL::timestamptz AS link_until, 0 AS pref
            FROM numbering.numbers x
           WHERE x.identity_key = p_identity_key AND x.state <> 'RETIRED'
          UNION ALL
          SELECT k.new_number_id, coalesce(k.parallel_until, k.linked_at), 1
            FROM numbering.identifier_links k
           WHERE k.old_identifier = p_identity_key
          ORDER BY 3, 2 DESC
          LIMIT 1) s
    JOIN numbering.numbers n ON n.id = s.id AND n.state <> 'RETIRED'
    LEFT JOIN numbering.leases l ON l.number_id = n.id AND l.status IN ('ACTIVE', 'SUSPENDED');
END
$$;


ALTER FUNCTION numbering.lease_snapshot(p_identity_key text) OWNER TO numbering_reader;

--
-- Name: lock_pool(text); Type: FUNCTION; Schema: numbering; Owner: postgres
--

CREATE FUNCTION numbering.lock_pool(p_tenant text) RETURNS TABLE(status text, quota_msisdn integer, quota_short_code integer, quota_alpha integer, allowed_kinds text[], allowed_operators text[], vanity_allowed boolean, used_msisdn bigint, used_short_code bigint, used_alpha bigint)
    LANGUAGE plpgsql
    AS $$
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


ALTER FUNCTION numbering.lock_pool(p_tenant text) OWNER TO postgres;

--
-- Name: lookup_identifier(text); Type: FUNCTION; Schema: numbering; Owner: numbering_reader
--

CREATE FUNCTION numbering.lookup_identifier(p_identity_key text) RETURNS TABLE(kind text, state text, operator_id text, operator_name text, mcc text, mnc text, ported boolean, home_operator_id text, home_mcc text, home_mnc text, ported_at timestamp with time zone)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'numbering', 'pg_temp'
    AS $$
BEGIN
    RETURN QUERY
    SELECT n.kind::text, n.state::text,
           coalesce(p.recipient_operator_id, n.operator_id), coalesce(r.name, o.name),
           coalesce(p.recipient_mcc, n.mcc, o.mcc), coalesce(p.recipient_mnc, n.mnc),
           p.number_id IS NOT NULL, n.operator_id, coalesce(n.mcc, o.mcc), n.mnc, p.ported_at
    FROM numbering.numbers n
    LEFT JOIN numbering.mobile_operators o ON o.id = n.operator_id
    LEFT JOIN numbering.portings p ON p.number_id = n.id
    LEFT JOIN numbering.mobile_operators r ON r.id = p.recipient_operator_id
    WHERE n.identity_key = p_identity_key
    ORDER BY (n.state = 'RETIRED'), n.id DESC
    LIMIT 1;
END
$$;


ALTER FUNCTION numbering.lookup_identifier(p_identity_key text) OWNER TO numbering_reader;

--
-- Name: maintain_audit_partitions(integer); Type: FUNCTION; Schema: numbering; Owner: postgres
--

CREATE FUNCTION numbering.maintain_audit_partitions(months_ahead integer) RETURNS integer
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'numbering', 'pg_temp'
    AS $$ SELECT numbering.ensure_audit_partitions(least(greatest(months_ahead, 1), 24)) $$;


ALTER FUNCTION numbering.maintain_audit_partitions(months_ahead integer) OWNER TO postgres;

--
-- Name: numbers_contract_open(); Type: FUNCTION; Schema: numbering; Owner: postgres
--

CREATE FUNCTION numbering.numbers_contract_open() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    s numbering.contract_status;
BEGIN
    SELECT status INTO s FROM numbering.lease_contracts WHERE id = NEW.contract_id;
    IF s IS DISTINCT FROM 'ACTIVE' THEN
        RAISE EXCEPTION 'identifier % belongs to a % contract', NEW.identifier, s
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = CASE s WHEN 'SUSPENDED' THEN 'numbers_contract_suspended'
                                      ELSE 'numbers_contract_ended' END;
    END IF;
    RETURN NEW;
END
$$;


ALTER FUNCTION numbering.numbers_contract_open() OWNER TO postgres;

--
-- Name: portings_check(); Type: FUNCTION; Schema: numbering; Owner: postgres
--

CREATE FUNCTION numbering.portings_check() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'numbering', 'pg_temp'
    AS $$
DECLARE
    home text;
    kind numbering.identifier_kind;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM numbering.mobile_operators o
                   WHERE o.id = NEW.recipient_operator_id AND o.mcc = NEW.recipient_mcc
                     AND NEW.recipient_mnc = ANY (o.mnc_codes)) THEN
        RAISE EXCEPTION 'recipient % is not %/%', NEW.recipient_operator_id, NEW.recipient_mcc, NEW.recipient_mnc
            USING ERRCODE = 'check_violation', CONSTRAINT = 'portings_recipient_codes';
    END IF;
    SELECT n.operator_id, n.kind INTO home, kind FROM numbering.numbers n WHERE n.id = NEW.number_id;
    IF kind IS DISTINCT FROM 'MSISDN' THEN
        RAISE EXCEPTION 'only an MSISDN can be ported'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'portings_msisdn_only';
    END IF;
    IF home = NEW.recipient_operator_id THEN
        RAISE EXCEPTION 'a number is not ported to its home operator'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'portings_not_home';
    END IF;
    RETURN NEW;
END
$$;


ALTER FUNCTION numbering.portings_check() OWNER TO postgres;

--
-- Name: refuse_audit_mutation(); Type: FUNCTION; Schema: numbering; Owner: postgres
--

CREATE FUNCTION numbering.refuse_audit_mutation() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % on %.% refused', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;


ALTER FUNCTION numbering.refuse_audit_mutation() OWNER TO postgres;

--
-- Name: refuse_audit_mutation_rule(text); Type: FUNCTION; Schema: numbering; Owner: postgres
--

CREATE FUNCTION numbering.refuse_audit_mutation_rule(op text) RETURNS boolean
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % refused', op USING ERRCODE = 'insufficient_privilege';
END
$$;


ALTER FUNCTION numbering.refuse_audit_mutation_rule(op text) OWNER TO postgres;

--
-- Name: regulator_export_transition(); Type: FUNCTION; Schema: numbering; Owner: postgres
--

CREATE FUNCTION numbering.regulator_export_transition() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'PENDING' THEN
            RAISE EXCEPTION 'a regulator export starts PENDING, not %', NEW.status
                USING ERRCODE = 'check_violation', CONSTRAINT = 'regulator_exports_status_transition';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.id <> OLD.id OR NEW.period <> OLD.period OR NEW.version <> OLD.version
       OR NEW.created_by <> OLD.created_by OR NEW.created_at <> OLD.created_at THEN
        RAISE EXCEPTION 'a regulator export''s identity never changes'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'regulator_exports_immutable';
    END IF;
    IF OLD.status <> 'PENDING' AND (
           NEW.manifest::text IS DISTINCT FROM OLD.manifest::text
        OR NEW.manifest_sha256 IS DISTINCT FROM OLD.manifest_sha256
        OR NEW.signature IS DISTINCT FROM OLD.signature
        OR NEW.signer_key_id IS DISTINCT FROM OLD.signer_key_id
        OR NEW.storage_uri IS DISTINCT FROM OLD.storage_uri
        OR NEW.audit_chain_head IS DISTINCT FROM OLD.audit_chain_head) THEN
        RAISE EXCEPTION 'a generated regulator export never changes; regenerate a new version'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'regulator_exports_immutable';
    END IF;
    IF NEW.status = OLD.status THEN
        RAISE EXCEPTION 'regulator export % is already %', OLD.id, OLD.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'regulator_exports_status_transition';
    END IF;
    IF NOT ((OLD.status, NEW.status) IN (
            ('PENDING', 'GENERATED'), ('PENDING', 'FAILED'),
            ('GENERATED', 'REVIEWED'), ('GENERATED', 'REJECTED'),
            ('REVIEWED', 'SUBMITTED'), ('REVIEWED', 'REJECTED'),
            ('SUBMITTED', 'ACKNOWLEDGED'), ('SUBMITTED', 'REJECTED'))) THEN
        RAISE EXCEPTION 'regulator export % cannot go from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'regulator_exports_status_transition';
    END IF;
    RETURN NEW;
END
$$;


ALTER FUNCTION numbering.regulator_export_transition() OWNER TO postgres;

--
-- Name: renumbering_immutable(); Type: FUNCTION; Schema: numbering; Owner: postgres
--

CREATE FUNCTION numbering.renumbering_immutable() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF OLD.status = 'APPLIED' THEN
        RAISE EXCEPTION 'renumbering % is applied and never changes', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'renumberings_applied_immutable';
    END IF;
    IF NEW.id <> OLD.id OR NEW.operator_id <> OLD.operator_id OR NEW.old_prefix <> OLD.old_prefix
       OR NEW.new_prefix <> OLD.new_prefix OR NEW.cutover_at <> OLD.cutover_at
       OR NEW.parallel_until IS DISTINCT FROM OLD.parallel_until
       OR NEW.requested_by <> OLD.requested_by THEN
        RAISE EXCEPTION 'a renumbering plan is applied as planned'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'renumberings_applied_immutable';
    END IF;
    RETURN NEW;
END
$$;


ALTER FUNCTION numbering.renumbering_immutable() OWNER TO postgres;

--
-- Name: tenant_usage(text); Type: FUNCTION; Schema: numbering; Owner: postgres
--

CREATE FUNCTION numbering.tenant_usage(p_tenant text) RETURNS TABLE(msisdn bigint, short_code bigint, alpha bigint)
    LANGUAGE sql STABLE
    AS $$
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


ALTER FUNCTION numbering.tenant_usage(p_tenant text) OWNER TO postgres;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: account_lease_counts; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.account_lease_counts (
    tenant_id text NOT NULL,
    account_id text NOT NULL,
    kind numbering.identifier_kind NOT NULL,
    current_leases integer NOT NULL,
    CONSTRAINT account_lease_counts_non_negative CHECK ((current_leases >= 0))
);


ALTER TABLE numbering.account_lease_counts OWNER TO postgres;

--
-- Name: approvals; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.approvals (
    id uuid NOT NULL,
    action text NOT NULL,
    target_kind text NOT NULL,
    target_id text NOT NULL,
    target_version text NOT NULL,
    tenant_id text,
    payload jsonb NOT NULL,
    justification text NOT NULL,
    requested_by text NOT NULL,
    requested_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    request_id text,
    status text DEFAULT 'PENDING'::text NOT NULL,
    decided_by text,
    decided_at timestamp with time zone,
    decision_reason text,
    CONSTRAINT approvals_action_format CHECK ((action ~ '^[a-z][a-z_]*(\.[a-z][a-z_]*)+$'::text)),
    CONSTRAINT approvals_applied_before_expiry CHECK (((status <> 'APPLIED'::text) OR (decided_at < expires_at))),
    CONSTRAINT approvals_approver_not_requester CHECK (((status <> ALL (ARRAY['APPLIED'::text, 'REJECTED'::text])) OR (decided_by <> requested_by))),
    CONSTRAINT approvals_decided_after_request CHECK (((decided_at IS NULL) OR (decided_at >= requested_at))),
    CONSTRAINT approvals_decision_matches_status CHECK (
CASE status
    WHEN 'PENDING'::text THEN ((decided_by IS NULL) AND (decided_at IS NULL) AND (decision_reason IS NULL))
    WHEN 'APPLIED'::text THEN ((decided_by IS NOT NULL) AND (decided_at IS NOT NULL) AND (decision_reason IS NULL))
    WHEN 'REJECTED'::text THEN ((decided_by IS NOT NULL) AND (decided_at IS NOT NULL) AND (btrim(COALESCE(decision_reason, ''::text)) <> ''::text))
    WHEN 'WITHDRAWN'::text THEN ((decided_by = requested_by) AND (decided_at IS NOT NULL))
    WHEN 'EXPIRED'::text THEN ((decided_by IS NULL) AND (decided_at IS NOT NULL))
    ELSE NULL::boolean
END),
    CONSTRAINT approvals_expiry_after_request CHECK ((expires_at > requested_at)),
    CONSTRAINT approvals_justified CHECK (((btrim(justification) <> ''::text) AND (length(justification) <= 2000))),
    CONSTRAINT approvals_payload_object CHECK ((jsonb_typeof(payload) = 'object'::text)),
    CONSTRAINT approvals_requester_present CHECK ((btrim(requested_by) <> ''::text)),
    CONSTRAINT approvals_status_known CHECK ((status = ANY (ARRAY['PENDING'::text, 'APPLIED'::text, 'REJECTED'::text, 'WITHDRAWN'::text, 'EXPIRED'::text]))),
    CONSTRAINT approvals_target_present CHECK (((target_kind <> ''::text) AND (target_id <> ''::text)))
);

ALTER TABLE ONLY numbering.approvals FORCE ROW LEVEL SECURITY;


ALTER TABLE numbering.approvals OWNER TO postgres;

--
-- Name: audit_archives; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.audit_archives (
    id bigint NOT NULL,
    partition text NOT NULL,
    month date NOT NULL,
    format text NOT NULL,
    entry_count bigint NOT NULL,
    first_seq bigint,
    last_seq bigint,
    prev_hash bytea,
    head_hash bytea,
    storage_uri text NOT NULL,
    object_key text NOT NULL,
    object_sha256 bytea NOT NULL,
    archived_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT audit_archives_count_non_negative CHECK ((entry_count >= 0)),
    CONSTRAINT audit_archives_head_hash_len CHECK ((length(head_hash) = 32)),
    CONSTRAINT audit_archives_prev_hash_len CHECK ((length(prev_hash) = 32)),
    CONSTRAINT audit_archives_range CHECK ((((first_seq IS NULL) = (entry_count = 0)) AND ((first_seq IS NULL) OR ((last_seq >= first_seq) AND (prev_hash IS NOT NULL) AND (head_hash IS NOT NULL))))),
    CONSTRAINT audit_archives_sha256_len CHECK ((length(object_sha256) = 32))
);


ALTER TABLE numbering.audit_archives OWNER TO postgres;

--
-- Name: audit_archives_id_seq; Type: SEQUENCE; Schema: numbering; Owner: postgres
--

ALTER TABLE numbering.audit_archives ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME numbering.audit_archives_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: audit_chain; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.audit_chain (
    seq bigint NOT NULL,
    entry_id bigint NOT NULL,
    entry_txid xid8 NOT NULL,
    prev_hash bytea NOT NULL,
    hash bytea NOT NULL,
    sealed_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT audit_chain_hash_len CHECK ((length(hash) = 32)),
    CONSTRAINT audit_chain_prev_hash_len CHECK ((length(prev_hash) = 32)),
    CONSTRAINT audit_chain_seq_positive CHECK ((seq >= 1))
);


ALTER TABLE numbering.audit_chain OWNER TO postgres;

--
-- Name: audit_log; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.audit_log (
    id bigint NOT NULL,
    txid xid8 DEFAULT pg_current_xact_id() NOT NULL,
    occurred_at timestamp with time zone DEFAULT now() NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    tenant_id text,
    subject text,
    before json,
    after json,
    request_id text
)
PARTITION BY RANGE (occurred_at);


ALTER TABLE numbering.audit_log OWNER TO postgres;

--
-- Name: audit_log_default; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.audit_log_default (
    id bigint NOT NULL,
    txid xid8 DEFAULT pg_current_xact_id() NOT NULL,
    occurred_at timestamp with time zone DEFAULT now() NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    tenant_id text,
    subject text,
    before json,
    after json,
    request_id text
);


ALTER TABLE numbering.audit_log_default OWNER TO postgres;

--
-- Name: audit_log_id_seq; Type: SEQUENCE; Schema: numbering; Owner: postgres
--

ALTER TABLE numbering.audit_log ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME numbering.audit_log_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: idempotency_keys; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.idempotency_keys (
    scope text NOT NULL,
    key text NOT NULL,
    request_fingerprint text NOT NULL,
    status text DEFAULT 'IN_PROGRESS'::text NOT NULL,
    response_status smallint,
    response_headers json,
    response_body bytea,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    completed_at timestamp with time zone,
    expires_at timestamp with time zone DEFAULT (now() + '24:00:00'::interval) NOT NULL,
    CONSTRAINT idempotency_keys_completed_has_response CHECK (((status <> 'COMPLETED'::text) OR ((response_status IS NOT NULL) AND (completed_at IS NOT NULL)))),
    CONSTRAINT idempotency_keys_kept_a_day CHECK ((expires_at >= (created_at + '24:00:00'::interval))),
    CONSTRAINT idempotency_keys_key_format CHECK (((length(key) >= 1) AND (length(key) <= 255))),
    CONSTRAINT idempotency_keys_status_known CHECK ((status = ANY (ARRAY['IN_PROGRESS'::text, 'COMPLETED'::text])))
);

ALTER TABLE ONLY numbering.idempotency_keys FORCE ROW LEVEL SECURITY;


ALTER TABLE numbering.idempotency_keys OWNER TO postgres;

--
-- Name: identifier_links; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.identifier_links (
    old_number_id bigint NOT NULL,
    new_number_id bigint NOT NULL,
    old_identifier text NOT NULL,
    new_identifier text NOT NULL,
    renumbering_id uuid NOT NULL,
    linked_at timestamp with time zone DEFAULT now() NOT NULL,
    parallel_until timestamp with time zone,
    CONSTRAINT identifier_links_differ CHECK (((old_identifier <> new_identifier) AND (old_number_id <> new_number_id))),
    CONSTRAINT identifier_links_msisdn CHECK (((old_identifier ~ '^\+937[0-9]{8}$'::text) AND (new_identifier ~ '^\+937[0-9]{8}$'::text)))
);


ALTER TABLE numbering.identifier_links OWNER TO postgres;

--
-- Name: lease_contracts; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.lease_contracts (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    contract_ref text NOT NULL,
    operator_id text,
    kind numbering.identifier_kind NOT NULL,
    range_start text NOT NULL,
    range_end text NOT NULL,
    starts_on date NOT NULL,
    ends_on date,
    status numbering.contract_status DEFAULT 'ACTIVE'::numbering.contract_status NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    version bigint DEFAULT 1 NOT NULL,
    ended_at timestamp with time zone,
    end_reason text,
    CONSTRAINT lease_contracts_dates_ordered CHECK (((ends_on IS NULL) OR (ends_on >= starts_on))),
    CONSTRAINT lease_contracts_end_reason_length CHECK (((end_reason IS NULL) OR ((char_length(btrim(end_reason)) >= 1) AND (char_length(btrim(end_reason)) <= 1000)))),
    CONSTRAINT lease_contracts_ended_iff_final CHECK (((status = 'ENDED'::numbering.contract_status) = ((ended_at IS NOT NULL) AND (end_reason IS NOT NULL)))),
    CONSTRAINT lease_contracts_msisdn_has_operator CHECK (((kind <> 'MSISDN'::numbering.identifier_kind) OR (operator_id IS NOT NULL))),
    CONSTRAINT lease_contracts_range_ordered CHECK (((range_start <= range_end) AND (length(range_start) = length(range_end)))),
    CONSTRAINT lease_contracts_version_positive CHECK ((version > 0))
);


ALTER TABLE numbering.lease_contracts OWNER TO postgres;

--
-- Name: lease_import_errors; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.lease_import_errors (
    import_id uuid NOT NULL,
    line integer NOT NULL,
    reason text NOT NULL,
    raw text,
    CONSTRAINT lease_import_errors_line_positive CHECK ((line >= 1))
);


ALTER TABLE numbering.lease_import_errors OWNER TO postgres;

--
-- Name: lease_imports; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.lease_imports (
    id uuid NOT NULL,
    file_sha256 text NOT NULL,
    file_name text,
    key_id text,
    operator_id text,
    kind numbering.identifier_kind,
    partial boolean DEFAULT false NOT NULL,
    status numbering.import_status DEFAULT 'PENDING'::numbering.import_status NOT NULL,
    total_rows integer DEFAULT 0 NOT NULL,
    applied_rows integer DEFAULT 0 NOT NULL,
    rejected_rows integer DEFAULT 0 NOT NULL,
    failure text,
    created_by text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    completed_at timestamp with time zone,
    CONSTRAINT lease_imports_counts_add_up CHECK (((applied_rows + rejected_rows) <= total_rows)),
    CONSTRAINT lease_imports_sha256_format CHECK ((file_sha256 ~ '^[0-9a-f]{64}$'::text))
);


ALTER TABLE numbering.lease_imports OWNER TO postgres;

--
-- Name: leases; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.leases (
    id uuid NOT NULL,
    number_id bigint NOT NULL,
    identifier text NOT NULL,
    kind numbering.identifier_kind NOT NULL,
    tenant_id text NOT NULL,
    reservation_id uuid,
    status numbering.lease_status DEFAULT 'ACTIVE'::numbering.lease_status NOT NULL,
    auto_renew boolean DEFAULT true NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    term_end timestamp with time zone NOT NULL,
    renewals integer DEFAULT 0 NOT NULL,
    ended_at timestamp with time zone,
    end_reason numbering.quarantine_reason,
    suspended_by text,
    renewal_declined_at timestamp with time zone,
    account_id text,
    contract_ended_at timestamp with time zone,
    recall_at timestamp with time zone,
    CONSTRAINT leases_ended_iff_final CHECK (((status = 'ENDED'::numbering.lease_status) = ((ended_at IS NOT NULL) AND (end_reason IS NOT NULL)))),
    CONSTRAINT leases_recall_iff_contract_ended CHECK (((contract_ended_at IS NULL) = (recall_at IS NULL))),
    CONSTRAINT leases_renewals_non_negative CHECK ((renewals >= 0)),
    CONSTRAINT leases_suspended_iff_suspended_by CHECK (((status = 'SUSPENDED'::numbering.lease_status) = (suspended_by IS NOT NULL))),
    CONSTRAINT leases_term_after_start CHECK ((term_end > started_at))
);

ALTER TABLE ONLY numbering.leases FORCE ROW LEVEL SECURITY;


ALTER TABLE numbering.leases OWNER TO postgres;

--
-- Name: mno_signing_keys; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.mno_signing_keys (
    key_id text NOT NULL,
    operator_id text,
    algorithm numbering.signing_algorithm NOT NULL,
    public_key_pem text NOT NULL,
    valid_from timestamp with time zone DEFAULT now() NOT NULL,
    valid_until timestamp with time zone,
    revoked_at timestamp with time zone,
    revocation_reason text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT mno_signing_keys_id_format CHECK ((key_id ~ '^[A-Za-z0-9._:-]{1,128}$'::text)),
    CONSTRAINT mno_signing_keys_revocation_explained CHECK (((revoked_at IS NULL) OR (revocation_reason IS NOT NULL))),
    CONSTRAINT mno_signing_keys_validity_ordered CHECK (((valid_until IS NULL) OR (valid_until > valid_from)))
);


ALTER TABLE numbering.mno_signing_keys OWNER TO postgres;

--
-- Name: mobile_operators; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.mobile_operators (
    id text NOT NULL,
    name text NOT NULL,
    mcc text NOT NULL,
    mnc_codes text[] NOT NULL,
    msisdn_prefixes text[] DEFAULT '{}'::text[] NOT NULL,
    active boolean DEFAULT true NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT mobile_operators_has_mnc CHECK ((cardinality(mnc_codes) > 0)),
    CONSTRAINT mobile_operators_id_format CHECK ((id ~ '^[a-z0-9-]{2,32}$'::text)),
    CONSTRAINT mobile_operators_mcc_format CHECK ((mcc ~ '^[0-9]{3}$'::text))
);


ALTER TABLE numbering.mobile_operators OWNER TO postgres;

--
-- Name: numbers; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.numbers (
    id bigint NOT NULL,
    identifier text NOT NULL,
    identity_key text NOT NULL,
    kind numbering.identifier_kind NOT NULL,
    state numbering.number_state DEFAULT 'AVAILABLE'::numbering.number_state NOT NULL,
    tenant_id text,
    reserved_until timestamp with time zone,
    operator_id text,
    mcc text,
    mnc text,
    contract_id uuid,
    vanity boolean DEFAULT false NOT NULL,
    version bigint DEFAULT 1 NOT NULL,
    state_changed_at timestamp with time zone DEFAULT now() NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT numbers_holder_matches_state CHECK (((state = ANY (ARRAY['RESERVED'::numbering.number_state, 'HELD'::numbering.number_state, 'ASSIGNED'::numbering.number_state, 'SUSPENDED'::numbering.number_state])) = (tenant_id IS NOT NULL))),
    CONSTRAINT numbers_identifier_format CHECK (
CASE kind
    WHEN 'MSISDN'::numbering.identifier_kind THEN (identifier ~ '^\+937[0-9]{8}$'::text)
    WHEN 'SHORT_CODE'::numbering.identifier_kind THEN (identifier ~ '^[0-9]{3,6}$'::text)
    ELSE ((identifier ~ '^[A-Za-z0-9 .-]{3,11}$'::text) AND (identifier ~ '[A-Za-z]'::text))
END),
    CONSTRAINT numbers_identity_key_matches CHECK ((identity_key =
CASE kind
    WHEN 'ALPHA'::numbering.identifier_kind THEN upper(identifier)
    ELSE identifier
END)),
    CONSTRAINT numbers_msisdn_has_operator CHECK (((kind <> 'MSISDN'::numbering.identifier_kind) OR (operator_id IS NOT NULL))),
    CONSTRAINT numbers_reserved_until_matches_state CHECK (((state = ANY (ARRAY['RESERVED'::numbering.number_state, 'HELD'::numbering.number_state])) = (reserved_until IS NOT NULL))),
    CONSTRAINT numbers_version_positive CHECK ((version > 0))
);

ALTER TABLE ONLY numbering.numbers FORCE ROW LEVEL SECURITY;


ALTER TABLE numbering.numbers OWNER TO postgres;

--
-- Name: numbers_id_seq; Type: SEQUENCE; Schema: numbering; Owner: postgres
--

ALTER TABLE numbering.numbers ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME numbering.numbers_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: outbox; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.outbox (
    id bigint NOT NULL,
    event_id uuid NOT NULL,
    txid xid8 DEFAULT pg_current_xact_id() NOT NULL,
    stream text NOT NULL,
    event_type text NOT NULL,
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    tenant_id text,
    payload json NOT NULL,
    occurred_at timestamp with time zone DEFAULT now() NOT NULL,
    published_at timestamp with time zone,
    CONSTRAINT outbox_stream_known CHECK ((stream = ANY (ARRAY['NUMBERING_EVENTS'::text, 'NUMBERING_LEASES'::text, 'NUMBERING_AUDIT'::text, 'NUMBERING_OPS'::text, 'NUMBERING_REGULATOR'::text])))
);


ALTER TABLE numbering.outbox OWNER TO postgres;

--
-- Name: outbox_id_seq; Type: SEQUENCE; Schema: numbering; Owner: postgres
--

ALTER TABLE numbering.outbox ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME numbering.outbox_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: porting_batches; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.porting_batches (
    id uuid NOT NULL,
    source text NOT NULL,
    source_ref text NOT NULL,
    file_name text,
    key_id text,
    total_rows integer NOT NULL,
    created_by text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT porting_batches_file_is_signed CHECK (((source <> 'file'::text) OR (key_id IS NOT NULL))),
    CONSTRAINT porting_batches_rows_positive CHECK ((total_rows > 0)),
    CONSTRAINT porting_batches_source_known CHECK ((source = ANY (ARRAY['file'::text, 'event'::text])))
);


ALTER TABLE numbering.porting_batches OWNER TO postgres;

--
-- Name: portings; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.portings (
    number_id bigint NOT NULL,
    recipient_operator_id text NOT NULL,
    recipient_mcc text NOT NULL,
    recipient_mnc text NOT NULL,
    ported_at timestamp with time zone NOT NULL,
    batch_id uuid NOT NULL,
    recorded_at timestamp with time zone DEFAULT now() NOT NULL
);


ALTER TABLE numbering.portings OWNER TO postgres;

--
-- Name: processed_events; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.processed_events (
    event_id text NOT NULL,
    event_type text NOT NULL,
    processed_at timestamp with time zone DEFAULT now() NOT NULL,
    outcome json DEFAULT '{}'::json NOT NULL
);


ALTER TABLE numbering.processed_events OWNER TO postgres;

--
-- Name: quarantine_records; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.quarantine_records (
    id uuid NOT NULL,
    number_id bigint NOT NULL,
    identifier text NOT NULL,
    kind numbering.identifier_kind NOT NULL,
    previous_tenant_id text NOT NULL,
    lease_id uuid,
    reason numbering.quarantine_reason NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    ends_at timestamp with time zone NOT NULL,
    ended_at timestamp with time zone,
    ended_by text,
    override_justification text,
    overridden_by text,
    CONSTRAINT quarantine_cool_off_floor CHECK ((ends_at >= (started_at + '1 day'::interval))),
    CONSTRAINT quarantine_cool_off_served CHECK (((ended_by IS DISTINCT FROM 'COOL_OFF'::text) OR (ended_at >= ends_at))),
    CONSTRAINT quarantine_ended_by_known CHECK ((ended_by = ANY (ARRAY['COOL_OFF'::text, 'OVERRIDE'::text, 'RETIRED'::text]))),
    CONSTRAINT quarantine_ended_consistently CHECK (((ended_at IS NULL) = (ended_by IS NULL))),
    CONSTRAINT quarantine_override_justified CHECK (((ended_by IS DISTINCT FROM 'OVERRIDE'::text) OR ((length(btrim(override_justification)) >= 20) AND (overridden_by IS NOT NULL))))
);

ALTER TABLE ONLY numbering.quarantine_records FORCE ROW LEVEL SECURITY;


ALTER TABLE numbering.quarantine_records OWNER TO postgres;

--
-- Name: regulator_exports; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.regulator_exports (
    id uuid NOT NULL,
    period text NOT NULL,
    version integer NOT NULL,
    format text DEFAULT 'atra-v1'::text NOT NULL,
    status numbering.export_status DEFAULT 'PENDING'::numbering.export_status NOT NULL,
    manifest json,
    manifest_sha256 text,
    signature text,
    signer_key_id text,
    storage_uri text,
    audit_chain_head text,
    failure_reason text,
    created_by text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    generated_at timestamp with time zone,
    reviewed_by text,
    reviewed_at timestamp with time zone,
    submitted_at timestamp with time zone,
    acknowledged_at timestamp with time zone,
    rejected_at timestamp with time zone,
    rejection_reason text,
    row_counts json,
    CONSTRAINT regulator_exports_generated_has_manifest CHECK (((status = ANY (ARRAY['PENDING'::numbering.export_status, 'FAILED'::numbering.export_status])) OR ((manifest IS NOT NULL) AND (signature IS NOT NULL)))),
    CONSTRAINT regulator_exports_period_format CHECK ((period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'::text)),
    CONSTRAINT regulator_exports_version_positive CHECK ((version >= 1))
);


ALTER TABLE numbering.regulator_exports OWNER TO postgres;

--
-- Name: renumberings; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.renumberings (
    id uuid NOT NULL,
    operator_id text NOT NULL,
    old_prefix text NOT NULL,
    new_prefix text NOT NULL,
    cutover_at timestamp with time zone NOT NULL,
    parallel_until timestamp with time zone,
    status numbering.renumbering_status DEFAULT 'PLANNED'::numbering.renumbering_status NOT NULL,
    requested_by text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    applied_by text,
    applied_at timestamp with time zone,
    counts json,
    moved integer,
    CONSTRAINT renumberings_applied_consistently CHECK (((status = 'APPLIED'::numbering.renumbering_status) = ((applied_at IS NOT NULL) AND (applied_by IS NOT NULL) AND (counts IS NOT NULL) AND (moved IS NOT NULL)))),
    CONSTRAINT renumberings_moved_non_negative CHECK (((moved IS NULL) OR (moved >= 0))),
    CONSTRAINT renumberings_prefix_format CHECK (((old_prefix ~ '^\+937[0-9]{0,7}$'::text) AND (new_prefix ~ '^\+937[0-9]{0,7}$'::text))),
    CONSTRAINT renumberings_prefixes_differ CHECK ((old_prefix <> new_prefix)),
    CONSTRAINT renumberings_prefixes_same_length CHECK ((length(old_prefix) = length(new_prefix))),
    CONSTRAINT renumberings_window_after_cutover CHECK (((parallel_until IS NULL) OR (parallel_until > cutover_at)))
);


ALTER TABLE numbering.renumberings OWNER TO postgres;

--
-- Name: replica_heartbeat; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.replica_heartbeat (
    id boolean DEFAULT true NOT NULL,
    at timestamp with time zone NOT NULL,
    CONSTRAINT replica_heartbeat_one_row CHECK (id)
);


ALTER TABLE numbering.replica_heartbeat OWNER TO postgres;

--
-- Name: reservations; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.reservations (
    id uuid NOT NULL,
    number_id bigint NOT NULL,
    identifier text NOT NULL,
    kind numbering.identifier_kind NOT NULL,
    tenant_id text NOT NULL,
    status numbering.reservation_status DEFAULT 'RESERVED'::numbering.reservation_status NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    held_at timestamp with time zone,
    ended_at timestamp with time zone,
    account_id text,
    CONSTRAINT reservations_ended_iff_final CHECK (((status = ANY (ARRAY['RESERVED'::numbering.reservation_status, 'HELD'::numbering.reservation_status])) = (ended_at IS NULL))),
    CONSTRAINT reservations_expiry_after_creation CHECK ((expires_at > created_at))
);

ALTER TABLE ONLY numbering.reservations FORCE ROW LEVEL SECURITY;


ALTER TABLE numbering.reservations OWNER TO postgres;

--
-- Name: scarcity_flags; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.scarcity_flags (
    contract_id uuid NOT NULL,
    flagged boolean NOT NULL,
    exhaustion_date date,
    changed_at timestamp with time zone DEFAULT now() NOT NULL,
    checked_at timestamp with time zone DEFAULT now() NOT NULL
);


ALTER TABLE numbering.scarcity_flags OWNER TO postgres;

--
-- Name: tenant_accounts; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.tenant_accounts (
    tenant_id text NOT NULL,
    account_id text NOT NULL,
    quota_msisdn integer DEFAULT 0 NOT NULL,
    quota_short_code integer DEFAULT 0 NOT NULL,
    quota_alpha integer DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT tenant_accounts_id_format CHECK ((account_id ~ '^[A-Za-z0-9._:-]{1,64}$'::text)),
    CONSTRAINT tenant_accounts_quota_alpha_non_negative CHECK ((quota_alpha >= 0)),
    CONSTRAINT tenant_accounts_quota_msisdn_non_negative CHECK ((quota_msisdn >= 0)),
    CONSTRAINT tenant_accounts_quota_short_code_non_negative CHECK ((quota_short_code >= 0))
);

ALTER TABLE ONLY numbering.tenant_accounts FORCE ROW LEVEL SECURITY;


ALTER TABLE numbering.tenant_accounts OWNER TO postgres;

--
-- Name: tenant_lease_counts; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.tenant_lease_counts (
    tenant_id text NOT NULL,
    kind numbering.identifier_kind NOT NULL,
    current_leases integer NOT NULL,
    CONSTRAINT tenant_lease_counts_non_negative CHECK ((current_leases >= 0))
);


ALTER TABLE numbering.tenant_lease_counts OWNER TO postgres;

--
-- Name: tenant_pools; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.tenant_pools (
    tenant_id text NOT NULL,
    display_name text NOT NULL,
    segment text,
    status numbering.pool_status DEFAULT 'ACTIVE'::numbering.pool_status NOT NULL,
    quota_msisdn integer DEFAULT 0 NOT NULL,
    quota_short_code integer DEFAULT 0 NOT NULL,
    quota_alpha integer DEFAULT 0 NOT NULL,
    allowed_kinds numbering.identifier_kind[] DEFAULT '{MSISDN,SHORT_CODE,ALPHA}'::numbering.identifier_kind[] NOT NULL,
    allowed_operators text[] DEFAULT '{}'::text[] NOT NULL,
    vanity_allowed boolean DEFAULT false NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT tenant_pools_id_format CHECK ((tenant_id ~ '^[A-Za-z0-9._:-]{1,64}$'::text)),
    CONSTRAINT tenant_pools_quota_alpha_non_negative CHECK ((quota_alpha >= 0)),
    CONSTRAINT tenant_pools_quota_msisdn_non_negative CHECK ((quota_msisdn >= 0)),
    CONSTRAINT tenant_pools_quota_short_code_non_negative CHECK ((quota_short_code >= 0))
);

ALTER TABLE ONLY numbering.tenant_pools FORCE ROW LEVEL SECURITY;


ALTER TABLE numbering.tenant_pools OWNER TO postgres;

--
-- Name: vanity_patterns; Type: TABLE; Schema: numbering; Owner: postgres
--

CREATE TABLE numbering.vanity_patterns (
    id text NOT NULL,
    kind numbering.identifier_kind NOT NULL,
    pattern text NOT NULL,
    description text NOT NULL
);


ALTER TABLE numbering.vanity_patterns OWNER TO postgres;

--
-- Name: audit_log_default; Type: TABLE ATTACH; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.audit_log ATTACH PARTITION numbering.audit_log_default DEFAULT;


--
-- Name: account_lease_counts account_lease_counts_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.account_lease_counts
    ADD CONSTRAINT account_lease_counts_pkey PRIMARY KEY (tenant_id, account_id, kind);


--
-- Name: approvals approvals_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.approvals
    ADD CONSTRAINT approvals_pkey PRIMARY KEY (id);


--
-- Name: audit_archives audit_archives_partition_once; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.audit_archives
    ADD CONSTRAINT audit_archives_partition_once UNIQUE (partition);


--
-- Name: audit_archives audit_archives_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.audit_archives
    ADD CONSTRAINT audit_archives_pkey PRIMARY KEY (id);


--
-- Name: audit_chain audit_chain_entry_once; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.audit_chain
    ADD CONSTRAINT audit_chain_entry_once UNIQUE (entry_id);


--
-- Name: audit_chain audit_chain_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.audit_chain
    ADD CONSTRAINT audit_chain_pkey PRIMARY KEY (seq);


--
-- Name: audit_log audit_log_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.audit_log
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id, occurred_at);


--
-- Name: audit_log_default audit_log_default_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.audit_log_default
    ADD CONSTRAINT audit_log_default_pkey PRIMARY KEY (id, occurred_at);


--
-- Name: idempotency_keys idempotency_keys_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.idempotency_keys
    ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (scope, key);


--
-- Name: identifier_links identifier_links_new_once; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.identifier_links
    ADD CONSTRAINT identifier_links_new_once UNIQUE (new_number_id);


--
-- Name: identifier_links identifier_links_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.identifier_links
    ADD CONSTRAINT identifier_links_pkey PRIMARY KEY (old_number_id);


--
-- Name: lease_contracts lease_contracts_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.lease_contracts
    ADD CONSTRAINT lease_contracts_pkey PRIMARY KEY (id);


--
-- Name: lease_contracts lease_contracts_ref_unique; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.lease_contracts
    ADD CONSTRAINT lease_contracts_ref_unique UNIQUE (contract_ref);


--
-- Name: lease_import_errors lease_import_errors_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.lease_import_errors
    ADD CONSTRAINT lease_import_errors_pkey PRIMARY KEY (import_id, line);


--
-- Name: lease_imports lease_imports_file_once; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.lease_imports
    ADD CONSTRAINT lease_imports_file_once UNIQUE (file_sha256);


--
-- Name: lease_imports lease_imports_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.lease_imports
    ADD CONSTRAINT lease_imports_pkey PRIMARY KEY (id);


--
-- Name: leases leases_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.leases
    ADD CONSTRAINT leases_pkey PRIMARY KEY (id);


--
-- Name: mno_signing_keys mno_signing_keys_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.mno_signing_keys
    ADD CONSTRAINT mno_signing_keys_pkey PRIMARY KEY (key_id);


--
-- Name: mobile_operators mobile_operators_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.mobile_operators
    ADD CONSTRAINT mobile_operators_pkey PRIMARY KEY (id);


--
-- Name: numbers numbers_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.numbers
    ADD CONSTRAINT numbers_pkey PRIMARY KEY (id);


--
-- Name: outbox outbox_event_once; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.outbox
    ADD CONSTRAINT outbox_event_once UNIQUE (event_id);


--
-- Name: outbox outbox_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.outbox
    ADD CONSTRAINT outbox_pkey PRIMARY KEY (id);


--
-- Name: porting_batches porting_batches_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.porting_batches
    ADD CONSTRAINT porting_batches_pkey PRIMARY KEY (id);


--
-- Name: porting_batches porting_batches_source_ref_unique; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.porting_batches
    ADD CONSTRAINT porting_batches_source_ref_unique UNIQUE (source_ref);


--
-- Name: portings portings_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.portings
    ADD CONSTRAINT portings_pkey PRIMARY KEY (number_id);


--
-- Name: processed_events processed_events_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.processed_events
    ADD CONSTRAINT processed_events_pkey PRIMARY KEY (event_id);


--
-- Name: quarantine_records quarantine_records_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.quarantine_records
    ADD CONSTRAINT quarantine_records_pkey PRIMARY KEY (id);


--
-- Name: regulator_exports regulator_exports_period_version_unique; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.regulator_exports
    ADD CONSTRAINT regulator_exports_period_version_unique UNIQUE (period, version);


--
-- Name: regulator_exports regulator_exports_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.regulator_exports
    ADD CONSTRAINT regulator_exports_pkey PRIMARY KEY (id);


--
-- Name: renumberings renumberings_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.renumberings
    ADD CONSTRAINT renumberings_pkey PRIMARY KEY (id);


--
-- Name: replica_heartbeat replica_heartbeat_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.replica_heartbeat
    ADD CONSTRAINT replica_heartbeat_pkey PRIMARY KEY (id);


--
-- Name: reservations reservations_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.reservations
    ADD CONSTRAINT reservations_pkey PRIMARY KEY (id);


--
-- Name: scarcity_flags scarcity_flags_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.scarcity_flags
    ADD CONSTRAINT scarcity_flags_pkey PRIMARY KEY (contract_id);


--
-- Name: tenant_accounts tenant_accounts_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.tenant_accounts
    ADD CONSTRAINT tenant_accounts_pkey PRIMARY KEY (tenant_id, account_id);


--
-- Name: tenant_lease_counts tenant_lease_counts_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.tenant_lease_counts
    ADD CONSTRAINT tenant_lease_counts_pkey PRIMARY KEY (tenant_id, kind);


--
-- Name: tenant_pools tenant_pools_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.tenant_pools
    ADD CONSTRAINT tenant_pools_pkey PRIMARY KEY (tenant_id);


--
-- Name: vanity_patterns vanity_patterns_pkey; Type: CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.vanity_patterns
    ADD CONSTRAINT vanity_patterns_pkey PRIMARY KEY (id);


--
-- Name: approvals_by_status; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX approvals_by_status ON numbering.approvals USING btree (status, requested_at);


--
-- Name: audit_log_by_subject; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX audit_log_by_subject ON ONLY numbering.audit_log USING btree (subject, occurred_at);


--
-- Name: audit_log_by_tenant; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX audit_log_by_tenant ON ONLY numbering.audit_log USING btree (tenant_id, occurred_at);


--
-- Name: audit_log_default_subject_occurred_at_idx; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX audit_log_default_subject_occurred_at_idx ON numbering.audit_log_default USING btree (subject, occurred_at);


--
-- Name: audit_log_default_tenant_id_occurred_at_idx; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX audit_log_default_tenant_id_occurred_at_idx ON numbering.audit_log_default USING btree (tenant_id, occurred_at);


--
-- Name: audit_log_seal_order; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX audit_log_seal_order ON ONLY numbering.audit_log USING btree (txid, id);


--
-- Name: audit_log_default_txid_id_idx; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX audit_log_default_txid_id_idx ON numbering.audit_log_default USING btree (txid, id);


--
-- Name: idempotency_keys_expiry; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX idempotency_keys_expiry ON numbering.idempotency_keys USING btree (expires_at);


--
-- Name: identifier_links_by_new; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX identifier_links_by_new ON numbering.identifier_links USING btree (new_identifier);


--
-- Name: identifier_links_by_old; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX identifier_links_by_old ON numbering.identifier_links USING btree (old_identifier);


--
-- Name: lease_contracts_by_operator; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX lease_contracts_by_operator ON numbering.lease_contracts USING btree (operator_id, status);


--
-- Name: leases_by_account; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX leases_by_account ON numbering.leases USING btree (tenant_id, account_id, status) WHERE (account_id IS NOT NULL);


--
-- Name: leases_by_number; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX leases_by_number ON numbering.leases USING btree (number_id, started_at);


--
-- Name: leases_by_tenant; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX leases_by_tenant ON numbering.leases USING btree (tenant_id, status);


--
-- Name: leases_due_for_recall; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX leases_due_for_recall ON numbering.leases USING btree (recall_at) WHERE ((recall_at IS NOT NULL) AND (status = ANY (ARRAY['ACTIVE'::numbering.lease_status, 'SUSPENDED'::numbering.lease_status])));


--
-- Name: leases_one_active_per_number; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE UNIQUE INDEX leases_one_active_per_number ON numbering.leases USING btree (number_id) WHERE (status = ANY (ARRAY['ACTIVE'::numbering.lease_status, 'SUSPENDED'::numbering.lease_status]));


--
-- Name: leases_renewal_due; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX leases_renewal_due ON numbering.leases USING btree (term_end) WHERE (status = 'ACTIVE'::numbering.lease_status);


--
-- Name: numbers_available_by_key; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX numbers_available_by_key ON numbering.numbers USING btree (identity_key) WHERE (state = 'AVAILABLE'::numbering.number_state);


--
-- Name: numbers_browse_available; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX numbers_browse_available ON numbering.numbers USING btree (kind, operator_id, identifier text_pattern_ops) WHERE (state = 'AVAILABLE'::numbering.number_state);


--
-- Name: numbers_by_contract; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX numbers_by_contract ON numbering.numbers USING btree (contract_id, created_at) WHERE (contract_id IS NOT NULL);


--
-- Name: numbers_by_holder; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX numbers_by_holder ON numbering.numbers USING btree (tenant_id, kind) WHERE (tenant_id IS NOT NULL);


--
-- Name: numbers_identity_unique; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE UNIQUE INDEX numbers_identity_unique ON numbering.numbers USING btree (identity_key) WHERE (state <> 'RETIRED'::numbering.number_state);


--
-- Name: numbers_lapsing_reservations; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX numbers_lapsing_reservations ON numbering.numbers USING btree (reserved_until) WHERE (reserved_until IS NOT NULL);


--
-- Name: outbox_published_prune; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX outbox_published_prune ON numbering.outbox USING btree (published_at) WHERE (published_at IS NOT NULL);


--
-- Name: outbox_unpublished_by_id; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX outbox_unpublished_by_id ON numbering.outbox USING btree (id) WHERE (published_at IS NULL);


--
-- Name: portings_by_batch; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX portings_by_batch ON numbering.portings USING btree (batch_id);


--
-- Name: processed_events_prune; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX processed_events_prune ON numbering.processed_events USING btree (processed_at);


--
-- Name: quarantine_due; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX quarantine_due ON numbering.quarantine_records USING btree (ends_at) WHERE (ended_at IS NULL);


--
-- Name: quarantine_one_open_per_number; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE UNIQUE INDEX quarantine_one_open_per_number ON numbering.quarantine_records USING btree (number_id) WHERE (ended_at IS NULL);


--
-- Name: renumberings_by_created; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX renumberings_by_created ON numbering.renumberings USING btree (created_at DESC, id);


--
-- Name: reservations_live_by_account; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX reservations_live_by_account ON numbering.reservations USING btree (tenant_id, account_id, kind) WHERE ((status = ANY (ARRAY['RESERVED'::numbering.reservation_status, 'HELD'::numbering.reservation_status])) AND (account_id IS NOT NULL));


--
-- Name: reservations_live_by_tenant; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE INDEX reservations_live_by_tenant ON numbering.reservations USING btree (tenant_id, kind, expires_at) WHERE (status = ANY (ARRAY['RESERVED'::numbering.reservation_status, 'HELD'::numbering.reservation_status]));


--
-- Name: reservations_one_live_per_number; Type: INDEX; Schema: numbering; Owner: postgres
--

CREATE UNIQUE INDEX reservations_one_live_per_number ON numbering.reservations USING btree (number_id) WHERE (status = ANY (ARRAY['RESERVED'::numbering.reservation_status, 'HELD'::numbering.reservation_status]));


--
-- Name: audit_log_default_pkey; Type: INDEX ATTACH; Schema: numbering; Owner: postgres
--

ALTER INDEX numbering.audit_log_pkey ATTACH PARTITION numbering.audit_log_default_pkey;


--
-- Name: audit_log_default_subject_occurred_at_idx; Type: INDEX ATTACH; Schema: numbering; Owner: postgres
--

ALTER INDEX numbering.audit_log_by_subject ATTACH PARTITION numbering.audit_log_default_subject_occurred_at_idx;


--
-- Name: audit_log_default_tenant_id_occurred_at_idx; Type: INDEX ATTACH; Schema: numbering; Owner: postgres
--

ALTER INDEX numbering.audit_log_by_tenant ATTACH PARTITION numbering.audit_log_default_tenant_id_occurred_at_idx;


--
-- Name: audit_log_default_txid_id_idx; Type: INDEX ATTACH; Schema: numbering; Owner: postgres
--

ALTER INDEX numbering.audit_log_seal_order ATTACH PARTITION numbering.audit_log_default_txid_id_idx;


--
-- Name: audit_chain audit_chain_no_delete; Type: RULE; Schema: numbering; Owner: postgres
--

CREATE RULE audit_chain_no_delete AS
    ON DELETE TO numbering.audit_chain DO  SELECT numbering.refuse_audit_mutation_rule('DELETE'::text) AS refuse_audit_mutation_rule;


--
-- Name: audit_chain audit_chain_no_update; Type: RULE; Schema: numbering; Owner: postgres
--

CREATE RULE audit_chain_no_update AS
    ON UPDATE TO numbering.audit_chain DO  SELECT numbering.refuse_audit_mutation_rule('UPDATE'::text) AS refuse_audit_mutation_rule;


--
-- Name: audit_log audit_log_no_delete; Type: RULE; Schema: numbering; Owner: postgres
--

CREATE RULE audit_log_no_delete AS
    ON DELETE TO numbering.audit_log DO  SELECT numbering.refuse_audit_mutation_rule('DELETE'::text) AS refuse_audit_mutation_rule;


--
-- Name: audit_log audit_log_no_update; Type: RULE; Schema: numbering; Owner: postgres
--

CREATE RULE audit_log_no_update AS
    ON UPDATE TO numbering.audit_log DO  SELECT numbering.refuse_audit_mutation_rule('UPDATE'::text) AS refuse_audit_mutation_rule;


--
-- Name: approvals approvals_workflow; Type: TRIGGER; Schema: numbering; Owner: postgres
--

CREATE TRIGGER approvals_workflow BEFORE INSERT OR UPDATE ON numbering.approvals FOR EACH ROW EXECUTE FUNCTION numbering.approval_transition();


--
-- Name: audit_archives audit_archives_append_only; Type: TRIGGER; Schema: numbering; Owner: postgres
--

CREATE TRIGGER audit_archives_append_only BEFORE DELETE OR UPDATE ON numbering.audit_archives FOR EACH ROW EXECUTE FUNCTION numbering.refuse_audit_mutation();


--
-- Name: audit_archives audit_archives_no_truncate; Type: TRIGGER; Schema: numbering; Owner: postgres
--

CREATE TRIGGER audit_archives_no_truncate BEFORE TRUNCATE ON numbering.audit_archives FOR EACH STATEMENT EXECUTE FUNCTION numbering.refuse_audit_mutation();


--
-- Name: audit_chain audit_chain_append_only; Type: TRIGGER; Schema: numbering; Owner: postgres
--

CREATE TRIGGER audit_chain_append_only BEFORE DELETE OR UPDATE ON numbering.audit_chain FOR EACH ROW EXECUTE FUNCTION numbering.refuse_audit_mutation();


--
-- Name: audit_chain audit_chain_no_truncate; Type: TRIGGER; Schema: numbering; Owner: postgres
--

CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON numbering.audit_chain FOR EACH STATEMENT EXECUTE FUNCTION numbering.refuse_audit_mutation();


--
-- Name: audit_log audit_log_append_only; Type: TRIGGER; Schema: numbering; Owner: postgres
--

CREATE TRIGGER audit_log_append_only BEFORE DELETE OR UPDATE ON numbering.audit_log FOR EACH ROW EXECUTE FUNCTION numbering.refuse_audit_mutation();


--
-- Name: audit_log_default audit_log_default_no_truncate; Type: TRIGGER; Schema: numbering; Owner: postgres
--

CREATE TRIGGER audit_log_default_no_truncate BEFORE TRUNCATE ON numbering.audit_log_default FOR EACH STATEMENT EXECUTE FUNCTION numbering.refuse_audit_mutation();


--
-- Name: audit_log audit_log_no_truncate; Type: TRIGGER; Schema: numbering; Owner: postgres
--

CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON numbering.audit_log FOR EACH STATEMENT EXECUTE FUNCTION numbering.refuse_audit_mutation();


--
-- Name: identifier_links identifier_links_append_only; Type: TRIGGER; Schema: numbering; Owner: postgres
--

CREATE TRIGGER identifier_links_append_only BEFORE DELETE OR UPDATE ON numbering.identifier_links FOR EACH ROW EXECUTE FUNCTION numbering.refuse_audit_mutation();


--
-- Name: lease_contracts lease_contracts_ended_is_final; Type: TRIGGER; Schema: numbering; Owner: postgres
--

CREATE TRIGGER lease_contracts_ended_is_final BEFORE UPDATE OF status ON numbering.lease_contracts FOR EACH ROW EXECUTE FUNCTION numbering.lease_contracts_ended_is_final();


--
-- Name: leases leases_count_current; Type: TRIGGER; Schema: numbering; Owner: postgres
--

CREATE TRIGGER leases_count_current AFTER INSERT OR DELETE OR UPDATE OF status, tenant_id, kind ON numbering.leases FOR EACH ROW EXECUTE FUNCTION numbering.count_current_leases();


--
-- Name: leases leases_count_current_by_account; Type: TRIGGER; Schema: numbering; Owner: postgres
--

CREATE TRIGGER leases_count_current_by_account AFTER INSERT OR DELETE OR UPDATE OF status, tenant_id, account_id, kind ON numbering.leases FOR EACH ROW EXECUTE FUNCTION numbering.count_current_account_leases();


--
-- Name: numbers numbers_contract_open; Type: TRIGGER; Schema: numbering; Owner: postgres
--

CREATE TRIGGER numbers_contract_open BEFORE UPDATE OF state ON numbering.numbers FOR EACH ROW WHEN (((new.state = 'RESERVED'::numbering.number_state) AND (old.state <> 'RESERVED'::numbering.number_state) AND (new.contract_id IS NOT NULL))) EXECUTE FUNCTION numbering.numbers_contract_open();


--
-- Name: portings portings_check; Type: TRIGGER; Schema: numbering; Owner: postgres
--

CREATE TRIGGER portings_check BEFORE INSERT OR UPDATE ON numbering.portings FOR EACH ROW EXECUTE FUNCTION numbering.portings_check();


--
-- Name: regulator_exports regulator_exports_workflow; Type: TRIGGER; Schema: numbering; Owner: postgres
--

CREATE TRIGGER regulator_exports_workflow BEFORE INSERT OR UPDATE ON numbering.regulator_exports FOR EACH ROW EXECUTE FUNCTION numbering.regulator_export_transition();


--
-- Name: renumberings renumberings_immutable; Type: TRIGGER; Schema: numbering; Owner: postgres
--

CREATE TRIGGER renumberings_immutable BEFORE UPDATE ON numbering.renumberings FOR EACH ROW EXECUTE FUNCTION numbering.renumbering_immutable();


--
-- Name: renumberings renumberings_no_delete; Type: TRIGGER; Schema: numbering; Owner: postgres
--

CREATE TRIGGER renumberings_no_delete BEFORE DELETE ON numbering.renumberings FOR EACH ROW EXECUTE FUNCTION numbering.refuse_audit_mutation();


--
-- Name: identifier_links identifier_links_new_number_id_fkey; Type: FK CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.identifier_links
    ADD CONSTRAINT identifier_links_new_number_id_fkey FOREIGN KEY (new_number_id) REFERENCES numbering.numbers(id);


--
-- Name: identifier_links identifier_links_old_number_id_fkey; Type: FK CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.identifier_links
    ADD CONSTRAINT identifier_links_old_number_id_fkey FOREIGN KEY (old_number_id) REFERENCES numbering.numbers(id);


--
-- Name: identifier_links identifier_links_renumbering_id_fkey; Type: FK CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.identifier_links
    ADD CONSTRAINT identifier_links_renumbering_id_fkey FOREIGN KEY (renumbering_id) REFERENCES numbering.renumberings(id);


--
-- Name: lease_contracts lease_contracts_operator_id_fkey; Type: FK CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.lease_contracts
    ADD CONSTRAINT lease_contracts_operator_id_fkey FOREIGN KEY (operator_id) REFERENCES numbering.mobile_operators(id);


--
-- Name: lease_import_errors lease_import_errors_import_id_fkey; Type: FK CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.lease_import_errors
    ADD CONSTRAINT lease_import_errors_import_id_fkey FOREIGN KEY (import_id) REFERENCES numbering.lease_imports(id);


--
-- Name: lease_imports lease_imports_key_id_fkey; Type: FK CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.lease_imports
    ADD CONSTRAINT lease_imports_key_id_fkey FOREIGN KEY (key_id) REFERENCES numbering.mno_signing_keys(key_id);


--
-- Name: lease_imports lease_imports_operator_id_fkey; Type: FK CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.lease_imports
    ADD CONSTRAINT lease_imports_operator_id_fkey FOREIGN KEY (operator_id) REFERENCES numbering.mobile_operators(id);


--
-- Name: leases leases_account_fk; Type: FK CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.leases
    ADD CONSTRAINT leases_account_fk FOREIGN KEY (tenant_id, account_id) REFERENCES numbering.tenant_accounts(tenant_id, account_id);


--
-- Name: leases leases_number_id_fkey; Type: FK CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.leases
    ADD CONSTRAINT leases_number_id_fkey FOREIGN KEY (number_id) REFERENCES numbering.numbers(id);


--
-- Name: leases leases_reservation_id_fkey; Type: FK CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.leases
    ADD CONSTRAINT leases_reservation_id_fkey FOREIGN KEY (reservation_id) REFERENCES numbering.reservations(id);


--
-- Name: mno_signing_keys mno_signing_keys_operator_id_fkey; Type: FK CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.mno_signing_keys
    ADD CONSTRAINT mno_signing_keys_operator_id_fkey FOREIGN KEY (operator_id) REFERENCES numbering.mobile_operators(id);


--
-- Name: numbers numbers_contract_id_fkey; Type: FK CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.numbers
    ADD CONSTRAINT numbers_contract_id_fkey FOREIGN KEY (contract_id) REFERENCES numbering.lease_contracts(id);


--
-- Name: numbers numbers_operator_id_fkey; Type: FK CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.numbers
    ADD CONSTRAINT numbers_operator_id_fkey FOREIGN KEY (operator_id) REFERENCES numbering.mobile_operators(id);


--
-- Name: porting_batches porting_batches_key_id_fkey; Type: FK CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.porting_batches
    ADD CONSTRAINT porting_batches_key_id_fkey FOREIGN KEY (key_id) REFERENCES numbering.mno_signing_keys(key_id);


--
-- Name: portings portings_batch_id_fkey; Type: FK CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.portings
    ADD CONSTRAINT portings_batch_id_fkey FOREIGN KEY (batch_id) REFERENCES numbering.porting_batches(id);


--
-- Name: portings portings_number_id_fkey; Type: FK CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.portings
    ADD CONSTRAINT portings_number_id_fkey FOREIGN KEY (number_id) REFERENCES numbering.numbers(id);


--
-- Name: portings portings_recipient_operator_id_fkey; Type: FK CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.portings
    ADD CONSTRAINT portings_recipient_operator_id_fkey FOREIGN KEY (recipient_operator_id) REFERENCES numbering.mobile_operators(id);


--
-- Name: quarantine_records quarantine_records_lease_id_fkey; Type: FK CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.quarantine_records
    ADD CONSTRAINT quarantine_records_lease_id_fkey FOREIGN KEY (lease_id) REFERENCES numbering.leases(id);


--
-- Name: quarantine_records quarantine_records_number_id_fkey; Type: FK CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.quarantine_records
    ADD CONSTRAINT quarantine_records_number_id_fkey FOREIGN KEY (number_id) REFERENCES numbering.numbers(id);


--
-- Name: renumberings renumberings_operator_id_fkey; Type: FK CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.renumberings
    ADD CONSTRAINT renumberings_operator_id_fkey FOREIGN KEY (operator_id) REFERENCES numbering.mobile_operators(id);


--
-- Name: reservations reservations_account_fk; Type: FK CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.reservations
    ADD CONSTRAINT reservations_account_fk FOREIGN KEY (tenant_id, account_id) REFERENCES numbering.tenant_accounts(tenant_id, account_id);


--
-- Name: reservations reservations_number_id_fkey; Type: FK CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.reservations
    ADD CONSTRAINT reservations_number_id_fkey FOREIGN KEY (number_id) REFERENCES numbering.numbers(id);


--
-- Name: scarcity_flags scarcity_flags_contract_id_fkey; Type: FK CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.scarcity_flags
    ADD CONSTRAINT scarcity_flags_contract_id_fkey FOREIGN KEY (contract_id) REFERENCES numbering.lease_contracts(id);


--
-- Name: tenant_accounts tenant_accounts_tenant_id_fkey; Type: FK CONSTRAINT; Schema: numbering; Owner: postgres
--

ALTER TABLE ONLY numbering.tenant_accounts
    ADD CONSTRAINT tenant_accounts_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES numbering.tenant_pools(tenant_id);


--
-- Name: account_lease_counts; Type: ROW SECURITY; Schema: numbering; Owner: postgres
--

ALTER TABLE numbering.account_lease_counts ENABLE ROW LEVEL SECURITY;

--
-- Name: account_lease_counts account_lease_counts_scope; Type: POLICY; Schema: numbering; Owner: postgres
--

CREATE POLICY account_lease_counts_scope ON numbering.account_lease_counts FOR SELECT USING ((numbering.is_platform() OR (tenant_id = numbering.current_tenant())));


--
-- Name: approvals; Type: ROW SECURITY; Schema: numbering; Owner: postgres
--

ALTER TABLE numbering.approvals ENABLE ROW LEVEL SECURITY;

--
-- Name: approvals approvals_platform; Type: POLICY; Schema: numbering; Owner: postgres
--

CREATE POLICY approvals_platform ON numbering.approvals USING (numbering.is_platform()) WITH CHECK (numbering.is_platform());


--
-- Name: idempotency_keys; Type: ROW SECURITY; Schema: numbering; Owner: postgres
--

ALTER TABLE numbering.idempotency_keys ENABLE ROW LEVEL SECURITY;

--
-- Name: idempotency_keys idempotency_keys_scope; Type: POLICY; Schema: numbering; Owner: postgres
--

CREATE POLICY idempotency_keys_scope ON numbering.idempotency_keys USING ((numbering.is_platform() OR (scope = numbering.current_tenant()))) WITH CHECK ((numbering.is_platform() OR (scope = numbering.current_tenant())));


--
-- Name: leases; Type: ROW SECURITY; Schema: numbering; Owner: postgres
--

ALTER TABLE numbering.leases ENABLE ROW LEVEL SECURITY;

--
-- Name: leases leases_hot_path; Type: POLICY; Schema: numbering; Owner: postgres
--

CREATE POLICY leases_hot_path ON numbering.leases FOR SELECT TO numbering_hot_path USING ((CURRENT_USER = 'numbering_hot_path'::name));


--
-- Name: leases leases_reader; Type: POLICY; Schema: numbering; Owner: postgres
--

CREATE POLICY leases_reader ON numbering.leases FOR SELECT TO numbering_reader USING (true);


--
-- Name: leases leases_scope; Type: POLICY; Schema: numbering; Owner: postgres
--

CREATE POLICY leases_scope ON numbering.leases USING ((numbering.is_platform() OR (tenant_id = numbering.current_tenant()))) WITH CHECK ((numbering.is_platform() OR (tenant_id = numbering.current_tenant())));


--
-- Name: numbers; Type: ROW SECURITY; Schema: numbering; Owner: postgres
--

ALTER TABLE numbering.numbers ENABLE ROW LEVEL SECURITY;

--
-- Name: numbers numbers_hot_path; Type: POLICY; Schema: numbering; Owner: postgres
--

CREATE POLICY numbers_hot_path ON numbering.numbers FOR SELECT TO numbering_hot_path USING ((CURRENT_USER = 'numbering_hot_path'::name));


--
-- Name: numbers numbers_platform; Type: POLICY; Schema: numbering; Owner: postgres
--

CREATE POLICY numbers_platform ON numbering.numbers USING (numbering.is_platform()) WITH CHECK (numbering.is_platform());


--
-- Name: numbers numbers_reader; Type: POLICY; Schema: numbering; Owner: postgres
--

CREATE POLICY numbers_reader ON numbering.numbers FOR SELECT TO numbering_reader USING (true);


--
-- Name: numbers numbers_tenant_select; Type: POLICY; Schema: numbering; Owner: postgres
--

CREATE POLICY numbers_tenant_select ON numbering.numbers FOR SELECT USING (((numbering.current_tenant() IS NOT NULL) AND ((tenant_id IS NULL) OR (tenant_id = numbering.current_tenant()))));


--
-- Name: numbers numbers_tenant_update; Type: POLICY; Schema: numbering; Owner: postgres
--

CREATE POLICY numbers_tenant_update ON numbering.numbers FOR UPDATE USING (((numbering.current_tenant() IS NOT NULL) AND ((tenant_id IS NULL) OR (tenant_id = numbering.current_tenant())))) WITH CHECK (((tenant_id IS NULL) OR (tenant_id = numbering.current_tenant())));


--
-- Name: quarantine_records; Type: ROW SECURITY; Schema: numbering; Owner: postgres
--

ALTER TABLE numbering.quarantine_records ENABLE ROW LEVEL SECURITY;

--
-- Name: quarantine_records quarantine_scope; Type: POLICY; Schema: numbering; Owner: postgres
--

CREATE POLICY quarantine_scope ON numbering.quarantine_records USING ((numbering.is_platform() OR (previous_tenant_id = numbering.current_tenant()))) WITH CHECK ((numbering.is_platform() OR (previous_tenant_id = numbering.current_tenant())));


--
-- Name: reservations; Type: ROW SECURITY; Schema: numbering; Owner: postgres
--

ALTER TABLE numbering.reservations ENABLE ROW LEVEL SECURITY;

--
-- Name: reservations reservations_scope; Type: POLICY; Schema: numbering; Owner: postgres
--

CREATE POLICY reservations_scope ON numbering.reservations USING ((numbering.is_platform() OR (tenant_id = numbering.current_tenant()))) WITH CHECK ((numbering.is_platform() OR (tenant_id = numbering.current_tenant())));


--
-- Name: tenant_accounts; Type: ROW SECURITY; Schema: numbering; Owner: postgres
--

ALTER TABLE numbering.tenant_accounts ENABLE ROW LEVEL SECURITY;

--
-- Name: tenant_accounts tenant_accounts_scope; Type: POLICY; Schema: numbering; Owner: postgres
--

CREATE POLICY tenant_accounts_scope ON numbering.tenant_accounts USING ((numbering.is_platform() OR (tenant_id = numbering.current_tenant()))) WITH CHECK ((numbering.is_platform() OR (tenant_id = numbering.current_tenant())));


--
-- Name: tenant_lease_counts; Type: ROW SECURITY; Schema: numbering; Owner: postgres
--

ALTER TABLE numbering.tenant_lease_counts ENABLE ROW LEVEL SECURITY;

--
-- Name: tenant_lease_counts tenant_lease_counts_scope; Type: POLICY; Schema: numbering; Owner: postgres
--

CREATE POLICY tenant_lease_counts_scope ON numbering.tenant_lease_counts FOR SELECT USING ((numbering.is_platform() OR (tenant_id = numbering.current_tenant())));


--
-- Name: tenant_pools; Type: ROW SECURITY; Schema: numbering; Owner: postgres
--

ALTER TABLE numbering.tenant_pools ENABLE ROW LEVEL SECURITY;

--
-- Name: tenant_pools tenant_pools_own_lock; Type: POLICY; Schema: numbering; Owner: postgres
--

CREATE POLICY tenant_pools_own_lock ON numbering.tenant_pools FOR UPDATE USING ((tenant_id = numbering.current_tenant())) WITH CHECK (false);


--
-- Name: tenant_pools tenant_pools_own_select; Type: POLICY; Schema: numbering; Owner: postgres
--

CREATE POLICY tenant_pools_own_select ON numbering.tenant_pools FOR SELECT USING ((tenant_id = numbering.current_tenant()));


--
-- Name: tenant_pools tenant_pools_platform; Type: POLICY; Schema: numbering; Owner: postgres
--

CREATE POLICY tenant_pools_platform ON numbering.tenant_pools USING (numbering.is_platform()) WITH CHECK (numbering.is_platform());


--
-- Name: SCHEMA numbering; Type: ACL; Schema: -; Owner: postgres
--

GRANT USAGE ON SCHEMA numbering TO numbering_app;
GRANT ALL ON SCHEMA numbering TO numbering_reader;
GRANT USAGE ON SCHEMA numbering TO numbering_hot_path;


--
-- Name: FUNCTION account_quota_usage(p_tenant text, p_account text); Type: ACL; Schema: numbering; Owner: postgres
--

REVOKE ALL ON FUNCTION numbering.account_quota_usage(p_tenant text, p_account text) FROM PUBLIC;
GRANT ALL ON FUNCTION numbering.account_quota_usage(p_tenant text, p_account text) TO numbering_app;


--
-- Name: FUNCTION account_usage(p_tenant text); Type: ACL; Schema: numbering; Owner: postgres
--

REVOKE ALL ON FUNCTION numbering.account_usage(p_tenant text) FROM PUBLIC;
GRANT ALL ON FUNCTION numbering.account_usage(p_tenant text) TO numbering_app;


--
-- Name: FUNCTION audit_partition_bounds(); Type: ACL; Schema: numbering; Owner: postgres
--

GRANT ALL ON FUNCTION numbering.audit_partition_bounds() TO numbering_app;


--
-- Name: FUNCTION claim_idempotency_key(p_tenant text, p_owner text, p_key text, p_fingerprint text, p_abandoned_after_secs double precision); Type: ACL; Schema: numbering; Owner: postgres
--

REVOKE ALL ON FUNCTION numbering.claim_idempotency_key(p_tenant text, p_owner text, p_key text, p_fingerprint text, p_abandoned_after_secs double precision) FROM PUBLIC;
GRANT ALL ON FUNCTION numbering.claim_idempotency_key(p_tenant text, p_owner text, p_key text, p_fingerprint text, p_abandoned_after_secs double precision) TO numbering_app;


--
-- Name: FUNCTION complete_idempotency_key(p_tenant text, p_owner text, p_key text, p_status smallint, p_headers json, p_body bytea); Type: ACL; Schema: numbering; Owner: postgres
--

REVOKE ALL ON FUNCTION numbering.complete_idempotency_key(p_tenant text, p_owner text, p_key text, p_status smallint, p_headers json, p_body bytea) FROM PUBLIC;
GRANT ALL ON FUNCTION numbering.complete_idempotency_key(p_tenant text, p_owner text, p_key text, p_status smallint, p_headers json, p_body bytea) TO numbering_app;


--
-- Name: FUNCTION count_current_account_leases(); Type: ACL; Schema: numbering; Owner: postgres
--

REVOKE ALL ON FUNCTION numbering.count_current_account_leases() FROM PUBLIC;


--
-- Name: FUNCTION count_current_leases(); Type: ACL; Schema: numbering; Owner: postgres
--

REVOKE ALL ON FUNCTION numbering.count_current_leases() FROM PUBLIC;


--
-- Name: FUNCTION detach_audit_partition(p_partition text); Type: ACL; Schema: numbering; Owner: postgres
--

REVOKE ALL ON FUNCTION numbering.detach_audit_partition(p_partition text) FROM PUBLIC;
GRANT ALL ON FUNCTION numbering.detach_audit_partition(p_partition text) TO numbering_app;


--
-- Name: FUNCTION enter_idempotency_key(p_owner text, p_key text, p_abandoned_after_secs double precision); Type: ACL; Schema: numbering; Owner: postgres
--

REVOKE ALL ON FUNCTION numbering.enter_idempotency_key(p_owner text, p_key text, p_abandoned_after_secs double precision) FROM PUBLIC;
GRANT ALL ON FUNCTION numbering.enter_idempotency_key(p_owner text, p_key text, p_abandoned_after_secs double precision) TO numbering_app;


--
-- Name: FUNCTION inventory_state(p_identity_key text); Type: ACL; Schema: numbering; Owner: numbering_reader
--

REVOKE ALL ON FUNCTION numbering.inventory_state(p_identity_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION numbering.inventory_state(p_identity_key text) TO numbering_app;


--
-- Name: FUNCTION lapse_reservation(p_identity_key text); Type: ACL; Schema: numbering; Owner: postgres
--

REVOKE ALL ON FUNCTION numbering.lapse_reservation(p_identity_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION numbering.lapse_reservation(p_identity_key text) TO numbering_app;


--
-- Name: FUNCTION lease_snapshot(p_identity_key text); Type: ACL; Schema: numbering; Owner: numbering_reader
--

REVOKE ALL ON FUNCTION numbering.lease_snapshot(p_identity_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION numbering.lease_snapshot(p_identity_key text) TO numbering_app;


--
-- Name: FUNCTION lock_pool(p_tenant text); Type: ACL; Schema: numbering; Owner: postgres
--

REVOKE ALL ON FUNCTION numbering.lock_pool(p_tenant text) FROM PUBLIC;
GRANT ALL ON FUNCTION numbering.lock_pool(p_tenant text) TO numbering_app;


--
-- Name: FUNCTION lookup_identifier(p_identity_key text); Type: ACL; Schema: numbering; Owner: numbering_reader
--

REVOKE ALL ON FUNCTION numbering.lookup_identifier(p_identity_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION numbering.lookup_identifier(p_identity_key text) TO numbering_app;
GRANT ALL ON FUNCTION numbering.lookup_identifier(p_identity_key text) TO numbering_hot_path;


--
-- Name: FUNCTION maintain_audit_partitions(months_ahead integer); Type: ACL; Schema: numbering; Owner: postgres
--

REVOKE ALL ON FUNCTION numbering.maintain_audit_partitions(months_ahead integer) FROM PUBLIC;
GRANT ALL ON FUNCTION numbering.maintain_audit_partitions(months_ahead integer) TO numbering_app;


--
-- Name: FUNCTION tenant_usage(p_tenant text); Type: ACL; Schema: numbering; Owner: postgres
--

REVOKE ALL ON FUNCTION numbering.tenant_usage(p_tenant text) FROM PUBLIC;
GRANT ALL ON FUNCTION numbering.tenant_usage(p_tenant text) TO numbering_app;


--
-- Name: TABLE account_lease_counts; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT ON TABLE numbering.account_lease_counts TO numbering_app;


--
-- Name: TABLE approvals; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT,INSERT,UPDATE ON TABLE numbering.approvals TO numbering_app;


--
-- Name: TABLE audit_archives; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT,INSERT ON TABLE numbering.audit_archives TO numbering_app;


--
-- Name: TABLE audit_chain; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT,INSERT ON TABLE numbering.audit_chain TO numbering_app;


--
-- Name: TABLE audit_log; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT,INSERT ON TABLE numbering.audit_log TO numbering_app;


--
-- Name: TABLE idempotency_keys; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE numbering.idempotency_keys TO numbering_app;


--
-- Name: TABLE identifier_links; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT,INSERT ON TABLE numbering.identifier_links TO numbering_app;
GRANT SELECT ON TABLE numbering.identifier_links TO numbering_reader;
GRANT SELECT ON TABLE numbering.identifier_links TO numbering_hot_path;


--
-- Name: TABLE lease_contracts; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT,INSERT,UPDATE ON TABLE numbering.lease_contracts TO numbering_app;


--
-- Name: TABLE lease_import_errors; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT,INSERT,UPDATE ON TABLE numbering.lease_import_errors TO numbering_app;


--
-- Name: TABLE lease_imports; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT,INSERT,UPDATE ON TABLE numbering.lease_imports TO numbering_app;


--
-- Name: TABLE leases; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT,INSERT,UPDATE ON TABLE numbering.leases TO numbering_app;
GRANT SELECT ON TABLE numbering.leases TO numbering_reader;
GRANT SELECT ON TABLE numbering.leases TO numbering_hot_path;


--
-- Name: TABLE mno_signing_keys; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT,INSERT,UPDATE ON TABLE numbering.mno_signing_keys TO numbering_app;


--
-- Name: TABLE mobile_operators; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT,INSERT,UPDATE ON TABLE numbering.mobile_operators TO numbering_app;
GRANT SELECT ON TABLE numbering.mobile_operators TO numbering_reader;


--
-- Name: TABLE numbers; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT,INSERT,UPDATE ON TABLE numbering.numbers TO numbering_app;
GRANT SELECT ON TABLE numbering.numbers TO numbering_reader;
GRANT SELECT ON TABLE numbering.numbers TO numbering_hot_path;


--
-- Name: TABLE outbox; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT,INSERT,DELETE ON TABLE numbering.outbox TO numbering_app;


--
-- Name: COLUMN outbox.published_at; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT UPDATE(published_at) ON TABLE numbering.outbox TO numbering_app;


--
-- Name: TABLE porting_batches; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT,INSERT ON TABLE numbering.porting_batches TO numbering_app;


--
-- Name: TABLE portings; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE numbering.portings TO numbering_app;
GRANT SELECT ON TABLE numbering.portings TO numbering_reader;


--
-- Name: TABLE processed_events; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT,INSERT,DELETE ON TABLE numbering.processed_events TO numbering_app;


--
-- Name: TABLE quarantine_records; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT,INSERT,UPDATE ON TABLE numbering.quarantine_records TO numbering_app;


--
-- Name: TABLE regulator_exports; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT,INSERT,UPDATE ON TABLE numbering.regulator_exports TO numbering_app;


--
-- Name: TABLE renumberings; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT,INSERT,UPDATE ON TABLE numbering.renumberings TO numbering_app;


--
-- Name: TABLE replica_heartbeat; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT,UPDATE ON TABLE numbering.replica_heartbeat TO numbering_app;
GRANT SELECT ON TABLE numbering.replica_heartbeat TO numbering_hot_path;


--
-- Name: TABLE reservations; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT,INSERT,UPDATE ON TABLE numbering.reservations TO numbering_app;


--
-- Name: TABLE scarcity_flags; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT,INSERT,UPDATE ON TABLE numbering.scarcity_flags TO numbering_app;


--
-- Name: TABLE tenant_accounts; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT,INSERT,UPDATE ON TABLE numbering.tenant_accounts TO numbering_app;


--
-- Name: TABLE tenant_lease_counts; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT ON TABLE numbering.tenant_lease_counts TO numbering_app;


--
-- Name: TABLE tenant_pools; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT,INSERT,UPDATE ON TABLE numbering.tenant_pools TO numbering_app;


--
-- Name: TABLE vanity_patterns; Type: ACL; Schema: numbering; Owner: postgres
--

GRANT SELECT ON TABLE numbering.vanity_patterns TO numbering_app;


--
-- PostgreSQL database dump complete
--
