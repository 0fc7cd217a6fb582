-- Schema, roles and enum types for numbering-service.
--
-- The application connects as (or SET ROLE to) `numbering_app`, which owns
-- nothing: the tables belong to whoever runs the migrations, so row-level
-- security (FORCE) and the append-only audit privileges bind the application.
DO $$
BEGIN
    CREATE ROLE numbering_app NOLOGIN;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;  -- roles are cluster-wide
END
$$;

CREATE SCHEMA numbering;
GRANT USAGE ON SCHEMA numbering TO numbering_app;

CREATE TYPE numbering.identifier_kind AS ENUM ('MSISDN', 'SHORT_CODE', 'ALPHA');
CREATE TYPE numbering.number_state AS ENUM
    ('AVAILABLE', 'RESERVED', 'HELD', 'ASSIGNED', 'SUSPENDED', 'QUARANTINED', 'RETIRED');
CREATE TYPE numbering.reservation_status AS ENUM ('RESERVED', 'HELD', 'CONSUMED', 'CANCELLED', 'EXPIRED');
CREATE TYPE numbering.lease_status AS ENUM ('ACTIVE', 'SUSPENDED', 'ENDED');
CREATE TYPE numbering.quarantine_reason AS ENUM ('RELEASED', 'RECALLED', 'EXPIRED');
CREATE TYPE numbering.contract_status AS ENUM ('ACTIVE', 'SUSPENDED', 'ENDED');
CREATE TYPE numbering.signing_algorithm AS ENUM ('ed25519', 'ecdsa-p256-sha256');
CREATE TYPE numbering.pool_status AS ENUM ('ACTIVE', 'SUSPENDED');
CREATE TYPE numbering.import_status AS ENUM ('PENDING', 'APPLIED', 'PARTIAL', 'REJECTED');

-- Request scope, set transaction-locally by the store (set_config(..., true)).
-- An absent or empty tenant means "no tenant": tenant policies then deny.
CREATE FUNCTION numbering.current_tenant() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('numbering.tenant_id', true), '') $$;

-- Platform scope (admins and system jobs) sees across tenants.
CREATE FUNCTION numbering.is_platform() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(current_setting('numbering.scope', true), '') = 'platform' $$;

-- Readiness ("migrations applied") is checked as the application role.
DO $$
BEGIN
    IF to_regclass('_sqlx_migrations') IS NOT NULL THEN
        GRANT SELECT ON TABLE _sqlx_migrations TO numbering_app;
    END IF;
END
$$;
