//! The graph context keeps no items of its own.

use crate::table::jobs::AccountSteps;

pub const STEPS: AccountSteps = AccountSteps {
    context: "graph",
    erasure: &[],
    export: &[],
    nothing_because: Some(
        "it names and reads the connection, request, pair-lock and block items that the \
         connections context writes, erases and exports",
    ),
};
