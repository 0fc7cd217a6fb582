//! Durable JetStream consumers for the events numbering reacts to (SPEC §7):
//!
//! | subject | effect |
//! |---|---|
//! | `compliance.tenant.suspended.v1` | recall every lease of the tenant, cancel its reservations, suspend its pool |
//! | `senderid.revoked.v1` | recall that ALPHA lease |
//! | `billing.account.delinquent.v1` | suspend the tenant's active leases |
//! | `billing.account.paid.v1` | reinstate the leases billing suspended (an admin's suspension stays) |
//!
//! What each accepts is documented as a JSON Schema in `docs/events/<subject>.schema.json`;
//! anything else is dead-lettered at once.
//!
//! Idempotent twice over: a handled event id is remembered in
//! `numbering.processed_events` (a duplicate is acked and ignored), and each
//! handler acts only on what is still in the state it changes (a retry after
//! a partial failure continues where it stopped). A message that keeps
//! failing is published to `numbering.ops.deadletter.v1` (stream
//! NUMBERING_OPS) with the reason, after `max_deliver` attempts or at once
//! when it can never succeed (unparseable, unknown type).

use std::time::Duration;

pub mod lag;

use anyhow::{Context as _, Result, anyhow};
use async_nats::jetstream::{self, AckKind, consumer::pull, message::PublishMessage, stream};
use futures_util::StreamExt;
use numbering_shared::{Identifier, IdentifierKind, TenantId};
use numbering_store::{Actor, Ctx, LeaseStatus, LifecycleError, Store};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;

pub const SUBJECTS: [&str; 4] = [
    "compliance.tenant.suspended.v1",
    "senderid.revoked.v1",
    "billing.account.delinquent.v1",
    "billing.account.paid.v1",
];
pub const DEAD_LETTER_SUBJECT: &str = "numbering.ops.deadletter.v1";

#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// The stream holding the inbound subjects.
    pub stream: String,
    /// Create that stream (capturing exactly [`SUBJECTS`]) if it is missing:
    /// the embedded default and tests; in production the producers own it.
    pub create_stream: bool,
    pub durable: String,
    /// Deliveries before a failing message is dead-lettered.
    pub max_deliver: i64,
    pub ack_wait: Duration,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            stream: "NUMBERING_INBOUND".into(),
            create_stream: true,
            durable: "numbering-event-consumer".into(),
            max_deliver: 5,
            ack_wait: Duration::from_secs(30),
        }
    }
}

/// The envelope producers send (CloudEvents-style, as ours).
#[derive(Debug, Deserialize)]
pub struct Inbound {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    #[serde(default)]
    pub data: Value,
}

/// Why handling failed.
#[derive(Debug)]
pub enum Failure {
    /// Will never succeed: dead-letter now.
    Permanent(String),
    /// May succeed later: redeliver, dead-letter after `max_deliver`.
    Transient(anyhow::Error),
}

impl From<LifecycleError> for Failure {
    fn from(e: LifecycleError) -> Self {
        Failure::Transient(e.into())
    }
}

/// What handling one event did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub duplicate: bool,
    pub changed: usize,
}

#[derive(Clone)]
pub struct EventConsumer {
    store: Store,
    js: jetstream::Context,
    config: ConsumerConfig,
}

impl EventConsumer {
    pub fn new(store: Store, client: async_nats::Client, config: ConsumerConfig) -> Self {
        Self {
            store,
            js: jetstream::new(client),
            config,
        }
    }

    async fn consumer(&self, subject: &str) -> Result<jetstream::consumer::Consumer<pull::Config>> {
        let stream = if self.config.create_stream {
            self.js
                .get_or_create_stream(stream::Config {
                    name: self.config.stream.clone(),
                    subjects: SUBJECTS.iter().map(|s| (*s).to_owned()).collect(),
                    max_age: Duration::from_secs(30 * 24 * 3600),
                    duplicate_window: Duration::from_secs(15 * 60),
                    ..Default::default()
                })
                .await?
        } else {
            self.js.get_stream(&self.config.stream).await?
        };
        // The dead letters go to NUMBERING_OPS (created by the relay; here too
        // so that a consumer started first can dead-letter).
        let _ = self
            .js
            .get_or_create_stream(stream::Config {
                name: "NUMBERING_OPS".into(),
                subjects: vec!["numbering.ops.>".into()],
                max_age: Duration::from_secs(14 * 24 * 3600),
                duplicate_window: Duration::from_secs(15 * 60),
                ..Default::default()
            })
            .await;
        // One durable per subject: NATS 2.9 filters one subject per consumer.
        let durable = format!("{}-{}", self.config.durable, subject.replace('.', "-"));
        Ok(stream
            .get_or_create_consumer(
                &durable,
                pull::Config {
                    durable_name: Some(durable.clone()),
                    filter_subject: subject.to_owned(),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: self.config.ack_wait,
                    max_deliver: self.config.max_deliver + 1,
                    ..Default::default()
                },
            )
            .await?)
    }

