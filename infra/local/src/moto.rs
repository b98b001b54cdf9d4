//! moto (`moto[server]`) as a child process: the local DynamoDB, DynamoDB Streams and SQS.
//!
//! moto is started through the venv's Python with a two-line watchdog around
//! `moto.server.main`: it exits when its stdin closes. Our end of that pipe closes
//! whenever this process ends, even on `SIGKILL`, so a crashed test run never leaves
//! moto servers behind — without `unsafe` `pre_exec`/`PR_SET_PDEATHSIG`.

use std::net::TcpListener as StdTcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// Environment variable naming an already-running moto to reuse instead of starting one.
pub const MOTO_ENDPOINT_ENV: &str = "AGORA_MOTO_ENDPOINT";

/// How long moto may take to import and bind (a cold venv on a slow disk takes seconds).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Exits when stdin reaches end-of-file, i.e. when the parent is gone, then runs moto
/// with `moto_fixes.py` applied.
const WATCHDOG: &str = concat!(
    "import os, sys, threading\n\
def _watch():\n    sys.stdin.read()\n    os._exit(0)\n\
threading.Thread(target=_watch, daemon=True).start()\n",
    include_str!("moto_fixes.py"),
    "\n\
from moto.server import main\n\
main(sys.argv[1:])\n"
);

#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    #[error("no moto in {venv}: {source} (run infra/setup, or set {MOTO_ENDPOINT_ENV})")]
    Spawn {
        venv: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot pick a free port: {0}")]
    Port(std::io::Error),
    #[error("moto at {endpoint} did not answer within {STARTUP_TIMEOUT:?}")]
    NotReady { endpoint: String },
    #[error("moto exited during startup ({status})")]
    Exited { status: String },
}

/// A moto server: either our child (stopped on drop) or an external one we only use.
#[derive(Debug)]
pub struct Moto {
    endpoint: String,
    /// `None` for an external moto.
    process: Option<MotoProcess>,
}

#[derive(Debug)]
struct MotoProcess {
    child: Child,
    /// Held open for the watchdog; dropping it stops moto.
    _stdin: ChildStdin,
}

impl Moto {
    /// Reuses the moto at `AGORA_MOTO_ENDPOINT` when set, otherwise starts one from `venv_dir`.
    pub async fn from_env_or_start(venv_dir: &Path) -> Result<Self, MotoError> {
        match std::env::var(MOTO_ENDPOINT_ENV) {
            Ok(endpoint) if !endpoint.trim().is_empty() => {
                Ok(Self::external(endpoint.trim().trim_end_matches('/')))
            }
            _ => Self::start(venv_dir).await,
        }
    }

    /// A moto someone else runs (and stops).
    pub fn external(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            process: None,
        }
    }

    /// Starts `moto_server` from the venv on a free loopback port and waits until it answers.
    pub async fn start(venv_dir: &Path) -> Result<Self, MotoError> {
        // The port is free when picked but could be taken before moto binds it; a retry
        // with a fresh port makes that race harmless.
        let mut last_error = None;
        for _ in 0..3 {
            match Self::start_on(venv_dir, free_port()?).await {
                Ok(moto) => return Ok(moto),
                Err(error @ MotoError::Exited { .. }) => last_error = Some(error),
                Err(error) => return Err(error),
            }
        }
        Err(last_error.unwrap_or(MotoError::NotReady {
            endpoint: "127.0.0.1".into(),
        }))
    }

    /// Starts moto on a given port (for scripts that choose it, like `infra/test`).
    pub async fn start_on(venv_dir: &Path, port: u16) -> Result<Self, MotoError> {
        let python = venv_dir.join("bin").join("python");
        let mut child = Command::new(&python)
            .arg("-c")
            .arg(WATCHDOG)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| MotoError::Spawn {
                venv: venv_dir.to_owned(),
                source,
            })?;
        let stdin = child.stdin.take().ok_or_else(|| MotoError::Exited {
            status: "no stdin pipe".into(),
        })?;
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(forward_logs(stderr));
        }
        let mut moto = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            process: Some(MotoProcess {
                child,
                _stdin: stdin,
            }),
        };
        moto.wait_until_ready().await?;
        tracing::info!(endpoint = %moto.endpoint, "moto is up");
        Ok(moto)
    }

    async fn wait_until_ready(&mut self) -> Result<(), MotoError> {
        crate::install_crypto_provider();
        let client = reqwest::Client::new();
        let probe = format!("{}/moto-api/", self.endpoint);
        let deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
        while tokio::time::Instant::now() < deadline {
            if let Some(process) = &mut self.process
                && let Ok(Some(status)) = process.child.try_wait()
            {
                return Err(MotoError::Exited {
                    status: status.to_string(),
                });
            }
            let answered = client
                .get(&probe)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok();
            if answered {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(MotoError::NotReady {
            endpoint: self.endpoint.clone(),
        })
    }

    /// `http://127.0.0.1:<port>`, for `endpoint_url` and `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Whether this handle owns (and will stop) the server.
    pub fn is_owned(&self) -> bool {
        self.process.is_some()
    }

    /// Stops an owned moto now rather than on drop.
    pub async fn stop(mut self) {
        if let Some(mut process) = self.process.take() {
            // Already exited is fine: the goal is that it is not running.
            let _ = process.child.kill().await;
        }
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> Result<u16, MotoError> {
    let listener = StdTcpListener::bind("127.0.0.1:0").map_err(MotoError::Port)?;
    Ok(listener.local_addr().map_err(MotoError::Port)?.port())
}

/// moto logs every request to stderr (werkzeug); keep it at debug level.
async fn forward_logs(stderr: tokio::process::ChildStderr) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(target: "agora_local::moto", "{line}");
    }
}
