//! Recovery of missed updates: a client that comes back with `since=<epoch>:<offset>` gets
//! what it missed, in order, and `recovered: true`; or `recovered: false` when the history
//! no longer covers the gap or the epoch is not the server's. Then the chaos test on one
//! server: a subscriber whose connection is cut while it receives ends with every update
//! exactly once, in order.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use common::{Json, next, options, publish, start, start_with, until_offset, updates};
use kit::testing::connect_ws;
use lab_resilience::HistoryLimits;
use lab_resilience::client::{Event, Subscriber, classify};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// The offsets of a `subscribed` event's missed updates.
fn missed(subscribed: &Value) -> Vec<u64> {
    subscribed["data"]["missed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["offset"].as_u64().unwrap())
        .collect()
}

/// A first subscription is told it recovers nothing, then gets the live updates from the
/// next offset on.
#[tokio::test]
async fn first_subscription_then_live_updates() {
    let (server, stream) = start().await;
    publish(&stream, 3);
    let mut client = Json::connect(&server, "").await;
    let subscribed = client.recv().await;
    assert_eq!(subscribed["event"], "subscribed", "{subscribed}");
    let data = &subscribed["data"];
    assert_eq!(data["epoch"], stream.epoch());
    assert_eq!(data["offset"], 3);
    assert_eq!(
        (
            data["was_recovering"].as_bool(),
            data["recovered"].as_bool()
        ),
        (Some(false), Some(false))
    );
    publish(&stream, 2);
    for offset in [4, 5] {
        let update = client.recv().await;
        assert_eq!(update["event"], "update");
        assert_eq!(update["data"]["offset"], offset);
        assert_eq!(update["data"]["epoch"], stream.epoch());
    }
    server.stop().await.unwrap();
}

/// Coming back with `since` inside the history: the missed updates, in order, then the
/// live ones, none twice.
#[tokio::test]
async fn since_inside_the_history_recovers_in_order() {
    let (server, stream) = start().await;
    publish(&stream, 5);
    let epoch = stream.epoch();
    let mut client = Json::connect(&server, &format!("?since={epoch}:2")).await;
    let subscribed = client.recv().await;
    assert_eq!(subscribed["data"]["recovered"], true, "{subscribed}");
    assert_eq!(subscribed["data"]["was_recovering"], true);
    assert_eq!(missed(&subscribed), [3, 4, 5]);
    publish(&stream, 1);
    assert_eq!(client.recv().await["data"]["offset"], 6);
    server.stop().await.unwrap();
}

/// `recovered: false` when the count bound dropped part of the gap, or the epoch is
/// another server's; `true` with nothing missed at the latest offset.
#[tokio::test]
async fn gap_beyond_the_history_or_another_epoch_is_not_recovered() {
    let (server, stream) = start_with(|config| {
        config.history = HistoryLimits {
            max_len: 3,
            ..HistoryLimits::default()
        };
    })
    .await;
    publish(&stream, 10);
    let epoch = stream.epoch();
    for (since, recovered, reason) in [
        (format!("{epoch}:2"), false, "no longer covers"),
        (format!("{epoch}:7"), true, "every missed"),
        (format!("{epoch}:10"), true, "nothing was missed"),
        ("0123456789abcdef:10".to_owned(), false, "another epoch"),
    ] {
        let mut client = Json::connect(&server, &format!("?since={since}")).await;
        let data = client.recv().await["data"].clone();
        assert_eq!(data["recovered"], recovered, "{since}: {data}");
        assert!(
            data["reason"].as_str().unwrap().contains(reason),
            "{since}: {data}"
        );
        if !recovered {
            assert!(missed(&serde_json::json!({ "data": data })).is_empty());
        }
    }
    server.stop().await.unwrap();
}

/// A malformed `since` is refused with HTTP 400 before the upgrade.
#[tokio::test]
async fn malformed_since_is_refused_with_400() {
    let (server, _stream) = start().await;
    let refused = connect_ws(server.ws_url("/ws?since=not-a-position"))
        .await
        .unwrap();
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 400);
        }
        other => panic!("expected a 400, got {other:?}"),
    }
    server.stop().await.unwrap();
}

/// Chaos on one server: three times, the subscriber's TCP connection is cut (no close
/// frame) after it read 10 of 30 updates, and 20 more are published while it is away. It
/// reconnects with `since`, is told `recovered: true`, and ends with updates 1 to 150
/// exactly once and in order, 120 of them recovered from the history.
#[tokio::test]
async fn cut_connection_recovers_every_update_exactly_once() {
    let (server, stream) = start().await;
    let mut subscriber = Subscriber::new(options(server.ws_url("/ws")));
    let first = next(&mut subscriber).await.unwrap();
    assert!(
        matches!(&first, Event::Subscribed(r) if !r.was_recovering),
        "{first:?}"
    );
    let mut events = Vec::new();
    for round in 0..3u64 {
        let base = round * 50;
        publish(&stream, 30);
        events.extend(until_offset(&mut subscriber, base + 10).await);
        // 20 updates are on their way, or already in the client's buffer: all lost with it.
        subscriber.cut();
        publish(&stream, 20);
        let back = until_offset(&mut subscriber, base + 50).await;
        let recovery = back.iter().find_map(|e| match e {
            Event::Subscribed(r) => Some(r.clone()),
            _ => None,
        });
        let recovery = recovery.expect("a new subscription after the cut");
        assert!(
            recovery.was_recovering && recovery.recovered,
            "{recovery:?}"
        );
        assert_eq!(recovery.missed.len(), 40, "11..=50 of this round");
        assert!(back.iter().any(
            |e| matches!(e, Event::Closed { code: Some(1006), decision, .. } if decision.retries())
        ));
        events.extend(back);
    }
    let got = updates(&events);
    let offsets: Vec<u64> = got.iter().map(|(u, _)| u.offset).collect();
    assert_eq!(
        offsets,
        (1..=150).collect::<Vec<_>>(),
        "every update once, in order"
    );
    assert!(got.iter().all(|(u, _)| u.epoch == stream.epoch()));
    assert_eq!(got.iter().filter(|(_, recovered)| *recovered).count(), 120);
    server.stop().await.unwrap();
}

