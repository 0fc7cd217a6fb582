//! The DynamoDB lease-cache tier. The table, its item format and its
//! clients live in [`numbering_clients::lease_cache`], shared with the
//! outbox relay that writes it; the hot path reads it between its
//! in-process tier and Postgres, and fills it after a Postgres read.

pub use numbering_clients::lease_cache::{
    LeaseCacheError as DynamoError, LeaseCacheTable as DynamoTier, client_for_endpoint,
    client_from_env,
};
