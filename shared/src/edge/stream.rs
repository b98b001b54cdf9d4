//! The stream readers' Lambda side: decodes each DynamoDB stream record once into a
//! [`Change`](crate::table::stream::Change) and runs the registered reactions on a batch,
//! reporting the earliest failed record (Powertools' partial batch response).

use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use futures_util::future::join_all;

use crate::table::stream::{Change, ChangeKind, Reaction, string_of};

/// Decodes one stream record; `None` for a record that is no item change (an
/// unknown event name, or keys without `PK`/`SK`).
pub fn decode(record: &EventRecord) -> Option<Change> {
    let kind = match record.event_name.as_str() {
        "INSERT" => ChangeKind::Insert,
        "MODIFY" => ChangeKind::Modify,
        "REMOVE" => ChangeKind::Remove,
        _ => return None,
    };
    let keys = &record.change.keys;
    let (pk, sk) = (string_of(keys, "PK")?, string_of(keys, "SK")?);
    let image = |item: &serde_dynamo::Item| (!item.is_empty()).then(|| item.clone());
    Some(
        Change::new(
            kind,
            pk,
            sk,
            image(&record.change.old_image),
            image(&record.change.new_image),
        )
        .at(
            record.event_id.clone(),
            record.change.sequence_number.clone().unwrap_or_default(),
        ),
    )
}

/// Runs one batch of the table's stream through `reactions`: each record is decoded
/// once; every reaction gets the changes of its entities and works through them
/// (each key in order, see [`Reaction::lanes`]) at the same time as the others, so
/// a long reaction (a feed fan-out) never holds a short one (chat delivery) back.
///
/// The earliest record that failed in any reaction is reported as the batch item
/// failure: Lambda retries the batch from it, for every reaction (which are
/// idempotent), so no record after a failed one is checkpointed.
pub async fn react(event: &Event, reactions: &[Box<dyn Reaction>]) -> DynamoDbEventResponse {
    let changes: Vec<Option<Change>> = event.records.iter().map(decode).collect();
    let failed = join_all(
        reactions
            .iter()
            .map(|reaction| run(reaction.as_ref(), &changes)),
    )
    .await;
    let mut response = DynamoDbEventResponse::default();
    if let Some(earliest) = failed.into_iter().flatten().min() {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = event.records[earliest].change.sequence_number.clone();
        response.batch_item_failures.push(failure);
    }
    response
}

