//! Arranging and awaiting account jobs: deleting an account and waiting for its
//! erasure job, requesting an export and downloading its archive.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{Reply, TestStack, token_for};

/// How long a small account's erasure or export may take on the local stack.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(60);

impl TestStack {
    /// The erasure job of `user` (the `DELETED#` tombstone), if any.
    pub async fn erasure_job(&self, user: &str) -> anyhow::Result<Option<Value>> {
        self.item(&format!("DELETED#{user}"), "DELETED").await
    }

    /// `DELETE /v1/me` (asserted 202 with a job id), then waits until the erasure job
    /// has run to the end, and past the second of the deletion (a token minted from
    /// then on is a new sign-in, which a deleted account accepts).
    pub async fn delete_account(&self, user: &str) -> anyhow::Result<Reply> {
        let reply = self.delete("/v1/me", user).await?;
        anyhow::ensure!(reply.status == 202, "DELETE /v1/me: {reply:?}");
        anyhow::ensure!(reply.body["jobId"].is_string(), "no job id: {reply:?}");
        self.await_erasure(user, JOB_TIMEOUT).await?;
        Ok(reply)
    }

    /// Waits for the erasure job of `user` to finish; returns the finished job.
    pub async fn await_erasure(&self, user: &str, timeout: Duration) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let job = self.erasure_job(user).await?;
            if let Some(job) = job.filter(|job| job["status"] == "erased") {
                let revoked = job["revokedBefore"].as_i64().unwrap_or_default();
                while time::OffsetDateTime::now_utc().unix_timestamp() <= revoked {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                return Ok(job);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the erasure of {user} did not finish within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A request of `user` with a token minted now (kept, e.g., across a deletion).
    pub fn request_with_token(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
    ) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(token)
    }

    /// `POST /v1/me/exports` (asserted 202), then polls `GET /v1/me/exports/{id}` until
    /// it is ready; returns the ready status (with `downloadUrl`).
    pub async fn export_ready(&self, user: &str) -> anyhow::Result<Value> {
        let requested = self.post("/v1/me/exports", user, json!({})).await?;
        anyhow::ensure!(
            requested.status == 202,
            "POST /v1/me/exports: {requested:?}"
        );
        let id = requested.body["exportId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let deadline = tokio::time::Instant::now() + JOB_TIMEOUT;
        loop {
            let status = self.get(&format!("/v1/me/exports/{id}"), user).await?;
            anyhow::ensure!(status.status == 200, "GET export: {status:?}");
            if status.body["status"] == "ready" {
                return Ok(status.body);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "export {id} was not ready within {JOB_TIMEOUT:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Downloads a presigned URL (no Agora token): its status and body.
    pub async fn download(&self, url: &str) -> anyhow::Result<(u16, String)> {
        let response = self.http.get(url).send().await?;
        Ok((response.status().as_u16(), response.text().await?))
    }
}

/// A token for `user` minted now: kept to show it is refused after a deletion.
pub fn token_now(user: &str) -> String {
    token_for(user)
}

impl TestStack {
    /// Every item of the table whose JSON mentions `needle` (a test-only Scan, all
    /// pages): what is left of a user after erasure, whatever its key.
    pub async fn items_mentioning(&self, needle: &str) -> anyhow::Result<Vec<Value>> {
        let client = self.dynamodb().await;
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let output = client
                .scan()
                .table_name(self.table())
                .set_exclusive_start_key(start)
                .send()
                .await?;
            for item in output.items.unwrap_or_default() {
                let value: Value = serde_dynamo::from_item(item)?;
                if value.to_string().contains(needle) {
                    found.push(value);
                }
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(found);
            }
        }
    }

    /// Every item of a Query (all pages) on the base table (`index` None) or an index.
    pub async fn query_all(&self, index: Option<&str>, pk: &str) -> anyhow::Result<Vec<Value>> {
        use aws_sdk_dynamodb::types::AttributeValue;
        let client = self.dynamodb().await;
        let pk_attr = match index {
            Some(index) => format!("{index}PK"),
            None => "PK".to_owned(),
        };
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let output = client
                .query()
                .table_name(self.table())
                .set_index_name(index.map(str::to_owned))
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", &pk_attr)
                .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
                .set_exclusive_start_key(start)
                .send()
                .await?;
            for item in output.items.unwrap_or_default() {
                found.push(serde_dynamo::from_item(item)?);
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(found);
            }
        }
    }

    /// Waits until the number of items mentioning `needle` stops changing (the stream
    /// functions have caught up with a bulk write): the same count `polls` times in a row.
    pub async fn await_quiet(&self, needle: &str, timeout: Duration) -> anyhow::Result<usize> {
        let deadline = tokio::time::Instant::now() + timeout;
        let (mut last, mut same) = (usize::MAX, 0);
        loop {
            let count = self.items_mentioning(needle).await?.len();
            if count == last {
                same += 1;
                if same >= 2 {
                    return Ok(count);
                }
            } else {
                (last, same) = (count, 0);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the table kept changing for {timeout:?} (last count {last})"
            );
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
    }
}

/// Copies of a stored item with `id` replaced by a fresh ULID (keys and attributes
/// alike): bulk data of exactly the shape the API writes.
pub fn clone_with_new_id(items: &[Value], id: &str) -> anyhow::Result<(String, Vec<Value>)> {
    anyhow::ensure!(id.len() >= 10, "not an id to replace: {id:?}");
    let new_id = ulid::Ulid::new().to_string();
    let copies = items
        .iter()
        .map(|item| {
            Ok(serde_json::from_str(
                &item.to_string().replace(id, &new_id),
            )?)
        })
        .collect::<anyhow::Result<Vec<Value>>>()?;
    Ok((new_id, copies))
}
