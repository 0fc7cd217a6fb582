-- The initial MNO block leases and the ATRA short-code allocation.
INSERT INTO numbering.lease_contracts (contract_ref, operator_id, kind, range_start, range_end, starts_on, ends_on) VALUES
    ('ROSHAN-2026-001',   'roshan',      'MSISDN',     '+93790000000', '+93790099999', '2026-06-01', '2029-05-31'),
    ('ETISALAT-2026-001', 'etisalat-af', 'MSISDN',     '+93780000000', '+93780099999', '2026-06-01', '2029-05-31'),
    ('MTN-2026-001',      'mtn-af',      'MSISDN',     '+93770000000', '+93770099999', '2026-06-01', '2029-05-31'),
    ('AWCC-2026-001',     'awcc',        'MSISDN',     '+93700000000', '+93700099999', '2026-06-01', '2029-05-31'),
    ('SALAAM-2026-001',   'salaam',      'MSISDN',     '+93740000000', '+93740099999', '2026-06-01', '2029-05-31'),
    ('ATRA-SC-2026-001',  NULL,          'SHORT_CODE', '1000',         '9999',         '2026-06-01', NULL);
