//! The audit entry and outbox event that accompany every state change,
//! written together in one statement inside the change's transaction.

use chrono::{DateTime, Utc};
use numbering_shared::{ActorKind, NumberState, TenantId, Transition};
use serde_json::{Value, json};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::model::NumberRow;

/// Who asked for a change, as the audit trail records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    kind: ActorKind,
    label: String,
}

impl Actor {
    /// A tenant's user (the JWT `sub`) acting within its tenant.
    pub fn tenant(tenant: &TenantId, subject: &str) -> Self {
        Self {
            kind: ActorKind::Tenant,
            label: format!("tenant:{}:{}", tenant.as_str(), subject),
        }
    }
    /// A platform admin (the JWT `sub`).
    pub fn admin(subject: &str) -> Self {
        Self {
            kind: ActorKind::Admin,
            label: format!("admin:{subject}"),
        }
    }
    /// A system component such as the sweeper or an event consumer.
    pub fn system(component: &str) -> Self {
        Self {
            kind: ActorKind::System,
            label: format!("system:{component}"),
        }
    }
    pub fn kind(&self) -> ActorKind {
        self.kind
    }
    pub fn label(&self) -> &str {
        &self.label
    }
}

/// The actor, request id and trace id of one operation.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub actor: Actor,
    pub request_id: Option<String>,
    /// The request's OpenTelemetry trace id (32 hex digits), when it has
    /// one: recorded as `trace_id` in the audit entry's `after` and in the
    /// events' data, so that a change can be followed from the request
    /// into the event its consumers receive.
    pub trace_id: Option<String>,
    /// How a dangerous admin action was authorised, merged into its audit
    /// entry's `after`: the two-person approval (`approval`: id, requester,
    /// approver, justification; set by [`crate::Store::approve`]) or
    /// `two_person_rule: "off"` (a deployment that turned the rule off).
    pub audit_facts: Option<Value>,
}

impl Ctx {
    pub fn new(actor: Actor) -> Self {
        Self {
            actor,
            request_id: None,
            trace_id: None,
            audit_facts: None,
        }
    }
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }
    pub fn with_trace_id(mut self, trace_id: Option<String>) -> Self {
        self.trace_id = trace_id;
        self
    }
    pub fn with_audit_facts(mut self, facts: Value) -> Self {
        self.audit_facts = Some(facts);
        self
    }
}

/// One lifecycle transition of one identifier, as recorded.
pub(crate) struct Change<'a> {
    pub transition: Transition,
    pub number: &'a NumberRow,
    pub from: NumberState,
    pub to: NumberState,
    pub new_version: i64,
    /// The tenant the change concerns: the holder before or after it.
    pub tenant_id: Option<&'a str>,
    /// Extra facts (reservation id, lease id, quarantine end, justification …).
    pub details: Value,
    /// The lease the change starts, extends, suspends, reinstates or ends,
    /// as it is after the change: its `lease.*` event
    /// (stream `NUMBERING_LEASES`) goes out with the number's.
    pub lease: Option<LeaseFacts>,
}

/// A lease as its `lease.*` event describes it (after the change).
pub(crate) struct LeaseFacts {
    pub id: Uuid,
    pub status: &'static str,
    pub started_at: DateTime<Utc>,
    pub term_end: DateTime<Utc>,
    pub auto_renew: bool,
    /// When and why it ended (release, recall, expiry).
    pub ended: Option<(DateTime<Utc>, &'static str)>,
}

impl LeaseFacts {
    /// `lease` as it is after `transition`, which happens at `now` (the
    /// transaction's clock, as the database stamps the row).
    pub(crate) fn after(
        transition: Transition,
        lease: &crate::model::LeaseRow,
        now: DateTime<Utc>,
    ) -> Self {
        let ended = transition.quarantine_reason().map(|r| (now, r.as_str()));
        let status = match (transition, ended) {
            (_, Some(_)) => "ENDED",
            (Transition::Suspend, _) => "SUSPENDED",
            (Transition::Reinstate, _) => "ACTIVE",
            _ => lease_status(&lease.status),
        };
        Self {
            id: lease.id,
            status,
            started_at: lease.started_at,
            term_end: lease.term_end,
            auto_renew: lease.auto_renew,
            ended,
        }
    }
}

fn lease_status(status: &str) -> &'static str {
    match status {
        "SUSPENDED" => "SUSPENDED",
        "ENDED" => "ENDED",
        _ => "ACTIVE",
    }
}

