//! IAM, locally: every AWS call a function makes is checked against its execution role.
//!
//! moto does not enforce IAM (and its optional access control checks actions but not
//! resources, and not at all for `@connections`, which this crate serves), so the local
//! stack checks calls itself. Each function process gets its own access key id
//! ([`access_key_id`]); its AWS endpoints point at a per-stack proxy in front of moto
//! ([`crate::iam_proxy`]), and the `@connections` API checks the same way. A request
//! signed with a function's key is turned into the IAM authorizations AWS evaluates for
//! it ([`authorizations`]: one per item action of a transaction, the index ARN of an
//! index Query, `s3:prefix` of a listing, ...) and each must be allowed by the role's
//! statements ([`FunctionSpec::policy`], as SAM generates the role from the template).
//! A refused call answers as the service does in AWS (see [`Refusal`]). Requests signed
//! with any other key (the test harness, the event-source pumps) are not restricted.
//!
//! Every distinct authorization a function used (or was refused) is appended to
//! `<log_dir>/iam-used.jsonl`, beside `<log_dir>/iam-policies.json` (the roles), so
//! [`usage_report`] can compare what each function used with what its role grants.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{FunctionSpec, PolicyCondition, PolicyStatement, StackModel};

/// The file (in a stack's log directory) that records the authorizations functions used.
pub const USAGE_FILE: &str = "iam-used.jsonl";
/// The file (in a stack's log directory) with every function's role, for the report.
pub const POLICIES_FILE: &str = "iam-policies.json";

#[derive(Debug, thiserror::Error)]
pub enum IamError {
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not valid: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// The access key id a function's process signs with: it names the function, so the
/// local stack knows whose role applies. (Any key works with moto; the secret is the
/// harness's.)
pub fn access_key_id(function_logical_id: &str) -> String {
    let name: String = function_logical_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    format!("ASIALOCAL{name}")
}

/// One authorization IAM evaluates: an action on a resource, with request context keys
/// (such as `s3:prefix`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub action: String,
    pub resource: String,
    pub context: BTreeMap<String, String>,
}

impl Authorization {
    pub fn new(action: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            action: action.into(),
            resource: resource.into(),
            context: BTreeMap::new(),
        }
    }
}

/// The wire protocol of a request, which decides how a refusal looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// DynamoDB and DynamoDB Streams (awsJson1_0).
    DynamoDb,
    /// SQS over awsJson1_0 (current SDKs).
    SqsJson,
    /// SQS over the query protocol (form-encoded, XML answers).
    SqsQuery,
    /// S3 (restXml).
    S3,
    /// API Gateway's `@connections` management API (restJson1).
    Connections,
    /// Secrets Manager (awsJson1_1).
    SecretsManager,
    /// Anything else: refused, since no role of the template can be meant for it.
    Unknown,
}

/// What a request asks IAM for.
#[derive(Debug, Clone)]
pub struct Call {
    pub protocol: Protocol,
    /// The service's name of the operation, for logs (`TransactWriteItems`).
    pub operation: String,
    pub authorizations: Vec<Authorization>,
}

/// The parts of an HTTP request the classification reads.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// The path, percent-encoded as sent.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
}

/// Where the stack runs, to build ARNs.
#[derive(Debug, Clone)]
pub struct Partition {
    pub region: String,
    pub account_id: String,
}

/// The IAM authorizations AWS checks for a request to DynamoDB, DynamoDB Streams, SQS
/// or S3 (the services moto plays), following each service's authorization reference:
/// transactions are authorized per item action (`TransactWriteItems` needs `PutItem`,
/// `UpdateItem`, `DeleteItem` or `ConditionCheckItem` per item, `TransactGetItems`
/// `GetItem`), batch operations per table, an index `Query` on the index ARN, S3 object
/// operations on the object ARN and listings on the bucket with `s3:prefix`.
pub fn authorizations(request: &RequestParts<'_>, partition: &Partition) -> Call {
    let target = request
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if let Some(operation) = target.strip_prefix("DynamoDB_20120810.") {
        return dynamodb_call(operation, request.body, partition, false);
    }
    if let Some(operation) = target.strip_prefix("DynamoDBStreams_20120810.") {
        return dynamodb_call(operation, request.body, partition, true);
    }
    if let Some(operation) = target.strip_prefix("secretsmanager.") {
        return secrets_manager_call(operation, request.body, partition);
    }
    if let Some(operation) = target.strip_prefix("AmazonSQS.") {
        let body: Value = serde_json::from_slice(request.body).unwrap_or(Value::Null);
        let queue_url = body.get("QueueUrl").and_then(Value::as_str);
        return sqs_call(Protocol::SqsJson, operation, queue_url, partition);
    }
    match signing_service(request).as_deref() {
        Some("s3") => s3_call(request),
        Some("sqs") => {
            let form = form_pairs(request.body)
                .into_iter()
                .chain(request.query.map(form_pairs_str).unwrap_or_default())
                .collect::<HashMap<_, _>>();
            let operation = form.get("Action").cloned().unwrap_or_default();
            sqs_call(
                Protocol::SqsQuery,
                &operation,
                form.get("QueueUrl").map(String::as_str),
                partition,
            )
        }
        other => Call {
            protocol: Protocol::Unknown,
            operation: format!("{} {}", request.method, request.path),
            authorizations: vec![Authorization::new(
                format!("{}:Unknown", other.unwrap_or("unknown")),
                "*",
            )],
        },
    }
}

