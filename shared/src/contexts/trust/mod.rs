//! Trust levels, as in Discourse: each account's level (0 new, 1 basic, 2 member,
//! 3 regular) follows from stats the stream keeps, and sets its limits (posts per
//! hour, links per post, new direct conversations with strangers; see
//! [`crate::core::trust`]).
//!
//! **The stats.** [`reactions::TrustKeeper`] (on the fan-out function) applies each
//! stream record once (a processed-record marker in the same transaction): a profile's
//! earliest `createdAt` (the account's age), replies written, reactions received (a removed
//! reaction takes one back), answers accepted (an accepted answer moved to another
//! reply moves the count), and removals of the account's content by a moderator
//! (flags upheld). The topic-views worker adds topics entered and posts read: the
//! first time an account opens a topic, the topic and the replies on its page
//! ([`record_reads`], once per account and topic).
//!
//! **The level** is computed from the stats and the clock ([`level_of`], pure), where
//! it is needed: on every write (with the caller's standing, in the same BatchGetItem),
//! on a profile, and on `GET /v1/me/trust`. So an account's age promotes it without
//! an event.
//!
//! Items:
//! - `USER#<id> / TRUST` — the account's stats (entity `TrustStats`, written by
//!   UpdateItem only).
//! - `USER#<id> / READ#<topicId>` — a topic the account entered (entity `TopicRead`).
//! - `PROCESSED#trust#<eventId> / PROCESSED` — a stream record applied (entity
//!   `TrustRecord`, expires after a day).

use serde::{Deserialize, Serialize};

use crate::core::error::{AppError, AppResult};
use crate::core::ids::UserId;
use crate::core::trust::{TrustLevel, TrustLimits};
use crate::table::entity::Entity;
use crate::table::store::{AttributeValue, Expr, Key, Store};
use crate::table::transaction::Condition;

pub mod erasure;
pub mod reactions;

mod items;
mod rules;
mod use_cases;

pub use items::*;
pub use rules::*;
pub use use_cases::*;
