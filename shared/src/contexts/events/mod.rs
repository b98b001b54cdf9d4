//! Events: a community's events, one-off or recurring (an RRULE subset: daily, weekly
//! or monthly, with a count or an until date), their occurrences over a range, RSVPs
//! with a capacity and an ordered waitlist, attendee lists for members, reminders the
//! scheduler sends, and ICS calendars. The contract is `docs/events.md`; the items are
//! in `docs/data-model.md`.
//!
//! Items (keys in [`keys`]):
//! - `EVENT#<id> / META` entity "Event": the event and its occurrences' starts (at most
//!   [`MAX_OCCURRENCES`]), on GSI1 `CEVENTS#<communityId>` / `<lastEnd:012>#<id>` (the
//!   community's events that have not ended, by their last end).
//! - `EVENT#<id> / OCC#<occurrence>` entity "EventOccurrence": an occurrence's exact
//!   `going` and `waitlisted` counts and the waitlist's next place.
//! - `EVENT#<id> / RSVP#<occurrence>#<userId>` entity "Rsvp", with its pointer
//!   `USER#<userId> / RSVP#<start:012>#<id>` entity "RsvpOfUser" (my upcoming events).
//! - `EVENT#<id> / WAIT#<occurrence>#<place:010>` entity "WaitlistEntry": the waitlist,
//!   in order (a strongly consistent Query finds its head).
//! - `EVENT#<id> / REMINDER` entity "EventReminder", on GSI3 `EVREMIND` /
//!   `<due:012>#<id>`: the next reminder the scheduler sends.
//! - `EVENTFANOUT#<id>#<occurrence>#<kind> / STEP#<n>` entity "EventFanout": one step of
//!   telling an occurrence's attendees (a reminder, a change, a cancellation), run by
//!   the notifier.

use serde::{Deserialize, Serialize};
use tracing::instrument;
use validator::Validate;

use crate::contexts::communities::{self, Permission, PostAccess};
use crate::core::auth::Principal;
use crate::core::cursor::{CursorCodec, Page, PageKey};
use crate::core::error::{AppError, AppResult, FieldError};
use crate::core::ids::{UserId, new_ulid, now_epoch_seconds, now_rfc3339};
use crate::core::validation::{self, check};
use crate::table::entity::{Entity, IndexKey};
use crate::table::keys::user_partition;
use crate::table::store::{self, AttributeValue, Expr, Index, Key, KeyQuery, Store};
use crate::table::transaction::{Condition, WriteError};

pub mod erasure;

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
