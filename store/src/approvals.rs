//! Two-person approvals of dangerous admin actions (table `approvals`).
//!
//! One admin's request of a dangerous action does not change anything: it
//! records a PENDING approval ([`Store::request_approval`]) with the
//! action's name, its [`Target`] and the target's version at that moment,
//! the request as JSON, the requester's justification and subject, and an
//! expiry. A second admin applies it ([`Store::approve`]): in the request's
//! unit of work (one transaction, see [`crate::uow`]) the approval row is
//! locked and checked (still PENDING, not expired, not the requester's own,
//! target unchanged), then the action runs through the very store function
//! it uses without the rule, with a context that puts the approval into
//! its audit entry (`after.approval`: id, action, requester, approver,
//! justification), then the row moves PENDING → APPLIED with its event. A
//! refusal writes nothing. Others may reject with a reason
//! ([`Store::reject_approval`]); the requester may withdraw
//! ([`Store::withdraw_approval`]). Each step is audited (`approval.*`; the
//! approval's own is the action's entry) and publishes
//! `numbering.approval.<step>.v1` on `NUMBERING_AUDIT`.
//!
//! A PENDING approval past `expires_at` reads as EXPIRED everywhere (the
//! database clock decides), and can no longer be approved, rejected or
//! withdrawn; [`Store::expire_approvals`] only records that.
//!
//! The database holds the invariants: one of five statuses, moved once out
//! of PENDING (trigger `approvals_status_transition`), never decided by the
//! requester (`approvals_approver_not_requester`), the decision's fields
//! present exactly when the status says (`approvals_decision_matches_status`),
//! a non-empty justification, an expiry after the request, nothing of the
//! request rewritten (`approvals_immutable`), visible only in the platform
//! scope (row-level security).
//!
//! A new kind of target is a new [`Target`] variant with its version query
//! in [`Target::version`]; which actions need two persons is the admin
//! API's business (`numbering_admin_api`'s `approvals` module).

use chrono::{DateTime, Utc};
use numbering_shared::{Identifier, TenantId};
use serde_json::{Value, json};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::{
    Store,
    record::{Ctx, record_admin_action},
    scope::{self, Scope},
};

/// What a dangerous action acts on; its version when the request was made
/// decides whether an approval is stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An identifier in inventory: its row's `version`.
    Number(Identifier),
    /// A tenant's pool: the row's whole content.
    Pool(TenantId),
    /// An MNO signing key: the row's whole content, or its absence (an
    /// install).
    SigningKey(String),
    /// A lease contract: its row's `version` (its status changes).
    Contract(uuid::Uuid),
    /// A renumbering plan: its status (an apply waits on a PLANNED plan).
    Renumbering(uuid::Uuid),
}

impl Target {
    /// `target_kind` as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Number(_) => "number",
            Target::Pool(_) => "pool",
            Target::SigningKey(_) => "signing_key",
            Target::Contract(_) => "contract",
            Target::Renumbering(_) => "renumbering",
        }
    }

    /// `target_id` as stored.
    pub fn id(&self) -> String {
        match self {
            Target::Number(i) => i.as_str().to_owned(),
            Target::Pool(t) => t.as_str().to_owned(),
            Target::SigningKey(k) => k.clone(),
            Target::Contract(c) => c.to_string(),
            Target::Renumbering(id) => id.to_string(),
        }
    }

    /// The target's version now (`absent` when it does not exist).
    async fn version(&self, conn: &mut PgConnection) -> Result<String, sqlx::Error> {
        let (sql, key) = match self {
            Target::Number(i) => (
                "SELECT coalesce((SELECT n.version::text FROM numbering.numbers n \
                 WHERE n.identity_key = $1 ORDER BY (n.state = 'RETIRED'), n.id DESC LIMIT 1), 'absent')",
                i.key(),
            ),
            Target::Pool(t) => (
                "SELECT coalesce((SELECT md5(p::text) FROM numbering.tenant_pools p \
                 WHERE p.tenant_id = $1), 'absent')",
                t.as_str().to_owned(),
            ),
            Target::SigningKey(k) => (
                "SELECT coalesce((SELECT md5(k::text) FROM numbering.mno_signing_keys k \
                 WHERE k.key_id = $1), 'absent')",
                k.clone(),
            ),
            Target::Contract(c) => (
                "SELECT coalesce((SELECT c.version::text FROM numbering.lease_contracts c \
                 WHERE c.id::text = $1), 'absent')",
                c.to_string(),
            ),
            Target::Renumbering(id) => (
                "SELECT coalesce((SELECT r.status::text FROM numbering.renumberings r \
                 WHERE r.id::text = $1), 'absent')",
                id.to_string(),
            ),
        };
        sqlx::query_scalar(sql).bind(key).fetch_one(conn).await
    }
}

