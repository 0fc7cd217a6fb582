//! The two-region harness (`numbering_tests::regions`) does what it says:
//! streaming replication that is synchronous when asked, a pausable
//! standby, a failover that leaves a writable primary, a NATS super-cluster
//! whose regions reach each other, and `store::pg_hosts` finding the
//! read-write server of a multi-host URL before and after a failover.

use std::time::Duration;

use async_nats::jetstream::{
    self,
    consumer::{AckPolicy, pull},
    stream,
};
use futures_util::StreamExt;
use numbering_store::pg_hosts::{PgHosts, connect_any, connect_read_write};
use numbering_tests::regions::{Region, Regions, Replication};
use sqlx::{ConnectOptions, Connection, PgConnection, postgres::PgConnectOptions};

/// Far beyond what any step needs: reaching it is a failure, not a timing.
const HANG: Duration = Duration::from_secs(30);

async fn connect(url: &str) -> PgConnection {
    PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"))
}

async fn rows(url: &str) -> Vec<String> {
    let mut conn = connect(url).await;
    sqlx::query_scalar("SELECT note FROM drill ORDER BY note")
        .fetch_all(&mut conn)
        .await
        .expect("read drill")
}

async fn insert(conn: &mut PgConnection, note: &str) {
    sqlx::query("INSERT INTO drill (note) VALUES ($1)")
        .bind(note)
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("insert {note}: {e}"));
}

async fn in_recovery(conn: &mut PgConnection) -> bool {
    sqlx::query_scalar("SELECT pg_is_in_recovery()")
        .fetch_one(conn)
        .await
        .expect("pg_is_in_recovery()")
}

/// Postgres only, with table `drill` on the primary.
async fn drill(replication: Replication) -> Regions {
    let regions = Regions::builder()
        .replication(replication)
        .without_nats()
        .start()
        .await;
    let mut primary = connect(&regions.primary_url()).await;
    sqlx::query("CREATE TABLE drill (note text PRIMARY KEY)")
        .execute(&mut primary)
        .await
        .expect("create table");
    regions
}

#[tokio::test]
async fn a_row_written_on_the_primary_appears_on_the_read_only_standby() {
    let regions = drill(Replication::Asynchronous).await;
    insert(&mut connect(&regions.primary_url()).await, "from kbl").await;
    regions.wait_replayed().await;
    assert_eq!(rows(&regions.standby_url()).await, ["from kbl"]);

    let mut standby = connect(&regions.standby_url()).await;
    assert!(in_recovery(&mut standby).await);
    let refused = sqlx::query("INSERT INTO drill (note) VALUES ('from mzr')")
        .execute(&mut standby)
        .await
        .expect_err("a hot standby refuses writes");
    assert!(
        refused.to_string().contains("read-only transaction"),
        "{refused}"
    );
}

