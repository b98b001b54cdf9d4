//! A whole local stack from a template, backed by a real moto.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use agora_local::{LocalStack, Moto, StackOptions, unique_stack_name};
use anyhow::Context as _;
use common::TEST_TIMEOUT;
use futures_util::SinkExt as _;
use serde_json::Value;
use tokio::time::timeout;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stack.yaml")
}

async fn spawn(moto: &Moto, record_dir: &Path) -> anyhow::Result<LocalStack> {
    let mut options = StackOptions::new(fixture(), unique_stack_name("it"), moto.endpoint());
    options.binaries_dir = common::binaries_dir();
    options
        .parameter_overrides
        .insert("Greeting".into(), "bonjour".into());
    options
        .environment_overrides
        .insert("ECHO_RECORD_DIR".into(), record_dir.display().to_string());
    options.pump_options.poll_interval = Duration::from_millis(50);
    timeout(TEST_TIMEOUT, LocalStack::spawn(options)).await?
}

/// The events a function recorded (see `echo-function`), once `accept` finds one.
async fn wait_for_event(
    stack: &LocalStack,
    record_dir: &Path,
    function: &str,
    accept: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let file = record_dir.join(format!("{}-{function}.jsonl", stack.stack_name()));
    timeout(TEST_TIMEOUT, async {
        loop {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let found = text
                .lines()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .find(|event| accept(event));
            if let Some(event) = found {
                return event;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .with_context(|| format!("{function} never received the expected event"))
}

#[tokio::test]
async fn template_secrets_are_generated_in_secrets_manager_and_functions_get_their_arns()
-> anyhow::Result<()> {
    let moto = Moto::from_env_or_start(&common::venv_dir()).await?;
    let records = common::scratch_dir("records")?;
    let mut options = StackOptions::new(fixture(), unique_stack_name("it"), moto.endpoint());
    options.binaries_dir = common::binaries_dir();
    options
        .environment_overrides
        .insert("ECHO_RECORD_DIR".into(), records.display().to_string());
    let operator_secret = format!("{}/operator-made", options.stack_name);
    options
        .secrets
        .insert(operator_secret.clone(), "made-before-deploying".into());
    let stack = timeout(TEST_TIMEOUT, LocalStack::spawn(options)).await??;

    let response: Value = reqwest::get(format!("{}/v1/echo", stack.http_url()))
        .await?
        .json()
        .await?;

    let arn = response["env"]["API_KEY_SECRET_ID"]
        .as_str()
        .context("the secret's ARN in the environment")?;
    assert!(
        arn.starts_with("arn:aws:secretsmanager:us-east-1:"),
        "{arn}"
    );
    let secrets = aws_sdk_secretsmanager::Client::new(&stack.sdk_config().await);
    let generated = secrets.get_secret_value().secret_id(arn).send().await?;
    let value = generated.secret_string().context("a string secret")?;
    assert_eq!(value.len(), 40);
    assert!(value.chars().all(|c| c.is_ascii_alphanumeric()), "{value}");
    let made = secrets
        .get_secret_value()
        .secret_id(&operator_secret)
        .send()
        .await?;
    assert_eq!(made.secret_string(), Some("made-before-deploying"));
    stack.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_stack_serves_its_template_with_resolved_environment_and_provisioned_resources()
-> anyhow::Result<()> {
    let moto = Moto::from_env_or_start(&common::venv_dir()).await?;
    let records = common::scratch_dir("records")?;
    let stack = spawn(&moto, &records).await?;

    agora_local::install_crypto_provider();
    let response: Value = reqwest::get(format!("{}/v1/echo", stack.http_url()))
        .await?
        .json()
        .await?;

    let env = &response["env"];
    let table = stack.table_name().context("a table")?;
    assert_eq!(env["TABLE_NAME"], table);
    assert_eq!(
        env["JOBS_QUEUE_URL"],
        stack.queue_url("JobsQueue").context("a queue")?
    );
    assert_eq!(env["GREETING"], "bonjour");
    // The functions reach moto through the stack's IAM proxy, signing as themselves.
    assert_eq!(env["AWS_ENDPOINT_URL"], stack.functions_aws_endpoint());
    assert_ne!(env["AWS_ENDPOINT_URL"], moto.endpoint());
    assert_eq!(
        env["AWS_ACCESS_KEY_ID"],
        agora_local::iam::access_key_id("ApiFunction")
    );
    let connections = stack.connections_url().context("a WebSocket API")?;
    assert_eq!(env["AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI"], connections);
    assert!(connections.ends_with("/dev"));
    assert!(
        stack
            .websocket_url()
            .is_some_and(|url| url.starts_with("ws://127.0.0.1:") && url.ends_with("/dev"))
    );
    let dynamodb = aws_sdk_dynamodb::Client::new(&stack.sdk_config().await);
    let described = dynamodb.describe_table().table_name(table).send().await?;
    let description = described.table().context("a description")?;
    assert!(description.latest_stream_arn().is_some());
    assert_eq!(description.global_secondary_indexes().len(), 1);
    let ttl = dynamodb
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await?;
    let ttl = ttl.time_to_live_description().context("TTL")?;
    assert_eq!(ttl.attribute_name(), Some("expiresAt"));
    stack.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn queue_messages_and_table_changes_reach_their_functions() -> anyhow::Result<()> {
    let moto = Moto::from_env_or_start(&common::venv_dir()).await?;
    let records = common::scratch_dir("records")?;
    let stack = spawn(&moto, &records).await?;
    let sdk = stack.sdk_config().await;

    aws_sdk_sqs::Client::new(&sdk)
        .send_message()
        .queue_url(stack.queue_url("JobsQueue").context("queue")?)
        .message_body("job-1")
        .send()
        .await?;
    aws_sdk_dynamodb::Client::new(&sdk)
        .put_item()
        .table_name(stack.table_name().context("table")?)
        .item(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S("P#1".into()),
        )
        .item("SK", aws_sdk_dynamodb::types::AttributeValue::S("A".into()))
        .send()
        .await?;

    let sqs = wait_for_event(&stack, &records, "WorkerFunction", |e| {
        e["Records"][0]["body"] == "job-1"
    })
    .await?;
    assert_eq!(sqs["Records"][0]["eventSource"], "aws:sqs");
    let stream = wait_for_event(&stack, &records, "StreamFunction", |e| {
        e["Records"][0]["eventName"] == "INSERT"
    })
    .await?;
    assert_eq!(stream["Records"][0]["dynamodb"]["Keys"]["PK"]["S"], "P#1");
    stack.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn websocket_clients_reach_the_route_functions() -> anyhow::Result<()> {
    let moto = Moto::from_env_or_start(&common::venv_dir()).await?;
    let records = common::scratch_dir("records")?;
    let stack = spawn(&moto, &records).await?;
    let url = stack.websocket_url().context("a WebSocket API")?;

    let (mut socket, _) =
        timeout(TEST_TIMEOUT, tokio_tungstenite::connect_async(url.as_str())).await??;
    socket
        .send(tokio_tungstenite::tungstenite::Message::text(
            r#"{"action":"anything"}"#,
        ))
        .await?;

    let connect = wait_for_event(&stack, &records, "RealtimeFunction", |e| {
        e["requestContext"]["eventType"] == "CONNECT"
    })
    .await?;
    assert_eq!(connect["requestContext"]["stage"], "dev");
    let message = wait_for_event(&stack, &records, "RealtimeFunction", |e| {
        e["requestContext"]["eventType"] == "MESSAGE"
    })
    .await?;
    assert_eq!(message["requestContext"]["routeKey"], "$default");
    socket.close(None).await?;
    stack.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn the_cli_prints_its_urls_and_serves_the_template() -> anyhow::Result<()> {
    use tokio::io::AsyncBufReadExt as _;
    let moto = Moto::from_env_or_start(&common::venv_dir()).await?;
    let mut cli = tokio::process::Command::new(env!("CARGO_BIN_EXE_agora-local"))
        .args(["up", "--stack-name", &unique_stack_name("cli")])
        .args([
            "--http-port",
            "0",
            "--ws-port",
            "0",
            "--connections-port",
            "0",
        ])
        .arg("--template")
        .arg(fixture())
        .arg("--binaries-dir")
        .arg(common::binaries_dir())
        .env("AGORA_MOTO_ENDPOINT", moto.endpoint())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = tokio::io::BufReader::new(cli.stdout.take().context("stdout")?).lines();

    let http_url = timeout(TEST_TIMEOUT, async {
        while let Some(line) = lines.next_line().await? {
            if let Some(url) = line.trim().strip_prefix("HTTP API") {
                return Ok(url.trim().to_owned());
            }
        }
        anyhow::bail!("the CLI exited without printing its URLs")
    })
    .await??;
    agora_local::install_crypto_provider();
    let response = reqwest::get(format!("{http_url}/v1/echo")).await?;

    assert_eq!(response.status(), 200);
    cli.kill().await?;
    Ok(())
}

/// The keys of every stream record `function` received so far.
fn recorded_stream_keys(stack: &LocalStack, record_dir: &Path, function: &str) -> Vec<String> {
    let file = record_dir.join(format!("{}-{function}.jsonl", stack.stack_name()));
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .flat_map(|event| event["Records"].as_array().cloned().unwrap_or_default())
        .filter_map(|record| {
            record["dynamodb"]["Keys"]["PK"]["S"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

/// moto rolls a cancelled `TransactWriteItems` back by swapping in a copy of the whole
/// table, stream shard included. The shard iterators handed out before stay bound to
/// the discarded shard, which holds the cancelled writes and never gets another
/// record: a pump that kept following `NextShardIterator` delivered those phantom
/// records and then nothing, ever (notifier redeliveries, the feed fan-out benchmark).
#[tokio::test]
async fn a_cancelled_transaction_neither_reaches_nor_stalls_the_stream_pump() -> anyhow::Result<()>
{
    use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem};
    let moto = Moto::from_env_or_start(&common::venv_dir()).await?;
    let records = common::scratch_dir("records")?;
    let stack = spawn(&moto, &records).await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&stack.sdk_config().await);
    let table = stack.table_name().context("table")?.to_owned();
    let key = |pk: &str| {
        [
            ("PK".to_owned(), AttributeValue::S(pk.into())),
            ("SK".to_owned(), AttributeValue::S("A".into())),
        ]
        .into_iter()
        .collect::<std::collections::HashMap<_, _>>()
    };
    let put = |pk: &str| {
        dynamodb
            .put_item()
            .table_name(&table)
            .set_item(Some(key(pk)))
            .send()
    };
    put("before").await?;
    wait_for_event(&stack, &records, "StreamFunction", |e| {
        e["Records"][0]["dynamodb"]["Keys"]["PK"]["S"] == "before"
    })
    .await?;

    // A Put, then a condition that fails: the whole transaction is cancelled.
    let cancelled = dynamodb
        .transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&table)
                        .set_item(Some(key("cancelled")))
                        .build()?,
                )
                .build(),
        )
        .transact_items(
            TransactWriteItem::builder()
                .condition_check(
                    ConditionCheck::builder()
                        .table_name(&table)
                        .set_key(Some(key("missing")))
                        .condition_expression("attribute_exists(PK)")
                        .build()?,
                )
                .build(),
        )
        .send()
        .await;
    assert!(cancelled.is_err(), "the transaction must be cancelled");
    put("after").await?;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let keys = loop {
        let keys = recorded_stream_keys(&stack, &records, "StreamFunction");
        if keys.iter().any(|k| k == "after") || tokio::time::Instant::now() > deadline {
            break keys;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    stack.shutdown().await;
    assert_eq!(
        keys,
        ["before", "after"],
        "records delivered in order, once"
    );
    Ok(())
}