/// A dangerous action one admin asks for.
#[derive(Debug, Clone)]
pub struct NewApproval<'a> {
    /// The action's name (`quarantine.override`, `number.retire`, …).
    pub action: &'a str,
    pub target: &'a Target,
    /// The tenant the action concerns, if any.
    pub tenant_id: Option<&'a str>,
    /// The request, as the action's applier reads it back.
    pub payload: Value,
    /// Why (required, 1 to 2000 characters).
    pub justification: &'a str,
    /// The requester's subject (the token's `sub`).
    pub requested_by: &'a str,
    /// How long it may wait for a second admin.
    pub ttl: chrono::Duration,
}

/// An approval as stored; `status` is as of now (a PENDING one past its
/// expiry reads EXPIRED).
#[derive(Debug, Clone, FromRow)]
pub struct Approval {
    pub id: Uuid,
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    pub target_version: String,
    pub tenant_id: Option<String>,
    pub payload: Value,
    pub justification: String,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub request_id: Option<String>,
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_reason: Option<String>,
}

impl Approval {
    /// The approval as its audit entries and events describe it.
    pub fn to_json(&self) -> Value {
        json!({
            "approval_id": self.id.to_string(),
            "action": self.action,
            "target_kind": self.target_kind,
            "target_id": self.target_id,
            "tenant_id": self.tenant_id,
            "status": self.status,
            "justification": self.justification,
            "requested_by": self.requested_by,
            "requested_at": self.requested_at,
            "expires_at": self.expires_at,
            "decided_by": self.decided_by,
            "decided_at": self.decided_at,
            "decision_reason": self.decision_reason,
        })
    }

    /// What the applied action's audit entry records of this approval
    /// (under `after.approval`), approved by `approver`.
    fn facts(&self, approver: &str) -> Value {
        json!({ "approval": {
            "id": self.id.to_string(),
            "action": self.action,
            "requested_by": self.requested_by,
            "approved_by": approver,
            "justification": self.justification,
            "requested_at": self.requested_at,
        }})
    }
}

/// Why an approval step did not happen. Every variant but `Database` and
/// `OutsideUnitOfWork` is the caller's business and has a stable `code()`.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("approval not found")]
    NotFound,
    /// The identifier a request names is not in inventory.
    #[error("identifier not found")]
    TargetNotFound,
    #[error("the requester of an approval cannot decide it; another admin must")]
    SameApprover,
    #[error("only the requester can withdraw an approval")]
    NotRequester,
    #[error("the approval expired at {0}")]
    Expired(DateTime<Utc>),
    #[error("the target changed since the approval was requested; request it again")]
    Stale,
    #[error("the approval is already {0}")]
    AlreadyDecided(String),
    #[error("{detail}")]
    Invalid {
        field: &'static str,
        detail: &'static str,
    },
    #[error("an approval is applied only in a request's unit of work")]
    OutsideUnitOfWork,
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

impl ApprovalError {
    /// The stable, machine-readable code the edges put in problem+json.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound | Self::TargetNotFound => "NOT_FOUND",
            Self::SameApprover => "SAME_APPROVER",
            Self::NotRequester => "NOT_REQUESTER",
            Self::Expired(_) => "APPROVAL_EXPIRED",
            Self::Stale => "APPROVAL_STALE",
            Self::AlreadyDecided(_) => "APPROVAL_ALREADY_DECIDED",
            Self::Invalid { .. } => "VALIDATION_FAILED",
            Self::OutsideUnitOfWork | Self::Database(_) => "INTERNAL",
        }
    }
}

