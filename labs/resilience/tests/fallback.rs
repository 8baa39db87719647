//! The fallback transport on its own (no proxy): Server-Sent Events at `/sse` carry the same
//! stream with the same recovery, `Last-Event-ID` wins over `?since`, a bad position is a 400,
//! the connection limit counts both transports, a slow client's stream ends with `goodbye`
//! 1013, the heartbeat is an event, the goodbye is 1001, and the subscriber falls back only
//! when the upgrade is blocked.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{next, options, publish, start, start_with, until_offset, updates};
use futures_util::StreamExt as _;
use kit::testing::{connect_ok, connect_ws, within};
use lab_resilience::client::{Event, Subscriber, Transport, fallback_url, upgrade_blocked};
use lab_resilience::{Recovery, Update};
use serde_json::Value;

type Events = lab_resilience::client::Sse;

/// Opens `/sse` on `addr` with `query` and an optional `Last-Event-ID`; the status, and the
/// events if it is 200.
async fn open(addr: SocketAddr, query: &str, last_event_id: Option<&str>) -> (u16, Option<Events>) {
    let mut request = reqwest::Client::new().get(format!("http://{addr}/sse{query}"));
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let response = within("the SSE response", request.send())
        .await
        .unwrap()
        .unwrap();
    let status = response.status().as_u16();
    if status != 200 {
        return (status, None);
    }
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream",
        "the fallback must be an event stream"
    );
    assert_eq!(
        response.headers()["x-accel-buffering"],
        "no",
        "without it nginx buffers the stream"
    );
    (status, Some(lab_resilience::client::sse_events(response)))
}

/// The next event, under the step timeout; `None` when the response ended.
async fn event(events: &mut Events) -> Option<eventsource_stream::Event> {
    within("the next SSE event", events.next())
        .await
        .unwrap()
        .map(Result::unwrap)
}

/// The `subscribed` event's recovery, checking the event's name and id.
async fn subscribed(events: &mut Events) -> Recovery {
    let first = event(events).await.unwrap();
    assert_eq!(first.event, "subscribed");
    let recovery: Recovery = serde_json::from_str(&first.data).unwrap();
    assert_eq!(first.id, format!("{}:{}", recovery.epoch, recovery.offset));
    recovery
}

/// An `update` event, checking its id is its position.
async fn update(events: &mut Events) -> Update {
    let e = event(events).await.unwrap();
    assert_eq!(e.event, "update", "{e:?}");
    let update: Update = serde_json::from_str(&e.data).unwrap();
    assert_eq!(e.id, format!("{}:{}", update.epoch, update.offset));
    update
}

/// A first subscription, live updates, then a reconnection with `?since` and another with
/// `Last-Event-ID` (which wins over `since`): the missed updates, in order, `recovered: true`.
#[tokio::test]
async fn the_stream_and_its_recovery_over_sse() {
    let (server, stream) = start().await;
    let (status, events) = open(server.addr, "", None).await;
    assert_eq!(status, 200);
    let mut events = events.unwrap();
    let first = subscribed(&mut events).await;
    assert!(!first.was_recovering);
    publish(&stream, 3);
    let offsets: Vec<u64> = [
        update(&mut events).await,
        update(&mut events).await,
        update(&mut events).await,
    ]
    .iter()
    .map(|u| u.offset)
    .collect();
    assert_eq!(offsets, [1, 2, 3]);
    drop(events);

    publish(&stream, 4);
    let epoch = stream.epoch();
    let (_, events) = open(server.addr, &format!("?since={epoch}:3"), None).await;
    let mut events = events.unwrap();
    let recovery = subscribed(&mut events).await;
    assert!(recovery.recovered, "{recovery:?}");
    let missed: Vec<u64> = recovery.missed.iter().map(|u| u.offset).collect();
    assert_eq!(missed, [4, 5, 6, 7]);
    drop(events);

    // Last-Event-ID (what EventSource sends by itself) is newer than the URL's since.
    let (_, events) = open(
        server.addr,
        &format!("?since={epoch}:1"),
        Some(&format!("{epoch}:6")),
    )
    .await;
    let recovery = subscribed(&mut events.unwrap()).await;
    let missed: Vec<u64> = recovery.missed.iter().map(|u| u.offset).collect();
    assert_eq!(missed, [7], "Last-Event-ID must win over since");

    // Another epoch: recovered false, with the reason.
    let (_, events) = open(server.addr, "?since=0123abcd:5", None).await;
    let recovery = subscribed(&mut events.unwrap()).await;
    assert!(recovery.was_recovering && !recovery.recovered);
    assert!(
        recovery.reason.contains("another epoch"),
        "{}",
        recovery.reason
    );
}

