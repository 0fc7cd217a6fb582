INSERT INTO numbering.mobile_operators (id, name, mcc, mnc_codes, msisdn_prefixes) VALUES
    ('roshan',      'Roshan',      '412', '{40}',    '{79,72}'),
    ('etisalat-af', 'Etisalat-AF', '412', '{50}',    '{78,73}'),
    ('mtn-af',      'MTN-AF',      '412', '{01,20}', '{77,76}'),
    ('awcc',        'AWCC',        '412', '{03}',    '{70,71}'),
    ('salaam',      'Salaam',      '412', '{88}',    '{74}');

INSERT INTO numbering.vanity_patterns (id, kind, pattern, description) VALUES
    ('msisdn-repeat-4',   'MSISDN',     '([0-9])\1\1\1',                 'four identical digits in a row'),
    ('msisdn-tail-000',   'MSISDN',     '000$',                          'ends in 000'),
    ('msisdn-ascending',  'MSISDN',     '(0123|1234|2345|3456|4567|5678|6789)$', 'ends in an ascending run of four'),
    ('msisdn-mirror',     'MSISDN',     '([0-9])([0-9])\2\1$',           'ends in a mirrored pair (abba)'),
    ('short-code-repeat', 'SHORT_CODE', '^([0-9])\1+$',                  'one digit repeated'),
    ('short-code-3digit', 'SHORT_CODE', '^[0-9]{3}$',                    'three-digit short codes');