/// An approval step's failure, or the approved action's own.
#[derive(Debug)]
pub enum ApproveError<E> {
    Approval(ApprovalError),
    Action(E),
}

impl<E> From<ApprovalError> for ApproveError<E> {
    fn from(e: ApprovalError) -> Self {
        Self::Approval(e)
    }
}

impl<E> From<sqlx::Error> for ApproveError<E> {
    fn from(e: sqlx::Error) -> Self {
        Self::Approval(e.into())
    }
}

type Result<T, E = ApprovalError> = std::result::Result<T, E>;

/// The columns of an [`Approval`], its status as of now (a literal, for `concat!`).
macro_rules! approval_columns {
    () => {
        "id, action, target_kind, target_id, target_version, tenant_id, payload, justification, \
         requested_by, requested_at, expires_at, request_id, \
         CASE WHEN status = 'PENDING' AND expires_at <= now() THEN 'EXPIRED' ELSE status END AS status, \
         decided_by, decided_at, decision_reason"
    };
}

const LOCKED: &str = concat!(
    "SELECT ",
    approval_columns!(),
    " FROM numbering.approvals WHERE id = $1 FOR UPDATE"
);
const ONE: &str = concat!(
    "SELECT ",
    approval_columns!(),
    " FROM numbering.approvals WHERE id = $1"
);
const LIST: &str = concat!(
    "SELECT * FROM (SELECT ",
    approval_columns!(),
    " FROM numbering.approvals) a WHERE ($1::text IS NULL OR a.status = $1) \
     ORDER BY a.requested_at DESC, a.id DESC LIMIT $2"
);
const INSERT: &str = concat!(
    "INSERT INTO numbering.approvals (id, action, target_kind, target_id, target_version, \
       tenant_id, payload, justification, requested_by, expires_at, request_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now() + $10::interval, $11) RETURNING ",
    approval_columns!()
);
const DECIDE: &str = concat!(
    "UPDATE numbering.approvals SET status = $2, decided_by = $3, decided_at = now(), \
       decision_reason = $4 \
     WHERE id = $1 AND status = 'PENDING' RETURNING ",
    approval_columns!()
);

impl Store {
    /// Records `new` as a PENDING approval, with its audit entry
    /// (`approval.requested`) and event.
    pub async fn request_approval(&self, ctx: &Ctx, new: &NewApproval<'_>) -> Result<Approval> {
        let justification = new.justification.trim();
        if justification.is_empty() || justification.chars().count() > 2000 {
            return Err(ApprovalError::Invalid {
                field: "justification",
                detail: "a justification of 1 to 2000 characters is required",
            });
        }
        if new.ttl <= chrono::Duration::zero() {
            return Err(ApprovalError::Invalid {
                field: "ttl",
                detail: "the expiry must be in the future",
            });
        }
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let version = new.target.version(&mut tx).await?;
        // every action on a number needs it (pools and keys may be new)
        if matches!(new.target, Target::Number(_)) && version == "absent" {
            return Err(ApprovalError::TargetNotFound);
        }
        let ttl = format!("{} seconds", new.ttl.num_seconds().max(1));
        let a: Approval = sqlx::query_as(INSERT)
            .bind(Uuid::now_v7())
            .bind(new.action)
            .bind(new.target.kind())
            .bind(new.target.id())
            .bind(version)
            .bind(new.tenant_id)
            .bind(&new.payload)
            .bind(justification)
            .bind(new.requested_by)
            .bind(ttl)
            .bind(ctx.request_id.as_deref())
            .fetch_one(&mut *tx)
            .await?;
        step_recorded(&mut tx, ctx, "requested", None, &a).await?;
        tx.commit().await?;
        Ok(a)
    }

