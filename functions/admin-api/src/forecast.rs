//! `GET /v1/admin/numbering/forecast`: the scarcity forecast (seed Phase
//! 4.3) of every ACTIVE block — when its AVAILABLE stock runs out, with an
//! 80 % interval, flagged when within 60 days — with its recent stock and
//! its projection. The Commerce Ops console's scarcity page reads it; the
//! model is `numbering_shared::forecast`, the data `numbering_store::forecast`.

use axum::{Json, routing::get};
use chrono::{DateTime, NaiveDate, Utc};
use numbering_http_edge::{
    ApiError, RequestState, Routes,
    extract::ApiQuery,
    openapi::{Op, query},
};
use numbering_shared::{IdentifierKind, forecast::Forecast};
use numbering_store::forecast::{BlockForecast, ForecastFilter, METHOD};
use serde::Deserialize;
use serde_json::{Value, json};

/// Days of stock history by default, and at most.
const HISTORY_DAYS: u32 = 90;
const MAX_HISTORY_DAYS: u32 = 365;

pub(crate) fn routes() -> Routes {
    vec![("get", "/v1/admin/numbering/forecast", get(forecast))]
}

pub(crate) fn operations() -> Vec<Op> {
    vec![Op {
        method: "get",
        path: "/v1/admin/numbering/forecast",
        operation_id: "scarcityForecast",
        summary: "Scarcity forecast: when each block's AVAILABLE stock runs out (point estimate and 80 % interval), blocks within 60 days flagged",
        tag: "admin",
        params: vec![
            query("operator_id", "string", "only this operator's blocks"),
            query(
                "kind",
                "string",
                "only blocks of this kind: MSISDN, SHORT_CODE or ALPHA",
            ),
            query(
                "history_days",
                "integer",
                "days of daily AVAILABLE stock in `history` (1-365, default 90)",
            ),
        ],
        body: None,
        success: (200, report_schema),
        problems: &[],
    }]
}

#[derive(Debug, Deserialize)]
pub(crate) struct ForecastQuery {
    operator_id: Option<String>,
    kind: Option<String>,
    history_days: Option<String>,
}

async fn forecast(
    RequestState(s): RequestState,
    ApiQuery(q): ApiQuery<ForecastQuery>,
) -> Result<Json<Value>, ApiError> {
    let history_days = match q.history_days.as_deref().map(str::parse::<u32>) {
        None => HISTORY_DAYS,
        Some(Ok(d @ 1..=MAX_HISTORY_DAYS)) => d,
        Some(_) => {
            return Err(ApiError::invalid(
                "history_days",
                "history_days must be an integer from 1 to 365",
            ));
        }
    };
    let kind = match q.kind.as_deref() {
        None => None,
        Some(k) => Some(
            k.parse::<IdentifierKind>()
                .map_err(|_| ApiError::invalid("kind", "kind must be MSISDN, SHORT_CODE or ALPHA"))?
                .as_str()
                .to_owned(),
        ),
    };
    let filter = ForecastFilter {
        operator_id: q.operator_id,
        kind,
    };
    let report = s.store.scarcity_forecast(&filter, history_days).await?;
    let now = report.generated_at;
    Ok(Json(json!({
        "generated_at": now,
        "horizon_days": report.horizon_days,
        "method": METHOD,
        "blocks": report.blocks.iter().map(|b| block_json(b, now)).collect::<Vec<_>>(),
    })))
}

fn date(now: DateTime<Utc>, days: Option<f64>) -> Option<NaiveDate> {
    days.map(|d| Forecast::date_after(now, d))
}

/// Rounded to `places` decimals, for a readable answer.
fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

fn block_json(b: &BlockForecast, now: DateTime<Utc>) -> Value {
    let (c, f) = (&b.block, &b.forecast);
    json!({
        "operator_id": c.operator_id,
        "kind": c.kind,
        "contract_id": c.contract_id,
        "contract_ref": c.contract_ref,
        "range_start": c.range_start,
        "range_end": c.range_end,
        "total": c.total,
        "available": c.available,
        "daily_rate": round(f.daily_rate, 3),
        "exhaustion_date": date(now, f.days_to_exhaustion),
        "exhaustion_low": date(now, f.earliest_days),
        "exhaustion_high": date(now, f.latest_days),
        "days_to_exhaustion": f.days_to_exhaustion.map(|d| round(d, 2)),
        "flagged": f.flagged,
        "history": b.history.iter().map(|(d, a)| json!({ "date": d, "available": a })).collect::<Vec<_>>(),
        "projection": f.projection.iter().map(|p| json!({
            "date": p.date,
            "expected": round(p.expected, 1),
            "low": round(p.low, 1),
            "high": round(p.high, 1),
        })).collect::<Vec<_>>(),
        "model": {
            "alpha": f.fit.alpha,
            "beta": f.fit.beta,
            "phi": f.fit.phi,
            "sigma": round(f.fit.sigma, 3),
            "weekly": f.fit.weekly.iter().map(|w| round(*w, 3)).collect::<Vec<_>>(),
        },
    })
}

fn report_schema() -> Value {
    let date = json!({ "type": "string", "format": "date" });
    let number = json!({ "type": "number" });
    let block = json!({
        "type": "object",
        "required": ["operator_id", "kind", "contract_id", "contract_ref", "range_start",
            "range_end", "total", "available", "daily_rate", "exhaustion_date", "exhaustion_low",
            "exhaustion_high", "days_to_exhaustion", "flagged", "history", "projection"],
        "properties": {
            "operator_id": { "type": ["string", "null"], "description": "null: an ATRA block (short codes)" },
            "kind": { "enum": ["MSISDN", "SHORT_CODE", "ALPHA"] },
            "contract_id": { "type": "string", "format": "uuid" },
            "contract_ref": { "type": "string" },
            "range_start": { "type": "string" },
            "range_end": { "type": "string" },
            "total": { "type": "integer", "description": "the contract's identifiers in inventory (not retired)" },
            "available": { "type": "integer", "description": "AVAILABLE now" },
            "daily_rate": { "type": "number", "description": "expected net consumption per day now (negative: the stock grows)" },
            "exhaustion_date": { "type": ["string", "null"], "format": "date", "description": "point estimate; null: not within ten years" },
            "exhaustion_low": { "type": ["string", "null"], "format": "date", "description": "the 80 % interval's earliest end" },
            "exhaustion_high": { "type": ["string", "null"], "format": "date", "description": "the 80 % interval's latest end; null: beyond ten years" },
            "days_to_exhaustion": { "type": ["number", "null"] },
            "flagged": { "type": "boolean", "description": "expected to run out within horizon_days" },
            "history": { "type": "array", "items": { "type": "object", "required": ["date", "available"],
                "properties": { "date": date, "available": { "type": "integer" } } } },
            "projection": { "type": "array", "description": "daily, to the horizon or the expected exhaustion",
                "items": { "type": "object", "required": ["date", "expected", "low", "high"],
                "properties": { "date": date, "expected": number, "low": number, "high": number } } },
            "model": { "type": "object", "description": "the fitted parameters (alpha, beta, phi, sigma, weekday effects Monday first)" },
        },
    });
    json!({
        "type": "object",
        "required": ["generated_at", "horizon_days", "method", "blocks"],
        "properties": {
            "generated_at": { "type": "string", "format": "date-time" },
            "horizon_days": { "type": "integer" },
            "method": { "type": "string" },
            "blocks": { "type": "array", "items": block },
        },
    })
}
