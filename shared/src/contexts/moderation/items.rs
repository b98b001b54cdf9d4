//! Moderation: item types stored in the table (their keys, index keys and entity names), and the views built from them.

#[allow(unused_imports)]
use super::*;

/// A message on the moderation queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ModerationJob {
    /// Check the free text of one version of a profile.
    #[serde(rename_all = "camelCase")]
    ModerateProfile { user_id: UserId, version: u64 },
    /// Check the text of one item (`entity`, keyed `pk`/`sk`) as it is when the worker
    /// reads it; `digest` is of the text the job was queued for.
    #[serde(rename_all = "camelCase")]
    ModerateText {
        entity: String,
        pk: String,
        sk: String,
        digest: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    Flagged,
}

/// Where an item type keeps its user-written text, declared by its context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Screened {
    /// The item type's `entity` name.
    pub entity: &'static str,
    /// The attributes holding its text (strings; an absent one counts as empty).
    pub text: &'static [&'static str],
    /// The attributes naming its author: the first one present (a group's name is
    /// its last renamer's, else its creator's).
    pub author: &'static [&'static str],
    /// Whose review queue it goes to.
    pub community: CommunityOf,
    /// Whether a text of this type is a post that counts towards its author's burst
    /// (a chat message does not: several in a minute is how people chat).
    pub posts: bool,
}

/// Where an item's community is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommunityOf {
    /// It belongs to no community: the global queue.
    Nowhere,
    /// In this attribute of the item itself.
    Own(&'static str),
    /// In this attribute of the `META` item of the item's partition (a reply's topic).
    Parent(&'static str),
}

/// The automatic verdict on an item's current text, kept on the item (`screening`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Screening {
    pub status: ScreeningStatus,
    /// The classifier's confidence (0–1): its most confident category's.
    pub confidence: f64,
    /// The categories it matched at or above the threshold, most confident first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<Category>,
    pub checked_at: String,
    /// The moderator who approved or removed it, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed_by: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed_at: Option<String>,
}

// The confidence is a rounded classifier score, never NaN, so equality is total.
impl Eq for Screening {}

/// What readers other than its author and the moderators see of a hidden text.
pub const HIDDEN_TEXT: &str = "[hidden by moderation]";

/// Whether an item's text is shown to everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ScreeningStatus {
    Clean,
    /// Shown only to its author and the moderators.
    Hidden,
    /// A moderator removed it: shown only to its author and the moderators, whatever
    /// its text becomes.
    Removed,
    /// Enough people reported it: shown only to its author and the moderators until a
    /// moderator reviews it, whatever its text becomes (edits are still checked, and
    /// their verdict kept for the moderator).
    Reported,
}

/// What an item of the review queue is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    pub entity: String,
    pub pk: String,
    pub sk: String,
}

/// What kind of item a text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ContentKind {
    Topic,
    Reply,
    Message,
    /// A group chat's name.
    Room,
    Activity,
    Comment,
    Community,
    /// A profile (its name, headline and bio).
    Profile,
}

/// An item in the ids the API uses (what a review item or a `contentHidden` notice
/// points at), with why it was hidden.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContentRef {
    pub kind: ContentKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community_id: Option<String>,
    /// The profile's owner (a profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    /// The categories the classifier matched, most confident first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<Category>,
    /// Hidden because enough people reported it (screening status `reported`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reported: bool,
}

/// Whether a review item waits for a moderator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ReviewStatus {
    Open,
    /// A later text of the item was found clean, before anyone reviewed it.
    Cleared,
    /// A moderator restored it.
    Approved,
    /// A moderator removed it for good.
    Removed,
}

/// What a moderator decides about a review item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum DecisionAction {
    /// The text is fine: shown to everyone again.
    Approve,
    /// The text stays hidden from everyone but its author, whatever edits follow.
    Remove,
}

