-- Browsing (keyset by identity_key) and "reserve any matching" (FOR UPDATE
-- SKIP LOCKED, in identity order) read only available stock, in identity
-- order: without this index each of them would walk past every reserved and
-- leased row first.
CREATE INDEX numbers_available_by_key ON numbering.numbers (identity_key) WHERE state = 'AVAILABLE';
