//! IAM through the local stack: every AWS call a function makes is held to the role SAM
//! generates for it from `template.yaml`, and a refusal looks as it does in AWS.

use std::path::{Path, PathBuf};

use agora_local::iam::{USAGE_FILE, UsageRecord};
use agora_tests::{
    TestStack, assert_problem, new_user, repo_root, spawn, spawn_with, unique_handle,
};
use aws_sdk_dynamodb::error::ProvideErrorMetadata as _;
use aws_sdk_dynamodb::types::AttributeValue;
use reqwest::Method;
use serde_json::json;

/// A user with a public profile.
async fn member(stack: &TestStack, name: &str) -> anyhow::Result<String> {
    let user = new_user(name);
    stack
        .create_profile(
            &user,
            json!({
                "handle": unique_handle(name),
                "displayName": format!("{name} Tester"),
                "privacy": {"profileVisibility": "public"},
            }),
        )
        .await?;
    Ok(user)
}

/// An `@connections` client that signs as `function`.
async fn connections_client_as(
    stack: &TestStack,
    function: &str,
) -> aws_sdk_apigatewaymanagement::Client {
    let config =
        aws_sdk_apigatewaymanagement::config::Builder::from(&stack.sdk_config_as(function).await)
            .endpoint_url(stack.connections_url())
            .build();
    aws_sdk_apigatewaymanagement::Client::from_conf(config)
}

/// The export bucket's name, as the functions see it.
fn export_bucket(stack: &TestStack) -> String {
    stack
        .stack
        .model()
        .functions
        .iter()
        .find_map(|f| f.environment.get("EXPORT_BUCKET").cloned())
        .unwrap_or_default()
}

/// `template.yaml` with one line of one function's resource removed, written to a
/// fresh file.
fn template_without(function: &str, line: &str) -> anyhow::Result<PathBuf> {
    let text = std::fs::read_to_string(repo_root().join("template.yaml"))?;
    let start = text
        .find(&format!("\n  {function}:\n"))
        .ok_or_else(|| anyhow::anyhow!("no {function} in the template"))?;
    let offset = text[start..]
        .find(&format!("\n{line}\n"))
        .ok_or_else(|| anyhow::anyhow!("no {line:?} in {function}"))?;
    let at = start + offset;
    let modified = format!("{}{}", &text[..at], &text[at + 1 + line.len()..]);
    let dir = repo_root()
        .join("target/test-templates")
        .join(ulid::Ulid::new().to_string());
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("template.yaml");
    std::fs::write(&path, modified)?;
    Ok(path)
}

/// A log directory outside `target/test-logs`, for stacks whose IAM records are not
/// the suite's (deliberate refusals, modified roles).
fn probe_log_dir() -> PathBuf {
    repo_root()
        .join("target/test-logs-iam-probes")
        .join(ulid::Ulid::new().to_string())
}

/// The usage records of a stack's log directory.
fn usage_records(log_dir: &Path) -> anyhow::Result<Vec<UsageRecord>> {
    let text = std::fs::read_to_string(log_dir.join(USAGE_FILE))?;
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect())
}

#[tokio::test]
async fn a_call_the_role_does_not_allow_is_refused_as_each_service_refuses_it() -> anyhow::Result<()>
{
    // Its refusals are deliberate: kept out of the suite's used-versus-granted report.
    let stack = spawn_with(|options| options.log_dir = Some(probe_log_dir())).await?;
    let table = stack.table();
    let as_connections = stack.sdk_config_as("ConnectionsFunction").await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&as_connections);
    let sqs = aws_sdk_sqs::Client::new(&as_connections);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&as_connections)
            .force_path_style(true)
            .build(),
    );
    let moderation_queue = stack
        .stack
        .queue_url("ModerationQueue")
        .unwrap_or_default()
        .to_owned();

    let granted = dynamodb
        .get_item()
        .table_name(&table)
        .key("PK", AttributeValue::S("USER#nobody".into()))
        .key("SK", AttributeValue::S("PROFILE".into()))
        .send()
        .await;
    let scan = dynamodb.scan().table_name(&table).send().await;
    let send = sqs
        .send_message()
        .queue_url(&moderation_queue)
        .message_body("{}")
        .send()
        .await;
    let read = s3
        .get_object()
        .bucket(export_bucket(&stack))
        .key("exports/u/x.json")
        .send()
        .await;
    let post = connections_client_as(&stack, "ConnectionsFunction")
        .await
        .post_to_connection()
        .connection_id("c0nnect10n=")
        .data(aws_sdk_apigatewaymanagement::primitives::Blob::new("{}"))
        .send()
        .await;
    let post_as_fanout = connections_client_as(&stack, "StreamFanoutFunction")
        .await
        .post_to_connection()
        .connection_id("c0nnect10n=")
        .data(aws_sdk_apigatewaymanagement::primitives::Blob::new("{}"))
        .send()
        .await;

    assert!(granted.is_ok(), "GetItem is granted: {granted:?}");
    let scan = scan.expect_err("Scan is not granted");
    assert_eq!(scan.code(), Some("AccessDeniedException"), "{scan:?}");
    assert_eq!(scan.raw_response().map(|r| r.status().as_u16()), Some(400));
    let message = scan.message().unwrap_or_default();
    assert!(
        message.contains("is not authorized to perform: dynamodb:Scan on resource: arn:aws:dynamodb:us-east-1:123456789012:table/")
            && message.contains(&table)
            && message.contains("assumed-role/"),
        "names the action, the table and the role: {message}"
    );
    let send = send.expect_err("SendMessage is not granted");
    assert_eq!(send.code(), Some("AccessDenied"), "{send:?}");
    assert_eq!(send.raw_response().map(|r| r.status().as_u16()), Some(403));
    let read = read.expect_err("GetObject is not granted");
    assert_eq!(read.code(), Some("AccessDenied"), "{read:?}");
    assert_eq!(read.raw_response().map(|r| r.status().as_u16()), Some(403));
    let post = post.expect_err("ManageConnections is not granted");
    assert!(
        post.as_service_error()
            .is_some_and(|e| e.is_forbidden_exception()),
        "{post:?}"
    );
    let gone = post_as_fanout.expect_err("no such connection");
    assert!(
        gone.as_service_error()
            .is_some_and(|e| e.is_gone_exception()),
        "a granted post reaches the API and finds no connection: {gone:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_function_whose_role_lacks_a_grant_fails_and_the_refusal_is_recorded()
-> anyhow::Result<()> {
    let template = template_without("ConnectionsFunction", "                - dynamodb:Query")?;
    let log_dir = probe_log_dir();
    let stack = spawn_with(|options| {
        options.template_path = template;
        options.log_dir = Some(log_dir.clone());
    })
    .await?;
    let ana = member(&stack, "ana").await?;

    let listed = stack.get("/v1/connections", &ana).await?;

    assert_problem(&listed, 500, None);
    let refused: Vec<UsageRecord> = usage_records(&log_dir)?
        .into_iter()
        .filter(|r| !r.allowed)
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].function, "ConnectionsFunction");
    assert_eq!(refused[0].action, "dynamodb:Query");
    assert!(refused[0].resource.ends_with("-Table"), "{:?}", refused[0]);
    Ok(())
}

