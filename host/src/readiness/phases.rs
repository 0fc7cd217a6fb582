//! The criteria of each phase (MIGRATION_PLAN §2 exit criteria, then §8
//! success metrics), each with its reading.

use sqlx::PgPool;

use super::{
    Criterion, Reading, Report, Target,
    Unit::{Count, Ms, Percent, Seconds},
    db,
    measure::Metrics,
    scrape::Sel,
};

const CACHE_HIT: Sel = Sel {
    metric: "numbering_validate_lease_duration_seconds",
    labels: &[
        ("tier", &["local", "dynamodb"]),
        ("outcome", &["allow", "deny"]),
    ],
};
const PG_FALLBACK: Sel = Sel {
    metric: "numbering_validate_lease_duration_seconds",
    labels: &[("tier", &["postgres"]), ("outcome", &["allow", "deny"])],
};
const UNAVAILABLE: Sel = Sel {
    metric: "numbering_validate_lease_duration_seconds",
    labels: &[("outcome", &["unavailable"])],
};
const ANSWERS: Sel = Sel::all("numbering_validate_lease_duration_seconds");
const TIER_HITS: Sel = Sel {
    metric: "numbering_validate_tier_total",
    labels: &[("tier", &["local", "dynamodb"]), ("outcome", &["hit"])],
};
const READS: Sel = Sel {
    metric: "numbering_validate_tier_total",
    labels: &[("tier", &["local"])],
};
const RESERVE_CONFLICTS: Sel = Sel::all("numbering_reserve_conflicts_total");
const RESERVE_ATTEMPTS: Sel = Sel::all("numbering_reserve_attempts_total");

/// What the criteria are measured from.
pub struct Sources {
    pub pool: PgPool,
    pub metrics: Metrics,
}

/// The report of `phase` (1, 2 or 3; any other has no criteria).
pub async fn evaluate(phase: u8, s: &Sources) -> Report {
    let criteria = match phase {
        1 => phase_1(s).await,
        2 => phase_2(s).await,
        3 => phase_3(s).await,
        _ => vec![],
    };
    Report::new(phase, criteria)
}

async fn phase_1(s: &Sources) -> Vec<Criterion> {
    let m = &s.metrics;
    let p95_hit = m.quantile(0.95, &CACHE_HIT).await;
    let hit_ratio = m.ratio(&TIER_HITS, "", &READS, "").await;
    vec![
        Criterion::judge(
            "ValidateLease P95, cache hit",
            Target::AtMost(0.020, Ms),
            p95_hit.clone(),
        ),
        Criterion::judge(
            "ValidateLease P95, PG fallback",
            Target::AtMost(0.050, Ms),
            m.quantile(0.95, &PG_FALLBACK).await,
        ),
        Criterion::judge(
            "Error rate (UNAVAILABLE)",
            Target::Below(0.0005, Percent),
            m.ratio(&UNAVAILABLE, "_count", &ANSWERS, "_count").await,
        ),
        Criterion::judge(
            "Cache hit ratio",
            Target::AtLeast(0.95, Percent),
            hit_ratio.clone(),
        ),
        Criterion::judge(
            "Cross-region lag P95",
            Target::Below(2.0, Seconds),
            cross_region(m).await,
        ),
        Criterion::judge(
            "Hash-chain verify green 7 consecutive days",
            Target::AtMost(0.0, Count),
            db::verify_history(&s.pool, 7).await,
        ),
        Criterion::judge(
            "Outbox lag P95",
            Target::Below(5.0, Seconds),
            m.quantile(0.95, &Sel::all(numbering_outbox_relay::LAG_METRIC))
                .await,
        ),
        Criterion::judge(
            "Outbox: oldest unpublished event",
            Target::Below(5.0, Seconds),
            db::outbox_oldest(&s.pool).await,
        ),
        Criterion::judge(
            "No consumer falling behind (pending messages)",
            Target::AtMost(100.0, Count),
            m.max_now(&Sel::all("numbering_consumer_pending_messages"))
                .await,
        ),
        Criterion::judge(
            "Unexpected INVALID_TRANSITION events",
            Target::AtMost(0.0, Count),
            m.increase(&Sel::all("numbering_invalid_transitions_total"))
                .await,
        ),
        Criterion::judge(
            "compliance.tenant.suspended.v1 bulk-recalls (leases left)",
            Target::AtMost(0.0, Count),
            db::suspension_recalls(&s.pool).await,
        ),
        Criterion::judge(
            "§8 ValidateLease P95 cache-hit over 7 d",
            Target::AtMost(0.020, Ms),
            p95_hit,
        ),
        Criterion::judge(
            "§8 Cache hit ratio",
            Target::AtLeast(0.95, Percent),
            hit_ratio,
        ),
    ]
}

