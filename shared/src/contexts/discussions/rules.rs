//! Discussions: pure rules: decisions, write plans, visibility and counters, with no I/O.

use super::*;

/// Who may create categories.
pub const ADMIN_ROLE: &str = "admin";

/// Who may pin, delete others' content and accept answers on others' topics.
pub const MODERATOR_ROLE: &str = "moderator";

/// What readers see instead of deleted text.
pub const TOMBSTONE: &str = "[deleted]";

/// The stream consumer's name in its processed-record markers.
pub const STREAM_CONSUMER: &str = "discussions-stream";

/// Markers outlive the stream's 24 h retention, so no redelivery can miss one.
pub(super) const MARKER_TTL_SECONDS: i64 = 2 * 24 * 3600;

/// Optimistic-concurrency attempts of the stream's topic counter update.
pub(super) const COUNTER_ATTEMPTS: usize = 8;

/// Every kind at zero: counters exist from creation, so the stream can add to them.
pub(super) fn zero_counts() -> BTreeMap<String, i64> {
    ReactionKind::ALL
        .iter()
        .map(|k| (k.as_str().to_owned(), 0))
        .collect()
}

pub(super) fn attachment_errors(attachments: &[Attachment], field: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if attachments.len() > MAX_ATTACHMENTS {
        errors.push(FieldError::new(field, "must have at most 5 entries"));
    }
    for (index, attachment) in attachments.iter().enumerate() {
        let at = |name: &str| format!("{field}[{index}].{name}");
        let text = |name: &str, value: &str, max: usize, multiline: bool| {
            let length = value.chars().count();
            let ok = if multiline {
                validation::plain_text(value).is_ok()
            } else {
                validation::single_line(value).is_ok()
            };
            (length == 0 || length > max || !ok).then(|| {
                FieldError::new(at(name), format!("must be 1 to {max} characters of text"))
            })
        };
        let url_error = |url: &str| {
            (url.len() > 2048 || validation::web_url(url).is_err())
                .then(|| FieldError::new(at("url"), "must be an absolute http(s) URL"))
        };
        match attachment {
            Attachment::Code { language, code } => {
                errors.extend(text("language", language, 30, false));
                errors.extend(text("code", code, 10_000, true));
            }
            Attachment::Link { url, title } => {
                errors.extend(url_error(url));
                if let Some(title) = title {
                    errors.extend(text("title", title, 200, false));
                }
            }
            Attachment::Image { url, alt } => {
                errors.extend(url_error(url));
                if let Some(alt) = alt {
                    errors.extend(text("alt", alt, 300, false));
                }
            }
        }
    }
    errors
}

// ---------------------------------------------------------------------------------
// Text: hashtags and mentions (pure)
// ---------------------------------------------------------------------------------

/// Lines outside fenced code blocks: `#include` in a code sample is not a hashtag.
pub(super) fn prose_lines(body: &str) -> impl Iterator<Item = &str> {
    let mut in_fence = false;
    body.lines().filter(move |line| {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            return false;
        }
        !in_fence
    })
}

/// Words following `marker` at a word start (so `a@b.com` and `page#anchor` don't count).
pub(super) fn marked_words(body: &str, marker: char, allowed: fn(char) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    for line in prose_lines(body) {
        let chars: Vec<char> = line.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            if *c != marker {
                continue;
            }
            let starts_word = i == 0 || {
                let before = chars[i - 1];
                before.is_whitespace() || "([{,;:!?\"'".contains(before)
            };
            if !starts_word {
                continue;
            }
            let word: String = chars[i + 1..].iter().take_while(|c| allowed(**c)).collect();
            if !word.is_empty() {
                out.push(word);
            }
        }
    }
    out
}

/// `#hashtags` in a body, lower-cased, with at least one letter (`#1` is an issue number).
pub fn hashtags(body: &str) -> Vec<String> {
    marked_words(body, '#', |c| c.is_alphanumeric() || c == '-' || c == '_')
        .into_iter()
        .map(|w| w.trim_end_matches(['-', '_']).to_lowercase())
        .filter(|w| valid_tag(w) && w.chars().any(char::is_alphabetic))
        .collect()
}

/// `@handles` in a body, lower-cased, distinct, at most [`MAX_MENTIONS`].
pub fn mentioned_handles(body: &str) -> Vec<Handle> {
    let mut seen = BTreeSet::new();
    marked_words(body, '@', |c| c.is_ascii_alphanumeric() || c == '_')
        .into_iter()
        .filter_map(|w| Handle::parse(&w).ok())
        .filter(|h| seen.insert(h.as_str().to_owned()))
        .take(MAX_MENTIONS)
        .collect()
}

