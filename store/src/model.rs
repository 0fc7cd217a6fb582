//! Rows as the store returns them, parsed into domain types on the way out.

use chrono::{DateTime, Utc};
use numbering_shared::{
    AccountId, Identifier, IdentifierKind, LeaseId, NumberState, QuarantineReason, ReservationId,
    TenantId, admission::Candidate,
};
use std::str::FromStr;

use crate::LifecycleError;

macro_rules! status_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }
        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }
        impl FromStr for $name {
            type Err = LifecycleError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(LifecycleError::Corrupt(format!(concat!("unknown ", stringify!($name), " {}"), other))),
                }
            }
        }
    };
}

status_enum!(
    /// `numbering.reservation_status`: RESERVED and HELD are live.
    ReservationStatus { Reserved => "RESERVED", Held => "HELD", Consumed => "CONSUMED", Cancelled => "CANCELLED", Expired => "EXPIRED" }
);
status_enum!(
    /// `numbering.lease_status`: ACTIVE and SUSPENDED are current.
    LeaseStatus { Active => "ACTIVE", Suspended => "SUSPENDED", Ended => "ENDED" }
);

impl ReservationStatus {
    pub fn is_live(self) -> bool {
        matches!(self, Self::Reserved | Self::Held)
    }
}

pub(crate) fn parse<T: FromStr>(what: &str, s: &str) -> Result<T, LifecycleError> {
    s.parse()
        .map_err(|_| LifecycleError::Corrupt(format!("{what} {s:?}")))
}

pub(crate) fn identifier(kind: &str, s: &str) -> Result<Identifier, LifecycleError> {
    let kind: IdentifierKind = parse("identifier kind", kind)?;
    Identifier::parse_as(kind, s)
        .map_err(|e| LifecycleError::Corrupt(format!("identifier {s:?}: {e}")))
}

pub(crate) fn tenant(s: &str) -> Result<TenantId, LifecycleError> {
    TenantId::parse(s).map_err(|e| LifecycleError::Corrupt(format!("tenant id {s:?}: {e}")))
}

pub(crate) fn account(s: Option<&str>) -> Result<Option<AccountId>, LifecycleError> {
    s.map(|s| {
        AccountId::parse(s).map_err(|e| LifecycleError::Corrupt(format!("account id {s:?}: {e}")))
    })
    .transpose()
}

/// The inventory row of one identifier, locked for the transaction that read it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct NumberRow {
    pub id: i64,
    pub identifier: String,
    pub kind: String,
    pub state: String,
    pub tenant_id: Option<String>,
    pub reserved_until: Option<DateTime<Utc>>,
    pub version: i64,
    /// The database clock at read time: the one clock every expiry uses.
    pub now: DateTime<Utc>,
    /// Where it routes and whether it is vanity: what pool admission and
    /// Lookup read, never what a transition changes.
    #[sqlx(flatten)]
    pub placement: Placement,
}

/// The operator facts and vanity flag of an identifier in inventory.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub(crate) struct Placement {
    pub operator_id: Option<String>,
    pub mcc: Option<String>,
    pub mnc: Option<String>,
    pub vanity: bool,
}

/// The columns of a [`NumberRow`] (`numbering.numbers` aliased `n`), as a
/// literal for `concat!` into fixed statements.
macro_rules! number_columns {
    () => {
        "n.id, n.identifier, n.kind::text AS kind, n.state::text AS state, \
         n.tenant_id, n.reserved_until, n.operator_id, n.mcc, n.mnc, n.vanity, n.version, now() AS now"
    };
}
pub(crate) use number_columns;

pub(crate) const NUMBER_COLUMNS: &str = number_columns!();

impl NumberRow {
    pub fn state(&self) -> Result<NumberState, LifecycleError> {
        parse("number state", &self.state)
    }
    pub fn kind(&self) -> Result<IdentifierKind, LifecycleError> {
        parse("identifier kind", &self.kind)
    }
    /// The state as of `now`: a lapsed reservation reads as AVAILABLE.
    pub fn effective_state(&self) -> Result<NumberState, LifecycleError> {
        Ok(numbering_shared::lifecycle::effective_state(
            self.state()?,
            self.reserved_until,
            self.now,
        ))
    }
    /// What pool admission looks at.
    pub fn candidate(&self) -> Result<Candidate<'_>, LifecycleError> {
        Ok(Candidate {
            kind: self.kind()?,
            operator_id: self.placement.operator_id.as_deref(),
            vanity: self.placement.vanity,
        })
    }
    /// The record the APIs show, with the effective state.
    pub fn into_record(self) -> Result<NumberRecord, LifecycleError> {
        let state = self.effective_state()?;
        let Placement {
            operator_id,
            mcc,
            mnc,
            vanity,
        } = self.placement;
        Ok(NumberRecord {
            identifier: identifier(&self.kind, &self.identifier)?,
            state,
            tenant_id: self.tenant_id.as_deref().map(tenant).transpose()?,
            reserved_until: self.reserved_until,
            operator_id,
            mcc,
            mnc,
            vanity,
            version: self.version,
        })
    }
}

