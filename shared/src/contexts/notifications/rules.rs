//! Notifications: pure rules: decisions, write plans, visibility and counters, with no I/O.

use super::*;

/// Notifications expire (TTL) after 90 days; the stream's REMOVE record of an unread one
/// decrements the counter, so expiry keeps the count exact.
pub const NOTIFICATION_TTL_SECONDS: i64 = 90 * 24 * 3600;

/// Markers of processed REMOVE records live as long as the stream keeps records.
pub const PROCESSED_TTL_SECONDS: i64 = 2 * 24 * 3600;

/// Actors named in a grouped notification ("Ana, Bo and 3 others").
pub const RECENT_ACTORS: usize = 3;

/// Mark-all-read handles at most this many notifications per call (one GSI page).
pub const MARK_ALL_PAGE: u32 = 100;

/// Items per transaction when marking many read: 24 notifications + the counter.
pub(super) const MARK_ALL_CHUNK: usize = 24;

/// Optimistic-concurrency attempts on a grouped notification before the record fails
/// (and the stream retries it).
pub(super) const GROUP_ATTEMPTS: usize = 5;

pub(super) const CONSUMER: &str = "notifier";

pub(super) fn source(image: Option<&serde_dynamo::Item>) -> AppResult<Option<Source>> {
    match image {
        Some(item) if !item.is_empty() => store::from_item(item.clone()).map(Some),
        _ => Ok(None),
    }
}

pub(super) fn user(raw: Option<&String>) -> Option<UserId> {
    raw.and_then(|r| UserId::parse(r).ok())
}

/// A deterministic 32-hex-digit id (128 bits of SHA-256) of the parts.
pub fn hash_id(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hex::encode(&hasher.finalize()[..16])
}

/// The notifications one stream record calls for, before preferences and blocks. Pure:
/// the same record always yields the same intents.
pub fn intents_of(change: &Change) -> AppResult<Vec<Intent>> {
    let new = source(change.new.as_ref())?;
    let old = source(change.old.as_ref())?;
    let mut intents = match (change.kind, new) {
        (ChangeKind::Insert, Some(new)) if !new.deleted => inserted(&new),
        (ChangeKind::Modify, Some(new)) if !new.deleted => modified(old.as_ref(), &new),
        _ => vec![],
    };
    // Never notify yourself of your own doing (only of what happened to you); one
    // notification per recipient per record (a reply to my topic that also mentions me
    // is a reply notification, not two).
    let mut seen = HashSet::new();
    intents.retain(|i| {
        (i.recipient != i.actor || i.kind.is_about_the_actor()) && seen.insert(i.recipient.clone())
    });
    Ok(intents)
}

pub(super) fn inserted(item: &Source) -> Vec<Intent> {
    let at = item
        .created_at
        .clone()
        .or_else(|| item.joined_at.clone())
        .unwrap_or_else(now_rfc3339);
    let identity = format!("{}|{}|{}", item.pk, item.sk, at);
    let intent = |recipient: UserId, actor: UserId, kind, object| Intent {
        recipient,
        actor,
        kind,
        object,
        at: at.clone(),
        identity: identity.clone(),
        grouped: false,
    };
    match item.entity.as_str() {
        connections::ConnectionRequest::NAME if item.sk.starts_with("REQIN#") => {
            match (user(item.target_id.as_ref()), user(item.sender_id.as_ref())) {
                (Some(target), Some(sender)) => vec![intent(
                    target,
                    sender,
                    NotificationType::ConnectionRequest,
                    NotificationObject::default(),
                )],
                _ => vec![],
            }
        }
        // Both directions of a connection are written; only the requester's copy
        // (userId == requestedBy) notifies, so the requester hears once.
        connections::Connection::NAME if item.sk.starts_with("CONN#") => {
            match (
                user(item.user_id.as_ref()),
                user(item.other_user_id.as_ref()),
                user(item.requested_by.as_ref()),
            ) {
                (Some(owner), Some(accepter), Some(requester)) if owner == requester => {
                    vec![intent(
                        requester,
                        accepter,
                        NotificationType::ConnectionAccepted,
                        NotificationObject::default(),
                    )]
                }
                _ => vec![],
            }
        }
        // A member a moderator let in hears who approved them; one who joined a public
        // community or through an invite carries no `approvedBy`.
        communities::Member::NAME => {
            match (user(item.user_id.as_ref()), user(item.approved_by.as_ref())) {
                (Some(member), Some(moderator)) => vec![intent(
                    member,
                    moderator,
                    NotificationType::JoinRequestApproved,
                    NotificationObject {
                        community_id: item.community_id.clone(),
                        ..NotificationObject::default()
                    },
                )],
                _ => vec![],
            }
        }
        // A topic held for approval mentions no one until it is published.
        discussions::Topic::NAME if !published(item) => vec![],
        discussions::Topic::NAME => {
            let Some(author) = user(item.author_id.as_ref()) else {
                return vec![];
            };
            let object = NotificationObject {
                topic_id: item.topic_id.clone(),
                target_id: item.topic_id.clone(),
                target_kind: Some(TargetKind::Topic),
                ..NotificationObject::default()
            };
            mentions(item)
                .map(|m| intent(m, author.clone(), NotificationType::Mention, object.clone()))
                .collect()
        }
        discussions::Reply::NAME => {
            let Some(author) = user(item.author_id.as_ref()) else {
                return vec![];
            };
            let object = |target_kind| NotificationObject {
                topic_id: item.topic_id.clone(),
                reply_id: item.reply_id.clone(),
                target_id: item
                    .parent_reply_id
                    .clone()
                    .or_else(|| item.topic_id.clone()),
                target_kind: Some(target_kind),
                ..NotificationObject::default()
            };
            let parent_kind = if item.parent_reply_id.is_some() {
                TargetKind::Reply
            } else {
                TargetKind::Topic
            };
            let mut out = Vec::new();
            if let Some(parent_author) = user(item.parent_author_id.as_ref()) {
                out.push(intent(
                    parent_author,
                    author.clone(),
                    NotificationType::Reply,
                    object(parent_kind),
                ));
            }
            if let Some(topic_author) = user(item.topic_author_id.as_ref()) {
                out.push(intent(
                    topic_author,
                    author.clone(),
                    NotificationType::Reply,
                    object(TargetKind::Topic),
                ));
            }
            let mention = NotificationObject {
                target_id: item.reply_id.clone(),
                target_kind: Some(TargetKind::Reply),
                ..object(parent_kind)
            };
            out.extend(mentions(item).map(|m| {
                intent(
                    m,
                    author.clone(),
                    NotificationType::Mention,
                    mention.clone(),
                )
            }));
            out
        }
        discussions::Reaction::NAME => {
            match (
                user(item.target_author_id.as_ref()),
                user(item.user_id.as_ref()),
            ) {
                (Some(target_author), Some(reactor)) => {
                    let target_kind = if item.target_id == item.topic_id {
                        TargetKind::Topic
                    } else {
                        TargetKind::Reply
                    };
                    vec![Intent {
                        recipient: target_author,
                        actor: reactor,
                        kind: NotificationType::Reaction,
                        object: NotificationObject {
                            topic_id: item.topic_id.clone(),
                            target_id: item.target_id.clone(),
                            target_kind: Some(target_kind),
                            reaction: item.reaction.clone(),
                            ..NotificationObject::default()
                        },
                        at,
                        // One group per target: its id does not depend on the reactor.
                        identity: format!("target|{}", item.target_id.clone().unwrap_or_default()),
                        grouped: true,
                    }]
                }
                _ => vec![],
            }
        }
        _ => vec![],
    }
}

