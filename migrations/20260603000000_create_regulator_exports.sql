CREATE TYPE numbering.export_status AS ENUM
    ('PENDING', 'GENERATED', 'REVIEWED', 'SUBMITTED', 'ACKNOWLEDGED', 'FAILED', 'REJECTED');

-- One row per generated export version; a regeneration is a new version.
CREATE TABLE numbering.regulator_exports (
    id               uuid PRIMARY KEY,
    period           text NOT NULL CONSTRAINT regulator_exports_period_format CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    version          integer NOT NULL CONSTRAINT regulator_exports_version_positive CHECK (version >= 1),
    format           text NOT NULL DEFAULT 'atra-v1',
    status           numbering.export_status NOT NULL DEFAULT 'PENDING',
    manifest         json,
    manifest_sha256  text,
    signature        text,
    signer_key_id    text,
    storage_uri      text,
    audit_chain_head text,
    failure_reason   text,
    created_by       text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    generated_at     timestamptz,
    reviewed_by      text,
    reviewed_at      timestamptz,
    submitted_at     timestamptz,
    acknowledged_at  timestamptz,
    CONSTRAINT regulator_exports_period_version_unique UNIQUE (period, version),
    CONSTRAINT regulator_exports_generated_has_manifest
        CHECK (status IN ('PENDING', 'FAILED') OR (manifest IS NOT NULL AND signature IS NOT NULL))
);

GRANT SELECT, INSERT, UPDATE ON numbering.regulator_exports TO numbering_app;
