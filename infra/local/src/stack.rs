//! One local stack: the template resolved for a stack name, its tables and queues in
//! moto, its functions on the emulated Lambda runtime, and every API and event source
//! of the template served on loopback.
//!
//! Tests spawn one stack each (a unique stack name keeps their tables and queues
//! apart in a shared moto); the CLI spawns one for development.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::connections_api::ConnectionsApi;
use crate::faults::{Faults, KillAfter};
use crate::http_api::HttpApiServer;
use crate::iam::Enforcer;
use crate::iam_proxy::IamProxy;
use crate::model::{EventSource, FunctionSpec, Invoke, RuntimeOptions, StackModel};
use crate::provision::{TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY, provision};
use crate::pumps::{
    PumpHandle, PumpOptions, SchedulePump, SchedulePumpConfig, SqsPump, SqsPumpConfig, StreamPump,
    StreamPumpConfig,
};
use crate::runtime::FunctionHost;
use crate::stream_reader::StreamReaders;
use crate::template::{PhysicalFacts, ResolveContext, Template, local_resource_id};
use crate::web::{DemoUserToken, LocalPages};
use crate::websocket::{GatewayContext, GatewayOptions, WebSocketGateway};

/// Everything [`LocalStack::spawn`] needs.
#[derive(Debug, Clone)]
pub struct StackOptions {
    pub template_path: PathBuf,
    /// Prefixes every physical name; unique per test (see [`unique_stack_name`]).
    pub stack_name: String,
    /// moto's `http://127.0.0.1:<port>` (see [`crate::moto::Moto`]).
    pub moto_endpoint: String,
    /// Where the functions' cargo binaries are (`target/debug`).
    pub binaries_dir: PathBuf,
    /// Template parameters, as `sam deploy --parameter-overrides`.
    pub parameter_overrides: BTreeMap<String, String>,
    /// Secrets Manager secrets (name → value) created before the template resolves: the
    /// ones an operator creates before deploying, e.g. the HS256 key that the
    /// `JwtHs256SecretName` parameter names.
    pub secrets: BTreeMap<String, String>,
    /// Extra environment for every function; wins over the template's.
    pub environment_overrides: BTreeMap<String, String>,
    /// Ports on 127.0.0.1; `0` picks a free one.
    pub http_port: u16,
    pub websocket_port: u16,
    pub connections_port: u16,
    /// Function output goes to `<log_dir>/<LogicalId>.log` instead of `tracing`.
    pub log_dir: Option<PathBuf>,
    /// The browser client served under `/app/` of the HTTP API's origin (development
    /// only, see [`crate::web`]); default: `web/` beside the template.
    pub web_dir: Option<PathBuf>,
    pub max_concurrency_per_function: usize,
    /// Whether every AWS call of a function is checked against its role (see
    /// [`crate::iam`]); on by default.
    pub enforce_iam: bool,
    /// Functions (logical ids) whose event sources are not started, as if each
    /// mapping said `Enabled: false`: for tests of what happens without them.
    pub disabled_event_sources: BTreeSet<String>,
    pub pump_options: PumpOptions,
    pub gateway_options: GatewayOptions,
}

impl StackOptions {
    /// Defaults: free ports, binaries in the workspace's `target/debug` (the template's
    /// directory, or `CARGO_TARGET_DIR`), four environments per function.
    pub fn new(
        template_path: impl Into<PathBuf>,
        stack_name: impl Into<String>,
        moto_endpoint: impl Into<String>,
    ) -> Self {
        let template_path = template_path.into();
        Self {
            binaries_dir: default_binaries_dir(&template_path),
            web_dir: Some(
                template_path
                    .parent()
                    .unwrap_or_else(|| Path::new("."))
                    .join("web"),
            ),
            template_path,
            stack_name: stack_name.into(),
            moto_endpoint: moto_endpoint.into(),
            parameter_overrides: BTreeMap::new(),
            secrets: BTreeMap::new(),
            environment_overrides: BTreeMap::new(),
            http_port: 0,
            websocket_port: 0,
            connections_port: 0,
            log_dir: None,
            max_concurrency_per_function: 4,
            enforce_iam: true,
            disabled_event_sources: BTreeSet::new(),
            pump_options: PumpOptions::default(),
            gateway_options: GatewayOptions::default(),
        }
    }
}

/// `<template dir>/target/debug`, or `$CARGO_TARGET_DIR/debug`.
fn default_binaries_dir(template_path: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("debug"),
        None => template_path
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join("target")
            .join("debug"),
    }
}