/// Secrets Manager authorizes on the secret's ARN. A `SecretId` given by name stands
/// for that name's ARN, whose last part is the name and six random characters (what a
/// policy's `secret:<name>-??????` matches).
fn secrets_manager_call(operation: &str, body: &[u8], partition: &Partition) -> Call {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let resource = match body.get("SecretId").and_then(Value::as_str) {
        Some(arn) if arn.starts_with("arn:") => arn.to_owned(),
        Some(name) => format!(
            "arn:aws:secretsmanager:{}:{}:secret:{name}-??????",
            partition.region, partition.account_id
        ),
        None => "*".to_owned(),
    };
    Call {
        protocol: Protocol::SecretsManager,
        operation: operation.to_owned(),
        authorizations: vec![Authorization::new(
            format!("secretsmanager:{operation}"),
            resource,
        )],
    }
}

fn dynamodb_call(operation: &str, body: &[u8], partition: &Partition, streams: bool) -> Call {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let table_arn = |name: &str| {
        if name.starts_with("arn:") {
            name.to_owned()
        } else {
            format!(
                "arn:aws:dynamodb:{}:{}:table/{name}",
                partition.region, partition.account_id
            )
        }
    };
    let action = |name: &str| format!("dynamodb:{name}");
    let mut authorizations = Vec::new();
    match operation {
        "BatchGetItem" | "BatchWriteItem" => {
            if let Some(Value::Object(tables)) = body.get("RequestItems") {
                for table in tables.keys() {
                    authorizations.push(Authorization::new(action(operation), table_arn(table)));
                }
            }
        }
        "TransactWriteItems" | "TransactGetItems" => {
            for item in body
                .get("TransactItems")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some((kind, op)) = item.as_object().and_then(|m| m.iter().next()) else {
                    continue;
                };
                let item_action = match kind.as_str() {
                    "Put" => "PutItem",
                    "Update" => "UpdateItem",
                    "Delete" => "DeleteItem",
                    "ConditionCheck" => "ConditionCheckItem",
                    "Get" => "GetItem",
                    other => other,
                };
                let table = op.get("TableName").and_then(Value::as_str).unwrap_or("");
                authorizations.push(Authorization::new(action(item_action), table_arn(table)));
            }
        }
        _ if streams => {
            let stream = body
                .get("StreamArn")
                .and_then(Value::as_str)
                .map_or_else(|| "*".to_owned(), str::to_owned);
            authorizations.push(Authorization::new(action(operation), stream));
        }
        _ => {
            let resource = match body.get("TableName").and_then(Value::as_str) {
                Some(table) => match body.get("IndexName").and_then(Value::as_str) {
                    Some(index) => format!("{}/index/{index}", table_arn(table)),
                    None => table_arn(table),
                },
                None => "*".to_owned(),
            };
            authorizations.push(Authorization::new(action(operation), resource));
        }
    }
    Call {
        protocol: Protocol::DynamoDb,
        operation: operation.to_owned(),
        authorizations,
    }
}

fn sqs_call(
    protocol: Protocol,
    operation: &str,
    queue_url: Option<&str>,
    partition: &Partition,
) -> Call {
    // The batch operations are authorized as their single counterparts.
    let action = match operation {
        "SendMessageBatch" => "SendMessage",
        "DeleteMessageBatch" => "DeleteMessage",
        "ChangeMessageVisibilityBatch" => "ChangeMessageVisibility",
        other => other,
    };
    let resource = match queue_url.and_then(|url| url::Url::parse(url).ok()) {
        Some(url) => {
            let segments: Vec<&str> = url
                .path_segments()
                .map(|s| s.filter(|p| !p.is_empty()).collect())
                .unwrap_or_default();
            match segments.as_slice() {
                [account, name] => format!("arn:aws:sqs:{}:{account}:{name}", partition.region),
                [name] => format!(
                    "arn:aws:sqs:{}:{}:{name}",
                    partition.region, partition.account_id
                ),
                _ => "*".to_owned(),
            }
        }
        None => "*".to_owned(),
    };
    Call {
        protocol,
        operation: operation.to_owned(),
        authorizations: vec![Authorization::new(format!("sqs:{action}"), resource)],
    }
}

