-- The current month and the next three, plus a default partition so that a
-- missed maintenance run can never make a state change fail.
SELECT numbering.ensure_audit_partitions(3);
CREATE TABLE numbering.audit_log_default PARTITION OF numbering.audit_log DEFAULT;
CREATE TRIGGER audit_log_default_no_truncate BEFORE TRUNCATE ON numbering.audit_log_default
    FOR EACH STATEMENT EXECUTE FUNCTION numbering.refuse_audit_mutation();

-- Partition maintenance runs as the application too, but only through this.
CREATE FUNCTION numbering.maintain_audit_partitions(months_ahead integer) RETURNS integer
    LANGUAGE sql SECURITY DEFINER SET search_path = numbering, pg_temp
    AS $$ SELECT numbering.ensure_audit_partitions(least(greatest(months_ahead, 1), 24)) $$;
REVOKE ALL ON FUNCTION numbering.maintain_audit_partitions(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION numbering.maintain_audit_partitions(integer) TO numbering_app;
