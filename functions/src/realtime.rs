//! The WebSocket API's function: `$connect`, `$disconnect` and the chat actions (see
//! `agora::edge::realtime`).

use std::sync::Arc;

use agora::edge::realtime::{Realtime, WebSocketEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};

pub async fn run() -> Result<(), Error> {
    let aws = aws_config::load_from_env().await;
    let realtime = Arc::new(Realtime::from_env(&aws)?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<WebSocketEvent>| {
        let realtime = realtime.clone();
        async move { Ok::<_, Error>(realtime.serve(event.payload).await) }
    }))
    .await
}
