//! The audit trail's record of an admin write: the JSON of the row before
//! and after it, as `record_admin_action` stores it (the `json` bytes the
//! audit chain hashes).
//!
//! The shape is the one the SQL projections (`json_build_object`) gave
//! these rows before they were typed, and stays so: the same member names,
//! nulls, and Postgres' JSON text of dates and timestamps
//! ([`date_text`], [`timestamp_text`]), which the admin API answers with
//! too.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use serde_json::{Value, json};

use super::{Contract, Operator, SigningKey, TenantPool};

/// A row the audit trail records as JSON.
pub(crate) trait Snapshot {
    fn snapshot(&self) -> Value;
}

/// The year as Postgres writes it, and its era suffix (` BC` for year
/// 0 and before: 1 BC is year 0).
fn era(year: i32) -> (i32, &'static str) {
    if year > 0 {
        (year, "")
    } else {
        (1 - year, " BC")
    }
}

/// A date as Postgres' JSON writes it: `2026-06-01`.
pub fn date_text(d: NaiveDate) -> String {
    let (year, bc) = era(d.year());
    format!("{year:04}-{:02}-{:02}{bc}", d.month(), d.day())
}

/// A timestamp as Postgres' JSON writes a `timestamptz` in a UTC session
/// (sqlx's connections are): `2026-06-01T12:00:00.1234+00:00`, the
/// microseconds without trailing zeros.
pub fn timestamp_text(at: &DateTime<Utc>) -> String {
    let (year, bc) = era(at.year());
    let micros = at.timestamp_subsec_micros();
    let fraction = if micros == 0 {
        String::new()
    } else {
        format!(".{micros:06}").trim_end_matches('0').to_owned()
    };
    format!(
        "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}{fraction}+00:00{bc}",
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

fn opt_timestamp(at: Option<&DateTime<Utc>>) -> Option<String> {
    at.map(timestamp_text)
}

impl Snapshot for Operator {
    fn snapshot(&self) -> Value {
        let o = &self.spec;
        json!({
            "id": o.id, "name": o.name, "mcc": o.mcc, "mnc_codes": o.mnc_codes,
            "msisdn_prefixes": o.msisdn_prefixes, "active": o.active,
            "created_at": timestamp_text(&self.created_at),
        })
    }
}

impl Snapshot for Contract {
    fn snapshot(&self) -> Value {
        let c = &self.spec;
        json!({
            "id": self.id, "contract_ref": c.contract_ref, "operator_id": c.operator_id,
            "kind": c.kind.as_str(), "range_start": c.range.0, "range_end": c.range.1,
            "starts_on": date_text(c.term.starts_on()), "ends_on": c.term.ends_on().map(date_text),
            "status": self.status, "version": self.version,
            "ended_at": opt_timestamp(self.ended_at.as_ref()), "end_reason": self.end_reason,
            "created_at": timestamp_text(&self.created_at),
        })
    }
}

impl Snapshot for SigningKey {
    fn snapshot(&self) -> Value {
        let k = &self.spec;
        json!({
            "key_id": k.key_id, "operator_id": k.operator_id, "algorithm": k.algorithm,
            "public_key_pem": k.public_key_pem, "valid_from": timestamp_text(&self.valid_from),
            "valid_until": opt_timestamp(k.valid_until.as_ref()),
            "revoked_at": opt_timestamp(self.revoked_at.as_ref()),
            "revocation_reason": self.revocation_reason,
            "created_at": timestamp_text(&self.created_at),
        })
    }
}

impl Snapshot for TenantPool {
    fn snapshot(&self) -> Value {
        let p = &self.spec;
        json!({
            "tenant_id": self.tenant_id.as_str(), "display_name": p.display_name,
            "segment": p.segment, "status": p.status,
            "quotas": { "MSISDN": p.quota_msisdn, "SHORT_CODE": p.quota_short_code, "ALPHA": p.quota_alpha },
            "allowed_kinds": p.allowed_kinds, "allowed_operators": p.allowed_operators,
            "vanity_allowed": p.vanity_allowed,
            "created_at": timestamp_text(&self.created_at), "updated_at": timestamp_text(&self.updated_at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn timestamps_are_written_as_postgres_json_writes_them() {
        assert_eq!(
            timestamp_text(&at("2026-06-01T12:00:00Z")),
            "2026-06-01T12:00:00+00:00"
        );
        assert_eq!(
            timestamp_text(&at("2026-06-01T12:00:00.120000Z")),
            "2026-06-01T12:00:00.12+00:00"
        );
        assert_eq!(
            timestamp_text(&at("2026-06-01T02:03:04.000001+02:00")),
            "2026-06-01T00:03:04.000001+00:00"
        );
        assert_eq!(
            timestamp_text(&at("0000-06-01T00:00:00Z")),
            "0001-06-01T00:00:00+00:00 BC"
        );
    }

    #[test]
    fn dates_are_written_as_postgres_json_writes_them() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(date_text(d(2026, 6, 1)), "2026-06-01");
        assert_eq!(date_text(d(12, 1, 31)), "0012-01-31");
        assert_eq!(date_text(d(12345, 1, 31)), "12345-01-31");
        assert_eq!(date_text(d(0, 3, 15)), "0001-03-15 BC");
    }
}