pub(super) fn mentions(item: &Source) -> impl Iterator<Item = UserId> + '_ {
    item.mentions.iter().filter_map(|m| UserId::parse(m).ok())
}

/// Out in the open: not held for (or refused) a community's approval.
fn published(item: &Source) -> bool {
    item.status.as_deref().is_none_or(|s| s == "published")
}

/// A topic a moderator reviewed: approved, its author hears so and the users it
/// mentions are notified as a new topic's are (same ids, so nothing twice); rejected,
/// its author hears so.
fn reviewed(old: Option<&Source>, new: &Source) -> Vec<Intent> {
    if old.is_none_or(|o| o.status.as_deref() != Some("pending")) {
        return vec![];
    }
    let kind = match new.status.as_deref() {
        Some("published") => NotificationType::PostApproved,
        Some("rejected") => NotificationType::PostRejected,
        _ => return vec![],
    };
    let (Some(author), Some(moderator)) =
        (user(new.author_id.as_ref()), user(new.reviewed_by.as_ref()))
    else {
        return vec![];
    };
    let mut intents = vec![Intent {
        recipient: author,
        actor: moderator,
        kind,
        object: NotificationObject {
            topic_id: new.topic_id.clone(),
            target_id: new.topic_id.clone(),
            target_kind: Some(TargetKind::Topic),
            community_id: new.community_id.clone(),
            ..NotificationObject::default()
        },
        at: new.updated_at.clone().unwrap_or_else(now_rfc3339),
        identity: format!("{}|reviewed", new.pk),
        grouped: false,
    }];
    if kind == NotificationType::PostApproved {
        intents.extend(inserted(new));
    }
    intents
}

pub(super) fn modified(old: Option<&Source>, new: &Source) -> Vec<Intent> {
    if new.entity == events::Rsvp::NAME {
        return seated(old, new);
    }
    if new.entity != discussions::Topic::NAME {
        return vec![];
    }
    let reviews = reviewed(old, new);
    if !reviews.is_empty() {
        return reviews;
    }
    let Some(accepted) = new.accepted_reply_id.clone() else {
        return vec![];
    };
    if old.and_then(|o| o.accepted_reply_id.as_ref()) == Some(&accepted) {
        return vec![];
    }
    match (
        user(new.accepted_reply_author_id.as_ref()),
        user(new.author_id.as_ref()),
    ) {
        (Some(answerer), Some(topic_author)) => vec![Intent {
            recipient: answerer,
            actor: topic_author,
            kind: NotificationType::AnswerAccepted,
            object: NotificationObject {
                topic_id: new.topic_id.clone(),
                reply_id: Some(accepted.clone()),
                target_id: Some(accepted.clone()),
                target_kind: Some(TargetKind::Reply),
                ..NotificationObject::default()
            },
            at: new.updated_at.clone().unwrap_or_else(now_rfc3339),
            identity: format!("{}|accepted|{accepted}", new.pk),
            grouped: false,
        }],
        _ => vec![],
    }
}

/// A grouped notification after one more actor (pure).
pub fn fold_into_group(existing: Option<Notification>, intent: &Intent) -> Notification {
    match existing {
        None => fresh(intent),
        Some(mut group) => {
            group.actor_count += 1;
            group.actor_id = intent.actor.clone();
            group.recent_actor_ids.retain(|a| a != &intent.actor);
            group.recent_actor_ids.insert(0, intent.actor.clone());
            group.recent_actor_ids.truncate(RECENT_ACTORS);
            if intent.at > group.updated_at {
                group.updated_at = intent.at.clone();
            }
            group.object.reaction = intent.object.reaction.clone();
            group.object.message_id = intent.object.message_id.clone();
            group.read = false;
            group.version += 1;
            group
        }
    }
}