/// The topic's tags: explicit ones first, then hashtags, distinct, at most [`MAX_TAGS`].
pub fn topic_tags(explicit: &[String], body: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    explicit
        .iter()
        .map(|t| t.trim().trim_start_matches('#').to_lowercase())
        .chain(hashtags(body))
        .filter(|t| seen.insert(t.clone()))
        .take(MAX_TAGS)
        .collect()
}

pub(super) fn not_found(what: &str) -> AppError {
    AppError::NotFound(format!("no such {what}"))
}

pub(super) fn is_moderator(principal: &Principal) -> bool {
    principal.has_role(MODERATOR_ROLE)
}

pub(super) fn unreachable_scope<T>() -> AppResult<T> {
    Err(AppError::internal("category scope in the index branch"))
}

pub(super) fn to_value<T: Serialize>(value: &T) -> AppResult<AttributeValue> {
    serde_dynamo::to_attribute_value(value).map_err(AppError::internal)
}

/// The title an erased topic keeps.
pub(super) const ERASED: &str = "[deleted]";

/// A failed condition means there is nothing (of mine) to erase: not an error.
/// "It exists and `me` wrote it": erasure touches only my own content.
pub(super) fn mine(me: &UserId) -> Condition {
    Condition::new(
        MINE,
        Expr::new("attribute_exists(PK) AND authorId = :me").value(":me", s(me.as_str())),
    )
}

