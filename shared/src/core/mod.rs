//! The core: what every layer above may use and which itself uses nothing of Agora's
//! above it.

pub mod auth;
pub mod config;
pub mod cursor;
pub mod error;
pub mod ids;
pub mod queue;
pub mod rate_limit;
pub mod telemetry;
pub mod tls;
pub mod trust;
pub mod validation;
