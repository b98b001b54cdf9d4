//! Structured JSON logs for Lambda. The runtime opens a span per invocation carrying the
//! request id, and the formatter prints the span list, so every line has the request id.
//! Metrics are log lines too: [`emit_counts`] prints CloudWatch embedded-metric-format
//! records, which CloudWatch Logs turns into metrics of the `Agora` namespace.

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

/// CloudWatch namespace of Agora's own metrics.
pub const METRIC_NAMESPACE: &str = "Agora";

/// One record of CloudWatch's embedded metric format: `counts` (each a `Count` metric)
/// under the dimensions `Function` and `Operation`, at `timestamp_ms` (Unix epoch). A
/// pure function, so its shape is tested without a log.
pub fn metric_record(
    function: &str,
    operation: &str,
    counts: &[(&str, u64)],
    timestamp_ms: i64,
) -> serde_json::Value {
    let definitions: Vec<serde_json::Value> = counts
        .iter()
        .map(|(name, _)| serde_json::json!({ "Name": name, "Unit": "Count" }))
        .collect();
    let mut record = serde_json::Map::new();
    record.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": METRIC_NAMESPACE,
                "Dimensions": [["Function", "Operation"]],
                "Metrics": definitions,
            }],
        }),
    );
    record.insert("Function".into(), function.into());
    record.insert("Operation".into(), operation.into());
    for (name, value) in counts {
        record.insert((*name).to_owned(), (*value).into());
    }
    serde_json::Value::Object(record)
}

/// Prints one embedded-metric-format line to stdout, where CloudWatch Logs extracts the
/// metrics from the function's log group (no API call, no extra latency). The
/// `Function` dimension is this function's name (`AWS_LAMBDA_FUNCTION_NAME`, read
/// once). Nothing is printed for no counts.
pub fn emit_counts(operation: &str, counts: &[(&str, u64)]) {
    static FUNCTION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if counts.is_empty() {
        return;
    }
    let function = FUNCTION.get_or_init(|| {
        std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "unknown".to_owned())
    });
    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let timestamp_ms = i64::try_from(now_ms).unwrap_or(i64::MAX);
    let record = metric_record(function, operation, counts, timestamp_ms);
    // One whole line per record: CloudWatch reads each log event as one JSON document.
    println!("{record}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metric_record_declares_each_count_under_the_function_and_operation_dimensions() {
        let record = metric_record(
            "agora-StreamFanoutFunction",
            "Broadcast",
            &[("Deliveries", 3), ("GoneConnections", 1)],
            1_700_000_000_123,
        );

        assert_eq!(
            record,
            serde_json::json!({
                "_aws": {
                    "Timestamp": 1_700_000_000_123_i64,
                    "CloudWatchMetrics": [{
                        "Namespace": "Agora",
                        "Dimensions": [["Function", "Operation"]],
                        "Metrics": [
                            { "Name": "Deliveries", "Unit": "Count" },
                            { "Name": "GoneConnections", "Unit": "Count" },
                        ],
                    }],
                },
                "Function": "agora-StreamFanoutFunction",
                "Operation": "Broadcast",
                "Deliveries": 3,
                "GoneConnections": 1,
            })
        );
    }

    #[test]
    fn a_metric_record_is_one_line_of_json() {
        let record = metric_record("f", "GET /v1/me", &[("DynamoDbRequests", 2)], 1);

        let line = record.to_string();

        assert!(!line.contains('\n'));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&line).ok(),
            Some(record)
        );
    }
}
