//! The scarcity forecast's data and its flag state (seed Phase 4.3).
//!
//! [`Store::scarcity_forecast`] reads, in one REPEATABLE READ snapshot and
//! three set-based statements, every ACTIVE contract's block (operator,
//! kind, range) with its stock now, and its daily history: identifiers that
//! left AVAILABLE and came back, from the audit trail (the audit log keeps
//! 13 months; the outbox is pruned once published), and identifiers added
//! by imports (`numbers.created_at`). The model is the pure
//! [`numbering_shared::forecast`].
//!
//! [`Store::record_scarcity_flags`] keeps one row per block in
//! `scarcity_flags` (in the 60-day window or not) and, in the same
//! statement, writes `numbering.ops.scarcity_forecast.v1` to the outbox for
//! each block that *enters* the window: once per entry, re-armed when the
//! block leaves it. A transaction-scoped advisory lock makes concurrent
//! passes queue. The flag is a projection of the forecast, not a change of
//! the inventory, so it has no audit entry.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use numbering_shared::forecast::{self, Forecast, HORIZON_DAYS, Series};
use serde_json::{Value, json};
use sqlx::FromRow;
use uuid::Uuid;

use crate::{
    Store,
    admin::AdminError,
    scope::{Scope, begin_snapshot},
};

/// How much history is fitted (the audit log's hot 13 months hold more).
pub const FIT_DAYS: u32 = 365;
/// The event a block entering the window gets.
pub const EVENT_TYPE: &str = "numbering.ops.scarcity_forecast.v1";
/// One line of what the model is, for the answer and the event.
pub const METHOD: &str = "damped Holt exponential smoothing of daily net consumption \
     (reserve + retire from AVAILABLE - cancel - reservation expiry - quarantine end/override), \
     additive weekday effects, alpha/beta/phi fitted by least one-day squared error; \
     80% interval from the one-day error variance plus the level's and trend's estimation error";
/// `pg_advisory_xact_lock` key of the flag pass ("numfcast").
const FLAG_LOCK: i64 = 0x6e75_6d66_6361_7374;

/// Which blocks to forecast (None: all).
#[derive(Debug, Clone, Default)]
pub struct ForecastFilter {
    pub operator_id: Option<String>,
    pub kind: Option<String>,
}

/// A block: one ACTIVE lease contract's range (with identifiers in
/// inventory: a contract none of whose range was imported is no stock).
#[derive(Debug, Clone, FromRow)]
pub struct Block {
    pub contract_id: Uuid,
    pub contract_ref: String,
    pub operator_id: Option<String>,
    pub kind: String,
    pub range_start: String,
    pub range_end: String,
    /// Identifiers of the contract in inventory (not retired).
    pub total: i64,
    /// Of them AVAILABLE now (a lapsed reservation counts as AVAILABLE).
    pub available: i64,
}

/// A block's forecast with its stock history.
#[derive(Debug, Clone)]
pub struct BlockForecast {
    pub block: Block,
    pub forecast: Forecast,
    /// The stock at the end of each of the last days (today: now), oldest first.
    pub history: Vec<(NaiveDate, i64)>,
}

/// Every block's forecast at `generated_at` (the database's clock).
#[derive(Debug, Clone)]
pub struct ScarcityReport {
    pub generated_at: DateTime<Utc>,
    pub horizon_days: u32,
    pub blocks: Vec<BlockForecast>,
}

#[derive(FromRow)]
struct DayRow {
    contract_id: Uuid,
    day: NaiveDate,
    taken: i64,
    returned: i64,
    added: i64,
}

/// The blocks with their stock (public for the benchmark's `EXPLAIN`).
pub const BLOCKS: &str = "SELECT c.id AS contract_id, c.contract_ref, c.operator_id, c.kind::text AS kind, \
       c.range_start, c.range_end, n.total, n.available \
     FROM numbering.lease_contracts c JOIN ( \
       SELECT contract_id, count(*) FILTER (WHERE state <> 'RETIRED') AS total, \
         count(*) FILTER (WHERE state = 'AVAILABLE' \
           OR (state IN ('RESERVED', 'HELD') AND reserved_until <= now())) AS available \
       FROM numbering.numbers WHERE contract_id IS NOT NULL GROUP BY contract_id) n \
       ON n.contract_id = c.id \
     WHERE c.status = 'ACTIVE' AND n.total > 0 AND ($1::text IS NULL OR c.operator_id = $1) \
       AND ($2::text IS NULL OR c.kind::text = $2) \
     ORDER BY c.operator_id NULLS LAST, c.kind, c.range_start, c.id";

