//! Moderation: access patterns — the review queues as moderators read them.

#[allow(unused_imports)]
use super::*;

use std::collections::{BTreeMap, HashMap};

use crate::core::cursor::{CursorCodec, Page};
use crate::table::store::KeyQuery;

/// One entry of a review queue: what was hidden (its ids and its text as it is now),
/// whose it is, and the verdict that hid it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewView {
    /// What a decision names (`POST /v1/moderation/queue/{reviewId}`).
    pub review_id: String,
    pub content: ContentRef,
    pub author_id: UserId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub community_id: Option<String>,
    pub status: ReviewStatus,
    /// The automatic verdict that hid it.
    pub screening: Screening,
    pub flagged_at: String,
    /// The item's text now, by attribute (absent once the item is gone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<BTreeMap<String, String>>,
    /// A moderator's decision, once made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<ReviewDecision>,
}

impl ReviewView {
    /// The view of a review item (`None` for keys no screened item has), with the
    /// item's text when it was read.
    pub fn of(review: ReviewItem, text: Option<BTreeMap<String, String>>) -> Option<Self> {
        let content = content_ref(&review.subject, &review.screening.categories)?;
        Some(Self {
            review_id: review_id(&review.subject),
            content,
            author_id: review.author_id,
            community_id: review.community_id,
            status: review.status,
            screening: review.screening,
            flagged_at: review.flagged_at,
            text,
            decision: review.decision,
        })
    }
}

/// A page of the review queue `community` (`None`: the global one), oldest first: one
/// Query of GSI1 `MODQ#…`, then one BatchGetItem of the items, for their text now.
/// Who may read which queue is the caller's to decide (the edge: platform moderators
/// every queue, a community's moderators its own).
pub async fn review_queue(
    store: &Store,
    cursors: &CursorCodec,
    reader: &UserId,
    screened: &[Screened],
    community: Option<&str>,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<ReviewView>> {
    let partition = queue_partition(community);
    let scope = format!("review-queue:{partition}");
    let start = cursor
        .map(|c| cursors.open(reader, &scope, c))
        .transpose()?;
    let (items, next) = store
        .query(
            &KeyQuery::partition(&partition)
                .on(Index::Gsi1)
                .limit(limit)
                .start(start),
        )
        .await?;
    let reviews = items
        .into_iter()
        .map(store::from_item)
        .collect::<AppResult<Vec<ReviewItem>>>()?;
    let keys: Vec<Key> = reviews
        .iter()
        .map(|r| Key::new(&r.subject.pk, &r.subject.sk))
        .collect();
    let found: HashMap<(String, String), Item> = store
        .batch_get_items(&keys)
        .await?
        .into_iter()
        .filter_map(|item| {
            let pk = item.get(store::PK)?.as_s().ok()?.clone();
            let sk = item.get(store::SK)?.as_s().ok()?.clone();
            Some(((pk, sk), item))
        })
        .collect();
    let items = reviews
        .into_iter()
        .filter_map(|review| {
            let text = screened
                .iter()
                .find(|s| s.entity == review.subject.entity)
                .zip(found.get(&(review.subject.pk.clone(), review.subject.sk.clone())))
                .map(|(screened, item)| {
                    text_of(item, screened)
                        .into_iter()
                        .filter(|(_, value)| !value.is_empty())
                        .map(|(name, value)| (name.to_owned(), value))
                        .collect()
                });
            ReviewView::of(review, text)
        })
        .collect();
    Ok(Page {
        items,
        next_cursor: cursors.seal_next(reader, &scope, next)?,
    })
}
