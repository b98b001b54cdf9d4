//! Works the topic-views queue: a batch's views are added to each topic in one write
//! (`agora::edge::views`), and the views of a topic whose write failed are reported
//! (`ReportBatchItemFailures`) and come back alone.

use std::sync::Arc;

use agora::store::Store;
use agora::{config, edge};
use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};

pub async fn run() -> Result<(), lambda_runtime::Error> {
    let table = config::required("TABLE_NAME")?;
    let store = Arc::new(Store::from_environment(table).await);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let store = store.clone();
        async move {
            Ok::<_, lambda_runtime::Error>(edge::views::count(&store, &event.payload).await)
        }
    }))
    .await
}
