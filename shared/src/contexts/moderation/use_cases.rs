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
    // A report or a moderator may change the item's verdict between the read and the
    // write (the write's condition sees it): read again, a few times.
    for _ in 0..4 {
        match screen_once(store, settings, screened, pk, sk, digest).await? {
            Attempt::Written(screening) => return Ok(Some(screening)),
            Attempt::Nothing => return Ok(None),
            Attempt::VerdictMoved => continue,
        }
    }
    Err(AppError::Internal(format!(
        "the verdict on {pk}|{sk} kept changing while it was checked"
    )))
}

/// What one attempt of [`screen`] came to.
enum Attempt {
    Written(Screening),
    /// The item is gone, its text changed (the change queued its own job), or a
    /// moderator removed it.
    Nothing,
    /// Its verdict changed between the read and the write.
    VerdictMoved,
}

async fn screen_once(
    store: &Store,
    settings: &ModerationConfig,
    screened: &Screened,
    pk: &str,
    sk: &str,
    digest: &str,
) -> AppResult<Attempt> {
    let key = Key::new(pk, sk);
    let Some(item) = store.get_item(&key).await? else {
        return Ok(Attempt::Nothing);
    };
    let text = text_of(&item, screened);
    if digest_of(&text) != digest {
        return Ok(Attempt::Nothing);
    }
    let was = screening_on(&item)?;
    let was_status = was.as_ref().map(|s| s.status);
    let author = author_of(&item, screened)?;
    let community = community_of(store, &item, pk, screened).await?;
    let known = match settings.enabled {
        true => {
            circumstances(
                store,
                (screened, &item),
                &author,
                community.as_deref(),
                &key,
            )
            .await?
        }
        false => TextContext::default(),
    };
    let mut screening = screening_of(&text, settings, known);
    match was_status {
        // A moderator's removal stands, whatever the text becomes.
        Some(ScreeningStatus::Removed) => return Ok(Attempt::Nothing),
        // Reported items stay hidden until a moderator reviews them; the verdict on
        // the new text is kept for the moderator.
        Some(ScreeningStatus::Reported) => screening.status = ScreeningStatus::Reported,
        _ => {}
    }
    let was_hidden = is_hidden(was.as_ref());
    let update = Expr::new("SET screening = :screening").value(
        ":screening",
        serde_dynamo::to_attribute_value::<_, AttributeValue>(&screening)
            .map_err(AppError::internal)?,
    );
    let unchanged = Condition::new(
        TEXT_UNCHANGED,
        text_unchanged(&item, screened).and(verdict_is(was_status)),
    );
    let written = match screening.status {
        ScreeningStatus::Hidden => {
            let review = open_review(
                (screened, pk, sk),
                author,
                community,
                &screening,
                digest.to_owned(),
            );
            // Once per text: a redelivered job finds its review item and writes nothing
            // (the item keeps its place in the queue).
            let new_text =
                Expr::new("attribute_not_exists(PK) OR digest <> :digest OR #status <> :open")
                    .name("#status", "status")
                    .value(":digest", AttributeValue::S(digest.to_owned()))
                    .value(":open", AttributeValue::S("open".into()));
            let categories: Vec<&str> = screening.categories.iter().map(|c| c.as_str()).collect();
            let audit = audit_entry(
                &review,
                AuditAction::Hide,
                None,
                format!("the classifier matched {}", categories.join(", ")),
            );
            let written = store
                .transaction()
                .update(&key, update, Some(unchanged))
                .put_entity(&review, Some(Condition::new(REVIEW_NEW, new_text)))
                .put_entity(&audit, Some(append_only()))
                .commit()
                .await;
            match written {
                Err(error) if error.failed(REVIEW_NEW) => return Ok(Attempt::Written(screening)),
                written => written,
            }
        }
        _ => store
            .update(&key, update, Some(unchanged), store::Returning::Nothing)
            .await
            .map(|_| ()),
    };
    match written {
        Ok(()) => {}
        Err(error) if error.failed(TEXT_UNCHANGED) => {
            return Ok(match store.get_item(&key).await? {
                Some(now) if digest_of(&text_of(&now, screened)) == digest => Attempt::VerdictMoved,
                _ => Attempt::Nothing,
            });
        }
        Err(error) => return Err(error.into()),
    }
    if was_hidden && screening.status == ScreeningStatus::Clean {
        clear_review(store, pk, sk).await?;
    }
    Ok(Attempt::Written(screening))
}

