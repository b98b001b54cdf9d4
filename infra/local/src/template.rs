//! Reads `template.yaml` and resolves it, for one local stack, into a [`StackModel`].
//!
//! The YAML is first turned into JSON with every CloudFormation short-form tag rewritten
//! to its long form (`!Ref X` -> `{"Ref": "X"}`, `!Sub s` -> `{"Fn::Sub": s}`), so the
//! resolver handles both spellings with one code path. Resolution is lazy and per field:
//! only the properties the local stack actually uses are resolved (a function's
//! `Policies` among them: the local stack enforces each role), so a property the
//! emulator never reads cannot break it, while an intrinsic it cannot resolve in a field
//! it needs is a clear error naming the template path.
//!
//! Some values exist only once moto has created the resources (a table's stream ARN, a
//! queue's URL). Resolution therefore runs in two phases: [`Template::storage`] yields the
//! tables and queues to provision, and [`Template::resolve`] is given the
//! [`PhysicalFacts`] provisioning returned.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Map, Value as Json};

use crate::model::{
    BucketSpec, CorsSpec, EventSource, FunctionSpec, HttpApiSpec, HttpRoute, IndexSpec,
    PolicyCondition, PolicyStatement, QueueSpec, SecretSpec, SecretValue, SqsSourceSpec,
    StackModel, StreamSourceSpec, TableSpec, WebSocketApiSpec, WebSocketAuthorizer, WebSocketRoute,
};

/// The account moto uses by default; ARNs and queue URLs embed it.
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";
pub const DEFAULT_REGION: &str = "us-east-1";

/// SAM's logical id for the HTTP API it creates when functions have `HttpApi` events
/// without an explicit `AWS::Serverless::HttpApi`.
const IMPLICIT_HTTP_API: &str = "ServerlessHttpApi";

/// Lambda's defaults when the template sets neither the property nor a global.
const DEFAULT_TIMEOUT_SECONDS: u32 = 3;
const DEFAULT_MEMORY_MB: u32 = 128;

/// Cycles between conditions are a template bug; this bounds the recursion.
const MAX_CONDITION_DEPTH: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read template {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("template is not valid YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
    #[error("template {at}: {reason}")]
    Invalid { at: String, reason: String },
}

type Result<T, E = TemplateError> = std::result::Result<T, E>;

/// Filters one event-source mapping may have (Lambda's default quota, not adjustable
/// by the template).
pub const MAX_FILTERS_PER_MAPPING: usize = 5;

/// Concurrent batches per stream shard Lambda allows one event-source mapping.
pub const MAX_PARALLELIZATION_FACTOR: u32 = 10;

fn invalid(at: &str, reason: impl Into<String>) -> TemplateError {
    TemplateError::Invalid {
        at: at.to_owned(),
        reason: reason.into(),
    }
}

/// Who the stack is and what provisioning found out: everything resolution depends on
/// besides the template itself.
#[derive(Debug, Clone)]
pub struct ResolveContext {
    pub stack_name: String,
    pub region: String,
    pub account_id: String,
    /// `--parameter-overrides`; a name the template does not declare is an error.
    pub parameter_overrides: BTreeMap<String, String>,
    pub facts: PhysicalFacts,
}

impl ResolveContext {
    /// A context for `stack_name` in moto's default account and region, before provisioning.
    pub fn new(stack_name: impl Into<String>) -> Self {
        Self {
            stack_name: stack_name.into(),
            region: DEFAULT_REGION.to_owned(),
            account_id: DEFAULT_ACCOUNT_ID.to_owned(),
            parameter_overrides: BTreeMap::new(),
            facts: PhysicalFacts::default(),
        }
    }
}

/// Values only the backing services know, keyed by logical id.
#[derive(Debug, Clone, Default)]
pub struct PhysicalFacts {
    pub queue_urls: BTreeMap<String, String>,
    pub queue_arns: BTreeMap<String, String>,
    pub table_stream_arns: BTreeMap<String, String>,
    /// ARNs of `AWS::SecretsManager::Secret`s (what `Ref` returns), keyed by logical id.
    pub secret_arns: BTreeMap<String, String>,
}

/// The resources that must exist in moto before the rest of the template can resolve.
#[derive(Debug, Clone)]
pub struct StorageSpecs {
    pub tables: Vec<TableSpec>,
    pub queues: Vec<QueueSpec>,
    pub buckets: Vec<BucketSpec>,
    pub secrets: Vec<SecretSpec>,
}

/// A parsed template, tags rewritten to long-form intrinsics.
#[derive(Debug, Clone)]
pub struct Template {
    parameters: Map<String, Json>,
    conditions: Map<String, Json>,
    /// `Rules`: assertions on the parameters, checked before anything is created.
    rules: Map<String, Json>,
    mappings: Map<String, Json>,
    globals: Map<String, Json>,
    resources: BTreeMap<String, Resource>,
}

#[derive(Debug, Clone)]
struct Resource {
    kind: String,
    properties: Map<String, Json>,
    metadata: Map<String, Json>,
    condition: Option<String>,
}

impl Template {
    pub fn from_path(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_yaml(&text)
    }

    pub fn from_yaml(text: &str) -> Result<Self> {
        let yaml: serde_norway::Value = serde_norway::from_str(text)?;
        let Json::Object(mut root) = yaml_to_json(yaml, "")? else {
            return Err(invalid("", "the document is not a mapping"));
        };
        let mut section = |name: &str| match root.remove(name) {
            Some(Json::Object(map)) => Ok(map),
            None | Some(Json::Null) => Ok(Map::new()),
            Some(_) => Err(invalid(name, "must be a mapping")),
        };
        let parameters = section("Parameters")?;
        let conditions = section("Conditions")?;
        let rules = section("Rules")?;
        let mappings = section("Mappings")?;
        let globals = section("Globals")?;
        let resources = section("Resources")?
            .into_iter()
            .map(|(id, body)| Resource::parse(&id, body).map(|r| (id, r)))
            .collect::<Result<_>>()?;
        Ok(Self {
            parameters,
            conditions,
            rules,
            mappings,
            globals,
            resources,
        })
    }

    /// Phase one: the tables and queues to create, which never depend on provisioning.
    pub fn storage(&self, ctx: &ResolveContext) -> Result<StorageSpecs> {
        let resolver = Resolver::new(self, ctx)?;
        Ok(StorageSpecs {
            tables: resolver.tables()?,
            queues: resolver.queues()?,
            buckets: resolver.buckets()?,
            secrets: resolver.secrets()?,
        })
    }

    /// Phase two: the whole stack, given what provisioning returned in `ctx.facts`.
    pub fn resolve(&self, ctx: &ResolveContext) -> Result<StackModel> {
        let resolver = Resolver::new(self, ctx)?;
        let functions = resolver.functions()?;
        let http_api = resolver.http_api(&functions)?;
        Ok(StackModel {
            stack_name: ctx.stack_name.clone(),
            region: ctx.region.clone(),
            account_id: ctx.account_id.clone(),
            tables: resolver.tables()?,
            queues: resolver.queues()?,
            websocket_api: resolver.websocket_api()?,
            functions,
            http_api,
        })
    }
}

impl Resource {
    fn parse(id: &str, body: Json) -> Result<Self> {
        let at = format!("Resources.{id}");
        let Json::Object(mut body) = body else {
            return Err(invalid(&at, "must be a mapping"));
        };
        let kind = match body.remove("Type") {
            Some(Json::String(kind)) => kind,
            _ => return Err(invalid(&at, "has no Type")),
        };
        let mut object = |key: &str| match body.remove(key) {
            Some(Json::Object(map)) => Ok(map),
            None | Some(Json::Null) => Ok(Map::new()),
            Some(_) => Err(invalid(&format!("{at}.{key}"), "must be a mapping")),
        };
        let properties = object("Properties")?;
        let metadata = object("Metadata")?;
        let condition = match body.remove("Condition") {
            Some(Json::String(name)) => Some(name),
            None => None,
            Some(_) => return Err(invalid(&at, "Condition must be a condition name")),
        };
        Ok(Self {
            kind,
            properties,
            metadata,
            condition,
        })
    }
}

/// A deterministic, API-Gateway-shaped id (10 lowercase base-36 characters) for a
/// resource of a local stack. `Ref` of an API resolves to it, and the WebSocket and
/// `@connections` servers can derive the same value from the model.
pub fn local_resource_id(stack_name: &str, logical_id: &str) -> String {
    // FNV-1a: tiny, stable across Rust versions (unlike `DefaultHasher`).
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in stack_name.bytes().chain([b'/']).chain(logical_id.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..10)
        .map(|_| {
            let digit = (hash % 36) as usize;
            hash /= 36;
            char::from(ALPHABET[digit])
        })
        .collect()
}

/// Converts YAML to JSON, rewriting short-form tags to long-form intrinsics.
fn yaml_to_json(value: serde_norway::Value, at: &str) -> Result<Json> {
    use serde_norway::Value as Yaml;
    Ok(match value {
        Yaml::Null => Json::Null,
        Yaml::Bool(b) => Json::Bool(b),
        Yaml::Number(n) => yaml_number(&n, at)?,
        Yaml::String(s) => Json::String(s),
        Yaml::Sequence(items) => Json::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| yaml_to_json(item, &format!("{at}[{i}]")))
                .collect::<Result<_>>()?,
        ),
        Yaml::Mapping(entries) => {
            let mut map = Map::new();
            for (key, value) in entries {
                let key = match key {
                    Yaml::String(s) => s,
                    Yaml::Number(n) => n.to_string(),
                    Yaml::Bool(b) => b.to_string(),
                    other => return Err(invalid(at, format!("unsupported mapping key {other:?}"))),
                };
                let child = yaml_to_json(value, &join_path(at, &key))?;
                map.insert(key, child);
            }
            Json::Object(map)
        }
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = yaml_to_json(tagged.value, at)?;
            long_form(name, inner, at)?
        }
    })
}

fn yaml_number(n: &serde_norway::Number, at: &str) -> Result<Json> {
    if let Some(i) = n.as_i64() {
        Ok(Json::from(i))
    } else if let Some(u) = n.as_u64() {
        Ok(Json::from(u))
    } else {
        n.as_f64()
            .and_then(serde_json::Number::from_f64)
            .map(Json::Number)
            .ok_or_else(|| invalid(at, format!("unsupported number {n}")))
    }
}

fn long_form(tag: &str, inner: Json, at: &str) -> Result<Json> {
    let key = match tag {
        "Ref" | "Condition" => tag.to_owned(),
        "GetAtt" => {
            // The short form `!GetAtt A.B.C` means resource `A`, attribute `B.C`.
            let inner = match inner {
                Json::String(s) => match s.split_once('.') {
                    Some((id, attr)) => Json::from(vec![id.to_owned(), attr.to_owned()]),
                    None => return Err(invalid(at, format!("!GetAtt {s} has no attribute"))),
                },
                other => other,
            };
            return Ok(single("Fn::GetAtt", inner));
        }
        "Sub" | "Join" | "If" | "Equals" | "Select" | "Split" | "FindInMap" | "Base64"
        | "GetAZs" | "ImportValue" | "And" | "Or" | "Not" | "Cidr" | "Transform"
        | "ToJsonString" | "Length" => format!("Fn::{tag}"),
        other => return Err(invalid(at, format!("unknown tag !{other}"))),
    };
    Ok(single(&key, inner))
}

fn single(key: &str, value: Json) -> Json {
    let mut map = Map::new();
    map.insert(key.to_owned(), value);
    Json::Object(map)
}

fn join_path(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}

/// An object with exactly one `Ref` or `Fn::*` key is an intrinsic function call.
fn as_intrinsic(map: &Map<String, Json>) -> Option<(&str, &Json)> {
    let mut entries = map.iter();
    let (key, value) = entries.next()?;
    let is_intrinsic = entries.next().is_none() && (key == "Ref" || key.starts_with("Fn::"));
    is_intrinsic.then_some((key.as_str(), value))
}

/// The `(logical id, attribute)` of a literal `Fn::GetAtt`, read before resolution so
/// an event source can name its table or queue even when the attribute's value (a
/// stream ARN) does not exist yet.
fn get_att_target(value: &Json) -> Option<(String, String)> {
    let Json::Object(map) = value else {
        return None;
    };
    match as_intrinsic(map)? {
        ("Fn::GetAtt", Json::Array(parts)) => match parts.as_slice() {
            [Json::String(id), Json::String(attr)] => Some((id.clone(), attr.clone())),
            _ => None,
        },
        ("Fn::GetAtt", Json::String(s)) => s
            .split_once('.')
            .map(|(id, attr)| (id.to_owned(), attr.to_owned())),
        _ => None,
    }
}

