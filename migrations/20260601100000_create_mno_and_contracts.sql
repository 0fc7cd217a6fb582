CREATE TABLE numbering.mobile_operators (
    id              text PRIMARY KEY CONSTRAINT mobile_operators_id_format CHECK (id ~ '^[a-z0-9-]{2,32}$'),
    name            text NOT NULL,
    mcc             text NOT NULL CONSTRAINT mobile_operators_mcc_format CHECK (mcc ~ '^[0-9]{3}$'),
    mnc_codes       text[] NOT NULL CONSTRAINT mobile_operators_has_mnc CHECK (cardinality(mnc_codes) > 0),
    msisdn_prefixes text[] NOT NULL DEFAULT '{}',
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- A block of identifiers the platform may hold: an MNO lease (MSISDN) or an
-- ATRA allocation (SHORT_CODE, operator_id NULL). Ranges are inclusive and
-- compare as text between canonical identifiers of equal length.
CREATE TABLE numbering.lease_contracts (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    contract_ref text NOT NULL CONSTRAINT lease_contracts_ref_unique UNIQUE,
    operator_id  text REFERENCES numbering.mobile_operators (id),
    kind         numbering.identifier_kind NOT NULL,
    range_start  text NOT NULL,
    range_end    text NOT NULL,
    starts_on    date NOT NULL,
    ends_on      date,
    status       numbering.contract_status NOT NULL DEFAULT 'ACTIVE',
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT lease_contracts_range_ordered
        CHECK (range_start <= range_end AND length(range_start) = length(range_end)),
    CONSTRAINT lease_contracts_dates_ordered CHECK (ends_on IS NULL OR ends_on >= starts_on),
    CONSTRAINT lease_contracts_msisdn_has_operator CHECK (kind <> 'MSISDN' OR operator_id IS NOT NULL)
);
CREATE INDEX lease_contracts_by_operator ON numbering.lease_contracts (operator_id, status);

-- Public keys MNOs (and ATRA, operator_id NULL) sign their import files with.
CREATE TABLE numbering.mno_signing_keys (
    key_id            text PRIMARY KEY CONSTRAINT mno_signing_keys_id_format CHECK (key_id ~ '^[A-Za-z0-9._:-]{1,128}$'),
    operator_id       text REFERENCES numbering.mobile_operators (id),
    algorithm         numbering.signing_algorithm NOT NULL,
    public_key_pem    text NOT NULL,
    valid_from        timestamptz NOT NULL DEFAULT now(),
    valid_until       timestamptz,
    revoked_at        timestamptz,
    revocation_reason text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT mno_signing_keys_validity_ordered CHECK (valid_until IS NULL OR valid_until > valid_from),
    CONSTRAINT mno_signing_keys_revocation_explained CHECK (revoked_at IS NULL OR revocation_reason IS NOT NULL)
);

GRANT SELECT, INSERT, UPDATE ON numbering.mobile_operators, numbering.lease_contracts,
    numbering.mno_signing_keys TO numbering_app;
