//! The DynamoDB lease-cache tier: a projection of Postgres that only ever
//! moves forward.
//!
//! One item per identity key: the snapshot, its row `version`, a
//! `valid_until` checked on every read (DynamoDB's own TTL, the `ttl`
//! attribute, deletes late), and nothing for identifiers not in inventory.
//! Writes are conditional on the version (`attribute_not_exists(id) OR v <= :v`),
//! so of two racing writers the older version can never win.

use std::{collections::HashMap, time::Duration};

use aws_sdk_dynamodb::{
    Client,
    config::{retry::RetryConfig, timeout::TimeoutConfig},
    types::{
        AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
        ScalarAttributeType, TimeToLiveSpecification,
    },
};
use chrono::{DateTime, TimeZone, Utc};
use numbering_shared::{LeaseId, NumberSnapshot, NumberState, TenantId};

use crate::local::Cached;

#[derive(Debug, thiserror::Error)]
pub enum DynamoError {
    #[error("dynamodb request failed: {0}")]
    Request(String),
    #[error("dynamodb item is malformed: {0}")]
    Malformed(String),
}

fn request<E: std::fmt::Debug>(e: E) -> DynamoError {
    DynamoError::Request(format!("{e:?}"))
}

/// A DynamoDB client configured from the AWS SDK's standard environment
/// (`AWS_ENDPOINT_URL`, `AWS_REGION`, credentials …), rustls with ring, one
/// attempt per call and `timeout` per attempt: the caller falls back to
/// Postgres rather than retry.
pub async fn client_from_env(timeout: Duration) -> Client {
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http_client())
        .load()
        .await;
    let config = aws_sdk_dynamodb::config::Builder::from(&shared)
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(timeout)
                .operation_attempt_timeout(timeout)
                .operation_timeout(timeout)
                .build(),
        )
        .build();
    Client::from_conf(config)
}

/// HTTPS (rustls with ring; plain HTTP for loopback endpoints) for the SDK.
fn http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::{
        Builder,
        tls::{Provider, rustls_provider::CryptoMode},
    };
    Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// A DynamoDB client for an explicit endpoint with static credentials (a
/// DynamoDB-compatible server on loopback in tests and benchmarks).
pub fn client_for_endpoint(endpoint: &str, timeout: Duration) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .http_client(http_client())
        .endpoint_url(endpoint)
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "static",
        ))
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(timeout)
                .operation_attempt_timeout(timeout)
                .operation_timeout(timeout)
                .build(),
        )
        .build();
    Client::from_conf(config)
}

#[derive(Clone)]
pub struct DynamoTier {
    client: Client,
    table: String,
    /// How long an item is trusted after it was written.
    item_validity: Duration,
}

impl DynamoTier {
    pub fn new(client: Client, table: impl Into<String>, item_validity: Duration) -> Self {
        Self {
            client,
            table: table.into(),
            item_validity,
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Strongly consistent read; an item past its `valid_until` is a miss.
    pub async fn get(&self, key: &str) -> Result<Option<Cached>, DynamoError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(key.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(request)?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let valid_until = number(item, "valid_until")?.unwrap_or(0);
        if valid_until <= Utc::now().timestamp_millis() {
            return Ok(None);
        }
        Ok(Some(decode(item)?))
    }

    /// Writes `value` unless the table already holds a newer version.
    /// Returns whether it was written. Not-in-inventory answers are not stored.
    pub async fn put_forward(&self, key: &str, value: &Cached) -> Result<bool, DynamoError> {
        let Some(snapshot) = &value.snapshot else {
            return Ok(false);
        };
        let valid_until =
            Utc::now() + chrono::Duration::from_std(self.item_validity).unwrap_or_default();
        let mut item = HashMap::new();
        item.insert("id".to_owned(), AttributeValue::S(key.to_owned()));
        item.insert(
            "v".to_owned(),
            AttributeValue::N(snapshot.version.to_string()),
        );
        item.insert(
            "state".to_owned(),
            AttributeValue::S(snapshot.state.as_str().to_owned()),
        );
        if let Some(t) = &snapshot.tenant_id {
            item.insert(
                "tenant".to_owned(),
                AttributeValue::S(t.as_str().to_owned()),
            );
        }
        if let Some(l) = &snapshot.lease_id {
            item.insert("lease".to_owned(), AttributeValue::S(l.to_string()));
        }
        if let Some(t) = snapshot.lease_expires_at {
            item.insert(
                "lease_end".to_owned(),
                AttributeValue::N(t.timestamp_millis().to_string()),
            );
        }
        if let Some(t) = snapshot.reserved_until {
            item.insert(
                "reserved_until".to_owned(),
                AttributeValue::N(t.timestamp_millis().to_string()),
            );
        }
        item.insert(
            "valid_until".to_owned(),
            AttributeValue::N(valid_until.timestamp_millis().to_string()),
        );
        // DynamoDB TTL (seconds); deletion is late and best-effort, hence valid_until
        item.insert(
            "ttl".to_owned(),
            AttributeValue::N((valid_until.timestamp() + 3600).to_string()),
        );
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#id) OR #v <= :v")
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#v", "v")
            .expression_attribute_values(":v", AttributeValue::N(snapshot.version.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(request(e)),
        }
    }

    /// Creates the table (on-demand, TTL on `ttl`) if it does not exist:
    /// for development and tests; production tables come from Terraform.
    pub async fn ensure_table(&self) -> Result<(), DynamoError> {
        let exists = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .is_ok();
        if exists {
            return Ok(());
        }
        let bad = |e: aws_sdk_dynamodb::error::BuildError| DynamoError::Request(e.to_string());
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("id")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(bad)?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("id")
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(bad)?,
            )
            .send()
            .await
            .map_err(request)?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name("ttl")
                    .build()
                    .map_err(bad)?,
            )
            .send()
            .await
            .map_err(request)?;
        Ok(())
    }
}

fn string<'a>(
    item: &'a HashMap<String, AttributeValue>,
    name: &str,
) -> Result<Option<&'a str>, DynamoError> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::S(s)) => Ok(Some(s)),
        Some(other) => Err(DynamoError::Malformed(format!("{name}: {other:?}"))),
    }
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Result<Option<i64>, DynamoError> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::N(n)) => n
            .parse()
            .map(Some)
            .map_err(|_| DynamoError::Malformed(format!("{name}: {n}"))),
        Some(other) => Err(DynamoError::Malformed(format!("{name}: {other:?}"))),
    }
}

fn millis(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.and_then(|ms| Utc.timestamp_millis_opt(ms).single())
}

fn decode(item: &HashMap<String, AttributeValue>) -> Result<Cached, DynamoError> {
    let malformed = |what: &str| DynamoError::Malformed(what.to_owned());
    let version = number(item, "v")?.ok_or_else(|| malformed("no version"))?;
    let state: NumberState = string(item, "state")?
        .ok_or_else(|| malformed("no state"))?
        .parse()
        .map_err(|_| malformed("state"))?;
    let tenant_id = string(item, "tenant")?
        .map(TenantId::parse)
        .transpose()
        .map_err(|_| malformed("tenant"))?;
    let lease_id = string(item, "lease")?
        .map(LeaseId::parse)
        .transpose()
        .map_err(|_| malformed("lease"))?;
    Ok(Cached::from_snapshot(Some(NumberSnapshot {
        state,
        tenant_id,
        lease_id,
        lease_expires_at: millis(number(item, "lease_end")?),
        reserved_until: millis(number(item, "reserved_until")?),
        version,
    })))
}
