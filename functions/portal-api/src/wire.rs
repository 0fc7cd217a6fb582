//! The portal's wire format: request bodies (strict: unknown fields are
//! refused) and the JSON of domain values, with their JSON Schemas.

use numbering_http_edge::accounts::{account_json, account_schema};
use numbering_shared::AccountId;
use numbering_store::{Available, PoolView};

// shared with the admin API acting for a tenant
pub use numbering_http_edge::leasing::{
    AssignBody, ReserveBody, assign_schema, lease_json, lease_schema, reservation_json,
    reservation_schema, reserve_schema,
};
use serde::Deserialize;
use serde_json::{Value, json};

numbering_http_edge::criteria_params! {
    /// `GET available`: the criteria, then the page.
    pub struct BrowseQuery {
        pub limit: Option<i64>,
        pub cursor: Option<String>,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateLeaseBody {
    pub auto_renew: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeasesQuery {
    pub status: Option<String>,
    pub limit: Option<i64>,
    pub account_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReservationsQuery {
    pub status: Option<String>,
    pub limit: Option<i64>,
    pub account_id: Option<String>,
}

pub fn available_json(a: &Available) -> Value {
    json!({
        "identifier": a.identifier.as_str(),
        "kind": a.identifier.kind().as_str(),
        "operator_id": a.operator_id,
        "vanity": a.vanity,
    })
}

/// The pool view; a caller bound to an account (`only`) sees that
/// account's line alone among the accounts.
pub fn pool_json(p: &PoolView, only: Option<&AccountId>) -> Value {
    let accounts: Vec<Value> = p
        .accounts
        .iter()
        .filter(|a| only.is_none_or(|o| *o == a.account_id))
        .map(account_json)
        .collect();
    json!({
        "tenant_id": p.tenant_id.as_str(),
        "status": p.status,
        "quotas": { "MSISDN": p.quotas.msisdn, "SHORT_CODE": p.quotas.short_code, "ALPHA": p.quotas.alpha },
        "usage": { "MSISDN": p.usage.msisdn, "SHORT_CODE": p.usage.short_code, "ALPHA": p.usage.alpha },
        "allowed_kinds": p.allowed_kinds,
        "allowed_operators": p.allowed_operators,
        "vanity_allowed": p.vanity_allowed,
        "accounts": accounts,
    })
}

pub fn update_lease_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": ["auto_renew"], "properties": {
        "auto_renew": { "type": "boolean" }
    }})
}

pub fn available_schema() -> Value {
    json!({ "type": "object", "properties": {
        "identifier": { "type": "string" }, "kind": { "type": "string" },
        "operator_id": { "type": ["string", "null"] }, "vanity": { "type": "boolean" }
    }})
}

pub fn pool_schema() -> Value {
    let per_kind = json!({ "type": "object", "properties": {
        "MSISDN": { "type": "integer" }, "SHORT_CODE": { "type": "integer" }, "ALPHA": { "type": "integer" } } });
    json!({ "type": "object", "properties": {
        "tenant_id": { "type": "string" }, "status": { "type": "string" },
        "quotas": per_kind, "usage": per_kind,
        "allowed_kinds": { "type": "array", "items": { "type": "string" } },
        "allowed_operators": { "type": "array", "items": { "type": "string" } },
        "vanity_allowed": { "type": "boolean" },
        "accounts": { "type": "array", "items": account_schema(),
            "description": "the pool's accounts with their sub-quotas and usage (counted in the tenant's usage too); a token bound to an account sees its own only" }
    }})
}
