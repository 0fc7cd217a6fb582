//! Per-tenant token bucket for the portal: 429 with `Retry-After`, and the
//! `RateLimit` / `RateLimit-Policy` headers (IETF httpapi draft) on every
//! answer.

use std::{collections::HashMap, sync::Mutex, time::Instant};

use axum::{
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{ApiError, ApiState, Principal};

/// Token buckets keyed by tenant: `burst` tokens, refilled at `per_second`.
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

/// The outcome of taking one token.
pub struct Decision {
    pub allowed: bool,
    pub remaining: u64,
    /// Seconds until a token is available (0 when allowed).
    pub retry_after: u64,
}

impl RateLimiter {
    pub fn new(per_second: f64, burst: u32) -> Self {
        Self {
            per_second: per_second.max(0.001),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn take(&self, key: &str) -> Decision {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, at) = buckets.entry(key.to_owned()).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Decision {
                allowed: true,
                remaining: *tokens as u64,
                retry_after: 0,
            }
        } else {
            let wait = ((1.0 - *tokens) / self.per_second).ceil() as u64;
            Decision {
                allowed: false,
                remaining: 0,
                retry_after: wait.max(1),
            }
        }
    }

    fn policy(&self) -> String {
        let window = (self.burst / self.per_second).ceil().max(1.0) as u64;
        format!("\"tenant\";q={};w={window}", self.burst as u64)
    }
}

/// Middleware (after authentication): one token per request per tenant.
pub async fn layer(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let Some(limiter) = state.edge.limiter.clone() else {
        return next.run(req).await;
    };
    let key = req
        .extensions()
        .get::<Principal>()
        .map(|p| {
            p.tenant_id
                .as_ref()
                .map_or(p.subject.clone(), |t| t.as_str().to_owned())
        })
        .unwrap_or_default();
    let d = limiter.take(&key);
    let policy = HeaderValue::from_str(&limiter.policy()).ok();
    let mut r = if d.allowed {
        next.run(req).await
    } else {
        metrics::counter!("numbering_rate_limited_total").increment(1);
        let mut r = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            format!("too many requests; retry in {} s", d.retry_after),
        )
        .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(d.retry_after));
        r
    };
    if let Some(p) = policy {
        r.headers_mut().insert("ratelimit-policy", p);
    }
    if let Ok(v) =
        HeaderValue::from_str(&format!("\"tenant\";r={};t={}", d.remaining, d.retry_after))
    {
        r.headers_mut().insert("ratelimit", v);
    }
    r
}
