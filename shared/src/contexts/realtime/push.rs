//! Pushing frames to WebSocket connections through API Gateway's `@connections` API:
//! the one place that knows its errors. A connection that answers 410 Gone is
//! forgotten (its record, and what other contexts keep per connection through the
//! [`Forget`] hook the edge wires in); throttling is retried with
//! backoff; posts to many connections run with bounded concurrency so a large room
//! stays under the management API's rate limits.

use std::sync::Arc;

use aws_sdk_apigatewaymanagement::primitives::Blob;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;

use crate::core::error::{AppError, AppResult};
use crate::table::store::Store;

/// What else a closed connection leaves to forget, kept by a context above this one
/// (chat's room subscriptions): given the store and the connection id.
pub type Forget = Arc<dyn Fn(Store, String) -> BoxFuture<'static, AppResult<()>> + Send + Sync>;

/// API Gateway refuses WebSocket messages over 128 KB.
pub const MAX_FRAME_BYTES: usize = 128 * 1024;
/// Posts in flight at once when broadcasting.
const CONCURRENT_POSTS: usize = 32;
const THROTTLE_RETRIES: u32 = 5;
/// Retries of a post that failed with a 5xx (this connection only; 50 and 100 ms).
const TRANSIENT_RETRIES: u32 = 2;

/// A connection to push to, with the last second its token is honoured (see
/// `core::auth::honoured_until`); `None` for a connection recorded without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub connection_id: String,
    pub honoured_until: Option<i64>,
}

impl Target {
    /// Whether the connection's token has expired at `now` (epoch seconds).
    pub fn expired_at(&self, now: i64) -> bool {
        self.honoured_until.is_some_and(|until| now > until)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// The connection is closed (and now forgotten).
    Gone,
}

/// What a broadcast did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    pub delivered: usize,
    pub gone: usize,
    pub failed: usize,
    /// Connections whose token had expired: told so and closed, not delivered to.
    pub expired: usize,
}

#[derive(Clone)]
pub struct Pusher {
    client: aws_sdk_apigatewaymanagement::Client,
    forget: Option<Forget>,
    /// The frame a connection gets before it is closed for an expired token.
    expired_frame: Arc<Vec<u8>>,
}

impl Pusher {
    /// The endpoint comes from `AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI` (the template
    /// in AWS, the local stack here).
    /// The SDK's own retries are off: its backoff (a second and more) would hold up a
    /// whole room for one slow connection. [`Pusher::post`] retries throttling and
    /// transient failures itself, for that connection alone, within milliseconds.
    pub fn from_sdk_config(config: &aws_config::SdkConfig) -> Self {
        let conf = aws_sdk_apigatewaymanagement::config::Builder::from(config)
            .retry_config(aws_sdk_apigatewaymanagement::config::retry::RetryConfig::disabled())
            .build();
        Self {
            client: aws_sdk_apigatewaymanagement::Client::from_conf(conf),
            forget: None,
            expired_frame: Arc::new(Vec::new()),
        }
    }

    /// Sends `frame` to a connection whose token expired, before closing it.
    pub fn telling_expired(mut self, frame: Vec<u8>) -> Self {
        self.expired_frame = Arc::new(frame);
        self
    }

    /// Ends a connection whose token expired: the expiry frame (best effort), then
    /// `DeleteConnection`. The client reconnects with a fresh token.
    pub async fn end_expired(&self, store: &Store, connection_id: &str) -> AppResult<()> {
        if !self.expired_frame.is_empty()
            && let Err(error) = self.post(store, connection_id, &self.expired_frame).await
        {
            tracing::warn!(%error, "telling a connection its token expired failed");
        }
        self.close(connection_id).await
    }

    /// Also runs `forget` for every connection found closed (and on
    /// [`Pusher::forget_connection`]).
    pub fn forgetting(mut self, forget: Forget) -> Self {
        self.forget = Some(forget);
        self
    }

