//! The realtime context's part of account erasure: my WebSocket connection records
//! (the chat context's `subscriptions` step has usually forgotten them already).

use crate::contexts::realtime;
use crate::table::jobs::{self, AccountSteps, ErasureStep};
use crate::table::keys::user_partition;

pub const STEPS: AccountSteps = AccountSteps {
    context: "realtime",
    erasure: &[ErasureStep {
        name: "connections",
        run: |store, me, cursor, limit| {
            Box::pin(async move {
                jobs::drain(
                    store,
                    &user_partition(me),
                    &["WSCONN#"],
                    cursor,
                    limit,
                    |item| async move {
                        Ok(jobs::attr(&item, "SK")
                            .and_then(realtime::owned_elsewhere)
                            .into_iter()
                            .collect())
                    },
                )
                .await
            })
        },
    }],
    // Open connections are operational records, not something I wrote.
    export: &[],
    nothing_because: None,
};