/// The `lease.*` event type of a transition that changes a lease
/// (stream `NUMBERING_LEASES`, schemas in `docs/events/`).
pub fn lease_event_type(transition: Transition) -> Option<&'static str> {
    Some(match transition {
        Transition::Assign => "lease.assigned.v1",
        Transition::Renew => "lease.renewed.v1",
        Transition::Release => "lease.released.v1",
        Transition::Suspend => "lease.suspended.v1",
        Transition::Reinstate => "lease.reinstated.v1",
        Transition::Recall => "lease.recalled.v1",
        Transition::ExpireLease => "lease.expired.v1",
        _ => return None,
    })
}

/// The audit entry's `before` / `after` and the outbox events' types and
/// payloads of a change, as JSON text: the number's event first, then the
/// lease's, if the change concerns a lease.
pub(crate) struct Entry {
    pub before: String,
    pub after: String,
    pub event_types: Vec<&'static str>,
    pub payloads: Vec<String>,
}

impl Change<'_> {
    pub(crate) fn entry(&self, ctx: &Ctx) -> Entry {
        let n = self.number;
        let before = json!({
            "state": self.from.as_str(),
            "tenant_id": n.tenant_id,
            "version": n.version,
        });
        let mut after = json!({
            "state": self.to.as_str(),
            "version": self.new_version,
        });
        merge(&mut after, &self.details);
        with_trace_id(&mut after, ctx);
        with_audit_facts(&mut after, ctx);
        let mut data = json!({
            "identifier": n.identifier,
            "kind": n.kind,
            "transition": self.transition.as_str(),
            "from_state": self.from.as_str(),
            "to_state": self.to.as_str(),
            "version": self.new_version,
            "tenant_id": self.tenant_id,
            "actor": ctx.actor.label(),
            "request_id": ctx.request_id,
        });
        merge(&mut data, &self.details);
        with_trace_id(&mut data, ctx);
        let mut event_types = vec![self.transition.event_type()];
        let mut payloads = vec![data.to_string()];
        if let (Some(l), Some(event_type)) = (&self.lease, lease_event_type(self.transition)) {
            event_types.push(event_type);
            let mut lease = json!({
                    "lease_id": l.id.to_string(),
                    "tenant_id": self.tenant_id,
                    "identifier": n.identifier,
                    "kind": n.kind,
                    "transition": self.transition.as_str(),
                    "status": l.status,
                    "started_at": l.started_at,
                    "term_end": l.term_end,
                    "auto_renew": l.auto_renew,
                    "ended_at": l.ended.map(|(at, _)| at),
                    "end_reason": l.ended.map(|(_, reason)| reason),
                    "number_version": self.new_version,
                    "actor": ctx.actor.label(),
                    "request_id": ctx.request_id,
            });
            // the account a new lease is for (assign), when it has one
            if let Some(account) = self.details.get("account_id") {
                lease["account_id"] = account.clone();
            }
            with_trace_id(&mut lease, ctx);
            payloads.push(lease.to_string());
        }
        Entry {
            before: before.to_string(),
            after: after.to_string(),
            event_types,
            payloads,
        }
    }
}

impl Entry {
    /// One new event id per event.
    pub(crate) fn event_ids(&self) -> Vec<Uuid> {
        self.event_types.iter().map(|_| Uuid::now_v7()).collect()
    }
}

/// Pushes the CTEs `audit` and `event` of `change` onto `q`, binding their
/// values: the audit entry, then the number's event on `NUMBERING_EVENTS`
/// and a lease's on `NUMBERING_LEASES`, inserted in that order. With a
/// `gate` (a CTE that returns one row when the change happened), both are
/// `… FROM gate`: nothing is recorded when it returns none.
pub(crate) fn push_entry<'a>(
    q: &mut QueryBuilder<'a, Postgres>,
    ctx: &'a Ctx,
    change: &Change<'a>,
    gate: Option<&str>,
) {
    let entry = change.entry(ctx);
    let event_ids = entry.event_ids();
    let n = change.number;
    q.push(
        "audit AS (INSERT INTO numbering.audit_log \
         (actor, action, tenant_id, subject, before, after, request_id) SELECT ",
    );
    q.push_bind(ctx.actor.label())
        .push(", ")
        .push_bind(change.transition.as_str())
        .push(", ")
        .push_bind(change.tenant_id)
        .push(", ")
        .push_bind(&n.identifier)
        .push(", ")
        .push_bind(entry.before)
        .push("::json, ")
        .push_bind(entry.after)
        .push("::json, ")
        .push_bind(ctx.request_id.as_deref());
    if let Some(gate) = gate {
        q.push(" FROM ").push(gate);
    }
    q.push(
        "), event AS (INSERT INTO numbering.outbox \
         (event_id, stream, event_type, aggregate_type, aggregate_id, tenant_id, payload) \
         SELECT e.id, CASE WHEN e.type LIKE 'lease.%' THEN 'NUMBERING_LEASES' ELSE 'NUMBERING_EVENTS' END, e.type, \
         CASE WHEN e.type LIKE 'lease.%' THEN 'lease' ELSE 'number' END, ",
    );
    q.push_bind(&n.identifier)
        .push(", ")
        .push_bind(change.tenant_id)
        .push(", e.payload::json FROM ");
    if let Some(gate) = gate {
        q.push(gate).push(", ");
    }
    q.push("UNNEST(")
        .push_bind(event_ids)
        .push("::uuid[], ")
        .push_bind(entry.event_types)
        .push("::text[], ")
        .push_bind(entry.payloads)
        .push("::text[]) WITH ORDINALITY AS e(id, type, payload, ord) ORDER BY e.ord)");
}

