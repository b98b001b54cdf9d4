//! Feed: pure rules: decisions, write plans, visibility and counters, with no I/O.

use super::*;

/// Home-feed entries expire this long after their activity was created.
pub const FEED_TTL_SECONDS: i64 = 30 * 24 * 3600;

/// Public-timeline entries expire after this long; the timeline reads back as many days.
pub const TIMELINE_DAYS: i64 = 7;

pub const TIMELINE_TTL_SECONDS: i64 = TIMELINE_DAYS * 24 * 3600;

/// A deleted activity's tombstone outlives the stream's 24 h retention, so no
/// redelivered source record can create it again.
pub const TOMBSTONE_TTL_SECONDS: i64 = 7 * 24 * 3600;

/// Progress items only need to live until the fan-out finishes.
pub const FANOUT_JOB_TTL_SECONDS: i64 = 24 * 3600;

/// Items elsewhere that an item of a user's partition points at (account deletion).
pub fn owned_elsewhere(sort_key: &str) -> Option<Key> {
    sort_key.strip_prefix("ACTIVITY#").map(keys::activity)
}

/// Parses `object` as `T` (a wrong shape is a 400 naming `object.<path>`), validates it
/// (broken rules are collected as `object.<field>`) and returns its normalized form.
pub(super) fn typed_object<T>(
    object: Option<Value>,
    errors: &mut Vec<FieldError>,
) -> AppResult<Map<String, Value>>
where
    T: serde::de::DeserializeOwned + Serialize + Validate,
{
    let Some(object) = object else {
        errors.push(FieldError::new("object", "is required for this verb"));
        return Ok(Map::new());
    };
    let typed: T = serde_path_to_error::deserialize(object).map_err(|error| {
        let path = error.path().to_string();
        let field = if path == "." || path.is_empty() {
            "object".to_owned()
        } else {
            format!("object.{path}")
        };
        AppError::bad_field(field, error.into_inner().to_string())
    })?;
    if let Err(AppError::Validation(fields)) = check(&typed) {
        errors.extend(
            fields
                .into_iter()
                .map(|f| FieldError::new(format!("object.{}", f.field), f.message)),
        );
    }
    match serde_json::to_value(&typed).map_err(AppError::internal)? {
        Value::Object(map) => Ok(map),
        _ => Err(AppError::internal(
            "an activity object is not a JSON object",
        )),
    }
}

/// A ULID for an activity derived from its source: the source's time (so feeds sort it
/// by when it happened) and 80 bits of a hash of `source` (so it is the same on every
/// redelivery).
pub fn derived_activity_id(created_at: &str, source: &str) -> AppResult<String> {
    let at = parse_time(created_at)?;
    let millis = u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let digest = Sha256::digest(source.as_bytes());
    let mut random = [0u8; 16];
    random[6..].copy_from_slice(&digest[..10]);
    Ok(ulid::Ulid::from_parts(millis, u128::from_be_bytes(random)).to_string())
}

