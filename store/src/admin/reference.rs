//! Reference data the platform admin keeps: mobile network operators,
//! lease contracts (block ranges of one operator) and the MNO signing keys
//! import files are verified with.

use chrono::{DateTime, NaiveDate, Utc};
use numbering_shared::IdentifierKind;
use sqlx::{FromRow, Row, postgres::PgRow};
use uuid::Uuid;

use super::{AdminError, Audited, Result, commit_audited, locked, parsed, platform};
use crate::{Store, record::Ctx};

/// A new or replaced mobile network operator.
#[derive(Debug, Clone, FromRow)]
pub struct OperatorInput {
    pub id: String,
    pub name: String,
    pub mcc: String,
    pub mnc_codes: Vec<String>,
    pub msisdn_prefixes: Vec<String>,
    pub active: bool,
}

/// An operator as stored.
#[derive(Debug, Clone, FromRow)]
pub struct Operator {
    #[sqlx(flatten)]
    pub spec: OperatorInput,
    pub created_at: DateTime<Utc>,
}

/// A contract's term: from `starts_on`, open-ended or until `ends_on`,
/// which is never before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term {
    starts_on: NaiveDate,
    ends_on: Option<NaiveDate>,
}

impl Term {
    /// `None` when `ends_on` is before `starts_on`.
    pub fn new(starts_on: NaiveDate, ends_on: Option<NaiveDate>) -> Option<Self> {
        (ends_on.is_none_or(|e| e >= starts_on)).then_some(Self { starts_on, ends_on })
    }
    pub fn starts_on(&self) -> NaiveDate {
        self.starts_on
    }
    pub fn ends_on(&self) -> Option<NaiveDate> {
        self.ends_on
    }
}

/// A new lease contract: a block of identifiers of one kind (MSISDNs of
/// one operator, or ATRA's short codes without one) for a term.
#[derive(Debug, Clone)]
pub struct ContractInput {
    pub contract_ref: String,
    pub operator_id: Option<String>,
    pub kind: IdentifierKind,
    /// The first and the last identifier of the block (inclusive).
    pub range: (String, String),
    pub term: Term,
}

