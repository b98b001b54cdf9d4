//! The HTTP API emulation, end to end: a real HTTP client, the gateway, the emulated
//! Runtime API and the `echo-function` binary, which returns the event it received.

mod common;

use std::sync::Arc;
use std::time::Duration;

use agora_local::http_api::{HttpApi, HttpApiServer};
use agora_local::model::{CorsSpec, HttpApiSpec, Invoke, StackModel};
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use common::{TEST_TIMEOUT, echo_function, host, model};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::time::timeout;

struct Api {
    server: HttpApiServer,
    client: reqwest::Client,
}

impl Api {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }
}

fn stack_model() -> StackModel {
    let mut model = model(vec![
        echo_function(
            "Items",
            5,
            &[("GET", "/v1/items/{id}"), ("POST", "/v1/items")],
        ),
        echo_function("Slow", 1, &[("POST", "/v1/slow")]),
    ]);
    model.http_api = Some(HttpApiSpec {
        logical_id: "HttpApi".to_owned(),
        cors: Some(CorsSpec {
            allow_origins: vec!["http://localhost:5173".to_owned()],
            allow_methods: vec!["GET".to_owned(), "POST".to_owned()],
            allow_headers: vec!["authorization".to_owned(), "content-type".to_owned()],
            expose_headers: vec!["x-request-id".to_owned()],
            max_age_seconds: Some(600),
        }),
    });
    model
}

async fn start(integration_timeout: Duration) -> anyhow::Result<Api> {
    let model = stack_model();
    let invoker: Arc<dyn Invoke> = host(&model, 2, None)?;
    let api = HttpApi::new(&model, invoker).with_integration_timeout(integration_timeout);
    let server = HttpApiServer::serve(TcpListener::bind("127.0.0.1:0").await?, api)?;
    Ok(Api {
        server,
        client: {
            agora_local::install_crypto_provider();
            reqwest::Client::builder().timeout(TEST_TIMEOUT).build()?
        },
    })
}

async fn json_body(response: reqwest::Response) -> anyhow::Result<Value> {
    Ok(response.json().await?)
}