/// A moderator's decision: `POST /v1/moderation/queue/{reviewId}`.
#[derive(Debug, Clone, Deserialize, validator::Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewDecision {
    pub action: DecisionAction,
    /// Why, for the author and the record (1 to 500 characters).
    #[validate(length(min = 1, max = 500))]
    pub reason: String,
}

/// A moderator's decision on a review item, kept on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewDecision {
    pub action: DecisionAction,
    pub reason: String,
    pub decided_by: UserId,
    pub decided_at: String,
}

/// An item waiting for review: why it was hidden, and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewItem {
    pub subject: Subject,
    pub author_id: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community_id: Option<String>,
    pub status: ReviewStatus,
    /// The automatic verdict that hid it.
    pub screening: Screening,
    /// The digest of the text that verdict is about.
    pub digest: String,
    pub flagged_at: String,
    /// A moderator's decision, once made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<ReviewDecision>,
}

impl Entity for ReviewItem {
    const NAME: &'static str = "ReviewItem";

    fn key(&self) -> Key {
        review_key(&self.subject.pk, &self.subject.sk)
    }

    fn index_keys(&self) -> Vec<IndexKey> {
        let sort = format!(
            "{}#{}|{}",
            self.flagged_at, self.subject.pk, self.subject.sk
        );
        let mut keys = vec![IndexKey::new(
            Index::Gsi2,
            history_partition(&self.author_id),
            &sort,
        )];
        if self.status == ReviewStatus::Open {
            keys.push(IndexKey::new(
                Index::Gsi1,
                queue_partition(self.community_id.as_deref()),
                &sort,
            ));
        }
        if let Some(decision) = &self.decision {
            keys.push(IndexKey::new(
                Index::Gsi3,
                decisions_partition(&decision.decided_by),
                format!("{}#{sort}", decision.decided_at),
            ));
        }
        keys
    }
}

/// `REVIEW#<pk>|<sk> / META`: the review item of the item keyed `pk`/`sk`.
pub fn review_key(pk: &str, sk: &str) -> Key {
    Key::new(review_partition(pk, sk), "META")
}

/// `MODQ#GLOBAL`, or `MODQ#COMMUNITY#<c>`: a review queue (GSI1).
pub fn queue_partition(community: Option<&str>) -> String {
    match community {
        None => "MODQ#GLOBAL".into(),
        Some(community) => format!("MODQ#COMMUNITY#{community}"),
    }
}

/// `MODBY#<moderator>`: the decisions a moderator made (GSI3; erasure finds them).
pub fn decisions_partition(moderator: &UserId) -> String {
    format!("MODBY#{moderator}")
}

/// `MODHIST#<author>`: what of an author's was ever flagged (GSI2).
pub fn history_partition(author: &UserId) -> String {
    format!("MODHIST#{author}")
}

/// One person's report of an item: `REVIEW#<pk>|<sk> / REPORT#<reporter>` (one per
/// reporter and item), GSI2 `MODREPORTS#<reporter>` / `<createdAt>#<pk>|<sk>` (what a
/// reporter reported: export and erasure).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub subject: Subject,
    pub reporter_id: UserId,
    pub reason: ReportReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub created_at: String,
}

impl Entity for Report {
    const NAME: &'static str = "Report";

    fn key(&self) -> Key {
        report_key(&self.subject.pk, &self.subject.sk, &self.reporter_id)
    }

    fn index_keys(&self) -> Vec<IndexKey> {
        vec![IndexKey::new(
            Index::Gsi2,
            reports_partition(&self.reporter_id),
            format!(
                "{}#{}|{}",
                self.created_at, self.subject.pk, self.subject.sk
            ),
        )]
    }
}

/// How many distinct people reported an item: `REVIEW#<pk>|<sk> / REPORTS` (kept apart
/// from the review item, which the worker rewrites).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportTally {
    pub reports: u32,
    pub last_reported_at: String,
}

/// The entity name of [`ReportTally`] items (written by UpdateItem, not put whole).
pub const REPORT_TALLY: &str = "ReportTally";

