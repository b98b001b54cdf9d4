//! Moderation: input — what a reporter sends, and what a moderator decides.

#[allow(unused_imports)]
use super::*;

/// Why something is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ReportReason {
    Spam,
    Harassment,
    Sexual,
    Pii,
    Scam,
    Other,
}

/// What is reported, in the API's ids.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum ReportedContent {
    #[serde(rename_all = "camelCase")]
    Topic { topic_id: String },
    #[serde(rename_all = "camelCase")]
    Reply { topic_id: String, reply_id: String },
    #[serde(rename_all = "camelCase")]
    Message { room_id: String, message_id: String },
    #[serde(rename_all = "camelCase")]
    Room { room_id: String },
    #[serde(rename_all = "camelCase")]
    Activity { activity_id: String },
    #[serde(rename_all = "camelCase")]
    Comment {
        activity_id: String,
        comment_id: String,
    },
    #[serde(rename_all = "camelCase")]
    Community { community_id: String },
    /// A profile (its owner's id).
    #[serde(rename_all = "camelCase")]
    Profile { user_id: String },
}

impl ReportedContent {
    /// The ids it names, by their field (`content.topicId`, ...).
    fn ids(&self) -> Vec<(&'static str, &str)> {
        match self {
            Self::Topic { topic_id } => vec![("content.topicId", topic_id)],
            Self::Reply { topic_id, reply_id } => {
                vec![("content.topicId", topic_id), ("content.replyId", reply_id)]
            }
            Self::Message {
                room_id,
                message_id,
            } => vec![
                ("content.roomId", room_id),
                ("content.messageId", message_id),
            ],
            Self::Room { room_id } => vec![("content.roomId", room_id)],
            Self::Activity { activity_id } => vec![("content.activityId", activity_id)],
            Self::Comment {
                activity_id,
                comment_id,
            } => vec![
                ("content.activityId", activity_id),
                ("content.commentId", comment_id),
            ],
            Self::Community { community_id } => vec![("content.communityId", community_id)],
            Self::Profile { user_id } => vec![("content.userId", user_id)],
        }
    }

    /// Each id is 1 to 200 characters of letters, digits and `-_.:~` (no id the API
    /// hands out is otherwise): a 400 naming the field. Pure.
    pub fn check(&self) -> AppResult<()> {
        for (field, id) in self.ids() {
            let fits = !id.is_empty()
                && id.len() <= 200
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:~".contains(c));
            if !fits {
                return Err(AppError::bad_field(field, "is not an id"));
            }
        }
        Ok(())
    }

    /// The reported item's table keys: the inverse of [`content_ref`]. Pure.
    pub fn keys(&self) -> (String, String) {
        match self {
            Self::Topic { topic_id } => (format!("TOPIC#{topic_id}"), "META".into()),
            Self::Reply { topic_id, reply_id } => {
                (format!("TOPIC#{topic_id}"), format!("REPLY#{reply_id}"))
            }
            Self::Message {
                room_id,
                message_id,
            } => (format!("ROOM#{room_id}"), format!("MSG#{message_id}")),
            Self::Room { room_id } => (format!("ROOM#{room_id}"), "META".into()),
            Self::Activity { activity_id } => (format!("ACT#{activity_id}"), "META".into()),
            Self::Comment {
                activity_id,
                comment_id,
            } => (
                format!("ACT#{activity_id}"),
                format!("COMMENT#{comment_id}"),
            ),
            Self::Community { community_id } => {
                (format!("COMMUNITY#{community_id}"), "META".into())
            }
            Self::Profile { user_id } => (format!("USER#{user_id}"), "PROFILE".into()),
        }
    }
}

/// `POST /v1/reports`: a report of something the reporter can see.
#[derive(Debug, Clone, Deserialize, validator::Validate, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewReport {
    pub content: ReportedContent,
    pub reason: ReportReason,
    /// What the reporter wants the moderators to know (at most 1,000 characters).
    #[validate(length(max = 1000))]
    pub note: Option<String>,
}

/// What a reporter gets back: their report (the first one, when they report the same
/// item again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportReceipt {
    pub content: ContentRef,
    pub reason: ReportReason,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub created_at: String,
}

/// One report, as moderators read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportView {
    pub reporter_id: UserId,
    pub reason: ReportReason,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub created_at: String,
}

/// The most words a restricted-words list holds.
pub const MAX_RESTRICTED_WORDS: usize = 200;
/// The longest restricted word or phrase, in characters.
pub const MAX_RESTRICTED_WORD_CHARS: usize = 64;

/// `PUT /v1/moderation/.../restricted-words`: the whole list (an empty one clears it).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewRestrictedWords {
    /// At most 200 words or phrases of 1 to 64 characters (trimmed; no control
    /// characters). Duplicates, in any case, are kept once.
    pub words: Vec<String>,
}

impl NewRestrictedWords {
    /// The list to keep: trimmed, inner whitespace collapsed, each once (compared in
    /// any case), in the order given. A 422 names `words` (too many) or `words[i]`.
    /// Pure.
    pub fn parse(self) -> AppResult<Vec<String>> {
        if self.words.len() > MAX_RESTRICTED_WORDS {
            return Err(AppError::invalid_field(
                "words",
                format!("holds at most {MAX_RESTRICTED_WORDS} words"),
            ));
        }
        let mut kept: Vec<String> = Vec::with_capacity(self.words.len());
        for (at, word) in self.words.iter().enumerate() {
            let field = || format!("words[{at}]");
            if word.chars().any(|c| c.is_control() && !c.is_whitespace()) {
                return Err(AppError::invalid_field(
                    field(),
                    "holds a control character",
                ));
            }
            let word = word.split_whitespace().collect::<Vec<_>>().join(" ");
            let chars = word.chars().count();
            if chars == 0 || chars > MAX_RESTRICTED_WORD_CHARS {
                return Err(AppError::invalid_field(
                    field(),
                    format!("must be 1 to {MAX_RESTRICTED_WORD_CHARS} characters"),
                ));
            }
            if !kept.iter().any(|k| k.to_lowercase() == word.to_lowercase()) {
                kept.push(word);
            }
        }
        Ok(kept)
    }
}
