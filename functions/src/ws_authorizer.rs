//! The WebSocket API's `$connect` REQUEST authorizer. Browsers cannot set headers on a
//! WebSocket, so the JWT arrives as the `token` query parameter. A valid token yields an
//! Allow policy whose context carries the user id to every later event of the
//! connection; anything else is "Unauthorized" (API Gateway answers 401). The token of
//! a deleted account is refused too (one GetItem of its tombstone).

use std::sync::Arc;

use agora::auth::{Authenticator, Principal};
use agora::config::{self, JwtConfig, Secrets};
use agora::store::Store;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizerRequest {
    method_arn: Option<String>,
    #[serde(default)]
    query_string_parameters: Option<std::collections::HashMap<String, String>>,
}

pub async fn run() -> Result<(), Error> {
    // The variables are checked before serving; the HS256 key is read from Secrets
    // Manager when the first token needs it (`config::Secret`).
    let table = config::required("TABLE_NAME")?;
    let sdk = aws_config::load_from_env().await;
    let auth = Arc::new(Authenticator::new(JwtConfig::from_env(&Secrets::new(
        &sdk,
    ))?));
    let store = Arc::new(Store::from_sdk_config(&sdk, table));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<AuthorizerRequest>| {
        let (auth, store) = (auth.clone(), store.clone());
        async move { authorize(&auth, &store, event.payload).await }
    }))
    .await
}

async fn authorize(
    auth: &Authenticator,
    store: &Store,
    request: AuthorizerRequest,
) -> Result<Value, Error> {
    let token = request
        .query_string_parameters
        .as_ref()
        .and_then(|q| q.get("token"))
        .map(String::as_str)
        .unwrap_or_default();
    let verified = match auth.verify(token).await {
        Ok(principal) => admitted(store, &principal)
            .await
            .map(|()| principal)
            .map_err(|e| e.to_string()),
        Err(error) => Err(error.to_string()),
    };
    match verified {
        Ok(principal) => Ok(allow(
            &principal,
            request.method_arn.as_deref().unwrap_or("*"),
        )),
        Err(error) => {
            tracing::info!(%error, "websocket connect refused");
            // This exact message makes API Gateway answer 401 rather than 500.
            Err("Unauthorized".into())
        }
    }
}

fn allow(principal: &Principal, method_arn: &str) -> Value {
    json!({
        "principalId": principal.user_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{
                "Action": "execute-api:Invoke",
                "Effect": "Allow",
                "Resource": method_arn,
            }]
        },
        // Context values must be strings, numbers or booleans.
        "context": {
            "userId": principal.user_id,
            "roles": principal.roles.join(","),
            // The realtime function closes the socket once the token has expired.
            "tokenExpiresAt": principal.expires_at,
        }
    })
}

/// A deleted account's tokens, and a suspended or banned account, do not connect: one
/// BatchGetItem of the tombstone and the standing.
async fn admitted(store: &Store, principal: &Principal) -> Result<(), agora::AppError> {
    let tombstone = agora::account::erasure::tombstone_key(principal);
    let standing = agora::contexts::moderation::standing_key(&principal.user_id);
    let mut found = store
        .batch_get_each(&[tombstone, standing])
        .await?
        .into_iter();
    let (tombstone, standing) = (found.next().flatten(), found.next().flatten());
    agora::account::erasure::check_token_on(tombstone, principal)?;
    let standing: Option<agora::contexts::moderation::AccountStanding> =
        standing.map(agora::store::from_item).transpose()?;
    agora::contexts::moderation::judge_action(
        standing.as_ref(),
        &agora::ids::now_rfc3339(),
        "connect",
    )
}
