-- Idempotency-Key records, scoped per tenant (or per platform admin), kept at
-- least 24 h. A key is claimed IN_PROGRESS before the work runs and completed
-- with the exact response, which later replays return byte for byte.
CREATE TABLE numbering.idempotency_keys (
    scope               text NOT NULL,       -- tenant id, or 'platform:<sub>'
    key                 text NOT NULL CONSTRAINT idempotency_keys_key_format CHECK (length(key) BETWEEN 1 AND 255),
    request_fingerprint text NOT NULL,
    status              text NOT NULL DEFAULT 'IN_PROGRESS'
                        CONSTRAINT idempotency_keys_status_known CHECK (status IN ('IN_PROGRESS', 'COMPLETED')),
    response_status     smallint,
    response_headers    json,
    response_body       bytea,
    created_at          timestamptz NOT NULL DEFAULT now(),
    completed_at        timestamptz,
    expires_at          timestamptz NOT NULL DEFAULT now() + interval '24 hours',
    PRIMARY KEY (scope, key),
    CONSTRAINT idempotency_keys_completed_has_response
        CHECK (status <> 'COMPLETED' OR (response_status IS NOT NULL AND completed_at IS NOT NULL)),
    CONSTRAINT idempotency_keys_kept_a_day CHECK (expires_at >= created_at + interval '24 hours')
);
CREATE INDEX idempotency_keys_expiry ON numbering.idempotency_keys (expires_at);

ALTER TABLE numbering.idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE numbering.idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY idempotency_keys_scope ON numbering.idempotency_keys
    USING (numbering.is_platform() OR scope = numbering.current_tenant())
    WITH CHECK (numbering.is_platform() OR scope = numbering.current_tenant());

GRANT SELECT, INSERT, UPDATE, DELETE ON numbering.idempotency_keys TO numbering_app;
