//! The tenant portal REST API (`/v1/portal/numbering/*`).
//!
//! Not built yet: the routes arrive with their own issue. The lifecycle
//! they expose already exists in `numbering_store::Store`.