/// A write whose condition failed did nothing, and that is fine here (gone, or not
/// mine, or changed meanwhile); other errors pass.
pub(super) fn ignore_condition(result: Result<Option<Item>, WriteError>) -> AppResult<()> {
    match result {
        Ok(_) | Err(WriteError::ConditionsFailed(_)) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Reads a stream image (absent or empty: `None`).
pub fn counted_record(image: Option<serde_dynamo::Item>) -> AppResult<Option<CountedRecord>> {
    match image {
        Some(item) if !item.is_empty() => store::from_item(item).map(Some),
        _ => Ok(None),
    }
}

/// The counter change one stream record calls for (pure). Replies count while not
/// deleted: an insert adds one, a soft delete or a removal of a live reply takes one
/// away. A reaction adds to its kind, a change moves between kinds, a removal subtracts.
pub fn counter_change(
    old: Option<&CountedRecord>,
    new: Option<&CountedRecord>,
) -> Option<CounterChange> {
    let live = |r: Option<&CountedRecord>| match r {
        Some(CountedRecord::Reply(reply)) if !reply.deleted => Some(reply.as_ref().clone()),
        _ => None,
    };
    let reaction = |r: Option<&CountedRecord>| match r {
        Some(CountedRecord::Reaction(reaction)) => Some(reaction.clone()),
        _ => None,
    };
    match (old, new) {
        (Some(CountedRecord::Reply(_)), _) | (_, Some(CountedRecord::Reply(_))) => {
            let (before, after) = (live(old), live(new));
            let (delta, reply) = match (&before, &after) {
                (None, Some(reply)) => (1, reply),
                (Some(reply), None) => (-1, reply),
                _ => return None,
            };
            Some(CounterChange {
                target: CounterTarget::Topic(reply.topic_id.clone()),
                replies: delta,
                reactions: BTreeMap::new(),
                // A reply restored or created is activity; a deletion is not.
                activity_at: (delta > 0 && old.is_none()).then(|| reply.created_at.clone()),
                source: keys::reply(&reply.topic_id, &reply.reply_id).sk,
            })
        }
        _ => {
            let (before, after) = (reaction(old), reaction(new));
            let any = after.as_ref().or(before.as_ref())?;
            let mut reactions = BTreeMap::new();
            if let Some(before) = &before {
                *reactions.entry(before.reaction).or_insert(0) -= 1;
            }
            if let Some(after) = &after {
                *reactions.entry(after.reaction).or_insert(0) += 1;
            }
            reactions.retain(|_, delta| *delta != 0);
            if reactions.is_empty() {
                return None;
            }
            let target = if any.target_id == any.topic_id {
                CounterTarget::Topic(any.topic_id.clone())
            } else {
                CounterTarget::Reply {
                    topic_id: any.topic_id.clone(),
                    reply_id: any.target_id.clone(),
                }
            };
            Some(CounterChange {
                target,
                replies: 0,
                reactions,
                activity_at: None,
                source: keys::reaction(&any.topic_id, &any.target_id, &any.user_id).sk,
            })
        }
    }
}

/// The processed-record marker, put only if absent (`RECORD_NEW`), so a redelivered
/// record counts once.
pub(super) fn marker(event_id: &str, change: &CounterChange) -> ProcessedStreamRecord {
    let topic_id = match &change.target {
        CounterTarget::Topic(topic_id) | CounterTarget::Reply { topic_id, .. } => topic_id,
    };
    ProcessedStreamRecord {
        consumer: STREAM_CONSUMER.to_owned(),
        event_id: event_id.to_owned(),
        topic_id: topic_id.clone(),
        source_sk: change.source.clone(),
        expires_at: now_epoch_seconds() + MARKER_TTL_SECONDS,
    }
}

/// A batch of queued views by topic: each topic's message ids (as many views as ids),
/// and the messages that are not a [`TopicView`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ViewTally {
    pub topics: BTreeMap<String, Vec<String>>,
    /// Each view's reader, by message id: `(message id, reader, topic id, posts shown)`.
    pub readers: Vec<(String, UserId, String, u32)>,
    pub malformed: Vec<String>,
}

/// Groups queued views (`(message id, body)`) by topic, so a batch adds to each topic
/// once.
pub fn views_by_topic<'a>(messages: impl IntoIterator<Item = (&'a str, &'a str)>) -> ViewTally {
    let mut tally = ViewTally::default();
    for (id, body) in messages {
        match serde_json::from_str::<TopicView>(body) {
            Ok(view) if !view.topic_id.is_empty() => {
                if let Some(reader) = view.reader_id {
                    tally
                        .readers
                        .push((id.to_owned(), reader, view.topic_id.clone(), view.posts));
                }
                tally
                    .topics
                    .entry(view.topic_id)
                    .or_default()
                    .push(id.to_owned());
            }
            _ => tally.malformed.push(id.to_owned()),
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(raw: &str) -> UserId {
        UserId::parse(raw).unwrap()
    }

    fn reply(deleted: bool) -> CountedRecord {
        CountedRecord::Reply(Box::new(Reply {
            reply_id: "01J0000000000000000000000A".into(),
            topic_id: "01J0000000000000000000000T".into(),
            author_id: user("bo"),
            parent_reply_id: None,
            parent_author_id: user("ana"),
            topic_author_id: user("ana"),
            mentions: vec![],
            body: "hi".into(),
            depth: 1,
            created_at: "2026-01-01T00:00:00.000Z".into(),
            updated_at: "2026-01-01T00:00:00.000Z".into(),
            edited: false,
            deleted,
            reaction_counts: zero_counts(),
            version: 1,
            screening: None,
        }))
    }

    fn reaction(target: &str, kind: ReactionKind) -> CountedRecord {
        CountedRecord::Reaction(Reaction {
            topic_id: "T".into(),
            target_id: target.into(),
            target_author_id: user("ana"),
            user_id: user("bo"),
            reaction: kind,
            created_at: "2026-01-01T00:00:00.000Z".into(),
        })
    }

    #[test]
    fn a_new_reply_counts_once_and_is_activity() {
        let change = counter_change(None, Some(&reply(false))).unwrap();

        assert_eq!(change.replies, 1);
        assert_eq!(
            change.activity_at.as_deref(),
            Some("2026-01-01T00:00:00.000Z")
        );
        assert_eq!(
            change.target,
            CounterTarget::Topic("01J0000000000000000000000T".into())
        );
    }

    #[test]
    fn a_soft_deleted_reply_stops_counting_and_an_edit_changes_nothing() {
        let deleted = counter_change(Some(&reply(false)), Some(&reply(true))).unwrap();

        assert_eq!(deleted.replies, -1);
        assert!(deleted.activity_at.is_none());
        assert!(counter_change(Some(&reply(false)), Some(&reply(false))).is_none());
        assert!(counter_change(Some(&reply(true)), None).is_none());
    }

    #[test]
    fn changing_a_reaction_moves_one_between_kinds() {
        let changed = counter_change(
            Some(&reaction("T", ReactionKind::Like)),
            Some(&reaction("T", ReactionKind::Love)),
        )
        .unwrap();
        let same = counter_change(
            Some(&reaction("T", ReactionKind::Like)),
            Some(&reaction("T", ReactionKind::Like)),
        );
        let removed = counter_change(Some(&reaction("R", ReactionKind::Wow)), None).unwrap();

        assert_eq!(
            changed.reactions,
            BTreeMap::from([(ReactionKind::Like, -1), (ReactionKind::Love, 1)])
        );
        assert_eq!(changed.target, CounterTarget::Topic("T".into()));
        assert!(same.is_none());
        assert_eq!(
            removed.target,
            CounterTarget::Reply {
                topic_id: "T".into(),
                reply_id: "R".into()
            }
        );
        assert_eq!(removed.reactions[&ReactionKind::Wow], -1);
    }

    #[test]
    fn hashtags_skip_code_anchors_numbers_and_headings() {
        let body = "# Heading\nLearning #Rust and #serverless-apps, see page#anchor.\n\
                    Issue #12 (#AWS)\n```\n#include <stdio.h>\n```\n#rust again";

        assert_eq!(
            hashtags(body),
            vec!["rust", "serverless-apps", "aws", "rust"]
        );
    }

    #[test]
    fn tags_merge_explicit_and_hashtags_distinct_and_bounded() {
        let explicit = vec!["#Rust".to_owned(), "lambda".to_owned()];
        let body = (0..12).map(|i| format!("#t{i} ")).collect::<String>() + "#rust";

        let tags = topic_tags(&explicit, &body);

        assert_eq!(tags.len(), MAX_TAGS);
        assert_eq!(&tags[..3], &["rust", "lambda", "t0"]);
    }

    #[test]
    fn mentions_are_word_initial_handles_without_emails() {
        let handles = mentioned_handles("thanks @Ana_1 and @bo, mail me@example.com, @ana_1 @x");

        let names: Vec<&str> = handles.iter().map(Handle::as_str).collect();
        assert_eq!(names, vec!["ana_1"]);
    }

    #[test]
    fn reply_ids_are_bounded_paths_of_ulids() {
        let a = new_ulid();
        let b = new_ulid();

        assert!(parse_reply_id(&a).is_some());
        assert_eq!(
            parse_reply_id(&format!("{a}-{b}")).map(|p| p.len()),
            Some(2)
        );
        assert!(parse_reply_id("nope").is_none());
        assert!(parse_reply_id(&[a.as_str(); MAX_REPLY_DEPTH + 1].join("-")).is_none());
    }

    #[test]
    fn thread_order_is_depth_first_by_time() {
        // ULIDs only order by time across milliseconds; within one they are random.
        let later = || {
            std::thread::sleep(std::time::Duration::from_millis(2));
            new_ulid()
        };
        let (a, b, c, d) = (later(), later(), later(), later());
        let mut paths = vec![d.clone(), format!("{a}-{c}"), a.clone(), format!("{a}-{b}")];

        paths.sort();

        assert_eq!(
            paths,
            vec![a.clone(), format!("{a}-{b}"), format!("{a}-{c}"), d]
        );
    }

    #[test]
    fn listing_keys_put_pinned_first_and_rank_numerically() {
        assert!(keys::newest_sort(true, "A") > keys::newest_sort(false, "Z"));
        assert!(keys::top_sort(false, 10, "A") > keys::top_sort(false, 9, "Z"));
    }

    #[test]
    fn attachments_are_tagged_and_strict() {
        let ok: Vec<Attachment> = serde_json::from_str(
            r#"[{"kind":"code","language":"rust","code":"fn main() {}"},
                {"kind":"link","url":"https://example.com"},
                {"kind":"image","url":"https://cdn.example.com/a.png","alt":"a"}]"#,
        )
        .unwrap();
        let unknown: Result<Attachment, _> =
            serde_json::from_str(r#"{"kind":"link","url":"https://x.io","evil":1}"#);
        let bad_url = attachment_errors(
            &[Attachment::Image {
                url: "javascript:alert(1)".into(),
                alt: None,
            }],
            "attachments",
        );

        assert_eq!(ok.len(), 3);
        assert!(attachment_errors(&ok, "attachments").is_empty());
        assert!(unknown.is_err());
        assert_eq!(bad_url[0].field, "attachments[0].url");
    }

    #[test]
    fn listings_take_exactly_one_scope_and_known_sorts() {
        let q = TopicQuery::parse(Some("rust"), None, None, Some("top"), Some("false")).unwrap();

        assert_eq!(q.sort, TopicSort::Top);
        assert_eq!(q.solved, Some(false));
        assert!(TopicQuery::parse(None, None, None, None, None).is_err());
        assert!(TopicQuery::parse(Some("rust"), Some("x"), None, None, None).is_err());
        assert!(TopicQuery::parse(Some("rust"), None, None, Some("best"), None).is_err());
        assert!(TopicQuery::parse(Some("rust"), None, None, None, Some("yes")).is_err());
    }

    // The items of the discussions' entity types, each compared with the item the
    // hand-written code wrote before them (attribute by attribute, S or N or L as it was).

    fn expected(attributes: &[(&str, AttributeValue)]) -> Item {
        attributes
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect()
    }

    #[test]
    fn a_category_is_written_by_id_and_in_the_tree_as_before() -> AppResult<()> {
        let category = Category {
            category_id: "b".into(),
            name: "B".into(),
            description: None,
            parent_id: Some("a".into()),
            path: "a#b".into(),
            depth: 2,
            created_at: "2026-01-01T00:00:00.000Z".into(),
            created_by: user("ana"),
        };

        let (by_id, in_tree) = (category.item()?, CategoryInTree(&category).item()?);

        let item = |pk: &str, sk: &str| {
            expected(&[
                ("PK", s(pk)),
                ("SK", s(sk)),
                ("entity", s("Category")),
                ("categoryId", s("b")),
                ("name", s("B")),
                ("parentId", s("a")),
                ("path", s("a#b")),
                ("depth", n(2)),
                ("createdAt", s("2026-01-01T00:00:00.000Z")),
                ("createdBy", s("ana")),
            ])
        };
        assert_eq!(by_id, item("CATEGORY#b", "META"));
        assert_eq!(in_tree, item("CATEGORIES", "a#b"));
        Ok(())
    }

    fn topic() -> Topic {
        Topic {
            topic_id: "T1".into(),
            author_id: user("ana"),
            category_id: "c".into(),
            community_id: None,
            status: TopicStatus::Published,
            reviewed_by: None,
            rejection_reason: None,
            title: "Title".into(),
            body: "Body".into(),
            tags: vec!["rust".into()],
            attachments: vec![],
            mentions: vec![],
            created_at: "2026-01-01T00:00:00.000Z".into(),
            updated_at: "2026-01-01T00:00:00.000Z".into(),
            edited: false,
            last_activity_at: "2026-01-02T00:00:00.000Z".into(),
            deleted: false,
            accepted_reply_id: None,
            accepted_reply_author_id: None,
            solved: false,
            pinned: true,
            locked: false,
            locked_at: None,
            announcement: false,
            reply_count: 2,
            reaction_counts: BTreeMap::from([("like".to_owned(), 1)]),
            view_count: 9,
            version: 3,
            screening: None,
        }
    }

    #[test]
    fn a_topics_author_and_tag_index_items_are_the_ones_written_by_hand_before() -> AppResult<()> {
        let topic = topic();

        let items = topic.index_items()?;

        let index_item = |pk: &str, entity: &str, partition: &str| {
            expected(&[
                ("PK", s(pk)),
                ("SK", s("TOPIC#T1")),
                ("entity", s(entity)),
                ("topicId", s("T1")),
                ("GSI2PK", s(partition)),
                ("GSI2SK", s("0#2026-01-02T00:00:00.000Z#T1")),
                ("GSI3PK", s(partition)),
                ("GSI3SK", s("0#000000000005#T1")),
            ])
        };
        assert_eq!(
            items,
            vec![
                index_item("USER#ana", "TopicByAuthor", "AUTHOR#ana"),
                index_item("TAG#rust", "TopicByTag", "TAG#rust"),
            ]
        );
        Ok(())
    }

    #[test]
    fn a_reply_by_author_item_holds_only_its_topic_id() -> AppResult<()> {
        let pointer = ReplyByAuthor {
            author_id: user("bo"),
            topic_id: "T1".into(),
            reply_id: "R1-R2".into(),
        };

        let item = pointer.item()?;

        assert_eq!(
            item,
            expected(&[
                ("PK", s("USER#bo")),
                ("SK", s("REPLY#T1#R1-R2")),
                ("entity", s("ReplyByAuthor")),
                ("topicId", s("T1")),
            ])
        );
        Ok(())
    }

    #[test]
    fn a_reaction_and_its_pointer_are_the_items_written_by_hand_before() -> AppResult<()> {
        let reaction = Reaction {
            topic_id: "T1".into(),
            target_id: "R1".into(),
            target_author_id: user("ana"),
            user_id: user("bo"),
            reaction: ReactionKind::Love,
            created_at: "2026-01-01T00:00:00.000Z".into(),
        };
        let by_user = ReactionByUser {
            user_id: user("bo"),
            topic_id: "T1".into(),
            target_id: "R1".into(),
        };

        let (item, pointer) = (reaction.item()?, by_user.item()?);

        assert_eq!(
            item,
            expected(&[
                ("PK", s("TOPIC#T1")),
                ("SK", s("REACT#R1#bo")),
                ("entity", s("Reaction")),
                ("topicId", s("T1")),
                ("targetId", s("R1")),
                ("targetAuthorId", s("ana")),
                ("userId", s("bo")),
                ("reaction", s("love")),
                ("createdAt", s("2026-01-01T00:00:00.000Z")),
            ])
        );
        assert_eq!(
            pointer,
            expected(&[
                ("PK", s("USER#bo")),
                ("SK", s("REACT#T1#R1")),
                ("entity", s("ReactionByUser")),
                ("topicId", s("T1")),
            ])
        );
        Ok(())
    }

    #[test]
    fn an_edit_history_item_is_the_one_written_by_hand_before() -> AppResult<()> {
        let entry = HistoryEntry {
            topic_id: "T1".into(),
            target_id: "T1".into(),
            edit_id: "E1".into(),
            editor_id: user("ana"),
            edited_at: "2026-01-03T00:00:00.000Z".into(),
            title: Some("Old title".into()),
            body: "Old body".into(),
            tags: Some(vec!["rust".into()]),
            attachments: None,
        };

        let item = entry.item()?;

        assert_eq!(
            item,
            expected(&[
                ("PK", s("TOPIC#T1")),
                ("SK", s("HIST#T1#E1")),
                ("entity", s("EditHistory")),
                ("topicId", s("T1")),
                ("targetId", s("T1")),
                ("editId", s("E1")),
                ("editorId", s("ana")),
                ("editedAt", s("2026-01-03T00:00:00.000Z")),
                ("title", s("Old title")),
                ("body", s("Old body")),
                ("tags", AttributeValue::L(vec![s("rust")])),
            ])
        );
        Ok(())
    }

    #[test]
    fn a_processed_record_marker_is_the_one_written_by_hand_before() -> AppResult<()> {
        let change = CounterChange {
            target: CounterTarget::Reply {
                topic_id: "T1".into(),
                reply_id: "R1".into(),
            },
            replies: 0,
            reactions: BTreeMap::from([(ReactionKind::Like, 1)]),
            activity_at: None,
            source: "REACT#R1#bo".into(),
        };
        let marker = ProcessedStreamRecord {
            expires_at: 1_767_400_000,
            ..marker("ev1", &change)
        };

        let item = marker.item()?;

        assert_eq!(
            item,
            expected(&[
                ("PK", s("PROCESSED#discussions-stream#ev1")),
                ("SK", s("PROCESSED")),
                ("entity", s("ProcessedStreamRecord")),
                ("consumer", s("discussions-stream")),
                ("eventId", s("ev1")),
                ("topicId", s("T1")),
                ("sourceSk", s("REACT#R1#bo")),
                ("expiresAt", n(1_767_400_000)),
            ])
        );
        Ok(())
    }

    #[test]
    fn queued_views_are_grouped_by_topic_and_bad_messages_set_apart() {
        let messages = [
            ("m1", r#"{"topicId":"T1","readerId":"ana","posts":4}"#),
            ("m2", r#"{"topicId":"T2"}"#),
            ("m3", r#"{"topicId":"T1"}"#),
            ("m4", "not json"),
            ("m5", r#"{"topicId":""}"#),
        ];

        let tally = views_by_topic(messages);

        assert_eq!(
            tally.topics,
            BTreeMap::from([
                ("T1".to_owned(), vec!["m1".to_owned(), "m3".to_owned()]),
                ("T2".to_owned(), vec!["m2".to_owned()]),
            ])
        );
        assert_eq!(tally.malformed, vec!["m4".to_owned(), "m5".to_owned()]);
        assert_eq!(
            tally.readers,
            vec![("m1".to_owned(), user("ana"), "T1".to_owned(), 4)],
            "views queued without a reader count but record no read"
        );
    }
}
