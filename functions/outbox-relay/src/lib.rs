//! The outbox relay: publishes `numbering.outbox` to NATS JetStream in
//! per-identifier order.
//!
//! Not built yet: arrives with its own issue. Every state change already
//! writes its outbox row in the same transaction (see `numbering_store`).
