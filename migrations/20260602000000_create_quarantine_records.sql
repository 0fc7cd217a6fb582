-- One record per quarantine: why, for whom, until when, and how it ended.
CREATE TABLE numbering.quarantine_records (
    id                     uuid PRIMARY KEY,
    number_id              bigint NOT NULL REFERENCES numbering.numbers (id),
    identifier             text NOT NULL,
    kind                   numbering.identifier_kind NOT NULL,
    previous_tenant_id     text NOT NULL,
    lease_id               uuid REFERENCES numbering.leases (id),
    reason                 numbering.quarantine_reason NOT NULL,
    started_at             timestamptz NOT NULL DEFAULT now(),
    ends_at                timestamptz NOT NULL,
    ended_at               timestamptz,
    ended_by               text CONSTRAINT quarantine_ended_by_known CHECK (ended_by IN ('COOL_OFF', 'OVERRIDE', 'RETIRED')),
    override_justification text,
    overridden_by          text,
    -- Legal's cool-off durations are configuration; this is the floor no
    -- configuration can go under.
    CONSTRAINT quarantine_cool_off_floor CHECK (ends_at >= started_at + interval '1 day'),
    CONSTRAINT quarantine_ended_consistently CHECK ((ended_at IS NULL) = (ended_by IS NULL)),
    CONSTRAINT quarantine_cool_off_served CHECK (ended_by IS DISTINCT FROM 'COOL_OFF' OR ended_at >= ends_at),
    CONSTRAINT quarantine_override_justified CHECK (
        ended_by IS DISTINCT FROM 'OVERRIDE'
        OR (length(btrim(override_justification)) >= 20 AND overridden_by IS NOT NULL))
);
CREATE UNIQUE INDEX quarantine_one_open_per_number ON numbering.quarantine_records (number_id)
    WHERE ended_at IS NULL;
CREATE INDEX quarantine_due ON numbering.quarantine_records (ends_at) WHERE ended_at IS NULL;

ALTER TABLE numbering.quarantine_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE numbering.quarantine_records FORCE ROW LEVEL SECURITY;
CREATE POLICY quarantine_scope ON numbering.quarantine_records
    USING (numbering.is_platform() OR previous_tenant_id = numbering.current_tenant())
    WITH CHECK (numbering.is_platform() OR previous_tenant_id = numbering.current_tenant());

GRANT SELECT, INSERT, UPDATE ON numbering.quarantine_records TO numbering_app;
