//! The primary gate: the host's writing background jobs run only while its
//! pool is connected to a read-write primary.
//!
//! The singletons (outbox relay, lifecycle sweeper, audit sealer and the
//! other audit jobs, export schedule) and the inbound consumers all write.
//! On a host whose `DATABASE_URL` reaches only a standby none of them
//! starts: no advisory lock is taken on the standby (locks work there, so
//! a relay would think itself the only one), no `LISTEN` fails. When the
//! watcher of [`numbering_store::primary`] loses the primary, each job is
//! told to stop and awaited; once it finds the new one (a promotion), each
//! starts again, and the advisory locks on the new primary keep every
//! singleton single across both regions. `numbering_singleton_running`
//! (gauge, per `job`) says which run here.

use std::{future::Future, time::Duration};

use numbering_store::{Primary, PrimaryState, Store};
use tokio::{sync::watch, task::JoinSet};

use crate::serve::{AppState, Extras};

/// Pause before restarting a job that ended by itself.
const RESTART_PAUSE: Duration = Duration::from_secs(1);

/// Starts jobs while the store's pool is on a read-write primary.
#[derive(Clone)]
pub struct PrimaryGate {
    /// `None`: the pool is not watched (a fixed single server): always open.
    primary: Option<Primary>,
}

impl PrimaryGate {
    pub fn new(store: &Store) -> Self {
        Self {
            primary: store.primary().cloned(),
        }
    }

    /// Runs `job(stop)` whenever the pool is on a read-write primary; its
    /// `stop` turns true when the primary is lost or `stop` turns true.
    pub fn spawn<F, Fut>(
        &self,
        jobs: &mut JoinSet<()>,
        name: &'static str,
        stop: watch::Receiver<bool>,
        job: F,
    ) where
        F: FnMut(watch::Receiver<bool>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let primary = self.primary.as_ref().map(Primary::changes);
        jobs.spawn(gated(name, primary, stop, job));
    }
}

fn is_primary(state: &PrimaryState) -> bool {
    matches!(state, PrimaryState::ReadWrite { .. })
}

/// Resolves when `primary` is (or is not, `want`) read-write; never when
/// it cannot change any more (or is not watched) and is not.
async fn until_primary(primary: &mut Option<watch::Receiver<PrimaryState>>, want: bool) {
    let Some(rx) = primary else {
        if want {
            return;
        }
        return std::future::pending().await;
    };
    let closed = rx.wait_for(|s| is_primary(s) == want).await.is_err();
    if closed {
        std::future::pending::<()>().await;
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let closed = stop.wait_for(|s| *s).await.is_err();
    if closed {
        std::future::pending::<()>().await;
    }
}

fn running(name: &'static str, on: bool) {
    metrics::gauge!("numbering_singleton_running", "job" => name).set(if on { 1.0 } else { 0.0 });
}

async fn gated<F, Fut>(
    name: &'static str,
    mut primary: Option<watch::Receiver<PrimaryState>>,
    mut stop: watch::Receiver<bool>,
    mut job: F,
) where
    F: FnMut(watch::Receiver<bool>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    running(name, false);
    loop {
        tokio::select! {
            _ = until_primary(&mut primary, true) => {}
            _ = stopped(&mut stop) => return,
        }
        tracing::info!(job = name, "on the read-write primary: starting");
        let (tell, told) = watch::channel(false);
        running(name, true);
        let mut handle = tokio::spawn(job(told));
        let shutting_down = tokio::select! {
            _ = stopped(&mut stop) => true,
            _ = until_primary(&mut primary, false) => {
                tracing::warn!(job = name, "lost the read-write primary: stopping");
                false
            }
            _ = &mut handle => {
                running(name, false);
                tokio::time::sleep(RESTART_PAUSE).await;
                continue;
            }
        };
        let _ = tell.send(true);
        let _ = handle.await;
        running(name, false);
        if shutting_down {
            return;
        }
    }
}

/// Every writing background job of `serve`, each behind the gate: the
/// audit sealer and jobs, the export schedule, and the relay, consumers and
/// sweeper (with NATS).
pub fn spawn_writers(
    state: &AppState,
    extras: &Extras,
    seal_every: Duration,
    jobs: &mut JoinSet<()>,
    stop: &watch::Receiver<bool>,
) {
    let gate = PrimaryGate::new(&state.store);
    let store = state.store.clone();
    gate.spawn(jobs, "audit_sealer", stop.clone(), move |stop| {
        crate::serve::seal_audit(store.clone(), seal_every, stop)
    });
    // the heartbeat standbys' replica tiers measure their lag by
    let pool = state.store.pool().clone();
    gate.spawn(jobs, "replica_heartbeat", stop.clone(), move |stop| {
        numbering_store::replica::heartbeat(pool.clone(), stop)
    });
    let (store, audit) = (state.store.clone(), extras.audit.clone());
    let checkpointer =
        crate::audit_jobs::checkpointer(state.edge.exports.as_ref(), extras.nats.clone());
    gate.spawn(jobs, "audit_jobs", stop.clone(), move |stop| {
        let mut set = JoinSet::new();
        crate::audit_jobs::spawn(&store, &mut set, stop, audit.clone(), checkpointer.clone());
        join(set)
    });
    let (store, every) = (state.store.clone(), extras.forecast_every);
    gate.spawn(jobs, "scarcity_forecast", stop.clone(), move |stop| {
        crate::forecast_job::run(store.clone(), every, stop)
    });
    let schedule = state.edge.exports.clone();
    if let Some(tools) = schedule.filter(|_| !extras.no_export_schedule) {
        let pool = state.store.pool().clone();
        gate.spawn(jobs, "export_schedule", stop.clone(), move |stop| {
            crate::export::schedule(tools.exporter(pool.clone()), stop)
        });
    }
    if let Some(events) = state.events.clone() {
        let (store, projection) = (state.store.clone(), extras.projection.clone());
        gate.spawn(jobs, "events", stop.clone(), move |stop| {
            let mut set = JoinSet::new();
            events
                .clone()
                .spawn(&store, &mut set, stop, projection.clone());
            join(set)
        });
    }
}

async fn join(mut set: JoinSet<()>) {
    while set.join_next().await.is_some() {}
}
