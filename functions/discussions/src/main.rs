//! The discussions endpoint group: a thin adapter from HTTP to `agora::discussions`.

use agora::auth::Principal;
use agora::config::ApiConfig;
use agora::cursor::parse_limit;
use agora::discussions::{
    self, AcceptInput, NewCategory, NewReply, NewTopic, PinInput, ReactionInput, ReplyPatch,
    TopicPatch, TopicQuery,
};
use agora::edge::{self, Api, HttpRequest, HttpResponse, match_path};
use agora::{AppError, AppResult, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let api = Api::new(&ApiConfig::from_env()?).await;
    edge::run_api(api, route, serve).await
}

/// The routes of this group; the template maps the same paths to this function.
enum Route {
    Categories,
    Topics,
    Topic(String),
    TopicHistory(String),
    Replies(String),
    Reply(String, String),
    ReplyHistory(String, String),
    Reaction(String, String),
    AcceptedAnswer(String),
    Pin(String),
}

fn route(path: &str) -> Option<Route> {
    let one =
        |template: &str, name: &str| match_path(template, path).and_then(|p| p.get(name).cloned());
    let two = |template: &str, a: &str, b: &str| {
        match_path(template, path).and_then(|p| Some((p.get(a)?.clone(), p.get(b)?.clone())))
    };
    match path.trim_end_matches('/') {
        "/v1/categories" => return Some(Route::Categories),
        "/v1/topics" => return Some(Route::Topics),
        _ => {}
    }
    if let Some(t) = one("/v1/topics/{topicId}", "topicId") {
        return Some(Route::Topic(t));
    }
    if let Some(t) = one("/v1/topics/{topicId}/history", "topicId") {
        return Some(Route::TopicHistory(t));
    }
    if let Some(t) = one("/v1/topics/{topicId}/replies", "topicId") {
        return Some(Route::Replies(t));
    }
    if let Some(t) = one("/v1/topics/{topicId}/accepted-answer", "topicId") {
        return Some(Route::AcceptedAnswer(t));
    }
    if let Some(t) = one("/v1/topics/{topicId}/pin", "topicId") {
        return Some(Route::Pin(t));
    }
    if let Some((t, r)) = two(
        "/v1/topics/{topicId}/replies/{replyId}",
        "topicId",
        "replyId",
    ) {
        return Some(Route::Reply(t, r));
    }
    if let Some((t, r)) = two(
        "/v1/topics/{topicId}/replies/{replyId}/history",
        "topicId",
        "replyId",
    ) {
        return Some(Route::ReplyHistory(t, r));
    }
    if let Some((t, r)) = two(
        "/v1/topics/{topicId}/reactions/{targetId}",
        "topicId",
        "targetId",
    ) {
        return Some(Route::Reaction(t, r));
    }
    None
}

fn page_params(request: &HttpRequest) -> AppResult<(u32, Option<&str>)> {
    Ok((
        parse_limit(request.query_param("limit"))?,
        request.query_param("cursor"),
    ))
}

