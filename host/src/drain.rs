//! How `numbering serve` stops, bounded so that it fits the time the
//! orchestrator grants (Kubernetes' `terminationGracePeriodSeconds`, after
//! the preStop hook): on SIGTERM both listeners stop accepting and finish
//! their in-flight requests for at most `NUMBERING_SHUTDOWN_DRAIN` (default
//! 20 s); what is still open then is closed. The background jobs are then
//! told to stop and get [`JOBS_STOP_GRACE`] to finish their current step
//! (the relay its batch, the sealer one last seal) before they are aborted.
//! Everything they do is resumable by another replica.
//!
//! So a pod needs `terminationGracePeriodSeconds` ≥ preStop sleep +
//! `NUMBERING_SHUTDOWN_DRAIN` + `JOBS_STOP_GRACE` (`infra/k8s` checks it).

use std::{future::IntoFuture, time::Duration};

use tokio::{sync::watch, task::JoinSet};

/// How long the background jobs get to stop once the listeners are done.
pub const JOBS_STOP_GRACE: Duration = Duration::from_secs(5);

/// Runs `serving` to its end, or until `drain` has passed since `draining`
/// turned true (`None`: no bound).
pub async fn bounded<F>(
    serving: F,
    mut draining: watch::Receiver<bool>,
    drain: Option<Duration>,
) -> std::io::Result<()>
where
    F: IntoFuture<Output = std::io::Result<()>>,
{
    let deadline = async move {
        let Some(drain) = drain else {
            return std::future::pending().await;
        };
        let _ = draining.wait_for(|d| *d).await;
        tokio::time::sleep(drain).await;
    };
    tokio::select! {
        served = serving.into_future() => served,
        () = deadline => {
            tracing::warn!(?drain, "drain time over: closing the connections still open");
            Ok(())
        }
    }
}

/// Tells the jobs to stop and waits for them: for [`JOBS_STOP_GRACE`] when
/// `bounded`, then aborts those still running.
pub async fn stop_jobs(stop: &watch::Sender<bool>, jobs: &mut JoinSet<()>, bounded: bool) {
    let _ = stop.send(true);
    let all = async { while jobs.join_next().await.is_some() {} };
    if !bounded {
        return all.await;
    }
    if tokio::time::timeout(JOBS_STOP_GRACE, all).await.is_err() {
        tracing::warn!(
            still_running = jobs.len(),
            "background jobs did not stop in time: aborting them"
        );
        jobs.abort_all();
    }
}
