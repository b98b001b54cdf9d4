//! Moderation: access patterns — the review queues as moderators read them.

#[allow(unused_imports)]
use super::*;

use std::collections::BTreeMap;

use crate::core::cursor::{CursorCodec, Page};
use crate::table::store::KeyQuery;

/// One entry of a review queue: what was hidden (its ids and its text as it is now),
/// whose it is, and the verdict that hid it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueEntry {
    /// What a decision names (`POST /v1/moderation/queue/{reviewId}`).
    pub review_id: String,
    pub content: ContentRef,
    pub author_id: UserId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub community_id: Option<String>,
    pub status: ReviewStatus,
    /// The verdict that hid it: the classifier's (`hidden`), or `reported` when enough
    /// people reported it (with the classifier's confidence and categories, if any).
    pub screening: Screening,
    pub flagged_at: String,
    /// How many distinct people reported the item.
    pub reports: u32,
    /// The item's text now, by attribute (absent once the item is gone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<BTreeMap<String, String>>,
    /// A moderator's decision, once made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<ReviewDecision>,
}

impl QueueEntry {
    /// The view of a review item (`None` for keys no screened item has), with the
    /// item's text when it was read.
    pub fn of(
        review: ReviewItem,
        text: Option<BTreeMap<String, String>>,
        reports: u32,
    ) -> Option<Self> {
        let content = content_of(&review)?;
        Some(Self {
            review_id: review_id(&review.subject),
            content,
            author_id: review.author_id,
            community_id: review.community_id,
            status: review.status,
            screening: review.screening,
            flagged_at: review.flagged_at,
            reports,
            text,
            decision: review.decision,
        })
    }
}

/// A page of the review queue `community` (`None`: the global one), oldest first: one
/// Query of GSI1 `MODQ#…`, then one BatchGetItem of the items (for their text now) and
/// their report tallies.
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
) -> AppResult<Page<QueueEntry>> {
    let (items, next_cursor) = queue_page(
        store,
        cursors,
        reader,
        &queue_partition(community),
        limit,
        cursor,
    )
    .await?;
    let reviews = items
        .into_iter()
        .map(store::from_item)
        .collect::<AppResult<Vec<ReviewItem>>>()?;
    let keys: Vec<Key> = reviews
        .iter()
        .flat_map(|r| {
            [
                Key::new(&r.subject.pk, &r.subject.sk),
                tally_key(&r.subject.pk, &r.subject.sk),
            ]
        })
        .collect();
    let found = store.batch_get_each(&keys).await?;
    let items = reviews
        .into_iter()
        .zip(found.chunks(2))
        .filter_map(|(review, found)| view_of(review, screened, found))
        .collect();
    Ok(Page { items, next_cursor })
}

/// A page of a queue's GSI1 partition, oldest first, and the sealed cursor after it
/// (bound to the reader and the partition).
async fn queue_page(
    store: &Store,
    cursors: &CursorCodec,
    reader: &UserId,
    partition: &str,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<(Vec<Item>, Option<String>)> {
    let scope = format!("queue:{partition}");
    let start = cursor
        .map(|c| cursors.open(reader, &scope, c))
        .transpose()?;
    let (items, next) = store
        .query(
            &KeyQuery::partition(partition)
                .on(Index::Gsi1)
                .limit(limit)
                .start(start),
        )
        .await?;
    Ok((items, cursors.seal_next(reader, &scope, next)?))
}

/// The view of a review item, with its item's text and its tally from `found` (what
/// was read under the item's key and its tally's key, in that order).
fn view_of(
    review: ReviewItem,
    screened: &[Screened],
    found: &[Option<Item>],
) -> Option<QueueEntry> {
    let subject = &review.subject;
    let text = screened
        .iter()
        .find(|s| s.entity == subject.entity)
        .zip(found.first().and_then(Option::as_ref))
        .map(|(screened, item)| {
            text_of(item, screened)
                .into_iter()
                .filter(|(_, value)| !value.is_empty())
                .map(|(name, value)| (name.to_owned(), value))
                .collect()
        });
    let reports = found
        .get(1)
        .and_then(Option::as_ref)
        .and_then(|item| item.get("reports")?.as_n().ok()?.parse().ok())
        .unwrap_or(0);
    QueueEntry::of(review, text, reports)
}

/// One review item in full, for a moderator deciding it: its view, its reports (the
/// first 100, oldest first) and its author's moderation history (the 20 latest other
/// items of theirs that were hidden, with what was decided).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewDetail {
    #[serde(flatten)]
    pub review: QueueEntry,
    pub report_list: Vec<ReportView>,
    pub author_history: Vec<QueueEntry>,
}

