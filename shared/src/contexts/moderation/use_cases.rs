//! Moderation: use cases — the screening of one item's text by the moderation worker.

#[allow(unused_imports)]
use super::*;

use crate::table::transaction::WriteError;

/// The verdict's condition: the item still holds the text the worker checked.
pub(super) const TEXT_UNCHANGED: &str = "text_unchanged";
/// A hidden text's review item: not there yet for this text.
const REVIEW_NEW: &str = "review_new";
/// Clearing a review item: it exists.
const REVIEW_EXISTS: &str = "review_exists";

/// Screens the text of the item keyed `pk`/`sk` (declared by `screened`) if it is still
/// the text of `digest`: GetItem, classify, then one UpdateItem of its `screening` under
/// the condition that its text is unchanged — with, when hidden, its review item in the
/// same transaction (TransactWriteItems; one more GetItem first for a reply's
/// community). A clean verdict on an item that was hidden clears its open review item.
/// Answers the verdict written, or `None` when the item is gone or its text changed
/// (the change queued its own job), so a redelivered or stale job writes nothing wrong.
#[tracing::instrument(skip(store, settings, screened, digest), fields(entity = screened.entity))]
pub async fn screen(
    store: &Store,
    settings: &ModerationConfig,
    screened: &Screened,
    pk: &str,
    sk: &str,
    digest: &str,
) -> AppResult<Option<Screening>> {
    let key = Key::new(pk, sk);
    let Some(item) = store.get_item(&key).await? else {
        return Ok(None);
    };
    let text = text_of(&item, screened);
    if digest_of(&text) != digest {
        return Ok(None);
    }
    let screening = screening_of(&text, settings);
    let was_hidden = match item.get("screening") {
        Some(value) => is_hidden(Some(
            &serde_dynamo::from_attribute_value::<_, Screening>(value.clone())
                .map_err(AppError::internal)?,
        )),
        None => false,
    };
    let update = Expr::new("SET screening = :screening").value(
        ":screening",
        serde_dynamo::to_attribute_value::<_, AttributeValue>(&screening)
            .map_err(AppError::internal)?,
    );
    let unchanged = Condition::new(TEXT_UNCHANGED, text_unchanged(&item, screened));
    let written = match screening.status {
        ScreeningStatus::Hidden | ScreeningStatus::Removed => {
            let review = ReviewItem {
                subject: Subject {
                    entity: screened.entity.to_owned(),
                    pk: pk.to_owned(),
                    sk: sk.to_owned(),
                },
                author_id: author_of(&item, screened)?,
                community_id: community_of(store, &item, pk, screened).await?,
                status: ReviewStatus::Open,
                screening: screening.clone(),
                digest: digest.to_owned(),
                flagged_at: now_rfc3339(),
                decision: None,
            };
            // Once per text: a redelivered job finds its review item and writes nothing
            // (the item keeps its place in the queue).
            let new_text =
                Expr::new("attribute_not_exists(PK) OR digest <> :digest OR #status <> :open")
                    .name("#status", "status")
                    .value(":digest", AttributeValue::S(digest.to_owned()))
                    .value(":open", AttributeValue::S("open".into()));
            let written = store
                .transaction()
                .update(&key, update, Some(unchanged))
                .put_entity(&review, Some(Condition::new(REVIEW_NEW, new_text)))
                .commit()
                .await;
            match written {
                Err(error) if error.failed(REVIEW_NEW) => return Ok(Some(screening)),
                written => written,
            }
        }
        ScreeningStatus::Clean => store
            .update(&key, update, Some(unchanged), store::Returning::Nothing)
            .await
            .map(|_| ()),
    };
    match written {
        Ok(()) => {}
        Err(error) if error.failed(TEXT_UNCHANGED) => return Ok(None),
        Err(error) => return Err(error.into()),
    }
    if was_hidden && screening.status == ScreeningStatus::Clean {
        clear_review(store, pk, sk).await?;
    }
    Ok(Some(screening))
}

/// The item still holds this text: each text attribute equals what was read (or is
/// still absent).
fn text_unchanged(item: &Item, screened: &Screened) -> Expr {
    let clauses: Vec<String> = std::iter::once("attribute_exists(PK)".to_owned())
        // A moderator's removal stands, whatever the text becomes.
        .chain(std::iter::once(
            "(attribute_not_exists(screening) OR screening.#s <> :removed)".to_owned(),
        ))
        .chain(screened.text.iter().enumerate().map(|(i, name)| {
            if item.contains_key(*name) {
                format!("#t{i} = :t{i}")
            } else {
                format!("attribute_not_exists(#t{i})")
            }
        }))
        .collect();
    let mut expr = Expr::new(clauses.join(" AND "))
        .name("#s", "status")
        .value(":removed", AttributeValue::S("removed".into()));
    for (i, name) in screened.text.iter().enumerate() {
        expr = expr.name(format!("#t{i}"), *name);
        if let Some(current) = item.get(*name) {
            expr = expr.value(format!(":t{i}"), current.clone());
        }
    }
    expr
}