/// Under `remote_apply` a commit waits (`SyncRep`) while the standby's
/// replay is paused, and returns once the standby has applied it: what
/// returns is already readable there, with no wait for replication.
#[tokio::test]
async fn with_synchronous_replication_a_commit_returns_once_the_standby_has_applied_it() {
    let regions = drill(Replication::Synchronous).await;
    insert(&mut connect(&regions.primary_url()).await, "a").await;
    assert_eq!(rows(&regions.standby_url()).await, ["a"], "read at once");

    regions.pause_replay().await;
    let url = regions.primary_url();
    let commit = tokio::spawn(async move { insert(&mut connect(&url).await, "b").await });
    let mut primary = connect(&regions.primary_url()).await;
    let mut waiting = false;
    for _ in 0..3000 {
        waiting = sqlx::query_scalar(
            "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event = 'SyncRep'",
        )
        .fetch_one(&mut primary)
        .await
        .unwrap();
        if waiting || commit.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(waiting, "the commit waits for the standby");
    assert!(
        !commit.is_finished(),
        "no commit returns before the standby applies it"
    );
    assert_eq!(rows(&regions.standby_url()).await, ["a"]);

    regions.resume_replay().await;
    tokio::time::timeout(HANG, commit)
        .await
        .expect("the commit returns once replay resumes")
        .unwrap();
    assert_eq!(
        rows(&regions.standby_url()).await,
        ["a", "b"],
        "read at once"
    );
}

#[tokio::test]
async fn pausing_replay_holds_a_new_row_back_on_the_standby_until_resume() {
    let regions = drill(Replication::Asynchronous).await;
    regions.wait_replayed().await;
    regions.pause_replay().await;
    insert(&mut connect(&regions.primary_url()).await, "held").await;
    // the row's WAL is on the standby, not applied
    regions.wait_received().await;
    assert!(rows(&regions.standby_url()).await.is_empty());

    regions.resume_replay().await;
    regions.wait_replayed().await;
    assert_eq!(rows(&regions.standby_url()).await, ["held"]);
}

/// The primary-loss drill's harness steps: what was acknowledged under
/// synchronous replication is on the promoted standby, which then takes
/// writes that do not wait for the standby it no longer has.
#[tokio::test]
async fn after_the_primary_stops_and_the_standby_is_promoted_writes_go_on_without_hanging() {
    let mut regions = drill(Replication::Synchronous).await;
    insert(&mut connect(&regions.primary_url()).await, "acknowledged").await;

    regions.stop_primary_immediate().await;
    assert!(
        PgConnection::connect(&regions.primary_url()).await.is_err(),
        "the old primary is down"
    );
    regions.promote_standby().await;

    let mut new_primary = connect(&regions.standby_url()).await;
    assert!(!in_recovery(&mut new_primary).await);
    tokio::time::timeout(HANG, insert(&mut new_primary, "after promotion"))
        .await
        .expect("a write on the promoted standby does not wait for a standby");
    assert_eq!(
        rows(&regions.standby_url()).await,
        ["acknowledged", "after promotion"]
    );
}

/// The region whose server `options` reach (each names itself in `cluster_name`).
async fn region_of(options: &PgConnectOptions) -> String {
    let mut conn = options.connect().await.expect("connect to the picked host");
    sqlx::query_scalar("SELECT current_setting('cluster_name')")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn pg_hosts_picks_the_read_write_server_in_either_order_and_the_new_primary_after_promotion()
{
    let mut regions = drill(Replication::Synchronous).await;
    let kbl_first = PgHosts::parse(&regions.multi_host_url()).unwrap();
    let mzr_first =
        PgHosts::parse(&regions.multi_host_url_in(&[Region::Mzr, Region::Kbl])).unwrap();
    for hosts in [&kbl_first, &mzr_first] {
        let picked = connect_read_write(hosts).await.expect("a read-write host");
        assert_eq!(region_of(&picked).await, "kbl");
    }
    let any = connect_any(&mzr_first).await.unwrap();
    assert_eq!(region_of(&any).await, "mzr", "any: the first that answers");
    let standby_only = PgHosts::parse(&regions.multi_host_url_in(&[Region::Mzr])).unwrap();
    let error = connect_read_write(&standby_only)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("(in recovery)"), "{error}");

    regions.stop_primary_immediate().await;
    regions.promote_standby().await;
    for hosts in [&kbl_first, &mzr_first] {
        let picked = connect_read_write(hosts).await.expect("the new primary");
        assert_eq!(region_of(&picked).await, "mzr");
    }
}

#[tokio::test]
async fn a_message_published_in_kbl_reaches_a_subscriber_in_mzr_through_the_gateway() {
    let regions = Regions::builder().without_postgres().start().await;
    let kbl = regions.nats_client(Region::Kbl).await;
    let mzr = regions.nats_client(Region::Mzr).await;
    let subject = "regions.hello";
    let mut sub = mzr.subscribe(subject).await.unwrap();
    mzr.flush().await.unwrap();
    // first, until mzr's interest is known in kbl (gateways may forward
    // only what the other side has asked for)
    let mut known = false;
    for _ in 0..300 {
        kbl.publish(subject, "probe".into()).await.unwrap();
        kbl.flush().await.unwrap();
        if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(100), sub.next()).await {
            known = true;
            break;
        }
    }
    assert!(known, "mzr's subscription is never reached from kbl");
    kbl.publish(subject, "invalidate 42".into()).await.unwrap();
    kbl.flush().await.unwrap();
    let got = loop {
        let m = tokio::time::timeout(HANG, sub.next())
            .await
            .expect("the message reaches mzr")
            .unwrap();
        if &m.payload[..] != b"probe" {
            break m;
        }
    };
    assert_eq!(&got.payload[..], b"invalidate 42");
}

