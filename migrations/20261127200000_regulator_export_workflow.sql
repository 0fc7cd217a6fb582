-- The regulator export's status workflow, enforced by the database:
--   PENDING -> GENERATED | FAILED
--   GENERATED -> REVIEWED | REJECTED
--   REVIEWED -> SUBMITTED | REJECTED
--   SUBMITTED -> ACKNOWLEDGED | REJECTED
-- A new row starts PENDING, and once generated its content (manifest,
-- signature, storage location, chain head) never changes: a regeneration is
-- a new version (a new row).

CREATE FUNCTION numbering.regulator_export_transition() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'PENDING' THEN
            RAISE EXCEPTION 'a regulator export starts PENDING, not %', NEW.status
                USING ERRCODE = 'check_violation', CONSTRAINT = 'regulator_exports_status_transition';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.id <> OLD.id OR NEW.period <> OLD.period OR NEW.version <> OLD.version
       OR NEW.created_by <> OLD.created_by OR NEW.created_at <> OLD.created_at THEN
        RAISE EXCEPTION 'a regulator export''s identity never changes'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'regulator_exports_immutable';
    END IF;
    IF OLD.status <> 'PENDING' AND (
           NEW.manifest::text IS DISTINCT FROM OLD.manifest::text
        OR NEW.manifest_sha256 IS DISTINCT FROM OLD.manifest_sha256
        OR NEW.signature IS DISTINCT FROM OLD.signature
        OR NEW.signer_key_id IS DISTINCT FROM OLD.signer_key_id
        OR NEW.storage_uri IS DISTINCT FROM OLD.storage_uri
        OR NEW.audit_chain_head IS DISTINCT FROM OLD.audit_chain_head) THEN
        RAISE EXCEPTION 'a generated regulator export never changes; regenerate a new version'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'regulator_exports_immutable';
    END IF;
    IF NEW.status = OLD.status THEN
        RAISE EXCEPTION 'regulator export % is already %', OLD.id, OLD.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'regulator_exports_status_transition';
    END IF;
    IF NOT ((OLD.status, NEW.status) IN (
            ('PENDING', 'GENERATED'), ('PENDING', 'FAILED'),
            ('GENERATED', 'REVIEWED'), ('GENERATED', 'REJECTED'),
            ('REVIEWED', 'SUBMITTED'), ('REVIEWED', 'REJECTED'),
            ('SUBMITTED', 'ACKNOWLEDGED'), ('SUBMITTED', 'REJECTED'))) THEN
        RAISE EXCEPTION 'regulator export % cannot go from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'regulator_exports_status_transition';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER regulator_exports_workflow BEFORE INSERT OR UPDATE ON numbering.regulator_exports
    FOR EACH ROW EXECUTE FUNCTION numbering.regulator_export_transition();

ALTER TABLE numbering.regulator_exports
    ADD COLUMN rejected_at timestamptz,
    ADD COLUMN rejection_reason text,
    ADD COLUMN row_counts json;

