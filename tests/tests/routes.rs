//! Routes from one source: the template's HTTP API routes are exactly the OpenAPI
//! document's operations, and a request no route takes answers problem+json through the
//! `$default` route, as API Gateway routes it.

use std::collections::BTreeSet;

use agora_local::StackModel;
use agora_local::http_api::RouteTable;
use agora_local::template::{ResolveContext, Template};
use agora_tests::{
    assert_problem, new_user, repo_root, spawn, spawn_with, token_for, unique_handle,
};
use reqwest::Method;
use serde_json::{Value, json};

/// The template resolved without provisioning anything: its required parameters, and
/// the queues', stream's and secrets' physical ids get placeholders, which do not
/// matter to routes.
fn resolve(template: &Template) -> anyhow::Result<StackModel> {
    let mut context = ResolveContext::new("routes");
    for name in ["JwtIssuer", "JwtAudience", "JwtHs256SecretName"] {
        context
            .parameter_overrides
            .insert(name.to_owned(), "x".to_owned());
    }
    let storage = template.storage(&context)?;
    for secret in storage.secrets {
        context.facts.secret_arns.insert(
            secret.logical_id.clone(),
            format!("arn:secret:{}", secret.logical_id),
        );
    }
    for queue in storage.queues {
        let facts = &mut context.facts;
        facts.queue_urls.insert(
            queue.logical_id.clone(),
            format!("http://queue/{}", queue.logical_id),
        );
        facts.queue_arns.insert(
            queue.logical_id.clone(),
            format!("arn:queue:{}", queue.logical_id),
        );
    }
    for table in storage.tables {
        context.facts.table_stream_arns.insert(
            table.logical_id.clone(),
            format!("arn:stream:{}", table.logical_id),
        );
    }
    Ok(template.resolve(&context)?)
}

/// Every `METHOD /path` of the template's HttpApi events, and whether `$default` is
/// one of them (and on which function).
fn template_routes() -> anyhow::Result<(BTreeSet<String>, Vec<String>)> {
    let template = Template::from_path(&repo_root().join("template.yaml"))?;
    let model = resolve(&template)?;
    let mut routes = BTreeSet::new();
    let mut default_on = Vec::new();
    for function in &model.functions {
        for route in &function.http_routes {
            if route.path == "$default" {
                default_on.push(function.logical_id.clone());
            } else {
                routes.insert(format!("{} {}", route.method, route.path));
            }
        }
    }
    Ok((routes, default_on))
}

/// Every `METHOD /path` of the document.
fn document_operations() -> anyhow::Result<BTreeSet<String>> {
    let document = serde_json::to_value(agora::edge::openapi::document())?;
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
            if item.get(method).is_some() {
                operations.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    Ok(operations)
}

#[test]
fn every_template_route_is_a_documented_operation_and_every_operation_a_route() -> anyhow::Result<()>
{
    let (routes, _) = template_routes()?;

    let operations = document_operations()?;

    let undocumented: Vec<_> = routes.difference(&operations).collect();
    let unrouted: Vec<_> = operations.difference(&routes).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "template.yaml and the OpenAPI document differ (path parameter names included).\n\
         In the template only: {undocumented:?}\nIn the document only: {unrouted:?}"
    );
    Ok(())
}

#[test]
fn the_default_route_goes_to_the_health_function_only() -> anyhow::Result<()> {
    let (_, default_on) = template_routes()?;

    assert_eq!(default_on, vec!["HealthFunction".to_owned()]);
    Ok(())
}

#[test]
fn the_local_http_api_routes_unmatched_requests_of_the_template_to_default() -> anyhow::Result<()> {
    let template = Template::from_path(&repo_root().join("template.yaml"))?;
    let model = resolve(&template)?;
    let table = RouteTable::new(&model.functions);
    let find = |method: &str, path: &str| {
        table
            .find(method, path)
            .map(|m| (m.function_logical_id, m.route_key))
    };

    assert_eq!(
        find("GET", "/v1/me"),
        Some(("ProfilesFunction".into(), "GET /v1/me".into()))
    );
    assert_eq!(
        find("PUT", "/v1/me"),
        Some(("HealthFunction".into(), "$default".into()))
    );
    assert_eq!(
        find("GET", "/v1/nowhere"),
        Some(("HealthFunction".into(), "$default".into()))
    );
    Ok(())
}

async fn send(
    stack: &agora_tests::TestStack,
    method: Method,
    path: &str,
) -> anyhow::Result<(reqwest::header::HeaderMap, agora_tests::Reply)> {
    agora_local::install_crypto_provider();
    let response = reqwest::Client::new()
        .request(method, stack.url(path))
        .bearer_auth(token_for(&new_user("routes")))
        .send()
        .await?;
    let headers = response.headers().clone();
    let status = response.status().as_u16();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await?;
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok((
        headers,
        agora_tests::Reply {
            status,
            content_type,
            body,
        },
    ))
}

#[tokio::test]
async fn an_unknown_path_is_a_problem_json_404_not_the_gateways_message() -> anyhow::Result<()> {
    let stack = spawn().await?;

    let (_, nowhere) = send(&stack, Method::GET, "/v1/nowhere").await?;
    let (_, root) = send(&stack, Method::POST, "/").await?;
    let (_, trailing) = send(&stack, Method::GET, "/v1/me/").await?;

    for reply in [&nowhere, &root, &trailing] {
        assert_problem(reply, 404, None);
        assert_eq!(reply.body["type"], "/problems/not-found");
        assert!(reply.body.get("message").is_none(), "{reply:?}");
    }
    Ok(())
}