/// [`ReviewDetail`] of `review`: one BatchGetItem (the item and its tally), one Query
/// of its reports, one Query of GSI2 `MODHIST#<author>`.
pub async fn review_detail(
    store: &Store,
    screened: &[Screened],
    review: ReviewItem,
) -> AppResult<ReviewDetail> {
    let subject = review.subject.clone();
    let keys = [
        Key::new(&subject.pk, &subject.sk),
        tally_key(&subject.pk, &subject.sk),
    ];
    let reports_query = KeyQuery::partition(review_partition(&subject.pk, &subject.sk))
        .prefix(REPORT_PREFIX)
        .limit(100);
    let history_query = KeyQuery::partition(history_partition(&review.author_id))
        .on(Index::Gsi2)
        .newest_first()
        .limit(21);
    let (found, (reports, _), (history, _)) = futures_util::try_join!(
        store.batch_get_each(&keys),
        store.query(&reports_query),
        store.query(&history_query),
    )?;
    let mut report_list = reports
        .into_iter()
        .map(store::from_item::<Report>)
        .map(|report| {
            report.map(|r| ReportView {
                reporter_id: r.reporter_id,
                reason: r.reason,
                note: r.note,
                created_at: r.created_at,
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    report_list.sort_by(|a, b| a.created_at.cmp(&b.created_at));
    let author_history = history
        .into_iter()
        .map(store::from_item::<ReviewItem>)
        .collect::<AppResult<Vec<_>>>()?
        .into_iter()
        .filter(|other| other.subject != subject)
        .take(20)
        .filter_map(|other| QueueEntry::of(other, None, 0))
        .collect();
    let review = view_of(review, screened, &found)
        .ok_or_else(|| AppError::Internal("a review item of no screened item".into()))?;
    Ok(ReviewDetail {
        review,
        report_list,
        author_history,
    })
}

/// Which audit entries to read (all given ones must match).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// By this moderator.
    pub actor: Option<UserId>,
    /// About this user's content or account.
    pub user: Option<UserId>,
    pub action: Option<AuditAction>,
    /// Only the automated ones (`true`), or only the moderators' (`false`).
    pub automated: Option<bool>,
}

/// A page of the audit log, newest first: one Query of the narrowest partition the
/// filter names (GSI1 `AUDITBY#<actor>` or `AUDITBY#~automated`, GSI2
/// `AUDITON#<user>`, else `AUDIT`), the rest of the filter applied to what it reads (a
/// page may then hold fewer entries than `limit` and still have a `nextCursor`). The
/// cursor is sealed to the reader and the filter.
pub async fn audit_log(
    store: &Store,
    cursors: &CursorCodec,
    reader: &UserId,
    filter: &AuditFilter,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<AuditEntry>> {
    let (mut query, keyed) = match (&filter.actor, filter.automated, &filter.user) {
        (Some(actor), _, _) => (
            KeyQuery::partition(audit_by_partition(actor.as_str())).on(Index::Gsi1),
            "actor",
        ),
        (None, Some(true), _) => (
            KeyQuery::partition(audit_by_partition(AUTOMATED)).on(Index::Gsi1),
            "automated",
        ),
        (None, _, Some(user)) => (
            KeyQuery::partition(audit_on_partition(user)).on(Index::Gsi2),
            "user",
        ),
        _ => (KeyQuery::partition(AUDIT_PARTITION), "all"),
    };
    let mut clauses = Vec::new();
    let mut expr = Expr::new("");
    if let Some(user) = filter.user.as_ref().filter(|_| keyed != "user") {
        clauses.push("userId = :user");
        expr = expr.value(":user", AttributeValue::S(user.as_str().to_owned()));
    }
    if let Some(action) = filter.action {
        clauses.push("#action = :action");
        expr = expr
            .name("#action", "action")
            .value(":action", AttributeValue::S(action.as_str().into()));
    }
    if let Some(automated) = filter.automated.filter(|_| keyed != "automated") {
        clauses.push("automated = :automated");
        expr = expr.value(":automated", AttributeValue::Bool(automated));
    }
    if !clauses.is_empty() {
        query = query.filter(expr.with_text(clauses.join(" AND ")));
    }
    let scope = format!(
        "audit:{}:{}:{}:{}",
        filter.actor.as_ref().map_or("", |a| a.as_str()),
        filter.user.as_ref().map_or("", |u| u.as_str()),
        filter.action.map_or("", AuditAction::as_str),
        filter
            .automated
            .map_or("", |a| if a { "true" } else { "false" }),
    );
    let start = cursor
        .map(|c| cursors.open(reader, &scope, c))
        .transpose()?;
    let (items, next) = store
        .query(&query.newest_first().limit(limit).start(start))
        .await?;
    let items = items
        .into_iter()
        .map(store::from_item)
        .collect::<AppResult<Vec<AuditEntry>>>()?;
    Ok(Page {
        items,
        next_cursor: cursors.seal_next(reader, &scope, next)?,
    })
}

/// An appeal as the API shows it: its id, what it is about, and the appeal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppealView {
    /// What a decision names (`POST /v1/moderation/appeals/{appealId}`).
    pub appeal_id: String,
    /// The appealed item, for an appeal of content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<ContentRef>,
    #[serde(flatten)]
    pub appeal: Appeal,
}

impl AppealView {
    pub fn of(appeal: Appeal) -> Self {
        Self {
            appeal_id: appeal_id(&appeal.key()),
            content: appeal.subject.as_ref().and_then(|s| content_ref(s, &[])),
            appeal,
        }
    }
}

/// A page of the open appeals of `community`'s queue (`None`: the global one, with
/// every appeal of an account), oldest first: one Query of GSI1 `APPEALQ#…`. Who may
/// read which queue is the caller's to decide, as for the review queues.
pub async fn appeal_queue(
    store: &Store,
    cursors: &CursorCodec,
    reader: &UserId,
    community: Option<&str>,
    limit: u32,
    cursor: Option<&str>,
) -> AppResult<Page<AppealView>> {
    let partition = appeal_queue_partition(community);
    let (items, next_cursor) =
        queue_page(store, cursors, reader, &partition, limit, cursor).await?;
    let items = items
        .into_iter()
        .map(|item| store::from_item::<Appeal>(item).map(AppealView::of))
        .collect::<AppResult<Vec<_>>>()?;
    Ok(Page { items, next_cursor })
}
