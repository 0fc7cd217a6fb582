//! The schema as production runs it: migrations applied by an owner that is
//! NOT a superuser (so FORCE row-level security binds it too), the service
//! logged in as a member of `numbering_app`. Everything must still work.

use std::time::Duration;

use numbering_shared::{
    Identifier, LifecyclePolicy, NumberState, TenantId, ValidationReason, validation,
};
use numbering_store::{PoolConfig, Store};
use numbering_tests::tenant_ctx;
use sqlx::{Connection, PgConnection};

#[tokio::test]
async fn a_non_superuser_owner_migrates_and_the_service_reads_and_writes_under_rls() {
    // a fresh database owned by a plain role
    let probe = numbering_tests::TestDb::new().await; // brings the test server up
    let server = probe.owner_url.rsplit_once('/').unwrap().0.to_owned();
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let (owner, login, db) = (
        format!("owner_{suffix}"),
        format!("svc_{suffix}"),
        format!("prod_{suffix}"),
    );
    let mut su = PgConnection::connect(&format!("{server}/postgres"))
        .await
        .unwrap();
    for sql in [
        format!("CREATE ROLE {owner} LOGIN CREATEROLE"),
        format!("CREATE DATABASE {db} OWNER {owner}"),
        format!("CREATE ROLE {login} LOGIN"),
    ] {
        sqlx::query(&sql).execute(&mut su).await.unwrap();
    }
    let owner_url = format!(
        "{}/{db}",
        server.replacen("postgres@", &format!("{owner}@"), 1)
    );
    numbering_store::migrate(&owner_url)
        .await
        .expect("a non-superuser owner applies every migration");
    sqlx::query(&format!("GRANT numbering_app TO {login}"))
        .execute(&mut su)
        .await
        .unwrap();

    // fixtures as the owner, in platform scope (FORCE RLS applies to it)
    let mut o = PgConnection::connect(&owner_url).await.unwrap();
    let mut tx = o.begin().await.unwrap();
    sqlx::query("SELECT set_config('numbering.scope', 'platform', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("INSERT INTO numbering.tenant_pools (tenant_id, display_name, quota_msisdn) VALUES ('acme', 'acme', 5), ('globex', 'globex', 5)")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO numbering.numbers (identifier, identity_key, kind, operator_id, mcc, mnc) VALUES \
         ('+93790000001', '+93790000001', 'MSISDN', 'roshan', '412', '40'), \
         ('+93790000002', '+93790000002', 'MSISDN', 'roshan', '412', '40')",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();

    // the service: logged in as a member of numbering_app, SET ROLE numbering_app
    let app_url = format!(
        "{}/{db}",
        server.replacen("postgres@", &format!("{login}@"), 1)
    );
    let pool = numbering_store::connect(&PoolConfig::new(app_url))
        .await
        .unwrap();
    let store = Store::new(pool.clone(), LifecyclePolicy::default());
    let (acme, globex) = (
        TenantId::parse("acme").unwrap(),
        TenantId::parse("globex").unwrap(),
    );
    let first = Identifier::parse("+93790000001").unwrap();
    let r = store
        .reserve(&tenant_ctx(&acme), &acme, &first)
        .await
        .unwrap();
    let lease = store
        .assign(&tenant_ctx(&acme), &acme, r.id, true)
        .await
        .unwrap();

    // the hot path's cross-tenant reads (definer functions owned by numbering_reader)
    let snapshot = store
        .snapshot(&first)
        .await
        .unwrap()
        .expect("visible to the hot path");
    assert_eq!(snapshot.state, NumberState::Assigned);
    assert_eq!(snapshot.lease_id, Some(lease.id));
    assert_eq!(
        validation::validate(Some(&snapshot), &acme, chrono::Utc::now()).reason,
        ValidationReason::Ok
    );
    // the hot path's own read-only pool: the same login switches to numbering_hot_path
    let hot = numbering_store::SnapshotReader::connect_like(&pool, 1)
        .await
        .expect("a member of numbering_app may act as numbering_hot_path");
    assert_eq!(hot.snapshot(&first).await.unwrap(), Some(snapshot.clone()));
    let lookup = store.lookup(&first).await.unwrap().expect("lookup sees it");
    assert_eq!(
        (lookup.operator_name.as_deref(), lookup.mnc.as_deref()),
        (Some("Roshan"), Some("40"))
    );

    // "taken" is CONFLICT for another tenant, not NOT_FOUND
    let taken = store
        .reserve(&tenant_ctx(&globex), &globex, &first)
        .await
        .unwrap_err();
    assert_eq!(taken.code(), "CONFLICT");

    // a lapsed reservation of acme's does not block globex (lapse_reservation under FORCE RLS)
    let second = Identifier::parse("+93790000002").unwrap();
    let r = store
        .reserve(&tenant_ctx(&acme), &acme, &second)
        .await
        .unwrap();
    let mut tx = o.begin().await.unwrap();
    sqlx::query("SELECT set_config('numbering.scope', 'platform', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "WITH x AS (UPDATE numbering.reservations SET created_at = now() - interval '1 hour', \
                        expires_at = now() - interval '1 second' WHERE id = $1 RETURNING number_id) \
         UPDATE numbering.numbers SET reserved_until = now() - interval '1 second' WHERE id = (SELECT number_id FROM x)",
    )
    .bind(r.id.as_uuid())
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    store
        .reserve(&tenant_ctx(&globex), &globex, &second)
        .await
        .expect("the lapsed reservation does not block");

    // the audit trail seals and verifies as the application
    numbering_store::audit::seal_pending(&pool, Duration::from_secs(30))
        .await
        .unwrap();
    let report = numbering_store::audit::verify(&pool).await.unwrap();
    assert!(report.is_intact() && report.checked >= 5, "{report:?}");
    // and the owner itself cannot rewrite it
    let err = sqlx::query("UPDATE numbering.audit_log SET actor = 'x'")
        .execute(&mut o)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
}
