//! The audit entry and outbox event that accompany every state change,
//! written together in one statement inside the change's transaction.

use numbering_shared::{ActorKind, NumberState, TenantId, Transition};
use serde_json::{Value, json};
use sqlx::PgConnection;
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

/// The actor and request id of one operation.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub actor: Actor,
    pub request_id: Option<String>,
}

impl Ctx {
    pub fn new(actor: Actor) -> Self {
        Self {
            actor,
            request_id: None,
        }
    }
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
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
}

/// The audit entry's `before` / `after` and the outbox event's payload of
/// a change, as JSON text.
pub(crate) struct Entry {
    pub before: String,
    pub after: String,
    pub data: String,
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
        Entry {
            before: before.to_string(),
            after: after.to_string(),
            data: data.to_string(),
        }
    }
}

/// Appends the audit entry and the outbox event of `change` (for a change
/// whose row was written by another statement; lifecycle transitions write
/// all three in one, see `Store::commit_change`).
pub(crate) async fn record(
    conn: &mut PgConnection,
    ctx: &Ctx,
    change: Change<'_>,
) -> Result<(), sqlx::Error> {
    let Entry {
        before,
        after,
        data,
    } = change.entry(ctx);
    let n = change.number;
    sqlx::query(
        "WITH audit AS ( \
             INSERT INTO numbering.audit_log (actor, action, tenant_id, subject, before, after, request_id) \
             VALUES ($1, $2, $3, $4, $5::json, $6::json, $7)) \
         INSERT INTO numbering.outbox (event_id, stream, event_type, aggregate_type, aggregate_id, tenant_id, payload) \
         VALUES ($8, 'NUMBERING_EVENTS', $9, 'number', $4, $3, $10::json)",
    )
    .bind(ctx.actor.label())
    .bind(change.transition.as_str())
    .bind(change.tenant_id)
    .bind(&n.identifier)
    .bind(before)
    .bind(after)
    .bind(ctx.request_id.as_deref())
    .bind(Uuid::now_v7())
    .bind(change.transition.event_type())
    .bind(data)
    .execute(conn)
    .await?;
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
    sqlx::query(
        "INSERT INTO numbering.audit_log (actor, action, tenant_id, subject, before, after, request_id) \
         VALUES ($1, $2, $3, $4, $5::json, $6::json, $7)",
    )
    .bind(ctx.actor.label())
    .bind(action)
    .bind(tenant_id)
    .bind(subject)
    .bind(before.map(Value::to_string))
    .bind(after.map(Value::to_string))
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

fn merge(into: &mut Value, extra: &Value) {
    if let (Some(into), Some(extra)) = (into.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            into.insert(k.clone(), v.clone());
        }
    }
}
