//! The DynamoDB lease cache: a projection of Postgres that only ever moves
//! forward. The hot path (validate-lease) reads it as one of its tiers and
//! fills it after a Postgres read; the outbox relay writes it after every
//! lease-state change. Both use this one type, so the item format has one
//! home.
//!
//! One item per identity key: the snapshot (with `link_until` for an old
//! identifier read through a renumbering's link), its row `version`, a
//! `valid_until` checked on every read (DynamoDB's own TTL, the `ttl`
//! attribute, deletes late), and nothing for identifiers not in inventory.
//! Writes are conditional on the version (`attribute_not_exists(id) OR v <= :v`),
//! so of two racing writers the older version can never win.
//!
//! The relay's projection also writes routing's answer (`Lookup`: the
//! serving operator and the portability fields) onto the item, read at the
//! same version, so that Lookup is answered from this tier too. The fields
//! are additive: an item without them (written before they existed, or by a
//! hot-path fill, which reads only the snapshot) still decodes, with no
//! routing answer. A fill never removes them from an item of its own version.

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
use numbering_shared::{Identifier, LeaseId, NumberSnapshot, NumberState, TenantId};
use numbering_store::Lookup;

use crate::BoxFuture;

#[derive(Debug, thiserror::Error)]
pub enum LeaseCacheError {
    #[error("dynamodb request failed: {0}")]
    Request(String),
    #[error("dynamodb item is malformed: {0}")]
    Malformed(String),
}

fn request<E: std::fmt::Debug>(e: E) -> LeaseCacheError {
    LeaseCacheError::Request(format!("{e:?}"))
}

/// One cached answer: the snapshot (`None`: not in inventory) at `version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cached {
    pub snapshot: Option<NumberSnapshot>,
    /// The row version (0 for "not in inventory").
    pub version: i64,
    /// Routing's answer at `version` (`None`: not carried by this item).
    pub routing: Option<Lookup>,
}

impl Cached {
    pub fn from_snapshot(snapshot: Option<NumberSnapshot>) -> Self {
        let version = snapshot.as_ref().map_or(0, |s| s.version);
        Self {
            snapshot,
            version,
            routing: None,
        }
    }

    /// The same answer, carrying routing's view read at (or after) its version.
    pub fn with_routing(mut self, routing: Option<Lookup>) -> Self {
        self.routing = routing;
        self
    }
}

/// Where the relay moves a lease-state change forward: the table itself (a
/// relay without a hot path of its own) or a hot-path reader, which also
/// holds an in-process tier (the host).
///
/// Contract: MUST NOT replace a newer version with an older one, so that a
/// replayed or late event changes nothing.
pub trait ProjectForward: Send + Sync {
    fn project_forward<'a>(
        &'a self,
        identifier: &'a Identifier,
        value: Cached,
    ) -> BoxFuture<'a, Result<(), LeaseCacheError>>;
}

impl ProjectForward for LeaseCacheTable {
    fn project_forward<'a>(
        &'a self,
        identifier: &'a Identifier,
        value: Cached,
    ) -> BoxFuture<'a, Result<(), LeaseCacheError>> {
        Box::pin(async move {
            self.put_forward(&identifier.key(), &value).await?;
            Ok(())
        })
    }
}

/// A DynamoDB client configured from the AWS SDK's standard environment
/// (`AWS_ENDPOINT_URL`, `AWS_REGION`, credentials …), one attempt per call
/// and `timeout` per attempt: the hot path falls back to Postgres rather
/// than retry.
pub async fn client_from_env(timeout: Duration) -> Client {
    let shared = crate::aws::sdk_config_from_env().await;
    one_attempt(aws_sdk_dynamodb::config::Builder::from(&shared), timeout)
}

/// A DynamoDB client for an explicit endpoint with static credentials (a
/// DynamoDB-compatible server on loopback in tests and benchmarks).
pub fn client_for_endpoint(endpoint: &str, timeout: Duration) -> Client {
    let builder = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "static",
        ));
    one_attempt(builder, timeout)
}

/// The client's HTTPS (rustls with ring), one attempt per call and
/// `timeout` for connecting, for the attempt and for the whole call.
fn one_attempt(builder: aws_sdk_dynamodb::config::Builder, timeout: Duration) -> Client {
    let config = builder
        .http_client(crate::aws::http_client())
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
pub struct LeaseCacheTable {
    client: Client,
    table: String,
    /// How long an item is trusted after it was written.
    item_validity: Duration,
}

impl LeaseCacheTable {
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
    pub async fn get(&self, key: &str) -> Result<Option<Cached>, LeaseCacheError> {
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

    /// Writes `value` unless the table already holds a newer version (or,
    /// for a value without routing, the same version with routing).
    /// Returns whether it was written. Not-in-inventory answers are not stored.
    pub async fn put_forward(&self, key: &str, value: &Cached) -> Result<bool, LeaseCacheError> {
        let Some(snapshot) = &value.snapshot else {
            return Ok(false);
        };
        let valid_until =
            Utc::now() + chrono::Duration::from_std(self.item_validity).unwrap_or_default();
        let mut item = encode(key, snapshot, valid_until);
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#v", "v")
            .expression_attribute_values(":v", AttributeValue::N(snapshot.version.to_string()));
        put = match &value.routing {
            Some(routing) => {
                encode_routing(&mut item, routing);
                put.condition_expression("attribute_not_exists(#id) OR #v <= :v")
            }
            // the same version's routing, written by the relay, stays while
            // the item is valid
            None => put
                .condition_expression(
                    "attribute_not_exists(#id) OR #v < :v \
                     OR (#v = :v AND (attribute_not_exists(r_kind) OR valid_until <= :now))",
                )
                .expression_attribute_values(
                    ":now",
                    AttributeValue::N(Utc::now().timestamp_millis().to_string()),
                ),
        };
        let result = put.set_item(Some(item)).send().await;
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
    pub async fn ensure_table(&self) -> Result<(), LeaseCacheError> {
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
        let bad = |e: aws_sdk_dynamodb::error::BuildError| LeaseCacheError::Request(e.to_string());
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
) -> Result<Option<&'a str>, LeaseCacheError> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::S(s)) => Ok(Some(s)),
        Some(other) => Err(LeaseCacheError::Malformed(format!("{name}: {other:?}"))),
    }
}

fn number(
    item: &HashMap<String, AttributeValue>,
    name: &str,
) -> Result<Option<i64>, LeaseCacheError> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::N(n)) => n
            .parse()
            .map(Some)
            .map_err(|_| LeaseCacheError::Malformed(format!("{name}: {n}"))),
        Some(other) => Err(LeaseCacheError::Malformed(format!("{name}: {other:?}"))),
    }
}

