//! A synthetic year of inventory history with known rates, for the
//! scarcity forecast (tests/it/forecast.rs, the backtest and
//! `bench-forecast`).
//!
//! Each block is a lease contract with a range of MSISDNs imported on the
//! year's first day. Every day it loses a Poisson number of identifiers at
//! its known rate (a reserve, then an assign a minute later, as the portal
//! writes them), and besides, at `churn` a day, a reservation that is
//! cancelled five minutes later (out and back: no net consumption). The
//! audit entries are written as the lifecycle writes them (action, subject,
//! `before`/`after` states, stamped on their day), the numbers end in the
//! state the year leaves them: the consumed ones ASSIGNED, the rest
//! AVAILABLE. The year ends yesterday; today has no events yet.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// A block's daily net consumption rate by day of the year.
#[derive(Debug, Clone, Copy)]
pub enum Rate {
    /// The same every day.
    Constant(f64),
    /// `rate` until `from_day`, twice that from then on.
    Doubles { rate: f64, from_day: u32 },
}

impl Rate {
    pub fn at(self, day: u32) -> f64 {
        match self {
            Rate::Constant(r) => r,
            Rate::Doubles { rate, from_day } if day >= from_day => 2.0 * rate,
            Rate::Doubles { rate, .. } => rate,
        }
    }
}

/// One block to generate.
#[derive(Debug, Clone)]
pub struct BlockSpec {
    pub contract_ref: String,
    /// `+937` and one to four more digits; the block's identifiers follow
    /// it, numbered from 0.
    pub prefix: String,
    pub size: u32,
    pub rate: Rate,
    /// Reservations a day that are cancelled again.
    pub churn: f64,
}

/// What was generated for a block.
#[derive(Debug, Clone)]
pub struct Generated {
    pub contract_id: Uuid,
    pub spec: BlockSpec,
    /// AVAILABLE at the end of the year.
    pub available: i64,
    /// AVAILABLE at the end of each day, first day first.
    pub stock: Vec<i64>,
}

impl Generated {
    /// For a constant rate: the true days from the year's end (today's
    /// start) until the stock runs out.
    pub fn true_days_left(&self) -> f64 {
        self.available as f64 / self.spec.rate.at(u32::MAX)
    }
}

/// splitmix64 and Knuth's Poisson: deterministic, dependency-free.
pub struct Rng(pub u64);

impl Rng {
    pub fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn poisson(&mut self, lambda: f64) -> u32 {
        let limit = (-lambda).exp();
        let (mut k, mut p) = (0, 1.0);
        loop {
            p *= self.uniform();
            if p <= limit {
                return k;
            }
            k += 1;
        }
    }
}

/// The first day's midnight of a year of `days` days ending yesterday.
pub fn year_start(days: u32) -> DateTime<Utc> {
    let today = Utc::now().date_naive().and_time(NaiveTime::MIN).and_utc();
    today - Duration::days(i64::from(days))
}

/// Audit rows of one block, in time order, as arrays for UNNEST.
#[derive(Default)]
struct Rows {
    at: Vec<DateTime<Utc>>,
    action: Vec<&'static str>,
    subject: Vec<String>,
    from: Vec<&'static str>,
    to: Vec<&'static str>,
}

impl Rows {
    fn push(
        &mut self,
        at: DateTime<Utc>,
        action: &'static str,
        subject: &str,
        move_: (&'static str, &'static str),
    ) {
        self.at.push(at);
        self.action.push(action);
        self.subject.push(subject.to_owned());
        self.from.push(move_.0);
        self.to.push(move_.1);
    }
}

