//! Row-level security isolates tenants underneath the application.

use numbering_tests::{TestDb, tenant_ctx};

const TENANT_TABLES: [&str; 6] = [
    "numbering.reservations",
    "numbering.leases",
    "numbering.numbers",
    "numbering.tenant_pools",
    "numbering.quarantine_records",
    "numbering.idempotency_keys",
];

/// Counts rows of `table` seen by the application role with tenant `tenant` set
/// (or nothing set).
async fn visible(db: &TestDb, tenant: Option<&str>, sql: &str) -> i64 {
    let mut tx = db.app.begin().await.unwrap();
    if let Some(t) = tenant {
        sqlx::query("SELECT set_config('numbering.tenant_id', $1, true)")
            .bind(t)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {sql}"))
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    n
}

/// acme holds one lease and one reservation; globex the same; one number is free.
async fn two_tenants() -> TestDb {
    let db = TestDb::new().await;
    let ids = db
        .inventory(&[
            "+93791110001",
            "+93791110002",
            "+93791110003",
            "+93791110004",
            "+93791110005",
        ])
        .await;
    for (tenant, lease, reservation) in [("acme", &ids[0], &ids[1]), ("globex", &ids[2], &ids[3])] {
        let t = db.pool_for(tenant).await;
        let r = db.store.reserve(&tenant_ctx(&t), &t, lease).await.unwrap();
        db.store
            .assign(&tenant_ctx(&t), &t, r.id, true)
            .await
            .unwrap();
        db.store
            .reserve(&tenant_ctx(&t), &t, reservation)
            .await
            .unwrap();
    }
    db
}

#[tokio::test]
async fn a_tenant_sees_its_own_rows_and_none_of_another_tenants() {
    let db = two_tenants().await;
    assert_eq!(
        visible(&db, Some("acme"), "numbering.reservations").await,
        2
    ); // one consumed, one live
    assert_eq!(
        visible(
            &db,
            Some("acme"),
            "numbering.reservations WHERE tenant_id = 'globex'"
        )
        .await,
        0
    );
    assert_eq!(visible(&db, Some("acme"), "numbering.leases").await, 1);
    assert_eq!(
        visible(
            &db,
            Some("acme"),
            "numbering.leases WHERE tenant_id = 'globex'"
        )
        .await,
        0
    );
    // its own two numbers and the free one; none of globex's
    assert_eq!(visible(&db, Some("acme"), "numbering.numbers").await, 3);
    assert_eq!(
        visible(
            &db,
            Some("acme"),
            "numbering.numbers WHERE tenant_id = 'globex'"
        )
        .await,
        0
    );
    assert_eq!(
        visible(&db, Some("acme"), "numbering.tenant_pools").await,
        1
    );
    // and the other way round
    assert_eq!(
        visible(
            &db,
            Some("globex"),
            "numbering.leases WHERE tenant_id = 'acme'"
        )
        .await,
        0
    );
    assert_eq!(
        visible(
            &db,
            Some("globex"),
            "numbering.numbers WHERE tenant_id = 'acme'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn with_no_tenant_set_nothing_tenant_scoped_is_visible() {
    let db = two_tenants().await;
    for table in TENANT_TABLES {
        assert_eq!(visible(&db, None, table).await, 0, "{table}");
        assert_eq!(
            visible(&db, Some(""), table).await,
            0,
            "{table} with an empty tenant"
        );
    }
    // while a superuser sees them all: the rows are there
    assert_eq!(db.count("numbering.numbers").await, 5);
}

#[tokio::test]
async fn a_tenant_cannot_write_rows_into_another_tenants_name() {
    let db = two_tenants().await;
    let mut tx = db.app.begin().await.unwrap();
    sqlx::query("SELECT set_config('numbering.tenant_id', 'acme', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let err = sqlx::query(
        "INSERT INTO numbering.reservations (id, number_id, identifier, kind, tenant_id, status, expires_at, ended_at) \
         SELECT gen_random_uuid(), id, identifier, kind, 'globex', 'CANCELLED', now() + interval '1 hour', now() \
         FROM numbering.numbers WHERE tenant_id IS NULL",
    )
    .execute(&mut *tx)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");
    tx.rollback().await.unwrap();
    // nor take over another tenant's number
    let mut tx = db.app.begin().await.unwrap();
    sqlx::query("SELECT set_config('numbering.tenant_id', 'acme', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let taken =
        sqlx::query("UPDATE numbering.numbers SET tenant_id = 'acme' WHERE tenant_id = 'globex'")
            .execute(&mut *tx)
            .await
            .unwrap();
    assert_eq!(taken.rows_affected(), 0);
}

/// The store begins a transaction with `SELECT set_config(…, true); BEGIN`
/// in one batch (`scope::begin_plain`). What it relies on: Postgres turns
/// the batch's implicit transaction into the explicit one, so the scope
/// holds for the whole transaction and ends with it; and when the scope
/// statement fails, no transaction is left open on the connection (sqlx
/// would return such a connection to the pool inside it).
#[tokio::test]
async fn a_scope_set_before_begin_lasts_the_transaction_and_a_failed_one_leaves_none_open() {
    let db = TestDb::new().await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&db.owner_url)
        .await
        .unwrap();
    let scope = || async {
        sqlx::query_scalar::<_, Option<String>>("SELECT current_setting('numbering.scope', true)")
            .fetch_one(&pool)
            .await
            .unwrap()
            .unwrap_or_default()
    };
    let mut tx = pool
        .begin_with("SELECT set_config('numbering.scope', 'platform', true); BEGIN")
        .await
        .unwrap();
    let xact = "SELECT pg_current_xact_id()::text";
    let (a, b): (String, String) = (
        sqlx::query_scalar(xact).fetch_one(&mut *tx).await.unwrap(),
        sqlx::query_scalar(xact).fetch_one(&mut *tx).await.unwrap(),
    );
    assert_eq!(a, b, "one transaction");
    let inside: String = sqlx::query_scalar("SELECT current_setting('numbering.scope')")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(inside, "platform");
    tx.rollback().await.unwrap();
    assert_eq!(scope().await, "", "the scope ends with the transaction");

    let failed = pool
        .begin_with("SELECT set_config('numbering.scope', 'platform', 1/0 = 1); BEGIN")
        .await;
    assert!(failed.is_err());
    // the one connection is clean: statements are transactions of their own
    let (a, b): (String, String) = (
        sqlx::query_scalar(xact).fetch_one(&pool).await.unwrap(),
        sqlx::query_scalar(xact).fetch_one(&pool).await.unwrap(),
    );
    assert_ne!(a, b);
}