pub(super) fn fresh(intent: &Intent) -> Notification {
    Notification {
        notification_id: intent.notification_id(),
        user_id: intent.recipient.clone(),
        kind: intent.kind,
        actor_id: intent.actor.clone(),
        recent_actor_ids: vec![intent.actor.clone()],
        actor_count: 1,
        object: intent.object.clone(),
        read: false,
        created_at: intent.at.clone(),
        updated_at: intent.at.clone(),
        version: 1,
    }
}

/// The sentence a client shows. `actor` is the latest actor's name as the recipient
/// may see it (`None`: hidden by privacy).
pub fn summary(notification: &Notification, actor: Option<&str>) -> String {
    let who = actor.unwrap_or("Someone");
    let others = notification.actor_count.saturating_sub(1);
    let who = match others {
        0 => who.to_owned(),
        1 => format!("{who} and 1 other"),
        n => format!("{who} and {n} others"),
    };
    let your = match notification.object.target_kind {
        Some(TargetKind::Reply) => "your reply",
        _ => "your topic",
    };
    match notification.kind {
        NotificationType::ConnectionRequest => format!("{who} sent you a connection request"),
        NotificationType::ConnectionAccepted => {
            format!("{who} accepted your connection request")
        }
        NotificationType::Reply => format!("{who} replied to {your}"),
        NotificationType::Mention => match notification.object.target_kind {
            Some(TargetKind::Reply) => format!("{who} mentioned you in a reply"),
            _ => format!("{who} mentioned you in a topic"),
        },
        NotificationType::Reaction => format!("{who} reacted to {your}"),
        NotificationType::AnswerAccepted => format!("{who} accepted your answer"),
        NotificationType::JoinRequestApproved => {
            format!("{who} approved your request to join the community")
        }
        NotificationType::PostApproved => format!("{who} approved your topic"),
        NotificationType::PostRejected => format!("{who} declined your topic"),
        NotificationType::CommunityPost => format!("{who} posted in a community you follow"),
        NotificationType::Announcement => format!("{who} made an announcement"),
        NotificationType::EventReminder => "An event you are attending starts soon".to_owned(),
        NotificationType::EventChanged => format!("{who} changed an event you are attending"),
        NotificationType::EventCancelled => format!("{who} cancelled an event you are attending"),
        NotificationType::EventSeatGranted => {
            "A seat opened up at an event: you are going".to_owned()
        }
        NotificationType::ContentHidden => match &notification.object.content {
            Some(content) => hidden_summary(content),
            None => "Moderation hid something you wrote".to_owned(),
        },
        NotificationType::AppealDecided => match notification.object.appeal_status {
            Some(moderation::AppealStatus::Upheld) => "Your appeal was upheld".to_owned(),
            _ => "Your appeal was denied".to_owned(),
        },
        NotificationType::AccountActioned => match &notification.object.account_action {
            Some(action) => account_summary(action),
            None => "A moderator acted on your account".to_owned(),
        },
        NotificationType::Message => match others {
            0 => format!("{who} sent you a message"),
            _ => format!("{who} sent you messages"),
        },
    }
}

/// "Your account is suspended until 2026-12-01T10:00:00Z: Repeated scam links". Pure.
fn account_summary(action: &moderation::AccountAction) -> String {
    let until = action.until.as_deref().unwrap_or("further notice");
    let what = match action.action {
        moderation::SanctionAction::Warn => "A moderator warned you".to_owned(),
        moderation::SanctionAction::Mute => format!("You cannot post until {until}"),
        moderation::SanctionAction::Suspend => {
            format!("Your account is suspended until {until}")
        }
        moderation::SanctionAction::Ban => "Your account is banned".to_owned(),
        moderation::SanctionAction::Reinstate => "Your account was reinstated".to_owned(),
    };
    format!("{what}: {}", action.reason)
}

/// The account's notice of a moderator's action on it, from the action's audit entry
/// (INSERT; written once, in the action's transaction). Pure.
pub fn account_notice(change: &Change) -> AppResult<Option<Intent>> {
    if change.kind != ChangeKind::Insert {
        return Ok(None);
    }
    let Some(new) = change.new.as_ref() else {
        return Ok(None);
    };
    let entry: moderation::AuditEntry = store::from_item(new.clone())?;
    let Some(action) = entry.account_action() else {
        return Ok(None);
    };
    Ok(Some(Intent {
        recipient: entry.user_id.clone(),
        actor: entry.user_id.clone(),
        kind: NotificationType::AccountActioned,
        object: NotificationObject {
            account_action: Some(action),
            ..NotificationObject::default()
        },
        at: entry.at.clone(),
        identity: format!("AUDIT|{}|account", entry.audit_id),
        grouped: false,
    }))
}

/// "Moderation hid your reply (spam, pii)". Pure.
fn hidden_summary(content: &moderation::ContentRef) -> String {
    let what = match content.kind {
        moderation::ContentKind::Topic => "topic",
        moderation::ContentKind::Reply => "reply",
        moderation::ContentKind::Message => "message",
        moderation::ContentKind::Room => "group's name",
        moderation::ContentKind::Activity => "post",
        moderation::ContentKind::Comment => "comment",
        moderation::ContentKind::Community => "community's name or description",
        moderation::ContentKind::Profile => "profile",
    };
    let why: Vec<&str> = content.categories.iter().map(|c| c.as_str()).collect();
    match why.as_slice() {
        [] => format!("Moderation hid your {what}"),
        why => format!("Moderation hid your {what} ({})", why.join(", ")),
    }
}

