//! The moderation context's part of account erasure and export: the review items of
//! what I wrote (my moderation history, found on GSI2 `MODHIST#<me>`), and, for a
//! moderator, the decisions I made (GSI3 `MODBY#<me>`: they stay, made by `~erased`),
//! the reports I made (GSI2 `MODREPORTS#<me>`: deleted; the items' tallies, which
//! name nobody, stay), and the audit log's entries by me (GSI1 `AUDITBY#<me>`) and
//! about me (GSI2 `AUDITON#<me>`): they stay, naming `~erased`; my appeals (GSI2
//! `APPEALS#<me>`: deleted) and the appeals I decided (GSI3 `APPEALBY#<me>`: they stay,
//! decided by `~erased`); my standing (deleted), and the standings whose last action I
//! took (GSI3 `STANDINGBY#<me>`: `lastAction.by` becomes `~erased`); the words
//! restricted for me and my burst counters (`USER#<me>/RESTRICTED`, `BURST#…`: deleted).
//! Profile jobs carry a user id and a version only; verdicts live on the items, which
//! their own contexts erase.

use crate::contexts::moderation::{
    BURST_PREFIX, WordsScope, appeals_partition, audit_by_partition, audit_on_partition,
    decisions_partition, history_partition, reports_partition, standing_key,
};
use crate::core::error::AppResult;
use crate::core::ids::UserId;
use crate::table::jobs::{self, AccountSteps, Chunk, ERASED_USER, ErasureStep, ExportStep, Next};
use crate::table::store::{Expr, Index, Key, KeyQuery, Store};

/// An export step of everything `$query(me, limit)` finds, page by page.
macro_rules! export_all {
    ($name:literal, $query:ident) => {
        ExportStep {
            name: $name,
            run: |store, me, cursor, limit| {
                Box::pin(async move {
                    jobs::export_page(store, $query(me, limit), cursor, |_| true).await
                })
            },
        }
    };
}

pub const STEPS: AccountSteps = AccountSteps {
    context: "moderation",
    erasure: &[
        ErasureStep {
            name: "review-items",
            run: |store, me, _cursor, limit| Box::pin(erase_page(store, history(me, limit))),
        },
        ErasureStep {
            name: "decisions-made",
            run: |store, me, _cursor, limit| Box::pin(forget_decisions(store, me, limit)),
        },
        ErasureStep {
            name: "reports-made",
            run: |store, me, _cursor, limit| Box::pin(erase_page(store, reports(me, limit))),
        },
        ErasureStep {
            name: "audit-by-me",
            run: |store, me, _cursor, limit| {
                Box::pin(forget_in(store, me, audit_by(me, limit), &["actorId"]))
            },
        },
        ErasureStep {
            name: "audit-about-me",
            run: |store, me, _cursor, limit| {
                Box::pin(forget_in(store, me, audit_about(me, limit), &["userId"]))
            },
        },
        ErasureStep {
            name: "standing",
            run: |store, me, _cursor, limit| Box::pin(erase_page(store, standing(me, limit))),
        },
        ErasureStep {
            name: "restricted-words",
            run: |store, me, _cursor, limit| Box::pin(erase_page(store, my_words(me, limit))),
        },
        ErasureStep {
            name: "bursts",
            run: |store, me, _cursor, limit| Box::pin(erase_page(store, bursts(me, limit))),
        },
        ErasureStep {
            name: "standings-acted-on",
            run: |store, me, _cursor, limit| {
                Box::pin(forget_in(
                    store,
                    me,
                    standings_acted_on(me, limit),
                    &["lastAction", "by"],
                ))
            },
        },
        ErasureStep {
            name: "appeals-made",
            run: |store, me, _cursor, limit| Box::pin(erase_page(store, appeals(me, limit))),
        },
        ErasureStep {
            name: "appeals-decided",
            run: |store, me, _cursor, limit| {
                Box::pin(forget_in(
                    store,
                    me,
                    appeals_decided(me, limit),
                    &["decision", "decidedBy"],
                ))
            },
        },
    ],
    export: &[
        export_all!("review-items", history),
        export_all!("decisions-made", decisions),
        export_all!("reports-made", reports),
        export_all!("audit-by-me", audit_by),
        export_all!("audit-about-me", audit_about),
        export_all!("standing", standing),
        export_all!("restricted-words", my_words),
        export_all!("standings-acted-on", standings_acted_on),
        export_all!("appeals-made", appeals),
        export_all!("appeals-decided", appeals_decided),
    ],
    nothing_because: None,
};

fn history(me: &UserId, limit: u32) -> KeyQuery {
    KeyQuery::partition(history_partition(me))
        .on(Index::Gsi2)
        .limit(limit.clamp(1, 100))
}

fn audit_by(me: &UserId, limit: u32) -> KeyQuery {
    KeyQuery::partition(audit_by_partition(me.as_str()))
        .on(Index::Gsi1)
        .limit(limit.clamp(1, 100))
}

fn audit_about(me: &UserId, limit: u32) -> KeyQuery {
    KeyQuery::partition(audit_on_partition(me))
        .on(Index::Gsi2)
        .limit(limit.clamp(1, 100))
}

/// My standing (`USER#<me>/STANDING`): deleted with me (a banned account may delete
/// itself too).
fn standing(me: &UserId, limit: u32) -> KeyQuery {
    KeyQuery::partition(standing_key(me).pk)
        .prefix("STANDING")
        .limit(limit.clamp(1, 100))
}

