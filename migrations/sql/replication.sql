-- The read replica's view of its WAL receiver, for the application's roles.
--
-- pg_stat_wal_receiver shows its status and its last message's time only to a role with
-- pg_read_all_stats; the API's roles (liventix_app, liventix_platform) see NULLs there, so a
-- replica whose receiver runs but is not streaming (reconnecting to a lost primary) or has
-- heard nothing for a minute would read to them as a lag of 0. This function runs as its
-- owner, the migrating role: a superuser, or a role granted pg_read_all_stats (without it the
-- function shows the same NULLs, and the lag falls back to whether a receiver runs). It
-- returns no row on a primary. Read by liventix.replication.replica_lag.
CREATE FUNCTION payments.wal_receiver()
RETURNS TABLE (pid integer, status text, last_msg_receipt_time timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pid, status, last_msg_receipt_time FROM pg_catalog.pg_stat_wal_receiver
$$;

REVOKE ALL ON FUNCTION payments.wal_receiver() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION payments.wal_receiver() TO liventix_app, liventix_platform;
