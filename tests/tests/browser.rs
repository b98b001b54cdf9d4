//! The browser client (`web/`, served by the local stack under `/app/`) end to end: two
//! headless Chromium sessions, driven through ChromeDriver over WebDriver, chat through
//! the public HTTP and WebSocket APIs of a local stack.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`/usr/bin/chromium`,
//! `/usr/bin/chromedriver`), which `infra/setup browser` installs and `infra/test` runs.
//! Without them the tests fail: they never skip silently. Everything stays on loopback.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use agora_local::web::DemoUserToken;
use agora_tests::{TestStack, new_user, repo_root, spawn, token_for, token_with_roles};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The longest any single expectation on a page waits.
const WAIT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(100);

/// Chromium's flags for a closed, headless machine: no sandbox (root in CI), no GPU, no
/// background connections to Google's hosts.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1200,800",
];

/// Where screenshots, ChromeDriver's log and the browsers' profiles go.
fn artifacts_dir() -> PathBuf {
    repo_root().join("target/browser-test")
}

/// Fails (never skips) when the browser is not installed.
fn require_browser() -> anyhow::Result<()> {
    for binary in [CHROMIUM, CHROMEDRIVER] {
        anyhow::ensure!(
            Path::new(binary).is_file(),
            "{binary} is missing: the browser test needs Debian's chromium and chromium-driver; \
             run `infra/setup browser` (infra/test does) or `apt-get install chromium chromium-driver`"
        );
    }
    Ok(())
}

/// A ChromeDriver on a free loopback port, stopped when dropped.
struct ChromeDriver {
    process: tokio::process::Child,
    url: String,
}

impl ChromeDriver {
    async fn start(log: &Path) -> anyhow::Result<Self> {
        require_browser()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let log = std::fs::File::create(log)?;
        let process = tokio::process::Command::new(CHROMEDRIVER)
            // Without --allowed-ips it accepts local connections only.
            .arg(format!("--port={port}"))
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()?;
        let driver = Self {
            process,
            url: format!("http://127.0.0.1:{port}"),
        };
        driver.wait_ready().await?;
        Ok(driver)
    }

    /// Polls `GET /status` until ChromeDriver reports ready, within [`WAIT`].
    async fn wait_ready(&self) -> anyhow::Result<()> {
        agora_local::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Ok(response) = http.get(format!("{}/status", self.url)).send().await
                && let Ok(status) = response.json::<Value>().await
                && status["value"]["ready"] == true
            {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not become ready on {} within {WAIT:?}",
                self.url
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// A new headless Chromium session with its own empty profile.
    async fn session(&self, profile: &Path) -> anyhow::Result<Client> {
        std::fs::create_dir_all(profile)?;
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| (*f).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        });
        let Value::Object(capabilities) = capabilities else {
            anyhow::bail!("capabilities are an object");
        };
        let client = tokio::time::timeout(
            WAIT,
            ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities)
                .connect(&self.url),
        )
        .await
        .map_err(|_| anyhow::anyhow!("no Chromium session within {WAIT:?}"))??;
        Ok(client)
    }

    async fn stop(mut self) {
        let _ = self.process.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.process.wait()).await;
    }
}

/// Percent-encodes a URL fragment value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The page on the stack's origin, signed in as `user` through the URL fragment.
fn page_url(stack: &TestStack, user: &str) -> String {
    let api = stack.stack.http_url();
    format!(
        "{api}/app/#token={}&api={}&ws={}",
        encode(&token_for(user)),
        encode(&api),
        encode(&stack.websocket_url())
    )
}

/// Waits (bounded) for an element; the error says what was awaited.
async fn wait_for(page: &Client, what: &str, locator: Locator<'_>) -> anyhow::Result<()> {
    page.wait()
        .at_most(WAIT)
        .every(POLL)
        .for_element(locator)
        .await
        .map_err(|error| anyhow::anyhow!("waiting for {what}: {error}"))?;
    Ok(())
}