/// A new open review item of the item keyed `pk`/`sk`, hidden under `screening`.
fn open_review(
    (screened, pk, sk): (&Screened, &str, &str),
    author: UserId,
    community: Option<String>,
    screening: &Screening,
    digest: String,
) -> ReviewItem {
    ReviewItem {
        subject: Subject {
            entity: screened.entity.to_owned(),
            pk: pk.to_owned(),
            sk: sk.to_owned(),
        },
        author_id: author,
        community_id: community,
        status: ReviewStatus::Open,
        screening: screening.clone(),
        digest,
        flagged_at: now_rfc3339(),
        decision: None,
    }
}

/// What the classifier knows besides the text: the restricted words of the item's
/// community and of its author (one BatchGetItem) and, for a post, how many other posts
/// its author wrote in the UTC minute it was written in (one UpdateItem adding the
/// post's key to that minute's set, so neither a redelivered job nor an edit counts
/// twice, and a queue that fell behind does not make a burst of posts written apart).
async fn circumstances(
    store: &Store,
    (screened, item): (&Screened, &Item),
    author: &UserId,
    community: Option<&str>,
    post: &Key,
) -> AppResult<TextContext> {
    let mut keys = vec![WordsScope::User(author).key()];
    keys.extend(community.map(|c| WordsScope::Community(c).key()));
    let mut restricted = Vec::new();
    for item in store.batch_get_each(&keys).await?.into_iter().flatten() {
        restricted.extend(store::from_item::<RestrictedWords>(item)?.words);
    }
    let recent_posts = match screened.posts {
        true => posts_this_minute(store, author, post, written_at(item)).await?,
        false => 0,
    };
    Ok(TextContext {
        threshold: 0.0,
        restricted,
        recent_posts,
    })
}

/// How long an author's burst counter is kept (seconds; DynamoDB's TTL).
const BURST_KEPT_SECONDS: i64 = 3_600;

/// When the post was written (`createdAt`; now if it has none).
fn written_at(item: &Item) -> time::OffsetDateTime {
    item.get("createdAt")
        .and_then(|at| at.as_s().ok())
        .and_then(|at| {
            time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()
        })
        .unwrap_or_else(time::OffsetDateTime::now_utc)
}

/// Adds `post` (`<pk>|<sk>`) to its author's posts of the minute it was written in;
/// answers how many others there are.
async fn posts_this_minute(
    store: &Store,
    author: &UserId,
    post: &Key,
    written: time::OffsetDateTime,
) -> AppResult<u32> {
    let now = time::OffsetDateTime::now_utc();
    let update = Expr::new("ADD posts :post SET entity = :entity, #expires = :expires")
        .name("#expires", crate::table::store::TTL_ATTRIBUTE)
        .value(
            ":post",
            AttributeValue::Ss(vec![format!("{}|{}", post.pk, post.sk)]),
        )
        .value(":entity", AttributeValue::S(POST_BURST.to_owned()))
        .value(
            ":expires",
            AttributeValue::N((now.unix_timestamp() + BURST_KEPT_SECONDS).to_string()),
        );
    let after = store
        .update(
            &burst_key(author, &burst_minute(written)),
            update,
            None,
            store::Returning::AllNew,
        )
        .await?;
    let posts = after
        .as_ref()
        .and_then(|item| item.get("posts"))
        .and_then(|posts| posts.as_ss().ok())
        .map_or(1, Vec::len);
    Ok(u32::try_from(posts.saturating_sub(1)).unwrap_or(u32::MAX))
}

/// The item's `screening`, if it has one.
fn screening_on(item: &Item) -> AppResult<Option<Screening>> {
    item.get("screening")
        .map(|value| serde_dynamo::from_attribute_value::<_, Screening>(value.clone()))
        .transpose()
        .map_err(AppError::internal)
}

/// The item's verdict is still the one read (its status; none: still none).
fn verdict_is(status: Option<ScreeningStatus>) -> Expr {
    match status {
        None => Expr::new("attribute_not_exists(screening)"),
        Some(status) => Expr::new("screening.#vs = :was")
            .name("#vs", "status")
            .value(":was", AttributeValue::S(status_name(status).into())),
    }
}

