//! Lambda, locally: the real function binaries run unmodified against an emulated
//! [Lambda Runtime API](https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html).
//!
//! Each execution environment is one process of the function's binary with its own
//! loopback Runtime API server, exactly as each Lambda sandbox has its own. That makes
//! the state of every environment unambiguous (idle, running which invocation, dead),
//! which is what enforcing timeouts and detecting crashes needs. Environments start
//! lazily, one more only when all existing ones are busy, up to
//! [`RuntimeOptions::max_concurrency_per_function`]; an invocation beyond that waits.
//!
//! Lambda's failure semantics are kept: a timed-out environment is killed and replaced
//! ([`InvokeError::Timeout`]), a process that dies mid-invocation is
//! [`InvokeError::Runtime`] and is replaced, an error posted by the runtime is
//! [`InvokeError::FunctionError`].

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use bytes::Bytes;
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::model::{FunctionSpec, Invoke, InvokeError, RuntimeOptions, StackModel};

/// Lambda's limit on a synchronous response payload.
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// Lambda gives a runtime 10 s to initialise before the first invocation.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Separates a streamed response's JSON prelude from its body.
const STREAMING_DELIMITER: &[u8] = &[0; 8];

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("function {function}: binary {} is missing (build it with `cargo build`)", path.display())]
    MissingBinary { function: String, path: PathBuf },
    #[error("cannot open log file {}: {source}", path.display())]
    LogFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Runs the stack's functions; the [`Invoke`] every other part of the local stack uses.
pub struct FunctionHost {
    pools: HashMap<String, Arc<FunctionPool>>,
}

impl std::fmt::Debug for FunctionHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionHost")
            .field("functions", &self.pools.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl FunctionHost {
    /// Prepares every function of `model`; no process starts before its first invocation.
    ///
    /// Function output goes to `tracing` (target `agora_local::function`), or, with
    /// `log_dir`, to `<log_dir>/<LogicalId>.log`.
    pub fn new(
        model: &StackModel,
        options: &RuntimeOptions,
        log_dir: Option<&Path>,
    ) -> Result<Self, RuntimeError> {
        if let Some(dir) = log_dir {
            std::fs::create_dir_all(dir).map_err(|source| RuntimeError::LogFile {
                path: dir.to_owned(),
                source,
            })?;
        }
        let pools = model
            .functions
            .iter()
            .map(|spec| {
                let pool = FunctionPool::new(model, spec, options, log_dir)?;
                Ok((spec.logical_id.clone(), Arc::new(pool)))
            })
            .collect::<Result<_, RuntimeError>>()?;
        Ok(Self { pools })
    }

    /// Logical ids of the functions this host runs.
    pub fn function_ids(&self) -> impl Iterator<Item = &str> {
        self.pools.keys().map(String::as_str)
    }

    /// How many processes of the function are running now (idle or busy).
    pub fn running_environments(&self, function_logical_id: &str) -> usize {
        self.pools
            .get(function_logical_id)
            .map_or(0, |pool| pool.live.load(Ordering::SeqCst) as usize)
    }

    /// Stops idle environments now and busy ones as soon as their invocation ends;
    /// invocations after this fail.
    /// Kills `function_logical_id`'s environments that are running an invocation now,
    /// as a crash would (fault injection): each invocation fails and its environment is
    /// replaced. How many were killed.
    pub fn kill_running(&self, function_logical_id: &str) -> usize {
        self.pools
            .get(function_logical_id)
            .map_or(0, |pool| pool.kill_running())
    }

    pub async fn shutdown(&self) {
        for pool in self.pools.values() {
            pool.shutdown().await;
        }
    }
}

impl Invoke for FunctionHost {
    fn invoke(
        &self,
        function_logical_id: &str,
        event: Value,
    ) -> BoxFuture<'_, Result<Value, InvokeError>> {
        let pool = self.pools.get(function_logical_id).cloned();
        let id = function_logical_id.to_owned();
        async move {
            let pool = pool.ok_or(InvokeError::UnknownFunction(id))?;
            // A spawned task runs the invocation to its end even if the caller goes away
            // (an HTTP client disconnecting), as Lambda does; dropping the environment
            // halfway would kill the process.
            tokio::spawn(async move { pool.invoke(event).await })
                .await
                .map_err(|e| InvokeError::Runtime(format!("invocation task failed: {e}")))?
        }
        .boxed()
    }
}