/// CloudFormation coerces scalars to strings wherever a string is expected.
fn scalar_string(value: &Json, at: &str) -> Result<String> {
    match value {
        Json::String(s) => Ok(s.clone()),
        Json::Number(n) => Ok(n.to_string()),
        Json::Bool(b) => Ok(b.to_string()),
        other => Err(invalid(at, format!("expected a string, found {other}"))),
    }
}

/// Merges SAM `Globals` into a resource's properties: mappings merge key by key, the
/// resource's own scalars win, lists are concatenated globals first (SAM's rules).
fn merge_globals(global: &Json, local: &Json) -> Json {
    let is_plain_map = |v: &Json| matches!(v, Json::Object(m) if as_intrinsic(m).is_none());
    match (global, local) {
        (Json::Object(g), Json::Object(l)) if is_plain_map(global) && is_plain_map(local) => {
            let mut merged = g.clone();
            for (key, value) in l {
                let combined = match g.get(key) {
                    Some(existing) => merge_globals(existing, value),
                    None => value.clone(),
                };
                merged.insert(key.clone(), combined);
            }
            Json::Object(merged)
        }
        (Json::Array(g), Json::Array(l)) => Json::Array(g.iter().chain(l).cloned().collect()),
        (_, local) => local.clone(),
    }
}

/// Resolves intrinsics for one [`ResolveContext`].
struct Resolver<'a> {
    template: &'a Template,
    ctx: &'a ResolveContext,
    /// Parameter values after overrides; `None` for a parameter with neither.
    parameters: BTreeMap<String, Option<Json>>,
    /// Conditions being evaluated, to report a cycle instead of overflowing the stack.
    evaluating: RefCell<Vec<String>>,
}

impl<'a> Resolver<'a> {
    fn new(template: &'a Template, ctx: &'a ResolveContext) -> Result<Self> {
        if let Some(unknown) = ctx
            .parameter_overrides
            .keys()
            .find(|name| !template.parameters.contains_key(*name))
        {
            return Err(invalid(
                "Parameters",
                format!("override of undeclared parameter {unknown}"),
            ));
        }
        let parameters = template
            .parameters
            .iter()
            .map(|(name, decl)| {
                let value = parameter_value(name, decl, ctx.parameter_overrides.get(name))?;
                Ok((name.clone(), value))
            })
            .collect::<Result<_>>()?;
        let resolver = Self {
            template,
            ctx,
            parameters,
            evaluating: RefCell::new(Vec::new()),
        };
        resolver.check_rules()?;
        Ok(resolver)
    }

    /// Refuses the parameters as CloudFormation does: every assertion of every rule
    /// whose `RuleCondition` holds (or that has none) must hold.
    fn check_rules(&self) -> Result<()> {
        for (name, rule) in &self.template.rules {
            let at = format!("Rules.{name}");
            if let Some(condition) = rule.get("RuleCondition")
                && !self.truth(condition, &format!("{at}.RuleCondition"))?
            {
                continue;
            }
            let assertions = match rule.get("Assertions") {
                Some(Json::Array(assertions)) => assertions.as_slice(),
                _ => return Err(invalid(&at, "Assertions must be a list")),
            };
            for (i, assertion) in assertions.iter().enumerate() {
                let here = format!("{at}.Assertions[{i}]");
                let assert = assertion
                    .get("Assert")
                    .ok_or_else(|| invalid(&here, "has no Assert"))?;
                if !self.truth(assert, &here)? {
                    let description = assertion
                        .get("AssertDescription")
                        .and_then(Json::as_str)
                        .unwrap_or("an assertion failed");
                    return Err(invalid(&here, description));
                }
            }
        }
        Ok(())
    }

    // ---- resources -------------------------------------------------------------

