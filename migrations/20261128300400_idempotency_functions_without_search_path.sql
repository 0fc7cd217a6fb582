-- The Idempotency-Key functions run on every mutating request. They are
-- SECURITY INVOKER and name everything schema-qualified, so a fixed
-- search_path protects nothing, while the `SET search_path` clause made
-- every call go through the GUC save / set / restore machinery and
-- recompute the search path on entry and on exit (with the pool-lock
-- function, about a fifth of the database's CPU in the flows benchmark).
ALTER FUNCTION numbering.claim_idempotency_key(text, text, text, text, double precision) RESET search_path;
ALTER FUNCTION numbering.complete_idempotency_key(text, text, text, smallint, json, bytea) RESET search_path;