/// One function: its configuration and its execution environments.
struct FunctionPool {
    spec: FunctionSpec,
    binary: PathBuf,
    arn: String,
    /// Everything but `AWS_LAMBDA_RUNTIME_API`, which differs per environment.
    environment: BTreeMap<String, String>,
    working_dir: PathBuf,
    concurrency: Semaphore,
    idle: Mutex<Vec<ExecutionEnvironment>>,
    /// Process ids of the environments running an invocation now.
    running: Mutex<std::collections::HashSet<u32>>,
    live: Arc<AtomicU64>,
    next_environment: AtomicU64,
    shutting_down: AtomicBool,
    log: LogSink,
}

impl FunctionPool {
    fn new(
        model: &StackModel,
        spec: &FunctionSpec,
        options: &RuntimeOptions,
        log_dir: Option<&Path>,
    ) -> Result<Self, RuntimeError> {
        let binary = std::path::absolute(options.binaries_dir.join(&spec.binary))
            .unwrap_or_else(|_| options.binaries_dir.join(&spec.binary));
        if !binary.is_file() {
            return Err(RuntimeError::MissingBinary {
                function: spec.logical_id.clone(),
                path: binary,
            });
        }
        let arn = format!(
            "arn:aws:lambda:{}:{}:function:{}",
            model.region, model.account_id, spec.physical_name
        );
        let log = LogSink::new(&spec.logical_id, log_dir)?;
        Ok(Self {
            environment: function_environment(model, spec, options),
            working_dir: std::path::absolute(&options.binaries_dir)
                .unwrap_or_else(|_| options.binaries_dir.clone()),
            concurrency: Semaphore::new(options.max_concurrency_per_function.max(1)),
            idle: Mutex::new(Vec::new()),
            running: Mutex::new(std::collections::HashSet::new()),
            live: Arc::new(AtomicU64::new(0)),
            next_environment: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
            spec: spec.clone(),
            binary,
            arn,
            log,
        })
    }

    async fn invoke(&self, event: Value) -> Result<Value, InvokeError> {
        let _permit = self
            .concurrency
            .acquire()
            .await
            .map_err(|_| InvokeError::Runtime("the function host is shut down".into()))?;
        if self.shutting_down.load(Ordering::SeqCst) {
            return Err(InvokeError::Runtime(
                "the function host is shut down".into(),
            ));
        }
        let event = serde_json::to_vec(&event)
            .map(Bytes::from)
            .map_err(|e| InvokeError::Runtime(format!("event is not serialisable: {e}")))?;
        let (mut environment, reused) = match self.take_idle() {
            Some(environment) => (environment, true),
            None => (self.start_environment().await?, false),
        };
        let mut result = self.invoke_in(&mut environment, event.clone()).await;
        if reused && !environment.delivered {
            // The idle process died unnoticed and never saw the event; Lambda would
            // simply have used a fresh environment, so do that.
            environment = self.start_environment().await?;
            result = self.invoke_in(&mut environment, event).await;
        }
        if environment.reusable && !self.shutting_down.load(Ordering::SeqCst) {
            lock(&self.idle).push(environment);
        }
        result
    }

    /// Runs one invocation in `environment`, known as running meanwhile (see
    /// [`FunctionHost::kill_running`]).
    async fn invoke_in(
        &self,
        environment: &mut ExecutionEnvironment,
        event: Bytes,
    ) -> Result<Value, InvokeError> {
        let pid = environment.child.id();
        if let Some(pid) = pid {
            lock(&self.running).insert(pid);
        }
        let result = environment.invoke(self, event).await;
        if let Some(pid) = pid {
            lock(&self.running).remove(&pid);
        }
        result
    }

    /// Kills the processes running an invocation now (fault injection); how many.
    fn kill_running(&self) -> usize {
        let pids: Vec<u32> = lock(&self.running).iter().copied().collect();
        pids.iter()
            .filter(|pid| {
                std::process::Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status()
                    .is_ok_and(|status| status.success())
            })
            .count()
    }