/// S3, path-style (`/bucket/key`), as the functions are configured locally.
fn s3_call(request: &RequestParts<'_>) -> Call {
    let path = request.path.trim_start_matches('/');
    let (bucket, key) = match path.split_once('/') {
        Some((bucket, key)) if !key.is_empty() => (bucket, Some(percent_decode(key))),
        Some((bucket, _)) => (bucket, None),
        None => (path, None),
    };
    let query = request.query.map(form_pairs_str).unwrap_or_default();
    let has = |name: &str| query.contains_key(name);
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    let (operation, authorizations) = match (request.method, key) {
        (method, Some(key)) => {
            let object = format!("{bucket_arn}/{key}");
            let (operation, action) = match method {
                "GET" | "HEAD" if has("uploadId") => ("ListParts", "s3:ListMultipartUploadParts"),
                "GET" | "HEAD" if has("tagging") => ("GetObjectTagging", "s3:GetObjectTagging"),
                "GET" => ("GetObject", "s3:GetObject"),
                "HEAD" => ("HeadObject", "s3:GetObject"),
                "PUT" if has("tagging") => ("PutObjectTagging", "s3:PutObjectTagging"),
                "PUT" if has("partNumber") => ("UploadPart", "s3:PutObject"),
                "PUT" => ("PutObject", "s3:PutObject"),
                "POST" if has("uploads") => ("CreateMultipartUpload", "s3:PutObject"),
                "POST" if has("uploadId") => ("CompleteMultipartUpload", "s3:PutObject"),
                "DELETE" if has("uploadId") => ("AbortMultipartUpload", "s3:AbortMultipartUpload"),
                "DELETE" => ("DeleteObject", "s3:DeleteObject"),
                _ => ("Unknown", "s3:Unknown"),
            };
            (operation, vec![Authorization::new(action, object)])
        }
        ("POST", None) if has("delete") => {
            // DeleteObjects: s3:DeleteObject on every key it names.
            let keys = xml_values(request.body, "Key");
            let authorizations = keys
                .into_iter()
                .map(|key| Authorization::new("s3:DeleteObject", format!("{bucket_arn}/{key}")))
                .collect();
            ("DeleteObjects", authorizations)
        }
        ("GET", None) if has("uploads") => (
            "ListMultipartUploads",
            vec![Authorization::new(
                "s3:ListBucketMultipartUploads",
                bucket_arn,
            )],
        ),
        ("GET", None) if has("versions") => (
            "ListObjectVersions",
            vec![Authorization::new("s3:ListBucketVersions", bucket_arn)],
        ),
        ("GET" | "HEAD", None) => {
            let mut authorization = Authorization::new("s3:ListBucket", bucket_arn);
            if let Some(prefix) = query.get("prefix") {
                authorization
                    .context
                    .insert("s3:prefix".to_owned(), prefix.clone());
            }
            let operation = if request.method == "HEAD" {
                "HeadBucket"
            } else {
                "ListObjects"
            };
            (operation, vec![authorization])
        }
        ("PUT", None) => (
            "CreateBucket",
            vec![Authorization::new("s3:CreateBucket", bucket_arn)],
        ),
        ("DELETE", None) => (
            "DeleteBucket",
            vec![Authorization::new("s3:DeleteBucket", bucket_arn)],
        ),
        _ => (
            "Unknown",
            vec![Authorization::new("s3:Unknown", bucket_arn)],
        ),
    };
    Call {
        protocol: Protocol::S3,
        operation: operation.to_owned(),
        authorizations,
    }
}

/// The access key id and service of a SigV4 request: from the `Authorization` header,
/// or from a presigned URL's `X-Amz-Credential`.
fn credential_scope(headers: &http::HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(header) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(start) = header.find("Credential=")
    {
        let rest = &header[start + "Credential=".len()..];
        return Some(rest.split([',', ' ']).next().unwrap_or_default().to_owned());
    }
    query
        .map(form_pairs_str)
        .and_then(|pairs| pairs.get("X-Amz-Credential").cloned())
}

/// The access key id a request is signed with, if it is signed.
pub fn signing_key_id(headers: &http::HeaderMap, query: Option<&str>) -> Option<String> {
    credential_scope(headers, query).and_then(|scope| scope.split('/').next().map(str::to_owned))
}

/// `AKID/date/region/service/aws4_request` -> `service`.
fn signing_service(request: &RequestParts<'_>) -> Option<String> {
    credential_scope(request.headers, request.query)
        .and_then(|scope| scope.split('/').nth(3).map(str::to_owned))
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn form_pairs_str(query: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("k={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| text.to_owned())
}

/// The text of every `<tag>` element of an XML body (S3 DeleteObjects keys).
fn xml_values(body: &[u8], tag: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(body);
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut values = Vec::new();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        values.push(
            after[..end]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        );
        rest = &after[end + close.len()..];
    }
    values
}

// ---- evaluation -----------------------------------------------------------------------

/// IAM's verdict on one authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed by the statement at this index of the role (its action and resource
    /// patterns at these indexes matched).
    Allowed {
        statement: usize,
        action: usize,
        resource: usize,
    },
    /// A `Deny` statement matched.
    ExplicitDeny { statement: usize },
    /// No statement allows it.
    ImplicitDeny,
}

/// Evaluates one authorization against a role, as IAM does for identity policies: an
/// explicit deny wins, else any allow, else it is denied.
pub fn evaluate(policy: &[PolicyStatement], request: &Authorization) -> Decision {
    let mut allowed = None;
    for (index, statement) in policy.iter().enumerate() {
        let Some(action) = statement
            .actions
            .iter()
            .position(|pattern| wildcard_match(pattern, &request.action, true))
        else {
            continue;
        };
        let Some(resource) = statement
            .resources
            .iter()
            .position(|pattern| wildcard_match(pattern, &request.resource, false))
        else {
            continue;
        };
        if !statement
            .conditions
            .iter()
            .all(|condition| condition_holds(condition, &request.context))
        {
            continue;
        }
        if !statement.allow {
            return Decision::ExplicitDeny { statement: index };
        }
        allowed.get_or_insert(Decision::Allowed {
            statement: index,
            action,
            resource,
        });
    }
    allowed.unwrap_or(Decision::ImplicitDeny)
}

