-- Bulk renumbering (an operator moves a block: `+9379…` becomes `+9377…`).
-- A plan names the operator, the two prefixes, the cutover and an optional
-- parallel-running window; applying it moves every identifier of the block
-- in one transaction: a new inventory row per number takes over its state,
-- holder, leases, reservations and quarantine records, the old row is
-- retired, and `identifier_links` records old → new.

CREATE TYPE numbering.renumbering_status AS ENUM ('PLANNED', 'APPLIED');

CREATE TABLE numbering.renumberings (
    id uuid PRIMARY KEY,
    operator_id text NOT NULL REFERENCES numbering.mobile_operators (id),
    old_prefix text NOT NULL,
    new_prefix text NOT NULL,
    cutover_at timestamptz NOT NULL,
    parallel_until timestamptz,
    status numbering.renumbering_status NOT NULL DEFAULT 'PLANNED',
    requested_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    applied_by text,
    applied_at timestamptz,
    -- numbers moved per state, as applied
    counts json,
    moved integer,
    -- an MSISDN prefix: +937 and up to 7 more digits (at least one digit of
    -- the number is left to carry over)
    CONSTRAINT renumberings_prefix_format CHECK (
        old_prefix ~ '^\+937[0-9]{0,7}$' AND new_prefix ~ '^\+937[0-9]{0,7}$'),
    CONSTRAINT renumberings_prefixes_differ CHECK (old_prefix <> new_prefix),
    -- a renumbered MSISDN keeps its length
    CONSTRAINT renumberings_prefixes_same_length CHECK (length(old_prefix) = length(new_prefix)),
    CONSTRAINT renumberings_window_after_cutover CHECK (
        parallel_until IS NULL OR parallel_until > cutover_at),
    CONSTRAINT renumberings_applied_consistently CHECK (
        (status = 'APPLIED') = (applied_at IS NOT NULL AND applied_by IS NOT NULL
                                AND counts IS NOT NULL AND moved IS NOT NULL)),
    CONSTRAINT renumberings_moved_non_negative CHECK (moved IS NULL OR moved >= 0)
);

CREATE INDEX renumberings_by_created ON numbering.renumberings (created_at DESC, id);

-- Once applied, a plan never changes (the links and the audit name it).
CREATE FUNCTION numbering.renumbering_immutable() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'APPLIED' THEN
        RAISE EXCEPTION 'renumbering % is applied and never changes', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'renumberings_applied_immutable';
    END IF;
    IF NEW.id <> OLD.id OR NEW.operator_id <> OLD.operator_id OR NEW.old_prefix <> OLD.old_prefix
       OR NEW.new_prefix <> OLD.new_prefix OR NEW.cutover_at <> OLD.cutover_at
       OR NEW.parallel_until IS DISTINCT FROM OLD.parallel_until
       OR NEW.requested_by <> OLD.requested_by THEN
        RAISE EXCEPTION 'a renumbering plan is applied as planned'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'renumberings_applied_immutable';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER renumberings_immutable BEFORE UPDATE ON numbering.renumberings
    FOR EACH ROW EXECUTE FUNCTION numbering.renumbering_immutable();
CREATE TRIGGER renumberings_no_delete BEFORE DELETE ON numbering.renumberings
    FOR EACH ROW EXECUTE FUNCTION numbering.refuse_audit_mutation();

-- One link per moved number: the old (retired) inventory row and the new
-- one that took over its state, holder, leases, reservations and
-- quarantine. Renumbering moves MSISDNs only, whose identity key is the
-- identifier itself. While `parallel_until` is ahead, ValidateLease answers
-- for the old identifier with the new one's verdict.
CREATE TABLE numbering.identifier_links (
    old_number_id bigint PRIMARY KEY REFERENCES numbering.numbers (id),
    new_number_id bigint NOT NULL REFERENCES numbering.numbers (id),
    old_identifier text NOT NULL,
    new_identifier text NOT NULL,
    renumbering_id uuid NOT NULL REFERENCES numbering.renumberings (id),
    linked_at timestamptz NOT NULL DEFAULT now(),
    parallel_until timestamptz,
    CONSTRAINT identifier_links_new_once UNIQUE (new_number_id),
    CONSTRAINT identifier_links_msisdn CHECK (
        old_identifier ~ '^\+937[0-9]{8}$' AND new_identifier ~ '^\+937[0-9]{8}$'),
    CONSTRAINT identifier_links_differ CHECK (old_identifier <> new_identifier
                                              AND old_number_id <> new_number_id)
);
CREATE INDEX identifier_links_by_old ON numbering.identifier_links (old_identifier);
CREATE INDEX identifier_links_by_new ON numbering.identifier_links (new_identifier);
CREATE TRIGGER identifier_links_append_only BEFORE DELETE OR UPDATE ON numbering.identifier_links
    FOR EACH ROW EXECUTE FUNCTION numbering.refuse_audit_mutation();

GRANT SELECT, INSERT, UPDATE ON numbering.renumberings TO numbering_app;
GRANT SELECT, INSERT ON numbering.identifier_links TO numbering_app;
GRANT SELECT ON numbering.identifier_links TO numbering_reader, numbering_hot_path;

-- The snapshot now also answers for an old identifier: the new number's
-- snapshot, with `link_until`, the end of the window (the moment of the
-- move, without one), from which ValidateLease says NOT_REGISTERED for it.
-- So a cached entry of the old identifier never answers past its window.
-- A live row of the identifier itself comes first.
DROP FUNCTION numbering.lease_snapshot(text);
CREATE FUNCTION numbering.lease_snapshot(p_identity_key text)
    RETURNS TABLE (state text, tenant_id text, reserved_until timestamptz, version bigint,
                   lease_id uuid, lease_term_end timestamptz, read_at timestamptz,
                   link_until timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = numbering, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT n.state::text, n.tenant_id, n.reserved_until, n.version, l.id, l.term_end, now(), s.link_until
    FROM (SELECT x.id, NULL::timestamptz AS link_until, 0 AS pref
            FROM numbering.numbers x
           WHERE x.identity_key = p_identity_key AND x.state <> 'RETIRED'
          UNION ALL
          SELECT k.new_number_id, coalesce(k.parallel_until, k.linked_at), 1
            FROM numbering.identifier_links k
           WHERE k.old_identifier = p_identity_key
          ORDER BY 3, 2 DESC
          LIMIT 1) s
    JOIN numbering.numbers n ON n.id = s.id AND n.state <> 'RETIRED'
    LEFT JOIN numbering.leases l ON l.number_id = n.id AND l.status IN ('ACTIVE', 'SUSPENDED');
END
$$;
ALTER FUNCTION numbering.lease_snapshot(text) OWNER TO numbering_reader;
REVOKE ALL ON FUNCTION numbering.lease_snapshot(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION numbering.lease_snapshot(text) TO numbering_app;
