//! The write pool follows the read-write primary of `DATABASE_URL`.
//!
//! `DATABASE_URL` may list several servers in libpq's multi-host form
//! ([`crate::pg_hosts`]). The pool connects to the one that is read-write
//! now (`pg_is_in_recovery()` false, `default_transaction_read_only` off),
//! whatever the URL's `target_session_attrs`: the service never writes
//! through a server in recovery.
//!
//! - Every new pooled connection checks that its server is writable
//!   (`after_connect`); one that lands on a standby is closed, and the pool
//!   retries until its acquire timeout, so callers see the database as
//!   unavailable ([`is_unavailable`]), never a write refused half-way.
//! - A watcher task keeps one monitoring connection to the primary and asks
//!   it every [`CHECK_EVERY`] whether it is still writable. When it is not
//!   (a crash, a fence, a demotion), every pooled connection made before
//!   that moment is dropped at its next checkout or release, and the
//!   watcher probes all listed servers until one is read-write again (the
//!   promoted standby), then points the pool there
//!   (`PgPool::set_connect_options`). No restart is needed.
//! - [`Primary`] publishes what the watcher knows: the host's readiness and
//!   its singletons (outbox relay, sweeper, audit sealer, export schedule)
//!   follow it.
//!
//! Fencing the old primary is the failover manager's job (Patroni in
//! production): the service only stops writing to a server in recovery.
//! A former primary that was not fenced and still takes writes would be
//! written to by whichever process still reaches it.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::future::join_all;
use sqlx::{
    ConnectOptions, Connection, Executor, PgConnection, PgPool, postgres::PgConnectOptions,
};
use tokio::sync::watch;

use crate::pg_hosts::{PgHost, PgHosts, PgHostsError};

/// How often the watcher asks the primary whether it still is one.
pub const CHECK_EVERY: Duration = Duration::from_millis(250);

/// How long one check or probe may take before the server counts as lost.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Pause between two searches that found no read-write server.
const SEARCH_PAUSE: Duration = Duration::from_millis(250);

/// True on a server the service may write through.
const WRITABLE_SQL: &str = "SELECT NOT pg_is_in_recovery() \
     AND current_setting('default_transaction_read_only') = 'off'";

/// What the pool's watcher knows about the primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrimaryState {
    /// Connected to a read-write server (`host:port`).
    ReadWrite { host: String },
    /// No listed server is read-write now (why, per server).
    Lost { why: String },
}

/// The pool's view of the primary, for readiness and singletons.
#[derive(Clone, Debug)]
pub struct Primary {
    state: watch::Receiver<PrimaryState>,
}

impl Primary {
    /// A primary that never changes (a fixed state, for tests).
    pub fn fixed(state: PrimaryState) -> Self {
        let (tx, rx) = watch::channel(state);
        // the receiver keeps the last value after the sender is gone
        drop(tx);
        Self { state: rx }
    }

    pub fn current(&self) -> PrimaryState {
        self.state.borrow().clone()
    }

    pub fn is_read_write(&self) -> bool {
        matches!(*self.state.borrow(), PrimaryState::ReadWrite { .. })
    }

    /// A receiver of every change.
    pub fn changes(&self) -> watch::Receiver<PrimaryState> {
        self.state.clone()
    }

    /// Points `follower`, a pool made like `app` (the watched pool), at
    /// each new primary too, with `adapt` applied to `app`'s options (the
    /// hot path's read-only pool). Its connections to a lost server fail
    /// once and are dropped.
    pub fn follow(
        &self,
        app: PgPool,
        follower: PgPool,
        adapt: fn(PgConnectOptions) -> PgConnectOptions,
    ) {
        let mut changes = self.changes();
        tokio::spawn(async move {
            while changes.changed().await.is_ok() && !follower.is_closed() {
                let read_write =
                    matches!(*changes.borrow_and_update(), PrimaryState::ReadWrite { .. });
                if read_write {
                    follower.set_connect_options(adapt((*app.connect_options()).clone()));
                }
            }
        });
    }
}

/// One listed server and sqlx's options for it.
pub(crate) type Candidate = (PgHost, PgConnectOptions);

/// The servers `url` names, each with its options (TLS checked as for a
/// single-host URL). A URL sqlx reads but the host-list parser does not
/// (`?host=/run/postgresql`, no host before the path) is one server.
pub(crate) fn candidates(url: &str) -> Result<Vec<Candidate>, sqlx::Error> {
    let hosts = match PgHosts::parse(url) {
        Ok(hosts) => hosts,
        Err(PgHostsError::NoHost) => {
            let options = crate::pool::connect_options(url)?;
            let host = PgHost {
                host: options.get_host().to_owned(),
                port: options.get_port(),
            };
            return Ok(vec![(host, options)]);
        }
        Err(e) => return Err(sqlx::Error::Configuration(e.into())),
    };
    hosts
        .hosts()
        .iter()
        .zip(hosts.urls())
        .map(|(h, u)| Ok((h.clone(), crate::pool::connect_options(&u)?)))
        .collect()
}

