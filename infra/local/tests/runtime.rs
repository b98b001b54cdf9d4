//! The emulated Lambda Runtime API, driven by a real `lambda_runtime` binary.

mod common;

use std::time::Duration;

use agora_local::model::{Invoke, InvokeError};
use common::{TEST_TIMEOUT, echo_function, host, model};
use serde_json::json;
use tokio::time::timeout;

#[tokio::test]
async fn an_invocation_returns_the_response_with_lambdas_context_and_environment()
-> anyhow::Result<()> {
    let model = model(vec![echo_function("Echo", 5, &[])]);
    let host = host(&model, 2, None)?;

    let response = timeout(TEST_TIMEOUT, host.invoke("Echo", json!({"hello": "world"}))).await??;

    assert_eq!(response["event"], json!({"hello": "world"}));
    let context = &response["context"];
    assert_eq!(
        context["invokedFunctionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:test-Echo"
    );
    assert_eq!(context["requestId"].as_str().map(str::len), Some(36));
    assert!(
        context["traceId"]
            .as_str()
            .is_some_and(|t| t.starts_with("Root=1-"))
    );
    let env = &response["env"];
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "test-Echo");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(env["AWS_REGION"], "us-east-1");
    assert_eq!(env["GREETING"], "hello", "the template's environment");
    assert_eq!(env["OVERRIDDEN"], "yes", "the stack's overrides");
    assert!(
        env["AWS_LAMBDA_RUNTIME_API"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:"))
    );
    host.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_handler_error_is_a_function_error_and_the_environment_is_reused() -> anyhow::Result<()> {
    let model = model(vec![echo_function("Echo", 5, &[])]);
    let host = host(&model, 1, None)?;
    let first = timeout(TEST_TIMEOUT, host.invoke("Echo", json!({}))).await??;

    let failed = timeout(TEST_TIMEOUT, host.invoke("Echo", json!({"fail": true}))).await?;
    let after = timeout(TEST_TIMEOUT, host.invoke("Echo", json!({}))).await??;

    match failed {
        Err(InvokeError::FunctionError { error_message, .. }) => {
            assert_eq!(error_message, "asked to fail")
        }
        other => panic!("expected a function error, got {other:?}"),
    }
    assert_eq!(
        first["pid"], after["pid"],
        "a handled error keeps the process"
    );
    host.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_slow_invocation_times_out_and_its_environment_is_replaced() -> anyhow::Result<()> {
    let model = model(vec![echo_function("Echo", 1, &[])]);
    let host = host(&model, 1, None)?;
    let before = timeout(TEST_TIMEOUT, host.invoke("Echo", json!({}))).await??;

    let slow = timeout(TEST_TIMEOUT, host.invoke("Echo", json!({"sleepMs": 5000}))).await?;
    let after = timeout(TEST_TIMEOUT, host.invoke("Echo", json!({}))).await??;

    assert!(matches!(slow, Err(InvokeError::Timeout(1))), "{slow:?}");
    assert_ne!(
        before["pid"], after["pid"],
        "the timed-out process was replaced"
    );
    host.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_process_that_dies_mid_invocation_is_a_runtime_error_and_is_replaced()
-> anyhow::Result<()> {
    let model = model(vec![echo_function("Echo", 5, &[])]);
    let host = host(&model, 1, None)?;

    let crashed = timeout(TEST_TIMEOUT, host.invoke("Echo", json!({"crash": true}))).await?;
    let after = timeout(TEST_TIMEOUT, host.invoke("Echo", json!({"ok": 1}))).await??;

    assert!(
        matches!(crashed, Err(InvokeError::Runtime(_))),
        "{crashed:?}"
    );
    assert_eq!(after["event"], json!({"ok": 1}));
    host.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn concurrent_invocations_start_environments_lazily_up_to_the_limit() -> anyhow::Result<()> {
    let model = model(vec![echo_function("Echo", 10, &[])]);
    let host = host(&model, 2, None)?;
    timeout(TEST_TIMEOUT, host.invoke("Echo", json!({}))).await??;
    assert_eq!(
        host.running_environments("Echo"),
        1,
        "one environment until there is contention"
    );

    let calls = (0..5).map(|i| host.invoke("Echo", json!({"sleepMs": 300, "i": i})));
    let results = timeout(TEST_TIMEOUT, futures_util::future::join_all(calls)).await?;

    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(host.running_environments("Echo"), 2);
    host.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn function_output_goes_to_the_log_directory() -> anyhow::Result<()> {
    let dir = common::scratch_dir("logs")?;
    let model = model(vec![echo_function("Echo", 5, &[])]);
    let host = host(&model, 1, Some(&dir))?;

    let response = timeout(TEST_TIMEOUT, host.invoke("Echo", json!({}))).await??;

    let request_id = response["context"]["requestId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let log = dir.join("Echo.log");
    let logged = timeout(TEST_TIMEOUT, async {
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains(&format!("echo-function handling {request_id}")) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await?;
    assert!(logged.contains(&format!("START RequestId: {request_id}")));
    host.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn an_unknown_function_and_a_missing_binary_are_reported() -> anyhow::Result<()> {
    let model_ok = model(vec![echo_function("Echo", 5, &[])]);
    let host = host(&model_ok, 1, None)?;

    let unknown = host.invoke("Nope", json!({})).await;

    assert!(matches!(unknown, Err(InvokeError::UnknownFunction(_))));
    let mut missing = echo_function("Missing", 5, &[]);
    missing.binary = "no-such-binary".to_owned();
    let options = agora_local::model::RuntimeOptions {
        binaries_dir: common::binaries_dir(),
        max_concurrency_per_function: 1,
        environment_overrides: Default::default(),
    };
    let error = agora_local::runtime::FunctionHost::new(&model(vec![missing]), &options, None)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("no-such-binary"), "{error}");
    Ok(())
}

#[tokio::test]
async fn an_idle_environment_that_died_is_replaced_transparently() -> anyhow::Result<()> {
    let model = model(vec![echo_function("Echo", 5, &[])]);
    let host = host(&model, 1, None)?;
    let first = timeout(TEST_TIMEOUT, host.invoke("Echo", json!({}))).await??;
    let pid = first["pid"].as_u64().unwrap_or_default().to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-9", &pid])
        .status()
        .await?;
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(100)).await;

    let second = timeout(TEST_TIMEOUT, host.invoke("Echo", json!({"again": true}))).await??;

    assert_eq!(second["event"], json!({"again": true}));
    assert_ne!(second["pid"], first["pid"]);
    host.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_function_that_fails_to_initialise_is_a_runtime_error() -> anyhow::Result<()> {
    let mut function = echo_function("Echo", 5, &[]);
    function
        .environment
        .insert("ECHO_FAIL_INIT".to_owned(), "1".to_owned());
    let host = host(&model(vec![function]), 1, None)?;

    let result = timeout(TEST_TIMEOUT, host.invoke("Echo", json!({}))).await?;

    match result {
        Err(InvokeError::Runtime(message)) => assert!(message.contains("exited"), "{message}"),
        other => panic!("expected a runtime error, got {other:?}"),
    }
    Ok(())
}
