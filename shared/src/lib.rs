//! Agora's domain library.
//!
//! Plain Rust, free of Lambda and API Gateway types (those live in [`edge`], behind the
//! `edge` feature): one module per bounded context owning its item types, key builders
//! and access patterns, on top of the single-table [`store`].

pub mod auth;
pub mod chat;
pub mod config;
pub mod connections;
pub mod cursor;
pub mod discussions;
pub mod error;
pub mod feed;
pub mod idempotency;
pub mod ids;
pub mod moderation;
pub mod notifications;
pub mod profiles;
pub mod push;
pub mod reactions;
pub mod realtime;
pub mod store;
pub mod stream;
pub mod telemetry;
pub mod validation;

#[cfg(feature = "edge")]
pub mod edge;

#[cfg(feature = "edge")]
pub mod batch;

pub use error::{AppError, AppResult, FieldError};
