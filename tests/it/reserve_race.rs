use numbering_store::LifecycleError;
use numbering_tests::{TestDb, tenant_ctx};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_tasks_reserving_one_identifier_produce_exactly_one_winner() {
    let db = TestDb::new().await;
    let id = db.inventory(&["+93791234567"]).await.remove(0);
    let mut tenants = Vec::new();
    for i in 0..50 {
        tenants.push(db.pool_for(&format!("tenant-{i}")).await);
    }
    let mut tasks = Vec::new();
    for tenant in tenants {
        let store = db.store.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            store.reserve(&tenant_ctx(&tenant), &tenant, &id).await
        }));
    }
    let mut won = 0;
    let mut conflicts = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(LifecycleError::Conflict) => conflicts += 1,
            Err(e) => panic!("unexpected outcome: {e:?}"),
        }
    }
    assert_eq!((won, conflicts), (1, 49));
    // nothing half-written: one reservation, one version bump, one audit entry, one event
    assert_eq!(db.count("numbering.reservations").await, 1);
    assert_eq!(
        db.count("numbering.numbers WHERE state = 'RESERVED' AND version = 2")
            .await,
        1
    );
    assert_eq!(
        db.count("numbering.audit_log WHERE action = 'reserve'")
            .await,
        1
    );
    assert_eq!(
        db.count("numbering.outbox WHERE event_type = 'number.reserved.v1'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_tenant_racing_itself_still_gets_one_reservation() {
    let db = TestDb::new().await;
    let id = db.inventory(&["4455"]).await.remove(0);
    let tenant = db.pool_for("acme").await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (store, id, tenant) = (db.store.clone(), id.clone(), tenant.clone());
        tasks.push(tokio::spawn(async move {
            store.reserve(&tenant_ctx(&tenant), &tenant, &id).await
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(LifecycleError::Conflict) => {}
            Err(e) => panic!("unexpected outcome: {e:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(db.count("numbering.reservations").await, 1);
}
