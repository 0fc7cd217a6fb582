-- Audit retention (SPEC §8: 13 months hot, 7 years cold). A monthly
-- partition whose month ended 13 months ago is written to WORM storage and
-- then detached. Its `audit_chain` links stay here (they are small): the
-- chain stays continuous, `audit verify` checks the archived stretch for
-- continuity, and an archived object is re-verified entry by entry against
-- its links. One row per archived partition records where it went and what
-- it must hash to.
CREATE TABLE numbering.audit_archives (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    partition     text NOT NULL CONSTRAINT audit_archives_partition_once UNIQUE,
    month         date NOT NULL,
    format        text NOT NULL,
    entry_count   bigint NOT NULL CONSTRAINT audit_archives_count_non_negative CHECK (entry_count >= 0),
    -- the chain positions of the partition's first and last entries (null when empty)
    first_seq     bigint,
    last_seq      bigint,
    -- the chain hash before first_seq (all zeros at seq 1) and at last_seq
    prev_hash     bytea CONSTRAINT audit_archives_prev_hash_len CHECK (length(prev_hash) = 32),
    head_hash     bytea CONSTRAINT audit_archives_head_hash_len CHECK (length(head_hash) = 32),
    storage_uri   text NOT NULL,
    -- the key within the WORM store (re-verification reads it back)
    object_key    text NOT NULL,
    object_sha256 bytea NOT NULL CONSTRAINT audit_archives_sha256_len CHECK (length(object_sha256) = 32),
    archived_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audit_archives_range CHECK ((first_seq IS NULL) = (entry_count = 0)
        AND (first_seq IS NULL OR (last_seq >= first_seq AND prev_hash IS NOT NULL AND head_hash IS NOT NULL)))
);
CREATE TRIGGER audit_archives_append_only BEFORE UPDATE OR DELETE ON numbering.audit_archives
    FOR EACH ROW EXECUTE FUNCTION numbering.refuse_audit_mutation();
CREATE TRIGGER audit_archives_no_truncate BEFORE TRUNCATE ON numbering.audit_archives
    FOR EACH STATEMENT EXECUTE FUNCTION numbering.refuse_audit_mutation();
GRANT SELECT, INSERT ON numbering.audit_archives TO numbering_app;

-- The monthly partitions attached to audit_log, with their bounds.
CREATE FUNCTION numbering.audit_partition_bounds()
    RETURNS TABLE (partition text, month_start timestamptz, month_end timestamptz)
    LANGUAGE sql STABLE SET search_path = numbering, pg_temp AS $$
    SELECT c.relname::text, b[1]::timestamptz, b[2]::timestamptz
      FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
      CROSS JOIN LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                      'FROM \(''([^'']+)''\) TO \(''([^'']+)''\)') AS b
     WHERE i.inhparent = 'numbering.audit_log'::regclass
     ORDER BY 2
$$;
GRANT EXECUTE ON FUNCTION numbering.audit_partition_bounds() TO numbering_app;

-- Detaching is the one structural change the application may make to the
-- audit trail, and only through this: the partition must be a monthly one,
-- its month must have ended 13 months ago or more, and an archive of
-- exactly its entries must have been recorded.
CREATE FUNCTION numbering.detach_audit_partition(p_partition text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = numbering, pg_temp AS $$
DECLARE
    ends timestamptz;
    archived bigint;
    present bigint;
BEGIN
    SELECT month_end INTO ends FROM numbering.audit_partition_bounds() WHERE partition = p_partition;
    IF ends IS NULL THEN
        RAISE EXCEPTION 'not a monthly audit partition: %', p_partition USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF ends > date_trunc('month', now()) - interval '13 months' THEN
        RAISE EXCEPTION 'audit partition % is younger than 13 months', p_partition
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT entry_count INTO archived FROM numbering.audit_archives WHERE partition = p_partition;
    IF archived IS NULL THEN
        RAISE EXCEPTION 'audit partition % has not been archived', p_partition USING ERRCODE = 'insufficient_privilege';
    END IF;
    EXECUTE format('SELECT count(*) FROM numbering.%I', p_partition) INTO present;
    IF present <> archived THEN
        RAISE EXCEPTION 'audit partition % holds % entries, its archive %', p_partition, present, archived
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    EXECUTE format('ALTER TABLE numbering.audit_log DETACH PARTITION numbering.%I', p_partition);
END
$$;
REVOKE ALL ON FUNCTION numbering.detach_audit_partition(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION numbering.detach_audit_partition(text) TO numbering_app;
