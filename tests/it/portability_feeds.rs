//! Portability beyond the admin upload (issue 20): the lease cache carries
//! routing's answer, so Lookup is answered from the DynamoDB tier, and the
//! other feeds (the CLI, the import-s3 Lambda) apply ATRA's files through
//! the same sink.

use std::{sync::Arc, time::Duration};

use numbering_clients::lease_cache::{Cached, LeaseCacheTable};
use numbering_outbox_relay::{LeaseCacheProjection, Relay};
use numbering_shared::Identifier;
use numbering_store::portings::Ported;
use numbering_tests::{TestNats, eventually, hot_path::TestMoto};
use numbering_validate_lease::{LeaseReader, TierConfig};

use crate::portability::{NUMBERS, atra, file, import};

fn millis(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_cache_item_carries_the_serving_operator_and_lookup_answers_from_it() {
    let (db, key) = atra().await;
    let nats = TestNats::start();
    let moto = TestMoto::start();
    let table = moto.tier(Duration::from_secs(300)).await;
    let relay = Relay::new(db.app.clone(), nats.client().await, crate::relay::fast())
        .with_projection_first(Arc::new(LeaseCacheProjection::standalone(
            db.store.clone(),
            table.clone(),
        )));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let relay = tokio::spawn(relay.run(stopped));
    let ported = file(&["0790000001,412,50,2026-12-01"]);
    let Ok(Ported::Created(_)) = import(&db, &ported, &key.sign(&ported)).await else {
        panic!("the signed file applies");
    };
    eventually(Duration::from_secs(60), "the item carries routing", || {
        let table = &table;
        async move {
            let item = table.get(NUMBERS[0]).await.unwrap();
            item.is_some_and(|c| c.routing.is_some_and(|r| r.ported))
        }
    })
    .await;
    let item = table.get(NUMBERS[0]).await.unwrap().unwrap();
    assert_eq!(item.version, 2, "the ported number's new version");
    let routing = item.routing.clone().unwrap();
    assert_eq!(
        (
            routing.operator_id.as_deref(),
            routing.operator_name.as_deref(),
            routing.mcc.as_deref(),
            routing.mnc.as_deref()
        ),
        (
            Some("etisalat-af"),
            Some("Etisalat-AF"),
            Some("412"),
            Some("50")
        )
    );
    assert_eq!(
        (
            routing.home_operator_id.as_deref(),
            routing.home_mcc.as_deref(),
            routing.home_mnc.as_deref()
        ),
        (Some("roshan"), Some("412"), Some("40"))
    );
    assert_eq!(
        routing.ported_at.map(|t| t.timestamp_millis()),
        Some(millis("2026-12-01T00:00:00Z"))
    );
    // the item's routing is Postgres's answer, as of the item's version
    let id = Identifier::parse(NUMBERS[0]).unwrap();
    assert_eq!(Some(routing.clone()), db.store.lookup(&id).await.unwrap());

    // a hot-path fill of the same version (snapshot only) keeps the routing
    let snapshot = db.store.snapshot(&id).await.unwrap();
    let fill = Cached::from_snapshot(snapshot.clone());
    assert!(!table.put_forward(NUMBERS[0], &fill).await.unwrap());
    assert_eq!(
        table.get(NUMBERS[0]).await.unwrap().unwrap().routing,
        Some(routing.clone())
    );

    // Lookup answers from the DynamoDB tier: this reader's Postgres is closed
    let dead = sqlx::PgPool::connect_with(db.app.connect_options().as_ref().clone())
        .await
        .unwrap();
    let reader = LeaseReader::new(
        numbering_store::Store::new(dead.clone(), Default::default()),
        numbering_store::SnapshotReader::connect_like(&dead, 1)
            .await
            .unwrap(),
        Some(table.clone()),
        TierConfig::default(),
    );
    dead.close().await;
    assert_eq!(reader.lookup(&id).await, Ok(Some(routing.clone())));
    // once the item has expired, a fill replaces it (without routing)
    let expired = LeaseCacheTable::new(table.client().clone(), table.table(), Duration::ZERO);
    let relayed = Cached::from_snapshot(snapshot.clone()).with_routing(Some(routing.clone()));
    assert!(expired.put_forward(NUMBERS[0], &relayed).await.unwrap());
    assert!(table.put_forward(NUMBERS[0], &fill).await.unwrap());
    assert_eq!(table.get(NUMBERS[0]).await.unwrap().unwrap().routing, None);
    // an item without routing (older writer, or a fill) still decodes for
    // ValidateLease, and Lookup goes on to Postgres (closed here: UNAVAILABLE)
    let other = Identifier::parse(NUMBERS[2]).unwrap();
    let old = Cached::from_snapshot(db.store.snapshot(&other).await.unwrap());
    assert!(table.put_forward(&other.key(), &old).await.unwrap());
    let decoded = table.get(&other.key()).await.unwrap().unwrap();
    assert_eq!((decoded.version, decoded.routing), (1, None));
    assert!(reader.snapshot(&other).await.unwrap().is_some());
    assert!(reader.lookup(&other).await.is_err());
    let _ = stop.send(true);
    let _ = relay.await;
}

/// A directory with `file` and its signature `file.sig`; the file's path.
fn on_disk(name: &str, file: &[u8], sig: &[u8]) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("numbering-port-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join(name);
    std::fs::write(&f, file).unwrap();
    std::fs::write(dir.join(format!("{name}.sig")), sig).unwrap();
    f
}

#[tokio::test]
async fn the_cli_applies_a_portability_file_by_its_header_and_refuses_a_bad_one() {
    let (db, key) = atra().await;
    let run = |file: &std::path::Path, extra: &[&str]| {
        let sig = format!("{}.sig", file.display());
        std::process::Command::new(numbering_tests::numbering_bin())
            .arg("import")
            .arg("--file")
            .arg(file)
            .args(["--sig", &sig])
            .args(extra)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &db.owner_url)
            .output()
            .unwrap()
    };
    let good = file(&[
        "0790000001,412,50,2026-12-01",
        "+93790000002,412,20,2026-12-02",
    ]);
    let good = on_disk("atra-port.csv", &good, &key.sign(&good));
    // all rows or none: --partial is refused before anything is read
    let out = run(&good, &["--partial"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--partial"));
    assert_eq!(db.count("numbering.portings").await, 0);

    let out = run(&good, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("APPLIED") && stdout.contains("2 ported numbers"),
        "{stdout}"
    );
    assert_eq!(db.count("numbering.portings").await, 2);
    assert_eq!(
        db.count("numbering.outbox WHERE event_type = 'number.ported.v1'")
            .await,
        2
    );
    let id = Identifier::parse(NUMBERS[0]).unwrap();
    let lookup = db.store.lookup(&id).await.unwrap().unwrap();
    assert_eq!(
        (lookup.operator_id.as_deref(), lookup.ported),
        (Some("etisalat-af"), true)
    );
    let again = run(&good, &[]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("imported before"));
    assert_eq!(db.count("numbering.portings").await, 2);

    // a refused row: exit 1, its line, nothing applied
    let bad = file(&[
        "+93790000003,412,50,2026-12-01",
        "+93790000009,412,50,2026-12-01",
    ]);
    let bad = on_disk("bad.csv", &bad, &key.sign(&bad));
    let out = run(&bad, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("REJECTED") && stdout.contains("line 3:"),
        "{stdout}"
    );
    // a forged signature: exit 2, nothing applied
    let forged = file(&["+93790000003,412,50,2026-12-01"]);
    let forged = on_disk("forged.csv", &forged, &key.sign(b"x"));
    let out = run(&forged, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SIGNATURE_INVALID"));
    assert_eq!(db.count("numbering.portings").await, 2);

    let help = std::process::Command::new(numbering_tests::numbering_bin())
        .args(["import", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("msisdn,mcc,mnc,ported_at"), "{help}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portability_file_landing_in_the_bucket_goes_to_the_porting_sink() {
    use numbering_import::{
        Importer, Limits,
        s3::{Handled, S3Trigger},
    };
    let moto = TestMoto::start();
    let s3 = moto.s3().await;
    let (db, key) = atra().await;
    let event = |object: &str| {
        let mut e = crate::imports::s3_event();
        e.records[0].s3.object.key = Some(object.to_owned());
        e
    };
    let bucket = event("x").records[0].s3.bucket.name.clone().unwrap();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let put = |object: String, body: Vec<u8>| {
        let s3 = s3.clone();
        let bucket = bucket.clone();
        async move {
            s3.put_object()
                .bucket(&bucket)
                .key(object)
                .body(body.into())
                .send()
                .await
                .unwrap();
        }
    };
    let trigger = S3Trigger::new(
        s3.clone(),
        Importer::new(db.store.clone(), Limits::default()),
    );
    let good = file(&["0790000001,412,50,2026-12-01"]);
    put("port/atra-1.csv".into(), good.clone()).await;
    put("port/atra-1.csv.sig".into(), key.sign(&good)).await;
    let handled = trigger.handle(event("port/atra-1.csv.sig")).await.unwrap();
    let [
        Handled::Ported {
            ported: Ported::Created(b),
            key: object,
            ..
        },
    ] = &handled[..]
    else {
        panic!("{handled:?}")
    };
    assert_eq!((object.as_str(), b.total_rows), ("port/atra-1.csv", 1));
    assert_eq!(handled[0].json()["outcome"], "ported");
    assert_eq!(
        b.json["file_name"],
        format!("s3://{bucket}/port/atra-1.csv")
    );
    assert_eq!(db.count("numbering.portings").await, 1);
    assert_eq!(
        db.count("numbering.lease_imports").await,
        0,
        "not a lease import"
    );
    let id = Identifier::parse(NUMBERS[0]).unwrap();
    let lookup = db.store.lookup(&id).await.unwrap().unwrap();
    assert_eq!(
        (lookup.operator_id.as_deref(), lookup.ported),
        (Some("etisalat-af"), true)
    );
    // a redelivered event changes nothing
    let handled = trigger.handle(event("port/atra-1.csv")).await.unwrap();
    assert!(
        matches!(
            handled[..],
            [Handled::Ported {
                ported: Ported::Existing(_),
                ..
            }]
        ),
        "{handled:?}"
    );

    // a refused row: the outcome names the code and the line; nothing applied
    let bad = file(&[
        "+93790000002,412,50,2026-12-01",
        "+93790000009,412,50,2026-12-01",
    ]);
    put("port/atra-2.csv".into(), bad.clone()).await;
    put("port/atra-2.csv.sig".into(), key.sign(&bad)).await;
    let handled = trigger.handle(event("port/atra-2.csv")).await.unwrap();
    let [Handled::Refused { code, detail, .. }] = &handled[..] else {
        panic!("{handled:?}")
    };
    assert_eq!(*code, "PORTING_REJECTED");
    assert!(detail.contains("line 3:"), "{detail}");
    assert_eq!(db.count("numbering.portings").await, 1);
    assert_eq!(db.count("numbering.numbers WHERE version <> 1").await, 1);
}
