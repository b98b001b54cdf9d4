//! Arranging what a test starts from: people who are connected or blocked, written
//! straight into the table in the shapes of the shared item contract, or made through
//! the connections API.

use serde_json::{Value, json};

use crate::TestStack;

/// A handle no other test uses: `prefix`, an underscore and ten random characters.
pub fn unique_handle(prefix: &str) -> String {
    let suffix = ulid::Ulid::new().to_string().to_lowercase();
    format!("{prefix}_{}", &suffix[suffix.len() - 10..])
}

/// The item `user`'s side of an accepted connection with `other` is stored as
/// (`USER#<user>` / `CONN#<other>`).
pub fn connection_item(user: &str, other: &str, requested_by: &str, created_at: &str) -> Value {
    json!({
        "PK": format!("USER#{user}"), "SK": format!("CONN#{other}"), "entity": "Connection",
        "userId": user, "otherUserId": other, "requestedBy": requested_by, "createdAt": created_at,
    })
}

/// The two items a block is stored as: the blocker's `Block` and its `BlockedBy` mirror
/// on the blocked user's side.
pub fn block_items(blocker: &str, blocked: &str, created_at: &str) -> [Value; 2] {
    [
        json!({
            "PK": format!("USER#{blocker}"), "SK": format!("BLOCK#{blocked}"), "entity": "Block",
            "blockerId": blocker, "blockedId": blocked, "createdAt": created_at,
        }),
        json!({
            "PK": format!("USER#{blocked}"), "SK": format!("BLOCKEDBY#{blocker}"),
            "entity": "BlockedBy", "blockerId": blocker, "blockedId": blocked,
            "createdAt": created_at,
        }),
    ]
}

// Communities.

/// A slug no other test uses.
pub fn unique_slug(prefix: &str) -> String {
    let suffix = ulid::Ulid::new().to_string().to_lowercase();
    format!("{prefix}-{}", &suffix[suffix.len() - 10..])
}

/// `owner` creates a community of `kind`; `extra` overrides or adds fields. Returns it.
pub async fn community(
    stack: &TestStack,
    owner: &str,
    kind: &str,
    extra: Value,
) -> anyhow::Result<Value> {
    let mut body = json!({
        "name": format!("{kind} circle {}", ulid::Ulid::new()),
        "slug": unique_slug(kind),
        "kind": kind,
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    stack.post_created("/v1/communities", owner, body).await
}

pub fn id_of(community: &Value) -> String {
    community["communityId"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// `moderator` makes an invite link of `community` and returns its code.
pub async fn invite(stack: &TestStack, community: &str, moderator: &str) -> anyhow::Result<String> {
    let invite = stack
        .post_created(
            &format!("/v1/communities/{community}/invites"),
            moderator,
            json!({}),
        )
        .await?;
    Ok(invite["code"].as_str().unwrap_or_default().to_owned())
}

/// `user` accepts the invite `code`; fails unless they become a member.
pub async fn accept(stack: &TestStack, code: &str, user: &str) -> anyhow::Result<()> {
    let accepted = stack
        .post(&format!("/v1/invites/{code}/accept"), user, json!({}))
        .await?;
    anyhow::ensure!(accepted.status == 201, "accept failed: {accepted:?}");
    Ok(())
}

/// `by` gives `user` `role` in `community`; fails unless it worked.
pub async fn give_role(
    stack: &TestStack,
    community: &str,
    by: &str,
    user: &str,
    role: &str,
) -> anyhow::Result<()> {
    let changed = stack
        .put(
            &format!("/v1/communities/{community}/members/{user}/role"),
            by,
            json!({"role": role}),
        )
        .await?;
    anyhow::ensure!(changed.status == 200, "role change failed: {changed:?}");
    Ok(())
}

impl TestStack {
    /// Makes `users` members of `community` by writing their member items straight into
    /// the table (no API, no mirrors, no member count): arranging large communities.
    pub async fn add_members_directly(
        &self,
        community: &str,
        users: &[String],
    ) -> anyhow::Result<()> {
        let at = agora::ids::now_rfc3339();
        let items: Vec<Value> = users
            .iter()
            .map(|user| {
                json!({"PK": format!("COMMUNITY#{community}"), "SK": format!("MEMBER#{user}"),
                    "entity": "CommunityMember", "communityId": community, "userId": user,
                    "role": "member", "joinedAt": at})
            })
            .collect();
        self.put_items(&items).await
    }

    /// Makes `a` and `b` connected, as if `b` had accepted a request from `a`, by writing
    /// both sides of the connection straight into the table (no connections API).
    pub async fn connect_directly(&self, a: &str, b: &str) -> anyhow::Result<()> {
        let at = agora::ids::now_rfc3339();
        self.put_items(&[connection_item(a, b, a, &at), connection_item(b, a, a, &at)])
            .await
    }

    /// Makes `blocker` block `blocked` by writing both block items straight into the
    /// table (no connections API).
    pub async fn block_directly(&self, blocker: &str, blocked: &str) -> anyhow::Result<()> {
        self.put_items(&block_items(blocker, blocked, &agora::ids::now_rfc3339()))
            .await
    }

    /// Makes `a` and `b` connected through the connections API: `a` sends a request and
    /// `b` accepts it. Fails unless both succeed.
    pub async fn connect_through_the_api(&self, a: &str, b: &str) -> anyhow::Result<()> {
        let sent = self
            .post("/v1/connections/requests", a, json!({"userId": b}))
            .await?;
        anyhow::ensure!(sent.status == 201, "request failed: {sent:?}");
        let accepted = self
            .post(
                &format!("/v1/connections/requests/{a}/accept"),
                b,
                json!({}),
            )
            .await?;
        anyhow::ensure!(accepted.status == 200, "accept failed: {accepted:?}");
        Ok(())
    }
}
