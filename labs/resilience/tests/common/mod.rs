//! Shared by the resilience lab's tests: the lab on a free port with its stream (ticker
//! off: the tests publish by hand and count), and helpers to read a client's close code
//! and to drive a [`Subscriber`] under a deadline.

#![allow(dead_code, unused_imports, clippy::unwrap_used)]

use std::time::Duration;

use futures_util::StreamExt as _;
use kit::testing::{Client, TestServer, within};
use lab_resilience::client::{Backoff, Event, Options, Subscriber};
use lab_resilience::{Config, Stream, Update};
use tokio_tungstenite::tungstenite::Message;

pub use lab_gateway::testing::JsonClient as Json;

/// The lab with no ticker and no heartbeat, adjusted by `adjust`.
pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> (TestServer, Stream) {
    let mut stream = None;
    let server = TestServer::start(|addr| {
        let mut config = Config::for_port(addr.port()).with_heartbeat(None);
        config.rate = 0.0;
        adjust(&mut config);
        let (router, s) = lab_resilience::build(config);
        stream = Some(s);
        router
    })
    .await
    .unwrap();
    (server, stream.unwrap())
}

/// The lab with its defaults (ticker and heartbeat off).
pub async fn start() -> (TestServer, Stream) {
    start_with(|_| {}).await
}

/// Publishes `n` updates.
pub fn publish(stream: &Stream, n: usize) {
    for _ in 0..n {
        stream.tick();
    }
}

/// Reads until the server's close frame and returns its code (messages before it are
/// skipped); fails if the connection ends without one.
pub async fn close_code(ws: &mut Client) -> u16 {
    within("the close frame", async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => {
                    return frame.map_or(1005, |f| u16::from(f.code));
                }
                Some(Ok(_)) => {}
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await
    .unwrap()
}

/// Subscriber options for tests: fast retries (10 ms doubling to 100 ms), no heartbeat.
pub fn options(url: String) -> Options {
    let mut options = Options::new(url);
    options.backoff = Backoff {
        base: Duration::from_millis(10),
        cap: Duration::from_millis(100),
    };
    options.max_attempts = 50;
    options.heartbeat = None;
    options
}

/// The subscriber's next event, under the step timeout; `None` when it gave up.
pub async fn next(subscriber: &mut Subscriber) -> Option<Event> {
    within("the subscriber's next event", subscriber.next())
        .await
        .unwrap()
}

/// Events until the subscriber has yielded `until_offset` (an update of that offset), in
/// order; fails on giving up.
pub async fn until_offset(subscriber: &mut Subscriber, until_offset: u64) -> Vec<Event> {
    let mut events = Vec::new();
    // Bounded: no test here publishes more than 10 000 updates.
    for _ in 0..20_000 {
        let event = next(subscriber).await.expect("the subscriber gave up");
        let done = matches!(&event, Event::Update { update, .. } if update.offset >= until_offset);
        events.push(event);
        if done {
            return events;
        }
    }
    panic!("update {until_offset} never came: {events:?}");
}

/// The updates among `events`, with whether each was recovered.
pub fn updates(events: &[Event]) -> Vec<(Update, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Update { update, recovered } => Some((update.clone(), *recovered)),
            _ => None,
        })
        .collect()
}
