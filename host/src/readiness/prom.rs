//! Instant queries against a Prometheus server's HTTP API
//! (`/api/v1/query`), for the rates over days the host alone cannot keep.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// A Prometheus server.
#[derive(Clone)]
pub struct Prometheus {
    base: String,
    http: reqwest::Client,
}

impl Prometheus {
    pub fn new(base: &str) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
        })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// The value of `expr` now: the first sample of a vector or a scalar
    /// (`None`: an empty vector, or NaN).
    pub async fn value(&self, expr: &str) -> Result<Option<f64>> {
        let body: Value = self
            .http
            .get(format!("{}/api/v1/query", self.base))
            .query(&[("query", expr)])
            .send()
            .await
            .with_context(|| format!("querying {}", self.base))?
            .json()
            .await
            .context("reading the Prometheus answer")?;
        if body["status"] != "success" {
            bail!("Prometheus refused {expr}: {}", body["error"]);
        }
        Ok(first_value(&body["data"]))
    }
}

fn first_value(data: &Value) -> Option<f64> {
    let pair = match data["resultType"].as_str()? {
        "scalar" => &data["result"],
        "vector" => &data["result"].as_array()?.first()?["value"],
        _ => return None,
    };
    let v: f64 = pair.get(1)?.as_str()?.parse().ok()?;
    v.is_finite().then_some(v)
}
