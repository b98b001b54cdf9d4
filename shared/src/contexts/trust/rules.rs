//! Trust: the levels' requirements, the level of a set of stats, and what a stream
//! record changes in whose stats. Pure.

use super::*;
use crate::core::rate_limit::RatePolicy;
use crate::table::stream::string_of;

/// What each level above 0 asks, lowest first (Discourse's levels 1–3, scaled to a
/// learning community: "basic" reads a little, "member" takes part, "regular" helps).
pub const REQUIREMENTS: [Requirement; 3] = [
    Requirement {
        level: TrustLevel::BASIC,
        account_age_days: 1,
        topics_entered: 5,
        posts_read: 20,
        replies: 0,
        reactions_received: 0,
        accepted_answers: 0,
        max_flags_upheld: 2,
    },
    Requirement {
        level: TrustLevel::MEMBER,
        account_age_days: 15,
        topics_entered: 20,
        posts_read: 100,
        replies: 3,
        reactions_received: 1,
        accepted_answers: 0,
        max_flags_upheld: 1,
    },
    Requirement {
        level: TrustLevel::REGULAR,
        account_age_days: 60,
        topics_entered: 100,
        posts_read: 500,
        replies: 20,
        reactions_received: 20,
        accepted_answers: 1,
        max_flags_upheld: 0,
    },
];

/// Whole days from `since` (RFC 3339) to `now` (epoch seconds); 0 without a `since`
/// or with one that does not parse.
pub fn account_age_days(since: Option<&str>, now: i64) -> i64 {
    since
        .and_then(|at| {
            time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()
        })
        .map_or(0, |at| ((now - at.unix_timestamp()) / 86_400).max(0))
}

impl Requirement {
    /// Whether `stats` meet it at `now` (epoch seconds).
    pub fn met_by(&self, stats: &TrustStats, now: i64) -> bool {
        account_age_days(stats.since.as_deref(), now) >= self.account_age_days
            && stats.topics_entered >= self.topics_entered
            && stats.posts_read >= self.posts_read
            && stats.replies >= self.replies
            && stats.reactions_received >= self.reactions_received
            && stats.accepted_answers >= self.accepted_answers
            && stats.flags_upheld.max(0) <= self.max_flags_upheld
    }
}

/// The level of an account with `stats` at `now` (epoch seconds): the highest whose
/// requirement, and every lower one's, it meets. No stats is level 0.
pub fn level_of(stats: Option<&TrustStats>, now: i64) -> TrustLevel {
    let Some(stats) = stats else {
        return TrustLevel::NEW;
    };
    REQUIREMENTS
        .iter()
        .take_while(|requirement| requirement.met_by(stats, now))
        .last()
        .map_or(TrustLevel::NEW, |requirement| requirement.level)
}

/// What `user` reads of their trust, from their stats at `now`.
pub fn view_of(user: &UserId, stats: Option<&TrustStats>, now: i64) -> TrustView {
    let level = level_of(stats, now);
    let stats = stats.cloned().unwrap_or_default();
    TrustView {
        user_id: user.clone(),
        level,
        account_age_days: account_age_days(stats.since.as_deref(), now),
        topics_entered: stats.topics_entered.max(0),
        posts_read: stats.posts_read.max(0),
        replies: stats.replies.max(0),
        reactions_received: stats.reactions_received.max(0),
        accepted_answers: stats.accepted_answers.max(0),
        flags_upheld: stats.flags_upheld.max(0),
        limits: level.limits(),
        next_level: REQUIREMENTS.iter().find(|r| r.level > level).copied(),
    }
}

/// Refuses a post (`field` holding its `text`) with more links than `level` allows:
/// a 422 naming the field.
pub fn check_links(level: TrustLevel, text: &str, field: &str) -> AppResult<()> {
    let Some(allowed) = level.limits().links_per_post else {
        return Ok(());
    };
    let links = crate::contexts::moderation::links_in(text);
    if links > allowed as usize {
        return Err(AppError::invalid_field(
            field,
            format!(
                "has {links} links; accounts at trust level {level} may put at most {allowed} in a post"
            ),
        ));
    }
    Ok(())
}

