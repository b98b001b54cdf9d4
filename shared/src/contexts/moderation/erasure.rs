//! The moderation context keeps no items of its own.

use crate::table::jobs::AccountSteps;

pub const STEPS: AccountSteps = AccountSteps {
    context: "moderation",
    erasure: &[],
    export: &[],
    nothing_because: Some(
        "its jobs live on the moderation queue (user id and profile version only) and its \
         verdict on the profile, which the profiles context erases",
    ),
};