    /// Resources whose `Condition` holds, i.e. the ones CloudFormation would create.
    fn resources_of<'r>(
        &'r self,
        kinds: &'r [&'r str],
    ) -> impl Iterator<Item = Result<(&'a str, &'a Resource)>> + 'r {
        self.template
            .resources
            .iter()
            .filter(|(_, r)| kinds.contains(&r.kind.as_str()))
            .filter_map(|(id, r)| match self.is_created(r) {
                Ok(true) => Some(Ok((id.as_str(), r))),
                Ok(false) => None,
                Err(e) => Some(Err(e)),
            })
    }

    fn is_created(&self, resource: &Resource) -> Result<bool> {
        resource
            .condition
            .as_deref()
            .map_or(Ok(true), |name| self.condition(name))
    }

    fn resource(&self, id: &str, at: &str) -> Result<&'a Resource> {
        let resource = self
            .template
            .resources
            .get(id)
            .ok_or_else(|| invalid(at, format!("no resource or parameter named {id}")))?;
        if self.is_created(resource)? {
            Ok(resource)
        } else {
            Err(invalid(
                at,
                format!("{id} is not created (its condition is false)"),
            ))
        }
    }

    /// The resource's type; SAM's implicit HTTP API exists without being declared.
    fn resource_kind(&self, id: &str, at: &str) -> Result<&'a str> {
        if id == IMPLICIT_HTTP_API && !self.template.resources.contains_key(id) {
            return Ok("AWS::Serverless::HttpApi");
        }
        Ok(self.resource(id, at)?.kind.as_str())
    }

    fn default_name(&self, id: &str) -> String {
        format!("{}-{id}", self.ctx.stack_name)
    }

    /// The physical name: the template's explicit name property, else `{stack}-{id}`.
    fn physical_name(&self, id: &str, at: &str) -> Result<String> {
        let resource = self.resource(id, at)?;
        let props = &resource.properties;
        let here = format!("Resources.{id}.Properties");
        let explicit = match resource.kind.as_str() {
            "AWS::DynamoDB::Table" | "AWS::Serverless::SimpleTable" => {
                self.opt_str(props, "TableName", &here)?
            }
            "AWS::SQS::Queue" => self.opt_str(props, "QueueName", &here)?,
            "AWS::S3::Bucket" => self.opt_str(props, "BucketName", &here)?,
            "AWS::SecretsManager::Secret" => self.opt_str(props, "Name", &here)?,
            "AWS::Serverless::Function" | "AWS::Lambda::Function" => {
                self.opt_str(props, "FunctionName", &here)?
            }
            _ => None,
        };
        Ok(match explicit {
            Some(name) => name,
            // Bucket names are lower-case DNS labels.
            None if resource.kind == "AWS::S3::Bucket" => self.default_name(id).to_lowercase(),
            None if self.is_fifo_queue(resource, &here)? => {
                format!("{}.fifo", self.default_name(id))
            }
            None => self.default_name(id),
        })
    }

    fn is_fifo_queue(&self, resource: &Resource, at: &str) -> Result<bool> {
        Ok(resource.kind == "AWS::SQS::Queue"
            && self.opt_bool(&resource.properties, "FifoQueue", at)? == Some(true))
    }

    fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:aws:{service}:{}:{}:{resource}",
            self.ctx.region, self.ctx.account_id
        )
    }

    fn queue_arn(&self, id: &str, at: &str) -> Result<String> {
        Ok(self.arn("sqs", &self.physical_name(id, at)?))
    }

    fn function_arn(&self, id: &str, at: &str) -> Result<String> {
        Ok(self.arn(
            "lambda",
            &format!("function:{}", self.physical_name(id, at)?),
        ))
    }

    // ---- intrinsics ---------------------------------------------------------------

    /// Resolves `value`; `None` is `AWS::NoValue` (the property is absent).
    fn resolve(&self, value: &Json, at: &str) -> Result<Option<Json>> {
        match value {
            Json::Object(map) => {
                if let Some((name, arg)) = as_intrinsic(map) {
                    return self.intrinsic(name, arg, at);
                }
                let mut out = Map::new();
                for (key, child) in map {
                    if let Some(resolved) = self.resolve(child, &join_path(at, key))? {
                        out.insert(key.clone(), resolved);
                    }
                }
                Ok(Some(Json::Object(out)))
            }
            Json::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.extend(self.resolve(item, &format!("{at}[{i}]"))?);
                }
                Ok(Some(Json::Array(out)))
            }
            scalar => Ok(Some(scalar.clone())),
        }
    }

    fn resolve_required(&self, value: &Json, at: &str) -> Result<Json> {
        self.resolve(value, at)?
            .ok_or_else(|| invalid(at, "resolves to AWS::NoValue where a value is needed"))
    }

    fn resolve_string(&self, value: &Json, at: &str) -> Result<String> {
        scalar_string(&self.resolve_required(value, at)?, at)
    }

    fn resolve_list(&self, value: &Json, at: &str) -> Result<Vec<Json>> {
        match self.resolve_required(value, at)? {
            Json::Array(items) => Ok(items),
            other => Err(invalid(at, format!("expected a list, found {other}"))),
        }
    }

    fn intrinsic(&self, name: &str, arg: &Json, at: &str) -> Result<Option<Json>> {
        let at = &format!("{at}.{name}");
        let value = match name {
            "Ref" => {
                let target = arg
                    .as_str()
                    .ok_or_else(|| invalid(at, "Ref takes a logical id or parameter name"))?;
                return self.reference(target, at);
            }
            "Fn::If" => return self.fn_if(arg, at),
            "Fn::GetAtt" => {
                let (id, attr) = self.get_att_args(arg, at)?;
                self.attribute(&id, &attr, at)?
            }
            "Fn::Sub" => Json::String(self.sub(arg, at)?),
            "Fn::Join" => Json::String(self.join(arg, at)?),
            "Fn::Select" => self.select(arg, at)?,
            "Fn::Split" => self.split(arg, at)?,
            "Fn::FindInMap" => self.find_in_map(arg, at)?,
            "Fn::Equals" | "Fn::And" | "Fn::Or" | "Fn::Not" => {
                Json::Bool(self.truth(&single(name, arg.clone()), at)?)
            }
            "Fn::Base64" => Json::String(
                base64::engine::general_purpose::STANDARD.encode(self.resolve_string(arg, at)?),
            ),
            "Fn::GetAZs" => Json::from(
                ["a", "b", "c"]
                    .map(|zone| format!("{}{zone}", self.ctx.region))
                    .to_vec(),
            ),
            "Fn::ToJsonString" => Json::String(self.resolve_required(arg, at)?.to_string()),
            "Fn::Length" => Json::from(self.resolve_list(arg, at)?.len()),
            other => {
                return Err(invalid(
                    at,
                    format!("{other} cannot be resolved by the local stack"),
                ));
            }
        };
        Ok(Some(value))
    }

    fn reference(&self, target: &str, at: &str) -> Result<Option<Json>> {
        let ctx = self.ctx;
        let value = match target {
            "AWS::NoValue" => return Ok(None),
            "AWS::Region" => Json::from(ctx.region.as_str()),
            "AWS::AccountId" => Json::from(ctx.account_id.as_str()),
            "AWS::StackName" => Json::from(ctx.stack_name.as_str()),
            "AWS::Partition" => Json::from("aws"),
            "AWS::URLSuffix" => Json::from("amazonaws.com"),
            "AWS::NotificationARNs" => Json::Array(Vec::new()),
            "AWS::StackId" => Json::String(self.arn(
                "cloudformation",
                &format!(
                    "stack/{}/{}",
                    ctx.stack_name,
                    local_resource_id(&ctx.stack_name, "AWS::StackId")
                ),
            )),
            _ => match self.parameters.get(target) {
                Some(Some(value)) => value.clone(),
                Some(None) => {
                    return Err(invalid(
                        at,
                        format!(
                            "parameter {target} has no Default; pass it as a parameter override"
                        ),
                    ));
                }
                None => self.resource_ref(target, at)?,
            },
        };
        Ok(Some(value))
    }

    /// `Ref` of a resource: what CloudFormation returns for each type we emulate.
    fn resource_ref(&self, id: &str, at: &str) -> Result<Json> {
        let value = match self.resource_kind(id, at)? {
            "AWS::SQS::Queue" => self.ctx.facts.queue_urls.get(id).cloned().ok_or_else(|| {
                invalid(
                    at,
                    format!("the URL of queue {id} is only known once it is provisioned"),
                )
            })?,
            "AWS::Serverless::HttpApi"
            | "AWS::ApiGatewayV2::Api"
            | "AWS::ApiGatewayV2::Route"
            | "AWS::ApiGatewayV2::Integration"
            | "AWS::ApiGatewayV2::Authorizer"
            | "AWS::ApiGatewayV2::Deployment" => local_resource_id(&self.ctx.stack_name, id),
            "AWS::SecretsManager::Secret" => {
                self.ctx.facts.secret_arns.get(id).cloned().ok_or_else(|| {
                    invalid(
                        at,
                        format!("the ARN of secret {id} is only known once it is provisioned"),
                    )
                })?
            }
            "AWS::ApiGatewayV2::Stage" => {
                let props = &self.resource(id, at)?.properties;
                self.req_str(props, "StageName", &format!("Resources.{id}.Properties"))?
            }
            _ => self.physical_name(id, at)?,
        };
        Ok(Json::String(value))
    }

    fn get_att_args(&self, arg: &Json, at: &str) -> Result<(String, String)> {
        match arg {
            Json::Array(parts) if parts.len() == 2 => Ok((
                self.resolve_string(&parts[0], at)?,
                self.resolve_string(&parts[1], at)?,
            )),
            Json::String(s) => s
                .split_once('.')
                .map(|(id, attr)| (id.to_owned(), attr.to_owned()))
                .ok_or_else(|| invalid(at, format!("Fn::GetAtt {s} has no attribute"))),
            _ => Err(invalid(at, "Fn::GetAtt takes [LogicalId, Attribute]")),
        }
    }

    fn attribute(&self, id: &str, attr: &str, at: &str) -> Result<Json> {
        let kind = self.resource_kind(id, at)?;
        let value = match (kind, attr) {
            ("AWS::DynamoDB::Table" | "AWS::Serverless::SimpleTable", "Arn") => self.arn(
                "dynamodb",
                &format!("table/{}", self.physical_name(id, at)?),
            ),
            ("AWS::DynamoDB::Table", "StreamArn") => self
                .ctx
                .facts
                .table_stream_arns
                .get(id)
                .cloned()
                .ok_or_else(|| {
                    invalid(
                        at,
                        format!("the stream ARN of {id} is only known once it is provisioned"),
                    )
                })?,
            ("AWS::SQS::Queue", "Arn") => self.queue_arn(id, at)?,
            ("AWS::S3::Bucket", "Arn") => format!("arn:aws:s3:::{}", self.physical_name(id, at)?),
            ("AWS::SQS::Queue", "QueueName") => self.physical_name(id, at)?,
            ("AWS::SQS::Queue", "QueueUrl") => {
                return self.resource_ref(id, at);
            }
            ("AWS::Serverless::Function" | "AWS::Lambda::Function", "Arn") => {
                self.function_arn(id, at)?
            }
            ("AWS::Serverless::HttpApi" | "AWS::ApiGatewayV2::Api", "ApiId") => {
                local_resource_id(&self.ctx.stack_name, id)
            }
            ("AWS::Serverless::HttpApi" | "AWS::ApiGatewayV2::Api", "ApiEndpoint") => {
                let scheme = if self.is_websocket_api(id, at)? {
                    "wss"
                } else {
                    "https"
                };
                format!(
                    "{scheme}://{}.execute-api.{}.amazonaws.com",
                    local_resource_id(&self.ctx.stack_name, id),
                    self.ctx.region
                )
            }
            _ => {
                return Err(invalid(
                    at,
                    format!(
                        "Fn::GetAtt {id}.{attr} ({kind}) cannot be resolved by the local stack"
                    ),
                ));
            }
        };
        Ok(Json::String(value))
    }

    fn is_websocket_api(&self, id: &str, at: &str) -> Result<bool> {
        let resource = match self.template.resources.get(id) {
            Some(r) if r.kind == "AWS::ApiGatewayV2::Api" => r,
            _ => return Ok(false),
        };
        let protocol = self.opt_str(&resource.properties, "ProtocolType", at)?;
        Ok(protocol.as_deref() == Some("WEBSOCKET"))
    }

    fn sub(&self, arg: &Json, at: &str) -> Result<String> {
        let empty = Map::new();
        let (text, vars) = match arg {
            Json::String(text) => (text.as_str(), &empty),
            Json::Array(parts) => match parts.as_slice() {
                [Json::String(text), Json::Object(vars)] => (text.as_str(), vars),
                _ => return Err(invalid(at, "Fn::Sub takes a string or [string, {vars}]")),
            },
            _ => return Err(invalid(at, "Fn::Sub takes a string or [string, {vars}]")),
        };
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| invalid(at, format!("unterminated ${{ in {text:?}")))?;
            let name = &after[..end];
            match name.strip_prefix('!') {
                // `${!Literal}` is how a template writes a literal `${Literal}`.
                Some(literal) => {
                    out.push_str("${");
                    out.push_str(literal);
                    out.push('}');
                }
                None => out.push_str(&self.sub_variable(name.trim(), vars, at)?),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn sub_variable(&self, name: &str, vars: &Map<String, Json>, at: &str) -> Result<String> {
        let value = if let Some(value) = vars.get(name) {
            self.resolve_required(value, at)?
        } else if let Some((id, attr)) = name.split_once('.').filter(|_| !name.starts_with("AWS::"))
        {
            self.attribute(id, attr, at)?
        } else {
            self.reference(name, at)?
                .ok_or_else(|| invalid(at, format!("${{{name}}} is AWS::NoValue")))?
        };
        scalar_string(&value, at)
    }

    fn join(&self, arg: &Json, at: &str) -> Result<String> {
        let (delimiter, items) = two_args(arg, "Fn::Join", at)?;
        let delimiter = self.resolve_string(delimiter, at)?;
        let items = self
            .resolve_list(items, at)?
            .iter()
            .map(|item| scalar_string(item, at))
            .collect::<Result<Vec<_>>>()?;
        Ok(items.join(&delimiter))
    }

    fn select(&self, arg: &Json, at: &str) -> Result<Json> {
        let (index, items) = two_args(arg, "Fn::Select", at)?;
        let index: usize = self
            .resolve_string(index, at)?
            .parse()
            .map_err(|_| invalid(at, "Fn::Select index is not a number"))?;
        let items = self.resolve_list(items, at)?;
        items
            .get(index)
            .cloned()
            .ok_or_else(|| invalid(at, format!("Fn::Select index {index} out of range")))
    }

    fn split(&self, arg: &Json, at: &str) -> Result<Json> {
        let (delimiter, text) = two_args(arg, "Fn::Split", at)?;
        let delimiter = self.resolve_string(delimiter, at)?;
        let text = self.resolve_string(text, at)?;
        Ok(Json::from(
            text.split(delimiter.as_str())
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        ))
    }

    fn find_in_map(&self, arg: &Json, at: &str) -> Result<Json> {
        let Some([map, top, second]) = arg.as_array().map(Vec::as_slice) else {
            return Err(invalid(at, "Fn::FindInMap takes [Map, TopKey, SecondKey]"));
        };
        let keys = [map, top, second]
            .map(|key| self.resolve_string(key, at))
            .into_iter()
            .collect::<Result<Vec<_>>>()?;
        self.template
            .mappings
            .get(&keys[0])
            .and_then(|m| m.get(&keys[1]))
            .and_then(|m| m.get(&keys[2]))
            .map(|value| self.resolve_required(value, at))
            .unwrap_or_else(|| Err(invalid(at, format!("no mapping entry {keys:?}"))))
    }

    fn fn_if(&self, arg: &Json, at: &str) -> Result<Option<Json>> {
        let Some([Json::String(condition), then, otherwise]) = arg.as_array().map(Vec::as_slice)
        else {
            return Err(invalid(at, "Fn::If takes [Condition, IfTrue, IfFalse]"));
        };
        let branch = if self.condition(condition)? {
            then
        } else {
            otherwise
        };
        self.resolve(branch, at)
    }

    /// Evaluates a named entry of `Conditions`.
    fn condition(&self, name: &str) -> Result<bool> {
        let at = format!("Conditions.{name}");
        let expression = self
            .template
            .conditions
            .get(name)
            .ok_or_else(|| invalid(&at, "no such condition"))?;
        {
            let mut evaluating = self.evaluating.borrow_mut();
            if evaluating.iter().any(|n| n == name) || evaluating.len() > MAX_CONDITION_DEPTH {
                return Err(invalid(&at, "conditions refer to each other in a cycle"));
            }
            evaluating.push(name.to_owned());
        }
        let result = self.truth(expression, &at);
        self.evaluating.borrow_mut().pop();
        result
    }

    /// Evaluates a condition expression (`Fn::Equals`, `Fn::And`, `Condition`, ...).
    fn truth(&self, expression: &Json, at: &str) -> Result<bool> {
        let Json::Object(map) = expression else {
            return match expression {
                Json::Bool(b) => Ok(*b),
                Json::String(s) if s == "true" || s == "false" => Ok(s == "true"),
                other => Err(invalid(at, format!("{other} is not a condition"))),
            };
        };
        let mut entries = map.iter();
        let (Some((name, arg)), None) = (entries.next(), entries.next()) else {
            return Err(invalid(at, "a condition is a single condition function"));
        };
        let at = &format!("{at}.{name}");
        let operands = || {
            arg.as_array()
                .ok_or_else(|| invalid(at, format!("{name} takes a list")))
        };
        match name.as_str() {
            "Condition" => self.condition(
                arg.as_str()
                    .ok_or_else(|| invalid(at, "Condition takes a condition name"))?,
            ),
            "Fn::Equals" => {
                let [left, right] = operands()?.as_slice() else {
                    return Err(invalid(at, "Fn::Equals takes two values"));
                };
                Ok(self.comparable(left, at)? == self.comparable(right, at)?)
            }
            "Fn::And" => operands()?
                .iter()
                .try_fold(true, |acc, c| Ok(acc && self.truth(c, at)?)),
            "Fn::Or" => operands()?
                .iter()
                .try_fold(false, |acc, c| Ok(acc || self.truth(c, at)?)),
            "Fn::Not" => match operands()?.as_slice() {
                [only] => Ok(!self.truth(only, at)?),
                _ => Err(invalid(at, "Fn::Not takes one condition")),
            },
            "Fn::If" => match self.fn_if(arg, at)? {
                Some(value) => self.truth(&value, at),
                None => Err(invalid(at, "condition is AWS::NoValue")),
            },
            other => Err(invalid(at, format!("{other} is not a condition function"))),
        }
    }

    /// `Fn::Equals` compares strings: `!Equals [!Ref Count, 3]` holds for `"3"`.
    fn comparable(&self, value: &Json, at: &str) -> Result<Json> {
        Ok(match self.resolve_required(value, at)? {
            Json::Number(n) => Json::String(n.to_string()),
            Json::Bool(b) => Json::String(b.to_string()),
            other => other,
        })
    }

    // ---- typed property access ------------------------------------------------------

    fn opt(&self, props: &Map<String, Json>, key: &str, at: &str) -> Result<Option<Json>> {
        match props.get(key) {
            Some(value) => self.resolve(value, &join_path(at, key)),
            None => Ok(None),
        }
    }

    fn opt_str(&self, props: &Map<String, Json>, key: &str, at: &str) -> Result<Option<String>> {
        self.opt(props, key, at)?
            .map(|v| scalar_string(&v, &join_path(at, key)))
            .transpose()
    }

    fn req_str(&self, props: &Map<String, Json>, key: &str, at: &str) -> Result<String> {
        self.opt_str(props, key, at)?
            .ok_or_else(|| invalid(at, format!("{key} is required")))
    }

    fn opt_i64(&self, props: &Map<String, Json>, key: &str, at: &str) -> Result<Option<i64>> {
        let at = &join_path(at, key);
        self.opt_str(props, key, at)?
            .map(|s| {
                s.parse::<i64>()
                    .map_err(|_| invalid(at, format!("{s:?} is not an integer")))
            })
            .transpose()
    }

    fn opt_u32(&self, props: &Map<String, Json>, key: &str, at: &str) -> Result<Option<u32>> {
        self.opt_i64(props, key, at)?
            .map(|n| {
                u32::try_from(n).map_err(|_| invalid(&join_path(at, key), "must not be negative"))
            })
            .transpose()
    }

    fn opt_i32(&self, props: &Map<String, Json>, key: &str, at: &str) -> Result<Option<i32>> {
        self.opt_i64(props, key, at)?
            .map(|n| i32::try_from(n).map_err(|_| invalid(&join_path(at, key), "out of range")))
            .transpose()
    }

    fn opt_bool(&self, props: &Map<String, Json>, key: &str, at: &str) -> Result<Option<bool>> {
        match self.opt(props, key, at)? {
            None => Ok(None),
            Some(Json::Bool(b)) => Ok(Some(b)),
            Some(Json::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Json::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(other) => Err(invalid(
                &join_path(at, key),
                format!("{other} is not a boolean"),
            )),
        }
    }

    fn opt_map(
        &self,
        props: &Map<String, Json>,
        key: &str,
        at: &str,
    ) -> Result<Option<Map<String, Json>>> {
        match self.opt(props, key, at)? {
            None => Ok(None),
            Some(Json::Object(map)) => Ok(Some(map)),
            Some(other) => Err(invalid(
                &join_path(at, key),
                format!("{other} is not a mapping"),
            )),
        }
    }

    fn opt_strings(&self, props: &Map<String, Json>, key: &str, at: &str) -> Result<Vec<String>> {
        let at = &join_path(at, key);
        match props.get(key) {
            None => Ok(Vec::new()),
            Some(value) => self
                .resolve_list(value, at)?
                .iter()
                .map(|v| scalar_string(v, at))
                .collect(),
        }
    }

    /// A list of mappings (`KeySchema`, `GlobalSecondaryIndexes`), resolved.
    fn maps(
        &self,
        props: &Map<String, Json>,
        key: &str,
        at: &str,
    ) -> Result<Vec<Map<String, Json>>> {
        let at = &join_path(at, key);
        match props.get(key) {
            None => Ok(Vec::new()),
            Some(value) => self
                .resolve_list(value, at)?
                .into_iter()
                .map(|item| match item {
                    Json::Object(map) => Ok(map),
                    other => Err(invalid(at, format!("{other} is not a mapping"))),
                })
                .collect(),
        }
    }

    fn pairs(
        &self,
        props: &Map<String, Json>,
        key: &str,
        fields: (&str, &str),
        at: &str,
    ) -> Result<Vec<(String, String)>> {
        self.maps(props, key, at)?
            .iter()
            .map(|entry| {
                let at = &join_path(at, key);
                Ok((
                    self.req_str(entry, fields.0, at)?,
                    self.req_str(entry, fields.1, at)?,
                ))
            })
            .collect()
    }

    // ---- tables and queues --------------------------------------------------------------

    fn tables(&self) -> Result<Vec<TableSpec>> {
        self.resources_of(&["AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"])
            .map(|entry| {
                let (id, resource) = entry?;
                if resource.kind == "AWS::Serverless::SimpleTable" {
                    self.simple_table(id, resource)
                } else {
                    self.table(id, resource)
                }
            })
            .collect()
    }

    fn table(&self, id: &str, resource: &Resource) -> Result<TableSpec> {
        let at = &format!("Resources.{id}.Properties");
        let props = &resource.properties;
        let indexes = self
            .maps(props, "GlobalSecondaryIndexes", at)?
            .iter()
            .map(|index| self.index(index, &join_path(at, "GlobalSecondaryIndexes")))
            .collect::<Result<_>>()?;
        let ttl = self
            .opt_map(props, "TimeToLiveSpecification", at)?
            .map(|ttl| -> Result<Option<String>> {
                let at = &join_path(at, "TimeToLiveSpecification");
                let enabled = self.opt_bool(&ttl, "Enabled", at)?.unwrap_or(false);
                enabled
                    .then(|| self.req_str(&ttl, "AttributeName", at))
                    .transpose()
            })
            .transpose()?
            .flatten();
        let stream_view_type = self
            .opt_map(props, "StreamSpecification", at)?
            .map(|stream| self.opt_str(&stream, "StreamViewType", at))
            .transpose()?
            .flatten();
        Ok(TableSpec {
            logical_id: id.to_owned(),
            physical_name: self.physical_name(id, at)?,
            attribute_definitions: self.pairs(
                props,
                "AttributeDefinitions",
                ("AttributeName", "AttributeType"),
                at,
            )?,
            key_schema: self.pairs(props, "KeySchema", ("AttributeName", "KeyType"), at)?,
            global_secondary_indexes: indexes,
            ttl_attribute: ttl,
            stream_view_type,
        })
    }

    fn index(&self, index: &Map<String, Json>, at: &str) -> Result<IndexSpec> {
        let projection = self.opt_map(index, "Projection", at)?.unwrap_or_default();
        let projection_at = &join_path(at, "Projection");
        Ok(IndexSpec {
            name: self.req_str(index, "IndexName", at)?,
            key_schema: self.pairs(index, "KeySchema", ("AttributeName", "KeyType"), at)?,
            projection_type: self
                .opt_str(&projection, "ProjectionType", projection_at)?
                .unwrap_or_else(|| "ALL".to_owned()),
            non_key_attributes: self.opt_strings(&projection, "NonKeyAttributes", projection_at)?,
        })
    }

    /// `AWS::Serverless::SimpleTable`: a hash key only, `id` of type String by default.
    fn simple_table(&self, id: &str, resource: &Resource) -> Result<TableSpec> {
        let at = &format!("Resources.{id}.Properties");
        let key = self.opt_map(&resource.properties, "PrimaryKey", at)?;
        let (name, kind) = match key {
            Some(key) => (
                self.req_str(&key, "Name", at)?,
                self.req_str(&key, "Type", at)?,
            ),
            None => ("id".to_owned(), "String".to_owned()),
        };
        let attribute_type = match kind.as_str() {
            "String" => "S",
            "Number" => "N",
            "Binary" => "B",
            other => return Err(invalid(at, format!("PrimaryKey.Type {other} is unknown"))),
        };
        Ok(TableSpec {
            logical_id: id.to_owned(),
            physical_name: self.physical_name(id, at)?,
            attribute_definitions: vec![(name.clone(), attribute_type.to_owned())],
            key_schema: vec![(name, "HASH".to_owned())],
            global_secondary_indexes: Vec::new(),
            ttl_attribute: None,
            stream_view_type: None,
        })
    }

    fn buckets(&self) -> Result<Vec<BucketSpec>> {
        self.resources_of(&["AWS::S3::Bucket"])
            .map(|entry| {
                let (id, _) = entry?;
                Ok(BucketSpec {
                    logical_id: id.to_owned(),
                    physical_name: self.physical_name(id, &format!("Resources.{id}"))?,
                })
            })
            .collect()
    }

    fn secrets(&self) -> Result<Vec<SecretSpec>> {
        self.resources_of(&["AWS::SecretsManager::Secret"])
            .map(|entry| {
                let (id, resource) = entry?;
                let at = &format!("Resources.{id}.Properties");
                let props = &resource.properties;
                let value = match self.opt_str(props, "SecretString", at)? {
                    Some(value) => SecretValue::String(value),
                    None => {
                        let generate = self.opt_map(props, "GenerateSecretString", at)?;
                        let length = match &generate {
                            Some(generate) => self.opt_u32(
                                generate,
                                "PasswordLength",
                                &format!("{at}.GenerateSecretString"),
                            )?,
                            None => None,
                        };
                        SecretValue::Generated {
                            length: length.map_or(32, |l| l as usize),
                        }
                    }
                };
                Ok(SecretSpec {
                    logical_id: id.to_owned(),
                    physical_name: self.physical_name(id, at)?,
                    value,
                })
            })
            .collect()
    }

    fn queues(&self) -> Result<Vec<QueueSpec>> {
        self.resources_of(&["AWS::SQS::Queue"])
            .map(|entry| {
                let (id, resource) = entry?;
                self.queue(id, resource)
            })
            .collect()
    }

    fn queue(&self, id: &str, resource: &Resource) -> Result<QueueSpec> {
        let at = &format!("Resources.{id}.Properties");
        let props = &resource.properties;
        let redrive = match props.get("RedrivePolicy") {
            Some(policy) => self.redrive(policy, &join_path(at, "RedrivePolicy"))?,
            None => None,
        };
        Ok(QueueSpec {
            logical_id: id.to_owned(),
            physical_name: self.physical_name(id, at)?,
            visibility_timeout_seconds: self.opt_u32(props, "VisibilityTimeout", at)?,
            message_retention_seconds: self.opt_u32(props, "MessageRetentionPeriod", at)?,
            redrive,
            fifo: self.is_fifo_queue(resource, at)?,
        })
    }

    /// `RedrivePolicy` is a mapping in YAML templates but may be a JSON string.
    fn redrive(&self, policy: &Json, at: &str) -> Result<Option<(String, u32)>> {
        let policy = match policy {
            Json::String(text) => serde_json::from_str(text)
                .map_err(|e| invalid(at, format!("RedrivePolicy is not JSON: {e}")))?,
            other => other.clone(),
        };
        let Json::Object(policy) = policy else {
            return Err(invalid(at, "RedrivePolicy must be a mapping"));
        };
        let Some(target) = policy.get("deadLetterTargetArn") else {
            return Ok(None);
        };
        let dead_letter = self.queue_from_arn(target, &join_path(at, "deadLetterTargetArn"))?;
        let max_receive = self
            .opt_u32(&policy, "maxReceiveCount", at)?
            .ok_or_else(|| invalid(at, "maxReceiveCount is required"))?;
        Ok(Some((dead_letter, max_receive)))
    }

    /// The logical id of the queue an ARN-valued property points at.
    fn queue_from_arn(&self, value: &Json, at: &str) -> Result<String> {
        if let Some((id, attr)) = get_att_target(value)
            && attr == "Arn"
            && self.resource_kind(&id, at)? == "AWS::SQS::Queue"
        {
            return Ok(id);
        }
        let arn = self.resolve_string(value, at)?;
        for entry in self.resources_of(&["AWS::SQS::Queue"]) {
            let (id, _) = entry?;
            if self.queue_arn(id, at)? == arn {
                return Ok(id.to_owned());
            }
        }
        Err(invalid(
            at,
            format!("{arn} is not the ARN of a queue of this template"),
        ))
    }

    /// The logical id of the table whose stream an event source reads.
    fn table_from_stream(&self, value: &Json, at: &str) -> Result<String> {
        if let Some((id, attr)) = get_att_target(value)
            && attr == "StreamArn"
        {
            self.resource(&id, at)?;
            return Ok(id);
        }
        let arn = self.resolve_string(value, at)?;
        self.ctx
            .facts
            .table_stream_arns
            .iter()
            .find(|(_, stream)| **stream == arn)
            .map(|(id, _)| id.clone())
            .ok_or_else(|| {
                invalid(
                    at,
                    format!("{arn} is not the stream of a table of this template"),
                )
            })
    }

    // ---- functions ---------------------------------------------------------------------------

    fn functions(&self) -> Result<Vec<FunctionSpec>> {
        self.resources_of(&["AWS::Serverless::Function"])
            .map(|entry| {
                let (id, resource) = entry?;
                self.function(id, resource)
            })
            .collect()
    }

    fn function(&self, id: &str, resource: &Resource) -> Result<FunctionSpec> {
        let at = &format!("Resources.{id}.Properties");
        let props = match self.template.globals.get("Function") {
            Some(global) => match merge_globals(global, &Json::Object(resource.properties.clone()))
            {
                Json::Object(map) => map,
                _ => return Err(invalid("Globals.Function", "must be a mapping")),
            },
            None => resource.properties.clone(),
        };
        let mut spec = FunctionSpec {
            logical_id: id.to_owned(),
            physical_name: self.physical_name(id, at)?,
            binary: self.binary(id, resource)?,
            handler: self.req_str(&props, "Handler", at)?,
            timeout_seconds: self
                .opt_u32(&props, "Timeout", at)?
                .unwrap_or(DEFAULT_TIMEOUT_SECONDS),
            memory_mb: self
                .opt_u32(&props, "MemorySize", at)?
                .unwrap_or(DEFAULT_MEMORY_MB),
            environment: self.environment(&props, at)?,
            http_routes: Vec::new(),
            event_sources: Vec::new(),
            policy: Vec::new(),
        };
        if let Some(Json::Object(events)) = props.get("Events") {
            for (name, event) in events {
                self.add_event(&mut spec, name, event, &format!("{at}.Events.{name}"))?;
            }
        }
        spec.policy = self.role_policy(&props, at)?;
        Ok(spec)
    }

    // ---- execution roles -------------------------------------------------------------

    /// The statements of the role SAM generates for a function: its `Policies`
    /// (inline statements, policy templates, the AWS managed policies SAM uses) and
    /// what SAM adds by itself for logging, event-source polling and on-failure
    /// destinations.
    fn role_policy(&self, props: &Map<String, Json>, at: &str) -> Result<Vec<PolicyStatement>> {
        if props.contains_key("Role") {
            return Err(invalid(
                at,
                "Role: the local stack enforces the roles SAM generates from Policies; \
                 an explicit role is not supported",
            ));
        }
        let mut statements = managed_policy("AWSLambdaBasicExecutionRole", false)
            .ok_or_else(|| invalid(at, "the basic execution policy is missing"))?;
        if let Some(Json::Object(events)) = props.get("Events") {
            for (name, event) in events {
                let at = &format!("{at}.Events.{name}");
                statements.extend(self.event_statements(event, at)?);
            }
        }
        let policies = match props.get("Policies") {
            None | Some(Json::Null) => Vec::new(),
            Some(Json::Array(items)) => items.clone(),
            Some(single) => vec![single.clone()],
        };
        for (i, policy) in policies.iter().enumerate() {
            let at = &format!("{at}.Policies[{i}]");
            statements.extend(self.policy_entry(policy, at)?);
        }
        Ok(statements)
    }

    /// The statements SAM adds for one event: the managed polling policy of a stream or
    /// queue source, and `sqs:SendMessage` on a stream source's SQS on-failure
    /// destination.
    fn event_statements(&self, event: &Json, at: &str) -> Result<Vec<PolicyStatement>> {
        let Json::Object(event) = event else {
            return Ok(Vec::new());
        };
        let props = match event.get("Properties") {
            Some(Json::Object(props)) => props.clone(),
            _ => Map::new(),
        };
        let at = &join_path(at, "Properties");
        let mut statements = Vec::new();
        match self.opt_str(event, "Type", at)?.as_deref() {
            Some("DynamoDB") => {
                statements.extend(
                    managed_policy("AWSLambdaDynamoDBExecutionRole", false)
                        .into_iter()
                        .flatten(),
                );
                let on_failure = self
                    .opt_map(&props, "DestinationConfig", at)?
                    .and_then(|config| config.get("OnFailure").cloned());
                if let Some(Json::Object(target)) = on_failure
                    && self.opt_str(&target, "Type", at)?.as_deref() == Some("SQS")
                    && let Some(destination) = target.get("Destination")
                {
                    let arn =
                        self.resolve_string(destination, &join_path(at, "DestinationConfig"))?;
                    statements.push(PolicyStatement {
                        label: "SAM:OnFailureDestination".to_owned(),
                        from_template: false,
                        allow: true,
                        actions: vec!["sqs:SendMessage".to_owned()],
                        resources: vec![arn],
                        conditions: Vec::new(),
                    });
                }
            }
            Some("SQS") => {
                statements.extend(
                    managed_policy("AWSLambdaSQSQueueExecutionRole", false)
                        .into_iter()
                        .flatten(),
                );
            }
            _ => {}
        }
        Ok(statements)
    }

    /// One entry of `Policies`: a managed policy name or ARN, an inline policy document
    /// (`Statement`), or a SAM policy template (`{TemplateName: {parameters}}`).
    fn policy_entry(&self, entry: &Json, at: &str) -> Result<Vec<PolicyStatement>> {
        match entry {
            Json::String(name) => {
                let short = name.rsplit('/').next().unwrap_or(name);
                managed_policy(short, true).ok_or_else(|| {
                    invalid(
                        at,
                        format!("managed policy {name} is not known to the local stack"),
                    )
                })
            }
            // `!If [Cond, policy, !Ref AWS::NoValue]`: an absent entry grants nothing.
            Json::Object(map) if as_intrinsic(map).is_some() => match self.resolve(entry, at)? {
                Some(resolved) => self.policy_entry(&resolved, at),
                None => Ok(Vec::new()),
            },
            Json::Object(map) if map.contains_key("Statement") => {
                let statements =
                    match self.resolve_required(&map["Statement"], &join_path(at, "Statement"))? {
                        Json::Array(items) => items,
                        single => vec![single],
                    };
                statements
                    .iter()
                    .enumerate()
                    .map(|(i, statement)| statement_of(statement, &format!("{at}.Statement[{i}]")))
                    .collect()
            }
            Json::Object(map) if map.len() == 1 => {
                let (name, parameters) = map
                    .iter()
                    .next()
                    .ok_or_else(|| invalid(at, "empty policy"))?;
                let parameters = match self.resolve_required(parameters, &join_path(at, name))? {
                    Json::Object(parameters) => parameters,
                    _ => Map::new(),
                };
                self.policy_template(name, &parameters, &join_path(at, name))
            }
            _ => Err(invalid(
                at,
                "a policy is a managed policy name, a Statement list or a SAM policy template",
            )),
        }
    }

    /// SAM's policy templates (`policy_templates.json` of the SAM translator) that the
    /// local stack knows; any other is an error rather than silently unrestricted.
    fn policy_template(
        &self,
        name: &str,
        parameters: &Map<String, Json>,
        at: &str,
    ) -> Result<Vec<PolicyStatement>> {
        let parameter = |key: &str| -> Result<String> {
            parameters
                .get(key)
                .map(|value| scalar_string(value, &join_path(at, key)))
                .transpose()?
                .ok_or_else(|| invalid(at, format!("{name} needs {key}")))
        };
        let statement = |actions: &[&str], resources: Vec<String>| PolicyStatement {
            label: name.to_owned(),
            from_template: true,
            allow: true,
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
            resources,
            conditions: Vec::new(),
        };
        let table = |table: &str| {
            vec![
                self.arn("dynamodb", &format!("table/{table}")),
                self.arn("dynamodb", &format!("table/{table}/index/*")),
            ]
        };
        let bucket = |bucket: &str| {
            vec![
                format!("arn:aws:s3:::{bucket}"),
                format!("arn:aws:s3:::{bucket}/*"),
            ]
        };
        Ok(vec![match name {
            "SQSSendMessagePolicy" => statement(
                &["sqs:SendMessage*"],
                vec![self.arn("sqs", &parameter("QueueName")?)],
            ),
            "SQSPollerPolicy" => statement(
                &[
                    "sqs:ChangeMessageVisibility",
                    "sqs:ChangeMessageVisibilityBatch",
                    "sqs:DeleteMessage",
                    "sqs:DeleteMessageBatch",
                    "sqs:GetQueueAttributes",
                    "sqs:ReceiveMessage",
                ],
                vec![self.arn("sqs", &parameter("QueueName")?)],
            ),
            "DynamoDBCrudPolicy" => statement(
                &[
                    "dynamodb:GetItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:PutItem",
                    "dynamodb:Scan",
                    "dynamodb:Query",
                    "dynamodb:UpdateItem",
                    "dynamodb:BatchWriteItem",
                    "dynamodb:BatchGetItem",
                    "dynamodb:DescribeTable",
                    "dynamodb:ConditionCheckItem",
                ],
                table(&parameter("TableName")?),
            ),
            "DynamoDBReadPolicy" => statement(
                &[
                    "dynamodb:GetItem",
                    "dynamodb:Scan",
                    "dynamodb:Query",
                    "dynamodb:BatchGetItem",
                    "dynamodb:DescribeTable",
                ],
                table(&parameter("TableName")?),
            ),
            "DynamoDBWritePolicy" => statement(
                &[
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:BatchWriteItem",
                ],
                table(&parameter("TableName")?),
            ),
            "S3ReadPolicy" => statement(
                &[
                    "s3:GetObject",
                    "s3:ListBucket",
                    "s3:GetBucketLocation",
                    "s3:GetObjectVersion",
                    "s3:GetLifecycleConfiguration",
                ],
                bucket(&parameter("BucketName")?),
            ),
            "S3WritePolicy" => statement(
                &[
                    "s3:PutObject",
                    "s3:PutObjectAcl",
                    "s3:PutLifecycleConfiguration",
                ],
                bucket(&parameter("BucketName")?),
            ),
            "S3CrudPolicy" => statement(
                &[
                    "s3:GetObject",
                    "s3:ListBucket",
                    "s3:GetBucketLocation",
                    "s3:GetObjectVersion",
                    "s3:PutObject",
                    "s3:PutObjectAcl",
                    "s3:GetLifecycleConfiguration",
                    "s3:PutLifecycleConfiguration",
                    "s3:DeleteObject",
                ],
                bucket(&parameter("BucketName")?),
            ),
            other => {
                return Err(invalid(
                    at,
                    format!("SAM policy template {other} is not known to the local stack"),
                ));
            }
        }])
    }

    fn binary(&self, id: &str, resource: &Resource) -> Result<String> {
        let at = &format!("Resources.{id}.Metadata");
        let build = self
            .opt_map(&resource.metadata, "BuildProperties", at)?
            .ok_or_else(|| {
                invalid(
                    at,
                    "BuildProperties.Binary names the cargo binary; it is missing",
                )
            })?;
        self.req_str(&build, "Binary", &join_path(at, "BuildProperties"))
    }

    fn environment(&self, props: &Map<String, Json>, at: &str) -> Result<BTreeMap<String, String>> {
        let Some(environment) = self.opt_map(props, "Environment", at)? else {
            return Ok(BTreeMap::new());
        };
        let at = &join_path(at, "Environment");
        let variables = self
            .opt_map(&environment, "Variables", at)?
            .unwrap_or_default();
        let at = &join_path(at, "Variables");
        variables
            .iter()
            .map(|(name, value)| Ok((name.clone(), scalar_string(value, &join_path(at, name))?)))
            .collect()
    }

    fn add_event(&self, spec: &mut FunctionSpec, name: &str, event: &Json, at: &str) -> Result<()> {
        let Json::Object(event) = event else {
            return Err(invalid(at, "an event must be a mapping"));
        };
        let kind = self.req_str(event, "Type", at)?;
        let props = match event.get("Properties") {
            Some(Json::Object(props)) => props.clone(),
            None | Some(Json::Null) => Map::new(),
            Some(_) => return Err(invalid(at, "Properties must be a mapping")),
        };
        let at = &join_path(at, "Properties");
        if self.opt_bool(&props, "Enabled", at)? == Some(false) {
            return Ok(());
        }
        match kind.as_str() {
            "HttpApi" => spec.http_routes.push(self.http_route(&props, at)?),
            "DynamoDB" => spec.event_sources.push(EventSource::DynamoDbStream(
                self.stream_source(name, &props, at)?,
            )),
            "SQS" => spec
                .event_sources
                .push(EventSource::Sqs(self.sqs_source(name, &props, at)?)),
            "Schedule" => {
                let expression = self.req_str(&props, "Schedule", at)?;
                let period = crate::model::schedule_period(&expression)
                    .map_err(|message| invalid(&join_path(at, "Schedule"), message))?;
                spec.event_sources
                    .push(EventSource::Schedule(crate::model::ScheduleSourceSpec {
                        name: name.to_owned(),
                        expression,
                        period,
                    }));
            }
            other => tracing::debug!(
                event = name,
                kind = other,
                "event type not emulated locally"
            ),
        }
        Ok(())
    }

    /// An `HttpApi` event without `Path`/`Method` is the API's `$default` route.
    fn http_route(&self, props: &Map<String, Json>, at: &str) -> Result<HttpRoute> {
        let path = self.opt_str(props, "Path", at)?;
        let method = self.opt_str(props, "Method", at)?;
        Ok(match (path, method) {
            (None, None) => HttpRoute {
                method: "ANY".to_owned(),
                path: "$default".to_owned(),
            },
            (path, method) => HttpRoute {
                method: match method.map(|m| m.to_ascii_uppercase()) {
                    None => "ANY".to_owned(),
                    Some(m) if m == "X-AMAZON-APIGATEWAY-ANY-METHOD" => "ANY".to_owned(),
                    Some(m) => m,
                },
                path: path.ok_or_else(|| invalid(at, "Path is required with Method"))?,
            },
        })
    }

    fn stream_source(
        &self,
        name: &str,
        props: &Map<String, Json>,
        at: &str,
    ) -> Result<StreamSourceSpec> {
        let stream = props
            .get("Stream")
            .ok_or_else(|| invalid(at, "Stream is required"))?;
        let on_failure = self
            .opt_map(props, "DestinationConfig", at)?
            .and_then(|config| config.get("OnFailure").cloned());
        let on_failure_queue = match on_failure {
            Some(Json::Object(target)) => match target.get("Destination") {
                Some(destination) => Some(self.queue_from_arn(
                    destination,
                    &join_path(at, "DestinationConfig.OnFailure.Destination"),
                )?),
                None => None,
            },
            _ => None,
        };
        Ok(StreamSourceSpec {
            name: name.to_owned(),
            table_logical_id: self.table_from_stream(stream, &join_path(at, "Stream"))?,
            starting_position: self
                .opt_str(props, "StartingPosition", at)?
                .unwrap_or_else(|| "LATEST".to_owned()),
            batch_size: self.opt_u32(props, "BatchSize", at)?.unwrap_or(100),
            maximum_batching_window_seconds: self
                .opt_u32(props, "MaximumBatchingWindowInSeconds", at)?
                .unwrap_or(0),
            report_batch_item_failures: self.reports_item_failures(props, at)?,
            bisect_batch_on_function_error: self
                .opt_bool(props, "BisectBatchOnFunctionError", at)?
                .unwrap_or(false),
            maximum_retry_attempts: self
                .opt_i32(props, "MaximumRetryAttempts", at)?
                .unwrap_or(-1),
            maximum_record_age_seconds: self
                .opt_i32(props, "MaximumRecordAgeInSeconds", at)?
                .unwrap_or(-1),
            on_failure_queue_logical_id: on_failure_queue,
            parallelization_factor: self.parallelization_factor(props, at)?,
            filter_patterns: self.filter_patterns(props, at)?,
        })
    }

    /// `ParallelizationFactor`: 1 (the default) to 10 concurrent batches per shard.
    fn parallelization_factor(&self, props: &Map<String, Json>, at: &str) -> Result<u32> {
        match self.opt_u32(props, "ParallelizationFactor", at)? {
            None => Ok(1),
            Some(factor @ 1..=MAX_PARALLELIZATION_FACTOR) => Ok(factor),
            Some(factor) => Err(invalid(
                at,
                format!(
                    "ParallelizationFactor {factor} is outside 1..={MAX_PARALLELIZATION_FACTOR}"
                ),
            )),
        }
    }

    fn sqs_source(&self, name: &str, props: &Map<String, Json>, at: &str) -> Result<SqsSourceSpec> {
        let queue = props
            .get("Queue")
            .ok_or_else(|| invalid(at, "Queue is required"))?;
        Ok(SqsSourceSpec {
            name: name.to_owned(),
            queue_logical_id: self.queue_from_arn(queue, &join_path(at, "Queue"))?,
            batch_size: self.opt_u32(props, "BatchSize", at)?.unwrap_or(10),
            maximum_batching_window_seconds: self
                .opt_u32(props, "MaximumBatchingWindowInSeconds", at)?
                .unwrap_or(0),
            report_batch_item_failures: self.reports_item_failures(props, at)?,
            filter_patterns: self.filter_patterns(props, at)?,
        })
    }

    fn reports_item_failures(&self, props: &Map<String, Json>, at: &str) -> Result<bool> {
        Ok(self
            .opt_strings(props, "FunctionResponseTypes", at)?
            .iter()
            .any(|t| t == "ReportBatchItemFailures"))
    }

    /// `FilterCriteria.Filters[].Pattern` are JSON documents written as strings; at most
    /// [`MAX_FILTERS_PER_MAPPING`] of them, as Lambda allows.
    fn filter_patterns(&self, props: &Map<String, Json>, at: &str) -> Result<Vec<Json>> {
        let Some(criteria) = self.opt_map(props, "FilterCriteria", at)? else {
            return Ok(Vec::new());
        };
        let at = &join_path(at, "FilterCriteria.Filters");
        let filters = self.maps(&criteria, "Filters", at)?;
        if filters.len() > MAX_FILTERS_PER_MAPPING {
            return Err(invalid(
                at,
                format!(
                    "{} filters; Lambda allows at most {MAX_FILTERS_PER_MAPPING} per event-source mapping (default quota)",
                    filters.len()
                ),
            ));
        }
        filters
            .iter()
            .map(|filter| match filter.get("Pattern") {
                Some(Json::String(text)) => serde_json::from_str(text)
                    .map_err(|e| invalid(at, format!("Pattern is not JSON: {e}"))),
                Some(pattern @ Json::Object(_)) => Ok(pattern.clone()),
                _ => Err(invalid(at, "a filter needs a Pattern")),
            })
            .collect()
    }

    // ---- APIs ------------------------------------------------------------------------------------

    fn http_api(&self, functions: &[FunctionSpec]) -> Result<Option<HttpApiSpec>> {
        let declared = self
            .resources_of(&["AWS::Serverless::HttpApi"])
            .collect::<Result<Vec<_>>>()?;
        let (id, props) = match declared.as_slice() {
            [] if functions.iter().any(|f| !f.http_routes.is_empty()) => {
                (IMPLICIT_HTTP_API, Map::new())
            }
            [] => return Ok(None),
            [(id, resource)] => (*id, resource.properties.clone()),
            _ => {
                return Err(invalid(
                    "Resources",
                    "the local stack serves one AWS::Serverless::HttpApi per template",
                ));
            }
        };
        let props = match self.template.globals.get("HttpApi") {
            Some(global) => match merge_globals(global, &Json::Object(props)) {
                Json::Object(map) => map,
                _ => return Err(invalid("Globals.HttpApi", "must be a mapping")),
            },
            None => props,
        };
        let at = &format!("Resources.{id}.Properties");
        Ok(Some(HttpApiSpec {
            logical_id: id.to_owned(),
            cors: self.cors(&props, at)?,
        }))
    }

    /// `CorsConfiguration: true` allows every origin, method and header.
    fn cors(&self, props: &Map<String, Json>, at: &str) -> Result<Option<CorsSpec>> {
        let at = &join_path(at, "CorsConfiguration");
        let config = match self.opt(props, "CorsConfiguration", at)? {
            None | Some(Json::Bool(false)) => return Ok(None),
            Some(Json::Bool(true)) => {
                let all = vec!["*".to_owned()];
                return Ok(Some(CorsSpec {
                    allow_origins: all.clone(),
                    allow_methods: all.clone(),
                    allow_headers: all,
                    ..CorsSpec::default()
                }));
            }
            Some(Json::Object(config)) => config,
            Some(other) => return Err(invalid(at, format!("{other} is not a CORS configuration"))),
        };
        Ok(Some(CorsSpec {
            allow_origins: self.opt_strings(&config, "AllowOrigins", at)?,
            allow_methods: self.opt_strings(&config, "AllowMethods", at)?,
            allow_headers: self.opt_strings(&config, "AllowHeaders", at)?,
            expose_headers: self.opt_strings(&config, "ExposeHeaders", at)?,
            max_age_seconds: self.opt_u32(&config, "MaxAge", at)?,
        }))
    }

    fn websocket_api(&self) -> Result<Option<WebSocketApiSpec>> {
        let mut apis = Vec::new();
        for entry in self.resources_of(&["AWS::ApiGatewayV2::Api"]) {
            let (id, _) = entry?;
            if self.is_websocket_api(id, "Resources")? {
                apis.push(id);
            }
        }
        let api = match apis.as_slice() {
            [] => return Ok(None),
            [api] => *api,
            _ => {
                return Err(invalid(
                    "Resources",
                    "the local stack serves one WebSocket API per template",
                ));
            }
        };
        let props = &self.resource(api, "Resources")?.properties;
        let at = &format!("Resources.{api}.Properties");
        Ok(Some(WebSocketApiSpec {
            logical_id: api.to_owned(),
            route_selection_expression: self
                .opt_str(props, "RouteSelectionExpression", at)?
                .unwrap_or_else(|| "$request.body.action".to_owned()),
            stage: self.websocket_stage(api)?,
            routes: self.websocket_routes(api)?,
        }))
    }

    /// The id an `ApiId` property names, for matching child resources to their API.
    fn api_id_of(&self, props: &Map<String, Json>, at: &str) -> Result<Option<String>> {
        self.opt_str(props, "ApiId", at)
    }

    /// The first stage of the API; without one, API Gateway's `$default`.
    fn websocket_stage(&self, api: &str) -> Result<String> {
        let api_id = local_resource_id(&self.ctx.stack_name, api);
        for entry in self.resources_of(&["AWS::ApiGatewayV2::Stage"]) {
            let (id, resource) = entry?;
            let at = &format!("Resources.{id}.Properties");
            if self.api_id_of(&resource.properties, at)?.as_deref() == Some(api_id.as_str()) {
                return self.req_str(&resource.properties, "StageName", at);
            }
        }
        Ok("$default".to_owned())
    }

    fn websocket_routes(&self, api: &str) -> Result<Vec<WebSocketRoute>> {
        let api_id = local_resource_id(&self.ctx.stack_name, api);
        let mut routes = Vec::new();
        for entry in self.resources_of(&["AWS::ApiGatewayV2::Route"]) {
            let (id, resource) = entry?;
            let at = &format!("Resources.{id}.Properties");
            let props = &resource.properties;
            if self.api_id_of(props, at)?.as_deref() != Some(api_id.as_str()) {
                continue;
            }
            let route_key = self.req_str(props, "RouteKey", at)?;
            let Some(target) = self.opt_str(props, "Target", at)? else {
                tracing::warn!(
                    route = route_key,
                    "WebSocket route without a Target is not served"
                );
                continue;
            };
            let integration = target
                .strip_prefix("integrations/")
                .ok_or_else(|| invalid(at, format!("Target {target} is not integrations/<id>")))?;
            let integration =
                self.resource_with_local_id("AWS::ApiGatewayV2::Integration", integration, at)?;
            let integration_at = &format!("Resources.{integration}.Properties");
            let uri = self.req_str(
                &self.resource(integration, at)?.properties,
                "IntegrationUri",
                integration_at,
            )?;
            let authorizer = self.route_authorizer(props, at)?;
            routes.push(WebSocketRoute {
                route_key,
                function_logical_id: self.function_in_uri(&uri, integration_at)?,
                authorizer,
            });
        }
        Ok(routes)
    }

    fn route_authorizer(
        &self,
        props: &Map<String, Json>,
        at: &str,
    ) -> Result<Option<WebSocketAuthorizer>> {
        if self.opt_str(props, "AuthorizationType", at)?.as_deref() != Some("CUSTOM") {
            return Ok(None);
        }
        let authorizer_id = self.req_str(props, "AuthorizerId", at)?;
        let authorizer =
            self.resource_with_local_id("AWS::ApiGatewayV2::Authorizer", &authorizer_id, at)?;
        let authorizer_at = &format!("Resources.{authorizer}.Properties");
        let authorizer_props = &self.resource(authorizer, at)?.properties;
        let uri = self.req_str(authorizer_props, "AuthorizerUri", authorizer_at)?;
        Ok(Some(WebSocketAuthorizer {
            function_logical_id: self.function_in_uri(&uri, authorizer_at)?,
            identity_sources: self.opt_strings(
                authorizer_props,
                "IdentitySource",
                authorizer_at,
            )?,
        }))
    }

    /// The logical id of the resource of `kind` whose `Ref` is `local_id`.
    fn resource_with_local_id(&self, kind: &str, local_id: &str, at: &str) -> Result<&'a str> {
        let kinds = [kind];
        for entry in self.resources_of(&kinds) {
            let (id, _) = entry?;
            if local_resource_id(&self.ctx.stack_name, id) == local_id {
                return Ok(id);
            }
        }
        Err(invalid(at, format!("no {kind} with id {local_id}")))
    }

    /// The function an integration or authorizer URI invokes
    /// (`arn:aws:apigateway:...:lambda:path/2015-03-31/functions/<function arn>/invocations`).
    fn function_in_uri(&self, uri: &str, at: &str) -> Result<String> {
        for entry in self.resources_of(&["AWS::Serverless::Function"]) {
            let (id, _) = entry?;
            let arn = self.function_arn(id, at)?;
            let invokes = uri
                .split_once(&format!("functions/{arn}"))
                .is_some_and(|(_, rest)| rest.starts_with('/') || rest.starts_with(':'));
            if invokes || uri == arn {
                return Ok(id.to_owned());
            }
        }
        Err(invalid(
            at,
            format!("{uri} does not invoke a function of this template"),
        ))
    }
}