/// Moderation hid an author's text: a review item opened, or flagged again for a newer
/// text, tells its author (`contentHidden`) once per text. Pure.
pub fn hidden_notice(change: &Change) -> AppResult<Option<Intent>> {
    let review = |image: Option<&serde_dynamo::Item>| {
        image
            .map(|i| store::from_item::<moderation::ReviewItem>(i.clone()))
            .transpose()
    };
    let (old, Some(new)) = (review(change.old.as_ref())?, review(change.new.as_ref())?) else {
        return Ok(None);
    };
    let told = old.as_ref().is_some_and(|old| {
        old.status == moderation::ReviewStatus::Open && old.digest == new.digest
    });
    if new.status != moderation::ReviewStatus::Open || told {
        return Ok(None);
    }
    let content = moderation::content_of(&new);
    Ok(Some(Intent {
        recipient: new.author_id.clone(),
        actor: new.author_id.clone(),
        kind: NotificationType::ContentHidden,
        object: NotificationObject {
            content,
            ..NotificationObject::default()
        },
        at: new.flagged_at.clone(),
        identity: format!(
            "{}|{}|hidden|{}",
            new.subject.pk, new.subject.sk, new.digest
        ),
        grouped: false,
    }))
}

/// The appellant's notice of a decided appeal, from the appeal's MODIFY (open →
/// upheld or denied). Pure.
pub fn appeal_notice(change: &Change) -> AppResult<Option<Intent>> {
    let appeal = |image: Option<&serde_dynamo::Item>| {
        image
            .map(|i| store::from_item::<moderation::Appeal>(i.clone()))
            .transpose()
    };
    let (Some(old), Some(new)) = (appeal(change.old.as_ref())?, appeal(change.new.as_ref())?)
    else {
        return Ok(None);
    };
    let Some(decision) = new.decision.as_ref() else {
        return Ok(None);
    };
    if old.status != moderation::AppealStatus::Open || new.status == moderation::AppealStatus::Open
    {
        return Ok(None);
    }
    let key = crate::table::entity::Entity::key(&new);
    Ok(Some(Intent {
        recipient: new.appellant_id.clone(),
        actor: new.appellant_id.clone(),
        kind: NotificationType::AppealDecided,
        object: NotificationObject {
            content: new
                .subject
                .as_ref()
                .and_then(|s| moderation::content_ref(s, &[])),
            appeal_status: Some(new.status),
            ..NotificationObject::default()
        },
        at: decision.decided_at.clone(),
        identity: format!("{}|{}|appeal", key.pk, key.sk),
        grouped: false,
    }))
}

/// The fan-out a topic record starts: a community topic published now (created
/// published, or approved) tells the community's followers, or every member for an
/// announcement. Pure.
pub fn post_fanout_of(change: &Change) -> AppResult<Option<PostFanout>> {
    let Some(new) = source(change.new.as_ref())? else {
        return Ok(None);
    };
    if new.entity != discussions::Topic::NAME || new.deleted || !published(&new) {
        return Ok(None);
    }
    let started = match change.kind {
        ChangeKind::Insert => true,
        ChangeKind::Modify => {
            source(change.old.as_ref())?.is_some_and(|old| old.status.as_deref() == Some("pending"))
        }
        ChangeKind::Remove => false,
    };
    let (Some(community_id), Some(topic_id), Some(author_id)) = (
        new.community_id.clone(),
        new.topic_id.clone(),
        user(new.author_id.as_ref()),
    ) else {
        return Ok(None);
    };
    Ok(started.then(|| PostFanout {
        topic_id,
        community_id,
        author_id,
        announcement: new.announcement,
        at: new
            .updated_at
            .clone()
            .or_else(|| new.created_at.clone())
            .unwrap_or_else(now_rfc3339),
        step: 0,
        start: None,
    }))
}

/// A waitlisted answer moved up to `going` by a freed seat tells its member
/// (`eventSeatGranted`), once per waitlist place. The member is the notice's actor: no
/// one else's id is kept for it, so erasing the host leaves nothing behind. Told apart
/// from the member's own answer by `respondedAt`, which only the member's answers move.
/// Pure.
fn seated(old: Option<&Source>, new: &Source) -> Vec<Intent> {
    let Some(old) = old else {
        return vec![];
    };
    let moved_up = old.status.as_deref() == Some("waitlisted")
        && new.status.as_deref() == Some("going")
        && old.responded_at.is_some()
        && old.responded_at == new.responded_at;
    let Some(member) = user(new.user_id.as_ref()).filter(|_| moved_up) else {
        return vec![];
    };
    let place = old.place.unwrap_or_default();
    vec![Intent {
        recipient: member.clone(),
        actor: member,
        kind: NotificationType::EventSeatGranted,
        object: NotificationObject {
            event_id: new.event_id.clone(),
            occurrence_id: new.occurrence_id.clone(),
            ..NotificationObject::default()
        },
        at: now_rfc3339(),
        identity: format!("{}|{}|seat|{place}", new.pk, new.sk),
        grouped: false,
    }]
}

/// The notification one step of an event's news gives one attendee. Its identity holds
/// the news's time (a step's, kept in the step), so a redelivered step adds nothing and
/// an attendee of several occurrences hears each change once. Pure.
pub fn event_intent(job: &events::EventFanout, recipient: UserId) -> Intent {
    let (kind, identity) = match job.kind {
        events::FanoutKind::Reminder => (
            NotificationType::EventReminder,
            format!("event|{}|{}|{}", job.event_id, job.occurrence, job.at),
        ),
        events::FanoutKind::Changed => (
            NotificationType::EventChanged,
            format!("event|{}|changed|{}", job.event_id, job.at),
        ),
        events::FanoutKind::Cancelled => (
            NotificationType::EventCancelled,
            format!("event|{}|cancelled", job.event_id),
        ),
    };
    Intent {
        recipient,
        actor: job.actor_id.clone(),
        kind,
        object: NotificationObject {
            community_id: Some(job.community_id.clone()),
            event_id: Some(job.event_id.clone()),
            occurrence_id: (job.kind == events::FanoutKind::Reminder)
                .then(|| job.occurrence.clone()),
            ..NotificationObject::default()
        },
        at: job.at.clone(),
        identity,
        grouped: false,
    }
}

