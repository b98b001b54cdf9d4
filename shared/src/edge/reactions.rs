//! The contexts' reactions to the table's stream, and the two registries that the
//! stream's two readers run (see [`crate::table::stream`]):
//!
//! - the **fan-out function** ([`fanout`]): projections and fan-out — profile indexes
//!   and moderation enqueue, discussion counters, feed generation and fan-out, chat
//!   delivery, trust stats;
//! - the **notification function** ([`notification`]): the notifier.
//!
//! A new context adds a reaction to a registry (and its entities to that function's
//! `FilterCriteria` in `template.yaml`), not a function or an event-source mapping.

use crate::contexts::chat::reactions as chat;
use crate::contexts::communities::reactions as communities;
use crate::contexts::connections::reactions as connections;
use crate::contexts::discussions::reactions as discussions;
use crate::contexts::feed::reactions as feed;
use crate::contexts::notifications::reactions as notifier;
use crate::contexts::profiles::reactions as profiles;
use crate::contexts::trust::reactions as trust;

use crate::contexts::feed::{DeliveryQueue, FanoutSettings};
use crate::contexts::moderation::Screened;
use crate::contexts::moderation::reactions::ScreeningRequests;
use crate::contexts::realtime::push::Pusher;
use crate::core::config::{self, ConfigError};
use crate::table::store::Store;
use crate::table::stream::Reaction;

pub use chat::ChatDelivery;
pub use communities::CommunityCleanup;
pub use connections::SuggestionRefresh;
pub use discussions::DiscussionCounters;
pub use feed::FeedFanout;
pub use notifier::Notifier;
pub use profiles::ProfileProjections;
pub use trust::TrustKeeper;

/// Every item type whose text moderation screens (besides profiles, which keep their
/// own versioned verdict).
pub static SCREENED: std::sync::LazyLock<Vec<Screened>> = std::sync::LazyLock::new(|| {
    [
        crate::contexts::discussions::SCREENED,
        crate::contexts::chat::SCREENED,
        crate::contexts::feed::SCREENED,
        crate::contexts::communities::SCREENED,
    ]
    .concat()
});

/// Every item type that can be reported and reviewed: the screened ones and profiles
/// (which the classifier checks by version instead).
pub static REPORTABLE: std::sync::LazyLock<Vec<Screened>> = std::sync::LazyLock::new(|| {
    [SCREENED.as_slice(), crate::contexts::profiles::REPORTABLE].concat()
});

/// The entities of [`SCREENED`].
pub static SCREENED_ENTITIES: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| SCREENED.iter().map(|s| s.entity).collect());

/// The fan-out function's configuration, read once at cold start.
#[derive(Debug, Clone)]
pub struct FanoutConfig {
    pub table_name: String,
    /// Where profile changes and every other text queue their moderation.
    pub moderation_queue_url: String,
    /// Where feed fan-outs queue their deliveries (the feed worker's queue).
    pub feed_fanout_queue_url: String,
    pub feed: FanoutSettings,
}

impl FanoutConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: config::required("TABLE_NAME")?,
            moderation_queue_url: config::required("MODERATION_QUEUE_URL")?,
            feed_fanout_queue_url: config::required("FEED_FANOUT_QUEUE_URL")?,
            feed: FanoutSettings {
                page_size: config::optional_number("FEED_FANOUT_PAGE_SIZE", 200)?,
                max_pages_per_invocation: config::optional_number(
                    "FEED_FANOUT_PAGES_PER_INVOCATION",
                    4,
                )?,
            },
        })
    }
}

/// The fan-out function's reactions; they run concurrently on each batch.
pub fn fanout(
    store: &Store,
    sqs: &aws_sdk_sqs::Client,
    pusher: &Pusher,
    config: &FanoutConfig,
) -> Vec<Box<dyn Reaction>> {
    vec![
        Box::new(ProfileProjections::new(
            store.clone(),
            sqs.clone(),
            config.moderation_queue_url.clone(),
        )),
        Box::new(DiscussionCounters::new(store.clone())),
        Box::new(ScreeningRequests::new(
            sqs.clone(),
            config.moderation_queue_url.clone(),
            &SCREENED,
            &SCREENED_ENTITIES,
        )),
        Box::new(FeedFanout::new(
            store.clone(),
            DeliveryQueue::new(sqs.clone(), config.feed_fanout_queue_url.clone()),
            config.feed,
        )),
        Box::new(ChatDelivery::new(store.clone(), pusher.clone())),
        Box::new(SuggestionRefresh::new(store.clone())),
        Box::new(feed::LikeTally::new(store.clone())),
        Box::new(CommunityCleanup::new(store.clone())),
        Box::new(chat::ChannelMembership::new(store.clone())),
        Box::new(communities::CourseAccess::new(store.clone())),
        Box::new(TrustKeeper::new(store.clone())),
    ]
}

/// The notification function's reactions.
pub fn notification(store: &Store, pusher: &Pusher) -> Vec<Box<dyn Reaction>> {
    vec![Box::new(Notifier::new(store.clone(), pusher.clone()))]
}

/// The entities the fan-out function's reactions declare.
pub fn fanout_entities() -> Vec<&'static str> {
    [
        profiles::ENTITIES,
        discussions::ENTITIES,
        feed::ENTITIES,
        feed::TALLY_ENTITIES,
        chat::ENTITIES,
        chat::CHANNEL_ENTITIES,
        connections::ENTITIES,
        communities::ENTITIES,
        communities::COURSE_ACCESS_ENTITIES,
        &SCREENED_ENTITIES,
        trust::ENTITIES,
    ]
    .concat()
}

/// The entities the notification function's reactions declare.
pub fn notification_entities() -> Vec<&'static str> {
    notifier::ENTITIES.to_vec()
}
