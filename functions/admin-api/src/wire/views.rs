//! What the admin API answers: a `Serialize` view of each store row.
//!
//! Every answer goes out through a `serde_json::Value` ([`AdminJson`]),
//! whose objects keep their members sorted by name, so the JSON is the
//! one these routes have always answered: the same members, nulls and
//! order, and the text Postgres' JSON gave dates and timestamps
//! ([`Stamp`], [`Day`]); the store's audit snapshots of the same rows use
//! that text too. Only the number records of the transitions keep chrono's
//! RFC 3339 text (`…Z`), as they always have.

use chrono::{DateTime, NaiveDate, Utc};
use numbering_shared::Identifier;
use numbering_store::{
    NumberRecord,
    admin::{
        AuditEntry, Contract, InventoryEntry, Operator, QuarantineEntry, SigningKey, TenantPool,
        date_text, timestamp_text,
    },
};
use serde::{Serialize, Serializer};
use serde_json::Value;
use uuid::Uuid;

/// A value as the admin API answers it.
pub trait AdminJson {
    fn into_json(self) -> Value;
}

impl AdminJson for Value {
    fn into_json(self) -> Value {
        self
    }
}

fn json(view: impl Serialize) -> Value {
    serde_json::to_value(view).expect("a view has only string keys")
}

/// A timestamp in the text Postgres' JSON gives it (`…+00:00`).
#[derive(Debug, Clone, Copy)]
pub struct Stamp(pub DateTime<Utc>);

impl Serialize for Stamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&timestamp_text(&self.0))
    }
}

/// A date in the text Postgres' JSON gives it.
#[derive(Debug, Clone, Copy)]
pub struct Day(pub NaiveDate);

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&date_text(self.0))
    }
}

fn stamp(at: Option<DateTime<Utc>>) -> Option<Stamp> {
    at.map(Stamp)
}

#[derive(Serialize)]
struct OperatorView<'a> {
    id: &'a str,
    name: &'a str,
    mcc: &'a str,
    mnc_codes: &'a [String],
    msisdn_prefixes: &'a [String],
    active: bool,
    created_at: Stamp,
}

impl AdminJson for Operator {
    fn into_json(self) -> Value {
        let o = &self.spec;
        json(OperatorView {
            id: &o.id,
            name: &o.name,
            mcc: &o.mcc,
            mnc_codes: &o.mnc_codes,
            msisdn_prefixes: &o.msisdn_prefixes,
            active: o.active,
            created_at: Stamp(self.created_at),
        })
    }
}

#[derive(Serialize)]
struct ContractView<'a> {
    id: Uuid,
    contract_ref: &'a str,
    operator_id: Option<&'a str>,
    kind: &'static str,
    range_start: &'a str,
    range_end: &'a str,
    starts_on: Day,
    ends_on: Option<Day>,
    status: &'a str,
    version: i64,
    ended_at: Option<Stamp>,
    end_reason: Option<&'a str>,
    created_at: Stamp,
}

impl AdminJson for Contract {
    fn into_json(self) -> Value {
        let c = &self.spec;
        json(ContractView {
            id: self.id,
            contract_ref: &c.contract_ref,
            operator_id: c.operator_id.as_deref(),
            kind: c.kind.as_str(),
            range_start: &c.range.0,
            range_end: &c.range.1,
            starts_on: Day(c.term.starts_on()),
            ends_on: c.term.ends_on().map(Day),
            status: &self.status,
            version: self.version,
            ended_at: stamp(self.ended_at),
            end_reason: self.end_reason.as_deref(),
            created_at: Stamp(self.created_at),
        })
    }
}

#[derive(Serialize)]
struct SigningKeyView<'a> {
    key_id: &'a str,
    operator_id: Option<&'a str>,
    algorithm: &'a str,
    public_key_pem: &'a str,
    valid_from: Stamp,
    valid_until: Option<Stamp>,
    revoked_at: Option<Stamp>,
    revocation_reason: Option<&'a str>,
    created_at: Stamp,
}

impl AdminJson for SigningKey {
    fn into_json(self) -> Value {
        let k = &self.spec;
        json(SigningKeyView {
            key_id: &k.key_id,
            operator_id: k.operator_id.as_deref(),
            algorithm: &k.algorithm,
            public_key_pem: &k.public_key_pem,
            valid_from: Stamp(self.valid_from),
            valid_until: stamp(k.valid_until),
            revoked_at: stamp(self.revoked_at),
            revocation_reason: self.revocation_reason.as_deref(),
            created_at: Stamp(self.created_at),
        })
    }
}

