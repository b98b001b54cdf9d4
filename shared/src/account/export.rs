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

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
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
/// S3 refuses a multipart part under 5 MiB (but the last).
pub const MIN_PART_BYTES: usize = 5 * 1024 * 1024;
/// Default size of the archive's upload parts: the memory the assembly holds.
pub const DEFAULT_PART_BYTES: usize = 8 * 1024 * 1024;

fn s3_error(error: impl std::fmt::Display) -> AppError {
    AppError::internal(format!("s3: {error}"))
}

/// The export bucket (`EXPORT_BUCKET`) and how long download URLs live
/// (`EXPORT_URL_SECONDS`, default 900).
#[derive(Debug, Clone)]
pub struct Archives {
    /// Built on first use: only exports need S3, so no cold start waits for it.
    client: std::sync::Arc<std::sync::OnceLock<aws_sdk_s3::Client>>,
    sdk: aws_config::SdkConfig,
    path_style: bool,
    bucket: String,
    url_lifetime: Duration,
    part_bytes: usize,
}

impl Archives {
    /// Reads its configuration once (failing fast). With a custom S3 endpoint (the
    /// local stack's `AWS_ENDPOINT_URL_S3`) requests and presigned URLs are path-style.
    /// `EXPORT_PART_BYTES` (default 8 MiB, at least S3's 5 MiB) sizes the archive's
    /// upload parts.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let bucket = config::required("EXPORT_BUCKET")?;
        let seconds: u64 = config::optional_number("EXPORT_URL_SECONDS", DEFAULT_URL_SECONDS)?;
        let part_bytes: usize = config::optional_number("EXPORT_PART_BYTES", DEFAULT_PART_BYTES)?;
        if part_bytes < MIN_PART_BYTES {
            return Err(ConfigError::Invalid {
                name: "EXPORT_PART_BYTES",
                reason: format!("S3 needs parts of at least {MIN_PART_BYTES} bytes"),
            });
        }
        let emulated = config::optional("AWS_ENDPOINT_URL_S3").is_some()
            || config::optional("AWS_ENDPOINT_URL").is_some();
        Ok(Self {
            client: std::sync::Arc::new(std::sync::OnceLock::new()),
            sdk: sdk.clone(),
            path_style: emulated,
            bucket,
            url_lifetime: Duration::from_secs(seconds),
            part_bytes,
        })
    }

    fn client(&self) -> &aws_sdk_s3::Client {
        self.client.get_or_init(|| {
            let conf = aws_sdk_s3::config::Builder::from(&self.sdk)
                .force_path_style(self.path_style)
                .build();
            aws_sdk_s3::Client::from_conf(conf)
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
        self.client()
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
            .client()
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
            self.client()
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
            .client()
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

    async fn start_upload(&self, key: &str) -> AppResult<String> {
        let output = self
            .client()
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .send()
            .await
            .map_err(|e| s3_error(aws_sdk_s3::error::DisplayErrorContext(&e)))?;
        output
            .upload_id()
            .map(str::to_owned)
            .ok_or_else(|| s3_error("CreateMultipartUpload answered no upload id"))
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        body: Vec<u8>,
    ) -> AppResult<CompletedPart> {
        let output = self
            .client()
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| s3_error(aws_sdk_s3::error::DisplayErrorContext(&e)))?;
        Ok(CompletedPart::builder()
            .set_e_tag(output.e_tag().map(str::to_owned))
            .part_number(number)
            .build())
    }

    async fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<CompletedPart>,
    ) -> AppResult<()> {
        self.client()
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| s3_error(aws_sdk_s3::error::DisplayErrorContext(&e)))
    }

    /// Best effort: an upload left behind is also removed by the bucket's
    /// `AbortIncompleteMultipartUpload` rule after a day.
    async fn abort_upload(&self, key: &str, upload_id: &str) {
        let aborted = self
            .client()
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await;
        if let Err(error) = aborted {
            tracing::warn!(
                error = %aws_sdk_s3::error::DisplayErrorContext(&error),
                "could not abort the archive's multipart upload"
            );
        }
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
            .client()
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
        store.delete(&key).await?;
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
///
/// The archive is streamed: one chunk's part is read at a time and written on as a
/// multipart upload of `EXPORT_PART_BYTES` parts, so the memory it takes does not grow
/// with the account. A failed assembly aborts its upload, and the redelivered chunk
/// assembles again from the parts, which are deleted only once the archive is whole.
async fn assemble(
    archives: &Archives,
    me: &UserId,
    job: &ExportJob,
    last: u32,
    count: u64,
) -> AppResult<()> {
    let archive_key = Archives::archive_key(me, &job.export_id);
    let upload_id = archives.start_upload(&archive_key).await?;
    match stream_archive(archives, me, job, last, count, &archive_key, &upload_id).await {
        Ok(parts) => {
            archives
                .complete_upload(&archive_key, &upload_id, parts)
                .await?;
        }
        Err(error) => {
            archives.abort_upload(&archive_key, &upload_id).await;
            return Err(error);
        }
    }
    let parts = (0..=last)
        .map(|chunk| Archives::part_key(me, &job.export_id, chunk))
        .collect();
    archives.delete_keys(parts).await
}

async fn stream_archive(
    archives: &Archives,
    me: &UserId,
    job: &ExportJob,
    last: u32,
    count: u64,
    archive_key: &str,
    upload_id: &str,
) -> AppResult<Vec<CompletedPart>> {
    let header = ArchiveHeader {
        user_id: me.clone(),
        export_id: job.export_id.clone(),
        requested_at: job.requested_at.clone(),
        exported_at: now_rfc3339(),
        record_count: count,
    };
    let mut json = ArchiveJson::default();
    let mut buffer = PartBuffer::new(archives.part_bytes);
    let mut uploaded = Vec::new();
    let upload = Upload {
        archives,
        key: archive_key,
        upload_id,
    };
    if let Some(full) = buffer.push(&json.open(&header)?) {
        upload.part(&mut uploaded, full).await?;
    }
    for chunk in 0..=last {
        let key = Archives::part_key(me, &job.export_id, chunk);
        let part: Part =
            serde_json::from_slice(&archives.get(&key).await?).map_err(AppError::internal)?;
        for (context, record) in part.records {
            if let Some(full) = buffer.push(&json.record(&context, &record)?) {
                upload.part(&mut uploaded, full).await?;
            }
        }
    }
    upload
        .part(&mut uploaded, buffer.finish(&json.close()))
        .await?;
    Ok(uploaded)
}

/// One multipart upload of the archive, its parts numbered from 1.
struct Upload<'a> {
    archives: &'a Archives,
    key: &'a str,
    upload_id: &'a str,
}