/// Appends the audit entry and the outbox event of `change` (for a change
/// whose row was written by another statement; lifecycle transitions write
/// all three in one, see `lifecycle::write::commit_change`).
pub(crate) async fn record(
    conn: &mut PgConnection,
    ctx: &Ctx,
    change: Change<'_>,
) -> Result<(), sqlx::Error> {
    let mut q = QueryBuilder::new("WITH ");
    push_entry(&mut q, ctx, &change, None);
    q.push(" SELECT 1");
    q.build().execute(conn).await?;
    Ok(())
}

/// Appends an audit entry for an admin action that is not a lifecycle
/// transition (pool changes, key installs …).
pub async fn record_admin_action(
    conn: &mut PgConnection,
    ctx: &Ctx,
    action: &str,
    subject: &str,
    tenant_id: Option<&str>,
    before: Option<&Value>,
    after: Option<&Value>,
) -> Result<(), sqlx::Error> {
    let after = after.map(|a| {
        let mut a = a.clone();
        with_audit_facts(&mut a, ctx);
        a
    });
    sqlx::query(
        "INSERT INTO numbering.audit_log (actor, action, tenant_id, subject, before, after, request_id) \
         VALUES ($1, $2, $3, $4, $5::json, $6::json, $7)",
    )
    .bind(ctx.actor.label())
    .bind(action)
    .bind(tenant_id)
    .bind(subject)
    .bind(before.map(Value::to_string))
    .bind(after.as_ref().map(Value::to_string))
    .bind(ctx.request_id.as_deref())
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a refused transition as an ops event, so that "zero unexpected
/// INVALID_TRANSITION events" can be counted. Written on the refused
/// transition's own connection (in its transaction, which is then
/// committed: the refused change itself wrote nothing), so that a refusal
/// never waits for a second pooled connection while it holds one.
pub(crate) async fn record_invalid_transition(
    conn: &mut PgConnection,
    ctx: &Ctx,
    subject: &str,
    from: NumberState,
    transition: Transition,
) -> Result<(), sqlx::Error> {
    metrics::counter!("numbering_invalid_transitions_total", "transition" => transition.as_str())
        .increment(1);
    let data = json!({
        "identifier": subject,
        "from_state": from.as_str(),
        "transition": transition.as_str(),
        "actor": ctx.actor.label(),
        "request_id": ctx.request_id,
    });
    sqlx::query(
        "INSERT INTO numbering.outbox (event_id, stream, event_type, aggregate_type, aggregate_id, payload) \
         VALUES ($1, 'NUMBERING_OPS', 'numbering.ops.invalid_transition.v1', 'number', $2, $3::json)",
    )
    .bind(Uuid::now_v7())
    .bind(subject)
    .bind(data.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// Adds the request's `trace_id` to `v`, when it has one (absent
/// otherwise, as before traces).
fn with_trace_id(v: &mut Value, ctx: &Ctx) {
    if let (Some(id), Some(obj)) = (&ctx.trace_id, v.as_object_mut()) {
        obj.insert("trace_id".to_owned(), json!(id));
    }
}

/// Adds how the action was authorised ([`Ctx::audit_facts`]), when known.
fn with_audit_facts(v: &mut Value, ctx: &Ctx) {
    if let Some(facts) = &ctx.audit_facts {
        merge(v, facts);
    }
}

fn merge(into: &mut Value, extra: &Value) {
    if let (Some(into), Some(extra)) = (into.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            into.insert(k.clone(), v.clone());
        }
    }
}
