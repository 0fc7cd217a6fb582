-- The inventory: one row per identifier the platform holds, carrying its
-- lifecycle state, its current holder and a version for compare-and-swap.
CREATE TABLE numbering.numbers (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    identifier       text NOT NULL,          -- canonical form (ALPHA keeps its case)
    identity_key     text NOT NULL,          -- identity: canonical, ALPHA upper-cased
    kind             numbering.identifier_kind NOT NULL,
    state            numbering.number_state NOT NULL DEFAULT 'AVAILABLE',
    tenant_id        text,                   -- holder while RESERVED/HELD/ASSIGNED/SUSPENDED
    reserved_until   timestamptz,            -- RESERVED/HELD only: expiry of the live reservation
    operator_id      text REFERENCES numbering.mobile_operators (id),
    mcc              text,
    mnc              text,
    contract_id      uuid REFERENCES numbering.lease_contracts (id),
    vanity           boolean NOT NULL DEFAULT false,
    version          bigint NOT NULL DEFAULT 1,
    state_changed_at timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT numbers_holder_matches_state
        CHECK ((state IN ('RESERVED', 'HELD', 'ASSIGNED', 'SUSPENDED')) = (tenant_id IS NOT NULL)),
    CONSTRAINT numbers_reserved_until_matches_state
        CHECK ((state IN ('RESERVED', 'HELD')) = (reserved_until IS NOT NULL)),
    CONSTRAINT numbers_msisdn_has_operator CHECK (kind <> 'MSISDN' OR operator_id IS NOT NULL),
    CONSTRAINT numbers_identifier_format CHECK (CASE kind
        WHEN 'MSISDN' THEN identifier ~ '^\+937[0-9]{8}$'
        WHEN 'SHORT_CODE' THEN identifier ~ '^[0-9]{3,6}$'
        ELSE identifier ~ '^[A-Za-z0-9 .-]{3,11}$' AND identifier ~ '[A-Za-z]' END),
    CONSTRAINT numbers_identity_key_matches CHECK (identity_key = CASE kind WHEN 'ALPHA' THEN upper(identifier) ELSE identifier END),
    CONSTRAINT numbers_version_positive CHECK (version > 0)
);

-- One live inventory row per identity; a retired row may be re-imported later.
CREATE UNIQUE INDEX numbers_identity_unique ON numbering.numbers (identity_key) WHERE state <> 'RETIRED';
CREATE INDEX numbers_browse_available ON numbering.numbers (kind, operator_id, identifier text_pattern_ops)
    WHERE state = 'AVAILABLE';
CREATE INDEX numbers_by_holder ON numbering.numbers (tenant_id, kind) WHERE tenant_id IS NOT NULL;
CREATE INDEX numbers_lapsing_reservations ON numbering.numbers (reserved_until) WHERE reserved_until IS NOT NULL;

-- Identifier patterns that make a number "vanity" (needs the pool's vanity flag).
CREATE TABLE numbering.vanity_patterns (
    id          text PRIMARY KEY,
    kind        numbering.identifier_kind NOT NULL,
    pattern     text NOT NULL,  -- POSIX regex over the canonical identifier
    description text NOT NULL
);
GRANT SELECT ON numbering.vanity_patterns TO numbering_app;

-- Row-level security: a tenant sees unheld inventory and what it holds itself;
-- platform scope sees everything; no scope sees nothing.
ALTER TABLE numbering.numbers ENABLE ROW LEVEL SECURITY;
ALTER TABLE numbering.numbers FORCE ROW LEVEL SECURITY;
CREATE POLICY numbers_platform ON numbering.numbers
    USING (numbering.is_platform()) WITH CHECK (numbering.is_platform());
CREATE POLICY numbers_tenant_select ON numbering.numbers FOR SELECT
    USING (numbering.current_tenant() IS NOT NULL
           AND (tenant_id IS NULL OR tenant_id = numbering.current_tenant()));
CREATE POLICY numbers_tenant_update ON numbering.numbers FOR UPDATE
    USING (numbering.current_tenant() IS NOT NULL
           AND (tenant_id IS NULL OR tenant_id = numbering.current_tenant()))
    WITH CHECK (tenant_id IS NULL OR tenant_id = numbering.current_tenant());

GRANT SELECT, INSERT, UPDATE ON numbering.numbers TO numbering_app;
