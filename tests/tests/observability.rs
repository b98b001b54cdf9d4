//! Observability and secrets through the local stack: functions print CloudWatch
//! embedded-metric-format records (namespace `Agora`) among their log lines, and their
//! environment holds only the ids of secrets, whose values they read from Secrets
//! Manager once per execution environment.

use std::time::Duration;

use agora_tests::{
    JWT_SECRET, TestStack, new_user, repo_root, spawn, spawn_with, token_for, unique_handle,
};
use serde_json::{Value, json};

/// The embedded-metric-format records in a function's log (`target/test-logs`).
fn metric_records(stack: &TestStack, function: &str) -> Vec<Value> {
    let log = repo_root()
        .join("target/test-logs")
        .join(stack.stack.stack_name())
        .join(format!("{function}.log"));
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|record| record.get("_aws").is_some())
        .collect()
}

/// Waits until `function` logged a record of `operation` carrying `metric`.
async fn metric_record(
    stack: &TestStack,
    function: &str,
    operation: &str,
    metric: &str,
) -> anyhow::Result<Value> {
    stack
        .eventually(
            &format!("{metric} of {operation} in {function}"),
            || async {
                Ok(metric_records(stack, function)
                    .into_iter()
                    .find(|r| r["Operation"] == operation && r.get(metric).is_some()))
            },
        )
        .await
}

fn declares(record: &Value, metric: &str) -> bool {
    let directive = &record["_aws"]["CloudWatchMetrics"][0];
    directive["Namespace"] == "Agora"
        && directive["Dimensions"] == json!([["Function", "Operation"]])
        && directive["Metrics"]
            .as_array()
            .is_some_and(|m| m.contains(&json!({ "Name": metric, "Unit": "Count" })))
}

#[tokio::test]
async fn an_api_call_logs_its_dynamodb_request_count_as_an_embedded_metric_of_its_route()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let user = new_user("metrics");

    let reply = stack.get("/v1/me", &user).await?;

    assert_eq!(reply.status, 404, "no profile yet: {reply:?}");
    let record =
        metric_record(&stack, "ProfilesFunction", "GET /v1/me", "DynamoDbRequests").await?;
    assert!(declares(&record, "DynamoDbRequests"), "{record}");
    assert!(
        record["DynamoDbRequests"].as_u64().is_some_and(|n| n >= 1),
        "{record}"
    );
    assert!(
        record["Function"]
            .as_str()
            .is_some_and(|f| f.ends_with("ProfilesFunction")),
        "{record}"
    );
    assert!(record["_aws"]["Timestamp"].as_i64().is_some_and(|t| t > 0));
    Ok(())
}

#[tokio::test]
async fn a_moderated_profile_logs_its_verdict_as_an_embedded_metric() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let user = new_user("verdict");
    let handle = unique_handle("verdict");

    stack
        .create_profile(
            &user,
            json!({
                "handle": handle,
                "displayName": "Vera Lima",
                "bio": "I teach Rust to finance people.",
                "headline": "Data engineer",
            }),
        )
        .await?;

    let record = metric_record(
        &stack,
        "ModerationWorkerFunction",
        "ModerateProfile",
        "CleanVerdicts",
    )
    .await?;
    assert!(declares(&record, "CleanVerdicts"), "{record}");
    assert_eq!(record["CleanVerdicts"], 1);
    Ok(())
}