/// What the admin inventory and Lookup see of an identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberRecord {
    pub identifier: Identifier,
    pub state: NumberState,
    pub tenant_id: Option<TenantId>,
    pub reserved_until: Option<DateTime<Utc>>,
    pub operator_id: Option<String>,
    pub mcc: Option<String>,
    pub mnc: Option<String>,
    pub vanity: bool,
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub id: ReservationId,
    pub identifier: Identifier,
    pub tenant_id: TenantId,
    pub status: ReservationStatus,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub held_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// The account it was made for (`None`: tenant-wide).
    pub account_id: Option<AccountId>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ReservationRow {
    pub id: uuid::Uuid,
    pub identifier: String,
    pub kind: String,
    pub tenant_id: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub held_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub account_id: Option<String>,
    pub now: DateTime<Utc>,
}

/// The columns of a [`ReservationRow`] (`numbering.reservations` aliased
/// `r`), as a literal for `concat!` into fixed statements.
macro_rules! reservation_columns {
    () => {
        "r.id, r.identifier, r.kind::text AS kind, r.tenant_id, \
         r.status::text AS status, r.created_at, r.expires_at, r.held_at, r.ended_at, r.account_id, \
         now() AS now"
    };
}
pub(crate) use reservation_columns;

impl ReservationRow {
    pub fn status(&self) -> Result<ReservationStatus, LifecycleError> {
        self.status.parse()
    }
    pub fn into_domain(self) -> Result<Reservation, LifecycleError> {
        Ok(Reservation {
            id: ReservationId::from_uuid(self.id),
            identifier: identifier(&self.kind, &self.identifier)?,
            tenant_id: tenant(&self.tenant_id)?,
            status: self.status.parse()?,
            created_at: self.created_at,
            expires_at: self.expires_at,
            held_at: self.held_at,
            ended_at: self.ended_at,
            account_id: account(self.account_id.as_deref())?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub id: LeaseId,
    pub identifier: Identifier,
    pub tenant_id: TenantId,
    pub reservation_id: Option<ReservationId>,
    pub status: LeaseStatus,
    pub auto_renew: bool,
    pub started_at: DateTime<Utc>,
    pub term_end: DateTime<Utc>,
    pub renewals: i32,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<QuarantineReason>,
    /// Who suspended it (an actor label), while SUSPENDED.
    pub suspended_by: Option<String>,
    /// The account it was leased for (`None`: tenant-wide).
    pub account_id: Option<AccountId>,
}

impl Lease {
    /// Suspended by a system component (billing delinquency): what a
    /// payment may lift. An admin's suspension is lifted by an admin only.
    pub fn suspended_by_system(&self) -> bool {
        self.status == LeaseStatus::Suspended
            && self
                .suspended_by
                .as_deref()
                .is_some_and(|a| a.starts_with("system:"))
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct LeaseRow {
    pub id: uuid::Uuid,
    pub number_id: i64,
    pub identifier: String,
    pub kind: String,
    pub tenant_id: String,
    pub reservation_id: Option<uuid::Uuid>,
    pub status: String,
    pub auto_renew: bool,
    pub started_at: DateTime<Utc>,
    pub term_end: DateTime<Utc>,
    pub renewals: i32,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
    pub suspended_by: Option<String>,
    pub account_id: Option<String>,
}

/// The columns of a [`LeaseRow`] (`numbering.leases` aliased `l`), as a
/// literal for `concat!` into fixed statements.
macro_rules! lease_columns {
    () => {
        "l.id, l.number_id, l.identifier, l.kind::text AS kind, l.tenant_id, \
         l.reservation_id, l.status::text AS status, l.auto_renew, l.started_at, l.term_end, l.renewals, \
         l.ended_at, l.end_reason::text AS end_reason, l.suspended_by, l.account_id"
    };
}
pub(crate) use lease_columns;

pub(crate) const LEASE_COLUMNS: &str = lease_columns!();

impl LeaseRow {
    pub fn into_domain(self) -> Result<Lease, LifecycleError> {
        Ok(Lease {
            id: LeaseId::from_uuid(self.id),
            identifier: identifier(&self.kind, &self.identifier)?,
            tenant_id: tenant(&self.tenant_id)?,
            reservation_id: self.reservation_id.map(ReservationId::from_uuid),
            status: self.status.parse()?,
            auto_renew: self.auto_renew,
            started_at: self.started_at,
            term_end: self.term_end,
            renewals: self.renewals,
            ended_at: self.ended_at,
            end_reason: self
                .end_reason
                .as_deref()
                .map(|r| parse("quarantine reason", r))
                .transpose()?,
            suspended_by: self.suspended_by,
            account_id: account(self.account_id.as_deref())?,
        })
    }
}

/// Routing's view of an identifier (`Store::lookup`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Lookup {
    pub kind: String,
    pub state: String,
    pub operator_id: Option<String>,
    pub operator_name: Option<String>,
    pub mcc: Option<String>,
    pub mnc: Option<String>,
}
