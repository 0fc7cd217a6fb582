-- The lease-contract lifecycle (issue 19): ACTIVE ⇄ SUSPENDED → ENDED.
--
-- `version` is the contract's compare-and-swap counter (every suspend,
-- resume or end moves it on by one); `ended_at` / `end_reason` say when and
-- why a contract ended, and only an ENDED contract has them. ENDED is final.
ALTER TABLE numbering.lease_contracts
    ADD COLUMN version bigint NOT NULL DEFAULT 1,
    ADD COLUMN ended_at timestamptz,
    ADD COLUMN end_reason text;

-- nothing set a contract ENDED before this migration; should a row say so
-- anyway, it keeps its state and gets an end to satisfy the rule below
UPDATE numbering.lease_contracts
SET ended_at = coalesce(ends_on::timestamptz, created_at),
    end_reason = 'ended before the contract lifecycle was recorded'
WHERE status = 'ENDED';

ALTER TABLE numbering.lease_contracts
    ADD CONSTRAINT lease_contracts_version_positive CHECK (version > 0),
    ADD CONSTRAINT lease_contracts_ended_iff_final
        CHECK ((status = 'ENDED') = (ended_at IS NOT NULL AND end_reason IS NOT NULL)),
    ADD CONSTRAINT lease_contracts_end_reason_length
        CHECK (end_reason IS NULL OR char_length(btrim(end_reason)) BETWEEN 1 AND 1000);

-- ENDED is final: its numbers are retired, its leases flagged for recall.
CREATE FUNCTION numbering.lease_contracts_ended_is_final() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'ENDED' AND NEW.status IS DISTINCT FROM 'ENDED' THEN
        RAISE EXCEPTION 'contract % has ended; it cannot become %', OLD.contract_ref, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'lease_contracts_ended_is_final';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER lease_contracts_ended_is_final
    BEFORE UPDATE OF status ON numbering.lease_contracts
    FOR EACH ROW EXECUTE FUNCTION numbering.lease_contracts_ended_is_final();

-- Nothing of a SUSPENDED or ENDED contract is newly reserved, whatever the
-- code does: the reservation's own write fails here, under the constraint
-- name `numbers_contract_suspended` or `numbers_contract_ended`, which the
-- store answers as CONTRACT_SUSPENDED / CONTRACT_ENDED (browsing and
-- "reserve any" skip such identifiers in the first place).
CREATE FUNCTION numbering.numbers_contract_open() RETURNS trigger
    LANGUAGE plpgsql AS $$
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
CREATE TRIGGER numbers_contract_open
    BEFORE UPDATE OF state ON numbering.numbers
    FOR EACH ROW
    WHEN (NEW.state = 'RESERVED' AND OLD.state <> 'RESERVED' AND NEW.contract_id IS NOT NULL)
    EXECUTE FUNCTION numbering.numbers_contract_open();

-- A lease whose contract ended: flagged (when), and recalled by the
-- lifecycle sweeper at `recall_at` (its term end then); never auto-renewed.
ALTER TABLE numbering.leases
    ADD COLUMN contract_ended_at timestamptz,
    ADD COLUMN recall_at timestamptz,
    ADD CONSTRAINT leases_recall_iff_contract_ended
        CHECK ((contract_ended_at IS NULL) = (recall_at IS NULL));

CREATE INDEX leases_due_for_recall ON numbering.leases (recall_at)
    WHERE recall_at IS NOT NULL AND status IN ('ACTIVE', 'SUSPENDED');

-- the inventory of one contract (end, utilisation) is found through
-- `numbers_by_contract` (contract_id, created_at), the forecast's index
