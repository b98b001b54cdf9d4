//! Account erasure as a job: `DELETE /v1/me` locks the account at once and queues
//! chunk 0; the account-jobs worker then runs every context's erasure steps in bounded
//! chunks, each checkpointed on the job item before the next chunk is queued.
//!
//! The job item is the account's tombstone `DELETED#<userId> / DELETED` (stream
//! consumers already check it), holding the plan position (`stepIndex`, `cursor`), the
//! chunk number and whether the next chunk's message was sent. A chunk message whose
//! number is not the job's is a redelivery and changes nothing (when it is the previous
//! one and the next message was never sent, it sends it). A chunk runs steps that are
//! idempotent, so a chunk that crashed before its checkpoint simply runs again.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tracing::instrument;

use crate::account::queue::{AccountJob, JobQueue};
use crate::account::{Archives, ERASURE_PLAN};
use crate::contexts::profiles::keys;
use crate::contexts::realtime;
use crate::contexts::realtime::push::Pusher;
use crate::core::auth::Principal;
use crate::core::error::{AppError, AppResult};
use crate::core::ids::{UserId, new_ulid, now_epoch_seconds, now_rfc3339};
use crate::table::jobs::{self, Next};
use crate::table::store::{self, Expr, Item, Key, Store};

/// The tombstone (and the token refusal it carries) outlives the stream's 24 h and any
/// token issued before the deletion.
pub const DELETED_ACCOUNT_TTL_SECONDS: i64 = 2 * 24 * 3600;

/// How much one chunk may do: units of work (items, messages, batch writes) and time.
#[derive(Debug, Clone, Copy)]
pub struct ChunkBudget {
    pub work: u32,
    pub time: Duration,
}

impl Default for ChunkBudget {
    fn default() -> Self {
        Self {
            work: 400,
            time: Duration::from_secs(8),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ErasureStatus {
    Erasing,
    Erased,
}

/// The job item (`DELETED#<userId> / DELETED`, entity `DeletedAccount`), minus keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErasureJob {
    /// Absent on tombstones written before erasure became a job.
    #[serde(default)]
    pub job_id: Option<String>,
    pub user_id: UserId,
    #[serde(default = "erased")]
    pub status: ErasureStatus,
    #[serde(default)]
    pub requested_at: Option<String>,
    /// Tokens issued at or before this epoch second are refused.
    #[serde(default)]
    pub revoked_before: Option<i64>,
    #[serde(default)]
    pub step_index: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(default)]
    pub chunk: u32,
    #[serde(default)]
    pub successor_sent: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
}

fn erased() -> ErasureStatus {
    ErasureStatus::Erased
}

/// What `DELETE /v1/me` answers (202).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErasureTicket {
    pub job_id: String,
    pub status: ErasureStatus,
    pub requested_at: String,
}

/// Whether a token may still act for its user: one GetItem of the tombstone. While
/// the account is being erased every token is refused (403); afterwards, tokens issued
/// at or before the deletion are (401), so a new sign-in can create a new account.
pub async fn check_token(store: &Store, principal: &Principal) -> AppResult<()> {
    let job: Option<ErasureJob> = store
        .get(&keys::deleted_account(&principal.user_id))
        .await?;
    judge_token(job, principal)
}

/// The key [`check_token`] reads: the caller's tombstone.
pub fn tombstone_key(principal: &Principal) -> Key {
    keys::deleted_account(&principal.user_id)
}

/// [`check_token`] on a tombstone item already read (e.g. along with a page's
/// BatchGetItem: `table::store::Rider`).
pub fn check_token_on(item: Option<Item>, principal: &Principal) -> AppResult<()> {
    let job: Option<ErasureJob> = item.map(store::from_item).transpose()?;
    judge_token(job, principal)
}