    /// An idle environment whose process is still alive, if any.
    fn take_idle(&self) -> Option<ExecutionEnvironment> {
        let mut idle = lock(&self.idle);
        while let Some(mut environment) = idle.pop() {
            if environment.is_alive() {
                return Some(environment);
            }
        }
        None
    }

    async fn start_environment(&self) -> Result<ExecutionEnvironment, InvokeError> {
        let number = self.next_environment.fetch_add(1, Ordering::SeqCst);
        ExecutionEnvironment::start(self, number)
            .await
            .map_err(|e| {
                InvokeError::Runtime(format!("cannot start {}: {e}", self.spec.logical_id))
            })
    }

    async fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.concurrency.close();
        let idle = std::mem::take(&mut *lock(&self.idle));
        for environment in idle {
            environment.stop().await;
        }
    }
}

/// The variables Lambda sets, the template's, then the local stack's overrides.
fn function_environment(
    model: &StackModel,
    spec: &FunctionSpec,
    options: &RuntimeOptions,
) -> BTreeMap<String, String> {
    let mut env = spec.environment.clone();
    let name = &spec.physical_name;
    let task_root = std::path::absolute(&options.binaries_dir)
        .unwrap_or_else(|_| options.binaries_dir.clone())
        .display()
        .to_string();
    let reserved = [
        ("AWS_LAMBDA_FUNCTION_NAME", name.clone()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            spec.memory_mb.to_string(),
        ),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".to_owned()),
        ("AWS_REGION", model.region.clone()),
        ("AWS_DEFAULT_REGION", model.region.clone()),
        // The key names the function, so the local stack applies its role.
        (
            "AWS_ACCESS_KEY_ID",
            crate::iam::access_key_id(&spec.logical_id),
        ),
        (
            "AWS_SECRET_ACCESS_KEY",
            crate::provision::TEST_SECRET_ACCESS_KEY.to_owned(),
        ),
        ("LAMBDA_TASK_ROOT", task_root.clone()),
        ("LAMBDA_RUNTIME_DIR", task_root),
        ("_HANDLER", spec.handler.clone()),
        ("TZ", ":UTC".to_owned()),
        ("PATH", "/usr/local/bin:/usr/bin:/bin".to_owned()),
    ];
    env.extend(reserved.map(|(k, v)| (k.to_owned(), v)));
    // Backtraces are a host-side debugging choice, not part of the function's config.
    if let Ok(value) = std::env::var("RUST_BACKTRACE") {
        env.insert("RUST_BACKTRACE".into(), value);
    }
    env.extend(options.environment_overrides.clone());
    env
}

/// An invocation handed to an environment's Runtime API.
struct PendingInvocation {
    request_id: String,
    event: Bytes,
    timeout: Duration,
    /// Fired when the runtime fetched the event: the function's clock starts then.
    started: oneshot::Sender<()>,
    done: oneshot::Sender<Outcome>,
}

#[derive(Debug)]
enum Outcome {
    Response(Bytes),
    Error(InvokeError),
}

/// One process of the function's binary and its Runtime API.
struct ExecutionEnvironment {
    number: u64,
    child: Child,
    invocations: mpsc::Sender<PendingInvocation>,
    api: Arc<RuntimeApi>,
    server: JoinHandle<()>,
    /// False once the process died, timed out or was killed.
    reusable: bool,
    /// Whether the runtime fetched the last invocation given to this environment.
    delivered: bool,
    live: Arc<AtomicU64>,
}

