//! Postgres adapter for numbering-service: the system of record.
//!
//! Every lifecycle transition is one transaction that locks the identifier's
//! row, checks the transition against the pure rules in `numbering_shared`,
//! compare-and-swaps the row version, writes the reservation / lease /
//! quarantine rows, and appends exactly one audit entry and one outbox event.
//! The database backs every invariant the code relies on (see the
//! migrations): one live reservation and one active lease per identifier,
//! row-level security per tenant, an append-only audit trail.

pub mod accounts;
pub mod admin;
pub mod approvals;
pub mod audit;
pub mod audit_jobs;
mod automation;
mod copy_binary;
mod error;
pub mod forecast;
mod housekeeping;
pub mod idempotency;
pub mod imports;
mod lifecycle;
pub mod lock;
mod model;
pub mod pg_hosts;
mod pool;
pub mod portings;
pub mod primary;
mod query;
mod record;
pub mod renumbering;
pub mod replica;
mod scope;
pub mod sender_ids;
mod snapshots;
pub mod uow;
mod wakeup;

pub use error::{InvalidInput, LifecycleError, NotAllowed, NotDue, is_constraint_violation};
pub use lifecycle::AccountUsage;
pub use lifecycle::contracts::{ContractChange, ContractError, EndOutcome};
pub use lifecycle::{
    AssignError, BoxFuture, LeaseTerm, SenderIdRegistry, Store, Unavailable, assign_verified,
    assign_verified_for,
};
pub use model::{Lease, LeaseStatus, Lookup, NumberRecord, Reservation, ReservationStatus};
pub use pool::{
    PoolConfig, connect, connect_following, connect_multi_host, connect_options, migrate,
    policy_from_env,
};
pub use primary::{Primary, PrimaryState, is_unavailable};
pub use query::{Available, Criteria, PoolView};
pub use record::{Actor, Ctx, lease_event_type, record_admin_action};
pub use scope::{Scope, begin_snapshot, begin_unscoped};
pub use snapshots::{HOT_PATH_ROLE, SnapshotReader};
pub use wakeup::{OUTBOX_CHANNEL, wake_relays_now};

/// The forward-only schema migrations, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");
