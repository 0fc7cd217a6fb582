-- How stale a hot standby is, in a way that holds on an idle system too:
-- one row that the primary's heartbeat singleton (`numbering serve`, under
-- an advisory lock) sets to clock_timestamp() several times a second. A
-- standby that has replayed the row written at T holds every transaction
-- that committed before T, so `clock_timestamp() - at` read there (in the
-- same statement as the data) bounds how old that data can be.
-- (`now() - pg_last_xact_replay_timestamp()` grows on an idle, fully
-- replayed standby; `pg_stat_replication.replay_lag` is empty when idle.)
CREATE TABLE numbering.replica_heartbeat (
    id boolean PRIMARY KEY DEFAULT true CONSTRAINT replica_heartbeat_one_row CHECK (id),
    at timestamptz NOT NULL
);
INSERT INTO numbering.replica_heartbeat (id, at) VALUES (true, clock_timestamp());

GRANT SELECT, UPDATE ON numbering.replica_heartbeat TO numbering_app;
GRANT SELECT ON numbering.replica_heartbeat TO numbering_hot_path;

-- The replica tier answers Lookup as the hot path's role, on the standby.
GRANT EXECUTE ON FUNCTION numbering.lookup_identifier(text) TO numbering_hot_path;