/// The timeline day bucket (`yyyy-mm-dd`, UTC) of an epoch second.
pub fn day_bucket(epoch_seconds: i64) -> String {
    let date = time::OffsetDateTime::from_unix_timestamp(epoch_seconds)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .date();
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Limits how many connection pages one invocation of the fan-out function reads (and
/// queues as deliveries), across all records of its batch.
#[derive(Debug)]
pub struct FanoutBudget(AtomicU32, u32);

impl FanoutBudget {
    pub fn new(pages: u32) -> Self {
        Self(AtomicU32::new(pages), pages)
    }

    /// The pages taken so far.
    pub fn taken(&self) -> u32 {
        self.1 - self.0.load(Ordering::SeqCst)
    }

    /// Takes one page from the budget; false when it is spent.
    pub fn take(&self) -> bool {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok()
    }
}

/// Fan-out knobs (from the function's environment).
#[derive(Debug, Clone, Copy)]
pub struct FanoutSettings {
    /// Recipients per delivery (one message on the fan-out queue; its worker writes them
    /// with concurrent BatchWriteItems of 25).
    pub page_size: u32,
    /// Connection pages one stream invocation may read before continuing through a
    /// progress item; a page is one Query of up to [`DELIVERIES_PER_PAGE`] deliveries,
    /// queued with one SendMessageBatch.
    pub max_pages_per_invocation: u32,
}

/// Deliveries per connection page: SendMessageBatch takes at most 10 messages.
pub const DELIVERIES_PER_PAGE: u32 = 10;

impl FanoutSettings {
    /// Connections read per Query page.
    pub fn connections_per_page(&self) -> u32 {
        self.page_size.max(1).saturating_mul(DELIVERIES_PER_PAGE)
    }
}

/// Splits a page of the audience into deliveries of at most `page_size` recipients.
pub fn deliveries(
    entry: &FeedEntry,
    op: FanoutOp,
    recipients: &[UserId],
    page_size: u32,
) -> Vec<FeedDelivery> {
    let size = usize::try_from(page_size.max(1)).unwrap_or(usize::MAX);
    recipients
        .chunks(size)
        .map(|chunk| FeedDelivery {
            entry: entry.clone(),
            op,
            recipients: chunk.to_vec(),
        })
        .collect()
}

/// The writes of one delivery: one put (or delete) per recipient's home-feed entry. A
/// recipient that is not a valid user id fails the whole delivery (nothing is written),
/// so a malformed message ends in the dead-letter queue instead of writing odd keys.
pub fn delivery_writes(delivery: &FeedDelivery) -> AppResult<Vec<BatchWrite>> {
    for user in &delivery.recipients {
        UserId::parse(user.as_str())?;
    }
    delivery
        .recipients
        .iter()
        .map(|user| {
            let home = HomeFeedEntry::new(user, &delivery.entry)?;
            match delivery.op {
                FanoutOp::Put => put_request(home.item()?),
                FanoutOp::Delete => delete_request(&home.key()),
            }
        })
        .collect()
}

/// Adds `delta` to a counter of a live (existing, not deleted) activity.
pub(super) fn bump_counter<'a>(
    transaction: Transaction<'a>,
    activity_id: &str,
    counter: &str,
    delta: i64,
) -> Transaction<'a> {
    let update = Expr::new("SET #counter = if_not_exists(#counter, :zero) + :delta")
        .name("#counter", counter)
        .value(":zero", n(0))
        .value(":delta", n(delta));
    transaction.update(&keys::activity(activity_id), update, Some(activity_live()))
}

/// Adds `delta` to `member`'s shard of a live activity's likes: the activity item is
/// only checked (a read), so a viral activity's likes spread over the shards'
/// partitions instead of all writing its own.
pub(super) fn count_like<'a>(
    transaction: Transaction<'a>,
    activity_id: &str,
    member: &UserId,
    delta: i64,
) -> Transaction<'a> {
    keys::like_counter(activity_id)
        .add(transaction, member.as_str(), delta)
        .check(&keys::activity(activity_id), activity_live())
}

fn activity_live() -> Condition {
    let live = Expr::new("attribute_exists(PK) AND #deleted = :false")
        .name("#deleted", "deleted")
        .value(":false", AttributeValue::Bool(false));
    Condition::new(ACTIVITY_LIVE, live)
}

/// A like/unlike transaction's outcome: item condition failed (already in that state)
/// is a no-op; the activity condition failed is a 404.
pub(super) fn counted_write(
    result: Result<(), WriteError>,
    already: &'static str,
    activity_id: &str,
) -> AppResult<()> {
    match result {
        Ok(()) => Ok(()),
        Err(error) if error.failed(ACTIVITY_LIVE) => {
            Err(AppError::NotFound(format!("no activity {activity_id}")))
        }
        Err(error) if error.failed(already) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

pub(super) fn day_before(day: &str) -> AppResult<String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(day, &format)
        .map_err(|_| AppError::bad_field("cursor", "is not a valid cursor for this query"))?;
    let previous = date.previous_day().unwrap_or(date);
    Ok(format!(
        "{:04}-{:02}-{:02}",
        previous.year(),
        u8::from(previous.month()),
        previous.day()
    ))
}

pub(super) fn image<T: serde::de::DeserializeOwned>(
    image: Option<&serde_dynamo::Item>,
) -> AppResult<Option<T>> {
    image.map(|i| store::from_item(i.clone())).transpose()
}

pub(super) fn generated(
    activity_id: String,
    author: UserId,
    verb: Verb,
    visibility: ActivityVisibility,
    object: Value,
    created_at: String,
) -> Activity {
    let object = match object {
        Value::Object(map) => map.into_iter().filter(|(_, v)| !v.is_null()).collect(),
        _ => Map::new(),
    };
    Activity {
        activity_id,
        author_id: author,
        verb,
        visibility,
        object,
        text: None,
        created_at,
        deleted: false,
        like_count: 0,
        like_count_shards: BTreeMap::new(),
        comment_count: 0,
        share_count: 0,
        screening: None,
    }
}

/// What a change of an enrollment achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Milestone {
    /// This lesson is complete now.
    Lesson(String),
    /// The certificate: every lesson is complete.
    Course,
}