/// `{prefix}-{12 random base-32 characters}`: short enough for every AWS name limit
/// once a logical id is appended, unique enough for parallel tests.
pub fn unique_stack_name(prefix: &str) -> String {
    let ulid = ulid::Ulid::new().to_string().to_lowercase();
    format!("{prefix}-{}", &ulid[ulid.len() - 12..])
}

/// A running local stack. Stop it with [`shutdown`](Self::shutdown).
pub struct LocalStack {
    model: Arc<StackModel>,
    moto_endpoint: String,
    queue_urls: BTreeMap<String, String>,
    functions: Arc<FunctionHost>,
    http: HttpApiServer,
    websocket: Option<WebSocketGateway>,
    connections: Option<ConnectionsApi>,
    pumps: Vec<PumpHandle>,
    pages: Arc<LocalPages>,
    iam_proxy: Option<IamProxy>,
    faults: Arc<Faults>,
    /// The functions' roles, when IAM is enforced; counts every call too.
    enforcer: Option<Arc<Enforcer>>,
}

impl std::fmt::Debug for LocalStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStack")
            .field("stack_name", &self.model.stack_name)
            .field("http_url", &self.http_url())
            .field("websocket_url", &self.websocket_url())
            .field("connections_url", &self.connections_url())
            .field("moto", &self.moto_endpoint)
            .finish_non_exhaustive()
    }
}

/// The listeners, bound before any function starts so their ports can go into the
/// functions' environment.
struct Listeners {
    http: TcpListener,
    websocket: Option<TcpListener>,
    connections: Option<TcpListener>,
}

impl LocalStack {
    /// Resolves the template, provisions moto, and starts every part of the stack.
    pub async fn spawn(mut options: StackOptions) -> anyhow::Result<Self> {
        // Function processes run in their own working directory, so a relative
        // binaries path (the default `template.yaml` beside `target/`) must be made
        // absolute here, once.
        options.binaries_dir = std::path::absolute(&options.binaries_dir)?;
        let template = Template::from_path(&options.template_path)?;
        let (model, facts) = resolve_and_provision(&template, &options).await?;
        let listeners = bind_listeners(&options, &model).await?;
        let faults = Arc::new(Faults::default());
        let (enforcer, iam_proxy) = start_iam(&model, &options, &faults).await?;
        let aws_endpoint = iam_proxy
            .as_ref()
            .map_or_else(|| options.moto_endpoint.clone(), IamProxy::url);
        let connections_url = match (&model.websocket_api, &listeners.connections) {
            (Some(api), Some(listener)) => {
                Some(format!("http://{}/{}", listener.local_addr()?, api.stage))
            }
            _ => None,
        };
        let functions = Arc::new(start_functions(
            &model,
            &options,
            &aws_endpoint,
            connections_url.as_deref(),
        )?);
        let host = Arc::downgrade(&functions);
        faults.set_killer(Arc::new(move |function: &str| {
            host.upgrade().map_or(0, |host| host.kill_running(function))
        }));
        let invoker: Arc<dyn Invoke> = functions.clone();
        let (websocket, connections) = start_websocket(
            &model,
            &options,
            listeners.websocket,
            listeners.connections,
            &invoker,
            enforcer.clone(),
        )
        .await?;
        let pages = Arc::new(LocalPages::new(
            options.web_dir.as_deref(),
            format!("http://{}", listeners.http.local_addr()?),
            websocket.as_ref().map(WebSocketGateway::url),
        ));
        let http = HttpApiServer::start_with(
            listeners.http,
            &model,
            Arc::clone(&invoker),
            crate::web::router(Arc::clone(&pages)),
        )?;
        let pumps = start_pumps(&model, &options, &invoker).await?;
        let stack = Self {
            model: Arc::new(model),
            moto_endpoint: options.moto_endpoint,
            queue_urls: facts.queue_urls,
            functions,
            http,
            websocket,
            connections,
            pumps,
            pages,
            iam_proxy,
            enforcer,
            faults,
        };
        tracing::info!(?stack, "local stack is up");
        Ok(stack)
    }

    pub fn stack_name(&self) -> &str {
        &self.model.stack_name
    }

    /// The resolved template.
    pub fn model(&self) -> &StackModel {
        &self.model
    }

    /// `http://127.0.0.1:<port>`: the HTTP API's `$default` stage.
    pub fn http_url(&self) -> String {
        self.http.url()
    }