impl Upload<'_> {
    async fn part(&self, uploaded: &mut Vec<CompletedPart>, body: Vec<u8>) -> AppResult<()> {
        let number = i32::try_from(uploaded.len() + 1).map_err(AppError::internal)?;
        let part = self
            .archives
            .upload_part(self.key, self.upload_id, number, body)
            .await?;
        uploaded.push(part);
        Ok(())
    }
}

/// The archive's fields before its records.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ArchiveHeader {
    user_id: UserId,
    export_id: String,
    requested_at: String,
    exported_at: String,
    record_count: u64,
}

/// Writes the archive's JSON a record at a time:
/// `{"userId":…,"exportId":…,"requestedAt":…,"exportedAt":…,"recordCount":…,
/// "contexts":{"<context>":[<record>,…],…}}`, a record per line. The export plan runs
/// context by context, so a context's records arrive together; one that came back
/// after another context would make a duplicate key, and is refused.
#[derive(Debug, Default)]
struct ArchiveJson {
    current: Option<String>,
    closed: BTreeSet<String>,
}

impl ArchiveJson {
    fn open(&mut self, header: &ArchiveHeader) -> AppResult<Vec<u8>> {
        let mut text = serde_json::to_string(header).map_err(AppError::internal)?;
        // `{…}` becomes `{…,"contexts":{`.
        text.pop();
        text.push_str(",\"contexts\":{");
        Ok(text.into_bytes())
    }

    fn record(&mut self, context: &str, record: &serde_json::Value) -> AppResult<Vec<u8>> {
        let mut out = String::new();
        match &self.current {
            Some(current) if current == context => out.push_str(",\n"),
            _ => {
                if self.closed.contains(context) {
                    return Err(AppError::internal(format!(
                        "the export plan returned to context {context}"
                    )));
                }
                if let Some(previous) = self.current.take() {
                    out.push_str("\n],");
                    self.closed.insert(previous);
                }
                out.push_str(&serde_json::to_string(context).map_err(AppError::internal)?);
                out.push_str(":[\n");
                self.current = Some(context.to_owned());
            }
        }
        out.push_str(&serde_json::to_string(record).map_err(AppError::internal)?);
        Ok(out.into_bytes())
    }

