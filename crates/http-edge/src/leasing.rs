//! Reserve, assign and release as both APIs offer them: the tenant's own
//! portal, and a platform admin acting for a tenant (the rollback path
//! while the portal is switched off). The request bodies, the calls into
//! the store, and the JSON of a reservation and a lease with their schemas.
//! The caller chooses the audit actor through the `Ctx` it passes.

use axum::http::StatusCode;
use numbering_shared::{AccountId, Identifier, LeaseId, ReservationId, TenantId};
use numbering_store::{AssignError, Ctx, Lease, Reservation, Store};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    ApiError,
    criteria::{self, CriteriaBody},
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReserveBody {
    pub identifier: Option<String>,
    pub criteria: Option<CriteriaBody>,
    /// The account of the tenant the reservation is for (see [`account`]).
    pub account_id: Option<String>,
}

/// The stable code of a request naming an account its caller may not act
/// for (403).
pub const ACCOUNT_NOT_PERMITTED: &str = "ACCOUNT_NOT_PERMITTED";

/// The account a request acts for: `bound` is the caller's `account_id`
/// claim, `named` the account the request names (`field`: in its body or
/// query). A caller bound to an account acts for it whether or not the
/// request names it, and may name no other (403 `ACCOUNT_NOT_PERMITTED`);
/// a caller bound to none (the tenant's pool admin, a platform admin) acts
/// for the account it names, or for the whole tenant when it names none.
pub fn account(
    bound: Option<&AccountId>,
    named: Option<&str>,
    field: &str,
) -> Result<Option<AccountId>, ApiError> {
    let named = named
        .map(|raw| {
            AccountId::parse(raw).map_err(|e| ApiError::invalid(field, format!("{field}: {e}")))
        })
        .transpose()?;
    match (bound, named) {
        (Some(b), Some(n)) if *b != n => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ACCOUNT_NOT_PERMITTED,
            format!("this token acts for account {b} only, not {n}"),
        )
        .field(field)),
        (Some(b), _) => Ok(Some(b.clone())),
        (None, named) => Ok(named),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    pub reservation_id: String,
    pub auto_renew: Option<bool>,
}

/// Reserves the identifier `body` names, or any available one matching its
/// criteria, for `tenant` (and the account the body names, if any).
pub async fn reserve(
    store: &Store,
    ctx: &Ctx,
    tenant: &TenantId,
    body: ReserveBody,
) -> Result<Reservation, ApiError> {
    reserve_as(store, ctx, tenant, None, body).await
}

/// [`reserve`] by a caller `bound` to one account (its `account_id`
/// claim), checked by [`account`].
pub async fn reserve_as(
    store: &Store,
    ctx: &Ctx,
    tenant: &TenantId,
    bound: Option<&AccountId>,
    body: ReserveBody,
) -> Result<Reservation, ApiError> {
    let account = account(bound, body.account_id.as_deref(), "account_id")?;
    let account = account.as_ref();
    Ok(match (body.identifier, body.criteria) {
        (Some(raw), None) => {
            let id = identifier("identifier", &raw)?;
            store.reserve_for(ctx, tenant, account, &id).await?
        }
        (None, Some(c)) => {
            let c = c.criteria("criteria.")?;
            store.reserve_any_for(ctx, tenant, account, &c).await?
        }
        _ => {
            return Err(ApiError::invalid(
                "identifier",
                "give exactly one of identifier or criteria",
            ));
        }
    })
}

/// Turns `tenant`'s reservation into a lease; an ALPHA sender id needs the
/// registry's yes first (SPEC §2).
pub async fn assign(
    state: &crate::ApiState,
    ctx: &Ctx,
    tenant: &TenantId,
    body: AssignBody,
) -> Result<Lease, ApiError> {
    let id = ReservationId::parse(&body.reservation_id).map_err(|_| {
        ApiError::invalid("reservation_id", "reservation_id is not a reservation id")
    })?;
    let auto_renew = body.auto_renew.unwrap_or(true);
    let registry = state.edge.registry.as_ref();
    numbering_store::assign_verified(&state.store, registry, ctx, tenant, id, auto_renew)
        .await
        .map_err(assign_problem)
}

fn assign_problem(e: AssignError) -> ApiError {
    match e {
        AssignError::NotVerified { alpha_id } => ApiError::new(
            StatusCode::FORBIDDEN,
            "SENDER_ID_NOT_VERIFIED",
            format!("the sender-id registry has not verified {alpha_id} for this tenant"),
        ),
        AssignError::RegistryUnavailable(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SENDER_ID_REGISTRY_UNAVAILABLE",
            "the sender-id registry could not be asked; an ALPHA sender id cannot be assigned now, retry later",
        ),
        AssignError::Lifecycle(e) => ApiError::from(e),
    }
}