/// The notification one fan-out step gives one recipient. Pure.
pub fn post_intent(job: &PostFanout, recipient: UserId) -> Intent {
    Intent {
        recipient,
        actor: job.author_id.clone(),
        kind: if job.announcement {
            NotificationType::Announcement
        } else {
            NotificationType::CommunityPost
        },
        object: NotificationObject {
            topic_id: Some(job.topic_id.clone()),
            target_id: Some(job.topic_id.clone()),
            target_kind: Some(TargetKind::Topic),
            community_id: Some(job.community_id.clone()),
            ..NotificationObject::default()
        },
        at: job.at.clone(),
        identity: format!("post|{}", job.topic_id),
        grouped: false,
    }
}

/// The grouped notifications a removed item leaves: a reaction taken back (or removed
/// with its author's account) withdraws its actor from the group. Pure.
pub fn withdrawn_of(change: &Change) -> AppResult<Vec<Intent>> {
    let Some(old) = source(change.old.as_ref())? else {
        return Ok(vec![]);
    };
    if change.kind != ChangeKind::Remove || old.entity != discussions::Reaction::NAME {
        return Ok(vec![]);
    }
    Ok(inserted(&old)
        .into_iter()
        .filter(|i| i.grouped && i.recipient != i.actor)
        .collect())
}

/// A grouped notification after one actor left it (pure); `None` when nobody is left.
/// `others` refills the recent actors when the leaver was the last one known.
pub fn shrink_group(
    mut group: Notification,
    actor: &UserId,
    others: &[UserId],
) -> Option<Notification> {
    group.actor_count = group.actor_count.checked_sub(1).filter(|c| *c > 0)?;
    group.recent_actor_ids.retain(|a| a != actor);
    if group.recent_actor_ids.is_empty() {
        group.recent_actor_ids = others
            .iter()
            .filter(|a| *a != actor)
            .take(RECENT_ACTORS)
            .cloned()
            .collect();
    }
    if let Some(latest) = group.recent_actor_ids.first() {
        group.actor_id = latest.clone();
    }
    group.version += 1;
    Some(group)
}

/// A ConditionCheck that `user` has not deleted their account (see
/// `profiles::keys::deleted_account`): a notification never outlives the account sweep.
pub(super) fn account_alive<'a>(store: &'a Store, user: &UserId) -> Transaction<'a> {
    store.transaction().check(
        &profiles::keys::deleted_account(user),
        Condition::absent(ACCOUNT_ALIVE),
    )
}

/// `NOTIFACTOR#<groupId>#<actor>`: the actor counts in the group (it expires with it).
pub(super) fn actor_marker(
    recipient: &UserId,
    group_id: &str,
    actor: &UserId,
) -> NotificationActor {
    NotificationActor {
        recipient: recipient.clone(),
        group_id: group_id.to_owned(),
        actor: actor.clone(),
        expires_at: now_epoch_seconds() + NOTIFICATION_TTL_SECONDS,
    }
}

/// The notification's transaction for `recipient`, naming `actor`: both accounts alive
/// (a ConditionCheck on each tombstone), and the actor's pointer to it
/// ([`SentNotification`]) so erasing the actor finds it.
pub(super) fn naming<'a>(
    store: &'a Store,
    recipient: &UserId,
    actor: &UserId,
    notification_id: &str,
) -> AppResult<Transaction<'a>> {
    let pointer = SentNotification::of(actor, recipient, notification_id);
    let transaction = account_alive(store, recipient);
    // A notice about my own doings (a reminder of the event I host, my seat from the
    // waitlist) checks my tombstone once: a transaction names each item once.
    let transaction = if actor == recipient {
        transaction
    } else {
        transaction.check(
            &profiles::keys::deleted_account(actor),
            Condition::absent(ACTOR_ALIVE),
        )
    };
    Ok(transaction.put_entity(&pointer, None))
}

/// `ADD unread :delta` on the counter (creating it at the first notification).
pub(super) fn count(delta: i64) -> Expr {
    Expr::new("ADD unread :delta SET entity = :entity")
        .value(":delta", AttributeValue::N(delta.to_string()))
        .value(
            ":entity",
            AttributeValue::S(NotificationCounter::NAME.into()),
        )
}

