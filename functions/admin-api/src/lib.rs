//! The platform-admin REST API (`/v1/admin/numbering/*`).
//!
//! Not built yet: the routes arrive with their own issue. Suspend,
//! reinstate, recall, retire and quarantine override already exist in
//! `numbering_store::Store`; audit verification in `numbering_store::audit`.