/// Releases `tenant`'s lease `raw` (an unparsable id is not found).
pub async fn release(
    store: &Store,
    ctx: &Ctx,
    tenant: &TenantId,
    raw: &str,
) -> Result<Lease, ApiError> {
    Ok(store.release(ctx, tenant, lease_id(raw)?).await?)
}

pub fn identifier(field: &str, raw: &str) -> Result<Identifier, ApiError> {
    Identifier::parse(raw).map_err(|e| ApiError::invalid_identifier(field, e.to_string()))
}

pub fn lease_id(raw: &str) -> Result<LeaseId, ApiError> {
    LeaseId::parse(raw).map_err(|_| ApiError::not_found("lease"))
}

pub fn reservation_json(r: &Reservation) -> Value {
    json!({
        "id": r.id.to_string(),
        "identifier": r.identifier.as_str(),
        "kind": r.identifier.kind().as_str(),
        "status": r.status.as_str(),
        "created_at": r.created_at,
        "expires_at": r.expires_at,
        "held_at": r.held_at,
        "ended_at": r.ended_at,
        "account_id": r.account_id.as_ref().map(AccountId::as_str),
    })
}

pub fn lease_json(l: &Lease) -> Value {
    json!({
        "id": l.id.to_string(),
        "identifier": l.identifier.as_str(),
        "kind": l.identifier.kind().as_str(),
        "reservation_id": l.reservation_id.map(|r| r.to_string()),
        "status": l.status.as_str(),
        "auto_renew": l.auto_renew,
        "started_at": l.started_at,
        "term_end": l.term_end,
        "renewals": l.renewals,
        "ended_at": l.ended_at,
        "end_reason": l.end_reason.map(|r| r.as_str()),
        "account_id": l.account_id.as_ref().map(AccountId::as_str),
    })
}

pub fn reserve_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false,
        "description": "exactly one of identifier or criteria",
        "properties": {
            "identifier": { "type": "string", "examples": ["+93791234567", "4455", "AcmeBank"] },
            "criteria": criteria::schema(),
            "account_id": account_id_schema("the tenant's account the reservation is for (counted in its sub-quota and in the tenant's). A token with an account_id claim reserves for that account and may name no other (403 ACCOUNT_NOT_PERMITTED); a token without one may name any account of the pool, or none (tenant-wide). An account the pool does not have: 403 NOT_ALLOWED")
        },
        "oneOf": [ { "required": ["identifier"] }, { "required": ["criteria"] } ]
    })
}

pub fn assign_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": ["reservation_id"], "properties": {
        "reservation_id": { "type": "string", "format": "uuid" },
        "auto_renew": { "type": "boolean", "default": true }
    }})
}

pub fn reservation_schema() -> Value {
    json!({ "type": "object", "properties": {
        "id": { "type": "string", "format": "uuid" }, "identifier": { "type": "string" },
        "kind": { "type": "string" },
        "status": { "type": "string", "enum": ["RESERVED", "HELD", "CONSUMED", "CANCELLED", "EXPIRED"] },
        "created_at": { "type": "string", "format": "date-time" },
        "expires_at": { "type": "string", "format": "date-time" },
        "held_at": { "type": ["string", "null"], "format": "date-time" },
        "ended_at": { "type": ["string", "null"], "format": "date-time" },
        "account_id": { "type": ["string", "null"], "description": "the account it was made for; null: tenant-wide" }
    }})
}

pub fn lease_schema() -> Value {
    json!({ "type": "object", "properties": {
        "id": { "type": "string", "format": "uuid" }, "identifier": { "type": "string" },
        "kind": { "type": "string" }, "reservation_id": { "type": ["string", "null"] },
        "status": { "type": "string", "enum": ["ACTIVE", "SUSPENDED", "ENDED"] },
        "auto_renew": { "type": "boolean" },
        "started_at": { "type": "string", "format": "date-time" },
        "term_end": { "type": "string", "format": "date-time" },
        "renewals": { "type": "integer" },
        "ended_at": { "type": ["string", "null"], "format": "date-time" },
        "end_reason": { "type": ["string", "null"] },
        "account_id": { "type": ["string", "null"], "description": "the account it was leased for (its reservation's); null: tenant-wide" }
    }})
}

/// The schema of an account id, described.
pub fn account_id_schema(description: &str) -> Value {
    json!({ "type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$", "description": description })
}
