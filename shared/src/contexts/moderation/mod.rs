//! Moderation: jobs on the moderation queue and the text check they run.
//!
//! The word lists and the false-positive handling come from `rustrict`, a maintained
//! profanity/abuse filter, rather than a hand-kept list.

use rustrict::{Censor, Type};
use serde::{Deserialize, Serialize};

use crate::core::ids::UserId;

pub mod erasure;

mod items;
mod rules;

pub use items::*;
pub use rules::*;