impl Drop for ExecutionEnvironment {
    fn drop(&mut self) {
        self.server.abort();
        // The process itself is killed by `kill_on_drop`.
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl ExecutionEnvironment {
    async fn start(pool: &FunctionPool, number: u64) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (invocations, pending) = mpsc::channel(1);
        let api = Arc::new(RuntimeApi {
            function_arn: pool.arn.clone(),
            pending: tokio::sync::Mutex::new(pending),
            in_flight: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
        });
        let router = runtime_api_router(Arc::clone(&api));
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::warn!(%error, "runtime API server failed");
            }
        });
        let mut command = Command::new(&pool.binary);
        command
            .env_clear()
            .envs(&pool.environment)
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .env("AWS_LAMBDA_LOG_STREAM_NAME", log_stream_name(number))
            .current_dir(&pool.working_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(error) => {
                server.abort();
                return Err(error);
            }
        };
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(forward_output(stdout, pool.log.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(forward_output(stderr, pool.log.clone()));
        }
        pool.live.fetch_add(1, Ordering::SeqCst);
        tracing::debug!(function = %pool.spec.logical_id, environment = number, api = %address, "started execution environment");
        Ok(Self {
            number,
            child,
            invocations,
            api,
            server,
            reusable: true,
            delivered: false,
            live: Arc::clone(&pool.live),
        })
    }

    fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    async fn invoke(&mut self, pool: &FunctionPool, event: Bytes) -> Result<Value, InvokeError> {
        let request_id = request_id();
        let timeout = Duration::from_secs(u64::from(pool.spec.timeout_seconds.max(1)));
        let started_at = Instant::now();
        pool.log
            .line(&format!("START RequestId: {request_id} Version: $LATEST"));
        let result = self.run(&request_id, event, timeout).await;
        let elapsed = started_at.elapsed().as_secs_f64() * 1000.0;
        if let Err(error) = &result {
            pool.log
                .line(&format!("RequestId: {request_id} Error: {error}"));
        }
        pool.log.line(&format!("END RequestId: {request_id}"));
        pool.log.line(&format!(
            "REPORT RequestId: {request_id}\tDuration: {elapsed:.2} ms\tMemory Size: {} MB",
            pool.spec.memory_mb
        ));
        if !self.reusable {
            // Killing is idempotent; this makes sure a replaced environment is gone now.
            let _ = self.child.start_kill();
            tracing::debug!(function = %pool.spec.logical_id, environment = self.number, "execution environment discarded");
        }
        result.and_then(|bytes| response_value(&bytes))
    }

    async fn run(
        &mut self,
        request_id: &str,
        event: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, InvokeError> {
        self.delivered = false;
        let (started, started_rx) = oneshot::channel();
        let (done, done_rx) = oneshot::channel();
        let pending = PendingInvocation {
            request_id: request_id.to_owned(),
            event,
            timeout,
            started,
            done,
        };
        if self.invocations.send(pending).await.is_err() {
            self.reusable = false;
            return Err(InvokeError::Runtime("runtime API is gone".into()));
        }
        self.wait_for_start(started_rx).await?;
        self.delivered = true;
        self.wait_for_outcome(done_rx, timeout).await
    }

    /// Waits for the runtime to fetch the invocation, which a cold process does after init.
    async fn wait_for_start(&mut self, started: oneshot::Receiver<()>) -> Result<(), InvokeError> {
        tokio::select! {
            fetched = started => fetched.map_err(|_| {
                self.reusable = false;
                InvokeError::Runtime("runtime API dropped the invocation".into())
            }),
            status = self.child.wait() => {
                self.reusable = false;
                let init_error = lock(&self.api.init_error).take();
                Err(InvokeError::Runtime(match init_error {
                    Some(error) => format!("init failed ({error}); process exited ({})", exit_text(status)),
                    None => format!("process exited before its first invocation ({})", exit_text(status)),
                }))
            }
            () = tokio::time::sleep(INIT_TIMEOUT) => {
                self.reusable = false;
                Err(InvokeError::Runtime(format!(
                    "the runtime did not ask for an invocation within {INIT_TIMEOUT:?}"
                )))
            }
        }
    }

    async fn wait_for_outcome(
        &mut self,
        done: oneshot::Receiver<Outcome>,
        timeout: Duration,
    ) -> Result<Bytes, InvokeError> {
        tokio::select! {
            outcome = done => match outcome {
                Ok(Outcome::Response(bytes)) => Ok(bytes),
                Ok(Outcome::Error(error)) => Err(error),
                Err(_) => {
                    self.reusable = false;
                    Err(InvokeError::Runtime("runtime API dropped the invocation".into()))
                }
            },
            status = self.child.wait() => {
                self.reusable = false;
                Err(InvokeError::Runtime(format!(
                    "process exited mid-invocation ({})", exit_text(status)
                )))
            }
            () = tokio::time::sleep(timeout) => {
                self.reusable = false;
                Err(InvokeError::Timeout(u32::try_from(timeout.as_secs()).unwrap_or(u32::MAX)))
            }
        }
    }

    async fn stop(mut self) {
        // Already exited is fine: the goal is that it is not running.
        let _ = self.child.kill().await;
    }
}

