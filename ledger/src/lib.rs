//! Fiscus ledger core: money, events and their postings, the record format and its hash chains,
//! projections, and (with the default `store` feature) the sled store with replay and verification.
//!
//! The core is synchronous and free of I/O: `rules::decide` checks an event against state,
//! `posting::postings` expands it, `ProjectState::apply` folds it. The store wraps that with sled.

pub mod chain;
pub mod commit;
mod dating;
mod decode;
pub mod error;
pub mod event;
pub mod export;
pub mod files;
pub mod id_index;
pub mod ids;
pub mod log;
pub mod money;
#[cfg(feature = "store")]
pub mod pack;
pub mod persistent;
pub mod posting;
pub mod private;
pub mod projection;
pub mod record;
#[cfg(feature = "store")]
pub mod replay;
pub mod report;
pub mod rules;
pub mod statement;
#[cfg(feature = "store")]
pub mod store;
#[cfg(feature = "store")]
pub mod synced;
pub mod verify;

pub use chain::Hash;
pub use commit::{CommitRequest, Committed, Position};
pub use error::{ErrorClass, LedgerError};
pub use event::{Event, EventKind, ExpenseDetails, Fund, ProjectKind, Receipt, Source};
pub use ids::ProjectId;
pub use money::{Currency, Money};
pub use projection::{Balance, ProjectState, Projection};
