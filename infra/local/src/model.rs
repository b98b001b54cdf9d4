//! The typed model of `template.yaml` that every part of the local stack works from.
//!
//! `template.rs` turns the SAM template (with its CloudFormation tags resolved for one
//! local stack name) into a [`StackModel`]; the HTTP API, the WebSocket API, the
//! `@connections` API and the pumps only ever read this model, so a function, route or
//! event source added to the template is served without touching their code.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Everything the local stack needs to know about one deployed stack.
#[derive(Debug, Clone)]
pub struct StackModel {
    /// Unique per local stack (each test gets its own); prefixes physical names.
    pub stack_name: String,
    pub region: String,
    pub account_id: String,
    pub tables: Vec<TableSpec>,
    pub queues: Vec<QueueSpec>,
    pub functions: Vec<FunctionSpec>,
    pub http_api: Option<HttpApiSpec>,
    pub websocket_api: Option<WebSocketApiSpec>,
}

#[derive(Debug, Clone)]
pub struct TableSpec {
    pub logical_id: String,
    pub physical_name: String,
    /// `(attribute name, "S" | "N" | "B")`, as in `AttributeDefinitions`.
    pub attribute_definitions: Vec<(String, String)>,
    /// `(attribute name, "HASH" | "RANGE")`.
    pub key_schema: Vec<(String, String)>,
    pub global_secondary_indexes: Vec<IndexSpec>,
    pub ttl_attribute: Option<String>,
    /// `NEW_AND_OLD_IMAGES` etc. when a stream is enabled.
    pub stream_view_type: Option<String>,
}

#[derive(Debug, Clone)]
pub struct IndexSpec {
    pub name: String,
    pub key_schema: Vec<(String, String)>,
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub projection_type: String,
    pub non_key_attributes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct QueueSpec {
    pub logical_id: String,
    pub physical_name: String,
    pub visibility_timeout_seconds: Option<u32>,
    pub message_retention_seconds: Option<u32>,
    /// Logical id of the dead-letter queue and `maxReceiveCount`, from `RedrivePolicy`.
    pub redrive: Option<(String, u32)>,
    pub fifo: bool,
}

/// An S3 bucket (`AWS::S3::Bucket`): created in moto; functions reach it through
/// `AWS_ENDPOINT_URL_S3`, path-style.
#[derive(Debug, Clone)]
pub struct BucketSpec {
    pub logical_id: String,
    pub physical_name: String,
}

/// An `AWS::SecretsManager::Secret`: its `SecretString`, or a random alphanumeric value
/// of `GenerateSecretString.PasswordLength` (default 32) characters.
#[derive(Debug, Clone)]
pub struct SecretSpec {
    pub logical_id: String,
    /// `Name`, or `{stack_name}-{logical_id}`.
    pub physical_name: String,
    pub value: SecretValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretValue {
    String(String),
    Generated { length: usize },
}

#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub logical_id: String,
    /// `FunctionName`, or `{stack_name}-{logical_id}`; what the function sees as
    /// `AWS_LAMBDA_FUNCTION_NAME` and in its ARN.
    pub physical_name: String,
    /// The cargo binary that implements it (`Metadata.BuildProperties.Binary`).
    pub binary: String,
    /// `Handler` (Globals merged), which the runtime sees as `_HANDLER`: Agora's one
    /// binary runs the function it names. Lambda requires it of a zip function.
    pub handler: String,
    pub timeout_seconds: u32,
    pub memory_mb: u32,
    /// Environment from `Globals` merged with the function's own, intrinsics resolved.
    pub environment: BTreeMap<String, String>,
    pub http_routes: Vec<HttpRoute>,
    pub event_sources: Vec<EventSource>,
    /// The statements of the function's execution role as SAM generates it: the
    /// template's `Policies` (inline statements and expanded policy templates) and the
    /// ones SAM adds itself (basic execution, event-source polling, on-failure
    /// destinations). The local stack refuses any AWS call of the function they do not
    /// allow (see [`crate::iam`]).
    pub policy: Vec<PolicyStatement>,
}

/// One IAM policy statement, intrinsics resolved to the local stack's ARNs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PolicyStatement {
    /// The `Sid`, or where the statement comes from (`SQSSendMessagePolicy`,
    /// `SAM:AWSLambdaBasicExecutionRole`, ...).
    pub label: String,
    /// False for the statements SAM adds on its own (not written in the template).
    pub from_template: bool,
    /// `Effect: Allow` (else `Deny`).
    pub allow: bool,
    /// `Action` patterns (`dynamodb:GetItem`, `sqs:SendMessage*`).
    pub actions: Vec<String>,
    /// `Resource` patterns (ARNs, `*` and `?` wildcards).
    pub resources: Vec<String>,
    pub conditions: Vec<PolicyCondition>,
}