/// Clicks an element, finding it again when the page re-rendered it in between (a
/// stale element), within [`WAIT`].
async fn click(page: &Client, what: &str, css: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let clicked = match page.find(Locator::Css(css)).await {
            Ok(element) => element.click().await,
            Err(error) => Err(error),
        };
        match clicked {
            Ok(()) => return Ok(()),
            Err(error) if tokio::time::Instant::now() >= deadline => {
                anyhow::bail!("clicking {what}: {error}")
            }
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// The page's visible text, for failure messages.
async fn visible_text(page: &Client) -> String {
    page.execute("return document.body.innerText", vec![])
        .await
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Two users who are connected, with profiles everyone may see, and their direct
/// conversation (opened by the first).
async fn connected_pair_with_a_dm(stack: &TestStack) -> anyhow::Result<(String, String, String)> {
    let ana = new_user("ana");
    let bea = new_user("bea");
    for (user, name) in [(&ana, "Ana Browser"), (&bea, "Bea Browser")] {
        let handle: String = user.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        stack
            .create_profile(
                user,
                json!({
                    "handle": &handle[..handle.len().min(30)],
                    "displayName": name,
                    "privacy": {"profileVisibility": "public"},
                }),
            )
            .await?;
    }
    stack.connect_through_the_api(&ana, &bea).await?;
    let room = stack
        .post_created("/v1/rooms/dm", &ana, json!({"userId": bea}))
        .await?;
    let room_id = room["roomId"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no roomId in {room}"))?
        .to_owned();
    Ok((ana, bea, room_id))
}

/// Opens the room from the inbox and waits until it has subscribed and loaded, and
/// (when given) the other member's presence dot is online.
async fn open_room(page: &Client, room_id: &str, online: Option<&str>) -> anyhow::Result<()> {
    let item = format!(r#"[data-testid="room-item"][data-room-id="{room_id}"]"#);
    wait_for(page, "the room in the inbox", Locator::Css(&item)).await?;
    click(page, "the room in the inbox", &item).await?;
    let ready =
        format!(r#"[data-testid="room-view"][data-room-id="{room_id}"][data-ready="true"]"#);
    wait_for(page, "the room view to be ready", Locator::Css(&ready)).await?;
    let Some(other) = online else {
        return Ok(());
    };
    let dot =
        format!(r#"[data-testid="presence-dot"][data-user-id="{other}"][data-status="online"]"#);
    wait_for(
        page,
        "the other member's presence dot to be online",
        Locator::Css(&dot),
    )
    .await
}

/// Types into the composer; while the other page shows no typing indicator yet, keeps
/// "typing" (a space and a backspace: the text stays the same), as a person would.
/// Returns the indicator's text as the reader saw it.
async fn type_until_seen(writer: &Client, reader: &Client, text: &str) -> anyhow::Result<String> {
    let input = writer
        .find(Locator::Css(r#"[data-testid="composer-input"]"#))
        .await?;
    input.send_keys(text).await?;
    let typing = r#"//*[@data-testid="typing-indicator" and contains(., "is typing")]"#;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(indicator) = reader.find_all(Locator::XPath(typing)).await?.first()
            && let Ok(text) = indicator.text().await
        {
            return Ok(text);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the reader's page showed no typing indicator within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        input
            .send_keys(&format!(" {}", char::from(Key::Backspace)))
            .await?;
    }
}

/// The conversation itself; the pages are closed by the caller whatever happens.
async fn chat(
    stack: &TestStack,
    a: &Client,
    b: &Client,
    (ana, bea, room_id): (&str, &str, &str),
) -> anyhow::Result<()> {
    a.goto(&page_url(stack, ana)).await?;
    b.goto(&page_url(stack, bea)).await?;
    open_room(a, room_id, Some(bea)).await?;
    open_room(b, room_id, Some(ana)).await?;

    // Act: Ana types; Bea sees her typing.
    let indicator = type_until_seen(a, b, "Hello Bea, are you there?").await?;

    // Act: Ana sends.
    a.find(Locator::Css(r#"[data-testid="send-button"]"#))
        .await?
        .click()
        .await?;

    // Assert: Bea sees the message, and the indicator is gone.
    let received = format!(
        r#"//li[@data-testid="message" and @data-sender-id="{ana}" and @data-message-id]/*[@data-testid="message-text" and .="Hello Bea, are you there?"]"#
    );
    wait_for(b, "Ana's message on Bea's page", Locator::XPath(&received)).await?;
    wait_for(
        b,
        "the typing indicator to clear",
        Locator::XPath(r#"//*[@data-testid="typing-indicator" and normalize-space(.)=""]"#),
    )
    .await?;
    // Assert: Ana's copy is stored (not pending) and Bea's page has read it: "Seen".
    let stored = format!(
        r#"//li[@data-testid="message" and @data-sender-id="{ana}" and @data-message-id and not(@data-pending)]"#
    );
    wait_for(a, "Ana's message to be stored", Locator::XPath(&stored)).await?;
    wait_for(
        a,
        "the read receipt on Ana's page",
        Locator::XPath(r#"//*[@data-testid="read-receipt" and contains(., "Seen")]"#),
    )
    .await?;
    let on_a = a
        .find_all(Locator::Css(r#"[data-testid="message"]"#))
        .await?
        .len();
    let on_b = b
        .find_all(Locator::Css(r#"[data-testid="message"]"#))
        .await?
        .len();
    anyhow::ensure!(
        indicator.contains("Ana is typing"),
        "indicator said {indicator:?}"
    );
    anyhow::ensure!(
        on_a == 1 && on_b == 1,
        "one copy of the message on each page, got {on_a} and {on_b}"
    );
    // Both users marked the message read on the server too.
    let detail = stack.get(&format!("/v1/rooms/{room_id}"), ana).await?;
    let message_id = detail.body["lastMessageId"].clone();
    let read_by_bea = detail.body["members"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|m| m["userId"] == bea && m["lastReadMessageId"] == message_id);
    anyhow::ensure!(
        read_by_bea,
        "Bea's read position is not the message: {detail:?}"
    );
    Ok(())
}

/// A test's steps, within 120 s in all.
async fn bounded(
    steps: impl std::future::Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_secs(120), steps)
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the steps did not finish within 120 s")))
}

/// ChromeDriver and its headless Chromium sessions for one test, with the artifacts
/// (screenshots, ChromeDriver's log) in `target/browser-test/<stack name>/`.
struct Browsers {
    driver: ChromeDriver,
    pages: Vec<Client>,
    dir: PathBuf,
}

impl Browsers {
    async fn open(stack: &TestStack, count: usize) -> anyhow::Result<Self> {
        let dir = artifacts_dir().join(stack.stack.stack_name());
        std::fs::create_dir_all(&dir)?;
        let driver = ChromeDriver::start(&dir.join("chromedriver.log")).await?;
        let mut browsers = Self {
            driver,
            pages: Vec::new(),
            dir,
        };
        for index in 0..count {
            let profile = browsers.dir.join(format!("profile-{index}"));
            match browsers.driver.session(&profile).await {
                Ok(page) => browsers.pages.push(page),
                Err(error) => {
                    browsers.close().await;
                    return Err(error);
                }
            }
        }
        Ok(browsers)
    }

    /// Takes a screenshot of each page, closes the browsers and stops ChromeDriver,
    /// whatever the outcome of the steps; a failure carries the pages' visible text.
    async fn finish(self, outcome: anyhow::Result<()>) -> anyhow::Result<()> {
        let mut texts = String::new();
        for (index, page) in self.pages.iter().enumerate() {
            if let Ok(png) = page.screenshot().await {
                let _ = std::fs::write(self.dir.join(format!("page-{index}.png")), png);
            }
            if outcome.is_err() {
                texts.push_str(&format!(
                    "\n--- page {index} ---\n{}",
                    visible_text(page).await
                ));
            }
        }
        let dir = self.dir.display().to_string();
        self.close().await;
        outcome.map_err(|error| error.context(format!("screenshots in {dir}{texts}")))
    }

    async fn close(self) {
        let count = self.pages.len();
        for page in self.pages {
            let _ = page.close().await;
        }
        self.driver.stop().await;
        for index in 0..=count {
            let _ = std::fs::remove_dir_all(self.dir.join(format!("profile-{index}")));
        }
    }
}

#[tokio::test]
async fn two_users_chat_in_the_browser_with_typing_presence_and_read_receipts() -> anyhow::Result<()>
{
    // Arrange: a stack, two connected users with a direct conversation, two browsers.
    require_browser()?;
    let stack = spawn().await?;
    let (ana, bea, room_id) = connected_pair_with_a_dm(&stack).await?;
    let browsers = Browsers::open(&stack, 2).await?;
    let (a, b) = (&browsers.pages[0], &browsers.pages[1]);

    // Act and assert (in `chat`); the browsers close whatever happens.
    let outcome = bounded(chat(&stack, a, b, (&ana, &bea, &room_id))).await;
    browsers.finish(outcome).await
}

/// The ids of a user's open WebSocket connections, from their `WSCONN#` items.
/// The user's connection records that API Gateway still holds open. A record can
/// outlive its socket (a `$connect` that timed out after writing it gets no
/// `$disconnect`, on AWS too); pushes clean those up when they meet `410 Gone`.
async fn connection_ids(stack: &TestStack, user: &str) -> anyhow::Result<Vec<String>> {
    let recorded: Vec<String> = stack
        .partition(&format!("USER#{user}"))
        .await?
        .iter()
        .filter_map(|item| {
            item["SK"]
                .as_str()?
                .strip_prefix("WSCONN#")
                .map(str::to_owned)
        })
        .collect();
    let management = stack.management_client().await;
    let mut open = Vec::new();
    for id in recorded {
        match management.get_connection().connection_id(&id).send().await {
            Ok(_) => open.push(id),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_gone_exception()) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(open)
}

/// Signs in by picking the demo user, opens the room with one message, loses the
/// connection (the server drops it), and must show the message sent meanwhile.
async fn reconnect(
    stack: &TestStack,
    page: &Client,
    (ana, bea, room_id): (&str, &str, &str),
) -> anyhow::Result<()> {
    page.goto(&format!("{}/app/", stack.stack.http_url()))
        .await?;
    let pick = format!(r#"[data-testid="demo-user"][data-user-id="{bea}"]"#);
    wait_for(
        page,
        "the demo user on the sign-in page",
        Locator::Css(&pick),
    )
    .await?;
    click(page, "the demo user", &pick).await?;
    open_room(page, room_id, None).await?;
    let first = r#"//*[@data-testid="message-text" and .="Before the drop"]"#;
    wait_for(page, "the first message", Locator::XPath(first)).await?;
    // The history is read over HTTP: the socket may still be opening.
    let dropped = stack
        .eventually("the page's open connection", || async {
            let open = connection_ids(stack, bea).await?;
            Ok((!open.is_empty()).then_some(open))
        })
        .await?;

    // Act: the server drops the page's connections (one, unless a first attempt that
    // timed out under load is still held open); Ana writes while it is away.
    let management = stack.management_client().await;
    for id in &dropped {
        management
            .delete_connection()
            .connection_id(id)
            .send()
            .await?;
    }
    let sent = stack
        .post(
            &format!("/v1/rooms/{room_id}/messages"),
            ana,
            json!({"text": "While you were away", "clientMessageId": "browser-2"}),
        )
        .await?;
    anyhow::ensure!(sent.status == 201, "the second message: {sent:?}");

    // Assert: the page reconnects, subscribes again and catches up, one copy each.
    let second = r#"//*[@data-testid="message-text" and .="While you were away"]"#;
    wait_for(
        page,
        "the message sent while disconnected",
        Locator::XPath(second),
    )
    .await?;
    wait_for(
        page,
        "the connection to be back",
        Locator::Css(r#"[data-testid="connection-status"][data-state="online"]"#),
    )
    .await?;
    let reconnected = stack
        .eventually("a new connection record", || async {
            let ids = connection_ids(stack, bea).await?;
            let new = ids.iter().any(|id| !dropped.contains(id));
            Ok(new.then_some(ids))
        })
        .await?;
    let shown = page
        .find_all(Locator::Css(r#"[data-testid="message"]"#))
        .await?
        .len();
    anyhow::ensure!(shown == 2, "two messages, once each; got {shown}");
    anyhow::ensure!(
        reconnected.iter().all(|id| !dropped.contains(id)),
        "the dropped connections stay closed: {reconnected:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_demo_user_picked_at_sign_in_catches_up_after_the_connection_drops() -> anyhow::Result<()>
{
    // Arrange: a DM with one message, Bea offered as a demo user, one browser.
    require_browser()?;
    let stack = spawn().await?;
    let (ana, bea, room_id) = connected_pair_with_a_dm(&stack).await?;
    stack
        .post_created(
            &format!("/v1/rooms/{room_id}/messages"),
            &ana,
            json!({"text": "Before the drop", "clientMessageId": "browser-1"}),
        )
        .await?;
    stack.stack.set_demo_users(vec![DemoUserToken {
        user_id: bea.clone(),
        handle: "bea".to_owned(),
        display_name: "Bea Browser".to_owned(),
        token: token_for(&bea),
    }]);
    let browsers = Browsers::open(&stack, 1).await?;

    // Act and assert (in `reconnect`); the browser closes whatever happens.
    let outcome = bounded(reconnect(
        &stack,
        &browsers.pages[0],
        (&ana, &bea, &room_id),
    ))
    .await;
    browsers.finish(outcome).await
}

/// Opens the member's community page, sees its topic and members, and posts a topic
/// that then shows in the list.
async fn community_page(
    stack: &TestStack,
    page: &Client,
    (member, community, topic_title, names, channel_id): (&str, &str, &str, [&str; 2], &str),
) -> anyhow::Result<()> {
    page.goto(&page_url(stack, member)).await?;
    let item = format!(r#"[data-testid="community-item"][data-community-id="{community}"]"#);
    wait_for(page, "the community in the sidebar", Locator::Css(&item)).await?;
    click(page, "the community in the sidebar", &item).await?;
    let ready = format!(
        r#"[data-testid="community-view"][data-community-id="{community}"][data-ready="true"]"#
    );
    wait_for(page, "the community page to be ready", Locator::Css(&ready)).await?;
    let topics = page
        .find(Locator::Css(r#"[data-testid="community-topics"]"#))
        .await?
        .text()
        .await?;
    anyhow::ensure!(topics.contains(topic_title), "topics: {topics}");
    let members = page
        .find(Locator::Css(r#"[data-testid="community-members"]"#))
        .await?
        .text()
        .await?;
    for name in names {
        anyhow::ensure!(members.contains(name), "members: {members}");
    }

    page.find(Locator::Css(r#"[data-testid="topic-title"]"#))
        .await?
        .send_keys("Posted from the browser")
        .await?;
    page.find(Locator::Css(r#"[data-testid="topic-body"]"#))
        .await?
        .send_keys("Hello, circle.")
        .await?;
    click(page, "the post button", r#"[data-testid="topic-submit"]"#).await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let topics = page
            .find(Locator::Css(r#"[data-testid="community-topics"]"#))
            .await?
            .text()
            .await?;
        if topics.contains("Posted from the browser") {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the new topic never showed: {topics}"
        );
        tokio::time::sleep(POLL).await;
    }

    // The member follows the community from its page.
    let follow = r#"[data-testid="follow-community"][data-following="false"]"#;
    wait_for(page, "the follow button", Locator::Css(follow)).await?;
    click(page, "the follow button", follow).await?;
    let following = r#"[data-testid="follow-community"][data-following="true"]"#;
    wait_for(page, "the community followed", Locator::Css(following)).await?;
    let view = stack
        .get(&format!("/v1/communities/{community}"), member)
        .await?;
    anyhow::ensure!(view.body["following"] == true, "not following: {view:?}");

    // The community's event is listed; the member answers going from the page.
    let rsvp = r#"[data-testid="community-event"] [data-testid="event-rsvp"][data-status=""]"#;
    wait_for(page, "the event and its going button", Locator::Css(rsvp)).await?;
    click(page, "the going button", rsvp).await?;
    let going =
        r#"[data-testid="community-event"] [data-testid="event-rsvp"][data-status="going"]"#;
    wait_for(page, "the answer shown as going", Locator::Css(going)).await?;
    let summary = page
        .find(Locator::Css(r#"[data-testid="event-summary"]"#))
        .await?
        .text()
        .await?;
    anyhow::ensure!(summary.contains("1 going"), "event summary: {summary}");

    // The community's channel opens as a conversation, and a message sent there is
    // stored (acked over the WebSocket).
    let channel = format!(r#"[data-testid="community-channel"][data-room-id="{channel_id}"]"#);
    wait_for(
        page,
        "the channel on the community page",
        Locator::Css(&channel),
    )
    .await?;
    click(page, "the channel", &channel).await?;
    let open =
        format!(r#"[data-testid="room-view"][data-room-id="{channel_id}"][data-ready="true"]"#);
    wait_for(page, "the channel to open", Locator::Css(&open)).await?;
    page.find(Locator::Css(r#"[data-testid="composer-input"]"#))
        .await?
        .send_keys("Hello, channel.")
        .await?;
    click(page, "the send button", r#"[data-testid="send-button"]"#).await?;
    let stored = format!(
        r#"//li[@data-testid="message" and @data-sender-id="{member}" and @data-message-id and not(@data-pending)]/*[@data-testid="message-text" and .="Hello, channel."]"#
    );
    wait_for(
        page,
        "the channel message to be stored",
        Locator::XPath(&stored),
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_member_opens_their_community_page_posts_a_topic_follows_it_answers_its_event_and_chats_in_its_channel_in_the_browser()
-> anyhow::Result<()> {
    // Arrange: a public community of two members with profiles, and a topic in it
    require_browser()?;
    let stack = spawn().await?;
    let (ana, bea, _) = connected_pair_with_a_dm(&stack).await?;
    let community = stack
        .post_created(
            "/v1/communities",
            &ana,
            json!({"name": "Browser Circle", "slug": format!("browser-{}", &bea[bea.len() - 8..]),
                   "kind": "public"}),
        )
        .await?;
    let id = community["communityId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let joined = stack
        .post(&format!("/v1/communities/{id}/join"), &bea, json!({}))
        .await?;
    anyhow::ensure!(joined.status == 201, "join: {joined:?}");
    stack
        .post_created(
            "/v1/topics",
            &ana,
            json!({"title": "Welcome to the circle", "body": "Say hello.", "communityId": id}),
        )
        .await?;
    let channel = stack
        .post_created(
            &format!("/v1/communities/{id}/channels"),
            &ana,
            json!({"name": "general"}),
        )
        .await?;
    let channel = channel["roomId"].as_str().unwrap_or_default().to_owned();
    let soon = time::OffsetDateTime::now_utc() + time::Duration::days(7);
    stack
        .post_created(
            &format!("/v1/communities/{id}/events"),
            &ana,
            json!({"title": "Study session", "timeZone": "UTC", "location": "Library",
                   "start": format!("{:04}-{:02}-{:02}T18:00", soon.year(), u8::from(soon.month()), soon.day()),
                   "end": format!("{:04}-{:02}-{:02}T19:00", soon.year(), u8::from(soon.month()), soon.day())}),
        )
        .await?;
    let browsers = Browsers::open(&stack, 1).await?;
    let page = &browsers.pages[0];

    // Act and assert (in `community_page`); the browser closes whatever happens.
    let outcome = bounded(community_page(
        &stack,
        page,
        (
            &bea,
            &id,
            "Welcome to the circle",
            ["Ana Browser", "Bea Browser"],
            &channel,
        ),
    ))
    .await;
    browsers.finish(outcome).await
}

/// The review id of `topic`'s entry in the global queue, once the worker queued it.
async fn queued_review(stack: &TestStack, moderator: &str, topic: &str) -> anyhow::Result<String> {
    stack
        .eventually("the topic in the global queue", || async {
            let page = stack
                .raw(
                    stack
                        .http
                        .get(stack.url("/v1/moderation/queue?limit=100"))
                        .bearer_auth(token_with_roles(moderator, &["moderator"])),
                )
                .await?;
            Ok(page.body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|entry| entry["content"]["topicId"] == topic)
                .and_then(|entry| entry["reviewId"].as_str().map(str::to_owned)))
        })
        .await
}

/// Opens review item `review` on the moderation page and decides it (`remove` or
/// `approve`) with `reason`; waits until the page shows it decided and out of the queue.
async fn decide_in_page(
    page: &Client,
    review: &str,
    text: &str,
    (action, reason): (&str, &str),
) -> anyhow::Result<()> {
    let entry = format!(r#"[data-testid="queue-entry"][data-review-id="{review}"] button"#);
    click(page, "the queue entry", &entry).await?;
    let shown = format!(
        r#"//*[@data-testid="review-detail" and @data-review-id="{review}"]//*[@data-testid="review-text-value" and .="{text}"]"#
    );
    wait_for(page, "the item's text", Locator::XPath(&shown)).await?;
    page.find(Locator::Css(r#"[data-testid="decision-reason"]"#))
        .await?
        .send_keys(reason)
        .await?;
    click(page, action, &format!(r#"[data-testid="{action}"]"#)).await?;
    let status = if action == "remove" {
        "removed"
    } else {
        "approved"
    };
    let decided = format!(
        r#"[data-testid="review-detail"][data-review-id="{review}"][data-status="{status}"]"#
    );
    wait_for(page, "the decision", Locator::Css(&decided)).await?;
    let left = page
        .find_all(Locator::Css(&format!(
            r#"[data-testid="queue-entry"][data-review-id="{review}"]"#
        )))
        .await?;
    anyhow::ensure!(left.is_empty(), "the decided entry left the queue");
    Ok(())
}

/// Signs in on the moderation page as the demo moderator, removes one hidden topic and
/// approves the other.
async fn moderate(
    stack: &TestStack,
    page: &Client,
    (scam, joke): ((&str, &str), (&str, &str)),
) -> anyhow::Result<()> {
    page.goto(&format!("{}/app/moderation.html", stack.stack.http_url()))
        .await?;
    click(page, "the demo moderator", r#"[data-testid="demo-user"]"#).await?;
    for (review, _) in [scam, joke] {
        let entry = format!(r#"[data-testid="queue-entry"][data-review-id="{review}"]"#);
        wait_for(page, "a queue entry", Locator::Css(&entry)).await?;
    }
    let verdict = page
        .find(Locator::Css(r#"[data-testid="queue"]"#))
        .await?
        .text()
        .await?;
    anyhow::ensure!(
        verdict.contains("scam"),
        "the queue names the categories: {verdict}"
    );

    decide_in_page(page, scam.0, scam.1, ("remove", "An advance-fee scam")).await?;
    decide_in_page(page, joke.0, joke.1, ("approve", "A joke among friends")).await?;
    Ok(())
}

#[tokio::test]
async fn a_moderator_removes_one_hidden_topic_and_approves_another_on_the_moderation_page()
-> anyhow::Result<()> {
    // Arrange: two topics the classifier hid; a platform moderator offered as demo user.
    require_browser()?;
    let stack = spawn().await?;
    let (ana, bea, modo) = (new_user("ana"), new_user("bea"), new_user("modo"));
    let category = stack.new_category("Money").await?;
    let mut topics = Vec::new();
    for body in [
        "Guaranteed returns of 20% a week, send your deposit now",
        "Guaranteed returns of 50% a day, wire the fee first",
    ] {
        let topic = stack
            .post_created(
                "/v1/topics",
                &ana,
                json!({"title": "Side income", "body": body, "categoryId": category}),
            )
            .await?;
        let id = topic["topicId"].as_str().unwrap_or_default().to_owned();
        topics.push((queued_review(&stack, &modo, &id).await?, id, body));
    }
    stack.stack.set_demo_users(vec![DemoUserToken {
        user_id: modo.clone(),
        handle: "modo".to_owned(),
        display_name: "Modo Moderator".to_owned(),
        token: token_with_roles(&modo, &["moderator"]),
    }]);
    let browsers = Browsers::open(&stack, 1).await?;

    // Act
    let (scam, joke) = (&topics[0], &topics[1]);
    let outcome = bounded(moderate(
        &stack,
        &browsers.pages[0],
        ((&scam.0, scam.2), (&joke.0, joke.2)),
    ))
    .await;
    browsers.finish(outcome).await?;

    // Assert: what the page did is what the API holds.
    let removed = stack.get(&format!("/v1/topics/{}", scam.1), &bea).await?;
    let approved = stack.get(&format!("/v1/topics/{}", joke.1), &bea).await?;
    assert_eq!(removed.status, 404, "{removed:?}");
    assert_eq!(approved.status, 200, "{approved:?}");
    let audit = stack
        .raw(
            stack
                .http
                .get(stack.url(&format!("/v1/moderation/audit?actorId={modo}")))
                .bearer_auth(token_with_roles(&modo, &["moderator"])),
        )
        .await?;
    let reasons: Vec<&str> = audit.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry["reason"].as_str())
        .collect();
    assert_eq!(reasons, vec!["A joke among friends", "An advance-fee scam"]);
    Ok(())
}