/// Each block's moves per UTC day since `$1` (blocks `$2`): out of AVAILABLE (reserve,
/// retire of an AVAILABLE identifier), back into it (cancel, lapse,
/// quarantine end or override), and added by imports.
pub const DAYS: &str = "WITH moves AS ( \
       SELECT n.contract_id, (a.occurred_at AT TIME ZONE 'UTC')::date AS day, \
         count(*) FILTER (WHERE a.action IN ('reserve', 'retire')) AS taken, \
         count(*) FILTER (WHERE a.action NOT IN ('reserve', 'retire')) AS returned \
       FROM numbering.audit_log a JOIN numbering.numbers n ON n.identifier = a.subject \
       WHERE a.occurred_at >= $1 AND n.contract_id = ANY($2) \
         AND (a.action IN ('reserve', 'cancel', 'expire_reservation', 'end_quarantine', 'override_quarantine') \
              OR (a.action = 'retire' AND a.before->>'state' = 'AVAILABLE')) \
       GROUP BY 1, 2), \
     imports AS ( \
       SELECT contract_id, (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS added \
       FROM numbering.numbers WHERE contract_id = ANY($2) AND created_at >= $1 GROUP BY 1, 2) \
     SELECT contract_id, day, coalesce(m.taken, 0) AS taken, coalesce(m.returned, 0) AS returned, \
       coalesce(i.added, 0) AS added \
     FROM moves m FULL JOIN imports i USING (contract_id, day)";

impl Store {
    /// Every ACTIVE block's forecast (as `filter` selects), with the stock
    /// of its last `history_days` days.
    pub async fn scarcity_forecast(
        &self,
        filter: &ForecastFilter,
        history_days: u32,
    ) -> Result<ScarcityReport, AdminError> {
        self.scarcity_forecast_as_of(filter, history_days, None)
            .await
    }

    /// The same as it would have been at the start of `as_of` (a backtest:
    /// the days from `as_of` on are held out), or now (`None`).
    pub async fn scarcity_forecast_as_of(
        &self,
        filter: &ForecastFilter,
        history_days: u32,
        as_of: Option<NaiveDate>,
    ) -> Result<ScarcityReport, AdminError> {
        let mut tx = begin_snapshot(self.pool(), Scope::Platform).await?;
        // the year's audit entries hash-join with the inventory
        sqlx::query("SET LOCAL work_mem = '256MB'")
            .execute(&mut *tx)
            .await?;
        let now: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
            .fetch_one(&mut *tx)
            .await?;
        let blocks: Vec<Block> = sqlx::query_as(BLOCKS)
            .bind(filter.operator_id.as_deref())
            .bind(filter.kind.as_deref())
            .fetch_all(&mut *tx)
            .await?;
        let today = now.date_naive();
        let cut = as_of.unwrap_or(today).min(today);
        let first = cut - Duration::days(i64::from(FIT_DAYS.max(history_days)));
        let ids: Vec<Uuid> = blocks.iter().map(|b| b.contract_id).collect();
        let rows: Vec<DayRow> = sqlx::query_as(DAYS)
            .bind(first.and_time(NaiveTime::MIN).and_utc())
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut days = Days::new(first, today, &ids);
        for r in rows {
            days.add(&r);
        }
        let at = match as_of {
            Some(d) if d < today => d.and_time(NaiveTime::MIN).and_utc(),
            _ => now,
        };
        let blocks = blocks
            .into_iter()
            .map(|b| days.forecast(b, at, history_days))
            .collect();
        Ok(ScarcityReport {
            generated_at: at,
            horizon_days: HORIZON_DAYS,
            blocks,
        })
    }
}

/// The dense daily series of every block, `first..=today`.
struct Days {
    first: NaiveDate,
    len: usize,
    /// Per block: (net consumption, net change of the stock) per day.
    series: HashMap<Uuid, (Vec<f64>, Vec<i64>)>,
}

impl Days {
    fn new(first: NaiveDate, today: NaiveDate, ids: &[Uuid]) -> Self {
        let len = (today - first).num_days() as usize + 1;
        let series = ids
            .iter()
            .map(|id| (*id, (vec![0.0; len], vec![0; len])))
            .collect();
        Self { first, len, series }
    }

    fn add(&mut self, r: &DayRow) {
        let i = (r.day - self.first).num_days();
        let Some((net, change)) = self.series.get_mut(&r.contract_id) else {
            return;
        };
        if let Ok(i @ 0..) = usize::try_from(i) {
            if i < self.len {
                net[i] += (r.taken - r.returned) as f64;
                change[i] += r.returned + r.added - r.taken;
            }
        }
    }

