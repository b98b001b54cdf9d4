//! The one TLS crypto provider of every binary: aws-lc-rs.
//!
//! The SDK's HTTPS client (`default-https-client`) builds its rustls config with
//! aws-lc-rs itself. reqwest is built without a provider of its own (its `rustls-tls`
//! feature would add ring): it takes rustls' process-wide default, and panics when none
//! is installed. So [`install_crypto_provider`] runs before any reqwest client is built.

/// Installs aws-lc-rs as rustls' process-wide crypto provider. Idempotent: a provider
/// installed before (this one, by an earlier call) stays.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // An Err means another thread installed one in between: the same provider.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}