    /// `ws://127.0.0.1:<port>/<stage>`, when the template has a WebSocket API.
    pub fn websocket_url(&self) -> Option<String> {
        self.websocket.as_ref().map(WebSocketGateway::url)
    }

    /// `http://127.0.0.1:<port>/<stage>`: the `@connections` endpoint, the functions'
    /// `AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI`.
    pub fn connections_url(&self) -> Option<String> {
        self.connections.as_ref().map(ConnectionsApi::endpoint_url)
    }

    /// `http://127.0.0.1:<port>/app/`: the browser client, when `web/` exists.
    pub fn web_url(&self) -> Option<String> {
        self.pages.app_url()
    }

    /// The demo users the browser client offers at sign-in (`GET /local/demo-users`).
    pub fn set_demo_users(&self, users: Vec<DemoUserToken>) {
        self.pages.set_demo_users(users);
    }

    pub fn moto_endpoint(&self) -> &str {
        &self.moto_endpoint
    }

    /// The functions' `AWS_ENDPOINT_URL`: the IAM proxy in front of moto, or moto
    /// itself when enforcement is off. A client signing with a function's key
    /// ([`crate::iam::access_key_id`]) here is held to that function's role.
    pub fn functions_aws_endpoint(&self) -> String {
        self.iam_proxy
            .as_ref()
            .map_or_else(|| self.moto_endpoint.clone(), IamProxy::url)
    }

    /// The physical name of the template's (first) table.
    pub fn table_name(&self) -> Option<&str> {
        self.model.tables.first().map(|t| t.physical_name.as_str())
    }

    /// The physical name of a table by logical id.
    pub fn table_name_of(&self, logical_id: &str) -> Option<&str> {
        self.model
            .tables
            .iter()
            .find(|t| t.logical_id == logical_id)
            .map(|t| t.physical_name.as_str())
    }

    /// The URL of a queue by logical id (e.g. `ModerationQueue`).
    pub fn queue_url(&self, logical_id: &str) -> Option<&str> {
        self.queue_urls.get(logical_id).map(String::as_str)
    }

    /// Invokes a function directly, as `aws lambda invoke` would.
    pub fn invoker(&self) -> Arc<dyn Invoke> {
        self.functions.clone()
    }

    pub fn functions(&self) -> &FunctionHost {
        &self.functions
    }

    /// Every AWS call each function made so far, by function logical id and
    /// `service:Operation` (`dynamodb:Query`, ...), as the IAM proxy saw them; empty
    /// without IAM enforcement. For benchmarks that report requests per user action.
    pub fn aws_calls(&self) -> BTreeMap<(String, String), u64> {
        self.enforcer
            .as_ref()
            .map(|enforcer| enforcer.call_counts())
            .unwrap_or_default()
    }

    /// How many `@connections` POSTs (pushes to a client) the stack has served.
    pub fn connection_posts(&self) -> u64 {
        self.websocket
            .as_ref()
            .map_or(0, |gateway| gateway.registry().posts())
    }

    /// Fault injection for tests: the next `times` `@connections` posts to the
    /// connection fail with a 500.
    pub fn fail_posts_to(&self, connection_id: &str, times: u32) {
        if let Some(gateway) = self.websocket.as_ref() {
            gateway.registry().fail_posts_to(connection_id, times);
        }
    }

    /// Fault injection for tests: the next `times` `@connections` posts to the
    /// connection are answered `delay` late.
    pub fn delay_posts_to(&self, connection_id: &str, delay: std::time::Duration, times: u32) {
        if let Some(gateway) = self.websocket.as_ref() {
            gateway
                .registry()
                .delay_posts_to(connection_id, delay, times);
        }
    }

    /// Fault injection for tests: `function` (a logical id) is killed right after its
    /// next `times` calls of `operation` (`TransactWriteItems`, `PutItem`, ...) were
    /// carried out, before it hears the answer. Needs IAM enforcement (the default).
    pub fn kill_after(&self, function: &str, operation: &str, times: u32) {
        self.faults.arm(KillAfter {
            function: function.to_owned(),
            operation: operation.to_owned(),
            times,
        });
    }