    /// One approval, if it exists.
    pub async fn approval(&self, id: Uuid) -> Result<Option<Approval>> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let a = sqlx::query_as(ONE)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(a)
    }

    /// Approvals with `status` (as of now; `None`: any), newest first.
    pub async fn approvals(&self, status: Option<&str>, limit: i64) -> Result<Vec<Approval>> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let rows = sqlx::query_as(LIST)
            .bind(status)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// `approver` approves `id`, and the action is applied: `apply` runs it
    /// through its own store function (on this store) with the context it
    /// is given, `ctx` carrying the approval for the action's audit entry.
    /// Refused, with nothing written, when the approval is not PENDING, is
    /// the approver's own, has expired, or its target has moved.
    ///
    /// Three steps of the request's unit of work, and so one transaction:
    /// the approval row is locked (until the commit) and checked, the
    /// action applied, the row marked APPLIED with its event. The action
    /// failing leaves the approval PENDING. Outside a unit of work the
    /// steps would commit apart, so it refuses to run.
    pub async fn approve<T, E>(
        &self,
        ctx: &Ctx,
        id: Uuid,
        approver: &str,
        apply: impl AsyncFnOnce(&Ctx, &Approval) -> Result<T, E>,
    ) -> Result<(Approval, T), ApproveError<E>> {
        if self.uow.is_none() {
            return Err(ApprovalError::OutsideUnitOfWork.into());
        }
        let a = self.lock_for_approval(id, approver).await?;
        let mut applied_ctx = ctx.clone();
        applied_ctx.audit_facts = Some(a.facts(approver));
        let out = apply(&applied_ctx, &a)
            .await
            .map_err(ApproveError::Action)?;
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let done = decide(&mut tx, &a, "APPLIED", approver, None)
            .await?
            .ok_or_else(|| ApprovalError::AlreadyDecided(a.status.clone()))?;
        insert_event(&mut tx, ctx, "approved", &done).await?;
        tx.commit().await?;
        Ok((done, out))
    }

    /// Locks `id` and checks that `approver` may apply it now.
    async fn lock_for_approval(&self, id: Uuid, approver: &str) -> Result<Approval> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let a = pending(&mut tx, id).await?;
        if a.requested_by == approver {
            return Err(ApprovalError::SameApprover);
        }
        let target = target_of(&a)?;
        if target.version(&mut tx).await? != a.target_version {
            return Err(ApprovalError::Stale);
        }
        tx.commit().await?;
        Ok(a)
    }

    /// `by`, another admin than the requester, rejects `id` with `reason`.
    pub async fn reject_approval(
        &self,
        ctx: &Ctx,
        id: Uuid,
        by: &str,
        reason: &str,
    ) -> Result<Approval> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 1000 {
            return Err(ApprovalError::Invalid {
                field: "reason",
                detail: "reason must be 1 to 1000 characters",
            });
        }
        self.close(ctx, id, by, "REJECTED", Some(reason)).await
    }

    /// The requester, `by`, withdraws `id`.
    pub async fn withdraw_approval(&self, ctx: &Ctx, id: Uuid, by: &str) -> Result<Approval> {
        self.close(ctx, id, by, "WITHDRAWN", None).await
    }

    /// Marks the PENDING approvals past their expiry EXPIRED, each with
    /// its audit entry and event (they read as EXPIRED already); how many.
    pub async fn expire_approvals(&self, ctx: &Ctx) -> Result<usize> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let expired: Vec<Approval> = sqlx::query_as(concat!(
            "UPDATE numbering.approvals SET status = 'EXPIRED', decided_at = now() \
             WHERE id IN (SELECT id FROM numbering.approvals \
               WHERE status = 'PENDING' AND expires_at <= now() FOR UPDATE SKIP LOCKED) \
             RETURNING ",
            approval_columns!()
        ))
        .fetch_all(&mut *tx)
        .await?;
        for a in &expired {
            step_recorded(&mut tx, ctx, "expired", None, a).await?;
        }
        tx.commit().await?;
        Ok(expired.len())
    }

    /// Rejects or withdraws `id` as `by`.
    async fn close(
        &self,
        ctx: &Ctx,
        id: Uuid,
        by: &str,
        status: &'static str,
        reason: Option<&str>,
    ) -> Result<Approval> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let a = pending(&mut tx, id).await?;
        match status {
            "WITHDRAWN" if a.requested_by != by => return Err(ApprovalError::NotRequester),
            "REJECTED" if a.requested_by == by => return Err(ApprovalError::SameApprover),
            _ => {}
        }
        let done = decide(&mut tx, &a, status, by, reason)
            .await?
            .ok_or_else(|| ApprovalError::AlreadyDecided(a.status.clone()))?;
        let step = if status == "REJECTED" {
            "rejected"
        } else {
            "withdrawn"
        };
        step_recorded(&mut tx, ctx, step, Some(&a), &done).await?;
        tx.commit().await?;
        Ok(done)
    }
}

