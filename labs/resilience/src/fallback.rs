//! The fallback transport: the same numbered stream over Server-Sent Events, for a client
//! whose WebSocket upgrade never reaches the server.
//!
//! A proxy that does not pass `Upgrade` (a corporate proxy, an old load balancer, a reverse
//! proxy configured for plain HTTP) turns `GET /ws` into an ordinary request: the server
//! answers `426 Upgrade Required` and no WebSocket ever opens. Plain HTTP responses still
//! get through that proxy, and a response that never ends is still a response: Server-Sent
//! Events (`text/event-stream`, in every browser as `EventSource`) is exactly that.
//!
//! ```text
//! GET /sse?since=9f…:41              (or the header Last-Event-ID: 9f…:41)
//!
//! event: subscribed                   the same Recovery as the WebSocket's first message
//! id: 9f…:42
//! data: {"epoch":"9f…","offset":42,"was_recovering":true,"recovered":true,…,"missed":[…]}
//!
//! event: update                       one per update, its position as the event's id
//! id: 9f…:43
//! data: {"epoch":"9f…","offset":43,"price":101.7}
//!
//! event: heartbeat                    every ping interval: a sign of life, and it keeps
//! data: {"epoch":"9f…","offset":43}   proxies from closing an idle response
//!
//! event: goodbye                      the last event, then the response ends
//! data: {"code":1001,"reason":"the server is shutting down"}
//! ```
//!
//! Why Server-Sent Events rather than long-polling: this stream only flows one way, server
//! to client, which is what SSE is; one response carries every update, where long-polling
//! pays a request per batch and a gap between them; and SSE's own reconnection sends the
//! last event's `id` back as `Last-Event-ID`, which is this lab's `since`, so recovery works
//! unchanged. What SSE cannot do is carry messages *from* the client: a chat over it would
//! send its messages with ordinary POSTs beside the stream (Socket.IO's polling transport
//! does the same). Chapter 10 ("Best practices, measured") runs it through a real nginx.
//!
//! Everything else is the WebSocket's: the same connection limit (the gateway's own
//! permits, so the limit counts every client whichever way it came in), the same history
//! and recovery ([`Stream::subscribe_fallback`], under the same lock), the same slow-consumer
//! policy (a full queue ends the stream with `goodbye` 1013), the same goodbye with 1001.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::stream::{Position, SERVICE_RESTART, SLOW_CONSUMER, Stream, Update};

/// What the fallback's handler needs: the stream, the limits, the heartbeat, the goodbye.
#[derive(Clone, Debug)]
struct Fallback {
    /// The live stream.
    stream: Stream,
    /// The gateway's connection permits, shared.
    permits: Arc<Semaphore>,
    /// How often a `heartbeat` event is sent; `None`: never (`--no-heartbeat`).
    heartbeat: Option<Duration>,
    /// How many updates a slow client may fall behind before its stream ends.
    queue: usize,
    /// The server's goodbye.
    shutdown: kit::Shutdown,
}

/// The fallback's routes: `GET /sse`, behind the same Origin allowlist as the WebSocket.
pub fn routes(config: &crate::Config, stream: &Stream, permits: Arc<Semaphore>) -> Router {
    let fallback = Fallback {
        stream: stream.clone(),
        permits,
        heartbeat: config.gateway.ping_interval,
        queue: config.gateway.outgoing_queue,
        shutdown: config.gateway.shutdown.clone(),
    };
    config
        .gateway
        .allowlist
        .clone()
        .protect(Router::new().route("/sse", get(sse)).with_state(fallback))
}

/// Where a fallback client starts: `Last-Event-ID` (what `EventSource` sends when it
/// reconnects by itself) wins over `?since=` (what a client reconnecting by hand sends),
/// because it is the newer of the two.
fn since(headers: &HeaderMap, query: &HashMap<String, String>) -> Result<Option<Position>, String> {
    let from_header = headers.get("last-event-id").map(|value| {
        value
            .to_str()
            .map_err(|_| "Last-Event-ID is not text".to_owned())
    });
    let raw = match from_header {
        Some(value) => Some(value?.to_owned()),
        None => query.get("since").cloned(),
    };
    raw.filter(|raw| !raw.is_empty())
        .map(|raw| raw.parse::<Position>().map_err(|err| err.to_string()))
        .transpose()
}