#[tokio::test]
async fn a_known_path_with_another_method_is_a_405_naming_the_allowed_ones() -> anyhow::Result<()> {
    let stack = spawn().await?;

    let (me_headers, me) = send(&stack, Method::PUT, "/v1/me").await?;
    let (health_headers, health) = send(&stack, Method::POST, "/v1/health").await?;
    let (room_headers, room) = send(&stack, Method::DELETE, "/v1/rooms/r1").await?;

    assert_problem(&me, 405, None);
    assert_eq!(me_headers["allow"], "GET, DELETE, PATCH");
    assert_problem(&health, 405, None);
    assert_eq!(health_headers["allow"], "GET");
    assert_problem(&room, 405, None);
    assert_eq!(room_headers["allow"], "GET, PATCH");
    assert_eq!(room.body["detail"], "this resource allows GET, PATCH");
    Ok(())
}

#[tokio::test]
async fn the_openapi_document_is_served_without_a_token() -> anyhow::Result<()> {
    let stack = spawn().await?;

    let reply = stack
        .call(Method::GET, "/v1/openapi.json", None, None)
        .await?;

    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.content_type, "application/json");
    assert_eq!(
        reply.body,
        serde_json::to_value(agora::edge::openapi::document())?
    );
    Ok(())
}

/// Waits until `user`'s first page of `path` (one item) carries a next cursor.
async fn next_cursor_of(
    stack: &agora_tests::TestStack,
    path: &str,
    user: &str,
) -> anyhow::Result<String> {
    stack
        .eventually(&format!("a second page of {path} for {user}"), || async {
            let page = stack.get(path, user).await?;
            Ok(page.body["nextCursor"].as_str().map(str::to_owned))
        })
        .await
}

#[tokio::test]
async fn another_users_cursor_is_a_400_naming_the_cursor_on_every_listing() -> anyhow::Result<()> {
    let stack = spawn().await?;
    let (ana, bea, cy) = (new_user("ana"), new_user("bea"), new_user("cy"));
    stack.connect_directly(&ana, &bea).await?;
    stack.connect_directly(&ana, &cy).await?;
    stack.connect_directly(&bea, &cy).await?;
    for text in ["first", "second"] {
        stack
            .post_created(
                "/v1/activities",
                &ana,
                serde_json::json!({"verb": "share", "text": text}),
            )
            .await?;
    }
    for other in [&bea, &cy] {
        let dm = stack
            .post("/v1/rooms/dm", &ana, serde_json::json!({"userId": other}))
            .await?;
        anyhow::ensure!(dm.status == 201, "dm: {dm:?}");
    }
    let listings = [
        "/v1/feed?limit=1",
        "/v1/rooms?limit=1",
        "/v1/presence?limit=1",
        "/v1/connections?limit=1",
    ];

    for listing in listings {
        let anas = next_cursor_of(&stack, listing, &ana).await?;
        let replayed = stack.get(&format!("{listing}&cursor={anas}"), &bea).await?;
        let own = stack.get(&format!("{listing}&cursor={anas}"), &ana).await?;

        assert_problem(&replayed, 400, Some("cursor"));
        assert_eq!(own.status, 200, "{listing}: {own:?}");
    }
    Ok(())
}

/// A write of `user`'s that any user may make: their notification preferences.
async fn write_preferences(
    stack: &agora_tests::TestStack,
    user: &str,
) -> anyhow::Result<reqwest::Response> {
    Ok(stack
        .http
        .put(stack.url("/v1/notifications/preferences"))
        .bearer_auth(token_for(user))
        .json(&json!({"muted": []}))
        .send()
        .await?)
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn writes_past_a_users_limit_get_429_with_retry_after_and_ratelimit_headers()
-> anyhow::Result<()> {
    // An hour's window, so the four writes never straddle a window's end.
    let stack = spawn_with(|options| {
        options
            .parameter_overrides
            .insert("WriteRateLimit".into(), "3/3600".into());
    })
    .await?;
    let (ana, bo) = (new_user("ana"), new_user("bo"));

    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(write_preferences(&stack, &ana).await?);
    }
    let others = write_preferences(&stack, &bo).await?;
    let read = stack.get("/v1/notifications", &ana).await?;
    let other_group = stack
        .post(
            "/v1/profiles",
            &ana,
            json!({"handle": unique_handle("ana"), "displayName": "Ana"}),
        )
        .await?;

    let statuses: Vec<u16> = answers.iter().map(|a| a.status().as_u16()).collect();
    assert_eq!(statuses, [200, 200, 200, 429]);
    for answer in &answers {
        assert_eq!(
            header(answer, "ratelimit-policy"),
            "\"notifications\";q=3;w=3600"
        );
    }
    let remaining: Vec<String> = answers
        .iter()
        .map(|a| {
            header(a, "ratelimit")
                .split(';')
                .nth(1)
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(remaining, ["r=2", "r=1", "r=0", "r=0"]);
    let refused = answers.pop().ok_or_else(|| anyhow::anyhow!("no answers"))?;
    let retry_after: u64 = header(&refused, "retry-after").parse()?;
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
    assert!(header(&refused, "ratelimit").ends_with(&format!("t={retry_after}")));
    assert_eq!(header(&refused, "content-type"), "application/problem+json");
    let problem: Value = refused.json().await?;
    assert_eq!(problem["type"], "/problems/rate-limited");
    assert_eq!(others.status().as_u16(), 200, "the limit is per user");
    assert_eq!(read.status, 200, "reads are not counted");
    assert_eq!(
        other_group.status, 201,
        "each endpoint group counts apart: {other_group:?}"
    );
    Ok(())
}