    /// An SDK configuration for moto (region, test credentials, endpoint).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        sdk_config(&self.moto_endpoint, &self.model.region).await
    }

    /// Stops the pumps, then the APIs (WebSocket clients get `$disconnect`), then the
    /// functions. Each part bounds its own wait.
    pub async fn shutdown(self) {
        futures_util::future::join_all(self.pumps.into_iter().map(PumpHandle::shutdown)).await;
        self.http.shutdown().await;
        if let Some(websocket) = self.websocket {
            websocket.shutdown().await;
        }
        if let Some(connections) = self.connections {
            connections.shutdown().await;
        }
        self.functions.shutdown().await;
        if let Some(proxy) = self.iam_proxy {
            proxy.shutdown().await;
        }
        tracing::info!(stack = %self.model.stack_name, "local stack stopped");
    }
}

/// An SDK configuration for moto that never reads real credentials.
pub async fn sdk_config(moto_endpoint: &str, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .endpoint_url(moto_endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            TEST_ACCESS_KEY_ID,
            TEST_SECRET_ACCESS_KEY,
            None,
            None,
            "agora-local",
        ))
        .load()
        .await
}

/// Phase one (tables and queues), provisioning, then phase two with what moto returned.
async fn resolve_and_provision(
    template: &Template,
    options: &StackOptions,
) -> anyhow::Result<(StackModel, PhysicalFacts)> {
    let mut ctx = ResolveContext::new(&options.stack_name);
    ctx.parameter_overrides = options.parameter_overrides.clone();
    let secrets = crate::provision::secrets_client(&options.moto_endpoint, &ctx.region);
    for (name, value) in &options.secrets {
        crate::provision::put_secret(&secrets, name, value)
            .await
            .with_context(|| format!("creating secret {name} in moto"))?;
    }
    let storage = template.storage(&ctx)?;
    ctx.facts = provision(&options.moto_endpoint, &ctx.region, &storage)
        .await
        .with_context(|| format!("provisioning in moto at {}", options.moto_endpoint))?;
    let model = template.resolve(&ctx)?;
    Ok((model, ctx.facts))
}

async fn bind(port: u16, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .with_context(|| format!("binding the {what} on 127.0.0.1:{port}"))
}

async fn bind_listeners(options: &StackOptions, model: &StackModel) -> anyhow::Result<Listeners> {
    let http = bind(options.http_port, "HTTP API").await?;
    let (websocket, connections) = if model.websocket_api.is_some() {
        (
            Some(bind(options.websocket_port, "WebSocket API").await?),
            Some(bind(options.connections_port, "@connections API").await?),
        )
    } else {
        (None, None)
    };
    Ok(Listeners {
        http,
        websocket,
        connections,
    })
}

/// The roles of the stack's functions, and the proxy that enforces them in front of
/// moto, unless enforcement is off.
async fn start_iam(
    model: &StackModel,
    options: &StackOptions,
    faults: &Arc<Faults>,
) -> anyhow::Result<(Option<Arc<Enforcer>>, Option<IamProxy>)> {
    if !options.enforce_iam {
        return Ok((None, None));
    }
    let enforcer = Arc::new(Enforcer::new(model, options.log_dir.as_deref())?);
    let listener = bind(0, "IAM proxy").await?;
    let proxy = IamProxy::start(
        listener,
        Arc::clone(&enforcer),
        Arc::clone(faults),
        &options.moto_endpoint,
    )?;
    Ok((Some(enforcer), Some(proxy)))
}

/// The functions see moto (through the IAM proxy) as every AWS endpoint, and our
/// `@connections` server as the API Gateway management endpoint; explicit overrides
/// win over both.
fn start_functions(
    model: &StackModel,
    options: &StackOptions,
    aws_endpoint: &str,
    connections_url: Option<&str>,
) -> anyhow::Result<FunctionHost> {
    let mut environment = BTreeMap::new();
    environment.insert("AWS_ENDPOINT_URL".to_owned(), aws_endpoint.to_owned());
    // S3 (the export bucket) is moto too, named explicitly so the SDK goes path-style.
    environment.insert("AWS_ENDPOINT_URL_S3".to_owned(), aws_endpoint.to_owned());
    if let Some(url) = connections_url {
        environment.insert(
            "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI".to_owned(),
            url.to_owned(),
        );
    }
    environment.extend(options.environment_overrides.clone());
    let runtime = RuntimeOptions {
        binaries_dir: options.binaries_dir.clone(),
        max_concurrency_per_function: options.max_concurrency_per_function,
        environment_overrides: environment,
    };
    Ok(FunctionHost::new(
        model,
        &runtime,
        options.log_dir.as_deref(),
    )?)
}