/// The invalidation delay's P95 (change committed → the other region's
/// cache dropped it); without it, the replica lag now.
async fn cross_region(m: &Metrics) -> Reading {
    let delay = m
        .quantile(0.95, &Sel::all("numbering_invalidation_delay_seconds"))
        .await;
    if delay.value.is_some() {
        return delay;
    }
    let lag = m.max_now(&Sel::all("numbering_replica_lag_seconds")).await;
    match lag.value {
        Some(_) => lag,
        None => Reading::none(
            "neither numbering_invalidation_delay_seconds nor numbering_replica_lag_seconds is exported",
        ),
    }
}

async fn phase_2(s: &Sources) -> Vec<Criterion> {
    let m = &s.metrics;
    vec![
        Criterion::judge(
            "Pilot tenants complete browse → reserve → hold → assign → release",
            Target::AtLeast(5.0, Count),
            db::pilot_flows(&s.pool).await,
        ),
        Criterion::judge(
            "Reservation TTL precision",
            Target::AtMost(2.0, Seconds),
            db::ttl_precision(&s.pool).await,
        ),
        Criterion::judge(
            "Quarantine cool-off enforced (leases during quarantine)",
            Target::AtMost(0.0, Count),
            db::quarantine_violations(&s.pool).await,
        ),
        Criterion::judge(
            "Support ticket rate per 1000 reservations",
            Target::Below(1.0, Count),
            Reading::none("support tickets are not recorded by numbering-service"),
        ),
        Criterion::judge(
            "SERVICE_READINESS §1–§7 [BLOCKER] items green",
            Target::AtMost(0.0, Count),
            Reading::none("the readiness checklist is kept outside numbering-service"),
        ),
        Criterion::judge(
            "§8 Reserve → assign conversion within 24 h",
            Target::AtLeast(0.60, Percent),
            db::conversion_reading(&s.pool).await,
        ),
        Criterion::judge(
            "§8 CAS conflict rate of reserve attempts",
            Target::Below(0.01, Percent),
            m.ratio(&RESERVE_CONFLICTS, "", &RESERVE_ATTEMPTS, "").await,
        ),
    ]
}

async fn phase_3(s: &Sources) -> Vec<Criterion> {
    vec![
        Criterion::judge(
            "ATRA accepts the first live monthly export",
            Target::AtLeast(1.0, Count),
            db::first_export_accepted(&s.pool).await,
        ),
        Criterion::judge(
            "All audit hash-chain verifications green (outbox retention)",
            Target::AtMost(0.0, Count),
            db::verify_history(&s.pool, 7).await,
        ),
        Criterion::judge(
            "No data quality complaints from ATRA (rejected exports)",
            Target::AtMost(0.0, Count),
            db::rejections(&s.pool).await,
        ),
        Criterion::judge(
            "§8 ATRA acceptance rate",
            Target::AtLeast(1.0, Percent),
            db::acceptance_rate(&s.pool).await,
        ),
        Criterion::judge(
            "§8 Audit-chain integrity violations",
            Target::AtMost(0.0, Count),
            db::integrity_now(&s.pool).await,
        ),
    ]
}