/// Pure rule: whether a token may act, given its account's tombstone (if any).
fn judge_token(job: Option<ErasureJob>, principal: &Principal) -> AppResult<()> {
    match job {
        None => Ok(()),
        Some(job) if job.status == ErasureStatus::Erasing => {
            Err(AppError::Forbidden("this account is being deleted".into()))
        }
        Some(ErasureJob {
            revoked_before: Some(before),
            ..
        }) if principal.issued_at.is_none_or(|iat| iat <= before) => Err(AppError::Unauthorized(
            "the token was revoked when its account was deleted".into(),
        )),
        Some(_) => Ok(()),
    }
}

/// `DELETE /v1/me`: writes the job (the account is refused from now on), closes my open
/// WebSockets through `@connections`, queues chunk 0 and answers with the job.
#[instrument(skip(store, queue, pusher))]
pub async fn request_erasure(
    store: &Store,
    queue: &JobQueue,
    pusher: &Pusher,
    me: &UserId,
) -> AppResult<ErasureTicket> {
    let job_id = new_ulid();
    let requested_at = now_rfc3339();
    let job = ErasureJob {
        job_id: Some(job_id.clone()),
        user_id: me.clone(),
        status: ErasureStatus::Erasing,
        requested_at: Some(requested_at.clone()),
        revoked_before: Some(now_epoch_seconds()),
        step_index: 0,
        step: ERASURE_PLAN.first().map(|s| s.qualified_name()),
        cursor: None,
        chunk: 0,
        successor_sent: false,
        completed_at: None,
    };
    let mut item = store::to_item(&job)?;
    item.extend(keys::deleted_account(me).to_item());
    item.insert("entity".into(), jobs::text("DeletedAccount"));
    item.insert(
        store::TTL_ATTRIBUTE.into(),
        jobs::number(now_epoch_seconds() + DELETED_ACCOUNT_TTL_SECONDS),
    );
    store.put(item).await?;
    let message = AccountJob::Erasure {
        user_id: me.clone(),
        job_id: job_id.clone(),
        chunk: 0,
    };
    if let Err(error) = queue.send(&message).await {
        // Without its first message the job would never run: undo the lock.
        store
            .delete(&keys::deleted_account(me))
            .await
            .unwrap_or_else(|e| tracing::error!(%e, "could not undo an unqueued erasure"));
        return Err(error);
    }
    mark_sent(store, me, &job_id, 0).await?;
    for connection in realtime::connections_of(store, me).await? {
        pusher.close(&connection.connection_id).await?;
    }
    tracing::info!(%me, %job_id, "account erasure requested");
    Ok(ErasureTicket {
        job_id,
        status: ErasureStatus::Erasing,
        requested_at,
    })
}

async fn mark_sent(store: &Store, me: &UserId, job_id: &str, chunk: u32) -> AppResult<bool> {
    store
        .update_where(
            &keys::deleted_account(me),
            Expr::new("SET successorSent = :true").value(":true", jobs::flag(true)),
            Expr::new("jobId = :job AND #chunk = :chunk")
                .name("#chunk", "chunk")
                .value(":job", jobs::text(job_id))
                .value(":chunk", jobs::number(chunk)),
        )
        .await
}

