//! Works the moderation queue: checks a profile version's text, or any other item's
//! text ([`agora::reactions::SCREENED`]), and records the verdict. A job about a version
//! or a text that is no longer current is dropped (a newer job follows); a malformed job
//! fails and, after the queue's retries, lands in its dead-letter queue.

use std::sync::Arc;

use agora::batch;
use agora::moderation::{self, ModerationJob, ScreeningStatus};
use agora::profiles::{self, ModerationStatus};
use agora::store::Store;
use agora::{AppError, AppResult, config, reactions, telemetry};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{LambdaEvent, service_fn};

pub async fn run() -> Result<(), lambda_runtime::Error> {
    let table = config::required("TABLE_NAME")?;
    let settings = config::ModerationConfig::from_env()?;
    let store = Arc::new(Store::from_environment(table).await);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let store = store.clone();
        async move {
            let response: SqsBatchResponse =
                batch::sqs_each(&event.payload, |message| handle(&store, &settings, message)).await;
            Ok::<_, lambda_runtime::Error>(response)
        }
    }))
    .await
}

async fn handle(
    store: &Store,
    settings: &config::ModerationConfig,
    message: SqsMessage,
) -> AppResult<()> {
    let body = message.body.as_deref().unwrap_or_default();
    let job: ModerationJob = serde_json::from_str(body)
        .map_err(|e| AppError::bad_field("body", format!("not a moderation job: {e}")))?;
    match job {
        ModerationJob::ModerateProfile { user_id, version } => {
            let verdict = profiles::moderate_profile(store, settings, &user_id, version).await?;
            tracing::info!(%user_id, version, ?verdict, "profile moderated");
            let metric = match verdict {
                Some(ModerationStatus::Flagged) => Some("FlaggedVerdicts"),
                Some(_) => Some("CleanVerdicts"),
                None => None,
            };
            if let Some(metric) = metric {
                telemetry::emit_counts("ModerateProfile", &[(metric, 1)]);
            }
            Ok(())
        }
        ModerationJob::ModerateText {
            entity,
            pk,
            sk,
            digest,
        } => {
            let screened = reactions::SCREENED
                .iter()
                .find(|s| s.entity == entity)
                .ok_or_else(|| {
                    AppError::bad_field("entity", format!("{entity} is not screened"))
                })?;
            let verdict = moderation::screen(store, settings, screened, &pk, &sk, &digest).await?;
            tracing::info!(%entity, %pk, %sk, status = ?verdict.as_ref().map(|v| v.status), "text moderated");
            let metric = match verdict.map(|v| v.status) {
                Some(
                    ScreeningStatus::Hidden | ScreeningStatus::Removed | ScreeningStatus::Reported,
                ) => Some("FlaggedVerdicts"),
                Some(ScreeningStatus::Clean) => Some("CleanVerdicts"),
                None => None,
            };
            if let Some(metric) = metric {
                telemetry::emit_counts("ModerateText", &[(metric, 1)]);
            }
            Ok(())
        }
    }
}
