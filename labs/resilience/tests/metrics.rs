//! Monitoring: `/metrics` is scraped over HTTP as Prometheus would, parsed, and compared
//! before and after each thing that happens: connections, a cut and a recovery, a flood
//! closed with 1008, a recovery that fails, an oversized message, a silent peer, a slow
//! subscriber. Every counter moves by exactly what happened, and nothing else moves.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Json, close_code, next, options, publish, start_with, until_offset};
use futures_util::{SinkExt as _, StreamExt as _};
use kit::testing::{Client, RawClient, TestServer, connect_ok, within};
use lab_gateway::RateLimit;
use lab_resilience::Stream;
use lab_resilience::client::{Event, Subscriber};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// One scrape: every sample, keyed by its name and labels as written
/// (`resilience_disconnects_total{by="network",code="none"}`).
#[derive(Debug)]
struct Scrape(BTreeMap<String, f64>);

impl Scrape {
    /// A sample's value; a labelled counter not yet created is 0.
    fn get(&self, key: &str) -> f64 {
        self.0.get(key).copied().unwrap_or(0.0)
    }

    /// How much each key moved since `before`, the ones that moved only.
    fn moved_since(&self, before: &Scrape) -> BTreeMap<String, f64> {
        self.0
            .keys()
            .chain(before.0.keys())
            .filter_map(|key| {
                let delta = self.get(key) - before.get(key);
                (delta != 0.0).then(|| (key.clone(), delta))
            })
            .collect()
    }
}

/// Parses the text format: `# ...` lines are metadata, every other line is
/// `name{labels} value`. (The labels here never hold a space.)
fn parse(text: &str) -> Scrape {
    let samples = text
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (key, value) = line.rsplit_once(' ').unwrap();
            (key.to_owned(), value.parse::<f64>().unwrap())
        })
        .collect();
    Scrape(samples)
}

