//! Agora's domain library, in layers whose dependencies point one way:
//!
//! - [`core`]: errors, ids, config, auth, cursors, validation, telemetry;
//! - [`table`]: the single-table store, the only code that talks to DynamoDB;
//! - [`contexts`]: one folder per bounded context (profiles, connections, …);
//! - [`account`]: use cases across contexts (export and erasure of an account);
//! - [`edge`] (feature `edge`): HTTP, WebSocket frames and batch handlers.
//!
//! `tests/layers.rs` fails on an import against that direction or a cycle between
//! contexts. The short paths at the crate root (`agora::feed`, `agora::store`, …) are
//! aliases for the functions and tests; code inside the library uses the full paths.

pub mod account;
pub mod contexts;
pub mod core;
pub mod table;

#[cfg(feature = "edge")]
pub mod edge;

pub use crate::contexts::realtime::push;
pub use crate::contexts::{
    chat, connections, discussions, feed, graph, moderation, notifications, profiles, realtime,
};
pub use crate::core::error::{AppError, AppResult, FieldError};
pub use crate::core::{auth, config, cursor, error, ids, telemetry, tls, validation};
#[cfg(feature = "edge")]
pub use crate::edge::{batch, reactions};
pub use crate::table::{idempotency, store, stream};