/// One `Condition` test: `{operator: {key: [values]}}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PolicyCondition {
    /// `StringLike`, `StringEquals`, `StringNotLike`, `StringNotEquals`.
    pub operator: String,
    /// e.g. `s3:prefix`.
    pub key: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRoute {
    /// Upper-case method, or `ANY`.
    pub method: String,
    /// API Gateway path template, e.g. `/v1/profiles/{profileRef}` or `/v1/{proxy+}`.
    pub path: String,
}

#[derive(Debug, Clone)]
pub enum EventSource {
    DynamoDbStream(StreamSourceSpec),
    Sqs(SqsSourceSpec),
    /// An EventBridge schedule rule (SAM `Type: Schedule`).
    Schedule(ScheduleSourceSpec),
}

/// A SAM `Schedule` event: EventBridge invokes the function at a fixed rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSourceSpec {
    pub name: String,
    /// The `Schedule` expression as written, e.g. `rate(1 minute)`.
    pub expression: String,
    /// The rate it stands for.
    pub period: std::time::Duration,
}

/// The period of an EventBridge `rate(...)` expression, as strictly as EventBridge
/// reads it: a positive whole number and a unit that is singular for 1 (`rate(1
/// minute)`) and plural otherwise (`rate(5 minutes)`); minutes, hours or days. `cron(...)`
/// is not emulated, and says so.
pub fn schedule_period(expression: &str) -> Result<std::time::Duration, String> {
    let inner = expression
        .strip_prefix("rate(")
        .and_then(|rest| rest.strip_suffix(')'))
        .ok_or_else(|| {
            if expression.starts_with("cron(") {
                format!("{expression}: cron schedules are not emulated locally; use rate(...)")
            } else {
                format!("{expression}: a schedule must be rate(<value> <unit>)")
            }
        })?;
    let (value, unit) = inner
        .split_once(' ')
        .ok_or_else(|| format!("{expression}: a rate is a value and a unit"))?;
    let value: u64 = value
        .parse()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("{expression}: the value must be a positive whole number"))?;
    let seconds = match (value, unit) {
        (1, "minute") | (2.., "minutes") => 60,
        (1, "hour") | (2.., "hours") => 3600,
        (1, "day") | (2.., "days") => 86_400,
        _ => {
            return Err(format!(
                "{expression}: the unit must be minute(s), hour(s) or day(s), singular for 1 and plural otherwise"
            ));
        }
    };
    Ok(std::time::Duration::from_secs(value * seconds))
}

#[derive(Debug, Clone)]
pub struct StreamSourceSpec {
    pub name: String,
    /// Logical id of the table whose stream feeds the function.
    pub table_logical_id: String,
    /// `TRIM_HORIZON` or `LATEST`.
    pub starting_position: String,
    pub batch_size: u32,
    pub maximum_batching_window_seconds: u32,
    pub report_batch_item_failures: bool,
    pub bisect_batch_on_function_error: bool,
    /// `-1` means retry until the record expires, as in Lambda.
    pub maximum_retry_attempts: i32,
    pub maximum_record_age_seconds: i32,
    /// Logical id of the SQS queue of the on-failure destination.
    pub on_failure_queue_logical_id: Option<String>,
    /// `ParallelizationFactor`: concurrent batches per shard (1 to 10), each partition
    /// key's records in order.
    pub parallelization_factor: u32,
    /// `FilterCriteria.Filters[].Pattern`, each a JSON event pattern.
    pub filter_patterns: Vec<serde_json::Value>,
}

