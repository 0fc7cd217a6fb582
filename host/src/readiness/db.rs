//! The readings the database holds: chain-verify history, the outbox's
//! oldest waiting event, suspension recalls, the pilot flow, reservation
//! TTL precision, quarantine enforcement, reserve → assign conversion and
//! the regulator exports. Every query runs in the platform scope (row-level
//! security admits all tenants).

use anyhow::Result;
use sqlx::{PgPool, Postgres, Transaction};

use super::Reading;

const PLATFORM: &str = "SELECT set_config('numbering.tenant_id', '', true), set_config('numbering.scope', 'platform', true)";

async fn platform(pool: &PgPool) -> Result<Transaction<'static, Postgres>> {
    let mut tx = pool.begin().await?;
    sqlx::query(PLATFORM).execute(&mut *tx).await?;
    Ok(tx)
}

/// A reading of `value` over `window`, or the error as its note.
fn reading(r: Result<(Option<f64>, String, bool, Option<String>)>) -> Reading {
    match r {
        Ok((value, window, full, note)) => Reading {
            value,
            window,
            full,
            note,
        },
        Err(e) => Reading::none(format!("database: {e:#}")),
    }
}

/// Broken chain verifications in the last `days` days (the verify job's
/// `numbering.ops.audit_verified.v1` events) plus one verification now;
/// full when the history reaches back `days` days (within an hour).
pub async fn verify_history(pool: &PgPool, days: i32) -> Reading {
    reading(verify_history_inner(pool, days).await)
}

async fn verify_history_inner(
    pool: &PgPool,
    days: i32,
) -> Result<(Option<f64>, String, bool, Option<String>)> {
    let (runs, broken, span): (i64, i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE payload->>'result' IS DISTINCT FROM 'intact'), \
                EXTRACT(EPOCH FROM now() - min(occurred_at))::float8 \
         FROM numbering.outbox WHERE event_type = $1 AND occurred_at > now() - make_interval(days => $2)",
    )
    .bind(numbering_store::audit_jobs::VERIFIED_EVENT)
    .bind(days)
    .fetch_one(pool)
    .await?;
    let now = numbering_store::audit::verify(pool).await?;
    let now_text = match &now.first_break {
        None => "intact now".to_owned(),
        Some(b) => format!("BROKEN now at position {}: {}", b.position, b.kind),
    };
    let span = span.unwrap_or(0.0);
    let broken = broken + i64::from(!now.is_intact());
    let note = format!(
        "{runs} scheduled runs over {}, {now_text}",
        super::measure::human(span)
    );
    let full = span >= f64::from(days) * 86400.0 - 3600.0;
    Ok((Some(broken as f64), format!("{days}d"), full, Some(note)))
}

/// Seconds the oldest unpublished outbox event has waited (0: none waits).
pub async fn outbox_oldest(pool: &PgPool) -> Reading {
    let r = sqlx::query_scalar::<_, Option<f64>>(
        "SELECT EXTRACT(EPOCH FROM now() - min(occurred_at))::float8 FROM numbering.outbox WHERE published_at IS NULL",
    )
    .fetch_one(pool)
    .await
    .map(|age| (Some(age.unwrap_or(0.0).max(0.0)), "now".to_owned(), true, None))
    .map_err(Into::into);
    reading(r)
}

/// Leases still current at tenants whose pool a suspension closed (`None`
/// until a `compliance.tenant.suspended.v1` has been handled).
pub async fn suspension_recalls(pool: &PgPool) -> Reading {
    reading(suspension_recalls_inner(pool).await)
}

async fn suspension_recalls_inner(
    pool: &PgPool,
) -> Result<(Option<f64>, String, bool, Option<String>)> {
    let mut tx = platform(pool).await?;
    let (handled, left): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM numbering.processed_events WHERE event_type = 'compliance.tenant.suspended.v1'), \
                (SELECT count(*) FROM numbering.leases l JOIN numbering.tenant_pools p USING (tenant_id) \
                 WHERE p.status = 'SUSPENDED' AND l.status IN ('ACTIVE', 'SUSPENDED') AND l.started_at < p.updated_at)",
    )
    .fetch_one(&mut *tx)
    .await?;
    let note = format!("{handled} suspensions handled; leases left current at suspended tenants");
    let value = (handled > 0).then_some(left as f64);
    Ok((value, "all time".into(), true, Some(note)))
}

/// Tenants that went browse → reserve → hold → assign → release.
pub async fn pilot_flows(pool: &PgPool) -> Reading {
    let r = async {
        let mut tx = platform(pool).await?;
        let n: i64 = sqlx::query_scalar(
            "SELECT count(DISTINCT l.tenant_id) FROM numbering.leases l \
             JOIN numbering.reservations r ON r.id = l.reservation_id \
             WHERE r.held_at IS NOT NULL AND l.end_reason = 'RELEASED'",
        )
        .fetch_one(&mut *tx)
        .await?;
        Ok((Some(n as f64), "all time".into(), true, None))
    }
    .await;
    reading(r)
}

/// The largest gap between a reservation's expiry and its expiring, over
/// the last 7 days.
pub async fn ttl_precision(pool: &PgPool) -> Reading {
    let r = async {
        let mut tx = platform(pool).await?;
        let (n, worst): (i64, Option<f64>) = sqlx::query_as(
            "SELECT count(*), max(abs(EXTRACT(EPOCH FROM ended_at - expires_at)))::float8 \
             FROM numbering.reservations WHERE status = 'EXPIRED' AND ended_at > now() - interval '7 days'",
        )
        .fetch_one(&mut *tx)
        .await?;
        Ok((worst, "7d".into(), true, Some(format!("worst of {n} expiries"))))
    }
    .await;
    reading(r)
}

