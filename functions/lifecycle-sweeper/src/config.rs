//! The sweeper's configuration: billing ([`BillingConfig`], which the host
//! composes too) and, for its scheduled Lambda, the database.

use std::{sync::Arc, time::Duration};

use numbering_clients::{
    Billing, GrpcBilling, NotConfigured, channel,
    config::{ConfigError, FromLookup, StoreConfig},
};

/// `NUMBERING_BILLING_URL`: billing-service gRPC (PreviewCharge), asked
/// before every auto-renewal; absent: renewals wait (billing counts as
/// unreachable, so no lease past term is expired inside its grace period).
#[derive(Debug, Clone, Default)]
pub struct BillingConfig {
    pub url: Option<String>,
}

impl BillingConfig {
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Self {
        Self {
            url: get("NUMBERING_BILLING_URL"),
        }
    }

    /// The billing client (lazily connected, 3 s timeouts).
    pub fn client(&self) -> Result<Arc<dyn Billing>, ConfigError> {
        Ok(match &self.url {
            Some(url) => Arc::new(GrpcBilling::new(
                channel(url, Duration::from_secs(3))
                    .map_err(|e| ConfigError(format!("NUMBERING_BILLING_URL={url:?}: {e}")))?,
            )),
            None => Arc::new(NotConfigured("NUMBERING_BILLING_URL")),
        })
    }
}

/// The `lifecycle-sweeper` Lambda's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL` (required) and the rest of [`StoreConfig`]; a pool of 4.
    pub store: StoreConfig,
    pub billing: BillingConfig,
}

impl FromLookup for Config {
    fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            store: StoreConfig::from_lookup(get, 4)?.required()?,
            billing: BillingConfig::from_lookup(get),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use numbering_clients::config::{from_pairs, lambda_config};

    #[test]
    fn the_lambda_pools_four_connections() {
        let c: Config = lambda_config(&[]).unwrap();
        assert_eq!(c.store.db_max_connections, 4);
    }

    #[tokio::test]
    async fn billing_url_is_optional_and_must_be_a_uri_when_set() {
        assert!(
            BillingConfig::from_lookup(&from_pairs(&[]))
                .client()
                .is_ok()
        );
        let get = from_pairs(&[("NUMBERING_BILLING_URL", "http://billing:50051")]);
        let billing = BillingConfig::from_lookup(&get);
        assert_eq!(billing.url.as_deref(), Some("http://billing:50051"));
        assert!(billing.client().is_ok());
        let get = from_pairs(&[("NUMBERING_BILLING_URL", "not a uri")]);
        let err = BillingConfig::from_lookup(&get).client().err().unwrap();
        assert!(err.0.contains("NUMBERING_BILLING_URL"), "{err}");
    }
}
