-- Per-account sub-quotas inside a tenant's pool (SPEC §10, issue 19).
--
-- An enterprise tenant has accounts; its pool may give each account its own
-- quota per kind. A reservation made for an account counts in the tenant's
-- usage and in the account's, and must fit under both limits. The check
-- runs under the tenant's pool lock (`numbering.lock_pool`), as the
-- tenant's own check does: every reservation of the tenant, whatever its
-- account, queues on that one row, so the account's usage counted after
-- the lock is granted is exact.

CREATE TABLE numbering.tenant_accounts (
    tenant_id        text NOT NULL REFERENCES numbering.tenant_pools (tenant_id),
    account_id       text NOT NULL
        CONSTRAINT tenant_accounts_id_format CHECK (account_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    quota_msisdn     integer NOT NULL DEFAULT 0
        CONSTRAINT tenant_accounts_quota_msisdn_non_negative CHECK (quota_msisdn >= 0),
    quota_short_code integer NOT NULL DEFAULT 0
        CONSTRAINT tenant_accounts_quota_short_code_non_negative CHECK (quota_short_code >= 0),
    quota_alpha      integer NOT NULL DEFAULT 0
        CONSTRAINT tenant_accounts_quota_alpha_non_negative CHECK (quota_alpha >= 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, account_id)
);

-- Isolated like the tenant's other rows: a tenant sees and sets only its
-- own accounts (its pool admin, on the portal), the platform all of them.
ALTER TABLE numbering.tenant_accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE numbering.tenant_accounts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_accounts_scope ON numbering.tenant_accounts
    USING (numbering.is_platform() OR tenant_id = numbering.current_tenant())
    WITH CHECK (numbering.is_platform() OR tenant_id = numbering.current_tenant());
GRANT SELECT, INSERT, UPDATE ON numbering.tenant_accounts TO numbering_app;

-- Reservations and leases record the account they were made for (NULL:
-- tenant-wide). The composite key keeps an account inside its own tenant.
ALTER TABLE numbering.reservations ADD COLUMN account_id text,
    ADD CONSTRAINT reservations_account_fk FOREIGN KEY (tenant_id, account_id)
        REFERENCES numbering.tenant_accounts (tenant_id, account_id);
ALTER TABLE numbering.leases ADD COLUMN account_id text,
    ADD CONSTRAINT leases_account_fk FOREIGN KEY (tenant_id, account_id)
        REFERENCES numbering.tenant_accounts (tenant_id, account_id);

CREATE INDEX reservations_live_by_account ON numbering.reservations (tenant_id, account_id, kind)
    WHERE status IN ('RESERVED', 'HELD') AND account_id IS NOT NULL;
CREATE INDEX leases_by_account ON numbering.leases (tenant_id, account_id, status)
    WHERE account_id IS NOT NULL;

-- Current (ACTIVE or SUSPENDED) leases per account and kind, kept by the
-- database like `tenant_lease_counts` (same reasons: O(1) under the lock).
CREATE TABLE numbering.account_lease_counts (
    tenant_id      text NOT NULL,
    account_id     text NOT NULL,
    kind           numbering.identifier_kind NOT NULL,
    current_leases integer NOT NULL CONSTRAINT account_lease_counts_non_negative CHECK (current_leases >= 0),
    PRIMARY KEY (tenant_id, account_id, kind)
);

ALTER TABLE numbering.account_lease_counts ENABLE ROW LEVEL SECURITY;
CREATE POLICY account_lease_counts_scope ON numbering.account_lease_counts FOR SELECT
    USING (numbering.is_platform() OR tenant_id = numbering.current_tenant());
GRANT SELECT ON numbering.account_lease_counts TO numbering_app;

CREATE FUNCTION numbering.count_current_account_leases() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = numbering, pg_temp AS $$
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
REVOKE ALL ON FUNCTION numbering.count_current_account_leases() FROM PUBLIC;

CREATE TRIGGER leases_count_current_by_account
    AFTER INSERT OR DELETE OR UPDATE OF status, tenant_id, account_id, kind
    ON numbering.leases FOR EACH ROW EXECUTE FUNCTION numbering.count_current_account_leases();

-- Every account of a tenant with what it uses per kind: its live
-- reservations (not lapsed) plus its current leases from the counter.
-- SECURITY INVOKER: row-level security scopes it to the caller's tenant.
CREATE FUNCTION numbering.account_usage(p_tenant text)
RETURNS TABLE (account_id text, quota_msisdn integer, quota_short_code integer, quota_alpha integer,
               used_msisdn bigint, used_short_code bigint, used_alpha bigint)
LANGUAGE sql STABLE AS $$
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
REVOKE ALL ON FUNCTION numbering.account_usage(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION numbering.account_usage(text) TO numbering_app;

-- One account's quotas and usage, for a reservation that already holds the
-- tenant's pool lock (a fresh statement, so it counts what every earlier
-- holder of the lock committed). No row: the pool has no such account.
CREATE FUNCTION numbering.account_quota_usage(p_tenant text, p_account text)
RETURNS TABLE (quota_msisdn integer, quota_short_code integer, quota_alpha integer,
               used_msisdn bigint, used_short_code bigint, used_alpha bigint)
LANGUAGE sql STABLE AS $$
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
REVOKE ALL ON FUNCTION numbering.account_quota_usage(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION numbering.account_quota_usage(text, text) TO numbering_app;
