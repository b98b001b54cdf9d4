//! Agora's local stack: the whole `template.yaml` topology on loopback, no AWS account,
//! no Docker. moto plays DynamoDB, DynamoDB Streams and SQS; this crate plays Lambda
//! (the Runtime API), the HTTP API, the WebSocket API with its `@connections`
//! management API, and the stream and SQS event-source pumps; beside the HTTP API it
//! serves the browser client (`web/`) for development. Every AWS call of a function is
//! checked against its role from the template ([`iam`]).

pub mod connections_api;
pub mod demo;
pub mod faults;
pub mod http_api;
pub mod iam;
pub mod iam_proxy;
pub mod model;
pub mod moto;
pub mod provision;
pub mod pumps;
pub mod runtime;
pub mod stack;
pub mod stream_reader;
pub mod template;
pub mod web;
pub mod websocket;

pub use model::{Invoke, InvokeError, StackModel};
pub use moto::Moto;
pub use stack::{LocalStack, StackOptions, unique_stack_name};

/// Installs aws-lc-rs as rustls' process-wide crypto provider, which reqwest (built
/// without a provider of its own, see the root Cargo.toml) needs before its first
/// client. Idempotent.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // An Err means another thread installed one in between: the same provider.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}
