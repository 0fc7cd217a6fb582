-- One pool per tenant: what it may hold (kinds, operators, vanity) and how much.
CREATE TABLE numbering.tenant_pools (
    tenant_id          text PRIMARY KEY CONSTRAINT tenant_pools_id_format CHECK (tenant_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    display_name       text NOT NULL,
    segment            text,
    status             numbering.pool_status NOT NULL DEFAULT 'ACTIVE',
    quota_msisdn       integer NOT NULL DEFAULT 0 CONSTRAINT tenant_pools_quota_msisdn_non_negative CHECK (quota_msisdn >= 0),
    quota_short_code   integer NOT NULL DEFAULT 0 CONSTRAINT tenant_pools_quota_short_code_non_negative CHECK (quota_short_code >= 0),
    quota_alpha        integer NOT NULL DEFAULT 0 CONSTRAINT tenant_pools_quota_alpha_non_negative CHECK (quota_alpha >= 0),
    allowed_kinds      numbering.identifier_kind[] NOT NULL DEFAULT '{MSISDN,SHORT_CODE,ALPHA}',
    allowed_operators  text[] NOT NULL DEFAULT '{}',   -- empty: every operator
    vanity_allowed     boolean NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE numbering.tenant_pools ENABLE ROW LEVEL SECURITY;
ALTER TABLE numbering.tenant_pools FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_pools_platform ON numbering.tenant_pools
    USING (numbering.is_platform()) WITH CHECK (numbering.is_platform());
-- A tenant reads its own pool and locks it (FOR UPDATE) to serialise its quota checks.
CREATE POLICY tenant_pools_own_select ON numbering.tenant_pools FOR SELECT
    USING (tenant_id = numbering.current_tenant());
CREATE POLICY tenant_pools_own_lock ON numbering.tenant_pools FOR UPDATE
    USING (tenant_id = numbering.current_tenant()) WITH CHECK (false);

GRANT SELECT, INSERT, UPDATE ON numbering.tenant_pools TO numbering_app;