    /// Consumes every subject until `stop`, reconnecting after errors.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        let mut tasks = tokio::task::JoinSet::new();
        for subject in SUBJECTS {
            tasks.spawn(self.clone().run_subject(subject, stop.clone()));
        }
        tasks.spawn(self.clone().report_lag(stop.clone()));
        while tasks.join_next().await.is_some() {}
    }

    async fn run_subject(self, subject: &'static str, mut stop: watch::Receiver<bool>) {
        while !*stop.borrow() {
            if let Err(e) = self.consume(subject, &mut stop).await {
                tracing::warn!(error = %format!("{e:#}"), "event consumer failed; will retry");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }

    async fn consume(&self, subject: &str, stop: &mut watch::Receiver<bool>) -> Result<()> {
        let consumer = self.consumer(subject).await?;
        let mut messages = consumer.messages().await?;
        loop {
            let message = tokio::select! {
                m = messages.next() => m,
                _ = stop.changed() => return Ok(()),
            };
            let Some(message) = message else {
                return Err(anyhow!("message stream ended"));
            };
            let message = message?;
            self.deliver(&message).await?;
        }
    }

    async fn deliver(&self, message: &jetstream::Message) -> Result<()> {
        let subject = message.subject.to_string();
        let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
        match self.handle(&subject, &message.payload).await {
            Ok(outcome) => {
                let label = if outcome.duplicate {
                    "duplicate"
                } else {
                    "processed"
                };
                metrics::counter!("numbering_events_consumed_total", "type" => subject, "outcome" => label)
                    .increment(1);
                message.ack().await.map_err(|e| anyhow!(e))?;
            }
            Err(Failure::Permanent(reason)) => {
                self.dead_letter(message, &reason, delivered).await?;
            }
            Err(Failure::Transient(e)) if delivered >= self.config.max_deliver => {
                self.dead_letter(message, &format!("{e:#}"), delivered)
                    .await?;
            }
            Err(Failure::Transient(e)) => {
                tracing::warn!(subject, delivered, error = %format!("{e:#}"), "inbound event failed; will be redelivered");
                metrics::counter!("numbering_events_consumed_total", "type" => subject, "outcome" => "retry")
                    .increment(1);
                let delay = Duration::from_millis(200 * 2u64.pow(delivered.clamp(1, 8) as u32));
                message
                    .ack_with(AckKind::Nak(Some(delay)))
                    .await
                    .map_err(|e| anyhow!(e))?;
            }
        }
        Ok(())
    }

    async fn dead_letter(
        &self,
        message: &jetstream::Message,
        reason: &str,
        delivered: i64,
    ) -> Result<()> {
        let subject = message.subject.to_string();
        tracing::error!(subject, delivered, reason, "inbound event dead-lettered");
        metrics::counter!("numbering_events_dead_lettered_total", "type" => subject.clone())
            .increment(1);
        let published = PublishMessage::build()
            .header(
                "Numbering-Dead-Letter-Reason",
                reason.replace(['\r', '\n'], " "),
            )
            .header("Numbering-Original-Subject", subject.as_str())
            .header("Numbering-Deliveries", delivered.to_string().as_str())
            .payload(message.payload.clone());
        self.js
            .send_publish(DEAD_LETTER_SUBJECT, published)
            .await?
            .await
            .context("publishing the dead letter")?;
        message
            .ack_with(AckKind::Term)
            .await
            .map_err(|e| anyhow!(e))?;
        Ok(())
    }

    /// Handles one inbound event (exposed for tests and other transports).
    pub async fn handle(&self, subject: &str, payload: &[u8]) -> Result<Outcome, Failure> {
        let event: Inbound = serde_json::from_slice(payload)
            .map_err(|e| Failure::Permanent(format!("not an event envelope: {e}")))?;
        if event.id.is_empty() {
            return Err(Failure::Permanent("event without an id".into()));
        }
        let seen: Option<String> = sqlx::query_scalar(
            "SELECT event_id FROM numbering.processed_events WHERE event_id = $1",
        )
        .bind(&event.id)
        .fetch_optional(self.store.pool())
        .await
        .map_err(|e| Failure::Transient(e.into()))?;
        if seen.is_some() {
            return Ok(Outcome {
                duplicate: true,
                changed: 0,
            });
        }
        let ctx = Ctx::new(Actor::system("event-consumer")).with_request_id(event.id.clone());
        let tenant = tenant_of(&event.data)?;
        let changed = match subject {
            "compliance.tenant.suspended.v1" => self.tenant_suspended(&ctx, &tenant).await?,
            "senderid.revoked.v1" => {
                let alpha = event
                    .data
                    .get("alpha_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| Failure::Permanent("data.alpha_id is missing".into()))?;
                self.sender_id_revoked(&ctx, &tenant, alpha).await?
            }
            "billing.account.delinquent.v1" => self.delinquent(&ctx, &tenant).await?,
            "billing.account.paid.v1" => self.paid(&ctx, &tenant).await?,
            other => return Err(Failure::Permanent(format!("unexpected subject {other}"))),
        };
        sqlx::query(
            "INSERT INTO numbering.processed_events (event_id, event_type, outcome) VALUES ($1, $2, $3::json) \
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(&event.id)
        .bind(subject)
        .bind(json!({ "changed": changed }).to_string())
        .execute(self.store.pool())
        .await
        .map_err(|e| Failure::Transient(e.into()))?;
        Ok(Outcome {
            duplicate: false,
            changed,
        })
    }

    async fn tenant_suspended(&self, ctx: &Ctx, tenant: &TenantId) -> Result<usize, Failure> {
        let mut changed = 0;
        for lease in self.store.tenant_leases(tenant).await? {
            self.store.recall(ctx, &lease.identifier).await?;
            changed += 1;
        }
        for reservation in self.store.tenant_reservations(tenant).await? {
            match self.store.cancel(ctx, tenant, reservation).await {
                Ok(_) => changed += 1,
                // lapsed meanwhile: already what we wanted
                Err(LifecycleError::ReservationExpired(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        changed += usize::from(self.store.suspend_pool(ctx, tenant).await?);
        Ok(changed)
    }

    async fn sender_id_revoked(
        &self,
        ctx: &Ctx,
        tenant: &TenantId,
        alpha: &str,
    ) -> Result<usize, Failure> {
        // canonical ALPHA only (docs/events/senderid.revoked.v1.schema.json)
        let alpha = Identifier::parse_as(IdentifierKind::Alpha, alpha)
            .map_err(|e| Failure::Permanent(format!("data.alpha_id: {e}")))
            .and_then(|id| match id.as_str() == alpha {
                true => Ok(id),
                false => Err(Failure::Permanent(
                    "data.alpha_id: not in canonical form (surrounding spaces)".into(),
                )),
            })?;
        let mut changed = 0;
        for lease in self.store.tenant_leases(tenant).await? {
            if lease.identifier.key() == alpha.key() {
                self.store.recall(ctx, &lease.identifier).await?;
                changed += 1;
            }
        }
        Ok(changed)
    }

    async fn delinquent(&self, ctx: &Ctx, tenant: &TenantId) -> Result<usize, Failure> {
        let mut changed = 0;
        for lease in self.store.tenant_leases(tenant).await? {
            if lease.status == LeaseStatus::Active {
                self.store.suspend(ctx, &lease.identifier).await?;
                changed += 1;
            }
        }
        Ok(changed)
    }

    async fn paid(&self, ctx: &Ctx, tenant: &TenantId) -> Result<usize, Failure> {
        let mut changed = 0;
        for lease in self.store.tenant_leases(tenant).await? {
            // only what billing suspended: an admin's hold stays
            if lease.suspended_by_system() {
                self.store.reinstate(ctx, &lease.identifier).await?;
                changed += 1;
            }
        }
        Ok(changed)
    }
}

fn tenant_of(data: &Value) -> Result<TenantId, Failure> {
    let raw = data
        .get("tenant_id")
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::Permanent("data.tenant_id is missing".into()))?;
    TenantId::parse(raw).map_err(|e| Failure::Permanent(format!("data.tenant_id: {e}")))
}