/// `REVIEW#<pk>|<sk> / REPORT#<reporter>`.
pub fn report_key(pk: &str, sk: &str, reporter: &UserId) -> Key {
    Key::new(
        review_partition(pk, sk),
        format!("{REPORT_PREFIX}{reporter}"),
    )
}

/// `REVIEW#<pk>|<sk> / REPORTS`.
pub fn tally_key(pk: &str, sk: &str) -> Key {
    Key::new(review_partition(pk, sk), "REPORTS")
}

/// The sort-key prefix of an item's reports.
pub const REPORT_PREFIX: &str = "REPORT#";

/// `REVIEW#<pk>|<sk>`: the partition of an item's review item, reports and tally.
pub fn review_partition(pk: &str, sk: &str) -> String {
    format!("REVIEW#{pk}|{sk}")
}

/// `MODREPORTS#<reporter>`: what someone reported (GSI2).
pub fn reports_partition(reporter: &UserId) -> String {
    format!("MODREPORTS#{reporter}")
}

/// What a platform moderator does to an account:
/// `POST /v1/moderation/users/{userId}/actions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum SanctionAction {
    /// A warning: counted on the account, and the user is told.
    Warn,
    /// No posting (topics, replies, comments, activities, chat messages, community,
    /// event and course writes) for `hours`.
    Mute,
    /// No writes at all, and no reads beyond their own data, for `hours`; open sockets
    /// are closed.
    Suspend,
    /// A suspension without an end.
    Ban,
    /// Lifts any mute, suspension or ban.
    Reinstate,
}

/// A moderator's action on an account.
#[derive(Debug, Clone, Deserialize, validator::Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewSanction {
    pub action: SanctionAction,
    /// Why, for the user and the record (1 to 500 characters).
    #[validate(length(min = 1, max = 500))]
    pub reason: String,
    /// How long a `mute` or `suspend` lasts, in hours (1 to 8,760); not for the others.
    #[validate(range(min = 1, max = 8760))]
    pub hours: Option<u32>,
}

/// The last action on an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SanctionRecord {
    pub action: SanctionAction,
    pub reason: String,
    pub by: UserId,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// An account's standing with the platform's moderators: `USER#<id> / STANDING`
/// (entity `AccountStanding`), read with the caller's tombstone on every request;
/// GSI3 `STANDINGBY#<moderator of the last action>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountStanding {
    pub user_id: UserId,
    /// Posting is refused until then (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub muted_until: Option<String>,
    /// Writing, and reading beyond one's own data, are refused until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended_until: Option<String>,
    #[serde(default)]
    pub banned: bool,
    #[serde(default)]
    pub warnings: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_action: Option<SanctionRecord>,
    /// Bumped by each action (the next one's condition).
    #[serde(default)]
    pub version: u64,
}

impl AccountStanding {
    /// The standing of an account never acted on.
    pub fn clean(user: UserId) -> Self {
        Self {
            user_id: user,
            muted_until: None,
            suspended_until: None,
            banned: false,
            warnings: 0,
            last_action: None,
            version: 0,
        }
    }
}

impl Entity for AccountStanding {
    const NAME: &'static str = "AccountStanding";

    fn key(&self) -> Key {
        standing_key(&self.user_id)
    }

    /// GSI3 `STANDINGBY#<moderator>` / `<userId>`: the standings whose last action a
    /// moderator took (erasure finds them).
    fn index_keys(&self) -> Vec<IndexKey> {
        self.last_action
            .iter()
            .map(|last| {
                IndexKey::new(
                    Index::Gsi3,
                    format!("STANDINGBY#{}", last.by),
                    self.user_id.as_str(),
                )
            })
            .collect()
    }
}

/// `USER#<id> / STANDING`.
pub fn standing_key(user: &UserId) -> Key {
    Key::new(format!("USER#{user}"), "STANDING")
}

