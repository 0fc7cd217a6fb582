//! The read path across two regions: `mzr`'s hot path reads its own hot
//! standby (`DATABASE_REPLICA_URL`) and never answers from data older than
//! `NUMBERING_REPLICA_MAX_LAG`, nor from before a version an invalidation
//! named; a change committed through `kbl` stops `mzr` answering OK.

use std::time::{Duration, Instant};

use numbering_shared::Identifier;
use numbering_store::replica::{HEARTBEAT_EVERY, HEARTBEAT_LOCK, run_heartbeat};
use numbering_tests::{
    TestDb,
    regions::Replication,
    replica_reads::{Change, HANG, ReadRegions, allowed, percentiles, staleness, wait_allowed},
};
use sqlx::{Connection, PgConnection};
use tokio::sync::watch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_recall_or_suspension_through_kbl_stops_mzr_answering_ok_within_the_bound() {
    const CHANGES: usize = 210;
    let rr = ReadRegions::start(Replication::Synchronous).await;
    let (tenant, leases) = rr.leases("acme", CHANGES).await;
    let mzr = rr.mzr_reader(Duration::from_secs(2), true, true).await;
    rr.drained().await;
    let mut samples = Vec::with_capacity(CHANGES);
    for (i, lease) in leases.iter().enumerate() {
        let change = Change::ALL[i % Change::ALL.len()];
        samples.push(staleness(&rr, &mzr, change, &tenant, lease).await);
    }
    let replica = mzr.reader().replica().expect("a replica tier");
    assert!(replica.answered() > 0, "mzr never read its standby");
    for lease in &leases {
        assert_eq!(
            allowed(&mzr, &lease.identifier, &tenant).await,
            Some(false),
            "{} is OK in mzr after its change",
            lease.identifier
        );
    }
    let [p50, p95, p99, max] = percentiles(&mut samples);
    println!(
        "cross-region staleness over {CHANGES} changes (commit in kbl -> mzr stops answering OK): \
         p50 {p50:?} p95 {p95:?} p99 {p99:?} max {max:?}; standby reads answered: {}",
        replica.answered()
    );
}

/// The identifier's row version on the primary.
async fn version(rr: &ReadRegions, id: &Identifier) -> i64 {
    sqlx::query_scalar("SELECT version FROM numbering.numbers WHERE identity_key = $1")
        .bind(id.key())
        .fetch_one(&rr.owner)
        .await
        .expect("version")
}

/// The lease's status as the standby has it.
async fn standby_status(rr: &ReadRegions, lease: &numbering_store::Lease) -> String {
    let mut conn = PgConnection::connect(&rr.regions.standby_url())
        .await
        .expect("connect standby");
    sqlx::query_scalar("SELECT status::text FROM numbering.leases WHERE id = $1")
        .bind(lease.id.as_uuid())
        .fetch_one(&mut conn)
        .await
        .expect("lease on the standby")
}

async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + HANG;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_replay_paused_mzr_never_answers_the_stale_ok_of_a_released_lease() {
    let mut rr = ReadRegions::start(Replication::Asynchronous).await;
    let (acme, leases) = rr.leases("acme", 2).await;
    let (heard_one, past_bound) = (&leases[0], &leases[1]);
    // no in-process tier: every answer is a Postgres read
    let heard = rr.mzr_reader(Duration::from_secs(600), false, true).await;
    let bounded = rr
        .mzr_reader(Duration::from_millis(500), false, false)
        .await;
    let unheard = rr.mzr_reader(Duration::from_secs(600), false, false).await;
    rr.regions.wait_replayed().await;
    for (v, lease) in [
        (&heard, heard_one),
        (&bounded, past_bound),
        (&unheard, heard_one),
    ] {
        wait_allowed(v, &lease.identifier, &acme).await;
    }
    for v in [&heard, &unheard] {
        assert!(
            v.reader().replica().unwrap().answered() > 0,
            "the standby answered"
        );
    }

    rr.regions.pause_replay().await;
    Change::Release.commit(&rr.store, &acme, heard_one).await;
    Change::Release.commit(&rr.store, &acme, past_bound).await;
    rr.regions.wait_received().await;
    assert_eq!(
        standby_status(&rr, heard_one).await,
        "ACTIVE",
        "the standby is behind"
    );
    assert_eq!(standby_status(&rr, past_bound).await, "ACTIVE");

    // within the bound: the invalidation names a version the standby lacks
    let released = version(&rr, &heard_one.identifier).await;
    let key = heard_one.identifier.key();
    let replica = heard.reader().replica().unwrap();
    until("the invalidation to reach mzr", || {
        replica.invalidated_version(&key) >= Some(released)
    })
    .await;
    for _ in 0..50 {
        assert_eq!(
            allowed(&heard, &heard_one.identifier, &acme).await,
            Some(false)
        );
    }
    let lookup = heard.reader().lookup(&heard_one.identifier).await.unwrap();
    assert_eq!(lookup.unwrap().state, "QUARANTINED");
    // the control: a reader that heard nothing answers the standby's stale
    // OK, which its (long) bound allows; so the standby really has it
    assert_eq!(
        allowed(&unheard, &heard_one.identifier, &acme).await,
        Some(true)
    );

    // past the bound: no invalidation heard, the lag alone sends it to the primary
    let lagging = bounded.reader().replica().unwrap();
    until("the standby's lag to pass 500 ms", || {
        lagging.lag().is_none_or(|l| l > Duration::from_millis(500))
    })
    .await;
    assert_eq!(
        allowed(&bounded, &past_bound.identifier, &acme).await,
        Some(false)
    );

    // and with the primary gone too: UNAVAILABLE, never the stale OK
    rr.regions.stop_primary_immediate().await;
    assert_eq!(allowed(&bounded, &past_bound.identifier, &acme).await, None);
    assert_ne!(
        allowed(&heard, &heard_one.identifier, &acme).await,
        Some(true)
    );
}

#[tokio::test]
async fn only_one_heartbeat_writer_beats_however_many_hosts_run_one() {
    let db = TestDb::new().await;
    let (stop, stopped) = watch::channel(false);
    for _ in 0..3 {
        tokio::spawn(run_heartbeat(
            db.app.clone(),
            HEARTBEAT_EVERY,
            stopped.clone(),
        ));
    }
    let at = || async {
        sqlx::query_scalar::<_, chrono::DateTime<chrono::Utc>>(
            "SELECT at FROM numbering.replica_heartbeat",
        )
        .fetch_one(&db.owner)
        .await
        .unwrap()
    };
    let first = at().await;
    let deadline = Instant::now() + HANG;
    while at().await == first {
        assert!(Instant::now() < deadline, "the heartbeat never advanced");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let holders: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND ((classid::bigint << 32) | objid::bigint) = $1 AND database = \
         (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .bind(HEARTBEAT_LOCK)
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(holders, 1, "exactly one writer holds the heartbeat's lock");
    let _ = stop.send(true);
}
