//! Every Agora Lambda function, in one binary. Each function of `template.yaml` ships
//! this same `bootstrap` and keeps its own role, memory, timeout, events and
//! environment; its `Handler` (which Lambda passes the runtime as `_HANDLER`) names the
//! function this process runs. One binary is one release link of the SDK instead of one
//! per function: `docs/benchmarks/build-and-cold-start.md` has the build times, sizes and
//! cold starts that decided it.
//!
//! Each module only wires its function up (configuration, clients, state) and hands it to
//! `lambda_http::run` or `lambda_runtime::run`; what the function does lives in the
//! `agora` library (`agora::edge`, `agora::reactions` and the contexts).

mod account_jobs;
mod chat;
mod communities;
mod connections;
mod courses;
mod discussions;
mod events;
mod feed;
mod feed_worker;
mod health;
mod moderation;
mod moderation_worker;
mod notifications;
mod notifier;
mod profiles;
mod realtime;
mod scheduler;
mod stream_fanout;
mod topic_views;
mod ws_authorizer;

use agora::telemetry;
use lambda_runtime::Error;

/// The functions this binary runs, by the `Handler` that `template.yaml` gives each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Health,
    Profiles,
    Connections,
    Discussions,
    Feed,
    Notifications,
    Chat,
    Realtime,
    WsAuthorizer,
    StreamFanout,
    Notifier,
    FeedWorker,
    ModerationWorker,
    AccountJobs,
    TopicViews,
    Communities,
    Courses,
    Scheduler,
    Events,
    Moderation,
}

impl Function {
    const ALL: [Function; 20] = [
        Function::Health,
        Function::Profiles,
        Function::Connections,
        Function::Discussions,
        Function::Feed,
        Function::Notifications,
        Function::Chat,
        Function::Realtime,
        Function::WsAuthorizer,
        Function::StreamFanout,
        Function::Notifier,
        Function::FeedWorker,
        Function::ModerationWorker,
        Function::AccountJobs,
        Function::TopicViews,
        Function::Communities,
        Function::Courses,
        Function::Scheduler,
        Function::Events,
        Function::Moderation,
    ];

    /// The `Handler` of this function's resource in `template.yaml`.
    fn handler(self) -> &'static str {
        match self {
            Function::Health => "health",
            Function::Profiles => "profiles",
            Function::Connections => "connections",
            Function::Discussions => "discussions",
            Function::Feed => "feed",
            Function::Notifications => "notifications",
            Function::Chat => "chat",
            Function::Realtime => "realtime",
            Function::WsAuthorizer => "ws-authorizer",
            Function::StreamFanout => "stream-fanout",
            Function::Notifier => "notifier",
            Function::FeedWorker => "feed-worker",
            Function::ModerationWorker => "moderation-worker",
            Function::AccountJobs => "account-jobs",
            Function::TopicViews => "topic-views",
            Function::Communities => "communities",
            Function::Courses => "courses",
            Function::Scheduler => "scheduler",
            Function::Events => "events",
            Function::Moderation => "moderation",
        }
    }

    /// The function a `_HANDLER` value names; the error lists the ones there are.
    fn parse(handler: Option<&str>) -> Result<Function, String> {
        let known = || {
            Function::ALL
                .iter()
                .map(|f| f.handler())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match handler {
            None | Some("") => Err(format!(
                "_HANDLER is not set: set the function's Handler to one of {}",
                known()
            )),
            Some(name) => Function::ALL
                .into_iter()
                .find(|f| f.handler() == name)
                .ok_or_else(|| {
                    format!(
                        "_HANDLER {name:?} names no Agora function: it must be one of {}",
                        known()
                    )
                }),
        }
    }

    async fn run(self) -> Result<(), Error> {
        match self {
            Function::Health => health::run().await,
            Function::Profiles => profiles::run().await,
            Function::Connections => connections::run().await,
            Function::Discussions => discussions::run().await,
            Function::Feed => feed::run().await,
            Function::Notifications => notifications::run().await,
            Function::Chat => chat::run().await,
            Function::Realtime => realtime::run().await,
            Function::WsAuthorizer => ws_authorizer::run().await,
            Function::StreamFanout => stream_fanout::run().await,
            Function::Notifier => notifier::run().await,
            Function::FeedWorker => feed_worker::run().await,
            Function::ModerationWorker => moderation_worker::run().await,
            Function::AccountJobs => account_jobs::run().await,
            Function::TopicViews => topic_views::run().await,
            Function::Communities => communities::run().await,
            Function::Courses => courses::run().await,
            Function::Scheduler => scheduler::run().await,
            Function::Events => events::run().await,
            Function::Moderation => moderation::run().await,
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let handler = std::env::var("_HANDLER").ok();
    let function = Function::parse(handler.as_deref())?;
    function.run().await
}

#[cfg(test)]
mod tests {
    use super::Function;

    #[test]
    fn every_function_is_found_by_its_own_handler() {
        for function in Function::ALL {
            assert_eq!(Function::parse(Some(function.handler())), Ok(function));
        }
    }

    #[test]
    fn an_unknown_handler_is_refused_with_the_list_of_known_ones() {
        let error = Function::parse(Some("bootstrap")).unwrap_err();
        assert!(error.contains("\"bootstrap\""), "{error}");
        assert!(error.contains("stream-fanout"), "{error}");
    }

    #[test]
    fn a_missing_handler_is_refused_with_the_list_of_known_ones() {
        let error = Function::parse(None).unwrap_err();
        assert!(error.contains("_HANDLER is not set"), "{error}");
        assert!(error.contains("ws-authorizer"), "{error}");
    }
}