/// Per-kind quotas, keyed by kind name.
#[derive(Serialize)]
struct QuotasView {
    #[serde(rename = "MSISDN")]
    msisdn: i32,
    #[serde(rename = "SHORT_CODE")]
    short_code: i32,
    #[serde(rename = "ALPHA")]
    alpha: i32,
}

#[derive(Serialize)]
struct TenantPoolView<'a> {
    tenant_id: &'a str,
    display_name: &'a str,
    segment: Option<&'a str>,
    status: &'a str,
    quotas: QuotasView,
    allowed_kinds: &'a [String],
    allowed_operators: &'a [String],
    vanity_allowed: bool,
    created_at: Stamp,
    updated_at: Stamp,
}

impl AdminJson for TenantPool {
    fn into_json(self) -> Value {
        let p = &self.spec;
        json(TenantPoolView {
            tenant_id: self.tenant_id.as_str(),
            display_name: &p.display_name,
            segment: p.segment.as_deref(),
            status: &p.status,
            quotas: QuotasView {
                msisdn: p.quota_msisdn,
                short_code: p.quota_short_code,
                alpha: p.quota_alpha,
            },
            allowed_kinds: &p.allowed_kinds,
            allowed_operators: &p.allowed_operators,
            vanity_allowed: p.vanity_allowed,
            created_at: Stamp(self.created_at),
            updated_at: Stamp(self.updated_at),
        })
    }
}

/// An inventory record. `T` is the text of its timestamps: chrono's for
/// the records the transitions answer with, [`Stamp`] for the search's,
/// which also show `state_changed_at`.
#[derive(Serialize)]
struct NumberView<'a, T> {
    identifier: &'a str,
    kind: &'static str,
    state: &'static str,
    tenant_id: Option<&'a str>,
    reserved_until: Option<T>,
    operator_id: Option<&'a str>,
    mcc: Option<&'a str>,
    mnc: Option<&'a str>,
    vanity: bool,
    version: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_changed_at: Option<T>,
}

impl<'a, T> NumberView<'a, T> {
    fn new(n: &'a NumberRecord, reserved_until: Option<T>, state_changed_at: Option<T>) -> Self {
        Self {
            identifier: n.identifier.as_str(),
            kind: n.identifier.kind().as_str(),
            state: n.state.as_str(),
            tenant_id: n.tenant_id.as_ref().map(|t| t.as_str()),
            reserved_until,
            operator_id: n.operator_id.as_deref(),
            mcc: n.mcc.as_deref(),
            mnc: n.mnc.as_deref(),
            vanity: n.vanity,
            version: n.version,
            state_changed_at,
        }
    }
}

/// The JSON the admin API shows for a number record (the transitions').
pub fn number_json(n: &NumberRecord) -> Value {
    json(NumberView::<DateTime<Utc>>::new(n, n.reserved_until, None))
}

impl AdminJson for InventoryEntry {
    fn into_json(self) -> Value {
        let n = &self.number;
        json(NumberView::new(
            n,
            stamp(n.reserved_until),
            Some(Stamp(self.state_changed_at)),
        ))
    }
}

#[derive(Serialize)]
struct QuarantineView<'a> {
    id: Uuid,
    identifier: &'a str,
    kind: &'static str,
    previous_tenant_id: &'a str,
    lease_id: Option<String>,
    reason: &'static str,
    started_at: Stamp,
    ends_at: Stamp,
}

impl AdminJson for QuarantineEntry {
    fn into_json(self) -> Value {
        let id: &Identifier = &self.identifier;
        json(QuarantineView {
            id: self.id,
            identifier: id.as_str(),
            kind: id.kind().as_str(),
            previous_tenant_id: self.previous_tenant_id.as_str(),
            lease_id: self.lease_id.map(|l| l.to_string()),
            reason: self.reason.as_str(),
            started_at: Stamp(self.started_at),
            ends_at: Stamp(self.ends_at),
        })
    }
}

#[derive(Serialize)]
struct AuditView<'a> {
    id: i64,
    occurred_at: Stamp,
    actor: &'a str,
    action: &'a str,
    tenant_id: Option<&'a str>,
    subject: Option<&'a str>,
    before: Option<&'a Value>,
    after: Option<&'a Value>,
    request_id: Option<&'a str>,
}

impl AdminJson for AuditEntry {
    fn into_json(self) -> Value {
        json(AuditView {
            id: self.id,
            occurred_at: Stamp(self.occurred_at),
            actor: &self.actor,
            action: &self.action,
            tenant_id: self.tenant_id.as_deref(),
            subject: self.subject.as_deref(),
            before: self.before.as_ref(),
            after: self.after.as_ref(),
            request_id: self.request_id.as_deref(),
        })
    }
}
