//! Every transition of SPEC §2 through the store: each allowed one writes
//! exactly one audit entry and one outbox event; each disallowed one is
//! refused, changes nothing and is recorded as an ops event.

use numbering_shared::{
    Identifier, LeaseId, NumberState, ReservationId, TenantId, Transition, lifecycle,
};
use numbering_store::LifecycleError;
use numbering_tests::{TestDb, admin_ctx, system_ctx, tenant_ctx};

struct Subject {
    id: Identifier,
    tenant: TenantId,
}

impl Subject {
    async fn new(db: &TestDb, identifier: &str) -> Self {
        let id = db.inventory(&[identifier]).await.remove(0);
        let tenant = TenantId::parse("acme").unwrap();
        if db
            .count("numbering.tenant_pools WHERE tenant_id = 'acme'")
            .await
            == 0
        {
            db.pool_for("acme").await;
        }
        Self { id, tenant }
    }

    async fn latest_reservation(&self, db: &TestDb) -> ReservationId {
        let id: uuid::Uuid = sqlx::query_scalar(
            "SELECT id FROM numbering.reservations WHERE identifier = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(self.id.as_str())
        .fetch_one(&db.owner)
        .await
        .expect("the subject has a reservation");
        ReservationId::from_uuid(id)
    }

    async fn latest_lease(&self, db: &TestDb) -> LeaseId {
        let id: uuid::Uuid = sqlx::query_scalar(
            "SELECT id FROM numbering.leases WHERE identifier = $1 \
             ORDER BY (status <> 'ENDED') DESC, coalesce(ended_at, started_at) DESC LIMIT 1",
        )
        .bind(self.id.as_str())
        .fetch_one(&db.owner)
        .await
        .expect("the subject has a lease");
        LeaseId::from_uuid(id)
    }

    /// Performs `t` on the subject with an actor allowed to perform it, using
    /// the subject's latest reservation or lease as the handle.
    async fn perform(&self, db: &TestDb, t: Transition) -> Result<(), LifecycleError> {
        let s = &db.store;
        let (tc, tenant, id) = (tenant_ctx(&self.tenant), &self.tenant, &self.id);
        match t {
            Transition::Reserve => s.reserve(&tc, tenant, id).await.map(drop),
            Transition::Hold => s
                .hold(&tc, tenant, self.latest_reservation(db).await)
                .await
                .map(drop),
            Transition::Cancel => s
                .cancel(&tc, tenant, self.latest_reservation(db).await)
                .await
                .map(drop),
            Transition::Assign => s
                .assign(&tc, tenant, self.latest_reservation(db).await, true)
                .await
                .map(drop),
            Transition::Release => s
                .release(&tc, tenant, self.latest_lease(db).await)
                .await
                .map(drop),
            Transition::Renew => s
                .renew(&system_ctx(), self.latest_lease(db).await)
                .await
                .map(drop),
            Transition::ExpireLease => s
                .expire_lease(&system_ctx(), self.latest_lease(db).await)
                .await
                .map(drop),
            Transition::ExpireReservation => {
                s.expire_reservation(&system_ctx(), id).await.map(drop)
            }
            Transition::Suspend => s.suspend(&admin_ctx(), id).await.map(drop),
            Transition::Reinstate => s.reinstate(&admin_ctx(), id).await.map(drop),
            Transition::Recall => s.recall(&admin_ctx(), id).await.map(drop),
            Transition::EndQuarantine => s.end_quarantine(&system_ctx(), id).await.map(drop),
            Transition::OverrideQuarantine => s
                .override_quarantine(
                    &admin_ctx(),
                    id,
                    "MNO confirmed the number was never ported out",
                )
                .await
                .map(drop),
            Transition::Retire => s.retire(&admin_ctx(), id).await.map(drop),
        }
    }

    async fn state(&self, db: &TestDb) -> (String, i64) {
        sqlx::query_as("SELECT state::text, version FROM numbering.numbers WHERE identifier = $1 ORDER BY id DESC LIMIT 1")
            .bind(self.id.as_str())
            .fetch_one(&db.owner)
            .await
            .unwrap()
    }

    /// Ages the open quarantine so that its cool-off has been served.
    async fn serve_cool_off(&self, db: &TestDb) {
        sqlx::query(
            "UPDATE numbering.quarantine_records SET started_at = now() - interval '200 days', \
                 ends_at = now() - interval '1 second' WHERE identifier = $1 AND ended_at IS NULL",
        )
        .bind(self.id.as_str())
        .execute(&db.owner)
        .await
        .unwrap();
    }

    /// Ages the current lease past its term end.
    async fn end_term(&self, db: &TestDb) {
        sqlx::query(
            "UPDATE numbering.leases SET started_at = now() - interval '31 days', term_end = now() - interval '1 second' \
             WHERE identifier = $1 AND status = 'ACTIVE'",
        )
        .bind(self.id.as_str())
        .execute(&db.owner)
        .await
        .unwrap();
    }

    /// Ages the live reservation past its TTL.
    async fn lapse(&self, db: &TestDb) {
        sqlx::query(
            "WITH r AS (UPDATE numbering.reservations SET created_at = now() - interval '1 hour', \
                            expires_at = now() - interval '1 second' \
                        WHERE identifier = $1 AND status IN ('RESERVED', 'HELD') RETURNING number_id) \
             UPDATE numbering.numbers SET reserved_until = now() - interval '1 second' WHERE id = (SELECT number_id FROM r)",
        )
        .bind(self.id.as_str())
        .execute(&db.owner)
        .await
        .unwrap();
    }
}

async fn audit_and_events(db: &TestDb) -> (i64, i64) {
    (
        db.count("numbering.audit_log").await,
        db.count("numbering.outbox WHERE stream = 'NUMBERING_EVENTS'")
            .await,
    )
}

#[tokio::test]
async fn every_transition_writes_exactly_one_audit_entry_and_one_event() {
    let db = TestDb::new().await;
    let s = Subject::new(&db, "+93795550001").await;
    use Transition::*;
    // (transition, state after, preparation before it)
    let walk: &[(Transition, &str)] = &[
        (Reserve, "RESERVED"),
        (Hold, "HELD"),
        (Cancel, "AVAILABLE"),
        (Reserve, "RESERVED"),
        (ExpireReservation, "AVAILABLE"),
        (Reserve, "RESERVED"),
        (Assign, "ASSIGNED"),
        (Renew, "ASSIGNED"),
        (Suspend, "SUSPENDED"),
        (Reinstate, "ASSIGNED"),
        (Release, "QUARANTINED"),
        (OverrideQuarantine, "AVAILABLE"),
        (Reserve, "RESERVED"),
        (Assign, "ASSIGNED"),
        (Recall, "QUARANTINED"),
        (EndQuarantine, "AVAILABLE"),
        (Reserve, "RESERVED"),
        (Assign, "ASSIGNED"),
        (ExpireLease, "QUARANTINED"),
        (Retire, "RETIRED"),
    ];
    let mut seen = std::collections::HashSet::new();
    for (t, after) in walk {
        match t {
            ExpireReservation => s.lapse(&db).await,
            EndQuarantine => s.serve_cool_off(&db).await,
            ExpireLease => s.end_term(&db).await,
            _ => {}
        }
        let before = audit_and_events(&db).await;
        let leases_before = db
            .count("numbering.outbox WHERE stream = 'NUMBERING_LEASES'")
            .await;
        s.perform(&db, *t)
            .await
            .unwrap_or_else(|e| panic!("{}: {e:?}", t.as_str()));
        let now = audit_and_events(&db).await;
        // a change of a lease also writes its lease event, in the same transaction
        let lease_event = numbering_store::lease_event_type(*t);
        assert_eq!(
            db.count("numbering.outbox WHERE stream = 'NUMBERING_LEASES'")
                .await
                - leases_before,
            i64::from(lease_event.is_some()),
            "{}",
            t.as_str()
        );
        if let Some(lease_event) = lease_event {
            let (event_type, data): (String, serde_json::Value) = sqlx::query_as(
                "SELECT event_type, payload::jsonb FROM numbering.outbox \
                 WHERE stream = 'NUMBERING_LEASES' ORDER BY id DESC LIMIT 1",
            )
            .fetch_one(&db.owner)
            .await
            .unwrap();
            assert_eq!(event_type, lease_event);
            let lease: uuid::Uuid = sqlx::query_scalar(
                "SELECT id FROM numbering.leases WHERE identifier = $1 ORDER BY id DESC LIMIT 1",
            )
            .bind(s.id.as_str())
            .fetch_one(&db.owner)
            .await
            .unwrap();
            assert_eq!(data["lease_id"], lease.to_string(), "{data}");
            assert_eq!(data["identifier"], s.id.as_str());
            assert_eq!(data["tenant_id"], "acme", "{data}");
            assert!(
                data["term_end"].is_string() && data["started_at"].is_string(),
                "{data}"
            );
        }
        assert_eq!(
            (now.0 - before.0, now.1 - before.1),
            (1, 1),
            "{}",
            t.as_str()
        );
        assert_eq!(s.state(&db).await.0, *after, "after {}", t.as_str());
        let last: (String, String) = sqlx::query_as(
            "SELECT a.action, o.event_type FROM numbering.audit_log a, numbering.outbox o \
             WHERE o.stream = 'NUMBERING_EVENTS' ORDER BY a.id DESC, o.id DESC LIMIT 1",
        )
        .fetch_one(&db.owner)
        .await
        .unwrap();
        assert_eq!(last, (t.as_str().to_owned(), t.event_type().to_owned()));
        seen.insert(*t);
    }
    assert_eq!(
        seen.len(),
        Transition::ALL.len(),
        "the walk covers every transition"
    );
    // the override's justification is kept in the audit trail
    assert_eq!(
        db.count(
            "numbering.audit_log WHERE action = 'override_quarantine' \
                  AND after->>'justification' = 'MNO confirmed the number was never ported out'"
        )
        .await,
        1
    );
}

/// Brings a fresh subject into `state` with a history (a past reservation
/// and lease) so that every handle-based transition has a handle to try.
async fn subject_in(db: &TestDb, state: NumberState, n: usize) -> Subject {
    use Transition::*;
    let s = Subject::new(db, &format!("+937966{n:05}")).await;
    for t in [Reserve, Assign, Release, OverrideQuarantine] {
        s.perform(db, t).await.unwrap();
    }
    let path: &[Transition] = match state {
        NumberState::Available => &[],
        NumberState::Reserved => &[Reserve],
        NumberState::Held => &[Reserve, Hold],
        NumberState::Assigned => &[Reserve, Assign],
        NumberState::Suspended => &[Reserve, Assign, Suspend],
        NumberState::Quarantined => &[Reserve, Assign, Release],
        NumberState::Retired => &[Retire],
    };
    for t in path {
        s.perform(db, *t).await.unwrap();
    }
    assert_eq!(s.state(db).await.0, state.as_str());
    s
}

#[tokio::test]
async fn every_disallowed_pair_is_refused_and_leaves_the_row_untouched() {
    let db = TestDb::new().await;
    let mut tried = 0;
    for (i, state) in NumberState::ALL.into_iter().enumerate() {
        let s = subject_in(&db, state, i).await;
        for t in Transition::ALL {
            if lifecycle::next_state(state, t).is_ok() {
                continue;
            }
            let before = (s.state(&db).await, audit_and_events(&db).await);
            let ops_before = db
                .count("numbering.outbox WHERE event_type = 'numbering.ops.invalid_transition.v1'")
                .await;
            let err = s
                .perform(&db, t)
                .await
                .expect_err(&format!("{} from {state}", t.as_str()));
            let held = matches!(
                state,
                NumberState::Reserved
                    | NumberState::Held
                    | NumberState::Assigned
                    | NumberState::Suspended
            );
            match (&err, t) {
                // reserve refines the refusal: someone holds it, or it cools off
                (LifecycleError::Conflict, Transition::Reserve) if held => {}
                (LifecycleError::QuarantineActive { .. }, Transition::Reserve)
                    if state == NumberState::Quarantined => {}
                (LifecycleError::InvalidTransition(inv), _) => {
                    assert_eq!((inv.from, inv.transition), (state, t));
                    let ops = db.count("numbering.outbox WHERE event_type = 'numbering.ops.invalid_transition.v1'").await;
                    assert_eq!(
                        ops,
                        ops_before + 1,
                        "{} from {state} is recorded as an ops event",
                        t.as_str()
                    );
                }
                _ => panic!("{} from {state}: unexpected {err:?}", t.as_str()),
            }
            assert_eq!(
                (s.state(&db).await, audit_and_events(&db).await),
                before,
                "{} from {state}",
                t.as_str()
            );
            tried += 1;
        }
    }
    // 7 states × 14 transitions, less the 19 allowed (state, transition) pairs
    assert_eq!(tried, 7 * 14 - 19);
}

#[tokio::test]
async fn a_tenant_cannot_perform_a_system_or_admin_transition() {
    let db = TestDb::new().await;
    let s = subject_in(&db, NumberState::Quarantined, 0).await;
    let err = db
        .store
        .override_quarantine(
            &tenant_ctx(&s.tenant),
            &s.id,
            "I would really like it back now please",
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, LifecycleError::NotPermitted { .. }),
        "{err:?}"
    );
    assert_eq!(s.state(&db).await.0, "QUARANTINED");
}