/// A lease contract as stored.
#[derive(Debug, Clone)]
pub struct Contract {
    pub id: Uuid,
    pub spec: ContractInput,
    /// ACTIVE, SUSPENDED or ENDED ([`numbering_shared::ContractStatus`]).
    pub status: String,
    /// The compare-and-swap counter of its status changes.
    pub version: i64,
    /// When and why it ended (ENDED only).
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl<'r> FromRow<'r, PgRow> for Contract {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            spec: ContractInput {
                contract_ref: row.try_get("contract_ref")?,
                operator_id: row.try_get("operator_id")?,
                kind: parsed(row, "kind")?,
                range: (row.try_get("range_start")?, row.try_get("range_end")?),
                term: Term::new(row.try_get("starts_on")?, row.try_get("ends_on")?).ok_or_else(
                    || sqlx::Error::ColumnDecode {
                        index: "ends_on".into(),
                        source: "ends before the contract starts".into(),
                    },
                )?,
            },
            status: row.try_get("status")?,
            version: row.try_get("version")?,
            ended_at: row.try_get("ended_at")?,
            end_reason: row.try_get("end_reason")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// A new MNO signing key.
#[derive(Debug, Clone, FromRow)]
pub struct SigningKeyInput {
    pub key_id: String,
    pub operator_id: Option<String>,
    pub algorithm: String,
    pub public_key_pem: String,
    pub valid_until: Option<DateTime<Utc>>,
}

/// A signing key as stored.
#[derive(Debug, Clone, FromRow)]
pub struct SigningKey {
    #[sqlx(flatten)]
    pub spec: SigningKeyInput,
    pub valid_from: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revocation_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The columns of an [`Operator`] (a literal, for `concat!`).
macro_rules! operator_columns {
    () => {
        "id, name, mcc, mnc_codes, msisdn_prefixes, active, created_at"
    };
}
/// The columns of a [`Contract`].
macro_rules! contract_columns {
    () => {
        "id, contract_ref, operator_id, kind::text AS kind, range_start, range_end, \
         starts_on, ends_on, status::text AS status, version, ended_at, end_reason, created_at"
    };
}
pub(crate) use contract_columns;
/// The columns of a [`SigningKey`].
macro_rules! key_columns {
    () => {
        "key_id, operator_id, algorithm::text AS algorithm, public_key_pem, \
         valid_from, valid_until, revoked_at, revocation_reason, created_at"
    };
}

const OPERATORS: &str = concat!(
    "SELECT ",
    operator_columns!(),
    " FROM numbering.mobile_operators ORDER BY id"
);
const OPERATOR_BY_ID: &str = concat!(
    "SELECT ",
    operator_columns!(),
    " FROM numbering.mobile_operators WHERE id = $1"
);
const PUT_OPERATOR: &str = concat!(
    "INSERT INTO numbering.mobile_operators (id, name, mcc, mnc_codes, msisdn_prefixes, active) \
     VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, mcc = EXCLUDED.mcc, \
       mnc_codes = EXCLUDED.mnc_codes, msisdn_prefixes = EXCLUDED.msisdn_prefixes, \
       active = EXCLUDED.active \
     RETURNING ",
    operator_columns!()
);

const CONTRACTS: &str = concat!(
    "SELECT ",
    contract_columns!(),
    " FROM numbering.lease_contracts ORDER BY contract_ref"
);
const CREATE_CONTRACT: &str = concat!(
    "INSERT INTO numbering.lease_contracts \
       (contract_ref, operator_id, kind, range_start, range_end, starts_on, ends_on) \
     VALUES ($1, $2, $3::numbering.identifier_kind, $4, $5, $6, $7) RETURNING ",
    contract_columns!()
);

const SIGNING_KEYS: &str = concat!(
    "SELECT ",
    key_columns!(),
    " FROM numbering.mno_signing_keys ORDER BY created_at, key_id"
);
const SIGNING_KEY_LOCKED: &str = concat!(
    "SELECT ",
    key_columns!(),
    " FROM numbering.mno_signing_keys WHERE key_id = $1 FOR UPDATE"
);
const INSTALL_SIGNING_KEY: &str = concat!(
    "INSERT INTO numbering.mno_signing_keys \
       (key_id, operator_id, algorithm, public_key_pem, valid_until) \
     VALUES ($1, $2, $3::numbering.signing_algorithm, $4, $5) RETURNING ",
    key_columns!()
);
const REVOKE_SIGNING_KEY: &str = concat!(
    "UPDATE numbering.mno_signing_keys \
     SET revoked_at = coalesce(revoked_at, now()), revocation_reason = $2 WHERE key_id = $1 \
     RETURNING ",
    key_columns!()
);

impl Store {
    /// Every operator, by id.
    pub async fn operators(&self) -> Result<Vec<Operator>> {
        self.read_all(OPERATORS).await
    }

    /// Creates or replaces an operator.
    pub async fn put_operator(&self, ctx: &Ctx, o: &OperatorInput) -> Result<Operator> {
        let mut tx = platform(self).await?;
        let before: Option<Operator> = locked(&mut tx, OPERATOR_BY_ID, &o.id).await?;
        let after: Operator = sqlx::query_as(PUT_OPERATOR)
            .bind(&o.id)
            .bind(&o.name)
            .bind(&o.mcc)
            .bind(&o.mnc_codes)
            .bind(&o.msisdn_prefixes)
            .bind(o.active)
            .fetch_one(&mut *tx)
            .await
            .map_err(AdminError::refused)?;
        let audited = Audited {
            action: "operator.put",
            subject: &o.id,
            tenant_id: None,
            before: before.as_ref(),
            after: &after,
        };
        commit_audited(tx, ctx, audited).await?;
        Ok(after)
    }

    /// Every lease contract, by reference.
    pub async fn contracts(&self) -> Result<Vec<Contract>> {
        self.read_all(CONTRACTS).await
    }

    pub async fn create_contract(&self, ctx: &Ctx, c: &ContractInput) -> Result<Contract> {
        let mut tx = platform(self).await?;
        let after: Contract = sqlx::query_as(CREATE_CONTRACT)
            .bind(&c.contract_ref)
            .bind(&c.operator_id)
            .bind(c.kind.as_str())
            .bind(&c.range.0)
            .bind(&c.range.1)
            .bind(c.term.starts_on())
            .bind(c.term.ends_on())
            .fetch_one(&mut *tx)
            .await
            .map_err(AdminError::refused)?;
        let audited = Audited {
            action: "contract.created",
            subject: &c.contract_ref,
            tenant_id: None,
            before: None,
            after: &after,
        };
        commit_audited(tx, ctx, audited).await?;
        Ok(after)
    }

    /// Every signing key, oldest first.
    pub async fn signing_keys(&self) -> Result<Vec<SigningKey>> {
        self.read_all(SIGNING_KEYS).await
    }

    /// Installs a key (rotation = install the new one, then revoke the old).
    pub async fn install_signing_key(&self, ctx: &Ctx, k: &SigningKeyInput) -> Result<SigningKey> {
        let mut tx = platform(self).await?;
        let after: SigningKey = sqlx::query_as(INSTALL_SIGNING_KEY)
            .bind(&k.key_id)
            .bind(&k.operator_id)
            .bind(&k.algorithm)
            .bind(&k.public_key_pem)
            .bind(k.valid_until)
            .fetch_one(&mut *tx)
            .await
            .map_err(AdminError::refused)?;
        let audited = Audited {
            action: "signing_key.installed",
            subject: &k.key_id,
            tenant_id: None,
            before: None,
            after: &after,
        };
        commit_audited(tx, ctx, audited).await?;
        Ok(after)
    }

    /// Revokes a key (again: a new reason, the first revocation time).
    pub async fn revoke_signing_key(
        &self,
        ctx: &Ctx,
        key_id: &str,
        reason: &str,
    ) -> Result<SigningKey> {
        let mut tx = platform(self).await?;
        let Some(before) = locked::<SigningKey>(&mut tx, SIGNING_KEY_LOCKED, key_id).await? else {
            return Err(AdminError::SigningKeyNotFound);
        };
        let after: SigningKey = sqlx::query_as(REVOKE_SIGNING_KEY)
            .bind(key_id)
            .bind(reason)
            .fetch_one(&mut *tx)
            .await
            .map_err(AdminError::refused)?;
        let audited = Audited {
            action: "signing_key.revoked",
            subject: key_id,
            tenant_id: None,
            before: Some(&before),
            after: &after,
        };
        commit_audited(tx, ctx, audited).await?;
        Ok(after)
    }
}