/// One chunk of an erasure job (the account-jobs worker). See the module docs for
/// what a redelivered or stale message does.
#[instrument(skip(store, queue, archives, budget))]
pub async fn run_chunk(
    store: &Store,
    queue: &JobQueue,
    archives: &Archives,
    budget: ChunkBudget,
    me: &UserId,
    job_id: &str,
    chunk: u32,
) -> AppResult<()> {
    let key = keys::deleted_account(me);
    let Some(job) = store.get::<ErasureJob>(&key).await? else {
        tracing::info!("no such erasure job; dropped");
        return Ok(());
    };
    if job.job_id.as_deref() != Some(job_id) || job.status == ErasureStatus::Erased {
        tracing::info!(status = ?job.status, "stale erasure message; dropped");
        return Ok(());
    }
    let next_message = AccountJob::Erasure {
        user_id: me.clone(),
        job_id: job_id.to_owned(),
        chunk: job.chunk,
    };
    if job.chunk != chunk {
        if job.chunk == chunk + 1 && !job.successor_sent {
            // The checkpoint was saved but the next message never left: send it now.
            queue.send(&next_message).await?;
            mark_sent(store, me, job_id, job.chunk).await?;
        }
        tracing::info!(
            job_chunk = job.chunk,
            "redelivered erasure chunk; nothing to do"
        );
        return Ok(());
    }
    let started = Instant::now();
    let (mut index, mut cursor) = (job.step_index, job.cursor.clone());
    let mut spent = 0u32;
    while let Some(step) = ERASURE_PLAN.get(index) {
        if spent >= budget.work || started.elapsed() >= budget.time {
            break;
        }
        let left = budget.work - spent;
        let done = step.run(store, archives, me, cursor.take(), left).await?;
        spent += done.work.max(1);
        match done.next {
            Next::Done => index += 1,
            Next::Continue(next) => cursor = next,
        }
    }
    let finished = index >= ERASURE_PLAN.len();
    let status = if finished { "erased" } else { "erasing" };
    let mut sets = vec![
        "#chunk = :next",
        "stepIndex = :index",
        "successorSent = :false",
        "updatedAt = :now",
        "#status = :status",
        "#expires = :expires",
    ];
    let mut removes = vec![];
    if finished {
        sets.push("completedAt = :now");
        removes.extend(["#step", "#cursor"]);
    } else {
        sets.push("#step = :step");
        if cursor.is_some() {
            sets.push("#cursor = :cursor");
        } else {
            removes.push("#cursor");
        }
    }
    let mut text = format!("SET {}", sets.join(", "));
    if !removes.is_empty() {
        text.push_str(&format!(" REMOVE {}", removes.join(", ")));
    }
    let mut update = Expr::new(text)
        .name("#chunk", "chunk")
        .name("#status", "status")
        .name("#expires", store::TTL_ATTRIBUTE)
        .name("#step", "step")
        .name("#cursor", "cursor")
        .value(":next", jobs::number(chunk + 1))
        .value(":index", jobs::number(index))
        .value(":false", jobs::flag(false))
        .value(":now", jobs::text(now_rfc3339()))
        .value(":status", jobs::text(status))
        .value(
            ":expires",
            jobs::number(now_epoch_seconds() + DELETED_ACCOUNT_TTL_SECONDS),
        );
    if let Some(step) = ERASURE_PLAN.get(index) {
        update = update.value(":step", jobs::text(step.qualified_name()));
    }
    if let Some(cursor) = &cursor {
        update = update.value(":cursor", jobs::text(cursor.clone()));
    }
    let saved = store
        .update_where(
            &key,
            update,
            Expr::new("jobId = :job AND #chunk = :chunk")
                .name("#chunk", "chunk")
                .value(":job", jobs::text(job_id))
                .value(":chunk", jobs::number(chunk)),
        )
        .await?;
    if !saved {
        tracing::info!("another delivery saved this chunk first");
        return Ok(());
    }
    tracing::info!(
        chunk,
        spent,
        step_index = index,
        finished,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "erasure chunk saved"
    );
    if !finished {
        let next = AccountJob::Erasure {
            user_id: me.clone(),
            job_id: job_id.to_owned(),
            chunk: chunk + 1,
        };
        queue.send(&next).await?;
        mark_sent(store, me, job_id, chunk + 1).await?;
    }
    Ok(())
}

/// The last step: whatever is still in my partition (blocks placed on me, idempotency
/// records, chat preferences, presence, send windows, export jobs, anything a future
/// context forgot) goes.
pub async fn sweep_partition(
    store: &Store,
    me: &UserId,
    cursor: Option<String>,
    limit: u32,
) -> AppResult<jobs::Chunk> {
    jobs::delete_all(
        store,
        &crate::table::keys::user_partition(me),
        &[""],
        cursor,
        limit,
    )
    .await
}
