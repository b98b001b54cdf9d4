//! A test-only Lambda function for the local stack's own tests: it runs on the real
//! `lambda_runtime`, so it exercises the emulated Runtime API exactly as Agora's
//! functions do.
//!
//! It echoes its event, the invocation context and its environment. Directives, read
//! from the event itself or from an HTTP event's JSON `body`, change what it does:
//! `{"sleepMs": N}` sleeps first, `{"fail": true}` returns an error, `{"crash": true}`
//! exits the process mid-invocation, `{"respondWith": X}` returns `X` instead of the echo.
//! With `ECHO_FAIL_INIT` set, the process exits before polling for an invocation.
//! With `ECHO_RECORD_DIR` set, every event is also appended as one JSON line to
//! `$ECHO_RECORD_DIR/$AWS_LAMBDA_FUNCTION_NAME.jsonl`, so tests can observe invocations
//! made by pumps and gateways.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    if std::env::var_os("ECHO_FAIL_INIT").is_some() {
        return Err("initialisation failed on purpose".into());
    }
    lambda_runtime::run(service_fn(handle)).await
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    record(&payload)?;
    let directives = directives(&payload);
    println!("echo-function handling {}", context.request_id);
    if let Some(ms) = directives.get("sleepMs").and_then(Value::as_u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if directives.get("crash") == Some(&Value::Bool(true)) {
        std::process::exit(3);
    }
    if directives.get("fail") == Some(&Value::Bool(true)) {
        return Err("asked to fail".into());
    }
    if let Some(response) = directives.get("respondWith") {
        return Ok(response.clone());
    }
    let environment: BTreeMap<String, String> = std::env::vars().collect();
    Ok(json!({
        "event": payload,
        "context": {
            "requestId": context.request_id,
            "invokedFunctionArn": context.invoked_function_arn,
            "deadlineMs": context.deadline,
            "traceId": context.xray_trace_id,
        },
        "env": environment,
        "pid": std::process::id(),
    }))
}

fn record(payload: &Value) -> Result<(), Error> {
    let Some(dir) = std::env::var_os("ECHO_RECORD_DIR") else {
        return Ok(());
    };
    let name = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "echo".into());
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(std::path::Path::new(&dir).join(format!("{name}.jsonl")))?;
    writeln!(file, "{payload}")?;
    Ok(())
}

/// The event itself, or the JSON object in an HTTP event's `body`.
fn directives(payload: &Value) -> Value {
    payload
        .get("body")
        .and_then(Value::as_str)
        .and_then(|body| serde_json::from_str::<Value>(body).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| payload.clone())
}