fn condition_holds(condition: &PolicyCondition, context: &BTreeMap<String, String>) -> bool {
    // Condition keys are case-insensitive; a missing key fails every positive test
    // and passes the negated ones, as in IAM.
    let value = context
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(&condition.key))
        .map(|(_, value)| value.as_str());
    let any = |matches: &dyn Fn(&str, &str) -> bool| {
        value.is_some_and(|value| condition.values.iter().any(|v| matches(v, value)))
    };
    match condition.operator.as_str() {
        "StringEquals" => any(&|pattern, value| pattern == value),
        "StringNotEquals" => !any(&|pattern, value| pattern == value),
        "StringLike" => any(&|pattern, value| wildcard_match(pattern, value, false)),
        "StringNotLike" => !any(&|pattern, value| wildcard_match(pattern, value, false)),
        _ => false,
    }
}

/// IAM's wildcard matching: `*` is any run of characters (also `/` and `:`), `?` any
/// one character. Actions compare case-insensitively, resources case-sensitively.
pub fn wildcard_match(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let fold = |s: &str| -> Vec<char> {
        if ignore_case {
            s.chars().map(|c| c.to_ascii_lowercase()).collect()
        } else {
            s.chars().collect()
        }
    };
    let (pattern, text) = (fold(pattern), fold(text));
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

// ---- the stack's enforcer -------------------------------------------------------------

/// A function as IAM sees it.
#[derive(Debug, Clone)]
pub struct Principal {
    pub function: String,
    /// `arn:aws:sts::<account>:assumed-role/<role>/<function name>`, as AWS names a
    /// Lambda function's session in refusals.
    pub session_arn: String,
    pub policy: Vec<PolicyStatement>,
}

/// A refused call: what AWS says, and the protocol to say it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub protocol: Protocol,
    pub action: String,
    pub resource: String,
    pub message: String,
}

