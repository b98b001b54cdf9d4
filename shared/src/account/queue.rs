//! The account-jobs queue: one SQS message per chunk of an erasure or export job.

use serde::{Deserialize, Serialize};

use crate::core::error::{AppError, AppResult};
use crate::core::ids::UserId;

/// A message on the account-jobs queue: "run chunk `chunk` of this job".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum AccountJob {
    #[serde(rename_all = "camelCase")]
    Erasure {
        user_id: UserId,
        job_id: String,
        chunk: u32,
    },
    #[serde(rename_all = "camelCase")]
    Export {
        user_id: UserId,
        export_id: String,
        chunk: u32,
    },
}

/// The queue, from `ACCOUNT_JOBS_QUEUE_URL` (the SDK finds the local stack through
/// `AWS_ENDPOINT_URL*`).
#[derive(Debug, Clone)]
pub struct JobQueue {
    /// Built on the first job: a profiles cold start does not wait for a client that
    /// only exports and erasures use.
    client: std::sync::Arc<std::sync::OnceLock<aws_sdk_sqs::Client>>,
    config: aws_config::SdkConfig,
    url: String,
}

impl JobQueue {
    pub fn new(config: &aws_config::SdkConfig, url: impl Into<String>) -> Self {
        Self {
            client: std::sync::Arc::new(std::sync::OnceLock::new()),
            config: config.clone(),
            url: url.into(),
        }
    }

    pub async fn send(&self, job: &AccountJob) -> AppResult<()> {
        let body = serde_json::to_string(job).map_err(AppError::internal)?;
        self.client
            .get_or_init(|| aws_sdk_sqs::Client::new(&self.config))
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                AppError::internal(format!(
                    "sqs: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_job_message_has_a_stable_wire_form() {
        let job = AccountJob::Erasure {
            user_id: UserId::parse("u1").unwrap(),
            job_id: "01JD8A2B3C4D5E6F7G8H9J0K1M".into(),
            chunk: 3,
        };

        let json = serde_json::to_value(&job).unwrap();

        assert_eq!(
            json,
            serde_json::json!({
                "kind": "erasure", "userId": "u1",
                "jobId": "01JD8A2B3C4D5E6F7G8H9J0K1M", "chunk": 3,
            })
        );
        let sample = include_str!("../../../events/account-jobs.json");
        let event: serde_json::Value = serde_json::from_str(sample).unwrap();
        for record in event["Records"].as_array().unwrap() {
            let body = record["body"].as_str().unwrap();
            assert!(serde_json::from_str::<AccountJob>(body).is_ok(), "{body}");
        }
    }
}