/// The approval `id`, locked, if it is still PENDING and not expired.
async fn pending(conn: &mut PgConnection, id: Uuid) -> Result<Approval> {
    let a: Approval = sqlx::query_as(LOCKED)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(ApprovalError::NotFound)?;
    match a.status.as_str() {
        "PENDING" => Ok(a),
        "EXPIRED" => Err(ApprovalError::Expired(a.expires_at)),
        other => Err(ApprovalError::AlreadyDecided(other.to_owned())),
    }
}

/// The [`Target`] an approval names.
fn target_of(a: &Approval) -> Result<Target> {
    let corrupt = || {
        ApprovalError::Database(sqlx::Error::ColumnDecode {
            index: "target_id".into(),
            source: format!("{} {}", a.target_kind, a.target_id).into(),
        })
    };
    Ok(match a.target_kind.as_str() {
        "number" => Target::Number(Identifier::parse(&a.target_id).map_err(|_| corrupt())?),
        "pool" => Target::Pool(TenantId::parse(&a.target_id).map_err(|_| corrupt())?),
        "signing_key" => Target::SigningKey(a.target_id.clone()),
        "contract" => Target::Contract(a.target_id.parse().map_err(|_| corrupt())?),
        "renumbering" => Target::Renumbering(Uuid::parse_str(&a.target_id).map_err(|_| corrupt())?),
        _ => return Err(corrupt()),
    })
}

/// Moves `a` from PENDING to `status`, decided by `by`; `None` if it was
/// no longer PENDING.
async fn decide(
    conn: &mut PgConnection,
    a: &Approval,
    status: &str,
    by: &str,
    reason: Option<&str>,
) -> Result<Option<Approval>, sqlx::Error> {
    sqlx::query_as(DECIDE)
        .bind(a.id)
        .bind(status)
        .bind(by)
        .bind(reason)
        .fetch_optional(conn)
        .await
}

/// The audit entry (`approval.<step>`) and the event of one step.
async fn step_recorded(
    conn: &mut PgConnection,
    ctx: &Ctx,
    step: &str,
    before: Option<&Approval>,
    after: &Approval,
) -> Result<(), sqlx::Error> {
    record_admin_action(
        &mut *conn,
        ctx,
        &format!("approval.{step}"),
        &after.id.to_string(),
        after.tenant_id.as_deref(),
        before.map(Approval::to_json).as_ref(),
        Some(&after.to_json()),
    )
    .await?;
    insert_event(conn, ctx, step, after).await
}

/// The `numbering.approval.<step>.v1` event of `a` (stream `NUMBERING_AUDIT`).
async fn insert_event(
    conn: &mut PgConnection,
    ctx: &Ctx,
    step: &str,
    a: &Approval,
) -> Result<(), sqlx::Error> {
    let event_type = match step {
        "requested" => "numbering.approval.requested.v1",
        "approved" => "numbering.approval.approved.v1",
        "rejected" => "numbering.approval.rejected.v1",
        "withdrawn" => "numbering.approval.withdrawn.v1",
        _ => "numbering.approval.expired.v1",
    };
    let mut data = a.to_json();
    data["actor"] = json!(ctx.actor.label());
    data["request_id"] = json!(ctx.request_id);
    sqlx::query(
        "INSERT INTO numbering.outbox (event_id, stream, event_type, aggregate_type, aggregate_id, tenant_id, payload) \
         VALUES ($1, 'NUMBERING_AUDIT', $2, 'approval', $3, $4, $5::json)",
    )
    .bind(Uuid::now_v7())
    .bind(event_type)
    .bind(a.id.to_string())
    .bind(a.tenant_id.as_deref())
    .bind(data.to_string())
    .execute(conn)
    .await?;
    Ok(())
}
