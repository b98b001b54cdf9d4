//! Connections between users and blocks: requests, accepting, removing, blocking,
//! listings with profiles and suggestions. The keys and reads of the graph itself
//! (who is connected to whom, who blocks whom) live in `graph`; they are re-exported
//! here for the functions.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use validator::Validate;

use crate::contexts::profiles::{self, Handle, ProfileView};
use crate::core::cursor::{CursorCodec, Page};
use crate::core::error::{AppError, AppResult};
use crate::core::ids::{UserId, now_epoch_millis, now_rfc3339};
use crate::core::validation::{self, check};
use crate::table::entity::Entity;
use crate::table::keys::user_partition;
use crate::table::store::{self, AttributeValue, Expr, Key, KeyQuery, Store};
use crate::table::transaction::{Condition, Transaction};

pub mod erasure;

pub mod reactions;

pub use crate::contexts::graph::{
    Relationship, blocked_among, blocked_between, connection_ids_page, keys, relationship, sort_key,
};

/// Bounds that keep a suggestions request a constant number of small reads, whatever
/// the size of the network: index pages read per attribute, how many of my skills and
/// goals are looked up, how many of my connections' networks are read for mutual
/// connections, and how many candidates are checked and scored.
pub mod suggestion_bounds {
    pub const INDEX_PAGE: u32 = 50;
    pub const SKILLS: usize = 10;
    pub const GOALS: usize = 5;
    pub const MUTUAL_SOURCES: u32 = 20;
    pub const MUTUAL_PAGE: u32 = 50;
    pub const CANDIDATES: usize = 100;
    pub const MAX_RESULTS: u32 = 50;
}

/// Score weights: a mutual connection is the strongest sign of knowing someone.
pub mod suggestion_weights {
    pub const MUTUAL_CONNECTION: u32 = 4;
    pub const SHARED_SKILL: u32 = 2;
    pub const SAME_LEARNING_GOAL: u32 = 3;
    pub const SAME_OCCUPATION: u32 = 2;
}

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