/// Whether the server behind `conn` takes writes.
async fn writable(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(WRITABLE_SQL).fetch_one(conn).await
}

/// Refuses a connection to a server in recovery (the pool's `after_connect`).
pub(crate) async fn refuse_read_only(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    if writable(conn).await? {
        return Ok(());
    }
    Err(sqlx::Error::Configuration(
        "the server is in recovery or read-only: not the primary".into(),
    ))
}

/// What a probe of one server found.
#[derive(Debug)]
pub(crate) enum Probed {
    ReadWrite,
    ReadOnly,
    Failed(sqlx::Error),
}

/// Connects to one server (as `role`) and asks whether it is writable.
async fn probe(options: &PgConnectOptions, role: Option<&str>, timeout: Duration) -> Probed {
    let attempt = async {
        let mut conn = options.connect().await?;
        if let Some(role) = role {
            conn.execute(format!("SET ROLE {role}").as_str()).await?;
        }
        let ok = writable(&mut conn).await?;
        conn.close().await.ok();
        Ok::<_, sqlx::Error>(ok)
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(true)) => Probed::ReadWrite,
        Ok(Ok(false)) => Probed::ReadOnly,
        Ok(Err(e)) => Probed::Failed(e),
        Err(_) => Probed::Failed(sqlx::Error::PoolTimedOut),
    }
}

/// Probes every candidate at once; the states in the list's order.
pub(crate) async fn probe_all(
    candidates: &[Candidate],
    role: Option<&str>,
    timeout: Duration,
) -> Vec<Probed> {
    join_all(candidates.iter().map(|(_, o)| probe(o, role, timeout))).await
}

/// The first read-write candidate, or a sentence naming each and why not.
pub(crate) fn first_read_write(
    candidates: &[Candidate],
    probed: &[Probed],
) -> Result<usize, String> {
    if let Some(i) = probed.iter().position(|p| matches!(p, Probed::ReadWrite)) {
        return Ok(i);
    }
    let why: Vec<String> = candidates
        .iter()
        .zip(probed)
        .map(|((h, _), p)| match p {
            Probed::ReadOnly => format!("{h} (in recovery or read-only)"),
            Probed::Failed(e) => format!("{h} ({e})"),
            Probed::ReadWrite => format!("{h} (read-write)"),
        })
        .collect();
    Err(format!("no read-write server among {}", why.join(", ")))
}

/// One connection to the read-write server of `url` (for `migrate`, demo
/// data and other one-off owner work), or an error naming every server.
pub async fn connect_read_write(url: &str, timeout: Duration) -> Result<PgConnection, sqlx::Error> {
    let candidates = candidates(url)?;
    if let [(_, options)] = candidates.as_slice() {
        let mut conn = crate::pool::first_connection(options, None, timeout).await?;
        refuse_read_only(&mut conn).await?;
        return Ok(conn);
    }
    let probed = probe_all(&candidates, None, timeout).await;
    let i =
        first_read_write(&candidates, &probed).map_err(|e| sqlx::Error::Configuration(e.into()))?;
    crate::pool::first_connection(&candidates[i].1, None, timeout).await
}

/// When the pool last switched servers: connections older than that are
/// dropped instead of used.
#[derive(Debug)]
pub(crate) struct Switch {
    base: Instant,
    /// Nanoseconds after `base` of the last switch (0: none yet).
    at: AtomicU64,
}

impl Switch {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            base: Instant::now(),
            at: AtomicU64::new(0),
        })
    }

    fn bump(&self) {
        let nanos = self.base.elapsed().as_nanos().max(1);
        self.at
            .store(u64::try_from(nanos).unwrap_or(u64::MAX), Ordering::Release);
    }

    /// Whether a connection opened `age` ago predates the last switch.
    pub(crate) fn is_stale(&self, age: Duration) -> bool {
        let at = self.at.load(Ordering::Acquire);
        if at == 0 {
            return false;
        }
        let opened = self.base.elapsed().saturating_sub(age);
        opened < Duration::from_nanos(at)
    }
}

/// The watcher of one pool (see the module docs).
pub(crate) struct Watcher {
    pub(crate) pool: PgPool,
    /// Every listed server, with the pool's own settings applied.
    pub(crate) candidates: Vec<Candidate>,
    pub(crate) role: Option<String>,
    pub(crate) switch: Arc<Switch>,
    pub(crate) current: Option<usize>,
}

