//! Pool admission has one home, `numbering_shared::admission`: the store's
//! SQL filter (browse, "reserve any") and its reserve check must agree
//! with it on every pool.

use numbering_shared::{
    IdentifierKind,
    admission::{Candidate, PoolRules},
};
use numbering_store::{Criteria, LifecycleError, NotAllowed};
use numbering_tests::{TestDb, tenant_ctx};

/// Inventory with every kind, two operators, and vanity and plain rows.
const INVENTORY: &[(&str, bool)] = &[
    ("+93791000001", false),
    ("+93791000002", true),
    ("+93781000001", false),
    ("4455", false),
    ("4456", true),
    ("AcmeBank", false),
    ("AcmeVip", true),
];

/// Every pool over the inventory's dimensions: active or suspended, each
/// subset of kinds, operator allowlists (empty, one, both, one not in
/// inventory), with and without the vanity flag.
fn generated_pools() -> Vec<PoolRules> {
    let operators: [&[&str]; 5] = [
        &[],
        &["roshan"],
        &["etisalat-af"],
        &["roshan", "etisalat-af"],
        &["mtn-af"],
    ];
    let mut pools = Vec::new();
    for active in [true, false] {
        for mask in 0..8u8 {
            let allowed_kinds: Vec<IdentifierKind> = IdentifierKind::ALL
                .into_iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, k)| k)
                .collect();
            for ops in operators {
                for vanity_allowed in [false, true] {
                    pools.push(PoolRules {
                        active,
                        allowed_kinds: allowed_kinds.clone(),
                        allowed_operators: ops.iter().map(|o| (*o).to_owned()).collect(),
                        vanity_allowed,
                    });
                }
            }
        }
    }
    pools
}

async fn set_pool(db: &TestDb, tenant: &str, p: &PoolRules) {
    let kinds: Vec<&str> = p.allowed_kinds.iter().map(|k| k.as_str()).collect();
    sqlx::query(
        "UPDATE numbering.tenant_pools SET status = $2::numbering.pool_status, \
             allowed_kinds = $3::text[]::numbering.identifier_kind[], allowed_operators = $4, \
             vanity_allowed = $5 \
         WHERE tenant_id = $1",
    )
    .bind(tenant)
    .bind(if p.active { "ACTIVE" } else { "SUSPENDED" })
    .bind(kinds)
    .bind(&p.allowed_operators)
    .bind(p.vanity_allowed)
    .execute(&db.owner)
    .await
    .expect("update the pool");
}

#[tokio::test]
async fn browsing_and_reserving_admit_exactly_what_the_domain_rule_admits_on_every_generated_pool()
{
    let db = TestDb::new().await;
    let tenant = db.pool_for("acme").await;
    let raw: Vec<&str> = INVENTORY.iter().map(|(id, _)| *id).collect();
    let ids = db.inventory(&raw).await;
    for (id, vanity) in ids.iter().zip(INVENTORY.iter().map(|(_, v)| *v)) {
        sqlx::query("UPDATE numbering.numbers SET vanity = $2 WHERE identifier = $1")
            .bind(id.as_str())
            .bind(vanity)
            .execute(&db.owner)
            .await
            .unwrap();
    }
    let operators: Vec<Option<String>> = {
        let mut out = Vec::new();
        for id in &ids {
            let op: Option<String> = sqlx::query_scalar(
                "SELECT operator_id FROM numbering.numbers WHERE identifier = $1",
            )
            .bind(id.as_str())
            .fetch_one(&db.owner)
            .await
            .unwrap();
            out.push(op);
        }
        out
    };
    let ctx = tenant_ctx(&tenant);
    for pool in generated_pools() {
        set_pool(&db, "acme", &pool).await;
        let shown: Vec<String> = db
            .store
            .browse(&tenant, &Criteria::default(), None, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.identifier.as_str().to_owned())
            .collect();
        for ((id, op), (_, vanity)) in ids.iter().zip(&operators).zip(INVENTORY) {
            let candidate = Candidate {
                kind: id.kind(),
                operator_id: op.as_deref(),
                vanity: *vanity,
            };
            let rule = pool.admits(&candidate);
            assert_eq!(
                shown.contains(&id.as_str().to_owned()),
                rule.is_ok(),
                "browse and the rule disagree on {id} ({candidate:?}) for {pool:?}"
            );
            // a refused reserve writes nothing, so every refusal can be asked for
            if let Err(refusal) = rule {
                let err = db.store.reserve(&ctx, &tenant, id).await.unwrap_err();
                assert!(
                    matches!(&err, LifecycleError::NotAllowed(NotAllowed::Pool(r)) if *r == refusal),
                    "reserve of {id} for {pool:?}: {err:?}, the rule says {refusal:?}"
                );
            }
        }
    }
    assert_eq!(db.count("numbering.reservations").await, 0);
}