fn exit_text(status: std::io::Result<std::process::ExitStatus>) -> String {
    match status {
        Ok(status) => status.to_string(),
        Err(error) => format!("unknown status: {error}"),
    }
}

/// What the function returned, as JSON (Lambda's payloads are JSON; raw text is kept
/// as a JSON string rather than lost).
fn response_value(bytes: &[u8]) -> Result<Value, InvokeError> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    Ok(serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned())))
}

/// The per-environment Runtime API state.
struct RuntimeApi {
    function_arn: String,
    /// The single runtime process long-polls here; holding the lock while waiting is fine.
    pending: tokio::sync::Mutex<mpsc::Receiver<PendingInvocation>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<String>>,
}

fn runtime_api_router(api: Arc<RuntimeApi>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
        .route(
            "/2018-06-01/runtime/invocation/{request_id}/response",
            post(invocation_response),
        )
        .route(
            "/2018-06-01/runtime/invocation/{request_id}/error",
            post(invocation_error),
        )
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(api)
}

async fn next_invocation(State(api): State<Arc<RuntimeApi>>) -> Response {
    let Some(invocation) = api.pending.lock().await.recv().await else {
        // The environment is being torn down.
        return StatusCode::GONE.into_response();
    };
    let deadline = SystemTime::now() + invocation.timeout;
    let deadline_ms = deadline
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    lock(&api.in_flight).insert(invocation.request_id.clone(), invocation.done);
    // The invoker may have gone (shutdown); the runtime still gets the event.
    let _ = invocation.started.send(());
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set("lambda-runtime-aws-request-id", &invocation.request_id);
    set("lambda-runtime-deadline-ms", &deadline_ms.to_string());
    set("lambda-runtime-invoked-function-arn", &api.function_arn);
    set("lambda-runtime-trace-id", &trace_id());
    set("content-type", "application/json");
    (StatusCode::OK, headers, invocation.event).into_response()
}

async fn invocation_response(
    State(api): State<Arc<RuntimeApi>>,
    UrlPath(request_id): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(done) = lock(&api.in_flight).remove(&request_id) else {
        return unknown_request(&request_id);
    };
    let (status, outcome) = match axum::body::to_bytes(body, MAX_RESPONSE_BYTES).await {
        Ok(bytes) if is_streaming(&headers) => (StatusCode::ACCEPTED, streamed_response(&bytes)),
        Ok(bytes) => (StatusCode::ACCEPTED, Outcome::Response(bytes)),
        Err(_) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            Outcome::Error(InvokeError::FunctionError {
                error_type: "Function.ResponseSizeTooLarge".into(),
                error_message: format!(
                    "Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
                ),
            }),
        ),
    };
    let _ = done.send(outcome);
    (status, axum::Json(json!({"status": "OK"}))).into_response()
}

async fn invocation_error(
    State(api): State<Arc<RuntimeApi>>,
    UrlPath(request_id): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(done) = lock(&api.in_flight).remove(&request_id) else {
        return unknown_request(&request_id);
    };
    let _ = done.send(Outcome::Error(function_error(&headers, &body)));
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

async fn init_error(
    State(api): State<Arc<RuntimeApi>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let error = function_error(&headers, &body);
    *lock(&api.init_error) = Some(error.to_string());
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

fn unknown_request(request_id: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({
            "errorType": "InvalidRequestID",
            "errorMessage": format!("Invalid request ID: {request_id}"),
        })),
    )
        .into_response()
}

/// A runtime's error report: the `{errorType, errorMessage}` body, or the header and raw text.
fn function_error(headers: &HeaderMap, body: &[u8]) -> InvokeError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let header_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    InvokeError::FunctionError {
        error_type: field("errorType")
            .or(header_type)
            .unwrap_or_else(|| "Unhandled".into()),
        error_message: field("errorMessage")
            .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned()),
    }
}

fn is_streaming(headers: &HeaderMap) -> bool {
    headers
        .get("lambda-runtime-function-response-mode")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"streaming"))
}

