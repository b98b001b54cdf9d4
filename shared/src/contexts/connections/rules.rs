//! Connections: pure rules: decisions, write plans, visibility and counters, with no I/O.

use super::*;

pub(super) fn delete_pending_pair<'a>(
    transaction: Transaction<'a>,
    sender: &UserId,
    target: &UserId,
) -> Transaction<'a> {
    transaction.delete(
        &keys::pair(sender, target),
        Some(Condition::new(
            REQUEST_PENDING,
            pending_from_to(sender, target),
        )),
    )
}

pub(super) fn update_pending_pair<'a>(
    transaction: Transaction<'a>,
    sender: &UserId,
    target: &UserId,
    update: Expr,
) -> Transaction<'a> {
    transaction.update(
        &keys::pair(sender, target),
        update,
        Some(Condition::new(
            REQUEST_PENDING,
            pending_from_to(sender, target),
        )),
    )
}

pub(super) fn no_request_from(sender: &UserId) -> AppError {
    AppError::NotFound(format!("no pending connection request from '{sender}'"))
}

/// Every item that relates two users through connections and requests.
pub(super) fn relationship_keys(a: &UserId, b: &UserId) -> Vec<Key> {
    vec![
        keys::pair(a, b),
        keys::connection(a, b),
        keys::connection(b, a),
        keys::incoming_request(a, b),
        keys::incoming_request(b, a),
        keys::outgoing_request(a, b),
        keys::outgoing_request(b, a),
    ]
}

/// Items outside my partition that an item inside it points at, deleted with my
/// account: the other side of connections and requests, their pair locks, and the
/// mirrors of my blocks. A block someone placed on me (`BLOCKEDBY#`) is theirs and
/// stays in their partition.
pub fn owned_elsewhere(me: &UserId, sort_key: &str) -> Vec<Key> {
    let other = |prefix: &str| {
        sort_key
            .strip_prefix(prefix)
            .and_then(|id| UserId::parse(id).ok())
    };
    if let Some(other) = other("CONN#") {
        vec![keys::connection(&other, me), keys::pair(me, &other)]
    } else if let Some(other) = other("REQIN#") {
        vec![keys::outgoing_request(&other, me), keys::pair(me, &other)]
    } else if let Some(other) = other("REQOUT#") {
        vec![keys::incoming_request(&other, me), keys::pair(me, &other)]
    } else if let Some(other) = other("BLOCK#") {
        vec![keys::blocked_by(&other, me)]
    } else {
        vec![]
    }
}

/// Scores a candidate from what the viewer may see of them (`view`, a stranger's view of
/// a public profile) and their number of mutual connections. Pure.
pub fn score_candidate(
    basis: &MatchBasis,
    view: &ProfileView,
    mutual: usize,
) -> (u32, Vec<SuggestionReason>) {
    use suggestion_weights::*;
    let mut score = 0u32;
    let mut reasons = Vec::new();
    if mutual > 0 {
        score += MUTUAL_CONNECTION * u32::try_from(mutual).unwrap_or(u32::MAX / 8);
        reasons.push(SuggestionReason::MutualConnections { count: mutual });
    }
    let skills: Vec<String> = view
        .skills
        .iter()
        .flatten()
        .filter(|s| basis.skills.contains(&profiles::normalize_label(s)))
        .cloned()
        .collect();
    if !skills.is_empty() {
        score += SHARED_SKILL * u32::try_from(skills.len()).unwrap_or(0);
        reasons.push(SuggestionReason::SharedSkills { skills });
    }
    let goals: Vec<String> = view
        .learning_goals
        .iter()
        .flatten()
        .filter(|g| basis.goals.contains(&profiles::normalize_key_part(g)))
        .cloned()
        .collect();
    if !goals.is_empty() {
        score += SAME_LEARNING_GOAL * u32::try_from(goals.len()).unwrap_or(0);
        reasons.push(SuggestionReason::SameLearningGoal { goals });
    }
    if let Some(occupation) = view
        .occupation
        .as_ref()
        .filter(|o| basis.occupation.as_deref() == Some(profiles::normalize_key_part(o).as_str()))
    {
        score += SAME_OCCUPATION;
        reasons.push(SuggestionReason::SameOccupation {
            occupation: occupation.clone(),
        });
    }
    (score, reasons)
}