/// A malformed position is refused with 400, in the query and in the header, and the
/// refusal subscribes nobody.
#[tokio::test]
async fn a_bad_position_is_a_400_and_changes_nothing() {
    let (server, stream) = start().await;
    assert_eq!(open(server.addr, "?since=nope", None).await.0, 400);
    assert_eq!(open(server.addr, "", Some("not:a:number")).await.0, 400);
    assert_eq!(open(server.addr, "?since=ab%2Fcd:1", None).await.0, 400);
    assert_eq!(stream.subscriber_count(), 0);
    assert!(
        stream
            .metrics_text()
            .contains("resilience_fallback_connects_total 0"),
        "{}",
        stream.metrics_text()
    );
}

/// The connection limit counts both transports: with a limit of 2, one WebSocket and one
/// SSE stream fill it, and the third client gets 503 + Retry-After on either transport.
#[tokio::test]
async fn the_limit_counts_both_transports() {
    let (server, _stream) = start_with(|config| config.gateway.max_connections = 2).await;
    let _ws = connect_ok(server.ws_url("/ws")).await.unwrap();
    let (status, events) = open(server.addr, "", None).await;
    assert_eq!(status, 200);
    let _events = events.unwrap();
    let response = within(
        "a third client over SSE",
        reqwest::get(format!("http://{}/sse", server.addr)),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    match connect_ws(server.ws_url("/ws")).await.unwrap() {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
        }
        other => panic!("expected 503 for a third WebSocket, got {other:?}"),
    }
}

/// A client more than its queue behind (10 updates published at once, no `.await` in
/// between, against a queue of 4) has its stream ended with `goodbye` 1013 after the 4 that
/// fit; it comes back with `Last-Event-ID` and recovers the rest from the history; a
/// client that subscribes meanwhile is not disturbed.
#[tokio::test]
async fn a_slow_sse_client_is_told_1013_and_recovers() {
    let (server, stream) = start_with(|config| config.gateway.outgoing_queue = 4).await;
    let (_, slow) = open(server.addr, "", None).await;
    let mut slow = slow.unwrap();
    subscribed(&mut slow).await;
    publish(&stream, 10);
    let mut seen = Vec::new();
    let goodbye = loop {
        let e = event(&mut slow)
            .await
            .expect("the slow stream must end with a goodbye");
        if e.event == "goodbye" {
            break e;
        }
        seen.push(e.id);
    };
    let data: Value = serde_json::from_str(&goodbye.data).unwrap();
    assert_eq!(data["code"], 1013);
    assert_eq!(seen.len(), 4, "the updates that fit in its queue: {seen:?}");
    assert!(
        event(&mut slow).await.is_none(),
        "the stream ends after the goodbye"
    );

    let (_, other) = open(server.addr, "", None).await;
    let mut other = other.unwrap();
    subscribed(&mut other).await;
    stream.tick();
    assert_eq!(update(&mut other).await.offset, 11);

    let (_, back) = open(server.addr, "", Some(seen.last().unwrap())).await;
    let recovery = subscribed(&mut back.unwrap()).await;
    assert!(recovery.recovered);
    let missed: Vec<u64> = recovery.missed.iter().map(|u| u.offset).collect();
    assert_eq!(missed, (5..=11).collect::<Vec<_>>());
}

/// With the heartbeat on, a silent stream carries a `heartbeat` event (with the position)
/// every ping interval; off, nothing comes.
#[tokio::test]
async fn the_heartbeat_is_an_event() {
    let heartbeat = Some((Duration::from_millis(100), Duration::from_secs(5)));
    let (server, stream) =
        start_with(|config| *config = config.clone().with_heartbeat(heartbeat)).await;
    let (_, events) = open(server.addr, "", None).await;
    let mut events = events.unwrap();
    subscribed(&mut events).await;
    let beat = event(&mut events).await.unwrap();
    assert_eq!(beat.event, "heartbeat");
    let position: Value = serde_json::from_str(&beat.data).unwrap();
    assert_eq!(position["epoch"], stream.epoch());

    let (quiet, _) = start().await;
    let (_, events) = open(quiet.addr, "", None).await;
    let mut events = events.unwrap();
    subscribed(&mut events).await;
    let nothing = tokio::time::timeout(Duration::from_millis(500), events.next()).await;
    assert!(nothing.is_err(), "no heartbeat when it is off: {nothing:?}");
}