/// What an audit entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum AuditAction {
    /// The classifier hid a text (automated).
    Hide,
    /// Reports held an item until review (automated).
    Hold,
    /// A moderator restored an item.
    Approve,
    /// A moderator removed an item for good.
    Remove,
    Warn,
    Mute,
    Suspend,
    Ban,
    Reinstate,
    /// A moderator upheld an appeal (the content shown again, or the account
    /// reinstated).
    AppealUpheld,
    AppealDenied,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hide => "hide",
            Self::Hold => "hold",
            Self::Approve => "approve",
            Self::Remove => "remove",
            Self::Warn => "warn",
            Self::Mute => "mute",
            Self::Suspend => "suspend",
            Self::Ban => "ban",
            Self::Reinstate => "reinstate",
            Self::AppealUpheld => "appealUpheld",
            Self::AppealDenied => "appealDenied",
        }
    }

    /// The action an API name means (`None`: no such action). Pure.
    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Hide,
            Self::Hold,
            Self::Approve,
            Self::Remove,
            Self::Warn,
            Self::Mute,
            Self::Suspend,
            Self::Ban,
            Self::Reinstate,
            Self::AppealUpheld,
            Self::AppealDenied,
        ]
        .into_iter()
        .find(|action| action.as_str() == raw)
    }
}

/// One entry of the moderation audit log: `AUDIT / <at>#<auditId>` (entity
/// `AuditEntry`), written in the same transaction as what it records and never
/// changed, except that erasing an account replaces its id by `~erased`. GSI1
/// `AUDITBY#<actorId>` (`AUDITBY#~automated` for the automated ones) and GSI2
/// `AUDITON#<userId>`, same sort key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub audit_id: String,
    pub at: String,
    pub action: AuditAction,
    /// Whether the platform did it by itself (the classifier, or reports reaching the
    /// threshold); then there is no `actorId`.
    pub automated: bool,
    /// The moderator who acted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<UserId>,
    /// Whose content or account it was about.
    pub user_id: UserId,
    /// The content it was about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<ContentRef>,
    /// The community whose queue the content was in, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community_id: Option<String>,
    /// Why: the moderator's reason, or what the classifier matched.
    pub reason: String,
    /// The classifier's confidence, for the automated entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// When a mute or suspension ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// What a moderator did to an account, as its owner is told (`accountActioned`): the
/// action, the reason, and when a mute or suspension ends (not who did it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountAction {
    pub action: SanctionAction,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

impl AuditEntry {
    /// The account action it records, if it records one a moderator took.
    pub fn account_action(&self) -> Option<AccountAction> {
        let action = match self.action {
            AuditAction::Warn => SanctionAction::Warn,
            AuditAction::Mute => SanctionAction::Mute,
            AuditAction::Suspend => SanctionAction::Suspend,
            AuditAction::Ban => SanctionAction::Ban,
            AuditAction::Reinstate => SanctionAction::Reinstate,
            _ => return None,
        };
        (!self.automated).then(|| AccountAction {
            action,
            reason: self.reason.clone(),
            until: self.until.clone(),
        })
    }
}

impl Entity for AuditEntry {
    const NAME: &'static str = "AuditEntry";

    fn key(&self) -> Key {
        Key::new(AUDIT_PARTITION, self.sort_key())
    }

    fn index_keys(&self) -> Vec<IndexKey> {
        let actor = match &self.actor_id {
            Some(actor) => actor.as_str().to_owned(),
            None => AUTOMATED.to_owned(),
        };
        vec![
            IndexKey::new(Index::Gsi1, audit_by_partition(&actor), self.sort_key()),
            IndexKey::new(
                Index::Gsi2,
                audit_on_partition(&self.user_id),
                self.sort_key(),
            ),
        ]
    }
}

impl AuditEntry {
    fn sort_key(&self) -> String {
        format!("{}#{}", self.at, self.audit_id)
    }
}

/// The audit log's partition.
pub const AUDIT_PARTITION: &str = "AUDIT";
/// Who the automated entries are by, in GSI1.
pub const AUTOMATED: &str = "~automated";