/// A streamed HTTP response (`lambda_http` streaming) buffered into the payload-v2
/// response shape the API Gateway emulation understands.
fn streamed_response(bytes: &[u8]) -> Outcome {
    let split = bytes
        .windows(STREAMING_DELIMITER.len())
        .position(|w| w == STREAMING_DELIMITER);
    let Some(split) = split else {
        return Outcome::Response(Bytes::copy_from_slice(bytes));
    };
    let prelude: Value = serde_json::from_slice(&bytes[..split]).unwrap_or(Value::Null);
    let body = &bytes[split + STREAMING_DELIMITER.len()..];
    let (body, is_base64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    let response = json!({
        "statusCode": prelude.get("statusCode").cloned().unwrap_or(json!(200)),
        "headers": prelude.get("headers").cloned().unwrap_or(json!({})),
        "cookies": prelude.get("cookies").cloned().unwrap_or(json!([])),
        "body": body,
        "isBase64Encoded": is_base64,
    });
    Outcome::Response(Bytes::from(response.to_string()))
}

/// Where a function's output lines go.
#[derive(Clone)]
struct LogSink {
    function: Arc<str>,
    file: Option<Arc<Mutex<File>>>,
}

impl LogSink {
    fn new(function: &str, log_dir: Option<&Path>) -> Result<Self, RuntimeError> {
        let file = match log_dir {
            None => None,
            Some(dir) => {
                let path = dir.join(format!("{function}.log"));
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|source| RuntimeError::LogFile { path, source })?;
                Some(Arc::new(Mutex::new(file)))
            }
        };
        Ok(Self {
            function: function.into(),
            file,
        })
    }

    fn line(&self, line: &str) {
        match &self.file {
            Some(file) => {
                // A full disk must not fail the invocation; the line is lost.
                let _ = writeln!(lock(file), "{line}");
            }
            None => {
                tracing::info!(target: "agora_local::function", function = %self.function, "{line}")
            }
        }
    }
}

async fn forward_output(output: impl AsyncRead + Unpin, sink: LogSink) {
    let mut lines = BufReader::new(output).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        sink.line(&line);
    }
}

/// Locks a std mutex, recovering from poisoning: the guarded data stays consistent
/// because no critical section here can panic halfway through an update.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if getrandom::fill(&mut bytes).is_err() {
        // Uniqueness, not secrecy, is what these ids need; fall back to clock bits.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mixed = nanos ^ u128::from(COUNTER.fetch_add(1, Ordering::SeqCst)) << 64;
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = (mixed >> ((i % 16) * 8)) as u8;
        }
    }
    bytes
}

/// A version-4 UUID, the shape of Lambda request ids.
pub fn request_id() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = hex_string(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An X-Ray trace header like the one Lambda passes, unsampled.
fn trace_id() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "Root=1-{seconds:08x}-{};Parent={};Sampled=0",
        hex_string(&random_bytes::<12>()),
        hex_string(&random_bytes::<8>())
    )
}

/// `2024/01/31/[$LATEST]<32 hex>`, the shape of Lambda log stream names.
fn log_stream_name(number: u64) -> String {
    let today = time::OffsetDateTime::now_utc().date();
    format!(
        "{:04}/{:02}/{:02}/[$LATEST]{:016x}{}",
        today.year(),
        u8::from(today.month()),
        today.day(),
        number,
        hex_string(&random_bytes::<8>())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_version_4_uuids() {
        let id = request_id();

        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, request_id());
    }

    #[test]
    fn an_error_report_keeps_the_runtimes_type_and_message() {
        let body = br#"{"errorType":"MyError","errorMessage":"boom"}"#;

        let error = function_error(&HeaderMap::new(), body);

        assert_eq!(
            error.to_string(),
            InvokeError::FunctionError {
                error_type: "MyError".into(),
                error_message: "boom".into()
            }
            .to_string()
        );
    }

    #[test]
    fn a_streamed_response_becomes_a_payload_v2_response() {
        let mut bytes = br#"{"statusCode":201,"headers":{"x":"y"}}"#.to_vec();
        bytes.extend_from_slice(STREAMING_DELIMITER);
        bytes.extend_from_slice(b"hello");

        let Outcome::Response(response) = streamed_response(&bytes) else {
            panic!("a response")
        };

        let response: Value = serde_json::from_slice(&response).unwrap();
        assert_eq!(response["statusCode"], 201);
        assert_eq!(response["body"], "hello");
        assert_eq!(response["headers"]["x"], "y");
    }
}
