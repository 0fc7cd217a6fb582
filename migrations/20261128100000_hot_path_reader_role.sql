-- The hot path's Postgres tier reads through a pool of its own whose
-- connections `SET ROLE numbering_hot_path`: a role that can read the two
-- tables ValidateLease needs and do nothing else, so its query is a plain
-- prepared SELECT (one round trip, plan cached per connection) instead of
-- a SECURITY DEFINER plpgsql call.
DO $$
BEGIN
    CREATE ROLE numbering_hot_path NOLOGIN;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;  -- roles are cluster-wide
END
$$;
GRANT USAGE ON SCHEMA numbering TO numbering_hot_path;
GRANT SELECT ON numbering.numbers, numbering.leases TO numbering_hot_path;

-- It sees every row, for reading only. The policies test `current_user`,
-- not only membership: a role that inherits numbering_hot_path (below,
-- numbering_app) gains no row through them, so tenant scoping binds the
-- application exactly as before.
CREATE POLICY numbers_hot_path ON numbering.numbers FOR SELECT TO numbering_hot_path
    USING (current_user = 'numbering_hot_path');
CREATE POLICY leases_hot_path ON numbering.leases FOR SELECT TO numbering_hot_path
    USING (current_user = 'numbering_hot_path');

-- Any login that may act as numbering_app may open the hot path's pool.
-- (numbering_app inherits only privileges it already holds: USAGE on the
-- schema and SELECT on the two tables.)
DO $$
BEGIN
    IF NOT pg_has_role('numbering_app', 'numbering_hot_path', 'MEMBER') THEN
        GRANT numbering_hot_path TO numbering_app;
    END IF;
END
$$;
