//! `agora-local`: the whole Agora stack on 127.0.0.1 for development.
//!
//! ```text
//! cargo build && cargo run -p agora-local -- up --demo
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use agora_local::{LocalStack, Moto, StackOptions};
use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "agora-local",
    version,
    about = "Agora's serverless stack on loopback: moto + emulated Lambda, HTTP API, WebSocket API, pumps"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start moto (or reuse AGORA_MOTO_ENDPOINT) and the stack; run until Ctrl-C.
    Up(UpArgs),
    /// Start only moto, with the local stack's fixes applied, and run until stopped:
    /// a server several test processes share (`infra/test`).
    Moto(MotoArgs),
    /// Compare what each function's AWS calls used with what its role grants, over the
    /// stack log directories a run left (`iam-used.jsonl` and `iam-policies.json` in
    /// each): every grant used or UNUSED, every refused call MISSING.
    IamReport(IamReportArgs),
}

#[derive(Debug, Args)]
struct IamReportArgs {
    /// The directory of per-stack log directories (the test suite's default).
    #[arg(long, default_value = "target/test-logs")]
    logs: PathBuf,
}

#[derive(Debug, Args)]
struct MotoArgs {
    /// The project venv that has moto.
    #[arg(long, env = "AGORA_VENV", default_value = ".venv")]
    venv: PathBuf,
    /// Port on 127.0.0.1.
    #[arg(long)]
    port: u16,
}

#[derive(Debug, Args)]
struct UpArgs {
    /// The SAM template.
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    /// Prefix of every table, queue and function name.
    #[arg(long, default_value = "agora-local")]
    stack_name: String,
    #[arg(long, default_value_t = 3000)]
    http_port: u16,
    #[arg(long, default_value_t = 3001)]
    ws_port: u16,
    #[arg(long, default_value_t = 3002)]
    connections_port: u16,
    /// Seed demo data once the stack is up.
    #[arg(long)]
    demo: bool,
    /// Template parameter override, e.g. `--param JwtIssuer=agora-local` (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = key_value)]
    params: Vec<(String, String)>,
    /// A Secrets Manager secret to create before the stack, as an operator would before
    /// deploying, e.g. `--secret agora-local/jwt-hs256=<32+ bytes>` (repeatable).
    #[arg(long = "secret", value_name = "NAME=VALUE", value_parser = key_value)]
    secrets: Vec<(String, String)>,
    /// Extra environment variable for every function (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = key_value)]
    env: Vec<(String, String)>,
    /// The Python venv with `moto[server]` (created by infra/setup).
    #[arg(long, env = "AGORA_VENV", default_value = ".venv")]
    venv: PathBuf,
    /// Where the function binaries are (default: target/debug next to the template).
    #[arg(long, env = "AGORA_BINARIES_DIR")]
    binaries_dir: Option<PathBuf>,
    /// Write each function's output to <DIR>/<LogicalId>.log instead of the console.
    #[arg(long, value_name = "DIR")]
    log_dir: Option<PathBuf>,
    /// The browser client served under /app/ (default: web/ next to the template).
    #[arg(long, value_name = "DIR")]
    web_dir: Option<PathBuf>,
    /// Execution environments (processes) per function.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
}

fn key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("expected KEY=VALUE, got {text:?}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Logs go to stderr so stdout carries only the URLs (scripts read them).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match Cli::parse().command {
        Command::Up(args) => up(args).await,
        Command::Moto(args) => moto_only(args).await,
        Command::IamReport(args) => {
            print!("{}", agora_local::iam::usage_report(&args.logs)?);
            Ok(())
        }
    }
}

async fn moto_only(args: MotoArgs) -> anyhow::Result<()> {
    let moto = Moto::start_on(&args.venv, args.port)
        .await
        .context("starting moto")?;
    println!("{}", moto.endpoint());
    // Stopped by Ctrl-C or SIGTERM; moto's watchdog also ends it if this process dies.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("waiting for Ctrl-C")?,
        _ = terminate.recv() => {}
    }
    moto.stop().await;
    Ok(())
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    let moto = Moto::from_env_or_start(&args.venv)
        .await
        .context("starting moto")?;
    let options = stack_options(&args, moto.endpoint());
    let stack = LocalStack::spawn(options).await?;
    if args.demo {
        agora_local::demo::seed(&stack)
            .await
            .context("seeding demo data")?;
    }
    print_urls(&stack, &moto);
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    println!("\nstopping…");
    stack.shutdown().await;
    moto.stop().await;
    Ok(())
}

fn stack_options(args: &UpArgs, moto_endpoint: &str) -> StackOptions {
    let mut options = StackOptions::new(&args.template, &args.stack_name, moto_endpoint);
    if let Some(dir) = &args.binaries_dir {
        options.binaries_dir = dir.clone();
    }
    options.parameter_overrides = args.params.iter().cloned().collect::<BTreeMap<_, _>>();
    options.secrets = args.secrets.iter().cloned().collect::<BTreeMap<_, _>>();
    options.environment_overrides = args.env.iter().cloned().collect::<BTreeMap<_, _>>();
    options.http_port = args.http_port;
    options.websocket_port = args.ws_port;
    options.connections_port = args.connections_port;
    options.log_dir = args.log_dir.clone();
    if let Some(dir) = &args.web_dir {
        options.web_dir = Some(dir.clone());
    }
    options.max_concurrency_per_function = args.concurrency;
    options
}

fn print_urls(stack: &LocalStack, moto: &Moto) {
    println!();
    println!("Agora local stack `{}` is up:", stack.stack_name());
    println!("  HTTP API        {}", stack.http_url());
    if let Some(url) = stack.web_url() {
        println!("  Chat page       {url}");
        println!("  Moderation page {url}moderation.html (demo moderator: Bruno)");
    }
    if let Some(url) = stack.websocket_url() {
        println!("  WebSocket API   {url}");
    }
    if let Some(url) = stack.connections_url() {
        println!("  @connections    {url}");
    }
    let owner = if moto.is_owned() { "started" } else { "reused" };
    println!("  moto            {} ({owner})", stack.moto_endpoint());
    for table in &stack.model().tables {
        println!(
            "  table           {} ({})",
            table.physical_name, table.logical_id
        );
    }
    for queue in &stack.model().queues {
        let url = stack.queue_url(&queue.logical_id).unwrap_or("?");
        println!("  queue           {url} ({})", queue.logical_id);
    }
    println!();
    println!("Press Ctrl-C to stop.");
}
