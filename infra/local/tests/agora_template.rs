//! The repository's own `template.yaml` resolves into the topology the conventions
//! describe (the contract between the template and the local stack).

use std::path::Path;

use agora_local::model::{EventSource, FunctionSpec, StreamSourceSpec};
use agora_local::template::{ResolveContext, Template};

fn template() -> anyhow::Result<Template> {
    Ok(Template::from_path(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml"),
    )?)
}

/// A context with the facts provisioning would return.
fn provisioned(stack: &str, template: &Template) -> anyhow::Result<ResolveContext> {
    let mut ctx = ResolveContext::new(stack);
    ctx.parameter_overrides
        .insert("JwtIssuer".into(), "https://issuer.example".into());
    ctx.parameter_overrides
        .insert("JwtAudience".into(), "agora".into());
    ctx.parameter_overrides
        .insert("JwtHs256SecretName".into(), "agora/jwt-hs256".into());
    let storage = template.storage(&ctx)?;
    for secret in &storage.secrets {
        let arn = format!(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:{}-AbCdEf",
            secret.physical_name
        );
        ctx.facts.secret_arns.insert(secret.logical_id.clone(), arn);
    }
    for queue in &storage.queues {
        let url = format!("http://127.0.0.1:5000/123456789012/{}", queue.physical_name);
        ctx.facts.queue_urls.insert(queue.logical_id.clone(), url);
    }
    for table in &storage.tables {
        let arn = format!(
            "arn:aws:dynamodb:us-east-1:123456789012:table/{}/stream/2024-01-01T00:00:00.000",
            table.physical_name
        );
        ctx.facts
            .table_stream_arns
            .insert(table.logical_id.clone(), arn);
    }
    Ok(ctx)
}

fn stream_source_of(function: &FunctionSpec) -> Option<StreamSourceSpec> {
    function.event_sources.iter().find_map(|s| match s {
        EventSource::DynamoDbStream(s) => Some(s.clone()),
        EventSource::Sqs(_) | EventSource::Schedule(_) => None,
    })
}

