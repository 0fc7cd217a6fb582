//! The admin API's request bodies (strict: unknown fields refused), their
//! conversion into store inputs, JSON Schemas, and the views of store rows
//! it answers with ([`views`]).

mod views;

use numbering_http_edge::ApiError;
use numbering_shared::{Identifier, IdentifierKind};
use numbering_store::admin::{ContractInput, OperatorInput, PoolInput, SigningKeyInput, Term};
use serde::Deserialize;
use serde_json::{Value, json};

pub use views::{AdminJson, number_json};

fn text(field: &str, v: &str, max: usize) -> Result<(), ApiError> {
    if v.trim().is_empty() || v.len() > max {
        return Err(ApiError::invalid(
            field,
            format!("{field} must be 1 to {max} characters"),
        ));
    }
    Ok(())
}

fn kind(field: &str, v: &str) -> Result<IdentifierKind, ApiError> {
    v.parse::<IdentifierKind>().map_err(|_| {
        ApiError::invalid(
            field,
            format!("{field} must be MSISDN, SHORT_CODE or ALPHA"),
        )
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorBody {
    pub name: String,
    pub mcc: String,
    pub mnc_codes: Vec<String>,
    #[serde(default)]
    pub msisdn_prefixes: Vec<String>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

impl OperatorBody {
    pub fn try_into_input(self, id: String) -> Result<OperatorInput, ApiError> {
        if !(2..=32).contains(&id.len())
            || !id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(ApiError::invalid(
                "id",
                "id must be 2 to 32 lower-case letters, digits or -",
            ));
        }
        text("name", &self.name, 200)?;
        if self.mcc.len() != 3 || !self.mcc.chars().all(|c| c.is_ascii_digit()) {
            return Err(ApiError::invalid("mcc", "mcc must be 3 digits"));
        }
        if self.mnc_codes.is_empty()
            || self
                .mnc_codes
                .iter()
                .any(|m| !(2..=3).contains(&m.len()) || !m.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(ApiError::invalid(
                "mnc_codes",
                "mnc_codes must be one or more 2-3 digit codes",
            ));
        }
        if self.msisdn_prefixes.iter().any(|p| {
            p.is_empty() || p.len() > 16 || !p.chars().all(|c| c.is_ascii_digit() || c == '+')
        }) {
            return Err(ApiError::invalid(
                "msisdn_prefixes",
                "msisdn_prefixes must be digits",
            ));
        }
        Ok(OperatorInput {
            id,
            name: self.name,
            mcc: self.mcc,
            mnc_codes: self.mnc_codes,
            msisdn_prefixes: self.msisdn_prefixes,
            active: self.active,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractBody {
    pub contract_ref: String,
    pub operator_id: Option<String>,
    pub kind: String,
    pub range_start: String,
    pub range_end: String,
    pub starts_on: chrono::NaiveDate,
    pub ends_on: Option<chrono::NaiveDate>,
}

impl ContractBody {
    pub fn try_into_input(self) -> Result<ContractInput, ApiError> {
        text("contract_ref", &self.contract_ref, 128)?;
        text("range_start", &self.range_start, 32)?;
        text("range_end", &self.range_end, 32)?;
        let term = Term::new(self.starts_on, self.ends_on)
            .ok_or_else(|| ApiError::invalid("ends_on", "ends_on must not be before starts_on"))?;
        Ok(ContractInput {
            contract_ref: self.contract_ref,
            operator_id: self.operator_id,
            kind: kind("kind", &self.kind)?,
            range: (self.range_start, self.range_end),
            term,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKeyBody {
    pub key_id: String,
    pub operator_id: Option<String>,
    pub algorithm: String,
    pub public_key_pem: String,
    pub valid_until: Option<chrono::DateTime<chrono::Utc>>,
    /// Why (the two-person rule's request; see `approvals`).
    pub justification: Option<String>,
}

impl SigningKeyBody {
    pub fn try_into_input(self) -> Result<SigningKeyInput, ApiError> {
        // refuse at install what could never verify a file: a PEM that does
        // not parse as an SPKI key of the stated algorithm
        let algorithm = numbering_import::Algorithm::parse(&self.algorithm).ok_or_else(|| {
            ApiError::invalid(
                "algorithm",
                "algorithm must be ed25519 or ecdsa-p256-sha256",
            )
        })?;
        if self.public_key_pem.len() > 4096
            || numbering_import::PublicKey::from_pem(algorithm, &self.public_key_pem).is_err()
        {
            return Err(ApiError::invalid(
                "public_key_pem",
                format!(
                    "public_key_pem must be an SPKI PEM public key (-----BEGIN PUBLIC KEY-----) of algorithm {}",
                    algorithm.as_str()
                ),
            ));
        }
        text("key_id", &self.key_id, 128)?;
        Ok(SigningKeyInput {
            key_id: self.key_id,
            operator_id: self.operator_id,
            algorithm: self.algorithm,
            public_key_pem: self.public_key_pem,
            valid_until: self.valid_until,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    pub reason: String,
    /// Why (the two-person rule's request; default: the reason).
    pub justification: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quotas {
    #[serde(rename = "MSISDN")]
    pub msisdn: u32,
    #[serde(rename = "SHORT_CODE")]
    pub short_code: u32,
    #[serde(rename = "ALPHA")]
    pub alpha: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolBody {
    pub display_name: Option<String>,
    pub segment: Option<String>,
    #[serde(default = "active")]
    pub status: String,
    pub quotas: Quotas,
    #[serde(default = "all_kinds")]
    pub allowed_kinds: Vec<String>,
    #[serde(default)]
    pub allowed_operators: Vec<String>,
    #[serde(default)]
    pub vanity_allowed: bool,
    /// Why (the two-person rule's request; see `approvals`).
    pub justification: Option<String>,
}

fn active() -> String {
    "ACTIVE".into()
}

fn all_kinds() -> Vec<String> {
    IdentifierKind::ALL
        .iter()
        .map(|k| k.as_str().to_owned())
        .collect()
}

impl PoolBody {
    pub fn try_into_input(self, tenant: &str) -> Result<PoolInput, ApiError> {
        if !matches!(self.status.as_str(), "ACTIVE" | "SUSPENDED") {
            return Err(ApiError::invalid(
                "status",
                "status must be ACTIVE or SUSPENDED",
            ));
        }
        let q = |field: &str, v: u32| {
            i32::try_from(v).map_err(|_| ApiError::invalid(field, "quota is too large"))
        };
        let kinds = self
            .allowed_kinds
            .iter()
            .map(|k| kind("allowed_kinds", k).map(|k| k.as_str().to_owned()))
            .collect::<Result<Vec<_>, _>>()?;
        let display_name = self.display_name.unwrap_or_else(|| tenant.to_owned());
        text("display_name", &display_name, 200)?;
        Ok(PoolInput {
            display_name,
            segment: self.segment,
            status: self.status,
            quota_msisdn: q("quotas.MSISDN", self.quotas.msisdn)?,
            quota_short_code: q("quotas.SHORT_CODE", self.quotas.short_code)?,
            quota_alpha: q("quotas.ALPHA", self.quotas.alpha)?,
            allowed_kinds: kinds,
            allowed_operators: self
                .allowed_operators
                .into_iter()
                .map(|o| o.to_ascii_lowercase())
                .collect(),
            vanity_allowed: self.vanity_allowed,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideBody {
    pub justification: String,
}

/// The optional body of a route that otherwise takes none (retire, recall):
/// the justification of a two-person request.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JustificationBody {
    pub justification: Option<String>,
}

numbering_http_edge::criteria_params! {
    /// `GET numbers`: the criteria, then the search's own parameters.
    pub struct SearchQuery {
        pub state: Option<String>,
        pub tenant_id: Option<String>,
        pub limit: Option<i64>,
        pub cursor: Option<String>,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitQuery {
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQueryParams {
    pub subject: Option<String>,
    pub tenant_id: Option<String>,
    pub action: Option<String>,
    pub before_id: Option<i64>,
    pub limit: Option<i64>,
}

pub fn operator_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": ["name", "mcc", "mnc_codes"], "properties": {
        "name": { "type": "string", "minLength": 1 },
        "mcc": { "type": "string", "pattern": "^[0-9]{3}$" },
        "mnc_codes": { "type": "array", "minItems": 1, "items": { "type": "string", "pattern": "^[0-9]{2,3}$" } },
        "msisdn_prefixes": { "type": "array", "items": { "type": "string" } },
        "active": { "type": "boolean" }
    }})
}

pub fn contract_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false,
        "required": ["contract_ref", "kind", "range_start", "range_end", "starts_on"], "properties": {
        "contract_ref": { "type": "string" }, "operator_id": { "type": ["string", "null"] },
        "kind": { "type": "string", "enum": ["MSISDN", "SHORT_CODE", "ALPHA"] },
        "range_start": { "type": "string" }, "range_end": { "type": "string" },
        "starts_on": { "type": "string", "format": "date" }, "ends_on": { "type": ["string", "null"], "format": "date" }
    }})
}

pub fn signing_key_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false,
        "required": ["key_id", "algorithm", "public_key_pem"], "properties": {
        "key_id": { "type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$" },
        "operator_id": { "type": ["string", "null"] },
        "algorithm": { "type": "string", "enum": ["ed25519", "ecdsa-p256-sha256"] },
        "public_key_pem": { "type": "string" },
        "valid_until": { "type": ["string", "null"], "format": "date-time" },
        "justification": { "type": "string", "minLength": 1, "maxLength": 2000,
            "description": "why: required when the two-person rule covers this action (NUMBERING_TWO_PERSON_ACTIONS)" }
    }})
}

pub fn revoke_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": ["reason"], "properties": {
        "reason": { "type": "string", "minLength": 1 },
        "justification": { "type": "string", "minLength": 1, "maxLength": 2000,
            "description": "why, for the two-person rule (default: the reason)" }
    }})
}

pub fn pool_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": ["quotas"], "properties": {
        "display_name": { "type": "string" }, "segment": { "type": ["string", "null"] },
        "status": { "type": "string", "enum": ["ACTIVE", "SUSPENDED"] },
        "quotas": { "type": "object", "additionalProperties": false, "required": ["MSISDN", "SHORT_CODE", "ALPHA"],
            "properties": { "MSISDN": { "type": "integer", "minimum": 0 }, "SHORT_CODE": { "type": "integer", "minimum": 0 },
                            "ALPHA": { "type": "integer", "minimum": 0 } } },
        "allowed_kinds": { "type": "array", "items": { "type": "string", "enum": ["MSISDN", "SHORT_CODE", "ALPHA"] } },
        "allowed_operators": { "type": "array", "items": { "type": "string" } },
        "vanity_allowed": { "type": "boolean" },
        "justification": { "type": "string", "minLength": 1, "maxLength": 2000,
            "description": "why: required when the two-person rule covers this action (NUMBERING_TWO_PERSON_ACTIONS)" }
    }})
}

pub fn override_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": ["justification"], "properties": {
        "justification": { "type": "string", "minLength": 20 }
    }})
}

