CREATE TABLE numbering.lease_imports (
    id            uuid PRIMARY KEY,
    file_sha256   text NOT NULL CONSTRAINT lease_imports_file_once UNIQUE
                  CONSTRAINT lease_imports_sha256_format CHECK (file_sha256 ~ '^[0-9a-f]{64}$'),
    file_name     text,
    key_id        text REFERENCES numbering.mno_signing_keys (key_id),
    operator_id   text REFERENCES numbering.mobile_operators (id),
    kind          numbering.identifier_kind,
    partial       boolean NOT NULL DEFAULT false,
    status        numbering.import_status NOT NULL DEFAULT 'PENDING',
    total_rows    integer NOT NULL DEFAULT 0,
    applied_rows  integer NOT NULL DEFAULT 0,
    rejected_rows integer NOT NULL DEFAULT 0,
    failure       text,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz,
    CONSTRAINT lease_imports_counts_add_up CHECK (applied_rows + rejected_rows <= total_rows)
);

CREATE TABLE numbering.lease_import_errors (
    import_id uuid NOT NULL REFERENCES numbering.lease_imports (id),
    line      integer NOT NULL CONSTRAINT lease_import_errors_line_positive CHECK (line >= 1),
    reason    text NOT NULL,
    raw       text,
    PRIMARY KEY (import_id, line)
);

GRANT SELECT, INSERT, UPDATE ON numbering.lease_imports, numbering.lease_import_errors TO numbering_app;
