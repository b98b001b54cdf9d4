//! The discussions context's part of account erasure and export: my topics and replies
//! (wiped in place, author erased, so others' threads keep their shape), their edit
//! history, their tag index items, my reactions, and my id as the reviewer of topics I
//! approved or rejected as a community moderator.

use crate::contexts::discussions::{self, keys};
use crate::core::error::AppResult;
use crate::core::ids::UserId;
use crate::table::jobs::{
    self, AccountSteps, Chunk, ERASED_USER, ErasureStep, ExportChunk, ExportStep,
};
use crate::table::keys::user_partition;
use crate::table::store::{Expr, Key, KeyQuery, Store};

const PREFIXES: &[&str] = &["TOPIC#", "REPLY#", "REACT#"];

/// What erasure drains: the above, and the topics I reviewed as a community moderator.
const ERASED: &[&str] = &["TOPIC#", "REPLY#", "REACT#", "REVIEWED#"];

pub const STEPS: AccountSteps = AccountSteps {
    context: "discussions",
    erasure: &[ErasureStep {
        name: "topicsRepliesReactions",
        run: |store, me, cursor, limit| Box::pin(erase(store, me, cursor, limit)),
    }],
    export: &[ExportStep {
        name: "topicsRepliesReactions",
        run: |store, me, cursor, limit| Box::pin(export(store, me, cursor, limit)),
    }],
    nothing_because: None,
};

async fn erase(store: &Store, me: &UserId, cursor: Option<String>, limit: u32) -> AppResult<Chunk> {
    jobs::drain(
        store,
        &user_partition(me),
        ERASED,
        cursor,
        limit,
        |item| async move {
            if let Some(sk) = jobs::attr(&item, "SK") {
                discussions::erase_for_account(store, me, sk).await?;
                anonymize_around(store, me, sk).await?;
            }
            Ok(Vec::<Key>::new())
        },
    )
    .await
}

/// My topics, replies and reactions as stored (with their text), not the pointers.
async fn export(
    store: &Store,
    me: &UserId,
    cursor: Option<String>,
    limit: u32,
) -> AppResult<ExportChunk> {
    jobs::export_pointed(store, &user_partition(me), PREFIXES, cursor, limit, |sk| {
        if let Some(topic_id) = sk.strip_prefix("TOPIC#") {
            Some(keys::topic(topic_id))
        } else if let Some((topic_id, reply_id)) =
            sk.strip_prefix("REPLY#").and_then(|r| r.split_once('#'))
        {
            Some(keys::reply(topic_id, reply_id))
        } else {
            let (topic_id, target_id) = sk.strip_prefix("REACT#")?.split_once('#')?;
            Some(keys::reaction(topic_id, target_id, me))
        }
    })
    .await
}

/// Others' items that name me because of my topic or reply: replies in my topic
/// (`topicAuthorId`), replies to my reply (`parentAuthorId`, their paths extend mine),
/// reactions to my topic or reply (`targetAuthorId`), and the accepted answer of a topic
/// when it is my reply (`acceptedReplyAuthorId`). My id becomes `~erased` in each.
async fn anonymize_around(store: &Store, me: &UserId, sort_key: &str) -> AppResult<()> {
    let in_topic = |topic_id: &str, prefix: String| {
        KeyQuery::partition(keys::topic_partition(topic_id))
            .prefix(prefix)
            .limit(100)
    };
    if let Some(topic_id) = sort_key.strip_prefix("REVIEWED#") {
        store
            .update_where(
                &keys::topic(topic_id),
                Expr::new("SET reviewedBy = :nobody").value(":nobody", jobs::text(ERASED_USER)),
                Expr::new("reviewedBy = :me").value(":me", jobs::text(me.as_str())),
            )
            .await?;
    } else if let Some(topic_id) = sort_key.strip_prefix("TOPIC#") {
        let replies = in_topic(topic_id, keys::REPLY_PREFIX.to_owned());
        jobs::anonymize_matching(store, replies, &["topicAuthorId", "parentAuthorId"], me).await?;
        let reactions = in_topic(topic_id, format!("REACT#{topic_id}#"));
        jobs::anonymize_matching(store, reactions, &["targetAuthorId"], me).await?;
    } else if let Some((topic_id, reply_id)) = sort_key
        .strip_prefix("REPLY#")
        .and_then(|rest| rest.split_once('#'))
    {
        let children = in_topic(topic_id, format!("REPLY#{reply_id}-"));
        jobs::anonymize_matching(store, children, &["parentAuthorId"], me).await?;
        let reactions = in_topic(topic_id, format!("REACT#{reply_id}#"));
        jobs::anonymize_matching(store, reactions, &["targetAuthorId"], me).await?;
        store
            .update_where(
                &keys::topic(topic_id),
                Expr::new("SET acceptedReplyAuthorId = :nobody")
                    .value(":nobody", jobs::text(ERASED_USER)),
                Expr::new("acceptedReplyId = :reply AND acceptedReplyAuthorId = :me")
                    .value(":reply", jobs::text(reply_id))
                    .value(":me", jobs::text(me.as_str())),
            )
            .await?;
    }
    Ok(())
}
