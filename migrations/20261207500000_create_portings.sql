-- National number portability (issue 20): which operator serves an MSISDN
-- that was ported away from its home operator. The number's own row (home
-- operator, MCC/MNC, contract) never changes; a porting row says who carries
-- it now. A number ported back home has no row.

-- Where portings came from: one signed ATRA file (source 'file', ref = its
-- SHA-256) or, later, one event of a portability feed ('event', ref = its id).
-- The ref is unique: the same file or event twice applies once.
CREATE TABLE numbering.porting_batches (
    id uuid PRIMARY KEY,
    source text NOT NULL CONSTRAINT porting_batches_source_known CHECK (source IN ('file', 'event')),
    source_ref text NOT NULL CONSTRAINT porting_batches_source_ref_unique UNIQUE,
    file_name text,
    key_id text REFERENCES numbering.mno_signing_keys (key_id),
    total_rows integer NOT NULL CONSTRAINT porting_batches_rows_positive CHECK (total_rows > 0),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT porting_batches_file_is_signed CHECK (source <> 'file' OR key_id IS NOT NULL)
);

CREATE TABLE numbering.portings (
    number_id bigint PRIMARY KEY REFERENCES numbering.numbers (id),
    recipient_operator_id text NOT NULL REFERENCES numbering.mobile_operators (id),
    recipient_mcc text NOT NULL,
    recipient_mnc text NOT NULL,
    ported_at timestamptz NOT NULL,
    batch_id uuid NOT NULL REFERENCES numbering.porting_batches (id),
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX portings_by_batch ON numbering.portings (batch_id);

-- The recipient's MCC/MNC are the recipient operator's, the number is an
-- MSISDN, and the recipient is not its home operator (a port home deletes
-- the row). A CHECK cannot read other tables, hence the trigger; its errors
-- name the rule as a constraint would.
CREATE FUNCTION numbering.portings_check() RETURNS trigger
    LANGUAGE plpgsql SET search_path = numbering, pg_temp
AS $$
DECLARE
    home text;
    kind numbering.identifier_kind;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM numbering.mobile_operators o
                   WHERE o.id = NEW.recipient_operator_id AND o.mcc = NEW.recipient_mcc
                     AND NEW.recipient_mnc = ANY (o.mnc_codes)) THEN
        RAISE EXCEPTION 'recipient % is not %/%', NEW.recipient_operator_id, NEW.recipient_mcc, NEW.recipient_mnc
            USING ERRCODE = 'check_violation', CONSTRAINT = 'portings_recipient_codes';
    END IF;
    SELECT n.operator_id, n.kind INTO home, kind FROM numbering.numbers n WHERE n.id = NEW.number_id;
    IF kind IS DISTINCT FROM 'MSISDN' THEN
        RAISE EXCEPTION 'only an MSISDN can be ported'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'portings_msisdn_only';
    END IF;
    IF home = NEW.recipient_operator_id THEN
        RAISE EXCEPTION 'a number is not ported to its home operator'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'portings_not_home';
    END IF;
    RETURN NEW;
END
$$;
-- SECURITY INVOKER: the application reads numbers in its platform scope.
CREATE TRIGGER portings_check BEFORE INSERT OR UPDATE ON numbering.portings
    FOR EACH ROW EXECUTE FUNCTION numbering.portings_check();

GRANT SELECT, INSERT ON numbering.porting_batches TO numbering_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON numbering.portings TO numbering_app;
GRANT SELECT ON numbering.portings TO numbering_reader;

-- Lookup names the serving operator in operator_id / operator_name / mcc /
-- mnc (the recipient of a ported number), and adds whether it is ported,
-- its home operator and the port date. Callers name the columns they read,
-- so the added columns change nothing for them.
DROP FUNCTION numbering.lookup_identifier(text);
CREATE FUNCTION numbering.lookup_identifier(p_identity_key text)
    RETURNS TABLE (kind text, state text, operator_id text, operator_name text, mcc text, mnc text,
                   ported boolean, home_operator_id text, home_mcc text, home_mnc text,
                   ported_at timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = numbering, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT n.kind::text, n.state::text,
           coalesce(p.recipient_operator_id, n.operator_id), coalesce(r.name, o.name),
           coalesce(p.recipient_mcc, n.mcc, o.mcc), coalesce(p.recipient_mnc, n.mnc),
           p.number_id IS NOT NULL, n.operator_id, coalesce(n.mcc, o.mcc), n.mnc, p.ported_at
    FROM numbering.numbers n
    LEFT JOIN numbering.mobile_operators o ON o.id = n.operator_id
    LEFT JOIN numbering.portings p ON p.number_id = n.id
    LEFT JOIN numbering.mobile_operators r ON r.id = p.recipient_operator_id
    WHERE n.identity_key = p_identity_key
    ORDER BY (n.state = 'RETIRED'), n.id DESC
    LIMIT 1;
END
$$;
ALTER FUNCTION numbering.lookup_identifier(text) OWNER TO numbering_reader;
REVOKE ALL ON FUNCTION numbering.lookup_identifier(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION numbering.lookup_identifier(text) TO numbering_app;
GRANT EXECUTE ON FUNCTION numbering.lookup_identifier(text) TO numbering_hot_path;
