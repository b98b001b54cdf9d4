//! Account export as a job: `POST /v1/me/exports` records the job and queues chunk 0;
//! the account-jobs worker runs every context's export steps in bounded chunks, each
//! writing its records to one part object in S3 and checkpointing the job; the last
//! chunk joins the parts into one archive (`agora-export.json`) and deletes them.
//! `GET /v1/me/exports/{exportId}` answers with a presigned URL that expires.
//!
//! The job item is `USER#<me> / EXPORT#<exportId>` (entity `ExportJob`), so only its
//! owner reads it and erasure sweeps it. Chunks follow the erasure job's rules: a
//! message whose chunk is not the job's is a redelivery and changes nothing; part
//! objects are named by chunk, so a repeated chunk overwrites its own part.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};
use tracing::instrument;

use crate::account::erasure::ChunkBudget;
use crate::account::queue::{AccountJob, JobQueue};
use crate::account::{EXPORT_PLAN, run_export_step};
use crate::core::config::{self, ConfigError};
use crate::core::error::{AppError, AppResult};
use crate::core::ids::{UserId, format_rfc3339, new_ulid, now_epoch_seconds, now_rfc3339};
use crate::table::jobs::{self, Chunk, Next};
use crate::table::keys::user_partition;
use crate::table::store::{self, Expr, Key, Store};

/// Export jobs (and their archives, by the bucket's lifecycle rule) last a week.
pub const EXPORT_JOB_TTL_SECONDS: i64 = 7 * 24 * 3600;
/// Default lifetime of a download URL.
pub const DEFAULT_URL_SECONDS: u64 = 900;
/// The archive's file name.
pub const ARCHIVE_NAME: &str = "agora-export.json";

fn s3_error(error: impl std::fmt::Display) -> AppError {
    AppError::internal(format!("s3: {error}"))
}

/// The export bucket (`EXPORT_BUCKET`) and how long download URLs live
/// (`EXPORT_URL_SECONDS`, default 900).
#[derive(Debug, Clone)]
pub struct Archives {
    client: aws_sdk_s3::Client,
    bucket: String,
    url_lifetime: Duration,
}

impl Archives {
    /// Reads its configuration once (failing fast). With a custom S3 endpoint (the
    /// local stack's `AWS_ENDPOINT_URL_S3`) requests and presigned URLs are path-style.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let bucket = config::required("EXPORT_BUCKET")?;
        let seconds: u64 = config::optional_number("EXPORT_URL_SECONDS", DEFAULT_URL_SECONDS)?;
        let emulated = config::optional("AWS_ENDPOINT_URL_S3").is_some()
            || config::optional("AWS_ENDPOINT_URL").is_some();
        let conf = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(emulated)
            .build();
        Ok(Self {
            client: aws_sdk_s3::Client::from_conf(conf),
            bucket,
            url_lifetime: Duration::from_secs(seconds),
        })
    }

    fn prefix_of(user: &UserId) -> String {
        format!("exports/{user}/")
    }

    fn part_key(user: &UserId, export_id: &str, chunk: u32) -> String {
        format!("{}{export_id}/parts/{chunk:06}.json", Self::prefix_of(user))
    }

    fn archive_key(user: &UserId, export_id: &str) -> String {
        format!("{}{export_id}/{ARCHIVE_NAME}", Self::prefix_of(user))
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> AppResult<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| s3_error(aws_sdk_s3::error::DisplayErrorContext(&e)))
    }

    async fn get(&self, key: &str) -> AppResult<Vec<u8>> {
        let output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| s3_error(aws_sdk_s3::error::DisplayErrorContext(&e)))?;
        let bytes = output.body.collect().await.map_err(s3_error)?;
        Ok(bytes.into_bytes().to_vec())
    }

    async fn delete_keys(&self, keys: Vec<String>) -> AppResult<()> {
        for key in keys {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| s3_error(aws_sdk_s3::error::DisplayErrorContext(&e)))?;
        }
        Ok(())
    }

    async fn list(&self, prefix: &str, max: i32) -> AppResult<Vec<String>> {
        let output = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .max_keys(max)
            .send()
            .await
            .map_err(|e| s3_error(aws_sdk_s3::error::DisplayErrorContext(&e)))?;
        Ok(output
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect())
    }

    /// The erasure step for my archives: a page of my objects per call.
    pub async fn delete_all_of(&self, user: &UserId) -> AppResult<Chunk> {
        let keys = self.list(&Self::prefix_of(user), 100).await?;
        let work = u32::try_from(keys.len()).unwrap_or(u32::MAX).max(1);
        if keys.is_empty() {
            return Ok(Chunk::done(work));
        }
        self.delete_keys(keys).await?;
        Ok(Chunk {
            work,
            next: Next::Continue(None),
        })
    }

    /// A GET URL for the archive that expires after the configured lifetime.
    async fn presign(&self, key: &str) -> AppResult<(String, String)> {
        let config = PresigningConfig::expires_in(self.url_lifetime).map_err(s3_error)?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| s3_error(aws_sdk_s3::error::DisplayErrorContext(&e)))?;
        let expires = time::OffsetDateTime::now_utc() + self.url_lifetime;
        Ok((request.uri().to_owned(), format_rfc3339(expires)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ExportStatus {
    Pending,
    Ready,
}

/// `USER#<me> / EXPORT#<exportId>`, minus keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportJob {
    pub export_id: String,
    pub user_id: UserId,
    pub status: ExportStatus,
    pub requested_at: String,
    #[serde(default)]
    pub step_index: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(default)]
    pub chunk: u32,
    #[serde(default)]
    pub successor_sent: bool,
    #[serde(default)]
    pub record_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_at: Option<String>,
}