/// `AUDITBY#<actor>` (GSI1): the entries of one moderator, or `~automated`.
pub fn audit_by_partition(actor: &str) -> String {
    format!("AUDITBY#{actor}")
}

/// `AUDITON#<user>` (GSI2): the entries about one user.
pub fn audit_on_partition(user: &UserId) -> String {
    format!("AUDITON#{user}")
}

/// An appeal: `POST /v1/appeals`. With `reviewId`, of what moderation did to that
/// item of the appellant's; without it, of the last action on the appellant's account.
#[derive(Debug, Clone, Deserialize, validator::Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAppeal {
    #[serde(default)]
    pub review_id: Option<String>,
    /// Why it should be undone (1 to 2,000 characters).
    #[validate(length(min = 1, max = 2000))]
    pub statement: String,
}

/// Whether an appeal waits for a moderator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum AppealStatus {
    Open,
    /// Undone: the content is shown again, or the account reinstated.
    Upheld,
    Denied,
}

/// What a moderator decides about an appeal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum AppealOutcome {
    Uphold,
    Deny,
}

/// A moderator's decision on an appeal: `POST /v1/moderation/appeals/{appealId}`.
#[derive(Debug, Clone, Deserialize, validator::Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAppealDecision {
    pub outcome: AppealOutcome,
    /// Why, for the appellant and the record (1 to 500 characters).
    #[validate(length(min = 1, max = 500))]
    pub reason: String,
}

/// A decision on an appeal, kept on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppealDecision {
    pub outcome: AppealOutcome,
    pub reason: String,
    pub decided_by: UserId,
    pub decided_at: String,
}

/// An appeal, once per moderated item (`REVIEW#<pk>|<sk> / APPEAL`) or per action on
/// an account (`USER#<u> / APPEAL#<the action's at>`), entity `Appeal`. GSI1
/// `APPEALQ#GLOBAL` or `APPEALQ#COMMUNITY#<c>` / `<createdAt>#<appealId>` while open;
/// GSI2 `APPEALS#<appellant>` / `<createdAt>` (export and erasure); GSI3
/// `APPEALBY#<moderator>` once decided (erasure).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Appeal {
    pub appellant_id: UserId,
    /// The moderated item, for an appeal of content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Subject>,
    /// When the appealed action on the account was taken, for an appeal of one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_at: Option<String>,
    /// What is appealed: `hide`, `hold` or `remove` (content); `warn`, `mute`,
    /// `suspend` or `ban` (account).
    pub action: AuditAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community_id: Option<String>,
    pub statement: String,
    pub status: AppealStatus,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<AppealDecision>,
}

impl Entity for Appeal {
    const NAME: &'static str = "Appeal";

    fn key(&self) -> Key {
        match (&self.subject, &self.action_at) {
            (Some(subject), _) => Key::new(review_partition(&subject.pk, &subject.sk), "APPEAL"),
            (None, at) => Key::new(
                format!("USER#{}", self.appellant_id),
                format!("APPEAL#{}", at.as_deref().unwrap_or_default()),
            ),
        }
    }

    fn index_keys(&self) -> Vec<IndexKey> {
        let sort = format!("{}#{}", self.created_at, appeal_id(&self.key()));
        let mut keys = vec![IndexKey::new(
            Index::Gsi2,
            format!("APPEALS#{}", self.appellant_id),
            &sort,
        )];
        if self.status == AppealStatus::Open {
            keys.push(IndexKey::new(
                Index::Gsi1,
                appeal_queue_partition(self.community_id.as_deref()),
                &sort,
            ));
        }
        if let Some(decision) = &self.decision {
            keys.push(IndexKey::new(
                Index::Gsi3,
                format!("APPEALBY#{}", decision.decided_by),
                format!("{}#{sort}", decision.decided_at),
            ));
        }
        keys
    }
}

/// `APPEALQ#GLOBAL`, or `APPEALQ#COMMUNITY#<c>`: an appeals queue (GSI1).
pub fn appeal_queue_partition(community: Option<&str>) -> String {
    match community {
        None => "APPEALQ#GLOBAL".into(),
        Some(community) => format!("APPEALQ#COMMUNITY#{community}"),
    }
}