/// Leases that started on a number while its quarantine was running.
pub async fn quarantine_violations(pool: &PgPool) -> Reading {
    let r = async {
        let mut tx = platform(pool).await?;
        let (records, violations): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM numbering.quarantine_records), \
                    (SELECT count(*) FROM numbering.leases l JOIN numbering.quarantine_records q \
                       ON q.number_id = l.number_id \
                     WHERE l.started_at > q.started_at AND l.started_at < COALESCE(q.ended_at, 'infinity'))",
        )
        .fetch_one(&mut *tx)
        .await?;
        let note = format!("over {records} quarantines");
        Ok(((records > 0).then_some(violations as f64), "all time".into(), true, Some(note)))
    }
    .await;
    reading(r)
}

/// Reserve → assign within 24 h: of the reservations made 1 to 8 days ago,
/// the share that became a lease within 24 h; `(share, reservations)`.
/// With none that old, the share among all of the last 8 days' (full:
/// false, a younger reservation may still convert).
pub async fn conversion(pool: &PgPool) -> Result<(Option<f64>, i64, bool)> {
    let mut tx = platform(pool).await?;
    let (matured, matured_converted, all, all_converted): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE r.created_at <= now() - interval '24 hours'), \
                count(l.id) FILTER (WHERE r.created_at <= now() - interval '24 hours'), \
                count(*), count(l.id) \
         FROM numbering.reservations r \
         LEFT JOIN numbering.leases l ON l.reservation_id = r.id AND l.started_at <= r.created_at + interval '24 hours' \
         WHERE r.created_at > now() - interval '8 days'",
    )
    .fetch_one(&mut *tx)
    .await?;
    let share = |n: i64, of: i64| (of > 0).then(|| n as f64 / of as f64);
    Ok(match matured {
        0 => (share(all_converted, all), all, false),
        _ => (share(matured_converted, matured), matured, true),
    })
}

/// [`conversion`] as a reading.
pub async fn conversion_reading(pool: &PgPool) -> Reading {
    let r = conversion(pool).await.map(|(share, n, full)| {
        let note = match full {
            true => format!("{n} reservations made 1 to 8 days ago"),
            false => format!("{n} reservations, none 24 h old yet"),
        };
        (share, "8d".to_owned(), full, Some(note))
    });
    reading(r)
}

/// How many regulator exports are in each status.
pub async fn export_states(pool: &PgPool) -> Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT s::text, count(e.id) FROM unnest(enum_range(NULL::numbering.export_status)) s \
         LEFT JOIN numbering.regulator_exports e ON e.status = s GROUP BY s ORDER BY s",
    )
    .fetch_all(pool)
    .await?)
}

/// Whether ATRA acknowledged the first export submitted (1) or not (0).
pub async fn first_export_accepted(pool: &PgPool) -> Reading {
    let r = async {
        let first: Option<(String, i32, String, Option<f64>)> = sqlx::query_as(
            "SELECT period, version, status::text, EXTRACT(EPOCH FROM acknowledged_at - submitted_at)::float8 \
             FROM numbering.regulator_exports WHERE submitted_at IS NOT NULL ORDER BY submitted_at LIMIT 1",
        )
        .fetch_optional(pool)
        .await?;
        Ok(match first {
            None => (None, "all time".into(), true, Some("no export submitted yet".into())),
            Some((period, version, status, took)) => {
                let after = took.map_or(String::new(), |s| format!(", {} after submission", super::measure::human(s)));
                let note = format!("{period} v{version} {status}{after}");
                (Some(f64::from(status == "ACKNOWLEDGED")), "all time".into(), true, Some(note))
            }
        })
    }
    .await;
    reading(r)
}

/// Acknowledged and rejected exports: `(acknowledged, rejected)`.
pub async fn atra_answers(pool: &PgPool) -> Result<(i64, i64)> {
    Ok(sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'ACKNOWLEDGED'), count(*) FILTER (WHERE status = 'REJECTED') \
         FROM numbering.regulator_exports",
    )
    .fetch_one(pool)
    .await?)
}

/// The share of ATRA's answers that were acknowledgements.
pub async fn acceptance_rate(pool: &PgPool) -> Reading {
    let r = atra_answers(pool).await.map(|(ack, rejected)| {
        let answered = ack + rejected;
        let share = (answered > 0).then(|| ack as f64 / answered as f64);
        let note = format!("{ack} acknowledged, {rejected} rejected");
        (share, "all time".to_owned(), true, Some(note))
    });
    reading(r)
}

/// Exports ATRA rejected.
pub async fn rejections(pool: &PgPool) -> Reading {
    let r = atra_answers(pool)
        .await
        .map(|(_, rejected)| (Some(rejected as f64), "all time".to_owned(), true, None));
    reading(r)
}

/// Chain violations found by one verification now.
pub async fn integrity_now(pool: &PgPool) -> Reading {
    let r = async {
        let report = numbering_store::audit::verify(pool).await?;
        let note = report
            .first_break
            .as_ref()
            .map(|b| format!("broken at position {}: {}", b.position, b.kind));
        let note = note.or(Some(format!("{} entries verified", report.checked)));
        Ok((
            Some(f64::from(!report.is_intact())),
            "now".into(),
            true,
            note,
        ))
    }
    .await;
    reading(r)
}