/// Chaos with a publisher that never waits: updates are published while the subscriber
/// receives and its connection is cut at every multiple of 61; it still ends with 1 to 2000
/// exactly once and in order (a client that falls behind is closed with 1013 and comes
/// back the same way).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cuts_while_publishing_lose_and_repeat_nothing() {
    const N: u64 = 2000;
    let (server, stream) = start_with(|config| {
        config.history = HistoryLimits {
            max_len: N as usize,
            ..HistoryLimits::default()
        };
    })
    .await;
    let mut subscriber = Subscriber::new(options(server.ws_url("/ws")));
    assert!(matches!(
        next(&mut subscriber).await,
        Some(Event::Subscribed(_))
    ));
    let publisher = tokio::spawn({
        let stream = stream.clone();
        async move {
            for _ in 0..N {
                stream.tick();
                tokio::task::yield_now().await;
            }
        }
    });
    let mut offsets = Vec::new();
    let mut recoveries = 0;
    // Bounded: N updates, plus the few events of each cut.
    for _ in 0..N * 2 {
        match next(&mut subscriber).await.expect("the subscriber gave up") {
            Event::Update { update, .. } => {
                offsets.push(update.offset);
                if update.offset % 61 == 0 {
                    subscriber.cut();
                }
                if update.offset == N {
                    break;
                }
            }
            Event::Subscribed(r) => {
                assert!(r.recovered, "the history holds every update: {r:?}");
                recoveries += 1;
            }
            _ => {}
        }
    }
    publisher.await.unwrap();
    assert_eq!(
        offsets,
        (1..=N).collect::<Vec<_>>(),
        "every update once, in order"
    );
    // A cut while recovered updates are still being handed out is a no-op (the connection
    // is already gone), so there may be fewer recoveries than multiples of 61.
    assert!(recoveries >= 1, "at least one cut was recovered");
    server.stop().await.unwrap();
}

/// Chaos with a history too short: the gap after a cut is longer than the 5 updates kept,
/// so the client is told `recovered: false`, says why, and carries on with the live stream.
#[tokio::test]
async fn cut_longer_than_the_history_is_not_recovered() {
    let (server, stream) = start_with(|config| {
        config.history = HistoryLimits {
            max_len: 5,
            ..HistoryLimits::default()
        };
    })
    .await;
    let mut subscriber = Subscriber::new(options(server.ws_url("/ws")));
    assert!(matches!(
        next(&mut subscriber).await,
        Some(Event::Subscribed(_))
    ));
    publish(&stream, 10);
    let before = until_offset(&mut subscriber, 10).await;
    subscriber.cut();
    publish(&stream, 20);
    // Bounded: a close, a reconnection or two, then the subscription.
    let mut recovery = None;
    for _ in 0..10 {
        if let Some(Event::Subscribed(r)) = next(&mut subscriber).await {
            recovery = Some(r);
            break;
        }
    }
    let recovery = recovery.expect("a new subscription after the cut");
    assert!(
        recovery.was_recovering && !recovery.recovered,
        "{recovery:?}"
    );
    assert!(
        recovery.reason.contains("no longer covers the gap"),
        "{recovery:?}"
    );
    assert!(recovery.missed.is_empty());
    publish(&stream, 3);
    let after = updates(&until_offset(&mut subscriber, 33).await);
    let offsets: Vec<u64> = after.iter().map(|(u, _)| u.offset).collect();
    assert_eq!(
        offsets,
        [31, 32, 33],
        "the live stream goes on; 11 to 30 are lost"
    );
    assert_eq!(updates(&before).len(), 10);
    server.stop().await.unwrap();
}

/// A subscriber too slow for the stream (300 updates published while it reads none, more
/// than its 256-frame queue) is closed with 1013, "try again later", which the client
/// retries; coming back with the position of the last update it read, it recovers the
/// rest.
#[tokio::test]
async fn slow_subscriber_is_closed_with_1013_and_recovers() {
    let (server, stream) = start().await;
    let mut slow = Json::connect(&server, "").await;
    assert_eq!(slow.recv().await["event"], "subscribed");
    // No `.await` in between: the connection's send task cannot drain the queue meanwhile.
    publish(&stream, 300);
    let mut last = 0;
    let code = kit::testing::within("the slow client's close", async {
        loop {
            match futures_util::StreamExt::next(&mut slow.ws).await {
                Some(Ok(Message::Text(text))) => {
                    let update: Value = serde_json::from_str(text.as_str()).unwrap();
                    last = update["data"]["offset"].as_u64().unwrap();
                }
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                other => panic!("{other:?}"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(code, Some(lab_resilience::stream::SLOW_CONSUMER));
    assert!(classify(code).retries(), "1013 is worth a retry");
    assert!((1..300).contains(&last), "it read {last} before the close");
    let mut back = Json::connect(&server, &format!("?since={}:{last}", stream.epoch())).await;
    let subscribed = back.recv().await;
    assert_eq!(subscribed["data"]["recovered"], true, "{subscribed}");
    assert_eq!(missed(&subscribed), ((last + 1)..=300).collect::<Vec<_>>());
    server.stop().await.unwrap();
}