fn millis(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.and_then(|ms| Utc.timestamp_millis_opt(ms).single())
}

/// The item of `snapshot` under `key`, trusted until `valid_until`.
fn encode(
    key: &str,
    snapshot: &NumberSnapshot,
    valid_until: DateTime<Utc>,
) -> HashMap<String, AttributeValue> {
    let text = |v: String| AttributeValue::S(v);
    let millis = |t: DateTime<Utc>| AttributeValue::N(t.timestamp_millis().to_string());
    let mut item = HashMap::new();
    item.insert("id".to_owned(), text(key.to_owned()));
    item.insert(
        "v".to_owned(),
        AttributeValue::N(snapshot.version.to_string()),
    );
    item.insert("state".to_owned(), text(snapshot.state.as_str().to_owned()));
    if let Some(t) = &snapshot.tenant_id {
        item.insert("tenant".to_owned(), text(t.as_str().to_owned()));
    }
    if let Some(l) = &snapshot.lease_id {
        item.insert("lease".to_owned(), text(l.to_string()));
    }
    if let Some(t) = snapshot.lease_expires_at {
        item.insert("lease_end".to_owned(), millis(t));
    }
    if let Some(t) = snapshot.reserved_until {
        item.insert("reserved_until".to_owned(), millis(t));
    }
    if let Some(t) = snapshot.link_until {
        item.insert("link_until".to_owned(), millis(t));
    }
    item.insert("valid_until".to_owned(), millis(valid_until));
    // DynamoDB TTL (seconds); deletion is late and best-effort, hence valid_until
    item.insert(
        "ttl".to_owned(),
        AttributeValue::N((valid_until.timestamp() + 3600).to_string()),
    );
    item
}

fn decode(item: &HashMap<String, AttributeValue>) -> Result<Cached, LeaseCacheError> {
    let malformed = |what: &str| LeaseCacheError::Malformed(what.to_owned());
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
    let cached = Cached::from_snapshot(Some(NumberSnapshot {
        state,
        tenant_id,
        lease_id,
        lease_expires_at: millis(number(item, "lease_end")?),
        reserved_until: millis(number(item, "reserved_until")?),
        version,
        link_until: millis(number(item, "link_until")?),
    }));
    Ok(cached.with_routing(decode_routing(item)?))
}

/// Routing's attributes (`r_kind` marks an item that carries them).
fn encode_routing(item: &mut HashMap<String, AttributeValue>, r: &Lookup) {
    let mut text = |name: &str, v: &Option<String>| {
        if let Some(v) = v {
            item.insert(name.to_owned(), AttributeValue::S(v.clone()));
        }
    };
    text("r_kind", &Some(r.kind.clone()));
    text("r_state", &Some(r.state.clone()));
    text("r_op", &r.operator_id);
    text("r_op_name", &r.operator_name);
    text("r_mcc", &r.mcc);
    text("r_mnc", &r.mnc);
    text("r_home_op", &r.home_operator_id);
    text("r_home_mcc", &r.home_mcc);
    text("r_home_mnc", &r.home_mnc);
    item.insert("r_ported".to_owned(), AttributeValue::Bool(r.ported));
    if let Some(t) = r.ported_at {
        item.insert(
            "r_ported_at".to_owned(),
            AttributeValue::N(t.timestamp_millis().to_string()),
        );
    }
}

fn decode_routing(
    item: &HashMap<String, AttributeValue>,
) -> Result<Option<Lookup>, LeaseCacheError> {
    let Some(kind) = string(item, "r_kind")? else {
        return Ok(None);
    };
    let text = |name: &str| string(item, name).map(|v| v.map(str::to_owned));
    let ported = match item.get("r_ported") {
        None => false,
        Some(AttributeValue::Bool(b)) => *b,
        Some(other) => return Err(LeaseCacheError::Malformed(format!("r_ported: {other:?}"))),
    };
    Ok(Some(Lookup {
        kind: kind.to_owned(),
        state: text("r_state")?.ok_or_else(|| LeaseCacheError::Malformed("no r_state".into()))?,
        operator_id: text("r_op")?,
        operator_name: text("r_op_name")?,
        mcc: text("r_mcc")?,
        mnc: text("r_mnc")?,
        ported,
        home_operator_id: text("r_home_op")?,
        home_mcc: text("r_home_mcc")?,
        home_mnc: text("r_home_mnc")?,
        ported_at: millis(number(item, "r_ported_at")?),
    }))
}
