//! The portal's wire format: request bodies (strict: unknown fields are
//! refused) and the JSON of domain values, with their JSON Schemas.

use numbering_http_edge::criteria::{self, CriteriaBody};
use numbering_store::{Available, Lease, PoolView, Reservation};
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
pub struct ReserveBody {
    pub identifier: Option<String>,
    pub criteria: Option<CriteriaBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    pub reservation_id: String,
    pub auto_renew: Option<bool>,
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
}

pub fn available_json(a: &Available) -> Value {
    json!({
        "identifier": a.identifier.as_str(),
        "kind": a.identifier.kind().as_str(),
        "operator_id": a.operator_id,
        "vanity": a.vanity,
    })
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
    })
}

pub fn pool_json(p: &PoolView) -> Value {
    json!({
        "tenant_id": p.tenant_id.as_str(),
        "status": p.status,
        "quotas": { "MSISDN": p.quotas.msisdn, "SHORT_CODE": p.quotas.short_code, "ALPHA": p.quotas.alpha },
        "usage": { "MSISDN": p.usage.msisdn, "SHORT_CODE": p.usage.short_code, "ALPHA": p.usage.alpha },
        "allowed_kinds": p.allowed_kinds,
        "allowed_operators": p.allowed_operators,
        "vanity_allowed": p.vanity_allowed,
    })
}

pub fn reserve_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false,
        "description": "exactly one of identifier or criteria",
        "properties": {
            "identifier": { "type": "string", "examples": ["+93791234567", "4455", "AcmeBank"] },
            "criteria": criteria::schema()
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

pub fn reservation_schema() -> Value {
    json!({ "type": "object", "properties": {
        "id": { "type": "string", "format": "uuid" }, "identifier": { "type": "string" },
        "kind": { "type": "string" },
        "status": { "type": "string", "enum": ["RESERVED", "HELD", "CONSUMED", "CANCELLED", "EXPIRED"] },
        "created_at": { "type": "string", "format": "date-time" },
        "expires_at": { "type": "string", "format": "date-time" },
        "held_at": { "type": ["string", "null"], "format": "date-time" },
        "ended_at": { "type": ["string", "null"], "format": "date-time" }
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
        "end_reason": { "type": ["string", "null"] }
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
        "vanity_allowed": { "type": "boolean" }
    }})
}