    /// Forgets a closed connection: what the hook knows of it, then its record and its
    /// mirror. Repeatable.
    pub async fn forget_connection(&self, store: &Store, connection_id: &str) -> AppResult<()> {
        if let Some(forget) = &self.forget {
            forget(store.clone(), connection_id.to_owned()).await?;
        }
        crate::contexts::realtime::remove_connection(store, connection_id).await
    }

    /// Closes a connection (`DeleteConnection`; API Gateway then runs `$disconnect`).
    /// A connection that is already gone is fine.
    pub async fn close(&self, connection_id: &str) -> AppResult<()> {
        match self
            .client
            .delete_connection()
            .connection_id(connection_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_gone_exception()) =>
            {
                Ok(())
            }
            Err(error) => Err(AppError::internal(format!(
                "@connections delete: {}",
                aws_sdk_apigatewaymanagement::error::DisplayErrorContext(&error)
            ))),
        }
    }

    /// Posts one frame to one connection.
    pub async fn post(
        &self,
        store: &Store,
        connection_id: &str,
        data: &[u8],
    ) -> AppResult<Outcome> {
        if data.len() > MAX_FRAME_BYTES {
            return Err(AppError::PayloadTooLarge(format!(
                "a frame of {} bytes exceeds API Gateway's 128 KB",
                data.len()
            )));
        }
        let mut attempt = 0;
        loop {
            let result = self
                .client
                .post_to_connection()
                .connection_id(connection_id)
                .data(Blob::new(data.to_vec()))
                .send()
                .await;
            let error = match result {
                Ok(_) => return Ok(Outcome::Delivered),
                Err(error) => error,
            };
            let service = error.as_service_error();
            if service.is_some_and(|e| e.is_gone_exception()) {
                self.forget_connection(store, connection_id).await?;
                return Ok(Outcome::Gone);
            }
            let throttled = service.is_some_and(|e| e.is_limit_exceeded_exception())
                || error
                    .raw_response()
                    .is_some_and(|r| r.status().as_u16() == 429);
            // A 5xx, or no answer at all (a timeout or a dropped connection).
            let transient = error
                .raw_response()
                .is_none_or(|r| r.status().is_server_error());
            if (throttled && attempt < THROTTLE_RETRIES)
                || (transient && attempt < TRANSIENT_RETRIES)
            {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
                continue;
            }
            return Err(AppError::internal(
                aws_sdk_apigatewaymanagement::error::DisplayErrorContext(error),
            ));
        }
    }

    /// Posts one frame to many connections, a bounded number at a time. A connection
    /// whose token has expired gets the expiry frame instead and is closed: nothing
    /// reaches a socket past its token.
    pub async fn broadcast(&self, store: &Store, targets: &[Target], data: &[u8]) -> Report {
        let now = crate::core::ids::now_epoch_seconds();
        let (expired, live): (Vec<&Target>, Vec<&Target>) =
            targets.iter().partition(|t| t.expired_at(now));
        let mut report = Report {
            expired: expired.len(),
            ..Report::default()
        };
        for target in expired {
            if let Err(error) = self.end_expired(store, &target.connection_id).await {
                tracing::warn!(%error, "closing a connection with an expired token failed");
            }
        }
        let results: Vec<AppResult<Outcome>> = futures_util::stream::iter(live)
            .map(|target| self.post(store, &target.connection_id, data))
            .buffer_unordered(CONCURRENT_POSTS)
            .collect()
            .await;
        for result in results {
            match result {
                Ok(Outcome::Delivered) => report.delivered += 1,
                Ok(Outcome::Gone) => report.gone += 1,
                Err(error) => {
                    tracing::warn!(%error, "a post to a connection failed");
                    report.failed += 1;
                }
            }
        }
        if !targets.is_empty() {
            crate::core::telemetry::emit_counts(
                "Broadcast",
                &[
                    ("Deliveries", report.delivered as u64),
                    ("GoneConnections", report.gone as u64),
                    ("FailedPosts", report.failed as u64),
                    ("ExpiredConnections", report.expired as u64),
                ],
            );
        }
        report
    }
}