/// One reaction's share of the batch; the position of its earliest failed record.
async fn run(reaction: &dyn Reaction, changes: &[Option<Change>]) -> Option<usize> {
    let mine: Vec<(usize, &Change)> = changes
        .iter()
        .enumerate()
        .filter_map(|(position, change)| Some((position, change.as_ref()?)))
        .filter(|(_, change)| change.is_one_of(reaction.entities()))
        .collect();
    if mine.is_empty() {
        return None;
    }
    let started = std::time::Instant::now();
    let only: Vec<&Change> = mine.iter().map(|(_, change)| *change).collect();
    let batch = reaction.batch(&only);
    let lanes = reaction.lanes();
    let batch = &batch;
    let failed = crate::edge::batch::earliest_failure_by_key(
        mine.iter()
            .map(|(_, change)| if lanes > 1 { change.pk.as_str() } else { "" }),
        lanes,
        |index| {
            let (_, change) = mine[index];
            async move {
                batch.apply(change).await.inspect_err(|error| {
                    tracing::error!(
                        reaction = reaction.name(),
                        event_id = %change.event_id,
                        sequence_number = %change.sequence_number,
                        entity = ?change.entity,
                        %error,
                        "stream record failed; the batch is retried from it"
                    );
                })
            }
        },
    )
    .await;
    batch.finish();
    tracing::info!(
        reaction = reaction.name(),
        records = mine.len(),
        failed = failed.is_some(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "reaction done"
    );
    failed.map(|index| mine[index].0)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use futures_util::future::LocalBoxFuture;
    use serde_json::json;
    use tokio::sync::Notify;

    use super::react;
    use crate::core::error::{AppError, AppResult};
    use crate::table::stream::{Change, Reaction, ReactionBatch};

    /// A reaction that records what it applied, fails on `SK` "bad", and may wait for
    /// (or give) a signal before (after) applying.
    struct Probe {
        name: &'static str,
        entities: &'static [&'static str],
        lanes: usize,
        seen: Arc<Mutex<Vec<String>>>,
        wait_for: Option<Arc<Notify>>,
        signal: Option<Arc<Notify>>,
    }

    impl Probe {
        fn new(name: &'static str, entities: &'static [&'static str]) -> Self {
            Self {
                name,
                entities,
                lanes: 1,
                seen: Arc::default(),
                wait_for: None,
                signal: None,
            }
        }
    }

    impl Reaction for Probe {
        fn name(&self) -> &'static str {
            self.name
        }
        fn entities(&self) -> &'static [&'static str] {
            self.entities
        }
        fn lanes(&self) -> usize {
            self.lanes
        }
        fn batch<'a>(&'a self, _: &[&'a Change]) -> Box<dyn ReactionBatch + 'a> {
            Box::new(self)
        }
    }

    impl ReactionBatch for &Probe {
        fn apply<'a>(&'a self, change: &'a Change) -> LocalBoxFuture<'a, AppResult<()>> {
            Box::pin(async move {
                if let Some(wait) = &self.wait_for {
                    wait.notified().await;
                }
                self.seen.lock().unwrap().push(change.sk.clone());
                if let Some(signal) = &self.signal {
                    signal.notify_one();
                }
                if change.sk.starts_with("bad") {
                    return Err(AppError::internal("bad record"));
                }
                Ok(())
            })
        }
    }

    fn event(records: &[(&str, &str, &str, &str)]) -> aws_lambda_events::dynamodb::Event {
        let records: Vec<_> = records
            .iter()
            .enumerate()
            .map(|(i, (name, pk, sk, entity))| {
                let image = json!({"PK": {"S": pk}, "SK": {"S": sk}, "entity": {"S": entity}});
                let mut dynamodb = json!({
                    "Keys": {"PK": {"S": pk}, "SK": {"S": sk}},
                    "SequenceNumber": format!("{}", 100 + i),
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                    "SizeBytes": 100,
                    "ApproximateCreationDateTime": 1_700_000_000,
                });
                let side = if *name == "REMOVE" {
                    "OldImage"
                } else {
                    "NewImage"
                };
                dynamodb[side] = image;
                json!({"eventID": format!("e{i}"), "eventName": name, "eventSource": "aws:dynamodb",
                       "awsRegion": "us-east-1", "dynamodb": dynamodb})
            })
            .collect();
        serde_json::from_value(json!({ "Records": records })).unwrap()
    }

    #[tokio::test]
    async fn each_reaction_gets_only_the_changes_of_its_entities_in_order() {
        let chat = Probe::new("chat", &["Message", "RoomMember"]);
        let feed = Probe::new("feed", &["Activity"]);
        let (chat_seen, feed_seen) = (chat.seen.clone(), feed.seen.clone());
        let batch = event(&[
            ("INSERT", "ROOM#1", "MSG#1", "Message"),
            ("INSERT", "ACT#1", "META", "Activity"),
            ("INSERT", "USER#1", "PROFILE", "Profile"),
            ("REMOVE", "ROOM#1", "MEMBER#a", "RoomMember"),
        ]);
        let reactions: Vec<Box<dyn Reaction>> = vec![Box::new(chat), Box::new(feed)];

        let response = react(&batch, &reactions).await;

        assert!(response.batch_item_failures.is_empty());
        assert_eq!(*chat_seen.lock().unwrap(), ["MSG#1", "MEMBER#a"]);
        assert_eq!(*feed_seen.lock().unwrap(), ["META"]);
    }

    #[tokio::test]
    async fn the_earliest_record_failed_in_any_reaction_is_the_batch_item_failure() {
        let chat = Probe::new("chat", &["Message"]);
        let feed = Probe::new("feed", &["Activity"]);
        let (chat_seen, feed_seen) = (chat.seen.clone(), feed.seen.clone());
        let batch = event(&[
            ("INSERT", "ROOM#1", "MSG#1", "Message"),
            ("INSERT", "ACT#1", "bad", "Activity"),
            ("INSERT", "ACT#2", "META", "Activity"),
            ("INSERT", "ROOM#1", "bad-later", "Message"),
            ("INSERT", "ROOM#1", "MSG#3", "Message"),
        ]);
        let reactions: Vec<Box<dyn Reaction>> = vec![Box::new(chat), Box::new(feed)];

        let response = react(&batch, &reactions).await;

        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        assert_eq!(failed, [Some("101".to_owned())], "the feed's failed record");
        assert_eq!(
            *feed_seen.lock().unwrap(),
            ["bad"],
            "in order: nothing after a failure"
        );
        assert_eq!(*chat_seen.lock().unwrap(), ["MSG#1", "bad-later"]);
    }

    #[tokio::test]
    async fn a_slow_reaction_does_not_hold_another_back() {
        // The feed's record waits until chat has applied its own: run one after the
        // other, the batch would never finish.
        let chat_done = Arc::new(Notify::new());
        let mut feed = Probe::new("feed", &["Activity"]);
        feed.wait_for = Some(chat_done.clone());
        let mut chat = Probe::new("chat", &["Message"]);
        chat.signal = Some(chat_done);
        let batch = event(&[
            ("INSERT", "ACT#1", "META", "Activity"),
            ("INSERT", "ROOM#1", "MSG#1", "Message"),
        ]);
        let reactions: Vec<Box<dyn Reaction>> = vec![Box::new(feed), Box::new(chat)];

        let response =
            tokio::time::timeout(Duration::from_secs(5), react(&batch, &reactions)).await;

        assert!(response.is_ok_and(|r| r.batch_item_failures.is_empty()));
    }

    #[tokio::test]
    async fn with_lanes_one_keys_failure_does_not_stop_another_key() {
        let mut chat = Probe::new("chat", &["Message"]);
        chat.lanes = 4;
        let seen = chat.seen.clone();
        let batch = event(&[
            ("INSERT", "ROOM#1", "bad", "Message"),
            ("INSERT", "ROOM#2", "MSG#2a", "Message"),
            ("INSERT", "ROOM#1", "MSG#1b", "Message"),
            ("INSERT", "ROOM#2", "MSG#2b", "Message"),
        ]);
        let reactions: Vec<Box<dyn Reaction>> = vec![Box::new(chat)];

        let response = react(&batch, &reactions).await;

        assert_eq!(
            response.batch_item_failures[0].item_identifier.as_deref(),
            Some("100")
        );
        let mut seen = seen.lock().unwrap().clone();
        seen.sort();
        assert_eq!(
            seen,
            ["MSG#2a", "MSG#2b", "bad"],
            "ROOM#1 stops at its failure"
        );
    }
}