/// A status as stored.
fn status_name(status: ScreeningStatus) -> &'static str {
    match status {
        ScreeningStatus::Clean => "clean",
        ScreeningStatus::Hidden => "hidden",
        ScreeningStatus::Removed => "removed",
        ScreeningStatus::Reported => "reported",
    }
}

/// The item still holds this text: each text attribute equals what was read (or is
/// still absent).
fn text_unchanged(item: &Item, screened: &Screened) -> Expr {
    let clauses: Vec<String> = std::iter::once("attribute_exists(PK)".to_owned())
        .chain(screened.text.iter().enumerate().map(|(i, name)| {
            if item.contains_key(*name) {
                format!("#t{i} = :t{i}")
            } else {
                format!("attribute_not_exists(#t{i})")
            }
        }))
        .collect();
    let mut expr = Expr::new(clauses.join(" AND "));
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
    let hidden = Expr::new("screening.#s = :hidden OR screening.#s = :reported")
        .name("#s", "status")
        .value(":hidden", AttributeValue::S("hidden".into()))
        .value(":reported", AttributeValue::S("reported".into()));
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
    let audit = audit_entry(
        &decided,
        match input.action {
            DecisionAction::Approve => AuditAction::Approve,
            DecisionAction::Remove => AuditAction::Remove,
        },
        Some(moderator),
        input.reason.trim().to_owned(),
    );
    let written = store
        .transaction()
        .update(
            &subject,
            update,
            Some(Condition::new(SUBJECT_HIDDEN, hidden)),
        )
        .put_entity(&decided, Some(Condition::new(REVIEW_OPEN, open)))
        .put_entity(&audit, Some(append_only()))
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

/// A report's condition: this reporter has not reported this item before.
const FIRST_REPORT: &str = "first_report";
/// Holding a reported item: it is still shown, with the text read, and no moderator has
/// approved this text.
const STILL_SHOWN: &str = "still_shown";

/// `reporter` reports the item `content` names (the caller checked that they may see
/// it): one TransactWriteItems of their report (once per reporter and item, condition
/// `first_report`) and of the item's tally (ADD 1). A second report by the same person
/// writes nothing and answers their first (`false`). When `threshold` distinct people
/// have reported it, the item is held ([`hold`]). A report of one's own item is a 400;
/// an item that is not there (or deleted) a 404.
#[tracing::instrument(skip(store, screened, input), fields(reporter = %reporter))]
pub async fn report(
    store: &Store,
    screened: &[Screened],
    threshold: u32,
    reporter: &UserId,
    input: NewReport,
) -> AppResult<(ReportReceipt, bool)> {
    crate::core::validation::check(&input)?;
    input.content.check()?;
    let (pk, sk) = input.content.keys();
    let missing = || AppError::NotFound("no such content".into());
    let item = store
        .get_item(&Key::new(&pk, &sk))
        .await?
        .filter(|item| !matches!(item.get("deleted"), Some(AttributeValue::Bool(true))))
        .ok_or_else(missing)?;
    let kind = item
        .get("entity")
        .and_then(|e| e.as_s().ok())
        .and_then(|entity| screened.iter().find(|s| s.entity == entity))
        .ok_or_else(missing)?;
    if &author_of(&item, kind)? == reporter {
        return Err(AppError::bad_field("content", "is your own"));
    }
    let subject = Subject {
        entity: kind.entity.to_owned(),
        pk: pk.clone(),
        sk: sk.clone(),
    };
    let now = now_rfc3339();
    let note = input
        .note
        .map(|note| note.trim().to_owned())
        .filter(|note| !note.is_empty());
    let report = Report {
        subject: subject.clone(),
        reporter_id: reporter.clone(),
        reason: input.reason,
        note,
        created_at: now.clone(),
    };
    let count = Expr::new(
        "ADD reports :one SET lastReportedAt = :now, entity = :entity, subject = if_not_exists(subject, :subject)",
    )
    .value(":one", AttributeValue::N("1".into()))
    .value(":now", AttributeValue::S(now))
    .value(":entity", AttributeValue::S(REPORT_TALLY.into()))
    .value(
        ":subject",
        serde_dynamo::to_attribute_value::<_, AttributeValue>(&subject)
            .map_err(AppError::internal)?,
    );
    let written = store
        .transaction()
        .put_entity(
            &report,
            Some(Condition::new(
                FIRST_REPORT,
                Expr::new("attribute_not_exists(PK)"),
            )),
        )
        .update(&tally_key(&pk, &sk), count, None)
        .commit()
        .await;
    let (report, created) = match written {
        Ok(()) => (report, true),
        Err(error) if error.failed(FIRST_REPORT) => {
            let first: Report = store
                .get(&report_key(&pk, &sk, reporter))
                .await?
                .ok_or_else(|| AppError::Internal("a report that is there and is not".into()))?;
            (first, false)
        }
        Err(error) => return Err(error.into()),
    };
    // Also on a repeated report: a retry after a failure here holds the item then.
    let tally: Option<ReportTally> = store.get(&tally_key(&pk, &sk)).await?;
    if let Some(tally) = tally.filter(|tally| tally.reports >= threshold) {
        hold(store, kind, &pk, &sk, tally.reports).await?;
    }
    let content = content_ref(&report.subject, &[]).ok_or_else(missing)?;
    Ok((
        ReportReceipt {
            content,
            reason: report.reason,
            note: report.note,
            created_at: report.created_at,
        },
        created,
    ))
}

/// Holds a reported item until a moderator reviews it: its verdict becomes `reported`
/// (hidden from everyone but its author and the moderators; the automatic verdict's
/// confidence and categories are kept) and it gets an open review item, in one
/// TransactWriteItems under the condition that it is still shown with the text read
/// and no moderator approved that text. An item hidden already, removed, or approved
/// by a moderator is left as it is (its reports stay on record). Retried when the item
/// changed meanwhile.
async fn hold(
    store: &Store,
    screened: &Screened,
    pk: &str,
    sk: &str,
    reports: u32,
) -> AppResult<()> {
    let key = Key::new(pk, sk);
    for _ in 0..4 {
        let Some(item) = store.get_item(&key).await? else {
            return Ok(());
        };
        let was = screening_on(&item)?;
        if was
            .as_ref()
            .is_some_and(|s| s.status != ScreeningStatus::Clean || s.reviewed_by.is_some())
        {
            return Ok(());
        }
        let text = text_of(&item, screened);
        let digest = digest_of(&text);
        let now = now_rfc3339();
        let held = Screening {
            status: ScreeningStatus::Reported,
            checked_at: now.clone(),
            reviewed_by: None,
            reviewed_at: None,
            ..was.unwrap_or(Screening {
                status: ScreeningStatus::Reported,
                confidence: 0.0,
                categories: Vec::new(),
                checked_at: String::new(),
                reviewed_by: None,
                reviewed_at: None,
            })
        };
        let review = open_review(
            (screened, pk, sk),
            author_of(&item, screened)?,
            community_of(store, &item, pk, screened).await?,
            &held,
            digest,
        );
        let update = Expr::new("SET screening = :held").value(
            ":held",
            serde_dynamo::to_attribute_value::<_, AttributeValue>(&held)
                .map_err(AppError::internal)?,
        );
        let shown = text_unchanged(&item, screened).and(Expr::new(
            "attribute_not_exists(screening) OR (screening.#hs = :clean AND attribute_not_exists(screening.reviewedBy))",
        )
        .name("#hs", "status")
        .value(":clean", AttributeValue::S("clean".into())));
        let not_open = Expr::new("attribute_not_exists(PK) OR #status <> :open")
            .name("#status", "status")
            .value(":open", AttributeValue::S("open".into()));
        let audit = audit_entry(
            &review,
            AuditAction::Hold,
            None,
            format!("reported by {reports} people"),
        );
        let written = store
            .transaction()
            .update(&key, update, Some(Condition::new(STILL_SHOWN, shown)))
            .put_entity(&review, Some(Condition::new(REVIEW_NEW, not_open)))
            .put_entity(&audit, Some(append_only()))
            .commit()
            .await;
        match written {
            Ok(()) => return Ok(()),
            // Open already: it is waiting for a moderator.
            Err(error) if error.failed(REVIEW_NEW) => return Ok(()),
            Err(error) if error.failed(STILL_SHOWN) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(AppError::Internal(format!(
        "{pk}|{sk} kept changing while it was held for review"
    )))
}

/// An action's condition: the standing is still the one the action was worked out from.
const STANDING_UNCHANGED: &str = "standing_unchanged";

/// A platform moderator acts on `user`'s account ([`sanctioned`]): GetItem the
/// standing, then one PutItem of the next one under the condition that it is still the
/// one read (`version`); read again when another action landed meanwhile. Acting on
/// oneself is a 400 naming `userId`; an account without a profile a 404.
#[tracing::instrument(skip(store, input), fields(moderator = %moderator, user = %user))]
pub async fn sanction(
    store: &Store,
    moderator: &UserId,
    user: &UserId,
    input: NewSanction,
) -> AppResult<AccountStanding> {
    crate::core::validation::check(&input)?;
    if user == moderator {
        return Err(AppError::bad_field("userId", "is you"));
    }
    let profile = Key::new(crate::table::keys::user_partition(user), "PROFILE");
    if store.get_item(&profile).await?.is_none() {
        return Err(AppError::NotFound(format!("no user {user}")));
    }
    for _ in 0..4 {
        let standing: Option<AccountStanding> = store.get(&standing_key(user)).await?;
        let unchanged = standing_as_read(standing.as_ref());
        let next = sanctioned(
            standing,
            user,
            moderator,
            &input,
            time::OffsetDateTime::now_utc(),
        )?;
        let last = next.last_action.as_ref();
        let audit = AuditEntry {
            audit_id: crate::core::ids::new_ulid(),
            at: last.map(|l| l.at.clone()).unwrap_or_else(now_rfc3339),
            action: match input.action {
                SanctionAction::Warn => AuditAction::Warn,
                SanctionAction::Mute => AuditAction::Mute,
                SanctionAction::Suspend => AuditAction::Suspend,
                SanctionAction::Ban => AuditAction::Ban,
                SanctionAction::Reinstate => AuditAction::Reinstate,
            },
            automated: false,
            actor_id: Some(moderator.clone()),
            user_id: user.clone(),
            content: None,
            community_id: None,
            reason: last.map(|l| l.reason.clone()).unwrap_or_default(),
            confidence: None,
            until: last.and_then(|l| l.until.clone()),
        };
        let written = store
            .transaction()
            .put_entity(&next, Some(Condition::new(STANDING_UNCHANGED, unchanged)))
            .put_entity(&audit, Some(append_only()))
            .commit()
            .await;
        match written {
            Ok(()) => return Ok(next),
            Err(error) if error.failed(STANDING_UNCHANGED) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(AppError::Conflict(
        "other moderators kept acting on this account; try again".into(),
    ))
}

/// The standing is still the one read (none: still none).
fn standing_as_read(read: Option<&AccountStanding>) -> Expr {
    match read {
        None => Expr::new("attribute_not_exists(PK)"),
        Some(read) => Expr::new("version = :version")
            .value(":version", AttributeValue::N(read.version.to_string())),
    }
}

/// An account's standing (none: never acted on).
pub async fn standing_of(store: &Store, user: &UserId) -> AppResult<Option<AccountStanding>> {
    store.get(&standing_key(user)).await
}

/// An audit entry's condition: it is new (the log is append-only).
const AUDIT_NEW: &str = "audit_new";

fn append_only() -> Condition {
    Condition::new(AUDIT_NEW, Expr::new("attribute_not_exists(PK)"))
}

/// The audit entry of what happened to `review`'s item: automated unless `moderator`.
fn audit_entry(
    review: &ReviewItem,
    action: AuditAction,
    moderator: Option<&UserId>,
    reason: String,
) -> AuditEntry {
    AuditEntry {
        audit_id: crate::core::ids::new_ulid(),
        at: now_rfc3339(),
        action,
        automated: moderator.is_none(),
        actor_id: moderator.cloned(),
        user_id: review.author_id.clone(),
        content: content_of(review),
        community_id: review.community_id.clone(),
        reason,
        confidence: moderator.is_none().then_some(review.screening.confidence),
        until: None,
    }
}

/// An appeal's conditions: none yet for this action; still open when decided.
const APPEAL_NEW: &str = "appeal_new";
const APPEAL_OPEN: &str = "appeal_open";
/// Upholding an appeal of content: the item is still there.
const SUBJECT_THERE: &str = "subject_there";

/// `me` appeals what moderation did to their item (`reviewId`: hidden, held or
/// removed) or, without one, the last action on their account (a warning, mute,
/// suspension or ban): one PutItem under `attribute_not_exists`, so each is appealed
/// once (a second time is a 409). Someone else's item is a 404; an item shown again,
/// or an account with nothing to appeal, a 409.
#[tracing::instrument(skip(store, input), fields(appellant = %me))]
pub async fn appeal(store: &Store, me: &UserId, input: NewAppeal) -> AppResult<Appeal> {
    crate::core::validation::check(&input)?;
    let statement = input.statement.trim().to_owned();
    if statement.is_empty() {
        return Err(AppError::invalid_field("statement", "must not be blank"));
    }
    let now = now_rfc3339();
    let appeal = match input.review_id {
        Some(review_id) => {
            let review = review_by_id(store, &review_id).await?;
            if &review.author_id != me {
                return Err(AppError::NotFound("no such review item".into()));
            }
            let action = match (review.status, review.screening.status) {
                (ReviewStatus::Open, ScreeningStatus::Reported) => AuditAction::Hold,
                (ReviewStatus::Open, _) => AuditAction::Hide,
                (ReviewStatus::Removed, _) => AuditAction::Remove,
                (ReviewStatus::Approved | ReviewStatus::Cleared, _) => {
                    return Err(AppError::Conflict(
                        "nothing to appeal: the item is shown to everyone".into(),
                    ));
                }
            };
            Appeal {
                appellant_id: me.clone(),
                subject: Some(review.subject),
                action_at: None,
                action,
                community_id: review.community_id,
                statement,
                status: AppealStatus::Open,
                created_at: now,
                decision: None,
            }
        }
        None => {
            let last = standing_of(store, me)
                .await?
                .and_then(|standing| standing.last_action)
                .filter(|last| last.action != SanctionAction::Reinstate)
                .ok_or_else(|| {
                    AppError::Conflict("nothing to appeal: no action on your account".into())
                })?;
            Appeal {
                appellant_id: me.clone(),
                subject: None,
                action_at: Some(last.at),
                action: match last.action {
                    SanctionAction::Warn => AuditAction::Warn,
                    SanctionAction::Mute => AuditAction::Mute,
                    SanctionAction::Suspend => AuditAction::Suspend,
                    SanctionAction::Ban | SanctionAction::Reinstate => AuditAction::Ban,
                },
                community_id: None,
                statement,
                status: AppealStatus::Open,
                created_at: now,
                decision: None,
            }
        }
    };
    match store
        .put_if(
            appeal.item()?,
            Condition::new(APPEAL_NEW, Expr::new("attribute_not_exists(PK)")),
        )
        .await
    {
        Ok(()) => Ok(appeal),
        Err(error) if error.failed(APPEAL_NEW) => Err(AppError::Conflict(
            "you appealed this already: an action is appealed once".into(),
        )),
        Err(error) => Err(error.into()),
    }
}

/// An appeal by its id: 404 when the id names none.
pub async fn appeal_by_id(store: &Store, appeal_id: &str) -> AppResult<Appeal> {
    let missing = || AppError::NotFound("no such appeal".into());
    let key = parse_appeal_id(appeal_id).ok_or_else(missing)?;
    store.get(&key).await?.ok_or_else(missing)
}

/// A moderator decides an open appeal, in one TransactWriteItems with its audit entry
/// (under the condition that the appeal is still open: else a 409). Upholding an
/// appeal of content shows the item to everyone again (its verdict `clean`, reviewed
/// by the moderator) and approves its review item; upholding an appeal of an account
/// reinstates it. The appellant is told (`appealDecided`, from the stream).
#[tracing::instrument(skip(store, appeal, input), fields(moderator = %moderator))]
pub async fn decide_appeal(
    store: &Store,
    moderator: &UserId,
    appeal: Appeal,
    input: NewAppealDecision,
) -> AppResult<Appeal> {
    crate::core::validation::check(&input)?;
    if appeal.status != AppealStatus::Open {
        return Err(AppError::Conflict("the appeal is decided already".into()));
    }
    let now = now_rfc3339();
    let reason = input.reason.trim().to_owned();
    let mut decided = appeal.clone();
    decided.status = match input.outcome {
        AppealOutcome::Uphold => AppealStatus::Upheld,
        AppealOutcome::Deny => AppealStatus::Denied,
    };
    decided.decision = Some(AppealDecision {
        outcome: input.outcome,
        reason: reason.clone(),
        decided_by: moderator.clone(),
        decided_at: now.clone(),
    });
    let open = Expr::new("#status = :open")
        .name("#status", "status")
        .value(":open", AttributeValue::S("open".into()));
    let audit = AuditEntry {
        audit_id: crate::core::ids::new_ulid(),
        at: now.clone(),
        action: match input.outcome {
            AppealOutcome::Uphold => AuditAction::AppealUpheld,
            AppealOutcome::Deny => AuditAction::AppealDenied,
        },
        automated: false,
        actor_id: Some(moderator.clone()),
        user_id: appeal.appellant_id.clone(),
        content: appeal.subject.as_ref().and_then(|s| content_ref(s, &[])),
        community_id: appeal.community_id.clone(),
        reason: reason.clone(),
        confidence: None,
        until: None,
    };
    let mut transaction = store
        .transaction()
        .put_entity(&decided, Some(Condition::new(APPEAL_OPEN, open)))
        .put_entity(&audit, Some(append_only()));
    if input.outcome == AppealOutcome::Uphold {
        match &appeal.subject {
            Some(subject) => {
                let shown = Expr::new(
                    "SET screening.#s = :clean, screening.reviewedBy = :me, screening.reviewedAt = :now",
                )
                .name("#s", "status")
                .value(":clean", AttributeValue::S("clean".into()))
                .value(":me", AttributeValue::S(moderator.as_str().into()))
                .value(":now", AttributeValue::S(now.clone()));
                transaction = transaction.update(
                    &Key::new(&subject.pk, &subject.sk),
                    shown,
                    Some(Condition::new(
                        SUBJECT_THERE,
                        Expr::new("attribute_exists(screening)"),
                    )),
                );
                if let Some(mut review) = store
                    .get::<ReviewItem>(&review_key(&subject.pk, &subject.sk))
                    .await?
                {
                    review.status = ReviewStatus::Approved;
                    review.decision = Some(ReviewDecision {
                        action: DecisionAction::Approve,
                        reason: reason.clone(),
                        decided_by: moderator.clone(),
                        decided_at: now.clone(),
                    });
                    transaction = transaction.put_entity(&review, None);
                }
            }
            None => {
                let standing = standing_of(store, &appeal.appellant_id).await?;
                let unchanged = standing_as_read(standing.as_ref());
                let reinstated = sanctioned(
                    standing,
                    &appeal.appellant_id,
                    moderator,
                    &NewSanction {
                        action: SanctionAction::Reinstate,
                        reason: reason.clone(),
                        hours: None,
                    },
                    time::OffsetDateTime::now_utc(),
                )?;
                transaction = transaction.put_entity(
                    &reinstated,
                    Some(Condition::new(STANDING_UNCHANGED, unchanged)),
                );
            }
        }
    }
    match transaction.commit().await {
        Ok(()) => Ok(decided),
        Err(error) if error.failed(APPEAL_OPEN) || error.failed(STANDING_UNCHANGED) => Err(
            AppError::Conflict("the appeal or the account changed meanwhile".into()),
        ),
        Err(error) if error.failed(SUBJECT_THERE) => Err(AppError::Conflict(
            "the appealed item is gone: deny the appeal instead".into(),
        )),
        Err(error) => Err(error.into()),
    }
}

/// A scope's restricted words (an empty list when never set).
pub async fn restricted_words(store: &Store, scope: WordsScope<'_>) -> AppResult<RestrictedWords> {
    Ok(store
        .get(&scope.key())
        .await?
        .unwrap_or_else(|| RestrictedWords::none(scope)))
}

/// Replaces a scope's restricted words (PutItem; an account's needs the account to
/// exist: 404). The worker reads them for every text it checks from then on; what is
/// already shown stays shown until it is edited or reported.
#[tracing::instrument(skip(store, input))]
pub async fn set_restricted_words(
    store: &Store,
    scope: WordsScope<'_>,
    input: NewRestrictedWords,
) -> AppResult<RestrictedWords> {
    let words = input.parse()?;
    if let WordsScope::User(user) = scope {
        let profile = Key::new(crate::table::keys::user_partition(user), "PROFILE");
        if store.get_item(&profile).await?.is_none() {
            return Err(AppError::NotFound(format!("no user {user}")));
        }
    }
    let list = RestrictedWords {
        words,
        updated_at: Some(now_rfc3339()),
        ..RestrictedWords::none(scope)
    };
    store.put(list.item()?).await?;
    Ok(list)
}
