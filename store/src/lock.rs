//! Postgres advisory locks, the one way the service serialises work across
//! replicas.
//!
//! - [`SessionLock::try_acquire`]: a singleton job (the outbox relay, the
//!   lifecycle sweeper, the monthly export) holds a session lock on a
//!   connection of its own, outside the pool, for as long as it works; a
//!   replica that does not get it skips its turn. The lock goes with its
//!   session, so a process that dies (or drops the guard) frees it.
//! - [`xact_lock`]: a transaction (the audit sealer, an import) waits for a
//!   transaction-scoped lock, released by its commit or rollback.
//!
//! Each key is an `i64` constant beside its user, spelling its name in
//! ASCII (`0x6e75_6d…` is `"num…"`).

use sqlx::{Connection, PgConnection, PgPool};

/// A held session-level advisory lock and the connection that holds it.
#[derive(Debug)]
pub struct SessionLock {
    conn: PgConnection,
}

impl SessionLock {
    /// Takes the lock `key` on a new connection (with the pool's connect
    /// options), or `None` when another session holds it. A server in
    /// recovery is refused (an error): advisory locks work on a standby,
    /// so a singleton there would think itself the only one.
    pub async fn try_acquire(pool: &PgPool, key: i64) -> Result<Option<Self>, sqlx::Error> {
        let options = (*pool.connect_options()).clone();
        let mut conn = PgConnection::connect_with(&options).await?;
        if let Err(e) = crate::primary::refuse_read_only(&mut conn).await {
            let _ = conn.close().await;
            return Err(e);
        }
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut conn)
            .await?;
        if !got {
            let _ = conn.close().await;
            return Ok(None);
        }
        Ok(Some(Self { conn }))
    }

    /// Checks that the session (and so the lock) is still there.
    pub async fn ping(&mut self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&mut self.conn).await?;
        Ok(())
    }

    /// Frees the lock, then ends the session. The unlock is explicit:
    /// closing alone frees the lock only once the server has noticed the
    /// session is gone, after `close` has returned, so a replica (or the
    /// next round) trying at once would find it still held.
    pub async fn release(mut self) {
        let _ = sqlx::query("SELECT pg_advisory_unlock_all()")
            .execute(&mut self.conn)
            .await;
        let _ = self.conn.close().await;
    }
}

/// Waits for the transaction-scoped advisory lock `key`; the transaction's
/// end frees it.
pub async fn xact_lock(tx: &mut PgConnection, key: i64) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(key)
        .execute(tx)
        .await?;
    Ok(())
}
