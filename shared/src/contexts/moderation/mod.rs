//! Moderation: the text classifier, jobs on the moderation queue, and the screening of
//! every user-written text.
//!
//! **Screening.** Each context declares where the text of its item types is
//! ([`Screened`]: the entity, its text attributes, its author and its community). On
//! every INSERT or MODIFY whose text changed, the fan-out function's
//! [`reactions::ScreeningRequests`] queues a [`ModerationJob::ModerateText`] naming the
//! item and the digest of its text. The moderation worker ([`screen`]) reads the item,
//! drops the job when the text changed meanwhile (that change queued its own job),
//! classifies it, and writes the verdict ([`Screening`], attribute `screening`) under the
//! condition that the text is still the one it read. So only the latest text's verdict
//! counts, and no sequence of edits skips a check. A hidden item also gets a
//! [`ReviewItem`] in its review queue (the global one, or its community's), and its
//! author is notified (`contentHidden`, from the stream).
//!
//! Items:
//! - `REVIEW#<pk>|<sk> / META` — the review entry of one item (entity `ReviewItem`):
//!   GSI1 `MODQ#GLOBAL` or `MODQ#COMMUNITY#<c>` / `<flaggedAt>#<pk>|<sk>` while open,
//!   GSI2 `MODHIST#<author>` / `<flaggedAt>` (the author's history).
//!
//! The word lists and the false-positive handling come from `rustrict`, a maintained
//! profanity/abuse filter, rather than a hand-kept list.

use rustrict::{Censor, Type};
use serde::{Deserialize, Serialize};

use crate::core::config::ModerationConfig;
use crate::core::error::{AppError, AppResult};
use crate::core::ids::{UserId, now_rfc3339};
use crate::table::entity::{Entity, IndexKey};
use crate::table::store::{self, AttributeValue, Expr, Index, Item, Key, Store};
use crate::table::transaction::Condition;

pub mod erasure;
pub mod reactions;

mod access;
mod input;
mod items;
mod rules;
mod use_cases;

pub use access::*;
pub use input::*;
pub use items::*;
pub use rules::*;
pub use use_cases::*;
