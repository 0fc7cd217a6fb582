//! Accounts inside a tenant's pool as both APIs show and set them: the
//! body that sets an account's sub-quotas, and the JSON of an account with
//! its quotas and usage, with their schemas.

use numbering_shared::{AccountId, Quotas, Usage};
use numbering_store::AccountUsage;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ApiError;

/// `PUT …/accounts/{account_id}`: the account's quota per kind (every kind,
/// PUT semantics).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountQuotasBody {
    pub quotas: QuotasBody,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotasBody {
    #[serde(rename = "MSISDN")]
    pub msisdn: i64,
    #[serde(rename = "SHORT_CODE")]
    pub short_code: i64,
    #[serde(rename = "ALPHA")]
    pub alpha: i64,
}

/// The most an account quota may be (the database stores an `integer`).
const MAX_QUOTA: i64 = i32::MAX as i64;

impl AccountQuotasBody {
    /// The quotas, each from 0 to 2^31 - 1.
    pub fn quotas(&self) -> Result<Quotas, ApiError> {
        let q = |field: &str, v: i64| {
            u32::try_from(v)
                .ok()
                .filter(|v| i64::from(*v) <= MAX_QUOTA)
                .ok_or_else(|| {
                    ApiError::invalid(
                        &format!("quotas.{field}"),
                        format!("quotas.{field} must be between 0 and {MAX_QUOTA}"),
                    )
                })
        };
        Ok(Quotas {
            msisdn: q("MSISDN", self.quotas.msisdn)?,
            short_code: q("SHORT_CODE", self.quotas.short_code)?,
            alpha: q("ALPHA", self.quotas.alpha)?,
        })
    }
}

/// An account id from a request path (one that cannot be an account id:
/// 422 naming `account_id`).
pub fn account_id(raw: &str) -> Result<AccountId, ApiError> {
    AccountId::parse(raw).map_err(|e| ApiError::invalid("account_id", e.to_string()))
}

fn per_kind_quotas(q: &Quotas) -> Value {
    json!({ "MSISDN": q.msisdn, "SHORT_CODE": q.short_code, "ALPHA": q.alpha })
}

fn per_kind_usage(u: &Usage) -> Value {
    json!({ "MSISDN": u.msisdn, "SHORT_CODE": u.short_code, "ALPHA": u.alpha })
}

pub fn account_json(a: &AccountUsage) -> Value {
    json!({
        "account_id": a.account_id.as_str(),
        "quotas": per_kind_quotas(&a.quotas),
        "usage": per_kind_usage(&a.usage),
    })
}

fn per_kind_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false,
        "required": ["MSISDN", "SHORT_CODE", "ALPHA"], "properties": {
        "MSISDN": { "type": "integer", "minimum": 0, "maximum": MAX_QUOTA },
        "SHORT_CODE": { "type": "integer", "minimum": 0, "maximum": MAX_QUOTA },
        "ALPHA": { "type": "integer", "minimum": 0, "maximum": MAX_QUOTA } } })
}

/// The body of `PUT …/accounts/{account_id}`.
pub fn account_quotas_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": ["quotas"],
        "description": "the account's quota per kind; its reservations and leases count in these and in the tenant's, and both limits hold",
        "properties": { "quotas": per_kind_schema() } })
}

/// One account with its sub-quotas and usage (live reservations, holds and
/// current leases made for it).
pub fn account_schema() -> Value {
    json!({ "type": "object", "properties": {
        "account_id": { "type": "string" },
        "quotas": per_kind_schema(),
        "usage": per_kind_schema()
    }})
}
