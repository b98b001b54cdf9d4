//! Works the account-jobs queue: each message is one chunk of an erasure or an export
//! job (see `agora::account`). A chunk does a bounded amount of work, checkpoints the
//! job and queues the next chunk; a redelivered message changes nothing. A message that
//! keeps failing lands, after the queue's retries, in its dead-letter queue, and its job
//! stays at its last checkpoint (re-driving the message resumes it).

use std::sync::Arc;
use std::time::Duration;

use agora::account::Archives;
use agora::account::erasure::{self, ChunkBudget};
use agora::account::export;
use agora::account::queue::{AccountJob, JobQueue};
use agora::batch;
use agora::store::Store;
use agora::{AppError, AppResult, config};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{LambdaEvent, service_fn};

struct Worker {
    store: Store,
    queue: JobQueue,
    archives: Archives,
    budget: ChunkBudget,
}

pub async fn run() -> Result<(), lambda_runtime::Error> {
    let table = config::required("TABLE_NAME")?;
    let sdk = aws_config::load_from_env().await;
    let defaults = ChunkBudget::default();
    let worker = Arc::new(Worker {
        store: Store::from_sdk_config(&sdk, table),
        queue: JobQueue::new(&sdk, config::required("ACCOUNT_JOBS_QUEUE_URL")?),
        archives: Archives::from_env(&sdk)?,
        budget: ChunkBudget {
            work: config::optional_number("ACCOUNT_JOB_CHUNK_WORK", defaults.work)?,
            time: Duration::from_secs(config::optional_number(
                "ACCOUNT_JOB_CHUNK_SECONDS",
                defaults.time.as_secs(),
            )?),
        },
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let worker = worker.clone();
        async move {
            let response: SqsBatchResponse =
                batch::sqs_each(&event.payload, |message| handle(&worker, message)).await;
            Ok::<_, lambda_runtime::Error>(response)
        }
    }))
    .await
}

async fn handle(worker: &Worker, message: SqsMessage) -> AppResult<()> {
    let body = message.body.as_deref().unwrap_or_default();
    let job: AccountJob = serde_json::from_str(body)
        .map_err(|e| AppError::bad_field("body", format!("not an account job: {e}")))?;
    let Worker {
        store,
        queue,
        archives,
        budget,
    } = worker;
    match job {
        AccountJob::Erasure {
            user_id,
            job_id,
            chunk,
        } => {
            Box::pin(erasure::run_chunk(
                store, queue, archives, *budget, &user_id, &job_id, chunk,
            ))
            .await
        }
        AccountJob::Export {
            user_id,
            export_id,
            chunk,
        } => {
            Box::pin(export::run_chunk(
                store, queue, archives, *budget, &user_id, &export_id, chunk,
            ))
            .await
        }
    }
}
