//! Shared helpers of the local stack's integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agora_local::model::{FunctionSpec, HttpRoute, RuntimeOptions, StackModel};
use agora_local::runtime::FunctionHost;

/// Every test is bounded; nothing here should take longer.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The directory of the `echo-function` test binary cargo built for these tests.
pub fn binaries_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_echo-function"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The venv with `moto[server]`: `AGORA_VENV`, else the workspace's `.venv`.
pub fn venv_dir() -> PathBuf {
    std::env::var_os("AGORA_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv"))
}

pub fn echo_function(id: &str, timeout_seconds: u32, routes: &[(&str, &str)]) -> FunctionSpec {
    FunctionSpec {
        logical_id: id.to_owned(),
        physical_name: format!("test-{id}"),
        binary: "echo-function".to_owned(),
        handler: "bootstrap".to_owned(),
        timeout_seconds,
        memory_mb: 256,
        environment: BTreeMap::from([("GREETING".to_owned(), "hello".to_owned())]),
        http_routes: routes
            .iter()
            .map(|(method, path)| HttpRoute {
                method: (*method).to_owned(),
                path: (*path).to_owned(),
            })
            .collect(),
        event_sources: Vec::new(),
        policy: Vec::new(),
    }
}

pub fn model(functions: Vec<FunctionSpec>) -> StackModel {
    StackModel {
        stack_name: "test".to_owned(),
        region: "us-east-1".to_owned(),
        account_id: "123456789012".to_owned(),
        tables: Vec::new(),
        queues: Vec::new(),
        functions,
        http_api: None,
        websocket_api: None,
    }
}

pub fn host(
    model: &StackModel,
    concurrency: usize,
    log_dir: Option<&Path>,
) -> anyhow::Result<Arc<FunctionHost>> {
    let options = RuntimeOptions {
        binaries_dir: binaries_dir(),
        max_concurrency_per_function: concurrency,
        environment_overrides: BTreeMap::from([("OVERRIDDEN".to_owned(), "yes".to_owned())]),
    };
    Ok(Arc::new(FunctionHost::new(model, &options, log_dir)?))
}

/// A scratch directory under the target dir, fresh for each call.
pub fn scratch_dir(name: &str) -> anyhow::Result<PathBuf> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(agora_local::unique_stack_name(name));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