#[tokio::test]
async fn a_refused_connections_write_with_an_idempotency_key_answers_its_problem_every_time()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let ana = member(&stack, "ana").await?;
    let bea = member(&stack, "bea").await?;
    let pending = stack
        .post("/v1/connections/requests", &bea, json!({"userId": ana}))
        .await?;
    assert_eq!(pending.status, 201, "{pending:?}");
    // Bea asked Ana: Ana never asked Bea (404), and a second request between them is
    // a conflict (409).
    let accept_nothing = || {
        stack.raw(stack.request_with_idempotency_key(
            Method::POST,
            &format!("/v1/connections/requests/{ana}/accept"),
            &bea,
            "accept-nothing",
        ))
    };
    let request_myself = || {
        stack.raw(
            stack
                .request_with_idempotency_key(
                    Method::POST,
                    "/v1/connections/requests",
                    &ana,
                    "request-myself",
                )
                .json(&json!({"userId": ana})),
        )
    };
    let request_again = || {
        stack.raw(
            stack
                .request_with_idempotency_key(
                    Method::POST,
                    "/v1/connections/requests",
                    &ana,
                    "request-again",
                )
                .json(&json!({"userId": bea})),
        )
    };

    let not_found = accept_nothing().await?;
    let not_found_again = accept_nothing().await?;
    let invalid = request_myself().await?;
    let invalid_again = request_myself().await?;
    let conflict = request_again().await?;
    let conflict_again = request_again().await?;

    assert_problem(&not_found, 404, None);
    assert_problem(&not_found_again, 404, None);
    assert_problem(&invalid, 422, Some("userId"));
    assert_problem(&invalid_again, 422, Some("userId"));
    assert_problem(&conflict, 409, None);
    assert_problem(&conflict_again, 409, None);
    assert_eq!(
        conflict_again.body["detail"], conflict.body["detail"],
        "the same conflict, not an Idempotency-Key still in progress"
    );
    Ok(())
}

#[tokio::test]
async fn a_refused_notifications_write_with_an_idempotency_key_answers_its_problem_every_time()
-> anyhow::Result<()> {
    let stack = spawn().await?;
    let ana = member(&stack, "ana").await?;
    let mark_unknown = || {
        stack.raw(stack.request_with_idempotency_key(
            Method::POST,
            "/v1/notifications/no-such-notification/read",
            &ana,
            "mark-unknown",
        ))
    };
    let bad_preferences = || {
        stack.raw(
            stack
                .request_with_idempotency_key(
                    Method::PUT,
                    "/v1/notifications/preferences",
                    &ana,
                    "bad-preferences",
                )
                .json(&json!({"muted": ["mention", "no-such-type"]})),
        )
    };

    let not_found = mark_unknown().await?;
    let not_found_again = mark_unknown().await?;
    let invalid = bad_preferences().await?;
    let invalid_again = bad_preferences().await?;

    assert_problem(&not_found, 404, None);
    assert_problem(&not_found_again, 404, None);
    assert_problem(&invalid, 400, Some("muted[1]"));
    assert_problem(&invalid_again, 400, Some("muted[1]"));
    Ok(())
}