    /// `block`'s forecast at `at`: now (within today), or the start of an
    /// earlier day, whose days from then on are left out.
    fn forecast(&self, mut block: Block, at: DateTime<Utc>, history_days: u32) -> BlockForecast {
        let empty = (vec![0.0; self.len], vec![0; self.len]);
        let (net, change) = self.series.get(&block.contract_id).unwrap_or(&empty);
        let stock = forecast::stock_history(block.available, change);
        // days before `at`'s: complete; `at`'s own so far is in the stock
        let before = ((at.date_naive() - self.first).num_days() as usize).min(self.len - 1);
        let end = if before == self.len - 1 {
            self.len
        } else {
            before
        };
        block.available = stock[end - 1];
        let series = Series {
            last_day: at.date_naive() - Duration::days(1),
            net: &net[..before],
        };
        let f = forecast::forecast(&series, block.available, at, HORIZON_DAYS);
        let keep = (history_days as usize).min(end);
        let history = (end - keep..end)
            .map(|i| (self.first + Duration::days(i as i64), stock[i]))
            .collect();
        BlockForecast {
            block,
            forecast: f,
            history,
        }
    }
}

impl BlockForecast {
    /// `days` from `now` as a date.
    fn date(now: DateTime<Utc>, days: Option<f64>) -> Option<NaiveDate> {
        days.map(|d| Forecast::date_after(now, d))
    }

    /// The event `numbering.ops.scarcity_forecast.v1`'s data for this block.
    pub fn event_data(&self, now: DateTime<Utc>) -> Value {
        let (b, f) = (&self.block, &self.forecast);
        json!({
            "contract_id": b.contract_id,
            "contract_ref": b.contract_ref,
            "operator_id": b.operator_id,
            "kind": b.kind,
            "range_start": b.range_start,
            "range_end": b.range_end,
            "total": b.total,
            "available": b.available,
            "daily_rate": f.daily_rate,
            "exhaustion_date": Self::date(now, f.days_to_exhaustion),
            "exhaustion_low": Self::date(now, f.earliest_days),
            "exhaustion_high": Self::date(now, f.latest_days),
            "days_to_exhaustion": f.days_to_exhaustion,
            "horizon_days": HORIZON_DAYS,
            "method": METHOD,
            "generated_at": now,
        })
    }
}

impl Store {
    /// One pass of the forecast job: every block's forecast, then its flag
    /// (see [`Store::record_scarcity_flags`]).
    pub async fn scarcity_flag_pass(&self) -> Result<Vec<Uuid>, AdminError> {
        let report = self
            .scarcity_forecast(&ForecastFilter::default(), 1)
            .await?;
        self.record_scarcity_flags(&report).await
    }

    /// Records which blocks of `report` are in the window and writes the
    /// event of each that entered it since the last pass; returns those
    /// blocks' contract ids.
    pub async fn record_scarcity_flags(
        &self,
        report: &ScarcityReport,
    ) -> Result<Vec<Uuid>, AdminError> {
        let now = report.generated_at;
        let (mut ids, mut flagged, mut dates, mut event_ids, mut payloads) =
            (vec![], vec![], vec![], vec![], vec![]);
        for b in &report.blocks {
            ids.push(b.block.contract_id);
            flagged.push(b.forecast.flagged);
            dates.push(BlockForecast::date(now, b.forecast.days_to_exhaustion));
            event_ids.push(Uuid::now_v7());
            payloads.push(b.event_data(now).to_string());
        }
        let mut tx = crate::scope::begin(self, Scope::Platform).await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(FLAG_LOCK)
            .execute(&mut *tx)
            .await?;
        let entered: Vec<Uuid> = sqlx::query_scalar(FLAGS)
            .bind(&ids)
            .bind(&flagged)
            .bind(&dates)
            .bind(&event_ids)
            .bind(&payloads)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(entered)
    }
}

/// Upserts every block's flag and, from the same snapshot of the previous
/// flags, inserts the event of each block that was not flagged before.
const FLAGS: &str = "WITH input AS ( \
       SELECT * FROM UNNEST($1::uuid[], $2::bool[], $3::date[], $4::uuid[], $5::text[]) \
         AS i(contract_id, flagged, exhaustion_date, event_id, payload)), \
     entered AS ( \
       SELECT i.* FROM input i LEFT JOIN numbering.scarcity_flags f USING (contract_id) \
       WHERE i.flagged AND NOT coalesce(f.flagged, false)), \
     upsert AS ( \
       INSERT INTO numbering.scarcity_flags AS f (contract_id, flagged, exhaustion_date) \
       SELECT contract_id, flagged, exhaustion_date FROM input \
       ON CONFLICT (contract_id) DO UPDATE SET flagged = EXCLUDED.flagged, \
         exhaustion_date = EXCLUDED.exhaustion_date, checked_at = now(), \
         changed_at = CASE WHEN f.flagged = EXCLUDED.flagged THEN f.changed_at ELSE now() END), \
     event AS ( \
       INSERT INTO numbering.outbox (event_id, stream, event_type, aggregate_type, aggregate_id, payload) \
       SELECT event_id, 'NUMBERING_OPS', 'numbering.ops.scarcity_forecast.v1', 'lease_contract', \
         contract_id::text, payload::json FROM entered ORDER BY contract_id) \
     SELECT contract_id FROM entered ORDER BY contract_id";