/// A subscriber that reaches the stream only over the fallback: its WebSocket URL is
/// `/metrics`, which answers the upgrade with a plain 200, as a page behind a proxy would.
fn blocked_subscriber(addr: SocketAddr) -> Subscriber {
    let mut blocked = options(format!("ws://{addr}/metrics"));
    blocked.fallback = Some(format!("http://{addr}/sse"));
    Subscriber::new(blocked)
}

/// The server's goodbye ends every stream with `goodbye` 1001, and the subscriber reads it
/// as a close with 1001 (retry), as it would a close frame.
#[tokio::test]
async fn the_goodbye_is_1001() {
    let mut shutdown = None;
    let (server, _stream) =
        start_with(|config| shutdown = Some(config.gateway.shutdown.clone())).await;
    let shutdown = shutdown.unwrap();
    let (_, events) = open(server.addr, "", None).await;
    let mut events = events.unwrap();
    subscribed(&mut events).await;
    let mut subscriber = blocked_subscriber(server.addr);
    assert!(matches!(
        next(&mut subscriber).await.unwrap(),
        Event::Fallback { .. }
    ));
    assert!(matches!(
        next(&mut subscriber).await.unwrap(),
        Event::Subscribed(_)
    ));

    let going = tokio::spawn(async move { shutdown.going_away(Duration::from_secs(5)).await });
    let goodbye = event(&mut events).await.unwrap();
    assert_eq!(goodbye.event, "goodbye");
    let data: Value = serde_json::from_str(&goodbye.data).unwrap();
    assert_eq!(data["code"], 1001);
    assert!(
        event(&mut events).await.is_none(),
        "the stream ends after its goodbye"
    );
    drop(events);
    match next(&mut subscriber).await.unwrap() {
        Event::Closed { code, decision, .. } => {
            assert_eq!(code, Some(1001));
            assert!(decision.retries());
        }
        other => panic!("expected the goodbye as a close, got {other:?}"),
    }
    drop(subscriber);
    assert_eq!(
        within("the goodbye", going).await.unwrap().unwrap(),
        0,
        "every stream ended in time"
    );
}

/// The subscriber switches to the fallback only when the upgrade is blocked (here a 200:
/// the real proxy's 426 is `tests/proxy.rs`), not when the server is down.
#[tokio::test]
async fn the_subscriber_falls_back_only_when_the_upgrade_is_blocked() {
    assert!(upgrade_blocked(426) && upgrade_blocked(200) && upgrade_blocked(501));
    assert!(!upgrade_blocked(503) && !upgrade_blocked(400) && !upgrade_blocked(403));
    assert_eq!(
        fallback_url("ws://127.0.0.1:3006/ws").as_deref(),
        Some("http://127.0.0.1:3006/sse")
    );
    assert_eq!(
        fallback_url("wss://example.test/labs/resilience/ws?x=1").as_deref(),
        Some("https://example.test/labs/resilience/sse")
    );
    assert_eq!(fallback_url("http://127.0.0.1/ws"), None);

    let (server, stream) = start().await;
    let mut subscriber = blocked_subscriber(server.addr);
    match next(&mut subscriber).await.unwrap() {
        Event::Fallback { status, url } => {
            assert_eq!(status, 200);
            assert!(url.ends_with("/sse"));
        }
        other => panic!("expected a fallback, got {other:?}"),
    }
    assert_eq!(subscriber.transport(), Transport::ServerSentEvents);
    assert!(matches!(
        next(&mut subscriber).await.unwrap(),
        Event::Subscribed(_)
    ));
    publish(&stream, 2);
    let events = until_offset(&mut subscriber, 2).await;
    assert_eq!(updates(&events).len(), 2);

    // A server that is down is not a blocked upgrade: the subscriber retries the WebSocket.
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = down.local_addr().unwrap().port();
    drop(down);
    let mut subscriber = Subscriber::new(options(format!("ws://127.0.0.1:{port}/ws")));
    match next(&mut subscriber).await.unwrap() {
        Event::Closed { decision, .. } => assert!(decision.retries()),
        other => panic!("expected a retryable close, got {other:?}"),
    }
    assert_eq!(subscriber.transport(), Transport::WebSocket);
}