impl Refusal {
    /// The answer the service gives in AWS, so the SDK surfaces the same error:
    /// DynamoDB `400 AccessDeniedException`, SQS `403 AccessDenied`, S3 `403
    /// AccessDenied` (XML), `@connections` `403 ForbiddenException`.
    pub fn response(&self) -> http::Response<String> {
        let request_id = crate::runtime::request_id();
        let builder = http::Response::builder().header("x-amzn-RequestId", &request_id);
        let (status, builder, body) = match self.protocol {
            Protocol::DynamoDb => (
                400,
                builder.header("content-type", "application/x-amz-json-1.0"),
                serde_json::json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#AccessDeniedException",
                    "Message": self.message,
                })
                .to_string(),
            ),
            Protocol::SecretsManager => (
                400,
                builder.header("content-type", "application/x-amz-json-1.1"),
                serde_json::json!({
                    "__type": "AccessDeniedException",
                    "Message": self.message,
                })
                .to_string(),
            ),
            Protocol::SqsJson => (
                403,
                builder
                    .header("content-type", "application/x-amz-json-1.0")
                    .header("x-amzn-query-error", "AccessDenied;Sender"),
                serde_json::json!({
                    "__type": "com.amazon.coral.service#AccessDeniedException",
                    "message": self.message,
                })
                .to_string(),
            ),
            Protocol::SqsQuery => (
                403,
                builder.header("content-type", "text/xml"),
                format!(
                    "<?xml version=\"1.0\"?><ErrorResponse><Error><Type>Sender</Type>\
                     <Code>AccessDenied</Code><Message>{}</Message></Error>\
                     <RequestId>{request_id}</RequestId></ErrorResponse>",
                    xml_escape(&self.message)
                ),
            ),
            Protocol::S3 => (
                403,
                builder.header("content-type", "application/xml"),
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>\
                     <Message>{}</Message><RequestId>{request_id}</RequestId></Error>",
                    xml_escape(&self.message)
                ),
            ),
            Protocol::Connections | Protocol::Unknown => (
                403,
                builder
                    .header("content-type", "application/json")
                    .header("x-amzn-ErrorType", "ForbiddenException"),
                serde_json::json!({ "message": self.message }).to_string(),
            ),
        };
        let fallback = self.message.clone();
        builder
            .status(status)
            .body(body)
            .unwrap_or_else(|_| http::Response::new(fallback))
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One line of `iam-used.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UsageRecord {
    pub function: String,
    pub operation: String,
    pub action: String,
    pub resource: String,
    pub allowed: bool,
    /// Index of the allowing statement in the role, and of its matching action and
    /// resource pattern.
    pub statement: Option<usize>,
    pub granted_action: Option<usize>,
    pub granted_resource: Option<usize>,
}

/// The roles of one stack's functions, by the access key each function signs with.
pub struct Enforcer {
    stack_name: String,
    partition: Partition,
    principals: HashMap<String, Principal>,
    /// `arn:aws:execute-api:<region>:<account>:<api id>/<stage>`, the prefix of every
    /// `@connections` resource.
    connections_arn: Option<String>,
    /// Stack-specific strings and the placeholders the usage log writes instead, so
    /// that records of different stacks compare.
    placeholders: Vec<(String, String)>,
    seen: Mutex<HashSet<UsageRecord>>,
    usage_log: Option<Mutex<File>>,
    /// How many calls each function made, by `service:Operation` (for benchmarks:
    /// [`Enforcer::call_counts`]).
    calls: Mutex<BTreeMap<(String, String), u64>>,
}

impl std::fmt::Debug for Enforcer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enforcer")
            .field("stack_name", &self.stack_name)
            .field("functions", &self.principals.len())
            .finish_non_exhaustive()
    }
}

impl Enforcer {
    /// The roles of `model`'s functions; with `log_dir`, writes the roles to
    /// [`POLICIES_FILE`] and records usage in [`USAGE_FILE`] there.
    pub fn new(model: &StackModel, log_dir: Option<&Path>) -> Result<Self, IamError> {
        let principals = model
            .functions
            .iter()
            .map(|function| {
                (
                    access_key_id(&function.logical_id),
                    principal(model, function),
                )
            })
            .collect();
        let connections_arn = model.websocket_api.as_ref().map(|api| {
            format!(
                "arn:aws:execute-api:{}:{}:{}/{}",
                model.region,
                model.account_id,
                crate::template::local_resource_id(&model.stack_name, &api.logical_id),
                api.stage
            )
        });
        let placeholders = placeholders(model);
        let usage_log = match log_dir {
            None => None,
            Some(dir) => {
                let write_error = |path: PathBuf| move |source| IamError::Write { path, source };
                std::fs::create_dir_all(dir).map_err(write_error(dir.to_owned()))?;
                let roles: BTreeMap<&str, &[PolicyStatement]> = model
                    .functions
                    .iter()
                    .map(|f| (f.logical_id.as_str(), f.policy.as_slice()))
                    .collect();
                let policies = serde_json::json!({
                    "stackName": model.stack_name,
                    "roles": roles,
                    "placeholders": placeholders,
                });
                let path = dir.join(POLICIES_FILE);
                std::fs::write(&path, policies.to_string()).map_err(write_error(path.clone()))?;
                let path = dir.join(USAGE_FILE);
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(write_error(path.clone()))?;
                Some(Mutex::new(file))
            }
        };
        Ok(Self {
            stack_name: model.stack_name.clone(),
            partition: Partition {
                region: model.region.clone(),
                account_id: model.account_id.clone(),
            },
            principals,
            connections_arn,
            placeholders,
            seen: Mutex::new(HashSet::new()),
            usage_log,
            calls: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn partition(&self) -> &Partition {
        &self.partition
    }

    /// The function whose key signed the request; `None` for anyone else (the
    /// harness), whose calls are not restricted.
    pub fn principal(&self, headers: &http::HeaderMap, query: Option<&str>) -> Option<&Principal> {
        signing_key_id(headers, query).and_then(|key| self.principals.get(&key))
    }

    /// Checks a request of `principal` to moto; `Err` is the refusal to answer with.
    pub fn check(&self, principal: &Principal, request: &RequestParts<'_>) -> Result<(), Refusal> {
        let call = authorizations(request, &self.partition);
        self.count(principal, &call);
        self.authorize(principal, &call)
    }

    /// Every call a function made so far (allowed or not), by function logical id and
    /// `service:Operation` (`dynamodb:Query`, `dynamodb:TransactWriteItems`,
    /// `sqs:SendMessageBatch`, ...): what a benchmark divides by its user actions.
    pub fn call_counts(&self) -> BTreeMap<(String, String), u64> {
        self.calls
            .lock()
            .map(|calls| calls.clone())
            .unwrap_or_default()
    }

    fn count(&self, principal: &Principal, call: &Call) {
        let service = call
            .authorizations
            .first()
            .and_then(|a| a.action.split_once(':'))
            .map_or("", |(service, _)| service);
        if let Ok(mut calls) = self.calls.lock() {
            *calls
                .entry((
                    principal.function.clone(),
                    format!("{service}:{}", call.operation),
                ))
                .or_default() += 1;
        }
    }

    /// Checks an `@connections` request (`POST`, `GET` or `DELETE` of a connection).
    pub fn check_connection(
        &self,
        principal: &Principal,
        method: &str,
        connection_id: &str,
    ) -> Result<(), Refusal> {
        let prefix = self.connections_arn.as_deref().unwrap_or("*");
        let call = Call {
            protocol: Protocol::Connections,
            operation: format!("{method} @connections"),
            authorizations: vec![Authorization::new(
                "execute-api:ManageConnections",
                format!("{prefix}/{method}/@connections/{connection_id}"),
            )],
        };
        self.authorize(principal, &call)
    }

    /// Every authorization of `call` must be allowed; the first one that is not is
    /// the refusal. Each outcome is recorded.
    pub fn authorize(&self, principal: &Principal, call: &Call) -> Result<(), Refusal> {
        let mut refusal = None;
        for authorization in &call.authorizations {
            let decision = evaluate(&principal.policy, authorization);
            let (allowed, statement, granted_action, granted_resource) = match decision {
                Decision::Allowed {
                    statement,
                    action,
                    resource,
                } => (true, Some(statement), Some(action), Some(resource)),
                Decision::ExplicitDeny { statement } => (false, Some(statement), None, None),
                Decision::ImplicitDeny => (false, None, None, None),
            };
            self.record(UsageRecord {
                function: principal.function.clone(),
                operation: call.operation.clone(),
                action: authorization.action.clone(),
                resource: authorization.resource.clone(),
                allowed,
                statement,
                granted_action,
                granted_resource,
            });
            if !allowed && refusal.is_none() {
                let because = if matches!(decision, Decision::ExplicitDeny { .. }) {
                    "with an explicit deny in an identity-based policy"
                } else {
                    "because no identity-based policy allows the"
                };
                let message = if matches!(decision, Decision::ExplicitDeny { .. }) {
                    format!(
                        "User: {} is not authorized to perform: {} on resource: {} {because}",
                        principal.session_arn, authorization.action, authorization.resource
                    )
                } else {
                    format!(
                        "User: {} is not authorized to perform: {} on resource: {} {because} {} action",
                        principal.session_arn,
                        authorization.action,
                        authorization.resource,
                        authorization.action
                    )
                };
                tracing::warn!(
                    function = %principal.function,
                    operation = %call.operation,
                    action = %authorization.action,
                    resource = %authorization.resource,
                    "IAM: call refused by the function's role"
                );
                refusal = Some(Refusal {
                    protocol: call.protocol,
                    action: authorization.action.clone(),
                    resource: authorization.resource.clone(),
                    message,
                });
            }
        }
        refusal.map_or(Ok(()), Err)
    }

    /// Appends a record the first time it is seen. Allowed calls are recorded once
    /// per grant they used (not per item or object), refusals once per resource.
    fn record(&self, mut record: UsageRecord) {
        let Some(log) = &self.usage_log else {
            return;
        };
        let key = if record.allowed {
            UsageRecord {
                resource: String::new(),
                ..record.clone()
            }
        } else {
            record.clone()
        };
        if !lock(&self.seen).insert(key) {
            return;
        }
        record.resource = replace_all(&record.resource, &self.placeholders);
        if let Ok(line) = serde_json::to_string(&record) {
            // A full disk loses the record, never the call.
            let _ = writeln!(lock(log), "{line}");
        }
    }
}

/// `{WebSocketApi}` for the API ids (derived from the stack name), then `{stack}` for
/// the stack name.
fn placeholders(model: &StackModel) -> Vec<(String, String)> {
    let mut placeholders: Vec<(String, String)> = model
        .websocket_api
        .iter()
        .map(|api| api.logical_id.clone())
        .chain(model.http_api.iter().map(|api| api.logical_id.clone()))
        .map(|id| {
            (
                crate::template::local_resource_id(&model.stack_name, &id),
                format!("{{{id}}}"),
            )
        })
        .collect();
    placeholders.push((model.stack_name.clone(), "{stack}".to_owned()));
    placeholders
}

fn replace_all(text: &str, placeholders: &[(String, String)]) -> String {
    placeholders
        .iter()
        .fold(text.to_owned(), |text, (from, to)| text.replace(from, to))
}

fn principal(model: &StackModel, function: &FunctionSpec) -> Principal {
    Principal {
        function: function.logical_id.clone(),
        session_arn: format!(
            "arn:aws:sts::{}:assumed-role/{}-{}Role/{}",
            model.account_id, model.stack_name, function.logical_id, function.physical_name
        ),
        policy: function.policy.clone(),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

// ---- used versus granted ---------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct PoliciesFile {
    #[serde(rename = "stackName")]
    stack_name: String,
    roles: BTreeMap<String, Vec<PolicyStatement>>,
    #[serde(default)]
    placeholders: Vec<(String, String)>,
}

/// Compares, over every stack log directory under `logs_root` (e.g.
/// `target/test-logs`), what each function used with what its role grants: every
/// grant of the template (statement, action pattern, resource pattern) marked used or
/// UNUSED, and every refused authorization as MISSING. SAM's own statements are listed
/// apart (they are not the template's to tighten).
pub fn usage_report(logs_root: &Path) -> Result<String, IamError> {
    let read_error = |path: &Path| {
        let path = path.to_owned();
        move |source| IamError::Read { path, source }
    };
    let mut roles: Option<BTreeMap<String, Vec<PolicyStatement>>> = None;
    let mut stack_for_roles = String::new();
    // (function, statement, action idx, resource idx) -> stacks that used it.
    let mut used: BTreeMap<(String, usize, usize, usize), BTreeSet<String>> = BTreeMap::new();
    // (function, action, resource) -> (operation, stacks).
    let mut missing: BTreeMap<(String, String, String), (String, BTreeSet<String>)> =
        BTreeMap::new();
    let mut stacks = 0usize;
    let mut skipped = 0usize;
    let entries = std::fs::read_dir(logs_root).map_err(read_error(logs_root))?;
    for entry in entries.flatten() {
        let dir = entry.path();
        let (policies_path, usage_path) = (dir.join(POLICIES_FILE), dir.join(USAGE_FILE));
        if !policies_path.is_file() || !usage_path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&policies_path).map_err(read_error(&policies_path))?;
        let policies: PoliciesFile =
            serde_json::from_str(&text).map_err(|source| IamError::Parse {
                path: policies_path.clone(),
                source,
            })?;
        // Stacks of a modified template (a test removing a grant) are not comparable.
        let normalized = normalize_roles(&policies.roles, &policies.placeholders);
        match &roles {
            None => {
                roles = Some(normalized);
                stack_for_roles = policies.stack_name.clone();
            }
            Some(known) if *known != normalized => {
                skipped += 1;
                continue;
            }
            Some(_) => {}
        }
        stacks += 1;
        let text = std::fs::read_to_string(&usage_path).map_err(read_error(&usage_path))?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let Ok(record) = serde_json::from_str::<UsageRecord>(line) else {
                continue;
            };
            match (
                record.allowed,
                record.statement,
                record.granted_action,
                record.granted_resource,
            ) {
                (true, Some(statement), Some(action), Some(resource)) => {
                    used.entry((record.function, statement, action, resource))
                        .or_default()
                        .insert(policies.stack_name.clone());
                }
                _ => {
                    missing
                        .entry((record.function, record.action, record.resource))
                        .or_insert_with(|| (record.operation, BTreeSet::new()))
                        .1
                        .insert(policies.stack_name.clone());
                }
            }
        }
    }
    let roles = roles.unwrap_or_default();
    let mut out = String::new();
    out.push_str(&format!(
        "IAM used versus granted over {stacks} stacks under {} ({skipped} stacks of other roles skipped; \
         {{stack}} stands for a stack's name; roles as in {stack_for_roles})\n",
        logs_root.display()
    ));
    for (function, statements) in &roles {
        out.push_str(&format!("\n{function}\n"));
        for (s, statement) in statements.iter().enumerate() {
            let origin = if statement.from_template {
                ""
            } else {
                " (added by SAM)"
            };
            for (a, action) in statement.actions.iter().enumerate() {
                for (r, resource) in statement.resources.iter().enumerate() {
                    let users = used
                        .get(&(function.clone(), s, a, r))
                        .map_or(0, BTreeSet::len);
                    let verdict = match (users, statement.from_template) {
                        (0, true) => "UNUSED",
                        (0, false) => "unused",
                        _ => "used",
                    };
                    out.push_str(&format!(
                        "  {verdict:<8} {:<28} {action} on {resource}{origin} [{users} stacks]\n",
                        statement.label
                    ));
                }
            }
        }
        for ((f, action, resource), (operation, stacks)) in &missing {
            if f == function {
                out.push_str(&format!(
                    "  MISSING  {action} on {resource} ({operation}, refused in {} stacks)\n",
                    stacks.len()
                ));
            }
        }
    }
    Ok(out)
}

fn normalize_roles(
    roles: &BTreeMap<String, Vec<PolicyStatement>>,
    placeholders: &[(String, String)],
) -> BTreeMap<String, Vec<PolicyStatement>> {
    roles
        .iter()
        .map(|(function, statements)| {
            let statements = statements
                .iter()
                .map(|statement| PolicyStatement {
                    resources: statement
                        .resources
                        .iter()
                        .map(|r| replace_all(r, placeholders))
                        .collect(),
                    ..statement.clone()
                })
                .collect();
            (function.clone(), statements)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/s-Table";

    fn partition() -> Partition {
        Partition {
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
        }
    }

    fn allow(label: &str, actions: &[&str], resources: &[&str]) -> PolicyStatement {
        PolicyStatement {
            label: label.into(),
            from_template: true,
            allow: true,
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
            resources: resources.iter().map(|r| (*r).to_owned()).collect(),
            conditions: Vec::new(),
        }
    }

    fn dynamodb_request(operation: &str, body: Value) -> Call {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "x-amz-target",
            http::HeaderValue::from_str(&format!("DynamoDB_20120810.{operation}")).unwrap(),
        );
        let body = body.to_string();
        authorizations(
            &RequestParts {
                method: "POST",
                path: "/",
                query: None,
                headers: &headers,
                body: body.as_bytes(),
            },
            &partition(),
        )
    }

    fn actions(call: &Call) -> Vec<(String, String)> {
        call.authorizations
            .iter()
            .map(|a| (a.action.clone(), a.resource.clone()))
            .collect()
    }

    #[test]
    fn wildcards_match_as_iam_matches_them() {
        assert!(wildcard_match("sqs:SendMessage*", "sqs:SendMessage", true));
        assert!(wildcard_match("dynamodb:get*", "dynamodb:GetItem", true));
        assert!(wildcard_match(
            &format!("{TABLE}/index/*"),
            &format!("{TABLE}/index/GSI1"),
            false
        ));
        assert!(wildcard_match(
            "arn:aws:s3:::b/exports/*",
            "arn:aws:s3:::b/exports/u/x",
            false
        ));
        assert!(wildcard_match("a?c", "abc", false));

        assert!(!wildcard_match(
            TABLE,
            &format!("{TABLE}/index/GSI1"),
            false
        ));
        assert!(!wildcard_match(
            "arn:aws:s3:::b/exports/*",
            "arn:aws:s3:::b/other",
            false
        ));
        assert!(!wildcard_match("arn:aws:s3:::B", "arn:aws:s3:::b", false));
    }

    #[test]
    fn a_transaction_needs_each_item_action_and_not_a_transaction_action() {
        let call = dynamodb_request(
            "TransactWriteItems",
            serde_json::json!({"TransactItems": [
                {"Put": {"TableName": "s-Table", "Item": {}}},
                {"ConditionCheck": {"TableName": "s-Table", "Key": {}}},
                {"Delete": {"TableName": "s-Table", "Key": {}}},
                {"Update": {"TableName": "s-Table", "Key": {}}},
            ]}),
        );

        let expected: Vec<(String, String)> = [
            "dynamodb:PutItem",
            "dynamodb:ConditionCheckItem",
            "dynamodb:DeleteItem",
            "dynamodb:UpdateItem",
        ]
        .iter()
        .map(|a| ((*a).to_owned(), TABLE.to_owned()))
        .collect();
        assert_eq!(actions(&call), expected);
    }

    #[test]
    fn an_index_query_is_authorized_on_the_index_arn() {
        let call = dynamodb_request(
            "Query",
            serde_json::json!({"TableName": "s-Table", "IndexName": "GSI2"}),
        );
        let policy = [allow("TableItems", &["dynamodb:Query"], &[TABLE])];

        assert_eq!(
            actions(&call),
            [("dynamodb:Query".to_owned(), format!("{TABLE}/index/GSI2"))]
        );
        assert_eq!(
            evaluate(&policy, &call.authorizations[0]),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn a_call_the_role_does_not_allow_is_denied_and_an_explicit_deny_wins() {
        let policy = vec![
            allow(
                "TableItems",
                &["dynamodb:GetItem", "dynamodb:DeleteItem"],
                &[TABLE],
            ),
            PolicyStatement {
                allow: false,
                ..allow("NoDelete", &["dynamodb:Delete*"], &["*"])
            },
        ];

        let get = Authorization::new("dynamodb:GetItem", TABLE);
        let batch = Authorization::new("dynamodb:BatchWriteItem", TABLE);
        let delete = Authorization::new("dynamodb:DeleteItem", TABLE);

        assert_eq!(
            evaluate(&policy, &get),
            Decision::Allowed {
                statement: 0,
                action: 0,
                resource: 0
            }
        );
        assert_eq!(evaluate(&policy, &batch), Decision::ImplicitDeny);
        assert_eq!(
            evaluate(&policy, &delete),
            Decision::ExplicitDeny { statement: 1 }
        );
    }

    #[test]
    fn a_listing_is_allowed_only_under_the_prefix_its_condition_names() {
        let policy = vec![PolicyStatement {
            conditions: vec![PolicyCondition {
                operator: "StringLike".into(),
                key: "s3:prefix".into(),
                values: vec!["exports/*".into()],
            }],
            ..allow("ExportListing", &["s3:ListBucket"], &["arn:aws:s3:::b"])
        }];
        let listing = |prefix: Option<&str>| {
            let mut headers = http::HeaderMap::new();
            headers.insert(
                http::header::AUTHORIZATION,
                http::HeaderValue::from_static(
                    "AWS4-HMAC-SHA256 Credential=K/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x",
                ),
            );
            let query = prefix.map(|p| format!("list-type=2&prefix={p}"));
            authorizations(
                &RequestParts {
                    method: "GET",
                    path: "/b",
                    query: query.as_deref(),
                    headers: &headers,
                    body: b"",
                },
                &partition(),
            )
        };

        let inside = listing(Some("exports%2Fu%2F"));
        let outside = listing(Some("other%2F"));
        let everything = listing(None);

        assert!(matches!(
            evaluate(&policy, &inside.authorizations[0]),
            Decision::Allowed { .. }
        ));
        assert_eq!(
            evaluate(&policy, &outside.authorizations[0]),
            Decision::ImplicitDeny
        );
        assert_eq!(
            evaluate(&policy, &everything.authorizations[0]),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn sqs_batch_sends_are_authorized_as_send_message_on_the_queue_arn() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "x-amz-target",
            http::HeaderValue::from_static("AmazonSQS.SendMessageBatch"),
        );
        let body = serde_json::json!({"QueueUrl": "http://127.0.0.1:5000/123456789012/s-Jobs"})
            .to_string();

        let call = authorizations(
            &RequestParts {
                method: "POST",
                path: "/",
                query: None,
                headers: &headers,
                body: body.as_bytes(),
            },
            &partition(),
        );

        assert_eq!(
            actions(&call),
            [(
                "sqs:SendMessage".to_owned(),
                "arn:aws:sqs:us-east-1:123456789012:s-Jobs".to_owned()
            )]
        );
    }

    #[test]
    fn a_refusal_answers_as_the_service_does() {
        let refusal = |protocol| Refusal {
            protocol,
            action: "dynamodb:BatchWriteItem".into(),
            resource: TABLE.into(),
            message: "User: x is not authorized".into(),
        };

        let dynamodb = refusal(Protocol::DynamoDb).response();
        let sqs = refusal(Protocol::SqsJson).response();
        let s3 = refusal(Protocol::S3).response();
        let connections = refusal(Protocol::Connections).response();

        assert_eq!(dynamodb.status(), 400);
        assert!(
            dynamodb
                .body()
                .contains("com.amazonaws.dynamodb.v20120810#AccessDeniedException")
        );
        assert_eq!(sqs.status(), 403);
        assert_eq!(sqs.headers()["x-amzn-query-error"], "AccessDenied;Sender");
        assert_eq!(s3.status(), 403);
        assert!(s3.body().contains("<Code>AccessDenied</Code>"));
        assert_eq!(connections.status(), 403);
        assert_eq!(
            connections.headers()["x-amzn-ErrorType"],
            "ForbiddenException"
        );
    }

    #[test]
    fn the_signing_key_comes_from_the_authorization_header_or_a_presigned_url() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=ASIALOCALF/20250101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x",
            ),
        );

        assert_eq!(
            signing_key_id(&headers, None).as_deref(),
            Some("ASIALOCALF")
        );
        assert_eq!(
            signing_key_id(
                &http::HeaderMap::new(),
                Some("X-Amz-Credential=ASIALOCALG%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Expires=60")
            )
            .as_deref(),
            Some("ASIALOCALG")
        );
    }
}