/// Writes `blocks` over a year of `days` days into `owner` (a superuser
/// pool), with `seed` for the draws.
pub async fn write_year(
    owner: &PgPool,
    blocks: &[BlockSpec],
    days: u32,
    seed: u64,
) -> Vec<Generated> {
    let start = year_start(days);
    let mut out = Vec::new();
    for (b, spec) in blocks.iter().enumerate() {
        let mut rng = Rng(seed.wrapping_add(b as u64 * 7919));
        let width = 12 - spec.prefix.len();
        let ident = |i: u32| format!("{}{:0width$}", spec.prefix, i);
        let (mut rows, mut consumed, mut stock) = (Rows::default(), 0u32, Vec::new());
        for day in 0..days {
            let midnight = start + Duration::days(i64::from(day));
            let taken = rng.poisson(spec.rate.at(day));
            let churned = rng.poisson(spec.churn);
            let mut times: Vec<(i64, bool)> = Vec::new();
            for sticks in (0..taken).map(|_| true).chain((0..churned).map(|_| false)) {
                times.push(((rng.uniform() * 85_000.0) as i64, sticks));
            }
            times.sort_unstable();
            for (secs, sticks) in times {
                if consumed >= spec.size {
                    break;
                }
                let at = midnight + Duration::seconds(secs);
                let id = ident(consumed);
                rows.push(at, "reserve", &id, ("AVAILABLE", "RESERVED"));
                if sticks {
                    rows.push(
                        at + Duration::seconds(60),
                        "assign",
                        &id,
                        ("RESERVED", "ASSIGNED"),
                    );
                    consumed += 1;
                } else {
                    rows.push(
                        at + Duration::seconds(300),
                        "cancel",
                        &id,
                        ("RESERVED", "AVAILABLE"),
                    );
                }
            }
            stock.push(i64::from(spec.size - consumed));
        }
        let contract_id = insert_block(owner, spec, width, consumed, start).await;
        insert_rows(owner, rows).await;
        out.push(Generated {
            contract_id,
            spec: spec.clone(),
            available: i64::from(spec.size - consumed),
            stock,
        });
    }
    out
}

/// The contract and its identifiers, imported at `start`.
async fn insert_block(
    owner: &PgPool,
    spec: &BlockSpec,
    width: usize,
    consumed: u32,
    start: DateTime<Utc>,
) -> Uuid {
    let id = Identifier(&spec.prefix);
    let op = numbering_shared::operator::operator_for_msisdn(&id.parse())
        .expect("the prefix names an operator");
    let contract_id: Uuid = sqlx::query_scalar(
        "INSERT INTO numbering.lease_contracts (contract_ref, operator_id, kind, range_start, range_end, starts_on) \
         VALUES ($1, $2, 'MSISDN', $3, $4, $5) RETURNING id",
    )
    .bind(&spec.contract_ref)
    .bind(op.id)
    .bind(format!("{}{:0width$}", spec.prefix, 0))
    .bind(format!("{}{:0width$}", spec.prefix, spec.size - 1))
    .bind((start - Duration::days(1)).date_naive())
    .fetch_one(owner)
    .await
    .expect("insert contract");
    sqlx::query(
        "INSERT INTO numbering.numbers (identifier, identity_key, kind, state, tenant_id, operator_id, \
           mcc, mnc, contract_id, created_at, state_changed_at) \
         SELECT x.id, x.id, 'MSISDN', \
           CASE WHEN i < $3 THEN 'ASSIGNED' ELSE 'AVAILABLE' END::numbering.number_state, \
           CASE WHEN i < $3 THEN 'synthetic' END, $4, $5, $6, $7, $8, $8 \
         FROM generate_series(0, $2 - 1) i, LATERAL (SELECT $1 || lpad(i::text, $9, '0') AS id) x",
    )
    .bind(&spec.prefix)
    .bind(spec.size as i32)
    .bind(consumed as i32)
    .bind(op.id)
    .bind(op.mcc)
    .bind(op.mncs[0])
    .bind(contract_id)
    .bind(start)
    .bind(width as i32)
    .execute(owner)
    .await
    .expect("insert numbers");
    contract_id
}

/// A prefix as an identifier (padded with zeros), for its operator.
struct Identifier<'a>(&'a str);

impl Identifier<'_> {
    fn parse(&self) -> numbering_shared::Identifier {
        let full = format!("{:0<12}", self.0);
        numbering_shared::Identifier::parse(&full).expect("an MSISDN prefix")
    }
}

/// The audit rows, 100,000 a statement.
async fn insert_rows(owner: &PgPool, rows: Rows) {
    const CHUNK: usize = 100_000;
    for start in (0..rows.at.len()).step_by(CHUNK) {
        let end = (start + CHUNK).min(rows.at.len());
        sqlx::query(
            "INSERT INTO numbering.audit_log (occurred_at, actor, action, tenant_id, subject, before, after) \
             SELECT t, 'tenant:synthetic:generator', a, 'synthetic', s, \
               json_build_object('state', f), json_build_object('state', g) \
             FROM UNNEST($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[]) AS u(t, a, s, f, g)",
        )
        .bind(&rows.at[start..end])
        .bind(&rows.action[start..end])
        .bind(&rows.subject[start..end])
        .bind(&rows.from[start..end])
        .bind(&rows.to[start..end])
        .execute(owner)
        .await
        .expect("insert audit rows");
    }
}