fn author_of(item: &Item, screened: &Screened) -> AppResult<UserId> {
    let author = screened
        .author
        .iter()
        .find_map(|name| match item.get(*name) {
            Some(AttributeValue::S(author)) => Some(author),
            _ => None,
        });
    match author {
        Some(author) => UserId::parse(author).map_err(AppError::internal),
        None => Err(AppError::internal(format!(
            "a {} without its author ({:?})",
            screened.entity, screened.author
        ))),
    }
}

/// The community whose queue the item goes to (`None`: the global queue).
async fn community_of(
    store: &Store,
    item: &Item,
    pk: &str,
    screened: &Screened,
) -> AppResult<Option<String>> {
    let string = |item: &Item, name: &str| match item.get(name) {
        Some(AttributeValue::S(value)) => Some(value.clone()),
        _ => None,
    };
    Ok(match screened.community {
        CommunityOf::Nowhere => None,
        CommunityOf::Own(name) => string(item, name),
        CommunityOf::Parent(name) => store
            .get_item(&Key::new(pk, "META"))
            .await?
            .and_then(|parent| string(&parent, name)),
    })
}

/// A later text was found clean before anyone reviewed the earlier one: its review
/// item leaves the queue (UpdateItem; none is fine).
async fn clear_review(store: &Store, pk: &str, sk: &str) -> AppResult<()> {
    let update = Expr::new("SET #status = :cleared REMOVE GSI1PK, GSI1SK")
        .name("#status", "status")
        .value(":cleared", AttributeValue::S("cleared".into()));
    let open = Expr::new("attribute_exists(PK) AND #status = :open")
        .name("#status", "status")
        .value(":open", AttributeValue::S("open".into()));
    match store
        .update(
            &review_key(pk, sk),
            update,
            Some(Condition::new(REVIEW_EXISTS, open)),
            store::Returning::Nothing,
        )
        .await
    {
        Ok(_) | Err(WriteError::ConditionsFailed(_)) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// A review item by its id: 404 when the id names none.
pub async fn review_by_id(store: &Store, review_id: &str) -> AppResult<ReviewItem> {
    let missing = || AppError::NotFound("no such review item".into());
    let (pk, sk) = parse_review_id(review_id).ok_or_else(missing)?;
    store.get(&review_key(&pk, &sk)).await?.ok_or_else(missing)
}

/// The decision's conditions: the review item is still open for this text, and its
/// item still carries the hidden verdict.
const REVIEW_OPEN: &str = "review_open";
const SUBJECT_HIDDEN: &str = "subject_hidden";

/// A moderator decides an open review item: one TransactWriteItems of the item's
/// verdict (approve: `clean`, shown to everyone again; remove: `removed`, hidden for
/// good, whatever edits follow) under the condition that it still carries the hidden
/// verdict, and of the review item (the decision kept on it, out of the queue) under
/// the condition that it is still open for the same text. A decision made, a text
/// cleared or flagged again meanwhile is a 409, and nothing is written.
#[tracing::instrument(skip(store, review, input), fields(moderator = %moderator))]
pub async fn decide(
    store: &Store,
    moderator: &UserId,
    review: ReviewItem,
    input: NewDecision,
) -> AppResult<ReviewItem> {
    crate::core::validation::check(&input)?;
    if review.status != ReviewStatus::Open {
        return Err(AppError::Conflict(
            "the review item is no longer open (decided, or its text was found clean)".into(),
        ));
    }
    let now = now_rfc3339();
    let (verdict, status) = match input.action {
        DecisionAction::Approve => ("clean", ReviewStatus::Approved),
        DecisionAction::Remove => ("removed", ReviewStatus::Removed),
    };
    let subject = Key::new(&review.subject.pk, &review.subject.sk);
    let update = Expr::new(
        "SET screening.#s = :verdict, screening.reviewedBy = :me, screening.reviewedAt = :now",
    )
    .name("#s", "status")
    .value(":verdict", AttributeValue::S(verdict.into()))
    .value(":me", AttributeValue::S(moderator.as_str().into()))
    .value(":now", AttributeValue::S(now.clone()));
    let hidden = Expr::new("screening.#s = :hidden")
        .name("#s", "status")
        .value(":hidden", AttributeValue::S("hidden".into()));
    let open = Expr::new("#status = :open AND digest = :digest")
        .name("#status", "status")
        .value(":open", AttributeValue::S("open".into()))
        .value(":digest", AttributeValue::S(review.digest.clone()));
    let mut decided = review;
    decided.status = status;
    decided.decision = Some(ReviewDecision {
        action: input.action,
        reason: input.reason.trim().to_owned(),
        decided_by: moderator.clone(),
        decided_at: now,
    });
    let written = store
        .transaction()
        .update(
            &subject,
            update,
            Some(Condition::new(SUBJECT_HIDDEN, hidden)),
        )
        .put_entity(&decided, Some(Condition::new(REVIEW_OPEN, open)))
        .commit()
        .await;
    match written {
        Ok(()) => Ok(decided),
        Err(error) if error.failed(SUBJECT_HIDDEN) || error.failed(REVIEW_OPEN) => {
            Err(AppError::Conflict(
                "the item changed meanwhile (decided, edited or checked again)".into(),
            ))
        }
        Err(error) => Err(error.into()),
    }
}