async fn start_websocket(
    model: &StackModel,
    options: &StackOptions,
    websocket: Option<TcpListener>,
    connections: Option<TcpListener>,
    invoker: &Arc<dyn Invoke>,
    enforcer: Option<Arc<Enforcer>>,
) -> anyhow::Result<(Option<WebSocketGateway>, Option<ConnectionsApi>)> {
    let (Some(spec), Some(websocket), Some(connections)) =
        (&model.websocket_api, websocket, connections)
    else {
        return Ok((None, None));
    };
    let api_id = local_resource_id(&model.stack_name, &spec.logical_id);
    let ctx = GatewayContext {
        region: model.region.clone(),
        account_id: model.account_id.clone(),
        domain_name: websocket.local_addr()?.to_string(),
        api_id,
    };
    let gateway = WebSocketGateway::start(
        websocket,
        spec.clone(),
        Arc::clone(invoker),
        ctx,
        options.gateway_options.clone(),
    )
    .await?;
    let connections = ConnectionsApi::start(
        connections,
        gateway.registry(),
        spec.stage.clone(),
        enforcer,
    )
    .await?;
    Ok((Some(gateway), Some(connections)))
}

/// One pump per event source of every function.
async fn start_pumps(
    model: &StackModel,
    options: &StackOptions,
    invoker: &Arc<dyn Invoke>,
) -> anyhow::Result<Vec<PumpHandle>> {
    let sdk = sdk_config(&options.moto_endpoint, &model.region).await;
    // Every mapping on a stream shares one reader of it.
    let readers = StreamReaders::new();
    let mut pumps = Vec::new();
    for function in &model.functions {
        if options
            .disabled_event_sources
            .contains(&function.logical_id)
        {
            tracing::info!(function = %function.logical_id, "event sources disabled");
            continue;
        }
        for source in &function.event_sources {
            let pump = start_pump(model, options, &sdk, &readers, invoker, function, source)
                .await
                .with_context(|| {
                    format!("starting the event sources of {}", function.logical_id)
                })?;
            pumps.push(pump);
        }
    }
    Ok(pumps)
}

async fn start_pump(
    model: &StackModel,
    options: &StackOptions,
    sdk: &aws_config::SdkConfig,
    readers: &StreamReaders,
    invoker: &Arc<dyn Invoke>,
    function: &FunctionSpec,
    source: &EventSource,
) -> anyhow::Result<PumpHandle> {
    let invoker = Arc::clone(invoker);
    match source {
        EventSource::DynamoDbStream(source) => {
            let config = StreamPumpConfig {
                function_logical_id: function.logical_id.clone(),
                function_arn: format!(
                    "arn:aws:lambda:{}:{}:function:{}",
                    model.region, model.account_id, function.physical_name
                ),
                region: model.region.clone(),
                table_name: physical_table(model, &source.table_logical_id)?,
                on_failure_queue_name: source
                    .on_failure_queue_logical_id
                    .as_deref()
                    .map(|id| physical_queue(model, id))
                    .transpose()?,
                source: source.clone(),
                options: options.pump_options.clone(),
            };
            StreamPump::spawn(sdk, readers, invoker, config).await
        }
        EventSource::Sqs(source) => {
            let config = SqsPumpConfig {
                function_logical_id: function.logical_id.clone(),
                region: model.region.clone(),
                queue_name: physical_queue(model, &source.queue_logical_id)?,
                source: source.clone(),
                options: options.pump_options.clone(),
            };
            SqsPump::spawn(sdk, invoker, config).await
        }
        EventSource::Schedule(source) => Ok(SchedulePump::spawn(
            invoker,
            SchedulePumpConfig {
                function_logical_id: function.logical_id.clone(),
                region: model.region.clone(),
                account_id: model.account_id.clone(),
                source: source.clone(),
                options: options.pump_options.clone(),
            },
        )),
    }
}

fn physical_table(model: &StackModel, logical_id: &str) -> anyhow::Result<String> {
    model
        .tables
        .iter()
        .find(|t| t.logical_id == logical_id)
        .map(|t| t.physical_name.clone())
        .with_context(|| format!("no table {logical_id} in the template"))
}

fn physical_queue(model: &StackModel, logical_id: &str) -> anyhow::Result<String> {
    model
        .queues
        .iter()
        .find(|q| q.logical_id == logical_id)
        .map(|q| q.physical_name.clone())
        .with_context(|| format!("no queue {logical_id} in the template"))
}