// ANCHOR: handler
/// `GET /sse`: a subscription as one endless response.
async fn sse(
    State(fallback): State<Fallback>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let since = match since(&headers, &query) {
        Ok(since) => since,
        Err(reason) => return (StatusCode::BAD_REQUEST, reason).into_response(),
    };
    // The same permits as the WebSocket connections: 503 + Retry-After when all are taken.
    let Ok(permit) = Arc::clone(&fallback.permits).try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            "too many connections: try again later",
        )
            .into_response();
    };
    let watcher = fallback.shutdown.watch();
    let restarts = fallback.stream.watch_restarts();
    let (recovery, id, updates) = fallback
        .stream
        .subscribe_fallback(since.as_ref(), fallback.queue);
    fallback.stream.metrics().fallback_opened();
    let first = Event::default()
        .event("subscribed")
        .id(format!("{}:{}", recovery.epoch, recovery.offset))
        .json_data(&recovery);
    let subscription = Subscription {
        stream: fallback.stream.clone(),
        id,
        _permit: permit,
    };
    let events = events(
        first,
        Sources {
            updates,
            watcher,
            restarts,
        },
        fallback.heartbeat,
        subscription,
    );
    let mut response = Sse::new(events).into_response();
    // nginx buffers a proxied response unless told not to: an SSE stream it buffers arrives
    // in lumps, or not at all. This header tells it (and proxies that copy nginx) not to.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
// ANCHOR_END: handler

/// A fallback subscription: dropped when the response ends, however it ends (the client
/// went away, the goodbye, a slow queue), which frees its permit and its place.
#[derive(Debug)]
struct Subscription {
    /// The stream it is subscribed to.
    stream: Stream,
    /// Its number in the stream.
    id: u64,
    /// Its place under the connection limit.
    _permit: OwnedSemaphorePermit,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.stream.leave_fallback(self.id);
        self.stream.metrics().fallback_closed();
    }
}

/// What happens next on a fallback stream.
enum Next {
    /// An update arrived.
    Update(Update),
    /// The queue ended: the client fell too far behind.
    Slow,
    /// The heartbeat is due.
    Heartbeat,
    /// The server's goodbye started.
    Goodbye,
    /// The stream restarted (a new epoch).
    Restarted,
}

/// What a fallback stream waits on.
struct Sources {
    /// Its queue of updates.
    updates: mpsc::Receiver<Update>,
    /// The server's goodbye.
    watcher: kit::shutdown::Watcher,
    /// The stream's restarts.
    restarts: tokio::sync::watch::Receiver<u64>,
}

// ANCHOR: events
/// The events of one subscription: `first` (the recovery), then every update, a heartbeat
/// every `heartbeat`, and a final `goodbye` when the server stops or the client is too slow.
fn events(
    first: Result<Event, axum::Error>,
    sources: Sources,
    heartbeat: Option<Duration>,
    subscription: Subscription,
) -> impl futures_util::Stream<Item = Result<Event, Infallible>> + Send {
    let goodbye = |code: u16, reason: &str| {
        Event::default()
            .event("goodbye")
            .json_data(json!({ "code": code, "reason": reason }))
    };
    let state = (Some(first), sources, subscription, false);
    futures_util::stream::unfold(
        state,
        move |(first, mut sources, subscription, done)| async move {
            if done {
                return None;
            }
            if let Some(first) = first {
                let event = first.unwrap_or_else(|_| Event::default().comment("cannot encode"));
                return Some((Ok(event), (None, sources, subscription, false)));
            }
            let beat = async {
                match heartbeat {
                    Some(every) => tokio::time::sleep(every).await,
                    None => std::future::pending().await,
                }
            };
            let next = tokio::select! {
                update = sources.updates.recv() => update.map_or(Next::Slow, Next::Update),
                () = sources.watcher.started() => Next::Goodbye,
                changed = sources.restarts.changed() => match changed {
                    Ok(()) => Next::Restarted,
                    // The stream itself is gone: nothing more will come.
                    Err(_) => Next::Goodbye,
                },
                () = beat => Next::Heartbeat,
            };
            let (event, done) = match next {
                Next::Update(update) => (
                    Event::default()
                        .event("update")
                        .id(format!("{}:{}", update.epoch, update.offset))
                        .json_data(&update),
                    false,
                ),
                Next::Heartbeat => {
                    let position = subscription.stream.position();
                    (
                        Event::default().event("heartbeat").json_data(&position),
                        false,
                    )
                }
                Next::Slow => (
                    goodbye(SLOW_CONSUMER, "too slow: reconnect and recover"),
                    true,
                ),
                Next::Goodbye => (goodbye(1001, "the server is shutting down"), true),
                Next::Restarted => (
                    goodbye(SERVICE_RESTART, "the stream restarted: a new epoch"),
                    true,
                ),
            };
            let event = event.unwrap_or_else(|_| Event::default().comment("cannot encode"));
            Some((Ok(event), (None, sources, subscription, done)))
        },
    )
}
// ANCHOR_END: events