#[test]
fn the_agora_template_resolves_into_the_documented_topology() -> anyhow::Result<()> {
    let template = template()?;
    let ctx = provisioned("agora-t", &template)?;

    let model = template.resolve(&ctx)?;

    let table = model
        .tables
        .iter()
        .find(|t| t.logical_id == "Table")
        .expect("Table");
    assert_eq!(table.global_secondary_indexes.len(), 3);
    assert_eq!(table.ttl_attribute.as_deref(), Some("expiresAt"));
    assert_eq!(
        table.stream_view_type.as_deref(),
        Some("NEW_AND_OLD_IMAGES")
    );
    let redrives: Vec<_> = model
        .queues
        .iter()
        .filter_map(|q| q.redrive.clone())
        .collect();
    assert!(redrives.contains(&("ModerationDeadLetterQueue".to_owned(), 5)));
    assert!(redrives.contains(&("SyncDeadLetterQueue".to_owned(), 5)));
    assert!(redrives.contains(&("FeedFanoutDeadLetterQueue".to_owned(), 5)));
    assert!(redrives.contains(&("TopicViewsDeadLetterQueue".to_owned(), 5)));
    let function = |id: &str| {
        model
            .functions
            .iter()
            .find(|f| f.logical_id == id)
            .expect(id)
    };
    // Every function runs the one binary; its Handler (the runtime's _HANDLER) picks it.
    assert!(model.functions.iter().all(|f| f.binary == "agora"));
    assert_eq!(function("HealthFunction").handler, "health");
    assert!(function("ProfilesFunction").http_routes.len() >= 9);
    assert_eq!(function("ConnectionsFunction").handler, "connections");
    assert_eq!(function("ConnectionsFunction").http_routes.len(), 15);
    assert_eq!(function("CommunitiesFunction").handler, "communities");
    assert_eq!(function("CommunitiesFunction").http_routes.len(), 26);
    assert_eq!(function("CoursesFunction").handler, "courses");
    assert_eq!(function("CoursesFunction").http_routes.len(), 22);
    assert_eq!(function("EventsFunction").handler, "events");
    assert_eq!(function("EventsFunction").http_routes.len(), 14);
    assert_eq!(function("ModerationFunction").handler, "moderation");
    assert_eq!(function("ModerationFunction").http_routes.len(), 14);
    let scheduler = function("SchedulerFunction");
    assert_eq!(scheduler.handler, "scheduler");
    assert!(
        matches!(
            scheduler.event_sources.as_slice(),
            [EventSource::Schedule(s)] if s.period == std::time::Duration::from_secs(60)
        ),
        "the scheduler runs every minute: {:?}",
        scheduler.event_sources
    );
    assert_eq!(function("NotificationsFunction").http_routes.len(), 6);
    let notifier = function("NotifierFunction")
        .event_sources
        .iter()
        .find_map(|s| match s {
            EventSource::DynamoDbStream(s) => Some(s.clone()),
            EventSource::Sqs(_) | EventSource::Schedule(_) => None,
        })
        .expect("the notifier's stream source");
    assert_eq!(notifier.filter_patterns.len(), 5, "only what can notify");
    assert_eq!(
        notifier.on_failure_queue_logical_id.as_deref(),
        Some("StreamFailureQueue")
    );
    assert_eq!(function("DiscussionsFunction").handler, "discussions");
    assert_eq!(function("DiscussionsFunction").http_routes.len(), 21);
    assert_eq!(function("FeedFunction").handler, "feed");
    assert_eq!(function("FeedFunction").http_routes.len(), 10);
    let fanout = function("StreamFanoutFunction");
    assert_eq!(fanout.handler, "stream-fanout");
    let fanout_stream = stream_source_of(fanout).expect("the fan-out function's stream source");
    assert_eq!(fanout_stream.table_logical_id, "Table");
    assert_eq!(
        fanout_stream.filter_patterns.len(),
        4,
        "new or changed items, social connections, removed items, removed social connections"
    );
    assert_eq!(fanout_stream.parallelization_factor, 10);
    assert!(
        fanout_stream.report_batch_item_failures && fanout_stream.bisect_batch_on_function_error
    );
    assert_eq!(
        fanout_stream.on_failure_queue_logical_id.as_deref(),
        Some("StreamFailureQueue")
    );
    assert_eq!(fanout.environment["FEED_FANOUT_PAGES_PER_INVOCATION"], "5");
    assert_eq!(
        fanout.environment["FEED_FANOUT_QUEUE_URL"],
        ctx.facts.queue_urls["FeedFanoutQueue"]
    );
    let feed_worker = function("FeedWorkerFunction");
    assert_eq!(feed_worker.handler, "feed-worker");
    assert!(feed_worker.event_sources.iter().any(|s| matches!(
        s,
        EventSource::Sqs(s) if s.queue_logical_id == "FeedFanoutQueue" && s.report_batch_item_failures
    )));
    let views = function("TopicViewsFunction");
    assert_eq!(views.handler, "topic-views");
    assert!(views.event_sources.iter().any(|s| matches!(
        s,
        EventSource::Sqs(s) if s.queue_logical_id == "TopicViewsQueue" && s.report_batch_item_failures
    )));
    assert_eq!(
        function("DiscussionsFunction").environment["TOPIC_VIEWS_QUEUE_URL"],
        ctx.facts.queue_urls["TopicViewsQueue"]
    );
    assert_eq!(
        fanout.environment["MODERATION_QUEUE_URL"],
        ctx.facts.queue_urls["ModerationQueue"]
    );
    let env = &function("ProfilesFunction").environment;
    assert_eq!(env["TABLE_NAME"], table.physical_name);
    assert_eq!(
        env["MODERATION_QUEUE_URL"],
        ctx.facts.queue_urls["ModerationQueue"]
    );
    let sqs = function("ModerationWorkerFunction")
        .event_sources
        .iter()
        .any(|s| matches!(s, EventSource::Sqs(s) if s.queue_logical_id == "ModerationQueue"));
    assert!(sqs);
    let ws = model.websocket_api.as_ref().expect("the WebSocket API");
    assert_eq!(ws.stage, "dev");
    let connect = ws
        .routes
        .iter()
        .find(|r| r.route_key == "$connect")
        .expect("$connect");
    assert_eq!(connect.function_logical_id, "RealtimeFunction");
    let authorizer = connect
        .authorizer
        .as_ref()
        .expect("the $connect authorizer");
    assert_eq!(authorizer.function_logical_id, "WsAuthorizerFunction");
    assert_eq!(
        authorizer.identity_sources,
        ["route.request.querystring.token"]
    );
    for key in ["$disconnect", "$default", "ping"] {
        assert!(ws.routes.iter().any(|r| r.route_key == key), "route {key}");
    }
    Ok(())
}