/// The words restricted for me (`USER#<me>/RESTRICTED`): deleted with me.
fn my_words(me: &UserId, limit: u32) -> KeyQuery {
    let key = WordsScope::User(me).key();
    KeyQuery::partition(key.pk)
        .prefix(key.sk)
        .limit(limit.clamp(1, 100))
}

/// My burst counters (`USER#<me>/BURST#<minute>`), deleted with me before their TTL.
fn bursts(me: &UserId, limit: u32) -> KeyQuery {
    KeyQuery::partition(crate::table::keys::user_partition(me))
        .prefix(BURST_PREFIX)
        .limit(limit.clamp(1, 100))
}

fn standings_acted_on(me: &UserId, limit: u32) -> KeyQuery {
    KeyQuery::partition(format!("STANDINGBY#{me}"))
        .on(Index::Gsi3)
        .limit(limit.clamp(1, 100))
}

fn appeals(me: &UserId, limit: u32) -> KeyQuery {
    KeyQuery::partition(appeals_partition(me))
        .on(Index::Gsi2)
        .limit(limit.clamp(1, 100))
}

fn appeals_decided(me: &UserId, limit: u32) -> KeyQuery {
    KeyQuery::partition(format!("APPEALBY#{me}"))
        .on(Index::Gsi3)
        .limit(limit.clamp(1, 100))
}

/// The items `query` finds (a page of my GSI partition) stay, with the attribute at
/// `path` naming `~erased`; they leave my partition (one UpdateItem each, under the
/// condition that they still name me).
async fn forget_in(store: &Store, me: &UserId, query: KeyQuery, path: &[&str]) -> AppResult<Chunk> {
    let placeholders: Vec<String> = (0..path.len()).map(|i| format!("#a{i}")).collect();
    let attribute = placeholders.join(".");
    let page = query.limit;
    let index = match query.index {
        Some(index) => index,
        None => Index::Gsi1,
    };
    let (items, _) = store.query(&query).await?;
    for key in items.iter().filter_map(jobs::key_of) {
        store
            .update_where(
                &key,
                named(
                    Expr::new(format!(
                        "SET {attribute} = :nobody REMOVE {}, {}",
                        index.pk(),
                        index.sk()
                    )),
                    path,
                )
                .value(":nobody", jobs::text(ERASED_USER)),
                named(Expr::new(format!("{attribute} = :me")), path)
                    .value(":me", jobs::text(me.as_str())),
            )
            .await?;
    }
    Ok(after_page(items.len(), page))
}

/// `expr` with `#a0`, `#a1`, … bound to the names of `path`.
fn named(expr: Expr, path: &[&str]) -> Expr {
    path.iter()
        .enumerate()
        .fold(expr, |expr, (i, name)| expr.name(format!("#a{i}"), *name))
}

fn reports(me: &UserId, limit: u32) -> KeyQuery {
    KeyQuery::partition(reports_partition(me))
        .on(Index::Gsi2)
        .limit(limit.clamp(1, 100))
}

fn decisions(me: &UserId, limit: u32) -> KeyQuery {
    KeyQuery::partition(decisions_partition(me))
        .on(Index::Gsi3)
        .limit(limit.clamp(1, 100))
}

/// The decisions I made stay, made by `~erased`: for a page of them (one Query of
/// GSI3), the item's verdict and the review item forget me (one UpdateItem each, under
/// the condition that they still name me), and the review item leaves my GSI3
/// partition.
async fn forget_decisions(store: &Store, me: &UserId, limit: u32) -> AppResult<Chunk> {
    let query = decisions(me, limit);
    let page = query.limit;
    let (items, _) = store.query(&query).await?;
    let nobody = jobs::text(ERASED_USER);
    let mine =
        |path: &str| Expr::new(format!("{path} = :me")).value(":me", jobs::text(me.as_str()));
    for item in &items {
        let subject = item.get("subject").and_then(|s| s.as_m().ok());
        let field = |name: &str| subject.and_then(|s| s.get(name)?.as_s().ok()).cloned();
        if let (Some(pk), Some(sk)) = (field("pk"), field("sk")) {
            store
                .update_where(
                    &Key::new(pk, sk),
                    Expr::new("SET screening.reviewedBy = :nobody")
                        .value(":nobody", nobody.clone()),
                    mine("screening.reviewedBy"),
                )
                .await?;
        }
        if let Some(key) = jobs::key_of(item) {
            store
                .update_where(
                    &key,
                    Expr::new("SET decision.decidedBy = :nobody REMOVE GSI3PK, GSI3SK")
                        .value(":nobody", nobody.clone()),
                    mine("decision.decidedBy"),
                )
                .await?;
        }
    }
    Ok(after_page(items.len(), page))
}

/// Deletes a page of what `query` finds (one Query, then one DeleteItem each): done
/// when the page was not full.
async fn erase_page(store: &Store, query: KeyQuery) -> AppResult<Chunk> {
    let page = query.limit;
    let (items, _) = store.query(&query).await?;
    for key in items.iter().filter_map(jobs::key_of) {
        store.delete(&key).await?;
    }
    Ok(after_page(items.len(), page))
}

/// A step's chunk after a page of `read` items (of at most `page`) left its GSI
/// partition: done when the page was not full, else continue from the start.
fn after_page(read: usize, page: u32) -> Chunk {
    let work = u32::try_from(read).unwrap_or(u32::MAX);
    if read < page as usize {
        return Chunk::done(work);
    }
    Chunk {
        work,
        next: Next::Continue(None),
    }
}
