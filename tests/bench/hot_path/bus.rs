//! Scenario 6: the Zipf mix's in-process hit ratio without the invalidation
//! bus (today's: every entry trusted `NUMBERING_CACHE_TTL_MS`, 2 s) and with
//! it up (a private nats-server, the outbox relay's heartbeats: entries
//! trusted `NUMBERING_CACHE_BUS_TTL_MS`, 30 s, while it is current), each
//! over two windows of the run's length: cold (from an empty cache) and warm.

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use numbering_outbox_relay::{Relay, RelayConfig};
use numbering_tests::hot_path::{HostSetup, TestHost};
use tokio::sync::watch;

use crate::{
    load::{drive, validate_op},
    report::counter,
    scenarios::{Mix, Scenarios, zipf_pick},
};

/// Cold and warm windows, without and with the bus; each window's mix
/// and its first touches (requests for an identifier not asked for
/// before in this host's life: misses no cache can avoid).
pub struct BusMix {
    pub without: [(Mix, f64); 2],
    pub with: [(Mix, f64); 2],
}

impl Scenarios<'_> {
    /// Scenario 6 (the `--mix-only 1` run does only this one).
    pub async fn mix_bus(&mut self) -> BusMix {
        let without = self.mix_windows(None, "no bus").await;
        let mut nats = numbering_tests::TestNats::start();
        let client = nats.client().await;
        let (stop, stopped) = watch::channel(false);
        let relay = Relay::new(
            self.fx.store.pool().clone(),
            client.clone(),
            RelayConfig::default(),
        );
        let relay = tokio::spawn(relay.run(stopped));
        let with = self.mix_windows(Some(client), "bus up").await;
        let _ = stop.send(true);
        let _ = relay.await;
        nats.stop();
        BusMix { without, with }
    }

    async fn mix_windows(
        &mut self,
        nats: Option<async_nats::Client>,
        label: &str,
    ) -> [(Mix, f64); 2] {
        let bus = nats.is_some();
        let host = TestHost::start(
            self.fx.store.clone(),
            HostSetup {
                dynamo: Some(self.fx.tier.clone()),
                nats,
                ..Default::default()
            },
        )
        .await;
        if bus {
            let trust = host
                .reader
                .bus()
                .expect("the bus TTL is on by default")
                .clone();
            numbering_tests::eventually(Duration::from_secs(60), "the bus to be current", || {
                let trust = trust.clone();
                async move { trust.is_current() }
            })
            .await;
        }
        let clients = self.closed.channels(&host.url()).await;
        let seen = Arc::new(Mutex::new(HashSet::new()));
        let mut windows = Vec::new();
        for (offset, window) in [(0, "cold"), (1 << 40, "warm")] {
            let first = Arc::new(AtomicU64::new(0));
            let pick = first_touches(seen.clone(), first.clone(), offset);
            let before = numbering::telemetry::metrics().render();
            let stats = drive(
                self.closed,
                self.duration,
                validate_op(clients.clone(), pick),
            )
            .await;
            let after = numbering::telemetry::metrics().render();
            self.rows
                .push(stats.line(&format!("ValidateLease, Zipf mix, {label}, {window}")));
            let delta = |tier: &str, outcome: &str| {
                counter(&after, tier, outcome) - counter(&before, tier, outcome)
            };
            let mix = Mix {
                requests: delta("local", "hit") + delta("local", "miss"),
                local_hits: delta("local", "hit"),
                dynamo_hits: delta("dynamodb", "hit"),
                pg_hits: delta("postgres", "hit"),
            };
            windows.push((mix, first.load(Ordering::Relaxed) as f64));
        }
        host.stop().await;
        let [cold, warm]: [(Mix, f64); 2] = windows.try_into().ok().expect("two windows");
        [cold, warm]
    }
}

/// The mix's picks (the call index moved by `offset`, so that the warm
/// window draws new samples rather than replaying the cold one), counting
/// those of an identifier not picked before.
fn first_touches(
    seen: Arc<Mutex<HashSet<String>>>,
    first: Arc<AtomicU64>,
    offset: u64,
) -> impl Fn(usize, u64) -> String + Send + Sync + 'static {
    let pick = zipf_pick();
    move |w, n| {
        let id = pick(w, n + offset);
        if seen.lock().unwrap().insert(id.clone()) {
            first.fetch_add(1, Ordering::Relaxed);
        }
        id
    }
}

/// The hit-ratio lines of scenario 6.
pub fn print(m: &BusMix) {
    let ratio = |m: &Mix| 100.0 * m.local_hits / m.requests.max(1.0);
    let avoidable = |(m, first): &(Mix, f64)| 100.0 * m.local_hits / (m.requests - first).max(1.0);
    for (label, [cold, warm]) in [("no bus (today)", &m.without), ("bus up", &m.with)] {
        println!(
            "Zipf mix in-process hit ratio, {label}: cold {:.2} % ({} requests, {} first touches), warm {:.2} % ({} requests, {} first touches); excluding first touches: cold {:.2} %, warm {:.2} %",
            ratio(&cold.0),
            cold.0.requests,
            cold.1,
            ratio(&warm.0),
            warm.0.requests,
            warm.1,
            avoidable(cold),
            avoidable(warm),
        );
    }
}