#[test]
fn at_most_two_event_source_mappings_read_the_table_stream() -> anyhow::Result<()> {
    // Arrange: AWS throttles more than two readers per DynamoDB stream shard.
    let template = template()?;
    let ctx = provisioned("agora-t", &template)?;

    // Act
    let model = template.resolve(&ctx)?;

    // Assert
    let mut readers: Vec<&str> = model
        .functions
        .iter()
        .flat_map(|f| {
            f.event_sources.iter().filter_map(move |s| match s {
                EventSource::DynamoDbStream(s) if s.table_logical_id == "Table" => {
                    Some(f.logical_id.as_str())
                }
                _ => None,
            })
        })
        .collect();
    readers.sort_unstable();
    assert_eq!(readers, ["NotifierFunction", "StreamFanoutFunction"]);
    Ok(())
}

#[test]
fn every_role_resolves_to_local_arns_with_sams_templates_and_own_statements_expanded()
-> anyhow::Result<()> {
    use agora_local::iam::{Authorization, Decision, evaluate};
    let template = template()?;
    let ctx = provisioned("agora-t", &template)?;

    let model = template.resolve(&ctx)?;

    let role = |id: &str| {
        model
            .functions
            .iter()
            .find(|f| f.logical_id == id)
            .map(|f| f.policy.clone())
            .unwrap_or_default()
    };
    let allows = |id: &str, action: &str, resource: &str| {
        matches!(
            evaluate(&role(id), &Authorization::new(action, resource)),
            Decision::Allowed { .. }
        )
    };
    let table = "arn:aws:dynamodb:us-east-1:123456789012:table/agora-t-Table";
    let queue = |name: &str| format!("arn:aws:sqs:us-east-1:123456789012:agora-t-{name}");
    // SQSSendMessagePolicy expands to sqs:SendMessage* on the queue's ARN.
    assert!(allows(
        "StreamFanoutFunction",
        "sqs:SendMessage",
        &queue("ModerationQueue")
    ));
    // SAM grants the stream's on-failure destination, and the stream polling actions.
    assert!(allows(
        "StreamFanoutFunction",
        "sqs:SendMessage",
        &queue("StreamFailureQueue")
    ));
    assert!(allows("NotifierFunction", "dynamodb:GetRecords", "*"));
    assert!(allows(
        "ModerationWorkerFunction",
        "sqs:DeleteMessage",
        &queue("ModerationQueue")
    ));
    assert!(allows(
        "StreamFanoutFunction",
        "sqs:SendMessage",
        &queue("FeedFanoutQueue")
    ));
    assert!(allows(
        "FeedWorkerFunction",
        "dynamodb:BatchWriteItem",
        table
    ));
    assert!(!allows("FeedWorkerFunction", "dynamodb:Query", table));
    // !GetAtt, !Sub and !Ref resolve to this stack's ARNs.
    assert!(allows("WsAuthorizerFunction", "dynamodb:GetItem", table));
    assert!(!allows("WsAuthorizerFunction", "dynamodb:PutItem", table));
    assert!(!allows(
        "WsAuthorizerFunction",
        "dynamodb:GetItem",
        "arn:aws:dynamodb:us-east-1:123456789012:table/other-Table"
    ));
    let api = agora_local::template::local_resource_id("agora-t", "WebSocketApi");
    assert!(allows(
        "RealtimeFunction",
        "execute-api:ManageConnections",
        &format!("arn:aws:execute-api:us-east-1:123456789012:{api}/dev/POST/@connections/abc=")
    ));
    assert!(!allows(
        "NotifierFunction",
        "execute-api:ManageConnections",
        &format!("arn:aws:execute-api:us-east-1:123456789012:{api}/dev/GET/@connections/abc=")
    ));
    Ok(())
}

#[test]
fn the_template_refuses_a_stack_with_no_jwt_verifier_and_has_no_issuer_default()
-> anyhow::Result<()> {
    let template = template()?;
    let mut ctx = provisioned("rules", &template)?;
    ctx.parameter_overrides.remove("JwtHs256SecretName");

    let refused = template.resolve(&ctx).map(|_| ()).unwrap_err().to_string();
    ctx.parameter_overrides.insert(
        "JwtJwksUrl".into(),
        "https://issuer.example/jwks.json".into(),
    );
    let with_jwks = template.resolve(&ctx).map(|_| ());
    ctx.parameter_overrides.remove("JwtIssuer");
    let without_issuer = template.resolve(&ctx).map(|_| ()).unwrap_err().to_string();

    assert!(refused.contains("Rules.JwtVerifier"), "{refused}");
    assert!(with_jwks.is_ok(), "{with_jwks:?}");
    assert!(without_issuer.contains("JwtIssuer"), "{without_issuer}");
    Ok(())
}