/// What the export endpoints answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportView {
    pub export_id: String,
    pub status: ExportStatus,
    pub requested_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

fn job_key(user: &UserId, export_id: &str) -> Key {
    Key::new(user_partition(user), format!("EXPORT#{export_id}"))
}

/// `POST /v1/me/exports`: records the job and queues its first chunk (202).
#[instrument(skip(store, queue))]
pub async fn request_export(store: &Store, queue: &JobQueue, me: &UserId) -> AppResult<ExportView> {
    let job = ExportJob {
        export_id: new_ulid(),
        user_id: me.clone(),
        status: ExportStatus::Pending,
        requested_at: now_rfc3339(),
        step_index: 0,
        cursor: None,
        chunk: 0,
        successor_sent: false,
        record_count: 0,
        ready_at: None,
    };
    let key = job_key(me, &job.export_id);
    let mut item = store::to_item(&job)?;
    item.extend(key.to_item());
    item.insert("entity".into(), jobs::text("ExportJob"));
    item.insert(
        store::TTL_ATTRIBUTE.into(),
        jobs::number(now_epoch_seconds() + EXPORT_JOB_TTL_SECONDS),
    );
    store.put(item).await?;
    let message = AccountJob::Export {
        user_id: me.clone(),
        export_id: job.export_id.clone(),
        chunk: 0,
    };
    if let Err(error) = queue.send(&message).await {
        store.batch_delete(&[key]).await?;
        return Err(error);
    }
    mark_sent(store, me, &job.export_id, 0).await?;
    Ok(view(&job, None))
}

fn view(job: &ExportJob, download: Option<(String, String)>) -> ExportView {
    let (download_url, expires_at) = download.unzip();
    ExportView {
        export_id: job.export_id.clone(),
        status: job.status,
        requested_at: job.requested_at.clone(),
        ready_at: job.ready_at.clone(),
        record_count: (job.status == ExportStatus::Ready).then_some(job.record_count),
        download_url,
        expires_at,
    }
}

/// `GET /v1/me/exports/{exportId}`: the job, with a fresh presigned URL once ready.
#[instrument(skip(store, archives))]
pub async fn get_export(
    store: &Store,
    archives: &Archives,
    me: &UserId,
    export_id: &str,
) -> AppResult<ExportView> {
    let not_found = || AppError::NotFound(format!("no export {export_id}"));
    if export_id.is_empty() || export_id.contains('#') {
        return Err(not_found());
    }
    let job: ExportJob = store
        .get(&job_key(me, export_id))
        .await?
        .ok_or_else(not_found)?;
    let download = match job.status {
        ExportStatus::Ready => Some(
            archives
                .presign(&Archives::archive_key(me, export_id))
                .await?,
        ),
        ExportStatus::Pending => None,
    };
    Ok(view(&job, download))
}

async fn mark_sent(store: &Store, me: &UserId, export_id: &str, chunk: u32) -> AppResult<bool> {
    store
        .update_where(
            &job_key(me, export_id),
            Expr::new("SET successorSent = :true").value(":true", jobs::flag(true)),
            Expr::new("#chunk = :chunk")
                .name("#chunk", "chunk")
                .value(":chunk", jobs::number(chunk)),
        )
        .await
}

/// One part object: the records of one chunk, each with its context.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Part {
    records: Vec<(String, serde_json::Value)>,
}