/// The AWS managed policies SAM attaches (and a template may name), as far as their
/// statements concern the services the local stack serves.
fn managed_policy(name: &str, from_template: bool) -> Option<Vec<PolicyStatement>> {
    let statement = |actions: &[&str]| PolicyStatement {
        label: if from_template {
            name.to_owned()
        } else {
            format!("SAM:{name}")
        },
        from_template,
        allow: true,
        actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        resources: vec!["*".to_owned()],
        conditions: Vec::new(),
    };
    let logs = [
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    ];
    Some(match name {
        "AWSLambdaBasicExecutionRole" => vec![statement(&logs)],
        "AWSLambdaDynamoDBExecutionRole" => vec![statement(&[
            "dynamodb:DescribeStream",
            "dynamodb:GetRecords",
            "dynamodb:GetShardIterator",
            "dynamodb:ListStreams",
        ])],
        "AWSLambdaSQSQueueExecutionRole" => vec![statement(&[
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
        ])],
        _ => return None,
    })
}

/// One resolved policy statement.
fn statement_of(statement: &Json, at: &str) -> Result<PolicyStatement> {
    let Json::Object(map) = statement else {
        return Err(invalid(at, "a statement must be a mapping"));
    };
    for unsupported in ["NotAction", "NotResource", "Principal", "NotPrincipal"] {
        if map.contains_key(unsupported) {
            return Err(invalid(
                at,
                format!("{unsupported} is not supported by the local stack's IAM check"),
            ));
        }
    }
    let strings = |key: &str| -> Result<Vec<String>> {
        match map.get(key) {
            Some(Json::String(one)) => Ok(vec![one.clone()]),
            Some(Json::Array(items)) => items
                .iter()
                .map(|item| scalar_string(item, &join_path(at, key)))
                .collect(),
            _ => Err(invalid(at, format!("{key} must be a string or a list"))),
        }
    };
    let allow = match map.get("Effect").and_then(Json::as_str) {
        Some("Allow") => true,
        Some("Deny") => false,
        _ => return Err(invalid(at, "Effect must be Allow or Deny")),
    };
    let mut conditions = Vec::new();
    if let Some(condition) = map.get("Condition") {
        let Json::Object(operators) = condition else {
            return Err(invalid(at, "Condition must be a mapping"));
        };
        for (operator, tests) in operators {
            if !matches!(
                operator.as_str(),
                "StringEquals" | "StringNotEquals" | "StringLike" | "StringNotLike"
            ) {
                return Err(invalid(
                    at,
                    format!("condition operator {operator} is not supported by the local stack"),
                ));
            }
            let Json::Object(tests) = tests else {
                return Err(invalid(at, format!("{operator} must be a mapping")));
            };
            for (key, values) in tests {
                let values = match values {
                    Json::Array(items) => items
                        .iter()
                        .map(|v| scalar_string(v, at))
                        .collect::<Result<_>>()?,
                    one => vec![scalar_string(one, at)?],
                };
                conditions.push(PolicyCondition {
                    operator: operator.clone(),
                    key: key.clone(),
                    values,
                });
            }
        }
    }
    Ok(PolicyStatement {
        label: map
            .get("Sid")
            .and_then(Json::as_str)
            .unwrap_or("(no Sid)")
            .to_owned(),
        from_template: true,
        allow,
        actions: strings("Action")?,
        resources: strings("Resource")?,
        conditions,
    })
}