impl Watcher {
    /// Starts watching; `current` is the read-write server found at start.
    pub(crate) fn spawn(self) -> Primary {
        let state = match self.current {
            Some(i) => PrimaryState::ReadWrite {
                host: self.candidates[i].0.to_string(),
            },
            None => PrimaryState::Lost {
                why: "no read-write server yet".into(),
            },
        };
        let (tx, rx) = watch::channel(state);
        tokio::spawn(self.run(tx));
        Primary { state: rx }
    }

    async fn run(mut self, tx: watch::Sender<PrimaryState>) {
        while !self.pool.is_closed() {
            let Some(i) = self.current else {
                self.search(&tx).await;
                continue;
            };
            let why = self.monitor(i).await;
            if self.pool.is_closed() {
                return;
            }
            tracing::warn!(host = %self.candidates[i].0, reason = %why, "lost the read-write primary; looking for the new one");
            self.switch.bump();
            self.current = None;
            tx.send_replace(PrimaryState::Lost { why });
        }
    }

    /// Probes every server until one is read-write, then points the pool at it.
    async fn search(&mut self, tx: &watch::Sender<PrimaryState>) {
        let probed = probe_all(&self.candidates, self.role.as_deref(), CHECK_TIMEOUT).await;
        match first_read_write(&self.candidates, &probed) {
            Ok(i) => {
                let (host, options) = &self.candidates[i];
                self.pool.set_connect_options(options.clone());
                self.switch.bump();
                self.current = Some(i);
                tracing::info!(%host, "connected to the read-write primary");
                metrics::counter!("numbering_db_primary_switches_total").increment(1);
                tx.send_replace(PrimaryState::ReadWrite {
                    host: host.to_string(),
                });
            }
            Err(why) => {
                if matches!(&*tx.borrow(), PrimaryState::Lost { why: w } if *w != why) {
                    tracing::debug!(reason = %why, "no read-write primary yet");
                }
                tx.send_replace(PrimaryState::Lost { why });
                tokio::time::sleep(SEARCH_PAUSE).await;
            }
        }
    }

    /// Watches server `i` over a connection of its own until it is lost;
    /// returns why.
    async fn monitor(&self, i: usize) -> String {
        let (host, options) = &self.candidates[i];
        let mut conn = match tokio::time::timeout(CHECK_TIMEOUT, options.connect()).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return format!("{host} ({e})"),
            Err(_) => return format!("{host} (no answer within {CHECK_TIMEOUT:?})"),
        };
        loop {
            match tokio::time::timeout(CHECK_TIMEOUT, writable(&mut conn)).await {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => return format!("{host} (in recovery or read-only)"),
                Ok(Err(e)) => return format!("{host} ({e})"),
                Err(_) => return format!("{host} (no answer within {CHECK_TIMEOUT:?})"),
            }
            if self.pool.is_closed() {
                conn.close().await.ok();
                return format!("{host} (pool closed)");
            }
            tokio::time::sleep(CHECK_EVERY).await;
        }
    }
}

/// Whether `e` means the database is unreachable or not the primary right
/// now (a crash, a failover, a restart), not that the request was wrong:
/// the edges answer it as retryable (503 `DATABASE_UNAVAILABLE`).
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            // connection_exception, admin / crash shutdown, cannot connect
            // now, too many connections, read-only transaction (a standby)
            c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03" | "53300" | "25006")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_stale_when_it_predates_the_last_switch() {
        let switch = Switch::new();
        assert!(!switch.is_stale(Duration::from_secs(3600)));
        std::thread::sleep(Duration::from_millis(5));
        switch.bump();
        assert!(switch.is_stale(Duration::from_secs(1)));
        std::thread::sleep(Duration::from_millis(5));
        assert!(!switch.is_stale(Duration::from_millis(1)));
    }

    #[test]
    fn a_url_with_a_host_list_gives_one_candidate_per_host_and_a_socket_query_one() {
        let c = candidates("postgres://u@h1:1,h2:2/db?target_session_attrs=read-write").unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].1.get_port(), 2);
        let c = candidates("postgres://u@localhost/db?host=/run/postgresql").unwrap();
        assert_eq!(c.len(), 1);
        let e = candidates("postgres://u@h1,h2/db?sslmode=verify-ca").unwrap_err();
        assert!(e.to_string().contains("verify-ca"), "{e}");
        assert!(candidates("postgres://u@h1:x,h2/db").is_err());
    }

    #[test]
    fn outages_are_unavailable_and_request_errors_are_not() {
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(&sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset
        ))));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
    }
}