/// One chunk of an export job (the account-jobs worker).
#[instrument(skip(store, queue, archives, budget))]
pub async fn run_chunk(
    store: &Store,
    queue: &JobQueue,
    archives: &Archives,
    budget: ChunkBudget,
    me: &UserId,
    export_id: &str,
    chunk: u32,
) -> AppResult<()> {
    let key = job_key(me, export_id);
    let Some(job) = store.get::<ExportJob>(&key).await? else {
        tracing::info!("no such export job; dropped");
        return Ok(());
    };
    if job.status == ExportStatus::Ready {
        return Ok(());
    }
    if job.chunk != chunk {
        if job.chunk == chunk + 1 && !job.successor_sent {
            let next = AccountJob::Export {
                user_id: me.clone(),
                export_id: export_id.to_owned(),
                chunk: job.chunk,
            };
            queue.send(&next).await?;
            mark_sent(store, me, export_id, job.chunk).await?;
        }
        tracing::info!(
            job_chunk = job.chunk,
            "redelivered export chunk; nothing to do"
        );
        return Ok(());
    }
    let started = Instant::now();
    let (mut index, mut cursor) = (job.step_index, job.cursor.clone());
    let mut part = Part::default();
    let mut read = 0u32;
    let finished = loop {
        if index >= EXPORT_PLAN.len() {
            break true;
        }
        if read >= budget.work || started.elapsed() >= budget.time {
            break false;
        }
        let Some((context, done)) =
            run_export_step(store, me, index, cursor.take(), budget.work - read).await?
        else {
            break true;
        };
        read += u32::try_from(done.records.len()).unwrap_or(u32::MAX).max(1);
        part.records
            .extend(done.records.into_iter().map(|r| (context.to_owned(), r)));
        match done.next {
            Next::Done => index += 1,
            Next::Continue(next) => cursor = next,
        }
    };
    let body = serde_json::to_vec(&part).map_err(AppError::internal)?;
    archives
        .put(&Archives::part_key(me, export_id, chunk), body)
        .await?;
    let count = job.record_count + part.records.len() as u64;
    if finished {
        assemble(archives, me, &job, chunk, count).await?;
    }
    let mut sets = vec![
        "#chunk = :next",
        "stepIndex = :index",
        "successorSent = :false",
        "recordCount = :count",
        "#status = :status",
    ];
    if cursor.is_some() {
        sets.push("#cursor = :cursor");
    }
    if finished {
        sets.push("readyAt = :now");
    }
    let mut text = format!("SET {}", sets.join(", "));
    if cursor.is_none() {
        text.push_str(" REMOVE #cursor");
    }
    let status = if finished { "ready" } else { "pending" };
    let mut update = Expr::new(text)
        .name("#chunk", "chunk")
        .name("#status", "status")
        .name("#cursor", "cursor")
        .value(":next", jobs::number(chunk + 1))
        .value(":index", jobs::number(index))
        .value(":false", jobs::flag(false))
        .value(":count", jobs::number(count))
        .value(":status", jobs::text(status));
    if let Some(cursor) = &cursor {
        update = update.value(":cursor", jobs::text(cursor.clone()));
    }
    if finished {
        update = update.value(":now", jobs::text(now_rfc3339()));
    }
    let saved = store
        .update_where(
            &key,
            update,
            Expr::new("#chunk = :chunk")
                .name("#chunk", "chunk")
                .value(":chunk", jobs::number(chunk)),
        )
        .await?;
    if !saved {
        return Ok(());
    }
    tracing::info!(
        chunk,
        records = part.records.len(),
        finished,
        "export chunk saved"
    );
    if !finished {
        let next = AccountJob::Export {
            user_id: me.clone(),
            export_id: export_id.to_owned(),
            chunk: chunk + 1,
        };
        queue.send(&next).await?;
        mark_sent(store, me, export_id, chunk + 1).await?;
    }
    Ok(())
}

/// Joins parts `0..=last` into the archive, grouped by context, then deletes them.
async fn assemble(
    archives: &Archives,
    me: &UserId,
    job: &ExportJob,
    last: u32,
    count: u64,
) -> AppResult<()> {
    let mut contexts: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    let mut parts = Vec::new();
    for chunk in 0..=last {
        let key = Archives::part_key(me, &job.export_id, chunk);
        let part: Part =
            serde_json::from_slice(&archives.get(&key).await?).map_err(AppError::internal)?;
        for (context, record) in part.records {
            contexts.entry(context).or_default().push(record);
        }
        parts.push(key);
    }
    let archive = serde_json::json!({
        "userId": me,
        "exportId": job.export_id,
        "requestedAt": job.requested_at,
        "exportedAt": now_rfc3339(),
        "recordCount": count,
        "contexts": contexts,
    });
    let body = serde_json::to_vec_pretty(&archive).map_err(AppError::internal)?;
    archives
        .put(&Archives::archive_key(me, &job.export_id), body)
        .await?;
    archives.delete_keys(parts).await
}
