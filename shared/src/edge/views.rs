//! The topic-views worker's batch handler: topic pages queue one view each
//! (`discussions::view_topic`), and a batch adds each topic's views in one UpdateItem
//! (`discussions::count_views`), so a popular topic costs one write per batch instead of
//! one per read. Topics are written concurrently; when one topic's write fails, its
//! messages alone are reported and redelivered. A message that is not a view is dropped
//! (logged): it would fail every time. Each view also records its reader's first opening
//! of the topic for their trust stats (`trust::record_read`).

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use futures_util::StreamExt;

use crate::contexts::{discussions, trust};
use crate::table::store::Store;

/// Topics written at once.
const CONCURRENCY: usize = 16;

pub async fn count(store: &Store, event: &SqsEvent) -> SqsBatchResponse {
    let tally = discussions::views_by_topic(event.records.iter().map(|m| {
        (
            m.message_id.as_deref().unwrap_or_default(),
            m.body.as_deref().unwrap_or_default(),
        )
    }));
    if !tally.malformed.is_empty() {
        tracing::error!(messages = ?tally.malformed, "dropping messages that are not topic views");
    }
    let failed: Vec<String> = futures_util::stream::iter(tally.topics)
        .map(|(topic_id, messages)| async move {
            match discussions::count_views(store, &topic_id, messages.len()).await {
                Ok(()) => vec![],
                Err(error) => {
                    tracing::error!(%error, topic_id, "counting views failed");
                    messages
                }
            }
        })
        .buffer_unordered(CONCURRENCY)
        .flat_map(futures_util::stream::iter)
        .collect()
        .await;
    // Each reader's first opening of a topic counts for their trust (once per reader
    // and topic, whatever the redeliveries); a read that cannot be recorded fails its
    // message alone, whose view is then counted again (views are a tally, reads are not).
    let unread: Vec<String> = futures_util::stream::iter(tally.readers)
        .map(|(id, reader, topic_id, posts)| async move {
            let read = trust::TopicRead {
                reader,
                topic_id,
                posts,
            };
            match trust::record_read(store, &read).await {
                Ok(()) => None,
                Err(error) => {
                    tracing::error!(%error, topic_id = read.topic_id, "recording a read failed");
                    Some(id)
                }
            }
        })
        .buffer_unordered(CONCURRENCY)
        .filter_map(|id| async move { id })
        .collect()
        .await;
    let failed: Vec<String> = failed
        .into_iter()
        .chain(unread)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let counted = event.records.len() - failed.len() - tally.malformed.len();
    crate::core::telemetry::emit_counts(
        "TopicViews",
        &[
            ("CountedViews", u64::try_from(counted).unwrap_or(u64::MAX)),
            (
                "FailedViews",
                u64::try_from(failed.len()).unwrap_or(u64::MAX),
            ),
        ],
    );
    let mut response = SqsBatchResponse::default();
    for id in failed {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    response
}