#[tokio::test]
async fn the_function_receives_api_gateways_payload_v2_event() -> anyhow::Result<()> {
    let api = start(Duration::from_secs(30)).await?;

    let response = timeout(
        TEST_TIMEOUT,
        api.client
            .get(api.url("/v1/items/a%20b?tag=x&tag=y&q=hello%20world"))
            .header("User-Agent", "agora-test")
            .header("X-Custom", "one")
            .header("x-custom", "two")
            .header("Cookie", "session=abc; theme=dark")
            .send(),
    )
    .await??;

    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("apigw-requestid"));
    let event = json_body(response).await?["event"].clone();
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "GET /v1/items/{id}");
    assert_eq!(event["rawPath"], "/v1/items/a%20b");
    assert_eq!(event["rawQueryString"], "tag=x&tag=y&q=hello%20world");
    assert_eq!(
        event["queryStringParameters"],
        json!({"tag": "x,y", "q": "hello world"})
    );
    assert_eq!(event["pathParameters"], json!({"id": "a b"}));
    assert_eq!(event["cookies"], json!(["session=abc", "theme=dark"]));
    assert_eq!(event["headers"]["x-custom"], "one,two");
    assert_eq!(event["headers"]["user-agent"], "agora-test");
    assert!(
        event["headers"].get("cookie").is_none(),
        "cookies move to `cookies`"
    );
    assert_eq!(event["isBase64Encoded"], false);
    assert!(event.get("body").is_none(), "no body, no field");
    let context = &event["requestContext"];
    assert_eq!(context["accountId"], "123456789012");
    assert_eq!(context["stage"], "$default");
    assert_eq!(context["routeKey"], "GET /v1/items/{id}");
    assert_eq!(context["http"]["method"], "GET");
    assert_eq!(context["http"]["path"], "/v1/items/a%20b");
    assert_eq!(context["http"]["protocol"], "HTTP/1.1");
    assert_eq!(context["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(context["http"]["userAgent"], "agora-test");
    assert!(
        context["timeEpoch"]
            .as_i64()
            .is_some_and(|t| t > 1_600_000_000_000)
    );
    assert!(
        context["time"]
            .as_str()
            .is_some_and(|t| t.ends_with(" +0000"))
    );
    let typed: ApiGatewayV2httpRequest = serde_json::from_value(event)?;
    assert_eq!(typed.route_key.as_deref(), Some("GET /v1/items/{id}"));
    Ok(())
}

#[tokio::test]
async fn text_bodies_pass_as_is_and_binary_bodies_as_base64() -> anyhow::Result<()> {
    let api = start(Duration::from_secs(30)).await?;

    let text = api
        .client
        .post(api.url("/v1/items"))
        .body(r#"{"name":"x"}"#)
        .send()
        .await?;
    let binary = api
        .client
        .post(api.url("/v1/items"))
        .body(vec![0xff, 0xfe, 0x00])
        .send()
        .await?;

    let text = json_body(text).await?["event"].clone();
    assert_eq!(text["body"], r#"{"name":"x"}"#);
    assert_eq!(text["isBase64Encoded"], false);
    let binary = json_body(binary).await?["event"].clone();
    assert_eq!(binary["body"], "//4A");
    assert_eq!(binary["isBase64Encoded"], true);
    Ok(())
}

#[tokio::test]
async fn a_structured_function_response_becomes_the_http_response() -> anyhow::Result<()> {
    let api = start(Duration::from_secs(30)).await?;
    let directive = json!({"respondWith": {
        "statusCode": 201,
        "headers": {"content-type": "text/plain", "x-request-id": "r1"},
        "multiValueHeaders": {"x-many": ["a", "b"]},
        "cookies": ["a=1; Path=/", "b=2"],
        "body": "created",
    }});

    let response = api
        .client
        .post(api.url("/v1/items"))
        .body(directive.to_string())
        .send()
        .await?;

    assert_eq!(response.status(), 201);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/plain");
    assert_eq!(headers.get_all("x-many").iter().count(), 2);
    assert_eq!(headers.get_all("set-cookie").iter().count(), 2);
    assert_eq!(response.text().await?, "created");
    Ok(())
}

#[tokio::test]
async fn gateway_errors_have_api_gateways_status_and_message() -> anyhow::Result<()> {
    let api = start(Duration::from_secs(30)).await?;

    let not_found = api.client.get(api.url("/nowhere")).send().await?;
    let failed = api
        .client
        .post(api.url("/v1/items"))
        .body(r#"{"fail":true}"#)
        .send()
        .await?;
    let crashed = api
        .client
        .post(api.url("/v1/items"))
        .body(r#"{"crash":true}"#)
        .send()
        .await?;

    assert_eq!(not_found.status(), 404);
    assert!(not_found.headers().contains_key("apigw-requestid"));
    assert_eq!(json_body(not_found).await?, json!({"message": "Not Found"}));
    assert_eq!(failed.status(), 500);
    assert_eq!(
        json_body(failed).await?,
        json!({"message": "Internal Server Error"})
    );
    assert_eq!(crashed.status(), 500);
    Ok(())
}

#[tokio::test]
async fn a_function_timeout_is_500_and_an_integration_timeout_is_503() -> anyhow::Result<()> {
    let api = start(Duration::from_secs(30)).await?;
    let short = start(Duration::from_millis(300)).await?;
    let sleepy = r#"{"sleepMs": 3000}"#;

    let (function_timeout, integration_timeout) = tokio::join!(
        api.client.post(api.url("/v1/slow")).body(sleepy).send(),
        short
            .client
            .post(short.url("/v1/items"))
            .body(sleepy)
            .send(),
    );

    let function_timeout = function_timeout?;
    assert_eq!(function_timeout.status(), 500);
    assert_eq!(
        json_body(function_timeout).await?,
        json!({"message": "Internal Server Error"})
    );
    let integration_timeout = integration_timeout?;
    assert_eq!(integration_timeout.status(), 503);
    assert_eq!(
        json_body(integration_timeout).await?,
        json!({"message": "Service Unavailable"})
    );
    Ok(())
}

#[tokio::test]
async fn cors_preflight_is_answered_by_the_gateway_and_responses_get_cors_headers()
-> anyhow::Result<()> {
    let api = start(Duration::from_secs(30)).await?;

    let preflight = api
        .client
        .request(reqwest::Method::OPTIONS, api.url("/v1/items"))
        .header("Origin", "http://localhost:5173")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await?;
    let actual = api
        .client
        .get(api.url("/v1/items/1"))
        .header("Origin", "http://localhost:5173")
        .send()
        .await?;
    let foreign = api
        .client
        .get(api.url("/v1/items/1"))
        .header("Origin", "https://evil.example")
        .send()
        .await?;

    assert_eq!(preflight.status(), 204);
    let headers = preflight.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "http://localhost:5173"
    );
    assert_eq!(headers["access-control-allow-methods"], "GET,POST");
    assert_eq!(
        headers["access-control-allow-headers"],
        "authorization,content-type"
    );
    assert_eq!(headers["access-control-max-age"], "600");
    assert_eq!(
        actual.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    assert_eq!(
        actual.headers()["access-control-expose-headers"],
        "x-request-id"
    );
    assert!(
        !foreign
            .headers()
            .contains_key("access-control-allow-origin")
    );
    Ok(())
}

#[tokio::test]
async fn a_request_over_10_mb_is_refused_with_413() -> anyhow::Result<()> {
    let api = start(Duration::from_secs(30)).await?;

    let response = api
        .client
        .post(api.url("/v1/items"))
        .body(vec![b'a'; 10 * 1024 * 1024 + 1])
        .send()
        .await?;

    assert_eq!(response.status(), 413);
    assert_eq!(
        json_body(response).await?,
        json!({"message": "Request Entity Too Large"})
    );
    Ok(())
}