#[tokio::test]
async fn functions_get_secret_ids_not_secret_values_in_their_environment() -> anyhow::Result<()> {
    let stack = spawn().await?;

    let model = stack.stack.model();
    let profiles = model
        .functions
        .iter()
        .find(|f| f.logical_id == "ProfilesFunction")
        .ok_or_else(|| anyhow::anyhow!("no ProfilesFunction"))?;

    for function in &model.functions {
        assert!(
            function
                .environment
                .values()
                .all(|v| !v.contains(JWT_SECRET)),
            "{} has the JWT key in its environment",
            function.logical_id
        );
    }
    let cursor_id = &profiles.environment["CURSOR_SECRET_ID"];
    assert!(
        cursor_id.starts_with("arn:aws:secretsmanager:"),
        "{cursor_id}"
    );
    assert!(
        profiles.environment["JWT_HS256_SECRET_ID"].ends_with("/jwt-hs256"),
        "the template passes the secret's name"
    );
    // The functions read both secrets (when first needed): a
    // call that verifies a token and answers with a sealed cursor works.
    let reply = tokio::time::timeout(
        Duration::from_secs(20),
        stack.get("/v1/profiles?q=vera&limit=2", &new_user("reader")),
    )
    .await??;
    assert_eq!(reply.status, 200, "{reply:?}");
    Ok(())
}

#[tokio::test]
async fn a_function_whose_secret_cannot_be_read_answers_500_naming_the_variable_and_serves_once_it_exists()
-> anyhow::Result<()> {
    // The template names an HS256 key that nobody created.
    let stack = spawn_with(|options| options.secrets.clear()).await?;

    let refused = stack.get("/v1/me", &new_user("nokey")).await?;

    assert_eq!(refused.status, 500, "{refused:?}");
    assert_eq!(
        refused.content_type, "application/problem+json",
        "{refused:?}"
    );
    let log = std::fs::read_to_string(
        repo_root()
            .join("target/test-logs")
            .join(stack.stack.stack_name())
            .join("ProfilesFunction.log"),
    )?;
    assert!(
        log.contains("JWT_HS256_SECRET_ID") && log.contains("/jwt-hs256"),
        "the failed read names the variable and the secret: {log}"
    );

    // The operator creates the secret: a failed read is not kept, so the next request
    // reads it and is served.
    let secrets = aws_sdk_secretsmanager::Client::new(&stack.stack.sdk_config().await);
    secrets
        .create_secret()
        .name(format!("{}/jwt-hs256", stack.stack.stack_name()))
        .secret_string(JWT_SECRET)
        .send()
        .await?;
    let served = stack.get("/v1/me", &new_user("nokey")).await?;
    assert_eq!(
        served.status, 404,
        "verified, with no profile yet: {served:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_feed_fan_out_logs_the_connection_pages_it_used_as_an_embedded_metric()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bea) = (new_user("fanout"), new_user("follower"));
    stack.connect_directly(&bea, &ana).await?;

    stack
        .post_created(
            "/v1/activities",
            &ana,
            json!({"verb": "share", "visibility": "connections", "text": "hello"}),
        )
        .await?;

    let record = metric_record(&stack, "StreamFanoutFunction", "FeedFanout", "FanoutPages").await?;
    assert!(declares(&record, "FanoutPages"), "{record}");
    assert!(
        record["FanoutPages"].as_u64().is_some_and(|n| n >= 1),
        "{record}"
    );
    Ok(())
}

#[tokio::test]
async fn a_push_to_open_sockets_logs_its_deliveries_as_an_embedded_metric() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bo) = (new_user("pusher"), new_user("listener"));
    for (user, name) in [(&ana, "Ana Lima"), (&bo, "Bo Silva")] {
        stack
            .create_profile(
                user,
                json!({"handle": unique_handle("push"), "displayName": name}),
            )
            .await?;
    }
    let url = format!("{}?token={}", stack.websocket_url(), token_for(&bo));
    let (_socket, _) = tokio::time::timeout(
        Duration::from_secs(20),
        tokio_tungstenite::connect_async(url),
    )
    .await??;

    let sent = stack
        .post("/v1/connections/requests", &ana, json!({"userId": bo}))
        .await?;

    assert_eq!(sent.status, 201, "{sent:?}");
    let record = metric_record(&stack, "NotifierFunction", "Broadcast", "Deliveries").await?;
    for metric in ["Deliveries", "GoneConnections", "FailedPosts"] {
        assert!(declares(&record, metric), "{metric}: {record}");
    }
    assert_eq!(record["Deliveries"], 1, "{record}");
    assert_eq!(record["GoneConnections"], 0, "{record}");
    Ok(())
}