fn two_args<'j>(arg: &'j Json, name: &str, at: &str) -> Result<(&'j Json, &'j Json)> {
    match arg.as_array().map(Vec::as_slice) {
        Some([first, second]) => Ok((first, second)),
        _ => Err(invalid(at, format!("{name} takes two arguments"))),
    }
}

/// A parameter's value: the override, else its `Default`, checked against `AllowedValues`.
fn parameter_value(name: &str, decl: &Json, value: Option<&String>) -> Result<Option<Json>> {
    let at = &format!("Parameters.{name}");
    let value = match (value, decl.get("Default")) {
        (Some(value), _) => value.clone(),
        (None, Some(default)) => scalar_string(default, at)?,
        (None, None) => return Ok(None),
    };
    let length = value.chars().count();
    let bound = |key: &str| {
        decl.get(key)
            .and_then(|v| scalar_string(v, at).ok()?.parse::<usize>().ok())
    };
    if let Some(min) = bound("MinLength").filter(|min| length < *min) {
        return Err(invalid(at, format!("must be at least {min} characters")));
    }
    if let Some(max) = bound("MaxLength").filter(|max| length > *max) {
        return Err(invalid(at, format!("must be at most {max} characters")));
    }
    if let Some(Json::Array(allowed)) = decl.get("AllowedValues") {
        let allowed = allowed
            .iter()
            .map(|v| scalar_string(v, at))
            .collect::<Result<Vec<_>>>()?;
        if !allowed.contains(&value) {
            return Err(invalid(at, format!("{value:?} is not one of {allowed:?}")));
        }
    }
    let kind = decl.get("Type").and_then(Json::as_str).unwrap_or("String");
    Ok(Some(
        if kind == "CommaDelimitedList" || kind.starts_with("List<") {
            Json::from(
                value
                    .split(',')
                    .map(|item| item.trim().to_owned())
                    .collect::<Vec<_>>(),
            )
        } else {
            Json::String(value)
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STACK: &str = "t1";

    fn context() -> ResolveContext {
        let mut ctx = ResolveContext::new(STACK);
        ctx.facts.queue_urls.insert(
            "Jobs".into(),
            "http://127.0.0.1:5000/123456789012/t1-Jobs".into(),
        );
        ctx.facts.queue_urls.insert(
            "JobsDlq".into(),
            "http://127.0.0.1:5000/123456789012/t1-JobsDlq".into(),
        );
        ctx.facts.table_stream_arns.insert(
            "Table".into(),
            "arn:aws:dynamodb:us-east-1:123456789012:table/t1-Table/stream/2024".into(),
        );
        ctx
    }

    const TEMPLATE: &str = r#"
Transform: AWS::Serverless-2016-10-31
Parameters:
  StageName:
    Type: String
    Default: dev
  Mode:
    Type: String
    Default: local
    AllowedValues: [local, cloud]
Conditions:
  IsLocal: !Equals [!Ref Mode, local]
Globals:
  Function:
    Timeout: 10
    MemorySize: 256
    Environment:
      Variables:
        TABLE_NAME: !Ref Table
        QUEUE_URL: !Ref Jobs
        GREETING: !If [IsLocal, hello-local, hello-cloud]
        MGMT: !Sub https://${WebSocketApi}.execute-api.${AWS::Region}.amazonaws.com/${StageName}
        OPTIONAL: !If [IsLocal, !Ref AWS::NoValue, set]
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - { AttributeName: PK, AttributeType: S }
        - { AttributeName: SK, AttributeType: S }
        - { AttributeName: GSI1PK, AttributeType: S }
        - { AttributeName: GSI1SK, AttributeType: S }
      KeySchema:
        - { AttributeName: PK, KeyType: HASH }
        - { AttributeName: SK, KeyType: RANGE }
      GlobalSecondaryIndexes:
        - IndexName: GSI1
          KeySchema:
            - { AttributeName: GSI1PK, KeyType: HASH }
            - { AttributeName: GSI1SK, KeyType: RANGE }
          Projection: { ProjectionType: ALL }
      TimeToLiveSpecification: { AttributeName: expiresAt, Enabled: true }
      StreamSpecification: { StreamViewType: NEW_AND_OLD_IMAGES }
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt JobsDlq.Arn
        maxReceiveCount: 5
  JobsDlq:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${AWS::StackName}-jobs-dlq"
  HttpApi:
    Type: AWS::Serverless::HttpApi
    Properties:
      CorsConfiguration:
        AllowOrigins: ["http://localhost:5173"]
        AllowMethods: [GET, POST]
        AllowHeaders: [authorization, content-type]
        MaxAge: 600
  ApiFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties:
        Binary: api
    Properties:
      CodeUri: .
      Handler: bootstrap
      Timeout: 29
      Policies:
        - DynamoDBReadPolicy: { TableName: !Ref Table }
        - Statement:
            - Sid: Jobs
              Effect: Allow
              Action: sqs:SendMessage
              Resource: !GetAtt Jobs.Arn
      Environment:
        Variables:
          EXTRA: !Join ["-", [a, !Select [1, [x, y, z]], c]]
      Events:
        Get:
          Type: HttpApi
          Properties: { ApiId: !Ref HttpApi, Path: "/v1/items/{id}", Method: get }
        Any:
          Type: HttpApi
          Properties: { ApiId: !Ref HttpApi, Path: "/v1/{proxy+}", Method: ANY }
  StreamFunction:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: stream } }
    Properties:
      Handler: stream
      Events:
        Changes:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Table.StreamArn
            StartingPosition: TRIM_HORIZON
            BatchSize: 25
            FunctionResponseTypes: [ReportBatchItemFailures]
            BisectBatchOnFunctionError: true
            MaximumRetryAttempts: 5
            DestinationConfig:
              OnFailure: { Type: SQS, Destination: !GetAtt JobsDlq.Arn }
            FilterCriteria:
              Filters:
                - Pattern: '{"eventName": ["INSERT"]}'
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            BatchSize: 5
        Nightly:
          Type: Schedule
          Properties: { Schedule: rate(1 day) }
  WebSocketApi:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      Name: ws
      ProtocolType: WEBSOCKET
      RouteSelectionExpression: $request.body.action
  ConnectAuthorizer:
    Type: AWS::ApiGatewayV2::Authorizer
    Properties:
      ApiId: !Ref WebSocketApi
      AuthorizerType: REQUEST
      IdentitySource: [route.request.querystring.token]
      AuthorizerUri: !Sub arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${StreamFunction.Arn}/invocations
  Integration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref WebSocketApi
      IntegrationType: AWS_PROXY
      IntegrationUri: !Sub arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${ApiFunction.Arn}/invocations
  ConnectRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref WebSocketApi
      RouteKey: $connect
      AuthorizationType: CUSTOM
      AuthorizerId: !Ref ConnectAuthorizer
      Target: !Join [/, [integrations, !Ref Integration]]
  PingRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref WebSocketApi
      RouteKey: ping
      Target: !Sub integrations/${Integration}
  Stage:
    Type: AWS::ApiGatewayV2::Stage
    Properties:
      ApiId: !Ref WebSocketApi
      StageName: !Ref StageName
  NotEmulated:
    Type: AWS::Logs::LogGroup
    Properties: { RetentionInDays: 7 }
"#;

    fn model() -> StackModel {
        let template = Template::from_yaml(TEMPLATE).unwrap();
        template.resolve(&context()).unwrap()
    }

    fn function<'m>(model: &'m StackModel, id: &str) -> &'m FunctionSpec {
        model.functions.iter().find(|f| f.logical_id == id).unwrap()
    }

    fn stream_of(model: &StackModel) -> &StreamSourceSpec {
        function(model, "StreamFunction")
            .event_sources
            .iter()
            .find_map(|s| match s {
                EventSource::DynamoDbStream(s) => Some(s),
                EventSource::Sqs(_) | EventSource::Schedule(_) => None,
            })
            .unwrap()
    }

    #[test]
    fn a_stream_mapping_with_more_than_five_filters_is_refused_as_lambda_does() {
        let six = (0..6)
            .map(|i| format!("                - Pattern: '{{\"eventName\": [\"E{i}\"]}}'\n"))
            .collect::<String>();
        let template = TEMPLATE.replace(
            "                - Pattern: '{\"eventName\": [\"INSERT\"]}'\n",
            &six,
        );
        assert_ne!(template, TEMPLATE, "the fixture has the filter to replace");

        let resolved = Template::from_yaml(&template).unwrap().resolve(&context());

        let error = resolved.unwrap_err().to_string();
        assert!(
            error.contains("6 filters") && error.contains("at most 5"),
            "{error}"
        );
    }

    #[test]
    fn five_filters_and_a_parallelization_factor_of_ten_are_accepted() {
        let five = (0..5)
            .map(|i| format!("                - Pattern: '{{\"eventName\": [\"E{i}\"]}}'\n"))
            .collect::<String>();
        let template = TEMPLATE
            .replace(
                "                - Pattern: '{\"eventName\": [\"INSERT\"]}'\n",
                &five,
            )
            .replace(
                "            BatchSize: 25\n",
                "            BatchSize: 25\n            ParallelizationFactor: 10\n",
            );

        let model = Template::from_yaml(&template)
            .unwrap()
            .resolve(&context())
            .unwrap();

        let stream = stream_of(&model);
        assert_eq!(stream.filter_patterns.len(), 5);
        assert_eq!(stream.parallelization_factor, 10);
    }

    #[test]
    fn a_parallelization_factor_defaults_to_one_and_above_ten_is_refused() {
        let default = stream_of(&model()).parallelization_factor;
        let template = TEMPLATE.replace(
            "            BatchSize: 25\n",
            "            BatchSize: 25\n            ParallelizationFactor: 11\n",
        );

        let resolved = Template::from_yaml(&template).unwrap().resolve(&context());

        assert_eq!(default, 1);
        let error = resolved.unwrap_err().to_string();
        assert!(error.contains("ParallelizationFactor 11"), "{error}");
    }

    #[test]
    fn tables_get_stack_prefixed_names_keys_indexes_ttl_and_stream() {
        let template = Template::from_yaml(TEMPLATE).unwrap();

        let storage = template.storage(&ResolveContext::new(STACK)).unwrap();

        let [table] = storage.tables.as_slice() else {
            panic!("one table")
        };
        assert_eq!(table.physical_name, "t1-Table");
        assert_eq!(
            table.key_schema,
            vec![("PK".into(), "HASH".into()), ("SK".into(), "RANGE".into())]
        );
        assert_eq!(table.attribute_definitions.len(), 4);
        assert_eq!(table.global_secondary_indexes[0].name, "GSI1");
        assert_eq!(table.global_secondary_indexes[0].projection_type, "ALL");
        assert_eq!(table.ttl_attribute.as_deref(), Some("expiresAt"));
        assert_eq!(
            table.stream_view_type.as_deref(),
            Some("NEW_AND_OLD_IMAGES")
        );
    }

    #[test]
    fn queues_resolve_explicit_names_and_redrive_targets_before_provisioning() {
        let template = Template::from_yaml(TEMPLATE).unwrap();

        let storage = template.storage(&ResolveContext::new(STACK)).unwrap();

        let jobs = storage
            .queues
            .iter()
            .find(|q| q.logical_id == "Jobs")
            .unwrap();
        let dlq = storage
            .queues
            .iter()
            .find(|q| q.logical_id == "JobsDlq")
            .unwrap();
        assert_eq!(jobs.physical_name, "t1-Jobs");
        assert_eq!(jobs.visibility_timeout_seconds, Some(60));
        assert_eq!(jobs.redrive, Some(("JobsDlq".to_owned(), 5)));
        assert_eq!(dlq.physical_name, "t1-jobs-dlq");
    }

    #[test]
    fn function_environment_merges_globals_and_resolves_every_intrinsic() {
        let model = model();

        let api = function(&model, "ApiFunction");

        assert_eq!(api.binary, "api");
        assert_eq!(api.handler, "bootstrap", "the runtime's _HANDLER");
        assert_eq!(api.timeout_seconds, 29, "the function's own Timeout wins");
        assert_eq!(api.memory_mb, 256, "MemorySize comes from Globals");
        let env = &api.environment;
        assert_eq!(env["TABLE_NAME"], "t1-Table");
        assert_eq!(
            env["QUEUE_URL"],
            "http://127.0.0.1:5000/123456789012/t1-Jobs"
        );
        assert_eq!(env["GREETING"], "hello-local");
        assert_eq!(env["EXTRA"], "a-y-c");
        let api_id = local_resource_id(STACK, "WebSocketApi");
        assert_eq!(
            env["MGMT"],
            format!("https://{api_id}.execute-api.us-east-1.amazonaws.com/dev")
        );
        assert!(
            !env.contains_key("OPTIONAL"),
            "AWS::NoValue removes the variable"
        );
    }

    #[test]
    fn http_api_events_become_routes_with_upper_case_methods() {
        let model = model();

        let mut routes = function(&model, "ApiFunction").http_routes.clone();

        routes.sort_by(|a, b| a.method.cmp(&b.method));
        assert_eq!(
            routes,
            vec![
                HttpRoute {
                    method: "ANY".into(),
                    path: "/v1/{proxy+}".into()
                },
                HttpRoute {
                    method: "GET".into(),
                    path: "/v1/items/{id}".into()
                },
            ]
        );
        let cors = model.http_api.unwrap().cors.unwrap();
        assert_eq!(cors.allow_origins, vec!["http://localhost:5173"]);
        assert_eq!(cors.max_age_seconds, Some(600));
    }

    #[test]
    fn stream_sqs_and_schedule_events_become_event_sources() {
        let model = model();

        let sources = &function(&model, "StreamFunction").event_sources;

        assert_eq!(sources.len(), 3);
        let stream = sources.iter().find_map(|s| match s {
            EventSource::DynamoDbStream(s) => Some(s),
            EventSource::Sqs(_) | EventSource::Schedule(_) => None,
        });
        let stream = stream.unwrap();
        assert_eq!(stream.table_logical_id, "Table");
        assert_eq!(stream.starting_position, "TRIM_HORIZON");
        assert_eq!(stream.batch_size, 25);
        assert!(stream.report_batch_item_failures && stream.bisect_batch_on_function_error);
        assert_eq!(stream.maximum_retry_attempts, 5);
        assert_eq!(stream.maximum_record_age_seconds, -1);
        assert_eq!(
            stream.on_failure_queue_logical_id.as_deref(),
            Some("JobsDlq")
        );
        assert_eq!(
            stream.filter_patterns,
            vec![serde_json::json!({"eventName": ["INSERT"]})]
        );
        let sqs = sources.iter().find_map(|s| match s {
            EventSource::Sqs(s) => Some(s),
            EventSource::DynamoDbStream(_) | EventSource::Schedule(_) => None,
        });
        let sqs = sqs.unwrap();
        assert_eq!((sqs.queue_logical_id.as_str(), sqs.batch_size), ("Jobs", 5));
        assert!(!sqs.report_batch_item_failures);
        let schedule = sources.iter().find_map(|s| match s {
            EventSource::Schedule(s) => Some(s),
            EventSource::DynamoDbStream(_) | EventSource::Sqs(_) => None,
        });
        let schedule = schedule.unwrap();
        assert_eq!(schedule.expression, "rate(1 day)");
        assert_eq!(schedule.period, std::time::Duration::from_secs(86_400));
    }

    #[test]
    fn a_schedule_eventbridge_would_refuse_is_refused_naming_where() {
        let template = TEMPLATE.replace("rate(1 day)", "rate(1 days)");
        assert_ne!(
            template, TEMPLATE,
            "the fixture has the schedule to replace"
        );

        let resolved = Template::from_yaml(&template).unwrap().resolve(&context());

        let error = resolved.unwrap_err().to_string();

        assert!(error.contains("Nightly"), "{error}");
        assert!(error.contains("singular for 1"), "{error}");
    }

    #[test]
    fn websocket_routes_find_their_integration_function_authorizer_and_stage() {
        let model = model();

        let ws = model.websocket_api.unwrap();

        assert_eq!(ws.stage, "dev");
        assert_eq!(ws.route_selection_expression, "$request.body.action");
        let connect = ws
            .routes
            .iter()
            .find(|r| r.route_key == "$connect")
            .unwrap();
        assert_eq!(connect.function_logical_id, "ApiFunction");
        let authorizer = connect.authorizer.as_ref().unwrap();
        assert_eq!(authorizer.function_logical_id, "StreamFunction");
        assert_eq!(
            authorizer.identity_sources,
            vec!["route.request.querystring.token"]
        );
        let ping = ws.routes.iter().find(|r| r.route_key == "ping").unwrap();
        assert!(ping.authorizer.is_none());
    }

    #[test]
    fn parameter_overrides_change_conditions_and_are_validated() {
        let template = Template::from_yaml(TEMPLATE).unwrap();
        let mut ctx = context();
        ctx.parameter_overrides
            .insert("Mode".into(), "cloud".into());

        let model = template.resolve(&ctx).unwrap();

        let env = &function(&model, "ApiFunction").environment;
        assert_eq!(env["GREETING"], "hello-cloud");
        assert_eq!(env["OPTIONAL"], "set");
        ctx.parameter_overrides.insert("Mode".into(), "nope".into());
        assert!(template.resolve(&ctx).is_err());
        ctx.parameter_overrides.clear();
        ctx.parameter_overrides.insert("Typo".into(), "x".into());
        assert!(
            template.resolve(&ctx).is_err(),
            "unknown parameters are refused"
        );
    }

    #[test]
    fn a_queue_url_needed_before_provisioning_is_a_clear_error() {
        let template = Template::from_yaml(TEMPLATE).unwrap();

        let error = template.resolve(&ResolveContext::new(STACK)).unwrap_err();

        let message = error.to_string();
        assert!(
            message.contains("only known once it is provisioned"),
            "{message}"
        );
        assert!(
            message.contains("Environment"),
            "names the template path: {message}"
        );
    }

    #[test]
    fn unsupported_intrinsics_in_needed_places_are_errors_but_unread_ones_are_not() {
        let yaml = r#"
Resources:
  F:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: f } }
    Properties:
      Handler: f
      Tags: { Owner: !ImportValue never-read }
      Environment:
        Variables:
          X: !ImportValue shared-thing