#[derive(Debug, Clone)]
pub struct SqsSourceSpec {
    pub name: String,
    pub queue_logical_id: String,
    pub batch_size: u32,
    pub maximum_batching_window_seconds: u32,
    pub report_batch_item_failures: bool,
    pub filter_patterns: Vec<serde_json::Value>,
}

#[derive(Debug, Clone)]
pub struct HttpApiSpec {
    pub logical_id: String,
    pub cors: Option<CorsSpec>,
}

#[derive(Debug, Clone, Default)]
pub struct CorsSpec {
    pub allow_origins: Vec<String>,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct WebSocketApiSpec {
    pub logical_id: String,
    /// Always `$request.body.action` for Agora, kept to evaluate it generically.
    pub route_selection_expression: String,
    pub stage: String,
    pub routes: Vec<WebSocketRoute>,
}

#[derive(Debug, Clone)]
pub struct WebSocketRoute {
    /// `$connect`, `$disconnect`, `$default` or a named route such as `ping`.
    pub route_key: String,
    /// Logical id of the function of the route's AWS_PROXY integration.
    pub function_logical_id: String,
    /// A REQUEST authorizer (only meaningful on `$connect`).
    pub authorizer: Option<WebSocketAuthorizer>,
}

#[derive(Debug, Clone)]
pub struct WebSocketAuthorizer {
    pub function_logical_id: String,
    /// e.g. `["route.request.querystring.token"]`; a request missing one is refused (401)
    /// without calling the authorizer, as API Gateway does.
    pub identity_sources: Vec<String>,
}

/// Where the stack's functions' binaries are and how many instances each may run.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    pub binaries_dir: PathBuf,
    /// Concurrent execution environments per function (processes polling one Runtime API).
    pub max_concurrency_per_function: usize,
    /// Extra environment for every function (wins over the template's).
    pub environment_overrides: BTreeMap<String, String>,
}

/// The one way anything in the local stack runs a function: synchronous invoke.
///
/// `Ok` carries the function's JSON response; `Err` is a function error (the handler
/// returned an error, panicked, timed out or its process died), which pumps treat as a
/// whole-batch failure, as Lambda does.
pub trait Invoke: Send + Sync + 'static {
    fn invoke(
        &self,
        function_logical_id: &str,
        event: serde_json::Value,
    ) -> futures_util::future::BoxFuture<'_, Result<serde_json::Value, InvokeError>>;
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum InvokeError {
    #[error("no function named {0} in the template")]
    UnknownFunction(String),
    #[error("function error {error_type}: {error_message}")]
    FunctionError {
        error_type: String,
        error_message: String,
    },
    #[error("function timed out after {0} s")]
    Timeout(u32),
    #[error("function runtime failed: {0}")]
    Runtime(String),
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::schedule_period;

    #[test]
    fn a_rate_is_read_as_eventbridge_reads_it() {
        assert_eq!(
            schedule_period("rate(1 minute)"),
            Ok(Duration::from_secs(60))
        );
        assert_eq!(
            schedule_period("rate(5 minutes)"),
            Ok(Duration::from_secs(300))
        );
        assert_eq!(
            schedule_period("rate(2 hours)"),
            Ok(Duration::from_secs(7200))
        );
        assert_eq!(
            schedule_period("rate(1 day)"),
            Ok(Duration::from_secs(86_400))
        );
    }

    #[test]
    fn a_rate_eventbridge_refuses_is_refused_with_the_reason() {
        for (expression, reason) in [
            ("rate(1 minutes)", "singular for 1"),
            ("rate(5 minute)", "singular for 1"),
            ("rate(0 minutes)", "positive whole number"),
            ("rate(30 seconds)", "minute(s), hour(s) or day(s)"),
            ("rate(1.5 hours)", "positive whole number"),
            ("cron(0 * * * ? *)", "not emulated"),
            ("every minute", "rate(<value> <unit>)"),
        ] {
            let error = schedule_period(expression).unwrap_err();
            assert!(error.contains(reason), "{expression}: {error}");
        }
    }
}