/// `APPEALS#<appellant>` (GSI2).
pub fn appeals_partition(appellant: &UserId) -> String {
    format!("APPEALS#{appellant}")
}

/// The id an appeal is known by: its keys, base64url.
pub fn appeal_id(key: &Key) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}|{}", key.pk, key.sk))
}

/// The keys an appeal id names, if it names an appeal's. Pure.
pub fn parse_appeal_id(id: &str) -> Option<Key> {
    use base64::Engine;
    if id.len() > 600 {
        return None;
    }
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id)
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    // A review partition holds a `|` of its own: the appeal's sort key has none.
    let (pk, sk) = raw.rsplit_once('|')?;
    let fits = (pk.starts_with("REVIEW#") && sk == "APPEAL")
        || (pk.starts_with("USER#") && sk.starts_with("APPEAL#"));
    fits.then(|| Key::new(pk, sk))
}

/// Whose restricted words: a community's (set by its moderators, for everything
/// posted in it) or one author's (set by the platform's moderators, for everything
/// they write anywhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordsScope<'a> {
    Community(&'a str),
    User(&'a UserId),
}

impl WordsScope<'_> {
    /// `COMMUNITY#<id> / RESTRICTED` or `USER#<id> / RESTRICTED`.
    pub fn key(&self) -> Key {
        match self {
            Self::Community(community) => Key::new(format!("COMMUNITY#{community}"), RESTRICTED),
            Self::User(user) => Key::new(crate::table::keys::user_partition(user), RESTRICTED),
        }
    }
}

/// The sort key of a restricted-words list.
pub const RESTRICTED: &str = "RESTRICTED";

/// Words and phrases the classifier treats as restricted (category
/// `restrictedKeyword`) in one scope ([`WordsScope`]; entity `RestrictedWords`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestrictedWords {
    /// The community they apply in (a community's list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community_id: Option<String>,
    /// The author they apply to (an account's list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    /// Matched whole and in any case; a phrase matches as a whole.
    pub words: Vec<String>,
    /// When they were last set (absent: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

impl RestrictedWords {
    /// The list of `scope`, empty.
    pub fn none(scope: WordsScope<'_>) -> Self {
        let (community_id, user_id) = match scope {
            WordsScope::Community(community) => (Some(community.to_owned()), None),
            WordsScope::User(user) => (None, Some(user.clone())),
        };
        Self {
            community_id,
            user_id,
            words: Vec::new(),
            updated_at: None,
        }
    }

    /// Its scope. Every list is made from one ([`RestrictedWords::none`]), so one of
    /// the two ids is always there; a list with neither (never written) would key
    /// under `COMMUNITY#`, which no community has.
    fn scope(&self) -> WordsScope<'_> {
        match (&self.community_id, &self.user_id) {
            (Some(community), _) => WordsScope::Community(community),
            (None, Some(user)) => WordsScope::User(user),
            (None, None) => WordsScope::Community(""),
        }
    }
}

impl Entity for RestrictedWords {
    const NAME: &'static str = "RestrictedWords";

    fn key(&self) -> Key {
        self.scope().key()
    }
}

/// The posts one author's texts were checked in during one UTC minute, as a set of
/// `<pk>|<sk>` (so neither a redelivered job nor an edit counts twice):
/// `USER#<id> / BURST#<yyyy-mm-ddThh:mm>` (entity `PostBurst`, written by UpdateItem;
/// expires after an hour).
pub const POST_BURST: &str = "PostBurst";

/// `USER#<id> / BURST#<minute>`.
pub fn burst_key(user: &UserId, minute: &str) -> Key {
    Key::new(
        crate::table::keys::user_partition(user),
        format!("{BURST_PREFIX}{minute}"),
    )
}

/// The sort-key prefix of an author's burst counters.
pub const BURST_PREFIX: &str = "BURST#";
