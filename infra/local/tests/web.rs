//! The development pages beside the HTTP API (`agora_local::web`): the browser client's
//! static files under `/app/`, `/local/config` and `/local/demo-users`, served on the
//! HTTP API's origin while every other path still goes through the gateway.

mod common;

use std::path::Path;
use std::sync::Arc;

use agora_local::http_api::HttpApiServer;
use agora_local::model::Invoke;
use agora_local::web::{DemoUserToken, LocalPages, router};
use common::{TEST_TIMEOUT, echo_function, host, model, scratch_dir};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

struct Served {
    server: HttpApiServer,
    pages: Arc<LocalPages>,
    client: reqwest::Client,
}

impl Served {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    /// The status code of a GET sent byte for byte (no client-side path normalization).
    async fn raw_status(&self, path: &str) -> anyhow::Result<u16> {
        let mut stream = tokio::net::TcpStream::connect(self.server.local_addr()).await?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        tokio::time::timeout(TEST_TIMEOUT, stream.read_to_end(&mut response)).await??;
        let text = String::from_utf8_lossy(&response);
        let status = text
            .split_whitespace()
            .nth(1)
            .ok_or_else(|| anyhow::anyhow!("no status line in {text:?}"))?;
        Ok(status.parse()?)
    }
}

/// `<scratch>/web/{index.html, app.js, style.css, link -> ../secret.txt}` and
/// `<scratch>/secret.txt`, served with one echo function route.
async fn serve() -> anyhow::Result<Served> {
    let scratch = scratch_dir("web")?;
    let web = scratch.join("web");
    std::fs::create_dir_all(&web)?;
    std::fs::write(web.join("index.html"), "<!doctype html><title>t</title>")?;
    std::fs::write(web.join("app.js"), "console.log('hi');")?;
    std::fs::write(web.join("style.css"), "body {}")?;
    std::fs::write(scratch.join("secret.txt"), "secret")?;
    std::os::unix::fs::symlink(Path::new("../secret.txt"), web.join("link"))?;
    let model = model(vec![echo_function(
        "Items",
        5,
        &[("GET", "/v1/items/{id}")],
    )]);
    let invoker: Arc<dyn Invoke> = host(&model, 1, None)?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let http_url = format!("http://{}", listener.local_addr()?);
    let pages = Arc::new(LocalPages::new(
        Some(&web),
        http_url,
        Some("ws://127.0.0.1:1/dev".to_owned()),
    ));
    let server = HttpApiServer::start_with(listener, &model, invoker, router(Arc::clone(&pages)))?;
    Ok(Served {
        server,
        pages,
        client: {
            agora_local::install_crypto_provider();
            reqwest::Client::builder()
                .timeout(TEST_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()?
        },
    })
}

#[tokio::test]
async fn the_client_is_served_with_content_types_beside_the_gateway() -> anyhow::Result<()> {
    let served = serve().await?;

    let bare = served.client.get(served.url("/app")).send().await?;
    let index = served.client.get(served.url("/app/")).send().await?;
    let script = served.client.get(served.url("/app/app.js")).send().await?;
    let style = served
        .client
        .get(served.url("/app/style.css"))
        .send()
        .await?;
    let api = served.client.get(served.url("/v1/items/1")).send().await?;

    assert_eq!(bare.status(), 308);
    assert_eq!(bare.headers()["location"], "/app/");
    assert_eq!(index.status(), 200);
    assert_eq!(index.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(index.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(style.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(api.status(), 200, "other paths still reach the functions");
    let event: Value = api.json().await?;
    assert_eq!(event["event"]["routeKey"], "GET /v1/items/{id}");
    Ok(())
}

#[tokio::test]
async fn paths_that_leave_the_web_folder_are_not_found() -> anyhow::Result<()> {
    let served = serve().await?;

    let mut statuses = Vec::new();
    for path in [
        "/app/../secret.txt",
        "/app/%2e%2e/secret.txt",
        "/app/..%2fsecret.txt",
        "/app/%2E%2E%2Fsecret.txt",
        "/app/link",
        "/app/.hidden",
        "/app/missing.js",
    ] {
        statuses.push((path, served.raw_status(path).await?));
    }

    for (path, status) in statuses {
        assert_eq!(status, 404, "{path}");
    }
    Ok(())
}

#[tokio::test]
async fn demo_users_and_urls_are_listed_for_the_same_origin_only() -> anyhow::Result<()> {
    let served = serve().await?;
    let before: Value = served
        .client
        .get(served.url("/local/demo-users"))
        .send()
        .await?
        .json()
        .await?;

    served.pages.set_demo_users(vec![DemoUserToken {
        user_id: "demo-ana".to_owned(),
        handle: "ana".to_owned(),
        display_name: "Ana Lima".to_owned(),
        token: "t".to_owned(),
    }]);
    let after = served
        .client
        .get(served.url("/local/demo-users"))
        .header("origin", "http://elsewhere.example")
        .send()
        .await?;
    let config: Value = served
        .client
        .get(served.url("/local/config"))
        .send()
        .await?
        .json()
        .await?;

    assert_eq!(before["items"], serde_json::json!([]));
    assert!(
        after.headers().get("access-control-allow-origin").is_none(),
        "no CORS: other origins cannot read the tokens"
    );
    assert_eq!(after.headers()["cache-control"], "no-store");
    let after: Value = after.json().await?;
    assert_eq!(after["items"][0]["userId"], "demo-ana");
    assert_eq!(after["items"][0]["token"], "t");
    assert_eq!(config["httpApi"], served.server.url());
    assert_eq!(config["webSocket"], "ws://127.0.0.1:1/dev");
    Ok(())
}