/// The optional body of retire and recall.
pub fn justification_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false,
        "description": "optional (an empty body is fine where the two-person rule is off)",
        "properties": {
        "justification": { "type": "string", "minLength": 1, "maxLength": 2000,
            "description": "why: required when the two-person rule covers this action (NUMBERING_TWO_PERSON_ACTIONS)" }
    }})
}

pub fn number_schema() -> Value {
    json!({ "type": "object", "properties": {
        "identifier": { "type": "string" }, "kind": { "type": "string" }, "state": { "type": "string" },
        "tenant_id": { "type": ["string", "null"] }, "operator_id": { "type": ["string", "null"] },
        "vanity": { "type": "boolean" }, "version": { "type": "integer" },
        "links": { "type": "array", "items": { "type": "object" },
                   "description": "getNumber only: renumberings that moved this identifier to, or from, another (old_identifier, new_identifier, renumbering_id, linked_at, parallel_until)" }
    }})
}

/// `POST sender-ids`: one alphanumeric sender ID or a list of them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderIdsBody {
    pub sender_id: Option<String>,
    pub sender_ids: Option<Vec<String>>,
}

/// The most sender IDs one request registers.
pub const MAX_SENDER_IDS: usize = 1000;

impl SenderIdsBody {
    /// The sender IDs in canonical form, in the order given: each must
    /// parse as ALPHA, and no identity may repeat (`AcmeBank` and
    /// `ACMEBANK` are one sender ID).
    pub fn try_into_identifiers(self) -> Result<Vec<Identifier>, ApiError> {
        let (raw, field): (Vec<String>, fn(usize) -> String) =
            match (self.sender_id, self.sender_ids) {
                (Some(one), None) => (vec![one], |_| "sender_id".to_owned()),
                (None, Some(many)) => (many, |i| format!("sender_ids[{i}]")),
                _ => {
                    return Err(ApiError::invalid(
                        "sender_ids",
                        "give exactly one of sender_id or sender_ids",
                    ));
                }
            };
        if raw.is_empty() || raw.len() > MAX_SENDER_IDS {
            return Err(ApiError::invalid(
                "sender_ids",
                format!("sender_ids must hold 1 to {MAX_SENDER_IDS} sender IDs"),
            ));
        }
        let mut ids: Vec<Identifier> = Vec::with_capacity(raw.len());
        for (i, r) in raw.iter().enumerate() {
            let id = Identifier::parse_as(IdentifierKind::Alpha, r)
                .map_err(|e| ApiError::invalid_identifier(&field(i), e.to_string()))?;
            if let Some(j) = ids.iter().position(|o| o.key() == id.key()) {
                return Err(ApiError::invalid(
                    &field(i),
                    format!(
                        "{} repeats {} (sender IDs are case-insensitive)",
                        field(i),
                        field(j)
                    ),
                ));
            }
            ids.push(id);
        }
        Ok(ids)
    }
}

pub fn sender_ids_schema() -> Value {
    let sender_id = json!({ "type": "string", "minLength": 3, "maxLength": 11,
        "pattern": "^[A-Za-z0-9 .-]{3,11}$",
        "description": "letters, digits, space, '.' and '-'; at least one letter; case-insensitive identity" });
    json!({ "type": "object", "additionalProperties": false,
        "description": "exactly one of sender_id or sender_ids",
        "oneOf": [ { "required": ["sender_id"] }, { "required": ["sender_ids"] } ],
        "properties": {
            "sender_id": sender_id,
            "sender_ids": { "type": "array", "minItems": 1, "maxItems": MAX_SENDER_IDS, "items": sender_id }
        }
    })
}