/// No request or connection is ever between me and myself: acting on my own id is a
/// 422 naming it, like sending myself a request.
pub(super) fn not_myself(me: &UserId, other: &UserId) -> AppResult<()> {
    if me == other {
        return Err(AppError::invalid_field(
            "userId",
            "this cannot be done with your own user id",
        ));
    }
    Ok(())
}

/// Candidates' profiles as suggestions, best first (then by id): public profiles
/// only, scored on what a stranger sees of them and their mutual connections; those
/// sharing nothing are left out.
pub fn rank(
    basis: &MatchBasis,
    candidates: impl IntoIterator<Item = profiles::Profile>,
    mutual: impl Fn(&UserId) -> usize,
) -> Vec<Suggestion> {
    let mut scored: Vec<Suggestion> = candidates
        .into_iter()
        .filter(profiles::Profile::is_public)
        .filter_map(|profile| {
            let view = profiles::view_as(&profile, Relationship::Stranger)?;
            let (score, reasons) = score_candidate(basis, &view, mutual(&profile.user_id));
            (score > 0).then_some(Suggestion {
                user_id: profile.user_id,
                score,
                reasons,
                profile: view,
            })
        })
        .collect();
    scored.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then_with(|| a.user_id.cmp(&b.user_id))
    });
    scored
}

/// What a read of a user's [`SuggestedPeople`] does about its age: a list computed
/// more than `max_age_ms` ago asks the stream for a new one, once (the read still
/// answers from it).
pub fn refresh_due(list: &SuggestedPeople, now_ms: i64, max_age_ms: i64) -> bool {
    now_ms.saturating_sub(list.computed_at_ms) >= max_age_ms && !refresh_pending(list)
}

/// A refresh was asked for after the list was computed.
pub fn refresh_pending(list: &SuggestedPeople) -> bool {
    list.refresh_requested_at_ms
        .is_some_and(|at| at >= list.computed_at_ms)
}