/// `GET /metrics`, checked for its content type and its final `# EOF`, then parsed.
async fn scrape(server: &TestServer) -> Scrape {
    let response = within("the scrape", reqwest::get(server.url("/metrics")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        lab_resilience::metrics::CONTENT_TYPE
    );
    let text = response.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    parse(&text)
}

/// The expected movements, as `(key, delta)` pairs.
fn expect(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

/// Waits until the stream has `n` subscribers: the hooks of every open and close so far
/// have run, so their counts are in.
async fn subscribers(stream: &Stream, n: usize) {
    within(
        "the subscriber count",
        stream.watch_subscribers().wait_for(|count| *count == n),
    )
    .await
    .unwrap()
    .unwrap();
}

/// The next text frame of `ws` (pings skipped).
async fn text(ws: &mut Client) -> String {
    loop {
        match within("a frame", ws.next()).await.unwrap() {
            Some(Ok(Message::Text(text))) => return text.as_str().to_owned(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

const OPEN: &str = "resilience_connections_open";
const QUEUED: &str = "resilience_queued_frames";
const CONNECTS: &str = "resilience_connects_total";
const SUBSCRIBED_OUT: &str = r#"resilience_messages_out_total{event="subscribed"}"#;
const UPDATES_OUT: &str = r#"resilience_messages_out_total{event="update"}"#;
const BYTES_OUT: &str = "resilience_bytes_out_total";
const PUBLISHED: &str = "resilience_updates_published_total";
const MESSAGES_IN: &str = "resilience_messages_in_total";
const RECONNECTS: &str = "resilience_reconnects_total";
const RECOVERED: &str = r#"resilience_recoveries_total{outcome="ok"}"#;
const NOT_RECOVERED: &str = r#"resilience_recoveries_total{outcome="failed"}"#;

/// One server, five acts, a scrape after each: a client subscribes, reads 3 updates and
/// asks for the position; a subscriber is cut and comes back whole; a client floods and
/// is closed with 1008; a client of another epoch fails to recover and sends too much
/// (1009); everyone leaves. Each scrape moves exactly the counters of its act.
#[tokio::test]
async fn counters_move_with_what_happens() {
    let (server, stream) = start_with(|config| {
        // 5 requests, then nothing: the refill (one token in 1 000 s) never comes in time.
        config.gateway.rate_limit = Some(RateLimit {
            per_second: 0.001,
            burst: 5,
        });
    })
    .await;
    let start = scrape(&server).await;
    for key in [OPEN, QUEUED, CONNECTS, BYTES_OUT, PUBLISHED, RECONNECTS] {
        assert_eq!(
            start.0.get(key),
            Some(&0.0),
            "{key} is there from the start"
        );
    }

    // A client subscribes, reads 3 updates, asks for the position once.
    let mut reader = connect_ok(server.ws_url("/ws")).await.unwrap();
    let mut bytes = text(&mut reader).await.len();
    publish(&stream, 3);
    for _ in 0..3 {
        bytes += text(&mut reader).await.len();
    }
    let request = json!({ "event": "position", "id": 1 }).to_string();
    reader.send(Message::text(request)).await.unwrap();
    let ack = text(&mut reader).await;
    assert!(ack.contains(r#""event":"ack""#), "{ack}");
    let first = scrape(&server).await;
    assert_eq!(
        first.moved_since(&start),
        expect(&[
            (OPEN, 1.0),
            (CONNECTS, 1.0),
            (SUBSCRIBED_OUT, 1.0),
            (UPDATES_OUT, 3.0),
            (BYTES_OUT, bytes as f64),
            (PUBLISHED, 3.0),
            (MESSAGES_IN, 1.0),
        ]),
        "the ack is the gateway's, not counted as the lab's"
    );

    // A subscriber reads 2 updates; its TCP connection is cut; 2 are published while it is
    // away (only the reader gets them); it comes back with `since` and recovers them.
    let mut subscriber = Subscriber::new(options(server.ws_url("/ws")));
    assert!(matches!(
        next(&mut subscriber).await,
        Some(Event::Subscribed(_))
    ));
    publish(&stream, 2);
    until_offset(&mut subscriber, 5).await;
    subscriber.cut();
    subscribers(&stream, 1).await;
    publish(&stream, 2);
    let back = until_offset(&mut subscriber, 7).await;
    assert!(
        back.iter()
            .any(|e| matches!(e, Event::Subscribed(r) if r.recovered)),
        "{back:?}"
    );
    let second = scrape(&server).await;
    let mut moved = second.moved_since(&first);
    assert!(moved.remove(BYTES_OUT).is_some_and(|b| b > 0.0));
    assert_eq!(
        moved,
        expect(&[
            (OPEN, 1.0),
            (CONNECTS, 2.0),
            (
                r#"resilience_disconnects_total{by="network",code="none"}"#,
                1.0
            ),
            (SUBSCRIBED_OUT, 2.0),
            (UPDATES_OUT, 6.0),
            (PUBLISHED, 4.0),
            (RECONNECTS, 1.0),
            (RECOVERED, 1.0),
        ])
    );

    // A client asks 5 times (its whole burst), then floods: closed with 1008.
    let mut flooder = Json::connect(&server, "").await;
    assert_eq!(flooder.recv().await["event"], "subscribed");
    for id in 0..5 {
        let ack = flooder.request(id, "position", json!(null)).await;
        assert_eq!(ack["event"], "ack", "{ack}");
    }
    for id in 5..100 {
        let request = json!({ "event": "position", "id": id }).to_string();
        if flooder.ws.send(Message::text(request)).await.is_err() {
            break;
        }
    }
    assert_eq!(close_code(&mut flooder.ws).await, 1008);
    subscribers(&stream, 2).await;
    let third = scrape(&server).await;
    let mut moved = third.moved_since(&second);
    assert!(moved.remove(BYTES_OUT).is_some_and(|b| b > 0.0));
    assert_eq!(
        moved,
        expect(&[
            (CONNECTS, 1.0),
            (
                r#"resilience_disconnects_total{by="server",code="1008"}"#,
                1.0
            ),
            ("resilience_rate_limit_closes_total", 1.0),
            (SUBSCRIBED_OUT, 1.0),
            (MESSAGES_IN, 5.0),
        ])
    );

    // A client of another epoch (a server restarted) cannot recover; then it sends a
    // message over the size limit: closed with 1009.
    let mut stranger = Json::connect(&server, "?since=0123456789abcdef:3").await;
    let subscribed = stranger.recv().await;
    assert_eq!(subscribed["data"]["recovered"], false, "{subscribed}");
    let big = "x".repeat(lab_resilience::MAX_MESSAGE_BYTES + 1);
    let _ = stranger.ws.send(Message::text(big)).await;
    assert_eq!(close_code(&mut stranger.ws).await, 1009);
    subscribers(&stream, 2).await;
    let fourth = scrape(&server).await;
    let mut moved = fourth.moved_since(&third);
    assert!(moved.remove(BYTES_OUT).is_some_and(|b| b > 0.0));
    assert_eq!(
        moved,
        expect(&[
            (CONNECTS, 1.0),
            (
                r#"resilience_disconnects_total{by="server",code="1009"}"#,
                1.0
            ),
            ("resilience_oversize_closes_total", 1.0),
            (SUBSCRIBED_OUT, 1.0),
            (RECONNECTS, 1.0),
            (NOT_RECOVERED, 1.0),
        ])
    );

    // Everyone leaves: the reader says goodbye with 1000, the subscriber just vanishes.
    let goodbye = CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    };
    reader.close(Some(goodbye)).await.unwrap();
    drop(subscriber);
    subscribers(&stream, 0).await;
    let last = scrape(&server).await;
    assert_eq!(
        last.moved_since(&fourth),
        expect(&[
            (OPEN, -2.0),
            (
                r#"resilience_disconnects_total{by="client",code="1000"}"#,
                1.0
            ),
            (
                r#"resilience_disconnects_total{by="network",code="none"}"#,
                1.0
            ),
        ])
    );
    assert_eq!(
        (last.get(OPEN), last.get(QUEUED)),
        (0.0, 0.0),
        "no connection, no queue"
    );
    server.stop().await.unwrap();
}

/// A peer that stops answering is closed by the heartbeat with 1001: counted as a
/// heartbeat timeout (a 1001 with the idle-timeout reason), on tokio's paused clock.
#[tokio::test(start_paused = true)]
async fn heartbeat_timeout_is_counted() {
    let heartbeat = (Duration::from_millis(100), Duration::from_millis(300));
    let (server, stream) =
        start_with(|config| *config = config.clone().with_heartbeat(Some(heartbeat))).await;
    let before = scrape(&server).await;
    let _silent = RawClient::connect(server.addr, "/ws", &[]).await.unwrap();
    subscribers(&stream, 1).await;
    subscribers(&stream, 0).await;
    let after = scrape(&server).await;
    let mut moved = after.moved_since(&before);
    assert!(moved.remove(BYTES_OUT).is_some_and(|b| b > 0.0));
    assert_eq!(
        moved,
        expect(&[
            (CONNECTS, 1.0),
            (SUBSCRIBED_OUT, 1.0),
            (
                r#"resilience_disconnects_total{by="server",code="1001"}"#,
                1.0
            ),
            ("resilience_heartbeat_timeouts_total", 1.0),
        ])
    );
    server.stop().await.unwrap();
}

/// A subscriber that reads nothing while 300 updates are published (more than its
/// 256-frame queue) is closed with 1013: counted as a slow-consumer close; the updates
/// that found room in its queue are counted as sent, the rest not.
#[tokio::test]
async fn slow_consumer_close_is_counted() {
    let (server, stream) = start_with(|_| {}).await;
    let mut slow = Json::connect(&server, "").await;
    assert_eq!(slow.recv().await["event"], "subscribed");
    let before = scrape(&server).await;
    // No `.await` in between: the connection's send task cannot drain the queue meanwhile.
    publish(&stream, 300);
    assert_eq!(
        close_code(&mut slow.ws).await,
        lab_resilience::stream::SLOW_CONSUMER
    );
    subscribers(&stream, 0).await;
    let after = scrape(&server).await;
    let mut moved = after.moved_since(&before);
    let sent = moved.remove(UPDATES_OUT).unwrap();
    assert!((200.0..300.0).contains(&sent), "{sent} updates queued");
    assert!(moved.remove(BYTES_OUT).is_some_and(|b| b > 0.0));
    assert_eq!(
        moved,
        expect(&[
            (OPEN, -1.0),
            (PUBLISHED, 300.0),
            (
                r#"resilience_disconnects_total{by="server",code="1013"}"#,
                1.0
            ),
            ("resilience_slow_consumer_closes_total", 1.0),
        ])
    );
    server.stop().await.unwrap();
}
