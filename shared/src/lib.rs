//! The numbering-service domain: sender identifiers, their lifecycle, and the
//! rules that decide who may send from which identifier.
//!
//! This crate is **pure**: it does no I/O, reads no clock, spawns nothing and
//! knows no wire format. Functions that depend on time take `now` as a
//! parameter; storage, caches, buses and HTTP/gRPC live in the crates around
//! it. That keeps the rules that matter most (the lifecycle table, the
//! fail-closed validation verdict, identifier canonicalisation, quotas and
//! cool-offs) deterministic, cheap to test exhaustively, and identical in
//! every function and in the all-in-one host.
//!
//! Values are parsed once at the edge into types that can only hold valid
//! data ([`Identifier`], [`TenantId`], [`LeaseId`], …), and every fallible
//! operation has its own error type. Domain types are deliberately not
//! `Serialize`: each edge owns its serialisable counterparts and converts with
//! the `as_str()` / `parse` pairs provided here.
//!
//! Modules:
//! - [`admission`]: what a tenant's pool admits (kinds, operators, vanity);
//! - [`contract`]: the lease-contract lifecycle and its blocks;
//! - [`identifier`]: MSISDN, short code and alphanumeric sender ID parsing;
//! - [`operator`]: the seeded Afghan mobile operators and prefix resolution;
//! - [`ids`]: tenant, lease and reservation ids;
//! - [`lifecycle`]: states, transitions, the lifecycle table;
//! - [`validation`]: the hot-path "may this tenant send from this identifier" verdict;
//! - [`quota`]: per-tenant quotas per kind;
//! - [`policy`]: TTLs, lease term and quarantine cool-offs;
//! - [`region`]: the two regions, `kbl` and `mzr`;
//! - [`forecast`]: the scarcity forecast (when a block's AVAILABLE stock runs out).
//! - [`renumbering`]: an operator's block move from one prefix to another.

pub mod admission;
pub mod contract;
pub mod forecast;
pub mod identifier;
pub mod ids;
pub mod lifecycle;
pub mod operator;
pub mod policy;
pub mod quota;
pub mod region;
pub mod renumbering;
pub mod validation;

pub use contract::{ContractAction, ContractStatus};
pub use identifier::{Identifier, IdentifierError, IdentifierKind};
pub use ids::{AccountId, LeaseId, ReservationId, TenantId};
pub use lifecycle::{ActorKind, NumberState, QuarantineReason, Transition};
pub use policy::{CoolOffPolicy, LifecyclePolicy};
pub use quota::{Quotas, Usage};
pub use region::Region;
pub use validation::{NumberSnapshot, ValidationReason, Verdict};