/// How many stored candidates a read re-checks for `limit` suggestions: a quarter more,
/// for those it drops, within one BatchGetItem of 100 keys (4 per candidate) at the
/// default limit.
pub fn candidates_to_check(limit: u32) -> usize {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    limit.saturating_add(limit.div_ceil(4))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::store::Item;

    fn id(raw: &str) -> UserId {
        UserId::parse(raw).unwrap()
    }

    fn view(skills: &[&str], occupation: Option<&str>, goals: Option<&[&str]>) -> ProfileView {
        ProfileView {
            user_id: id("them"),
            handle: "them".into(),
            display_name: "Them".into(),
            avatar_url: None,
            bio: None,
            headline: None,
            occupation: occupation.map(str::to_owned),
            skills: Some(skills.iter().map(|s| (*s).to_owned()).collect()),
            interests: None,
            learning_goals: goals.map(|g| g.iter().map(|s| (*s).to_owned()).collect()),
            location: None,
            timezone: None,
            relationship: "none",
            trust_level: None,
        }
    }

    fn basis() -> MatchBasis {
        MatchBasis {
            skills: BTreeSet::from(["rust".to_owned(), "sql".to_owned()]),
            occupation: Some("data engineer".into()),
            goals: BTreeSet::from(["ship a lambda".to_owned()]),
        }
    }

    #[test]
    fn the_pair_lock_is_the_same_from_either_side() {
        assert_eq!(
            keys::pair(&id("a"), &id("b")),
            keys::pair(&id("b"), &id("a"))
        );
        assert_eq!(keys::pair(&id("b"), &id("a")).pk, "PAIR#a#b");
    }

    #[test]
    fn a_candidate_scores_on_every_shared_attribute_with_its_reasons() {
        let candidate = view(
            &["RUST", "Go", "sql"],
            Some("Data  Engineer"),
            Some(&["Ship a Lambda"]),
        );

        let (score, reasons) = score_candidate(&basis(), &candidate, 2);

        assert_eq!(score, 2 * 4 + 2 * 2 + 3 + 2);
        assert_eq!(
            reasons,
            vec![
                SuggestionReason::MutualConnections { count: 2 },
                SuggestionReason::SharedSkills {
                    skills: vec!["RUST".into(), "sql".into()]
                },
                SuggestionReason::SameLearningGoal {
                    goals: vec!["Ship a Lambda".into()]
                },
                SuggestionReason::SameOccupation {
                    occupation: "Data  Engineer".into()
                },
            ]
        );
    }

    #[test]
    fn hidden_fields_give_no_reason_and_nothing_shared_scores_zero() {
        let (score, reasons) = score_candidate(&basis(), &view(&["cobol"], None, None), 0);

        assert_eq!(score, 0);
        assert!(reasons.is_empty());
    }

    #[test]
    fn my_match_basis_is_normalized_and_bounded() {
        let mut profile: profiles::Profile = serde_json::from_value(serde_json::json!({
            "userId": "me", "handle": "mee", "displayName": "Me", "version": 1,
            "createdAt": "t", "updatedAt": "t", "occupation": "Data #Engineer",
            "learningGoals": ["Ship  a Lambda"],
        }))
        .unwrap();
        profile.skills = (0..15).map(|i| format!("Skill {i}")).collect();

        let basis = MatchBasis::of(&profile);

        assert_eq!(basis.skills.len(), suggestion_bounds::SKILLS);
        assert!(basis.skills.contains("skill 0"));
        assert_eq!(basis.occupation.as_deref(), Some("data engineer"));
        assert!(basis.goals.contains("ship a lambda"));
    }

    #[test]
    fn account_deletion_reaches_the_other_side_of_every_relationship_but_not_blocks_on_me() {
        let (me, other) = (id("me"), id("other"));

        assert_eq!(
            owned_elsewhere(&me, "CONN#other"),
            vec![keys::connection(&other, &me), keys::pair(&me, &other)]
        );
        assert_eq!(
            owned_elsewhere(&me, "REQIN#other"),
            vec![keys::outgoing_request(&other, &me), keys::pair(&me, &other)]
        );
        assert_eq!(
            owned_elsewhere(&me, "REQOUT#other"),
            vec![keys::incoming_request(&other, &me), keys::pair(&me, &other)]
        );
        assert_eq!(
            owned_elsewhere(&me, "BLOCK#other"),
            vec![keys::blocked_by(&other, &me)]
        );
        assert!(owned_elsewhere(&me, "BLOCKEDBY#other").is_empty());
        assert!(owned_elsewhere(&me, "PROFILE").is_empty());
    }

    #[test]
    fn a_block_clears_every_relationship_item_between_the_two() {
        let keys = relationship_keys(&id("a"), &id("b"));
        let sort_keys: BTreeSet<&str> = keys.iter().map(|k| k.sk.as_str()).collect();

        assert_eq!(keys.len(), 7);
        assert_eq!(
            sort_keys,
            BTreeSet::from([
                "PAIR", "CONN#a", "CONN#b", "REQIN#a", "REQIN#b", "REQOUT#a", "REQOUT#b"
            ])
        );
    }

    #[test]
    fn the_request_direction_defaults_to_incoming_and_refuses_others() {
        assert_eq!(
            RequestDirection::parse(None).unwrap(),
            RequestDirection::Incoming
        );
        assert_eq!(
            RequestDirection::parse(Some("outgoing")).unwrap(),
            RequestDirection::Outgoing
        );
        assert!(RequestDirection::parse(Some("both")).is_err());
    }

    #[test]
    fn a_request_message_is_at_most_300_characters() {
        let request = |message: String| NewConnectionRequest {
            user_id: Some("x".into()),
            handle: None,
            message: Some(message),
        };

        assert!(check(&request("é".repeat(300))).is_ok());
        assert!(check(&request("é".repeat(301))).is_err());
    }

    /// An item as the hand-written code stored it, written out attribute by attribute.
    fn stored(value: serde_json::Value) -> Item {
        store::to_item(&value).unwrap()
    }

    fn request(message: Option<&str>) -> ConnectionRequest {
        ConnectionRequest {
            sender_id: id("a"),
            target_id: id("b"),
            message: message.map(str::to_owned),
            created_at: "t1".into(),
        }
    }

    fn block() -> Block {
        Block {
            blocker_id: id("a"),
            blocked_id: id("b"),
            created_at: "t1".into(),
        }
    }

    #[test]
    fn a_pair_lock_is_stored_as_before() {
        let lock = PairLock {
            state: PairState::Pending,
            sender_id: id("b"),
            target_id: id("a"),
            ignored: false,
            created_at: "t1".into(),
            updated_at: "t2".into(),
        };

        let item = lock.item().unwrap();

        assert_eq!(
            item,
            stored(serde_json::json!({
                "PK": "PAIR#a#b", "SK": "PAIR", "entity": "ConnectionPair",
                "state": "pending", "senderId": "b", "targetId": "a", "ignored": false,
                "createdAt": "t1", "updatedAt": "t2",
            }))
        );
    }

    #[test]
    fn both_copies_of_a_request_are_stored_as_before() {
        let with_message = request(Some("hi"));

        let incoming = with_message.item().unwrap();
        let outgoing = OutgoingConnectionRequest(with_message).item().unwrap();
        let without_message = request(None).item().unwrap();

        assert_eq!(
            incoming,
            stored(serde_json::json!({
                "PK": "USER#b", "SK": "REQIN#a", "entity": "ConnectionRequest",
                "senderId": "a", "targetId": "b", "message": "hi", "createdAt": "t1",
            }))
        );
        assert_eq!(
            outgoing,
            stored(serde_json::json!({
                "PK": "USER#a", "SK": "REQOUT#b", "entity": "OutgoingConnectionRequest",
                "senderId": "a", "targetId": "b", "message": "hi", "createdAt": "t1",
            }))
        );
        assert_eq!(
            without_message,
            stored(serde_json::json!({
                "PK": "USER#b", "SK": "REQIN#a", "entity": "ConnectionRequest",
                "senderId": "a", "targetId": "b", "createdAt": "t1",
            }))
        );
    }

    #[test]
    fn a_connection_is_stored_as_before() {
        let connection = Connection {
            user_id: id("a"),
            other_user_id: id("b"),
            requested_by: id("b"),
            created_at: "t1".into(),
        };

        let item = connection.item().unwrap();

        assert_eq!(
            item,
            stored(serde_json::json!({
                "PK": "USER#a", "SK": "CONN#b", "entity": "Connection",
                "userId": "a", "otherUserId": "b", "requestedBy": "b", "createdAt": "t1",
            }))
        );
    }

    #[test]
    fn a_block_and_its_mirror_are_stored_as_before() {
        let block = block();

        let mine = block.item().unwrap();
        let mirror = BlockedBy(block).item().unwrap();

        assert_eq!(
            mine,
            stored(serde_json::json!({
                "PK": "USER#a", "SK": "BLOCK#b", "entity": "Block",
                "blockerId": "a", "blockedId": "b", "createdAt": "t1",
            }))
        );
        assert_eq!(
            mirror,
            stored(serde_json::json!({
                "PK": "USER#b", "SK": "BLOCKEDBY#a", "entity": "BlockedBy",
                "blockerId": "a", "blockedId": "b", "createdAt": "t1",
            }))
        );
    }

    #[test]
    fn stored_requests_and_blocks_read_back_from_either_copy() {
        let outgoing = OutgoingConnectionRequest(request(Some("hi")))
            .item()
            .unwrap();
        let mirror = BlockedBy(block()).item().unwrap();

        assert_eq!(
            store::from_item::<ConnectionRequest>(outgoing).unwrap(),
            request(Some("hi"))
        );
        assert_eq!(store::from_item::<Block>(mirror).unwrap(), block());
    }

    fn list(computed_at_ms: i64, refresh_requested_at_ms: Option<i64>) -> SuggestedPeople {
        SuggestedPeople {
            user_id: UserId::parse("me").unwrap(),
            candidates: vec![],
            computed_at_ms,
            refresh_requested_at_ms,
        }
    }

    #[test]
    fn an_old_list_asks_for_a_refresh_once_and_a_young_one_does_not() {
        let hour = 3_600_000;

        assert!(refresh_due(&list(0, None), 2 * hour, hour));
        assert!(
            !refresh_due(&list(0, Some(hour)), 2 * hour, hour),
            "asked already"
        );
        assert!(
            refresh_due(&list(hour, Some(0)), 3 * hour, hour),
            "an older ask was served"
        );
        assert!(!refresh_due(&list(hour, None), hour + 10, hour));
    }

    #[test]
    fn a_read_checks_a_quarter_more_candidates_than_it_returns() {
        assert_eq!(candidates_to_check(20), 25);
        assert_eq!(candidates_to_check(1), 2);
        assert_eq!(candidates_to_check(50), 63);
    }
}
