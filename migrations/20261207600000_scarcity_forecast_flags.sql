-- The scarcity forecast (seed Phase 4.3). One row per block (lease
-- contract): whether its last forecast put its exhaustion within the
-- 60-day window. The forecast job writes `numbering.ops.scarcity_forecast.v1`
-- to the outbox, in the same statement, only when a block turns from not
-- flagged (or unknown) to flagged: one event per entry into the window.
CREATE TABLE numbering.scarcity_flags (
    contract_id uuid PRIMARY KEY REFERENCES numbering.lease_contracts (id),
    flagged boolean NOT NULL,
    -- the point estimate of the last pass (null: not within ten years)
    exhaustion_date date,
    -- when `flagged` last changed, and when the last pass ran
    changed_at timestamptz NOT NULL DEFAULT now(),
    checked_at timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT, INSERT, UPDATE ON numbering.scarcity_flags TO numbering_app;

-- The forecast counts each block's stock and imports by contract.
CREATE INDEX numbers_by_contract ON numbering.numbers (contract_id, created_at)
    WHERE contract_id IS NOT NULL;