/// A group is written only as it was read: absent, or at the version read.
pub(super) fn group_unchanged(existing: Option<&Notification>) -> Condition {
    match existing {
        None => Condition::absent(GROUP_UNCHANGED),
        Some(group) => Condition::new(
            GROUP_UNCHANGED,
            Expr::new("version = :version")
                .value(":version", AttributeValue::N(group.version.to_string())),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contexts::realtime;
    use crate::table::store::Item;
    use serde_json::json;

    fn image(value: serde_json::Value) -> serde_dynamo::Item {
        serde_dynamo::to_item(value).unwrap()
    }

    fn change(kind: ChangeKind, old: Option<serde_json::Value>, new: serde_json::Value) -> Change {
        let key = |name: &str| {
            [Some(&new), old.as_ref()]
                .into_iter()
                .flatten()
                .find_map(|v| v[name].as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let (pk, sk) = (key("PK"), key("SK"));
        Change::new(kind, pk, sk, old.map(image), Some(image(new))).at("e1", "1")
    }

    fn id(raw: &str) -> UserId {
        UserId::parse(raw).unwrap()
    }

    fn community_topic(status: &str, announcement: bool) -> serde_json::Value {
        json!({"PK": "TOPIC#T1", "SK": "META", "entity": discussions::Topic::NAME,
               "topicId": "T1", "authorId": "ana", "communityId": "C1", "status": status,
               "announcement": announcement, "createdAt": "2026-01-01T00:00:00.000Z"})
    }

    #[test]
    fn a_community_topic_published_at_once_or_on_approval_starts_one_fan_out() {
        let created = change(
            ChangeKind::Insert,
            None,
            community_topic("published", false),
        );
        let held = change(ChangeKind::Insert, None, community_topic("pending", false));
        let approved = change(
            ChangeKind::Modify,
            Some(community_topic("pending", false)),
            community_topic("published", false),
        );
        let edited = change(
            ChangeKind::Modify,
            Some(community_topic("published", false)),
            community_topic("published", false),
        );
        let mut platform = community_topic("published", false);
        platform["communityId"] = serde_json::Value::Null;
        let platform = change(ChangeKind::Insert, None, platform);

        let started = post_fanout_of(&created).unwrap();

        let job = started.expect("a fan-out");
        assert_eq!(
            (job.topic_id.as_str(), job.community_id.as_str()),
            ("T1", "C1")
        );
        assert_eq!(
            (job.step, job.start.is_none(), job.announcement),
            (0, true, false)
        );
        assert!(post_fanout_of(&held).unwrap().is_none());
        assert!(post_fanout_of(&approved).unwrap().is_some());
        assert!(post_fanout_of(&edited).unwrap().is_none());
        assert!(post_fanout_of(&platform).unwrap().is_none());
    }

    #[test]
    fn a_fan_out_tells_followers_of_a_post_and_everyone_of_an_announcement() {
        let announced = change(ChangeKind::Insert, None, community_topic("published", true));
        let job = post_fanout_of(&announced).unwrap().expect("a fan-out");
        let post = PostFanout {
            announcement: false,
            ..job.clone()
        };

        let to_bo = post_intent(&job, id("bo"));
        let post_to_bo = post_intent(&post, id("bo"));

        assert_eq!(to_bo.kind, NotificationType::Announcement);
        assert_eq!(post_to_bo.kind, NotificationType::CommunityPost);
        assert_eq!(to_bo.actor, id("ana"));
        assert_eq!(to_bo.object.community_id.as_deref(), Some("C1"));
        assert_eq!(to_bo.object.topic_id.as_deref(), Some("T1"));
        // The same recipient and topic always make the same notification.
        assert_eq!(
            to_bo.notification_id(),
            post_intent(&job, id("bo")).notification_id()
        );
        assert_ne!(
            to_bo.notification_id(),
            post_intent(&job, id("cy")).notification_id()
        );
    }

    #[test]
    fn a_connection_request_notifies_its_target() {
        let record = change(
            ChangeKind::Insert,
            None,
            json!({"PK": "USER#bo", "SK": "REQIN#ana", "entity": connections::ConnectionRequest::NAME,
                   "senderId": "ana", "targetId": "bo", "createdAt": "2026-01-01T00:00:00.000Z"}),
        );

        let intents = intents_of(&record).unwrap();

        assert_eq!(intents.len(), 1);
        assert_eq!(intents[0].recipient, id("bo"));
        assert_eq!(intents[0].actor, id("ana"));
        assert_eq!(intents[0].kind, NotificationType::ConnectionRequest);
    }

    #[test]
    fn only_the_requesters_copy_of_a_connection_notifies() {
        let copy = |owner: &str, other: &str| {
            change(
                ChangeKind::Insert,
                None,
                json!({"PK": format!("USER#{owner}"), "SK": format!("CONN#{other}"),
                       "entity": connections::Connection::NAME, "userId": owner, "otherUserId": other,
                       "requestedBy": "ana", "createdAt": "2026-01-01T00:00:00.000Z"}),
            )
        };

        let requester = intents_of(&copy("ana", "bo")).unwrap();
        let accepter = intents_of(&copy("bo", "ana")).unwrap();

        assert_eq!(requester.len(), 1);
        assert_eq!(requester[0].recipient, id("ana"));
        assert_eq!(requester[0].actor, id("bo"));
        assert!(accepter.is_empty());
    }

    #[test]
    fn a_websocket_connection_item_is_not_a_social_connection() {
        let record = change(
            ChangeKind::Insert,
            None,
            json!({"PK": "USER#ana", "SK": "WSCONN#abc",
                   "entity": realtime::ConnectionEntry::NAME,
                   "userId": "ana", "connectionId": "abc"}),
        );

        assert!(intents_of(&record).unwrap().is_empty());
    }

    #[test]
    fn a_reply_notifies_the_parent_and_topic_authors_and_mentions_once_each() {
        let record = change(
            ChangeKind::Insert,
            None,
            json!({"PK": "TOPIC#t1", "SK": "REPLY#r0#r1", "entity": discussions::Reply::NAME, "replyId": "r1",
                   "topicId": "t1", "authorId": "cy", "parentReplyId": "r0",
                   "parentAuthorId": "bo", "topicAuthorId": "ana",
                   "mentions": ["bo", "dee", "cy"], "createdAt": "2026-01-01T00:00:00.000Z"}),
        );

        let intents = intents_of(&record).unwrap();
        let by = |who: &str| intents.iter().find(|i| i.recipient == id(who)).unwrap();

        assert_eq!(intents.len(), 3, "bo once, ana, dee; never the author");
        assert_eq!(by("bo").kind, NotificationType::Reply);
        assert_eq!(by("bo").object.target_kind, Some(TargetKind::Reply));
        assert_eq!(by("ana").kind, NotificationType::Reply);
        assert_eq!(by("ana").object.target_kind, Some(TargetKind::Topic));
        assert_eq!(by("dee").kind, NotificationType::Mention);
    }

    #[test]
    fn a_deleted_or_self_directed_item_notifies_nobody() {
        let deleted = change(
            ChangeKind::Insert,
            None,
            json!({"PK": "TOPIC#t1", "SK": "META", "entity": discussions::Topic::NAME, "topicId": "t1",
                   "authorId": "ana", "mentions": ["bo"], "deleted": true}),
        );
        let own = change(
            ChangeKind::Insert,
            None,
            json!({"PK": "TOPIC#t1", "SK": "REACT#t1#ana", "entity": "Reaction", "topicId": "t1",
                   "targetId": "t1", "targetAuthorId": "ana", "userId": "ana", "reaction": "like"}),
        );

        assert!(intents_of(&deleted).unwrap().is_empty());
        assert!(intents_of(&own).unwrap().is_empty());
    }

    #[test]
    fn reactions_on_one_target_share_one_group_id() {
        let reaction = |who: &str| {
            change(
                ChangeKind::Insert,
                None,
                json!({"PK": "TOPIC#t1", "SK": format!("REACT#t1#{who}"), "entity": "Reaction",
                       "topicId": "t1", "targetId": "t1", "targetAuthorId": "ana",
                       "userId": who, "reaction": "like", "createdAt": "2026-01-01T00:00:00.000Z"}),
            )
        };

        let first = intents_of(&reaction("bo")).unwrap().remove(0);
        let second = intents_of(&reaction("cy")).unwrap().remove(0);

        assert!(first.grouped);
        assert_eq!(first.notification_id(), second.notification_id());
        assert!(valid_notification_id(&first.notification_id()));
    }

    #[test]
    fn an_answer_moved_up_from_the_waitlist_tells_its_member_once_per_place() {
        let answer = |status: &str, place: Option<u64>, responded: &str| {
            json!({"PK": "EVENT#e1", "SK": "RSVP#1#bo", "entity": events::Rsvp::NAME,
                   "eventId": "e1", "occurrenceId": "1", "userId": "bo", "status": status,
                   "place": place, "respondedAt": responded})
        };
        let t1 = "2026-11-27T10:00:00Z";
        let t2 = "2026-11-27T10:05:00Z";

        let moved = intents_of(&change(
            ChangeKind::Modify,
            Some(answer("waitlisted", Some(3), t1)),
            answer("going", None, t1),
        ))
        .unwrap();
        let again = intents_of(&change(
            ChangeKind::Modify,
            Some(answer("waitlisted", Some(7), t1)),
            answer("going", None, t1),
        ))
        .unwrap();
        let answered_again = intents_of(&change(
            ChangeKind::Modify,
            Some(answer("waitlisted", Some(3), t1)),
            answer("going", None, t2),
        ))
        .unwrap();
        let changed_mind = intents_of(&change(
            ChangeKind::Modify,
            Some(answer("maybe", None, t1)),
            answer("going", None, t1),
        ))
        .unwrap();

        assert_eq!(moved.len(), 1);
        assert_eq!(moved[0].recipient, id("bo"));
        assert_eq!(moved[0].actor, id("bo"), "no one else is named");
        assert_eq!(moved[0].kind, NotificationType::EventSeatGranted);
        assert_eq!(moved[0].object.occurrence_id.as_deref(), Some("1"));
        assert_ne!(
            moved[0].identity, again[0].identity,
            "another place, another notice"
        );
        assert!(answered_again.is_empty(), "the member's own answer");
        assert!(changed_mind.is_empty());
    }

    #[test]
    fn an_accepted_answer_notifies_once_when_it_appears() {
        let topic = |accepted: Option<&str>| {
            json!({"PK": "TOPIC#t1", "SK": "META", "entity": discussions::Topic::NAME, "topicId": "t1",
                   "authorId": "ana", "acceptedReplyId": accepted,
                   "acceptedReplyAuthorId": accepted.map(|_| "bo"),
                   "updatedAt": "2026-01-02T00:00:00.000Z"})
        };

        let accepted = intents_of(&change(
            ChangeKind::Modify,
            Some(topic(None)),
            topic(Some("r1")),
        ))
        .unwrap();
        let unchanged = intents_of(&change(
            ChangeKind::Modify,
            Some(topic(Some("r1"))),
            topic(Some("r1")),
        ))
        .unwrap();

        assert_eq!(accepted.len(), 1);
        assert_eq!(accepted[0].recipient, id("bo"));
        assert_eq!(accepted[0].kind, NotificationType::AnswerAccepted);
        assert!(unchanged.is_empty());
    }

    #[test]
    fn folding_actors_counts_each_and_names_the_latest_first() {
        let intent = |who: &str, at: &str| Intent {
            recipient: id("ana"),
            actor: id(who),
            kind: NotificationType::Reaction,
            object: NotificationObject {
                target_kind: Some(TargetKind::Topic),
                ..NotificationObject::default()
            },
            at: at.into(),
            identity: "target|t1".into(),
            grouped: true,
        };
        let mut group = fold_into_group(None, &intent("bo", "2026-01-01T00:00:01.000Z"));
        group.read = true;

        for (who, at) in [
            ("cy", "2026-01-01T00:00:02.000Z"),
            ("dee", "2026-01-01T00:00:03.000Z"),
            ("eve", "2026-01-01T00:00:04.000Z"),
        ] {
            group = fold_into_group(Some(group), &intent(who, at));
        }

        assert_eq!(group.actor_count, 4);
        assert_eq!(group.recent_actor_ids, vec![id("eve"), id("dee"), id("cy")]);
        assert_eq!(group.updated_at, "2026-01-01T00:00:04.000Z");
        assert!(!group.read, "a new reaction makes the group unread again");
        assert_eq!(group.version, 4);
        assert_eq!(
            summary(&group, Some("Eve")),
            "Eve and 3 others reacted to your topic"
        );
        assert_eq!(
            summary(&fresh(&intent("bo", "t")), None),
            "Someone reacted to your topic"
        );
    }

    #[test]
    fn an_actor_leaving_shrinks_the_group_names_the_next_latest_and_empties_it_last() {
        let intent = |who: &str| Intent {
            recipient: id("ana"),
            actor: id(who),
            kind: NotificationType::Reaction,
            object: NotificationObject::default(),
            at: "2026-01-01T00:00:01.000Z".into(),
            identity: "target|t1".into(),
            grouped: true,
        };
        let mut group = fold_into_group(None, &intent("bo"));
        group = fold_into_group(Some(group), &intent("cy"));

        let without_cy = shrink_group(group.clone(), &id("cy"), &[]).unwrap();
        let only_known_left = Notification {
            recent_actor_ids: vec![id("cy")],
            ..group.clone()
        };
        let refilled = shrink_group(only_known_left, &id("cy"), &[id("bo"), id("cy")]).unwrap();
        let empty = shrink_group(shrink_group(group, &id("cy"), &[]).unwrap(), &id("bo"), &[]);

        assert_eq!(without_cy.actor_count, 1);
        assert_eq!(without_cy.actor_id, id("bo"));
        assert_eq!(without_cy.recent_actor_ids, vec![id("bo")]);
        assert_eq!(without_cy.version, 3);
        assert_eq!(refilled.recent_actor_ids, vec![id("bo")]);
        assert_eq!(refilled.actor_id, id("bo"));
        assert!(empty.is_none());
    }

    #[test]
    fn notification_ids_are_deterministic_and_per_recipient() {
        assert_eq!(hash_id(&["a", "b"]), hash_id(&["a", "b"]));
        assert_ne!(hash_id(&["a", "b"]), hash_id(&["ab", ""]));
        assert!(valid_notification_id(&hash_id(&["x"])));
        assert!(!valid_notification_id("NOTIF#x"));
    }

    #[test]
    fn an_unknown_type_in_preferences_is_refused() {
        let ok: Result<PreferencesInput, _> = serde_json::from_str(r#"{"muted":["reaction"]}"#);
        let bad: Result<PreferencesInput, _> = serde_json::from_str(r#"{"muted":["spam"]}"#);

        assert_eq!(ok.unwrap().muted, vec![NotificationType::Reaction]);
        assert!(bad.is_err());
    }

    /// An item as the hand-written code stored it, written out attribute by attribute.
    fn stored(value: serde_json::Value) -> Item {
        store::to_item(&value).unwrap()
    }

    #[test]
    fn a_group_actor_marker_is_stored_as_before() {
        let marker = NotificationActor {
            recipient: id("ana"),
            group_id: "g1".into(),
            actor: id("bo"),
            expires_at: 1_700_000_000,
        };

        let item = marker.item().unwrap();

        assert_eq!(
            item,
            stored(json!({
                "PK": "USER#ana", "SK": "NOTIFACTOR#g1#bo", "entity": "NotificationActor",
                "expiresAt": 1_700_000_000,
            }))
        );
    }

    #[test]
    fn a_processed_record_marker_is_stored_as_before() {
        let marker = ProcessedRecord {
            event_id: "e1".into(),
            expires_at: 1_700_000_000,
        };

        let item = marker.item().unwrap();

        assert_eq!(
            item,
            stored(json!({
                "PK": "PROCESSED#notifier#e1", "SK": "PROCESSED", "entity": "ProcessedRecord",
                "expiresAt": 1_700_000_000,
            }))
        );
    }

    #[test]
    fn preferences_are_stored_as_before_and_read_back() {
        let muting = |muted: &[NotificationType]| NotificationPreferences {
            user_id: id("ana"),
            preferences: Preferences {
                muted: muted.iter().copied().collect(),
            },
        };

        let some = muting(&[NotificationType::Message, NotificationType::Reaction])
            .item()
            .unwrap();
        let none = muting(&[]).item().unwrap();

        assert_eq!(
            some,
            stored(json!({
                "PK": "USER#ana", "SK": "NOTIFPREFS", "entity": "NotificationPreferences",
                "muted": ["reaction", "message"],
            }))
        );
        assert_eq!(
            none,
            stored(json!({
                "PK": "USER#ana", "SK": "NOTIFPREFS", "entity": "NotificationPreferences",
                "muted": [],
            }))
        );
        assert_eq!(
            store::from_item::<Preferences>(some).unwrap(),
            muting(&[NotificationType::Reaction, NotificationType::Message]).preferences
        );
    }

    #[test]
    fn the_counter_declares_the_item_its_first_add_creates() {
        let ana = id("ana");
        let counter = NotificationCounter {
            user_id: &ana,
            unread: 1,
        };

        let item = counter.item().unwrap();

        assert_eq!(
            item,
            stored(json!({
                "PK": "USER#ana", "SK": "NOTIFCOUNT", "entity": "NotificationCounter",
                "unread": 1,
            }))
        );
    }
}
