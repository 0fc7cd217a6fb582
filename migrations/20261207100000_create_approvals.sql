-- Two-person approvals of dangerous admin actions (store::approvals).
-- One admin requests (PENDING); a second, different admin approves it and
-- the action is applied in the same transaction (APPLIED); or an admin
-- other than the requester rejects it with a reason (REJECTED), the
-- requester withdraws it (WITHDRAWN), or it lapses unapplied (EXPIRED).
--   PENDING -> APPLIED | REJECTED | WITHDRAWN | EXPIRED, nothing else.
-- `target_version` is the target's version when the request was made: an
-- approval whose target has moved since is refused as stale.

CREATE TABLE numbering.approvals (
    id uuid PRIMARY KEY,
    action text NOT NULL,
    target_kind text NOT NULL,
    target_id text NOT NULL,
    target_version text NOT NULL,
    tenant_id text,
    payload jsonb NOT NULL,
    justification text NOT NULL,
    requested_by text NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    request_id text,
    status text NOT NULL DEFAULT 'PENDING',
    decided_by text,
    decided_at timestamptz,
    decision_reason text,
    CONSTRAINT approvals_action_format CHECK (action ~ '^[a-z][a-z_]*(\.[a-z][a-z_]*)+$'),
    CONSTRAINT approvals_target_present CHECK (target_kind <> '' AND target_id <> ''),
    CONSTRAINT approvals_payload_object CHECK (jsonb_typeof(payload) = 'object'),
    CONSTRAINT approvals_justified CHECK (btrim(justification) <> '' AND length(justification) <= 2000),
    CONSTRAINT approvals_requester_present CHECK (btrim(requested_by) <> ''),
    CONSTRAINT approvals_status_known
        CHECK (status IN ('PENDING', 'APPLIED', 'REJECTED', 'WITHDRAWN', 'EXPIRED')),
    CONSTRAINT approvals_expiry_after_request CHECK (expires_at > requested_at),
    -- the second person is another person: nobody applies or rejects their own request
    CONSTRAINT approvals_approver_not_requester
        CHECK (status NOT IN ('APPLIED', 'REJECTED') OR decided_by <> requested_by),
    -- the decision's fields are there exactly when the status says so
    CONSTRAINT approvals_decision_matches_status CHECK (
        CASE status
            WHEN 'PENDING' THEN decided_by IS NULL AND decided_at IS NULL AND decision_reason IS NULL
            WHEN 'APPLIED' THEN decided_by IS NOT NULL AND decided_at IS NOT NULL
                AND decision_reason IS NULL
            WHEN 'REJECTED' THEN decided_by IS NOT NULL AND decided_at IS NOT NULL
                AND btrim(coalesce(decision_reason, '')) <> ''
            WHEN 'WITHDRAWN' THEN decided_by = requested_by AND decided_at IS NOT NULL
            WHEN 'EXPIRED' THEN decided_by IS NULL AND decided_at IS NOT NULL
        END),
    CONSTRAINT approvals_decided_after_request CHECK (decided_at IS NULL OR decided_at >= requested_at),
    -- applied only while it had not expired
    CONSTRAINT approvals_applied_before_expiry CHECK (status <> 'APPLIED' OR decided_at < expires_at)
);

CREATE INDEX approvals_by_status ON numbering.approvals (status, requested_at);

-- A request is decided once: PENDING moves to one final status, and what was
-- requested never changes.
CREATE FUNCTION numbering.approval_transition() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'PENDING' THEN
            RAISE EXCEPTION 'an approval starts PENDING, not %', NEW.status
                USING ERRCODE = 'check_violation', CONSTRAINT = 'approvals_status_transition';
        END IF;
        RETURN NEW;
    END IF;
    IF (NEW.id, NEW.action, NEW.target_kind, NEW.target_id, NEW.target_version, NEW.payload,
        NEW.justification, NEW.requested_by, NEW.requested_at, NEW.expires_at)
       IS DISTINCT FROM
       (OLD.id, OLD.action, OLD.target_kind, OLD.target_id, OLD.target_version, OLD.payload,
        OLD.justification, OLD.requested_by, OLD.requested_at, OLD.expires_at)
       OR NEW.tenant_id IS DISTINCT FROM OLD.tenant_id THEN
        RAISE EXCEPTION 'what an approval requests never changes'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'approvals_immutable';
    END IF;
    IF OLD.status <> 'PENDING' OR NEW.status = 'PENDING' THEN
        RAISE EXCEPTION 'approval % cannot go from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'approvals_status_transition';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER approvals_workflow BEFORE INSERT OR UPDATE ON numbering.approvals
    FOR EACH ROW EXECUTE FUNCTION numbering.approval_transition();

-- platform admins only: a tenant's scope sees no approval
ALTER TABLE numbering.approvals ENABLE ROW LEVEL SECURITY;
ALTER TABLE numbering.approvals FORCE ROW LEVEL SECURITY;
CREATE POLICY approvals_platform ON numbering.approvals
    USING (numbering.is_platform()) WITH CHECK (numbering.is_platform());

GRANT SELECT, INSERT, UPDATE ON numbering.approvals TO numbering_app;