#[tokio::test]
async fn an_override_without_a_real_justification_is_refused() {
    let db = TestDb::new().await;
    let s = subject_in(&db, NumberState::Quarantined, 0).await;
    let err = db
        .store
        .override_quarantine(&admin_ctx(), &s.id, "   because   ")
        .await
        .unwrap_err();
    assert!(matches!(err, LifecycleError::InvalidInput(_)), "{err:?}");
    assert_eq!(s.state(&db).await.0, "QUARANTINED");
}

#[tokio::test]
async fn quarantine_cannot_end_before_its_cool_off_and_refuses_its_previous_tenant() {
    let db = TestDb::new().await;
    let s = subject_in(&db, NumberState::Quarantined, 0).await;
    let err = db
        .store
        .end_quarantine(&system_ctx(), &s.id)
        .await
        .unwrap_err();
    assert!(matches!(err, LifecycleError::NotDue(_)), "{err:?}");
    // the seed's test: tenant recall and immediate re-attempt is refused
    let err = db
        .store
        .reserve(&tenant_ctx(&s.tenant), &s.tenant, &s.id)
        .await
        .unwrap_err();
    match err {
        LifecycleError::QuarantineActive { until: Some(until) } => {
            assert!(
                until > chrono::Utc::now() + chrono::Duration::days(89),
                "MSISDN cool-off is 90 days: {until}"
            )
        }
        other => panic!("{other:?}"),
    }
}