"#;
        let template = Template::from_yaml(yaml).unwrap();

        let error = template.resolve(&ResolveContext::new(STACK)).unwrap_err();

        assert!(error.to_string().contains("Fn::ImportValue"), "{error}");
    }

    #[test]
    fn a_function_without_a_handler_is_refused_as_lambda_refuses_a_zip_function_without_one() {
        let yaml = r#"
Resources:
  F:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: f } }
    Properties:
      Runtime: provided.al2023
"#;
        let template = Template::from_yaml(yaml).unwrap();

        let error = template.resolve(&ResolveContext::new(STACK)).unwrap_err();

        assert!(error.to_string().contains("Handler"), "{error}");
    }

    #[test]
    fn policies_expand_sam_templates_and_add_what_sam_adds_to_every_role() {
        let model = model();

        let policy = &function(&model, "ApiFunction").policy;

        let labels: Vec<&str> = policy.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "SAM:AWSLambdaBasicExecutionRole",
                "DynamoDBReadPolicy",
                "Jobs"
            ]
        );
        let table = "arn:aws:dynamodb:us-east-1:123456789012:table/t1-Table";
        assert_eq!(
            policy[1].resources,
            [table.to_owned(), format!("{table}/index/*")]
        );
        assert!(policy[1].actions.contains(&"dynamodb:Query".to_owned()));
        assert_eq!(
            policy[2].resources,
            ["arn:aws:sqs:us-east-1:123456789012:t1-Jobs"]
        );
    }

    #[test]
    fn an_explicit_role_or_an_unknown_policy_template_is_refused_rather_than_unenforced() {
        let with = |policy: &str| {
            format!(
                "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Metadata: {{ BuildProperties: {{ Binary: f }} }}\n    Properties:\n      Handler: f\n      {policy}\n"
            )
        };
        let resolve = |yaml: String| {
            Template::from_yaml(&yaml)
                .unwrap()
                .resolve(&ResolveContext::new(STACK))
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };

        let role = resolve(with("Role: arn:aws:iam::123456789012:role/r"));
        let unknown = resolve(with("Policies: [ { KMSDecryptPolicy: { KeyId: k } } ]"));

        assert!(role.contains("Role"), "{role}");
        assert!(unknown.contains("KMSDecryptPolicy"), "{unknown}");
    }

    #[test]
    fn sub_supports_variable_maps_literals_and_attributes() {
        let yaml = r#"
Resources:
  Q:
    Type: AWS::SQS::Queue
  F:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: f } }
    Properties:
      Handler: f
      FunctionName: !Sub
        - "${Prefix}-fn"
        - { Prefix: !Ref AWS::StackName }
      Environment:
        Variables:
          LITERAL: !Sub "${!NotAVariable}"
          ARN: !Sub "${Q.Arn}"
          SELF: !GetAtt F.Arn
          NUMBER: 7