    fn close(&mut self) -> Vec<u8> {
        match self.current.take() {
            Some(_) => b"\n]}}\n".to_vec(),
            None => b"}}\n".to_vec(),
        }
    }
}

/// Gathers bytes into upload parts of at least `size` bytes (all but the last).
#[derive(Debug)]
struct PartBuffer {
    size: usize,
    buffer: Vec<u8>,
}

impl PartBuffer {
    fn new(size: usize) -> Self {
        Self {
            size,
            buffer: Vec::new(),
        }
    }

    /// Adds bytes; a part once it reached the size.
    fn push(&mut self, bytes: &[u8]) -> Option<Vec<u8>> {
        self.buffer.extend_from_slice(bytes);
        (self.buffer.len() >= self.size).then(|| std::mem::take(&mut self.buffer))
    }

    /// The last part: what is left, with the closing bytes.
    fn finish(mut self, bytes: &[u8]) -> Vec<u8> {
        self.buffer.extend_from_slice(bytes);
        self.buffer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn header() -> ArchiveHeader {
        ArchiveHeader {
            user_id: UserId::parse("ana").unwrap_or_else(|e| panic!("{e}")),
            export_id: "01EXPORT".into(),
            requested_at: "2026-11-26T05:00:00Z".into(),
            exported_at: "2026-11-26T05:01:00Z".into(),
            record_count: 3,
        }
    }

    /// Streams records through the writer and a part buffer of `size` bytes.
    fn stream(records: &[(&str, Value)], size: usize) -> AppResult<Vec<Vec<u8>>> {
        let mut json = ArchiveJson::default();
        let mut buffer = PartBuffer::new(size);
        let mut parts = Vec::new();
        parts.extend(buffer.push(&json.open(&header())?));
        for (context, record) in records {
            parts.extend(buffer.push(&json.record(context, record)?));
        }
        parts.push(buffer.finish(&json.close()));
        Ok(parts)
    }

    #[test]
    fn a_streamed_archive_is_its_header_and_its_records_grouped_by_context() -> AppResult<()> {
        let records = [
            ("profiles", json!({"handle": "ana"})),
            ("discussions", json!({"title": "first"})),
            (
                "discussions",
                json!({"title": "second", "body": "x".repeat(200)}),
            ),
        ];

        let parts = stream(&records, 64)?;

        assert!(parts.len() > 2, "several parts: {}", parts.len());
        let (last, full) = parts.split_last().unwrap_or_else(|| panic!("no parts"));
        assert!(
            full.iter().all(|p| p.len() >= 64),
            "every part but the last is full"
        );
        assert!(!last.is_empty());
        let archive: Value = serde_json::from_slice(&parts.concat()).map_err(AppError::internal)?;
        assert_eq!(
            archive,
            json!({
                "userId": "ana",
                "exportId": "01EXPORT",
                "requestedAt": "2026-11-26T05:00:00Z",
                "exportedAt": "2026-11-26T05:01:00Z",
                "recordCount": 3,
                "contexts": {
                    "profiles": [{"handle": "ana"}],
                    "discussions": [
                        {"title": "first"},
                        {"title": "second", "body": "x".repeat(200)}
                    ]
                }
            })
        );
        Ok(())
    }

    #[test]
    fn an_archive_without_records_is_one_part_of_valid_json() -> AppResult<()> {
        let parts = stream(&[], DEFAULT_PART_BYTES)?;

        assert_eq!(parts.len(), 1);
        let archive: Value = serde_json::from_slice(&parts[0]).map_err(AppError::internal)?;
        assert_eq!(archive["contexts"], json!({}));
        assert_eq!(archive["recordCount"], 3);
        Ok(())
    }

    #[test]
    fn a_context_that_comes_back_after_another_is_refused_rather_than_written_twice() {
        let mut json = ArchiveJson::default();
        let _ = json.open(&header());

        let first = json.record("chat", &json!(1));
        let other = json.record("feed", &json!(2));
        let again = json.record("chat", &json!(3));

        assert!(first.is_ok() && other.is_ok());
        assert!(again.is_err());
    }

    #[test]
    fn the_export_plan_runs_each_context_s_steps_together() {
        let contexts: Vec<&str> = EXPORT_PLAN.iter().map(|(context, _)| *context).collect();
        let mut seen = BTreeSet::new();
        let mut previous = None;

        for context in &contexts {
            if previous != Some(*context) {
                assert!(
                    seen.insert(*context),
                    "{context} comes back in {contexts:?}"
                );
            }
            previous = Some(*context);
        }

        assert!(!seen.is_empty());
    }
}