async fn serve(
    api: &Api,
    principal: &Principal,
    route: Route,
    request: &HttpRequest,
) -> AppResult<HttpResponse> {
    let (store, cursors) = (&api.store, &api.cursors);
    let me = &principal.user_id;
    match (route, request.method.as_str()) {
        (Route::Categories, "POST") => {
            let input: NewCategory = request.json()?;
            let category = discussions::create_category(store, principal, input).await?;
            HttpResponse::json(201, &category)
        }
        (Route::Categories, "GET") => {
            let (limit, cursor) = page_params(request)?;
            let page = discussions::list_categories(store, cursors, limit, cursor).await?;
            HttpResponse::json(200, &page)
        }
        (Route::Categories, _) => Err(AppError::MethodNotAllowed("GET, POST".into())),
        (Route::Topics, "POST") => {
            let input: NewTopic = request.json()?;
            let topic = discussions::create_topic(store, me, input).await?;
            Ok(HttpResponse::json(201, &topic)?
                .with_header("location", format!("/v1/topics/{}", topic.topic_id)))
        }
        (Route::Topics, "GET") => {
            let query = TopicQuery::parse(
                request.query_param("category"),
                request.query_param("tag"),
                request.query_param("author"),
                request.query_param("sort"),
                request.query_param("solved"),
            )?;
            let (limit, cursor) = page_params(request)?;
            let page = discussions::list_topics(store, cursors, me, &query, limit, cursor).await?;
            HttpResponse::json(200, &page)
        }
        (Route::Topics, _) => Err(AppError::MethodNotAllowed("GET, POST".into())),
        (Route::Topic(topic_id), "GET") => {
            let (limit, _) = page_params(request)?;
            let view = discussions::view_topic(store, cursors, me, &topic_id, limit).await?;
            HttpResponse::json(200, &view)
        }
        (Route::Topic(topic_id), "PATCH") => {
            let patch: TopicPatch = request.json()?;
            let topic = discussions::edit_topic(store, me, &topic_id, patch).await?;
            HttpResponse::json(200, &topic)
        }
        (Route::Topic(topic_id), "DELETE") => {
            discussions::delete_topic(store, principal, &topic_id).await?;
            Ok(HttpResponse::no_content())
        }
        (Route::Topic(_), _) => Err(AppError::MethodNotAllowed("GET, PATCH, DELETE".into())),
        (Route::TopicHistory(topic_id), "GET") => {
            let (limit, cursor) = page_params(request)?;
            let page =
                discussions::list_history(store, cursors, me, &topic_id, None, limit, cursor)
                    .await?;
            HttpResponse::json(200, &page)
        }
        (Route::TopicHistory(_), _) => Err(AppError::MethodNotAllowed("GET".into())),
        (Route::Replies(topic_id), "GET") => {
            let (limit, cursor) = page_params(request)?;
            let page =
                discussions::list_replies(store, cursors, me, &topic_id, limit, cursor).await?;
            HttpResponse::json(200, &page)
        }
        (Route::Replies(topic_id), "POST") => {
            let input: NewReply = request.json()?;
            let reply = discussions::create_reply(store, me, &topic_id, input).await?;
            HttpResponse::json(201, &reply)
        }
        (Route::Replies(_), _) => Err(AppError::MethodNotAllowed("GET, POST".into())),
        (Route::Reply(topic_id, reply_id), "PATCH") => {
            let patch: ReplyPatch = request.json()?;
            let reply = discussions::edit_reply(store, me, &topic_id, &reply_id, patch).await?;
            HttpResponse::json(200, &reply)
        }
        (Route::Reply(topic_id, reply_id), "DELETE") => {
            discussions::delete_reply(store, principal, &topic_id, &reply_id).await?;
            Ok(HttpResponse::no_content())
        }
        (Route::Reply(..), _) => Err(AppError::MethodNotAllowed("PATCH, DELETE".into())),
        (Route::ReplyHistory(topic_id, reply_id), "GET") => {
            let (limit, cursor) = page_params(request)?;
            let page = discussions::list_history(
                store,
                cursors,
                me,
                &topic_id,
                Some(&reply_id),
                limit,
                cursor,
            )
            .await?;
            HttpResponse::json(200, &page)
        }
        (Route::ReplyHistory(..), _) => Err(AppError::MethodNotAllowed("GET".into())),
        (Route::Reaction(topic_id, target_id), "PUT") => {
            let input: ReactionInput = request.json()?;
            let reaction =
                discussions::set_reaction(store, me, &topic_id, &target_id, input).await?;
            HttpResponse::json(200, &reaction)
        }
        (Route::Reaction(topic_id, target_id), "DELETE") => {
            discussions::remove_reaction(store, me, &topic_id, &target_id).await?;
            Ok(HttpResponse::no_content())
        }
        (Route::Reaction(..), _) => Err(AppError::MethodNotAllowed("PUT, DELETE".into())),
        (Route::AcceptedAnswer(topic_id), "PUT") => {
            let input: AcceptInput = request.json()?;
            let topic =
                discussions::accept_answer(store, principal, &topic_id, &input.reply_id).await?;
            HttpResponse::json(200, &topic)
        }
        (Route::AcceptedAnswer(topic_id), "DELETE") => {
            let topic = discussions::clear_accepted_answer(store, principal, &topic_id).await?;
            HttpResponse::json(200, &topic)
        }
        (Route::AcceptedAnswer(_), _) => Err(AppError::MethodNotAllowed("PUT, DELETE".into())),
        (Route::Pin(topic_id), "PUT") => {
            let input: PinInput = request.json()?;
            let topic = discussions::set_pinned(store, principal, &topic_id, input.pinned).await?;
            HttpResponse::json(200, &topic)
        }
        (Route::Pin(_), _) => Err(AppError::MethodNotAllowed("PUT".into())),
    }
}