"#;
        let template = Template::from_yaml(yaml).unwrap();

        let model = template.resolve(&ResolveContext::new(STACK)).unwrap();

        let env = &model.functions[0].environment;
        assert_eq!(env["LITERAL"], "${NotAVariable}");
        assert_eq!(env["ARN"], "arn:aws:sqs:us-east-1:123456789012:t1-Q");
        assert_eq!(
            env["SELF"],
            "arn:aws:lambda:us-east-1:123456789012:function:t1-fn"
        );
        assert_eq!(env["NUMBER"], "7");
        assert_eq!(model.functions[0].timeout_seconds, 3, "Lambda's default");
    }

    #[test]
    fn resources_whose_condition_is_false_are_not_created() {
        let yaml = r#"
Parameters:
  WithQueue: { Type: String, Default: "no" }
Conditions:
  HasQueue: !Equals [!Ref WithQueue, "yes"]
Resources:
  Q:
    Type: AWS::SQS::Queue
    Condition: HasQueue
"#;
        let template = Template::from_yaml(yaml).unwrap();

        let storage = template.storage(&ResolveContext::new(STACK)).unwrap();

        assert!(storage.queues.is_empty());
    }

    #[test]
    fn a_rule_whose_assertion_fails_refuses_the_stack_with_its_description() {
        let yaml = r#"
Parameters:
  Url: { Type: String, Default: "" }
  Mode: { Type: String, Default: strict }
Rules:
  NeedsUrl:
    RuleCondition: !Equals [!Ref Mode, strict]
    Assertions:
      - Assert: !Not [!Equals [!Ref Url, ""]]
        AssertDescription: Set Url.
Resources: {}
"#;
        let template = Template::from_yaml(yaml).unwrap();
        let mut ctx = ResolveContext::new(STACK);

        let refused = template.storage(&ctx).unwrap_err().to_string();
        ctx.parameter_overrides
            .insert("Url".into(), "https://x".into());
        let with_url = template.storage(&ctx);
        ctx.parameter_overrides.clear();
        ctx.parameter_overrides.insert("Mode".into(), "lax".into());
        let rule_off = template.storage(&ctx);

        assert!(
            refused.contains("Rules.NeedsUrl") && refused.contains("Set Url."),
            "{refused}"
        );
        assert!(with_url.is_ok(), "the assertion holds");
        assert!(
            rule_off.is_ok(),
            "a rule whose RuleCondition is false is skipped"
        );
    }

    #[test]
    fn local_resource_ids_are_stable_and_shaped_like_api_gateway_ids() {
        let id = local_resource_id("stack", "WebSocketApi");

        assert_eq!(id, local_resource_id("stack", "WebSocketApi"));
        assert_ne!(id, local_resource_id("other", "WebSocketApi"));
        assert_eq!(id.len(), 10);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }

    #[test]
    fn an_unknown_tag_is_refused() {
        let error = Template::from_yaml("Resources:\n  X: !Bogus 1\n").unwrap_err();

        assert!(error.to_string().contains("!Bogus"), "{error}");
    }
}