/// Publishes through `js`, retrying while the stream's interest is not yet
/// known in that region; returns the stream the ack names.
async fn publish_acked(js: &jetstream::Context, subject: &str, payload: &str) -> String {
    let deadline = tokio::time::Instant::now() + HANG;
    loop {
        let attempt = async {
            let ack = js
                .publish(subject.to_owned(), payload.to_owned().into())
                .await?;
            anyhow::Ok(ack.await?)
        };
        match attempt.await {
            Ok(ack) => return ack.stream,
            Err(e) if tokio::time::Instant::now() < deadline => {
                eprintln!("publish {subject}: {e}, retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("publish {subject}: {e}"),
        }
    }
}

/// Messages 1 to `want` of `stream`, read from `js`'s region by stream
/// sequence. Each read is a request whose reply crosses the gateways, which
/// learn of new subscriptions asynchronously, so a read that gets no answer
/// is asked again until [`HANG`].
async fn read_all(js: &jetstream::Context, stream: &str, want: usize) -> Vec<String> {
    let stream = js
        .get_stream(stream)
        .await
        .expect("stream from this region");
    let deadline = tokio::time::Instant::now() + HANG;
    let mut got = Vec::with_capacity(want);
    for seq in 1..=want as u64 {
        loop {
            match stream.get_raw_message(seq).await {
                Ok(m) => {
                    got.push(String::from_utf8_lossy(&m.payload).into_owned());
                    break;
                }
                Err(e) => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "read {got:?} of {want}: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    got
}

#[tokio::test]
async fn a_jetstream_stream_created_in_kbl_is_used_from_mzr_and_an_r2_across_regions_is_refused() {
    let regions = Regions::builder().without_postgres().start().await;
    let kbl = jetstream::new(regions.nats_client(Region::Kbl).await);
    let mzr = jetstream::new(regions.nats_client(Region::Mzr).await);
    let mut created = kbl
        .create_stream(stream::Config {
            name: "EVENTS".into(),
            subjects: vec!["events.>".into()],
            ..Default::default()
        })
        .await
        .expect("create a stream in kbl");
    let info = created.info().await.unwrap();
    let placed = info.cluster.as_ref().and_then(|c| c.name.clone());
    assert_eq!(
        placed.as_deref(),
        Some("kbl"),
        "placed where it was asked for"
    );

    assert_eq!(publish_acked(&mzr, "events.a", "from mzr").await, "EVENTS");
    assert_eq!(publish_acked(&kbl, "events.b", "from kbl").await, "EVENTS");
    assert_eq!(read_all(&mzr, "EVENTS", 2).await, ["from mzr", "from kbl"]);

    let r2 = mzr
        .create_stream(stream::Config {
            name: "ACROSS".into(),
            subjects: vec!["across.>".into()],
            num_replicas: 2,
            ..Default::default()
        })
        .await;
    assert!(r2.is_err(), "an R2 stream needs two servers in one cluster");
}

/// Fetches what a durable pull consumer has (up to `max`), without acks.
async fn fetch(stream: &jetstream::stream::Stream, durable: &str, max: usize) -> Vec<String> {
    let consumer: jetstream::consumer::PullConsumer = stream
        .get_consumer(durable)
        .await
        .expect("the durable consumer");
    let mut batch = consumer
        .fetch()
        .max_messages(max)
        .expires(Duration::from_secs(1))
        .messages()
        .await
        .expect("fetch");
    let mut out = Vec::new();
    while let Some(m) = batch.next().await {
        out.push(String::from_utf8_lossy(&m.expect("a message").payload).into_owned());
        if out.len() == max {
            break;
        }
    }
    out
}

async fn wait_messages(stream: &mut jetstream::stream::Stream, n: u64) {
    let deadline = tokio::time::Instant::now() + HANG;
    while stream.info().await.expect("stream info").state.messages < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the mirror never gets {n}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What the module docs of `numbering_tests::regions` say of a region's
/// NATS outage with one server per region: the two-peer meta group has no
/// leader, so nothing can be created, while the surviving region's R1
/// stream, its consumers and a mirror of the other region's stream work.
#[tokio::test]
async fn with_one_regions_nats_down_the_other_keeps_its_streams_and_mirrors_but_creates_nothing() {
    let mut regions = Regions::builder().without_postgres().start().await;
    let kbl = jetstream::new(regions.nats_client(Region::Kbl).await);
    let mzr = jetstream::new(regions.nats_client(Region::Mzr).await);
    let events = kbl
        .create_stream(stream::Config {
            name: "EVENTS".into(),
            subjects: vec!["events.>".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let mut mirror = mzr
        .create_stream(stream::Config {
            name: "EVENTS_MZR".into(),
            mirror: Some(stream::Source {
                name: "EVENTS".into(),
                ..Default::default()
            }),
            placement: Some(stream::Placement {
                cluster: Some("mzr".into()),
                tags: vec![],
            }),
            allow_direct: true,
            mirror_direct: true,
            ..Default::default()
        })
        .await
        .expect("a mirror in mzr");
    for (stream, durable) in [(&events, "relay"), (&mirror, "reader")] {
        stream
            .create_consumer(pull::Config {
                durable_name: Some(durable.into()),
                ack_policy: AckPolicy::None,
                ..Default::default()
            })
            .await
            .unwrap();
    }
    publish_acked(&kbl, "events.1", "one").await;
    wait_messages(&mut mirror, 1).await;

    regions.stop_nats(Region::Mzr);
    assert_eq!(publish_acked(&kbl, "events.2", "two").await, "EVENTS");
    assert_eq!(fetch(&events, "relay", 2).await, ["one", "two"]);
    // a time-out, or 503 "JetStream system temporarily unavailable" once
    // kbl has noticed that the meta leader is gone (a short time-out: no
    // wait could make it succeed without a quorum)
    let impatient = jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(2))
        .build(regions.nats_client(Region::Kbl).await);
    impatient
        .get_stream("EVENTS")
        .await
        .expect("stream info is the stream leader's")
        .create_consumer(pull::Config {
            durable_name: Some("new".into()),
            ..Default::default()
        })
        .await
        .expect_err("no meta leader without mzr");

    regions.start_nats(Region::Mzr).await;
    wait_messages(&mut mirror, 2).await;
    regions.stop_nats(Region::Kbl);
    assert_eq!(&mirror.direct_get(2).await.unwrap().payload[..], b"two");
    assert_eq!(fetch(&mirror, "reader", 2).await, ["one", "two"]);
    let unplaced = mzr.publish("events.3", "three".into()).await.unwrap().await;
    assert!(
        unplaced.is_err(),
        "a mirror does not take its origin's subjects"
    );
}