/// Whether an HTTP request writes a post (a topic, a reply, an activity or a comment),
/// which counts against its author's posts per hour.
pub fn is_post(method: &str, path: &str) -> bool {
    if method != "POST" {
        return false;
    }
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    matches!(
        parts.as_slice(),
        ["", "v1", "topics"]
            | ["", "v1", "topics", _, "replies"]
            | ["", "v1", "activities"]
            | ["", "v1", "activities", _, "comments"]
    )
}

/// The posts-per-hour limit of `level`, as a rate policy (`posts`, one clock hour).
pub fn posts_policy(level: TrustLevel) -> RatePolicy {
    RatePolicy {
        name: "posts".to_owned(),
        quota: level.limits().posts_per_hour,
        window_seconds: 3_600,
    }
}

/// The stat changes one stream record of `entity` makes (`old` and `new` are its
/// images; either may be absent):
/// - a profile made (or its `createdAt` changed): the account's `since`;
/// - a reply written: one more reply for its author;
/// - a reaction added or removed: one more or one fewer received by the target's
///   author (not for one's own);
/// - a topic whose accepted answer changed: one more for the new answer's author, one
///   fewer for the old one's;
/// - an audit entry of a removal: one more flag upheld against the author.
pub fn stat_changes(
    entity: &str,
    old: Option<&serde_dynamo::Item>,
    new: Option<&serde_dynamo::Item>,
) -> Vec<StatChange> {
    let user = |image: Option<&serde_dynamo::Item>, name: &str| {
        image
            .and_then(|i| string_of(i, name))
            .and_then(|raw| UserId::parse(&raw).ok())
    };
    let add = |user: UserId, stat: Stat, delta: i64| StatChange::Add { user, stat, delta };
    match entity {
        "Profile" => {
            let at = new.and_then(|i| string_of(i, "createdAt"));
            match (user(new, "userId"), at) {
                (Some(user), Some(at))
                    if old.and_then(|i| string_of(i, "createdAt")) != Some(at.clone()) =>
                {
                    vec![StatChange::Since { user, at }]
                }
                _ => vec![],
            }
        }
        "Reply" if old.is_none() => user(new, "authorId")
            .map(|author| add(author, Stat::Replies, 1))
            .into_iter()
            .collect(),
        "Reaction" => {
            let (image, delta) = match (old, new) {
                (None, Some(_)) => (new, 1),
                (Some(_), None) => (old, -1),
                _ => return vec![],
            };
            match (user(image, "targetAuthorId"), user(image, "userId")) {
                (Some(author), Some(reactor)) if author != reactor => {
                    vec![add(author, Stat::ReactionsReceived, delta)]
                }
                _ => vec![],
            }
        }
        "Topic" => {
            let (before, after) = (
                user(old, "acceptedReplyAuthorId"),
                user(new, "acceptedReplyAuthorId"),
            );
            if before == after {
                return vec![];
            }
            before
                .map(|author| add(author, Stat::AcceptedAnswers, -1))
                .into_iter()
                .chain(after.map(|author| add(author, Stat::AcceptedAnswers, 1)))
                .collect()
        }
        "AuditEntry" if old.is_none() => {
            let removal = new.and_then(|i| string_of(i, "action")).as_deref() == Some("remove");
            match user(new, "userId") {
                Some(author) if removal => vec![add(author, Stat::FlagsUpheld, 1)],
                _ => vec![],
            }
        }
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;
    /// 2026-01-01T00:00:00Z.
    const JAN_1: i64 = 1_767_225_600;

    fn stats(days_old: i64, f: impl FnOnce(&mut TrustStats)) -> TrustStats {
        let since = time::OffsetDateTime::from_unix_timestamp(JAN_1 - days_old * DAY)
            .ok()
            .map(crate::core::ids::format_rfc3339);
        let mut stats = TrustStats {
            since,
            ..TrustStats::default()
        };
        f(&mut stats);
        stats
    }

    fn image(pairs: &[(&str, &str)]) -> serde_dynamo::Item {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    (*k).to_owned(),
                    serde_dynamo::AttributeValue::S((*v).to_owned()),
                )
            })
            .collect::<std::collections::HashMap<_, _>>()
            .into()
    }

    fn id(raw: &str) -> UserId {
        UserId::parse(raw).unwrap()
    }

    #[test]
    fn an_account_without_stats_or_a_day_old_is_new() {
        let busy_but_young = stats(0, |s| {
            s.topics_entered = 50;
            s.posts_read = 500;
        });

        assert_eq!(level_of(None, JAN_1), TrustLevel::NEW);
        assert_eq!(level_of(Some(&busy_but_young), JAN_1), TrustLevel::NEW);
    }

    #[test]
    fn reading_enough_for_a_day_makes_an_account_basic_and_taking_part_for_two_weeks_a_member() {
        let reader = stats(1, |s| {
            s.topics_entered = 5;
            s.posts_read = 20;
        });
        let member = stats(15, |s| {
            s.topics_entered = 20;
            s.posts_read = 100;
            s.replies = 3;
            s.reactions_received = 1;
        });

        assert_eq!(level_of(Some(&reader), JAN_1), TrustLevel::BASIC);
        assert_eq!(level_of(Some(&member), JAN_1), TrustLevel::MEMBER);
        assert_eq!(
            level_of(Some(&member), JAN_1 - DAY),
            TrustLevel::BASIC,
            "a day younger"
        );
    }

    #[test]
    fn upheld_flags_hold_an_account_back_and_a_level_needs_every_lower_one() {
        let regular = |flags: i64| {
            stats(60, |s| {
                s.topics_entered = 100;
                s.posts_read = 500;
                s.replies = 20;
                s.reactions_received = 20;
                s.accepted_answers = 1;
                s.flags_upheld = flags;
            })
        };
        let answers_but_never_reads = stats(60, |s| {
            s.replies = 50;
            s.reactions_received = 50;
            s.accepted_answers = 9;
        });

        assert_eq!(level_of(Some(&regular(0)), JAN_1), TrustLevel::REGULAR);
        assert_eq!(level_of(Some(&regular(1)), JAN_1), TrustLevel::MEMBER);
        assert_eq!(level_of(Some(&regular(3)), JAN_1), TrustLevel::NEW);
        assert_eq!(
            level_of(Some(&answers_but_never_reads), JAN_1),
            TrustLevel::NEW
        );
    }

    #[test]
    fn a_view_names_the_next_levels_requirement_until_the_highest() {
        let view = view_of(&id("ana"), None, JAN_1);
        let top = view_of(
            &id("ana"),
            Some(&stats(60, |s| {
                s.topics_entered = 100;
                s.posts_read = 500;
                s.replies = 20;
                s.reactions_received = 20;
                s.accepted_answers = 1;
            })),
            JAN_1,
        );

        assert_eq!(view.next_level.map(|r| r.level), Some(TrustLevel::BASIC));
        assert_eq!(view.limits, TrustLevel::NEW.limits());
        assert_eq!(top.level, TrustLevel::REGULAR);
        assert_eq!(top.next_level, None);
        assert_eq!(top.account_age_days, 60);
    }

    #[test]
    fn a_post_with_more_links_than_its_level_allows_is_refused_naming_the_field() {
        let three = "see https://a.example https://b.example and https://c.example";

        let refused = check_links(TrustLevel::NEW, three, "body");

        assert!(
            matches!(&refused, Err(AppError::Validation(errors)) if errors.iter().any(|e| e.field == "body")),
            "{refused:?}"
        );
        assert!(check_links(TrustLevel::BASIC, three, "body").is_ok());
        assert!(check_links(TrustLevel::NEW, "one https://a.example", "body").is_ok());
    }

    #[test]
    fn topics_replies_activities_and_comments_are_posts_and_nothing_else_is() {
        for path in [
            "/v1/topics",
            "/v1/topics/T1/replies",
            "/v1/activities",
            "/v1/activities/A1/comments",
        ] {
            assert!(is_post("POST", path), "{path}");
            assert!(!is_post("PATCH", path), "{path}");
        }
        for path in [
            "/v1/topics/T1/reactions",
            "/v1/rooms/R/messages",
            "/v1/activities/A1/shares",
        ] {
            assert!(!is_post("POST", path), "{path}");
        }
        assert_eq!(posts_policy(TrustLevel::NEW).quota, 10);
    }

    #[test]
    fn a_reaction_counts_for_its_targets_author_but_not_ones_own_and_a_removal_takes_it_back() {
        let by_bo = image(&[("userId", "bo"), ("targetAuthorId", "ana")]);
        let own = image(&[("userId", "ana"), ("targetAuthorId", "ana")]);

        let added = stat_changes("Reaction", None, Some(&by_bo));
        let removed = stat_changes("Reaction", Some(&by_bo), None);

        assert_eq!(
            added,
            vec![StatChange::Add {
                user: id("ana"),
                stat: Stat::ReactionsReceived,
                delta: 1
            }]
        );
        assert_eq!(
            removed,
            vec![StatChange::Add {
                user: id("ana"),
                stat: Stat::ReactionsReceived,
                delta: -1
            }]
        );
        assert!(stat_changes("Reaction", None, Some(&own)).is_empty());
        assert!(stat_changes("Reaction", Some(&by_bo), Some(&by_bo)).is_empty());
    }

    #[test]
    fn an_accepted_answer_moved_to_another_reply_moves_the_count_and_a_removal_counts_a_flag() {
        let to_bo = image(&[("acceptedReplyAuthorId", "bo")]);
        let to_cy = image(&[("acceptedReplyAuthorId", "cy")]);
        let removal = image(&[("action", "remove"), ("userId", "dan")]);
        let warning = image(&[("action", "warn"), ("userId", "dan")]);

        let moved = stat_changes("Topic", Some(&to_bo), Some(&to_cy));

        assert_eq!(
            moved,
            vec![
                StatChange::Add {
                    user: id("bo"),
                    stat: Stat::AcceptedAnswers,
                    delta: -1
                },
                StatChange::Add {
                    user: id("cy"),
                    stat: Stat::AcceptedAnswers,
                    delta: 1
                },
            ]
        );
        assert!(stat_changes("Topic", Some(&to_bo), Some(&to_bo)).is_empty());
        assert_eq!(
            stat_changes("AuditEntry", None, Some(&removal)),
            vec![StatChange::Add {
                user: id("dan"),
                stat: Stat::FlagsUpheld,
                delta: 1
            }]
        );
        assert!(stat_changes("AuditEntry", None, Some(&warning)).is_empty());
    }

    #[test]
    fn a_reply_counts_when_written_and_a_profile_gives_the_accounts_age_once() {
        let reply = image(&[("authorId", "bo")]);
        let profile = image(&[("userId", "bo"), ("createdAt", "2026-01-01T00:00:00.000Z")]);

        assert_eq!(
            stat_changes("Reply", None, Some(&reply)),
            vec![StatChange::Add {
                user: id("bo"),
                stat: Stat::Replies,
                delta: 1
            }]
        );
        assert!(
            stat_changes("Reply", Some(&reply), Some(&reply)).is_empty(),
            "an edit"
        );
        assert_eq!(
            stat_changes("Profile", None, Some(&profile)),
            vec![StatChange::Since {
                user: id("bo"),
                at: "2026-01-01T00:00:00.000Z".into()
            }]
        );
        assert!(stat_changes("Profile", Some(&profile), Some(&profile)).is_empty());
    }
}
