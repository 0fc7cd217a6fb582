-- The audit trail: one immutable row per state change or admin action,
-- partitioned by month, plus the hash chain that seals it.
--
-- Writers never serialise on the chain: a transaction only INSERTs its entry
-- (stamped with its transaction id). The sealer (numbering-store's
-- `audit::seal`) then appends entries to `audit_chain` in (txid, id) order,
-- taking only entries whose transaction is older than every transaction still
-- running (pg_snapshot_xmin), so no entry can later appear before the sealed
-- head. Each link hashes the previous link, its position and the entry's
-- content; `numbering audit verify` recomputes it all.
CREATE TABLE numbering.audit_log (
    id          bigint NOT NULL GENERATED ALWAYS AS IDENTITY,
    txid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
    occurred_at timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    action      text NOT NULL,
    tenant_id   text,
    subject     text,
    before      json,        -- json, not jsonb: the exact bytes are what is hashed
    after       json,
    request_id  text,
    PRIMARY KEY (id, occurred_at)
) PARTITION BY RANGE (occurred_at);
CREATE INDEX audit_log_seal_order ON numbering.audit_log (txid, id);
CREATE INDEX audit_log_by_subject ON numbering.audit_log (subject, occurred_at);
CREATE INDEX audit_log_by_tenant ON numbering.audit_log (tenant_id, occurred_at);

CREATE TABLE numbering.audit_chain (
    seq         bigint PRIMARY KEY CONSTRAINT audit_chain_seq_positive CHECK (seq >= 1),
    entry_id    bigint NOT NULL CONSTRAINT audit_chain_entry_once UNIQUE,
    entry_txid  xid8 NOT NULL,
    prev_hash   bytea NOT NULL CONSTRAINT audit_chain_prev_hash_len CHECK (length(prev_hash) = 32),
    hash        bytea NOT NULL CONSTRAINT audit_chain_hash_len CHECK (length(hash) = 32),
    sealed_at   timestamptz NOT NULL DEFAULT now()
);

-- Append-only, three ways: the application role holds only SELECT and
-- INSERT; rules turn UPDATE and DELETE into a raised error for everyone; and
-- triggers refuse UPDATE, DELETE and TRUNCATE on the tables and every
-- partition (numbering.create_audit_partition adds them to new partitions).
CREATE FUNCTION numbering.refuse_audit_mutation() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % on %.% refused', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE FUNCTION numbering.refuse_audit_mutation_rule(op text) RETURNS boolean
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % refused', op USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON numbering.audit_log
    FOR EACH ROW EXECUTE FUNCTION numbering.refuse_audit_mutation();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON numbering.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION numbering.refuse_audit_mutation();
CREATE TRIGGER audit_chain_append_only BEFORE UPDATE OR DELETE ON numbering.audit_chain
    FOR EACH ROW EXECUTE FUNCTION numbering.refuse_audit_mutation();
CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON numbering.audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION numbering.refuse_audit_mutation();
CREATE RULE audit_log_no_update AS ON UPDATE TO numbering.audit_log
    DO ALSO SELECT numbering.refuse_audit_mutation_rule('UPDATE');
CREATE RULE audit_log_no_delete AS ON DELETE TO numbering.audit_log
    DO ALSO SELECT numbering.refuse_audit_mutation_rule('DELETE');
CREATE RULE audit_chain_no_update AS ON UPDATE TO numbering.audit_chain
    DO ALSO SELECT numbering.refuse_audit_mutation_rule('UPDATE');
CREATE RULE audit_chain_no_delete AS ON DELETE TO numbering.audit_chain
    DO ALSO SELECT numbering.refuse_audit_mutation_rule('DELETE');

-- Monthly partitions carry the same protections.
CREATE FUNCTION numbering.create_audit_partition(month_start date) RETURNS text
    LANGUAGE plpgsql AS $$
DECLARE
    first_day date := date_trunc('month', month_start)::date;
    part text := format('audit_log_y%sm%s', to_char(first_day, 'YYYY'), to_char(first_day, 'MM'));
BEGIN
    IF to_regclass(format('numbering.%I', part)) IS NOT NULL THEN
        RETURN part;
    END IF;
    EXECUTE format('CREATE TABLE numbering.%I PARTITION OF numbering.audit_log FOR VALUES FROM (%L) TO (%L)',
                   part, first_day, (first_day + interval '1 month')::date);
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON numbering.%I FOR EACH STATEMENT '
                   'EXECUTE FUNCTION numbering.refuse_audit_mutation()', part || '_no_truncate', part);
    EXECUTE format('CREATE RULE %I AS ON UPDATE TO numbering.%I DO ALSO SELECT numbering.refuse_audit_mutation_rule(''UPDATE'')',
                   part || '_no_update', part);
    EXECUTE format('CREATE RULE %I AS ON DELETE TO numbering.%I DO ALSO SELECT numbering.refuse_audit_mutation_rule(''DELETE'')',
                   part || '_no_delete', part);
    RETURN part;
END
$$;

-- Keeps `months_ahead` future months partitioned; run by migrations and the
-- partition-maintenance job.
CREATE FUNCTION numbering.ensure_audit_partitions(months_ahead integer) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    i integer;
BEGIN
    FOR i IN 0..months_ahead LOOP
        PERFORM numbering.create_audit_partition((date_trunc('month', now()) + make_interval(months => i))::date);
    END LOOP;
    RETURN months_ahead + 1;
END
$$;

GRANT SELECT, INSERT ON numbering.audit_log, numbering.audit_chain TO numbering_app;
