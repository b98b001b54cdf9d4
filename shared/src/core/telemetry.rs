//! Structured JSON logs for Lambda. The runtime opens a span per invocation carrying the
//! request id, and the formatter prints the span list, so every line has the request id.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once per cold start. `RUST_LOG` sets the level
/// (default `info`); `AGORA_LOG_FORMAT=text` gives human-readable lines for local work.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let text = std::env::var("AGORA_LOG_FORMAT").is_ok_and(|f| f == "text");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(false)
        .without_time();
    // Lambda stamps each line itself; a second timestamp only costs bytes.
    let result = if text {
        builder.try_init()
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    };
    // A second init (tests, several handlers in one process) keeps the first subscriber.
    drop(result);
}