/// The lessons newly complete (in id order) and the certificate newly set, from an
/// enrollment's old and new images.
pub(super) fn course_milestones(
    old: Option<&courses::Enrollment>,
    new: &courses::Enrollment,
) -> Vec<Milestone> {
    let before = old.map(|o| &o.completed_lessons);
    let mut milestones: Vec<Milestone> = new
        .completed_lessons
        .iter()
        .filter(|l| before.is_none_or(|b| !b.contains(*l)))
        .map(|l| Milestone::Lesson(l.clone()))
        .collect();
    if new.certificate_at.is_some() && old.is_none_or(|o| o.certificate_at.is_none()) {
        milestones.push(Milestone::Course);
    }
    milestones
}

pub(super) fn discussion_activity_id(topic: &TopicImage) -> AppResult<String> {
    derived_activity_id(
        &topic.created_at,
        &format!("discussionPosted#{}", topic.topic_id),
    )
}

pub(super) fn reply_activity_id(reply: &ReplyImage) -> AppResult<String> {
    derived_activity_id(
        &reply.created_at,
        &format!("replyPosted#{}", reply.reply_id),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_derived_id_is_the_same_on_every_delivery_and_sorts_by_source_time() {
        let first = derived_activity_id("2026-03-01T10:00:00.000Z", "discussionPosted#A").unwrap();
        let again = derived_activity_id("2026-03-01T10:00:00.000Z", "discussionPosted#A").unwrap();
        let other = derived_activity_id("2026-03-01T10:00:00.000Z", "replyPosted#A").unwrap();
        let later = derived_activity_id("2026-03-01T10:00:00.001Z", "discussionPosted#A").unwrap();

        assert_eq!(first, again);
        assert_ne!(first, other);
        assert!(later > first && later > other);
        assert!(ulid::Ulid::from_string(&first).is_ok());
    }

    fn entry() -> FeedEntry {
        FeedEntry {
            activity_id: "01JD8A2B3C4D5E6F7G8H9J0K1M".into(),
            author_id: UserId::parse("star").unwrap(),
            verb: Verb::BadgeEarned,
            visibility: ActivityVisibility::Connections,
            created_at: "2026-03-01T10:00:00.000Z".into(),
            original_activity_id: None,
            topic_id: None,
        }
    }

    #[test]
    fn an_audience_page_splits_into_deliveries_of_at_most_the_page_size() {
        let audience: Vec<UserId> = (0..45)
            .map(|i| UserId::parse(&format!("u{i}")).unwrap())
            .collect();

        let jobs = deliveries(&entry(), FanoutOp::Put, &audience, 20);

        let sizes: Vec<usize> = jobs.iter().map(|j| j.recipients.len()).collect();
        assert_eq!(sizes, vec![20, 20, 5]);
        let flattened: Vec<UserId> = jobs.into_iter().flat_map(|j| j.recipients).collect();
        assert_eq!(flattened, audience);
        assert!(deliveries(&entry(), FanoutOp::Put, &[], 20).is_empty());
    }

    #[test]
    fn a_delivery_writes_one_entry_per_recipient_the_same_on_every_delivery() {
        let delivery = FeedDelivery {
            entry: entry(),
            op: FanoutOp::Put,
            recipients: vec![UserId::parse("a").unwrap(), UserId::parse("b").unwrap()],
        };
        let keys = |writes: Vec<BatchWrite>| -> Vec<(String, String)> {
            writes
                .into_iter()
                .map(|w| match w {
                    BatchWrite::Put(item) => (
                        item[store::PK].as_s().unwrap().clone(),
                        item[store::SK].as_s().unwrap().clone(),
                    ),
                    BatchWrite::Delete(key) => (key.pk, key.sk),
                })
                .collect()
        };

        let puts = keys(delivery_writes(&delivery).unwrap());
        let again = keys(delivery_writes(&delivery).unwrap());
        let deletes = keys(
            delivery_writes(&FeedDelivery {
                op: FanoutOp::Delete,
                ..delivery.clone()
            })
            .unwrap(),
        );

        let id = "01JD8A2B3C4D5E6F7G8H9J0K1M".to_owned();
        assert_eq!(
            puts,
            vec![("FEED#a".to_owned(), id.clone()), ("FEED#b".to_owned(), id)]
        );
        assert_eq!(puts, again);
        assert_eq!(puts, deletes);
        let malformed: FeedDelivery = serde_json::from_value(serde_json::json!({
            "entry": serde_json::to_value(entry()).unwrap(), "op": "put", "recipients": ["a", "b#c"],
        }))
        .unwrap();
        assert!(delivery_writes(&malformed).is_err());
    }

    #[test]
    fn a_delivery_has_a_stable_wire_form() {
        let delivery = FeedDelivery {
            entry: entry(),
            op: FanoutOp::Delete,
            recipients: vec![UserId::parse("a").unwrap()],
        };

        let json = serde_json::to_value(&delivery).unwrap();

        assert_eq!(json["op"], "delete");
        assert_eq!(json["recipients"], serde_json::json!(["a"]));
        assert_eq!(json["entry"]["activityId"], "01JD8A2B3C4D5E6F7G8H9J0K1M");
        let back: FeedDelivery = serde_json::from_value(json).unwrap();
        assert_eq!(back, delivery);
    }

    #[test]
    fn visibility_decides_who_sees_an_activity() {
        use ActivityVisibility::*;
        assert!(Public.allows(false, false));
        assert!(Connections.allows(false, true) && Connections.allows(true, false));
        assert!(!Connections.allows(false, false));
        assert!(Private.allows(true, false) && !Private.allows(false, true));
    }

    #[test]
    fn day_buckets_are_utc_dates_and_step_back_across_months() {
        assert_eq!(day_bucket(0), "1970-01-01");
        assert_eq!(day_bucket(1_772_323_200), "2026-03-01");
        assert_eq!(day_before("2026-03-01").unwrap(), "2026-02-28");
    }

    #[test]
    fn the_budget_is_spent_page_by_page() {
        let budget = FanoutBudget::new(2);
        assert!(budget.take() && budget.take());
        assert!(!budget.take());
        assert_eq!(budget.taken(), 2, "a refused take is not counted");
    }

    fn new_activity(body: Value) -> AppResult<ValidActivity> {
        validate_new_activity(serde_json::from_value(body).map_err(AppError::internal)?)
    }

    fn fields(result: AppResult<impl std::fmt::Debug>) -> Vec<String> {
        match result {
            Err(AppError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            Err(AppError::BadRequest { errors, .. }) => {
                errors.into_iter().map(|e| e.field).collect()
            }
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    #[test]
    fn a_lesson_activity_is_validated_field_by_field() {
        let ValidActivity {
            verb,
            visibility,
            object,
            ..
        } = new_activity(serde_json::json!({
            "verb": "lessonCompleted", "object": {"lessonId": "rust-101", "title": "Ownership"}
        }))
        .unwrap();
        assert_eq!(verb, Verb::LessonCompleted);
        assert_eq!(visibility, ActivityVisibility::Connections);
        assert_eq!(object["title"], "Ownership");

        let bad = new_activity(serde_json::json!({
            "verb": "lessonCompleted", "object": {"lessonId": "a#b", "title": " ", "url": "ftp://x"}
        }));
        assert_eq!(
            fields(bad),
            ["object.lessonId", "object.title", "object.url"]
        );
    }

    #[test]
    fn objects_must_match_their_verb() {
        let missing = new_activity(serde_json::json!({"verb": "badgeEarned"}));
        assert_eq!(fields(missing), ["object"]);
        let unknown = new_activity(serde_json::json!({
            "verb": "badgeEarned", "object": {"badgeId": "b", "name": "N", "extra": 1}
        }));
        assert_eq!(fields(unknown), ["object.extra"]);
        let wrong_type = new_activity(serde_json::json!({
            "verb": "goalShared", "object": {"goal": 5}
        }));
        assert_eq!(fields(wrong_type), ["object.goal"]);
        let bad_date = new_activity(serde_json::json!({
            "verb": "goalShared", "object": {"goal": "Save 10%", "targetDate": "2026-13-01"}
        }));
        assert_eq!(fields(bad_date), ["object.targetDate"]);
    }

    #[test]
    fn a_free_text_share_needs_text_and_no_object() {
        let empty = new_activity(serde_json::json!({"verb": "share", "object": {}}));
        assert_eq!(fields(empty), ["object", "text"]);
        let blank = new_activity(serde_json::json!({"verb": "share", "text": "   "}));
        assert_eq!(fields(blank), ["text"]);
        assert!(
            new_activity(
                serde_json::json!({"verb": "share", "text": "hi", "visibility": "public"})
            )
            .is_ok()
        );
    }

    // The items of the feed's entity types, each compared with the item the hand-written
    // code wrote before them (attribute by attribute, S or N or BOOL or M as it was).

    fn ana() -> UserId {
        UserId::parse("ana").unwrap()
    }

    fn expected(attributes: &[(&str, AttributeValue)]) -> Item {
        attributes
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect()
    }

    fn activity(text: Option<&str>) -> Activity {
        let mut object = Map::new();
        object.insert("topicId".into(), Value::String("T1".into()));
        Activity {
            activity_id: "A1".into(),
            author_id: ana(),
            verb: Verb::DiscussionPosted,
            visibility: ActivityVisibility::Public,
            object,
            text: text.map(str::to_owned),
            created_at: "2026-03-01T10:00:00.000Z".into(),
            deleted: false,
            like_count: 2,
            like_count_shards: BTreeMap::new(),
            comment_count: 0,
            share_count: 1,
            screening: None,
        }
    }

    #[test]
    fn an_activity_item_is_the_one_written_by_hand_before() -> AppResult<()> {
        let activity = activity(None);

        let item = activity.item()?;

        let object = HashMap::from([("topicId".to_owned(), s("T1"))]);
        assert_eq!(
            item,
            expected(&[
                ("PK", s("ACT#A1")),
                ("SK", s("META")),
                ("GSI1PK", s("USER#ana")),
                ("GSI1SK", s("ACT#A1")),
                ("entity", s("Activity")),
                ("activityId", s("A1")),
                ("authorId", s("ana")),
                ("verb", s("discussionPosted")),
                ("visibility", s("public")),
                ("object", AttributeValue::M(object)),
                ("createdAt", s("2026-03-01T10:00:00.000Z")),
                ("deleted", AttributeValue::Bool(false)),
                ("likeCount", n(2)),
                ("likeCountShards", AttributeValue::M(HashMap::new())),
                ("commentCount", n(0)),
                ("shareCount", n(1)),
            ])
        );
        assert_eq!(activity_item_with_text()?.get("text"), Some(&s("hello")));
        Ok(())
    }

    fn activity_item_with_text() -> AppResult<Item> {
        activity(Some("hello")).item()
    }

    #[test]
    fn an_authored_activity_pointer_holds_only_the_activity_id_and_time() -> AppResult<()> {
        let pointer = AuthoredActivity::of(&activity(Some("hello")));

        let item = pointer.item()?;

        assert_eq!(
            item,
            expected(&[
                ("PK", s("USER#ana")),
                ("SK", s("ACTIVITY#A1")),
                ("entity", s("AuthoredActivity")),
                ("activityId", s("A1")),
                ("createdAt", s("2026-03-01T10:00:00.000Z")),
            ])
        );
        Ok(())
    }

    #[test]
    fn a_like_item_is_the_one_written_by_hand_before() -> AppResult<()> {
        let like = ActivityLike {
            activity_id: "A1".into(),
            user_id: ana(),
            created_at: "2026-03-01T10:00:00.000Z".into(),
        };

        let item = like.item()?;

        assert_eq!(
            item,
            expected(&[
                ("PK", s("ACT#A1")),
                ("SK", s("LIKE#ana")),
                ("entity", s("ActivityLike")),
                ("activityId", s("A1")),
                ("userId", s("ana")),
                ("createdAt", s("2026-03-01T10:00:00.000Z")),
            ])
        );
        Ok(())
    }

    #[test]
    fn a_comment_item_is_the_one_written_by_hand_before() -> AppResult<()> {
        let comment = Comment {
            comment_id: "C1".into(),
            activity_id: "A1".into(),
            author_id: ana(),
            text: "nice".into(),
            created_at: "2026-03-01T10:00:00.000Z".into(),
            screening: None,
        };

        let item = comment.item()?;

        assert_eq!(
            item,
            expected(&[
                ("PK", s("ACT#A1")),
                ("SK", s("COMMENT#C1")),
                ("entity", s("ActivityComment")),
                ("commentId", s("C1")),
                ("activityId", s("A1")),
                ("authorId", s("ana")),
                ("text", s("nice")),
                ("createdAt", s("2026-03-01T10:00:00.000Z")),
            ])
        );
        Ok(())
    }

    #[test]
    fn like_and_comment_pointers_differ_only_in_their_sort_key() -> AppResult<()> {
        let like = ActivityPointer {
            user_id: ana(),
            pointed_at: PointedAt::Like,
            activity_id: "A1".into(),
        };
        let comment = ActivityPointer {
            pointed_at: PointedAt::Comment {
                comment_id: "C1".into(),
            },
            ..like.clone()
        };

        let (like_item, comment_item) = (like.item()?, comment.item()?);

        let pointer = |sk: &str| {
            expected(&[
                ("PK", s("USER#ana")),
                ("SK", s(sk)),
                ("entity", s("ActivityPointer")),
                ("activityId", s("A1")),
            ])
        };
        assert_eq!(like_item, pointer("ACTLIKE#A1"));
        assert_eq!(comment_item, pointer("ACTCOMMENT#A1#C1"));
        Ok(())
    }

    #[test]
    fn feed_and_timeline_entries_are_the_items_written_by_hand_before() -> AppResult<()> {
        let mut entry = activity(None).entry();
        entry.verb = Verb::Share;
        entry.original_activity_id = Some("A0".into());
        entry.topic_id = Some("T1".into());
        let reader = UserId::parse("cy").unwrap();

        let home = HomeFeedEntry::new(&reader, &entry)?.item()?;
        let timeline = TimelineEntry::new(&entry)?.item()?;

        let entry_item = |pk: &str, entity: &str, expires_at: i64| {
            expected(&[
                ("PK", s(pk)),
                ("SK", s("A1")),
                ("entity", s(entity)),
                ("activityId", s("A1")),
                ("authorId", s("ana")),
                ("verb", s("share")),
                ("visibility", s("public")),
                ("createdAt", s("2026-03-01T10:00:00.000Z")),
                ("originalActivityId", s("A0")),
                ("topicId", s("T1")),
                ("expiresAt", n(expires_at)),
            ])
        };
        assert_eq!(home, entry_item("FEED#cy", "FeedEntry", 1_774_951_200));
        assert_eq!(
            timeline,
            entry_item("TIMELINE#2026-03-01", "TimelineEntry", 1_772_964_000)
        );
        Ok(())
    }

    #[test]
    fn a_fanout_progress_item_is_the_one_written_by_hand_before() -> AppResult<()> {
        let progress = FanoutProgress {
            job: FanoutJob {
                entry: activity(None).entry(),
                op: FanoutOp::Delete,
                step: 3,
                cursor: Some(PageKey::from([("PK".to_owned(), "USER#ana".to_owned())])),
            },
            expires_at: 1_772_400_000,
        };

        let item = progress.item()?;

        let entry = HashMap::from([
            ("activityId".to_owned(), s("A1")),
            ("authorId".to_owned(), s("ana")),
            ("verb".to_owned(), s("discussionPosted")),
            ("visibility".to_owned(), s("public")),
            ("createdAt".to_owned(), s("2026-03-01T10:00:00.000Z")),
            ("topicId".to_owned(), s("T1")),
        ]);
        let cursor = HashMap::from([("PK".to_owned(), s("USER#ana"))]);
        assert_eq!(
            item,
            expected(&[
                ("PK", s("FANOUT#A1")),
                ("SK", s("delete#00003")),
                ("entity", s("FeedFanout")),
                ("entry", AttributeValue::M(entry)),
                ("op", s("delete")),
                ("step", n(3)),
                ("cursor", AttributeValue::M(cursor)),
                ("expiresAt", n(1_772_400_000)),
            ])
        );
        Ok(())
    }
}
