//! Communities: public, private and secret communities, their members and roles, join
//! requests, invite links, bans and discovery. The permission matrix is
//! `docs/communities.md`; the items are in `docs/data-model.md`.
//!
//! Items (keys in [`keys`]):
//! - `COMMUNITY#<id> / META` entity "Community": the community, with its exact
//!   `memberCount`. A listed (public or private) community carries GSI1
//!   `CNAME#<first character>` / `<normalized name>#<id>` (name prefix) and GSI2
//!   `COMMUNITIES` / `<id>` (newest); a secret one carries no index key.
//! - `CSLUG#<slug> / CSLUG` entity "CommunitySlug": claims a listed community's slug.
//! - `CTAG#<tag> / COMMUNITY#<id>` entity "CommunityByTag": a listed community under
//!   each of its tags.
//! - `COMMUNITY#<id> / MEMBER#<userId>` entity "CommunityMember" and its mirror
//!   `USER#<userId> / COMMUNITY#<id>` entity "CommunityMembership" (my communities).
//! - `COMMUNITY#<id> / JOINREQ#<userId>` entity "CommunityJoinRequest" and its mirror
//!   `USER#<userId> / CJOINREQ#<id>` entity "CommunityJoinRequestByUser".
//! - `COMMUNITY#<id> / BAN#<userId>` entity "CommunityBan" and its mirror
//!   `USER#<userId> / CBAN#<id>` entity "CommunityBanOfUser".
//! - `CINVITE#<code> / INVITE` entity "CommunityInvite", listed per community on GSI1
//!   `CINVITES#<id>`, with its mirror `USER#<creator> / CINVITE#<code>` entity
//!   "CommunityInviteByCreator"; DynamoDB's TTL removes it after it expires.

use serde::{Deserialize, Serialize};
use tracing::instrument;
use validator::Validate;

use crate::contexts::profiles::{self, ProfileView};
use crate::contexts::{courses, graph};
use crate::core::auth::Principal;
use crate::core::cursor::{CursorCodec, Page, PageKey};
use crate::core::error::{AppError, AppResult};
use crate::core::ids::{UserId, format_rfc3339, new_ulid, now_epoch_seconds, now_rfc3339};
use crate::core::validation::{self, check};
use crate::table::entity::{Entity, IndexKey};
use crate::table::keys::user_partition;
use crate::table::store::{self, AttributeValue, Expr, Index, Key, KeyQuery, Returning, Store};
use crate::table::transaction::{Condition, Transaction, WriteError, commit_retrying};

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
