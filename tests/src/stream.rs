//! Acting out what Lambda does with the table's stream: records built by hand and handed
//! to a stream function again, the way a retried (redelivered) batch arrives.

use serde_json::{Value, json};

use crate::TestStack;

/// DynamoDB JSON (`{"S": ..}`, `{"N": ..}`, `{"M": ..}`, ...) of an item given as plain
/// JSON: the form of the images in a stream record.
pub fn dynamodb_json(item: &Value) -> anyhow::Result<Value> {
    Ok(serde_json::to_value(serde_dynamo::to_item::<
        _,
        serde_dynamo::Item,
    >(item)?)?)
}

/// A builder for one DynamoDB stream record as Lambda hands it to a stream function,
/// from items given as plain JSON (with their keys).
#[derive(Debug, Clone)]
pub struct StreamRecord {
    event_name: &'static str,
    event_id: String,
    sequence: u64,
    old_image: Option<Value>,
    new_image: Option<Value>,
}

impl StreamRecord {
    /// The record of `item` being written for the first time.
    pub fn insert(item: &Value) -> Self {
        Self::new("INSERT", None, Some(item))
    }

    /// The record of `item` being removed.
    pub fn remove(item: &Value) -> Self {
        Self::new("REMOVE", Some(item), None)
    }

    fn new(event_name: &'static str, old: Option<&Value>, new: Option<&Value>) -> Self {
        Self {
            event_name,
            event_id: format!("redelivered-{}", ulid::Ulid::new()),
            sequence: 1,
            old_image: old.cloned(),
            new_image: new.cloned(),
        }
    }

    /// Sets the record's `eventID` (a fresh unique one by default).
    pub fn event_id(mut self, event_id: impl Into<String>) -> Self {
        self.event_id = event_id.into();
        self
    }

    /// Sets the record's `SequenceNumber` (1 by default).
    pub fn sequence(mut self, sequence: u64) -> Self {
        self.sequence = sequence;
        self
    }

    /// The record as the JSON a stream function receives.
    pub fn to_json(&self) -> anyhow::Result<Value> {
        let keyed = self
            .new_image
            .as_ref()
            .or(self.old_image.as_ref())
            .ok_or_else(|| anyhow::anyhow!("a stream record needs an image"))?;
        let mut change = json!({
            "ApproximateCreationDateTime": 1_763_897_400,
            "Keys": {"PK": {"S": keyed["PK"]}, "SK": {"S": keyed["SK"]}},
            "SequenceNumber": format!("{:021}", self.sequence),
            "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        });
        if let Some(new) = &self.new_image {
            change["NewImage"] = dynamodb_json(new)?;
        }
        if let Some(old) = &self.old_image {
            change["OldImage"] = dynamodb_json(old)?;
        }
        Ok(json!({
            "eventID": self.event_id,
            "eventName": self.event_name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": change,
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-01-01T00:00:00.000",
        }))
    }
}

impl TestStack {
    /// Invokes the stream function `function` (its logical id in the template) with
    /// `records` as one batch and returns its answer (`batchItemFailures`).
    pub async fn invoke_stream_function(
        &self,
        function: &str,
        records: &[StreamRecord],
    ) -> anyhow::Result<Value> {
        let records = records
            .iter()
            .map(StreamRecord::to_json)
            .collect::<anyhow::Result<Vec<_>>>()?;
        self.stack
            .invoker()
            .invoke(function, json!({ "Records": records }))
            .await
            .map_err(|e| anyhow::anyhow!("invoking {function} failed: {e}"))
    }

    /// Hands `messages` (`(messageId, body)`) to the queue-triggered function
    /// `function` as one SQS batch and returns the message ids it reported as failed.
    pub async fn invoke_queue_function(
        &self,
        function: &str,
        messages: &[(&str, Value)],
    ) -> anyhow::Result<Vec<String>> {
        let records: Vec<Value> = messages
            .iter()
            .map(|(id, body)| {
                json!({"messageId": id, "body": body.to_string(), "eventSource": "aws:sqs"})
            })
            .collect();
        let answer = self
            .stack
            .invoker()
            .invoke(function, json!({ "Records": records }))
            .await
            .map_err(|e| anyhow::anyhow!("invoking {function} failed: {e}"))?;
        Ok(answer["batchItemFailures"]
            .as_array()
            .map(|failures| {
                failures
                    .iter()
                    .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Hands `records` to the stream function `function` again, as Lambda does when it
    /// retries a batch; fails when any record of the batch failed.
    pub async fn redeliver_batch(
        &self,
        function: &str,
        records: &[StreamRecord],
    ) -> anyhow::Result<()> {
        let response = self.invoke_stream_function(function, records).await?;
        anyhow::ensure!(
            response["batchItemFailures"]
                .as_array()
                .is_none_or(|failures| failures.is_empty()),
            "the redelivered batch failed: {response}"
        );
        Ok(())
    }
}
