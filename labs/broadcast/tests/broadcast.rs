//! The broadcast kinds, reliability and delivery confirmation, as clients see them.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use common::{Json, start, start_with};
use futures_util::future::join_all;
use kit::testing::within;
use lab_broadcast::{Audience, Broadcast, FanOut};
use serde_json::{Value, json};

/// A server-side broadcast to everyone, with `payload`.
fn to_all(payload: Value) -> Broadcast {
    Broadcast {
        to: Audience::All,
        payload,
        volatile: false,
        confirm_ms: None,
    }
}

/// Every subscriber receives every reliable message, in the order published, both fan-out
/// ways, while the messages are being published.
#[tokio::test]
async fn every_subscriber_gets_every_reliable_message_in_order() {
    for fanout in [FanOut::Scaling, FanOut::Naive] {
        let (server, hub) = start_with(fanout, |_| {}).await;
        let mut subscribers = Vec::new();
        for _ in 0..5 {
            subscribers.push(Json::connect(&server, "").await);
        }
        const N: u64 = 1000;
        let publish = async {
            for i in 0..N {
                let report = hub.publish(None, to_all(json!(i))).await;
                assert_eq!((report.recipients, report.queued), (5, 5), "{fanout:?}");
                // Let the send tasks run: a publisher that never yields would fill every
                // queue before any of them is written.
                tokio::task::yield_now().await;
            }
        };
        let reads = subscribers.iter_mut().map(|sub| async move {
            let mut last_seq = 0;
            for i in 0..N {
                let data = sub.broadcast().await;
                assert_eq!(data["payload"], i, "{fanout:?}: message {i} in order");
                let seq = data["seq"].as_u64().unwrap();
                assert_eq!(seq, last_seq + 1, "no gap in the sequence numbers");
                last_seq = seq;
            }
        });
        within("publishing and receiving", async {
            tokio::join!(publish, join_all(reads))
        })
        .await
        .unwrap();
        assert_eq!(hub.stats().deliveries, 5 * N);
        server.stop().await.unwrap();
    }
}

/// Topic and attribute-filter broadcasts reach exactly the selected connections: a marker
/// sent to everyone afterwards is the first thing the others see.
#[tokio::test]
async fn selective_broadcasts_reach_exactly_the_selected() {
    let (server, hub) = start().await;
    let mut admin_news = Json::connect(&server, "?role=admin").await;
    let mut user_news = Json::connect(&server, "?role=user").await;
    let mut admin_only = Json::connect(&server, "?role=admin&lang=vi").await;
    let mut nobody = Json::connect(&server, "").await;
    admin_news.subscribe(&["news"]).await;
    user_news.subscribe(&["news", "sport"]).await;

    let report = hub
        .publish(
            None,
            Broadcast {
                to: Audience::Topic {
                    topic: "news".into(),
                },
                ..to_all(json!("topic"))
            },
        )
        .await;
    assert_eq!((report.recipients, report.queued), (2, 2));
    let report = hub
        .publish(
            None,
            Broadcast {
                to: Audience::Where {
                    attr: "role".into(),
                    equals: "admin".into(),
                },
                ..to_all(json!("admins"))
            },
        )
        .await;
    assert_eq!((report.recipients, report.queued), (2, 2));
    hub.publish(None, to_all(json!("marker"))).await;

    let expect = [
        (&mut admin_news, vec!["topic", "admins", "marker"]),
        (&mut user_news, vec!["topic", "marker"]),
        (&mut admin_only, vec!["admins", "marker"]),
        (&mut nobody, vec!["marker"]),
    ];
    for (client, payloads) in expect {
        for payload in payloads {
            let data = client.broadcast().await;
            assert_eq!(data["payload"], payload, "conn {}", client.conn);
        }
    }
    // Unsubscribing takes effect for the next broadcast.
    let reply = user_news
        .request(2, "unsubscribe", json!({ "topics": ["news"] }))
        .await;
    assert_eq!(reply["data"]["topics"], json!(["sport"]));
    let report = hub
        .publish(
            None,
            Broadcast {
                to: Audience::Topic {
                    topic: "news".into(),
                },
                ..to_all(json!("topic"))
            },
        )
        .await;
    assert_eq!(report.recipients, 1);
}

/// "Everyone except the sender" reaches every other connection and not the sender.
#[tokio::test]
async fn except_sender_excludes_exactly_the_sender() {
    let (server, hub) = start().await;
    let mut sender = Json::connect(&server, "").await;
    let mut others = Vec::new();
    for _ in 0..3 {
        others.push(Json::connect(&server, "").await);
    }
    let reply = sender
        .request(
            1,
            "publish",
            json!({ "to": { "kind": "others" }, "payload": "hi" }),
        )
        .await;
    assert_eq!(reply["data"]["recipients"], 3, "{reply}");
    hub.publish(None, to_all(json!("marker"))).await;
    for other in &mut others {
        let data = other.broadcast().await;
        assert_eq!(data["payload"], "hi");
        assert_eq!(data["from"], sender.conn);
        assert_eq!(other.broadcast().await["payload"], "marker");
    }
    assert_eq!(sender.broadcast().await["payload"], "marker");
}

// ANCHOR: confirmation_test
/// Confirmation counts are exact: two recipients confirm, two stay silent, one disconnects
/// after receiving the message. The clock is paused, so the timeout passes at once when
/// everyone is waiting, and nothing depends on real time.
#[tokio::test(start_paused = true)]
async fn confirmation_counts_are_exact() {
    let (server, hub) = start().await;
    let mut publisher = Json::connect(&server, "").await;
    let mut confirming = vec![
        Json::connect(&server, "").await,
        Json::connect(&server, "").await,
    ];
    let mut silent = vec![
        Json::connect(&server, "").await,
        Json::connect(&server, "").await,
    ];
    let mut leaving = Json::connect(&server, "").await;

    publisher
        .send(json!({ "event": "publish", "id": 1, "data": {
            "to": { "kind": "others" }, "payload": "please confirm", "confirm_ms": 5000
        }}))
        .await;
    for client in &mut confirming {
        let data = client.broadcast().await;
        assert_eq!(data["confirm"], true);
        let reply = client
            .request(2, "confirm", json!({ "seq": data["seq"] }))
            .await;
        assert_eq!(reply["data"]["counted"], true, "{reply}");
    }
    for client in &mut silent {
        client.broadcast().await;
    }
    leaving.broadcast().await;
    drop(leaving); // Gone without a word, before confirming.

    let report = publisher.recv().await;
    assert_eq!(report["id"], 1, "{report}");
    assert_eq!(report["data"]["recipients"], 5);
    assert_eq!(
        report["data"]["confirmation"],
        json!({ "delivered": 2, "failed": 1, "timed_out": 2 })
    );
    // A confirmation after the timeout counts for nothing.
    let late = silent[0]
        .request(3, "confirm", json!({ "seq": report["data"]["seq"] }))
        .await;
    assert_eq!(late["data"]["counted"], false);
    let stats = hub.stats();
    assert_eq!((stats.confirmed, stats.failed, stats.timed_out), (2, 1, 2));
}
// ANCHOR_END: confirmation_test

/// When every recipient confirms, the publisher does not wait for the timeout.
#[tokio::test]
async fn confirmation_returns_early_when_everyone_answers() {
    let (server, hub) = start().await;
    let mut clients = vec![
        Json::connect(&server, "").await,
        Json::connect(&server, "").await,
    ];
    let publish = hub.publish(
        None,
        Broadcast {
            confirm_ms: Some(60_000),
            ..to_all(json!("x"))
        },
    );
    let confirm_all = async {
        for client in &mut clients {
            let seq = client.broadcast().await["seq"].clone();
            client
                .send(json!({ "event": "confirm", "data": { "seq": seq } }))
                .await;
        }
    };
    // Under `within` (10 s): finishing proves it did not wait the 60 s.
    let (report, ()) = within("confirmed broadcast", async {
        tokio::join!(publish, confirm_all)
    })
    .await
    .unwrap();
    let confirmation = report.confirmation.unwrap();
    assert_eq!(
        (
            confirmation.delivered,
            confirmation.failed,
            confirmation.timed_out
        ),
        (2, 0, 0)
    );
}

/// Several clients publishing at once: every subscriber receives every message once, all
/// in the same order, with increasing sequence numbers, and each publisher's in the order
/// it published them (one after another, each acknowledged before the next).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishers_reach_everyone_in_one_order() {
    let (server, _hub) = start().await;
    let mut subscribers = Vec::new();
    for _ in 0..3 {
        subscribers.push(Json::connect(&server, "?role=sub").await);
    }
    let mut publishers = Vec::new();
    for _ in 0..3 {
        publishers.push(Json::connect(&server, "").await);
    }
    const EACH: u64 = 60;
    let publish = publishers
        .iter_mut()
        .enumerate()
        .map(|(p, publisher)| async move {
            for i in 0..EACH {
                let to = json!({ "kind": "where", "attr": "role", "equals": "sub" });
                // Awaiting the ack: the gateway runs a connection's handlers concurrently,
                // so messages sent without waiting may be published in another order.
                let reply = publisher
                    .request(i + 1, "publish", json!({ "to": to, "payload": [p, i] }))
                    .await;
                assert_eq!(reply["event"], "ack", "{reply}");
            }
        });
    join_all(publish).await;
    let mut orders = Vec::new();
    for sub in &mut subscribers {
        let mut order = Vec::new();
        let mut last_seq = 0;
        for _ in 0..3 * EACH {
            let data = sub.broadcast().await;
            let seq = data["seq"].as_u64().unwrap();
            assert!(seq > last_seq, "increasing sequence numbers");
            last_seq = seq;
            order.push(data["payload"].clone());
        }
        orders.push(order);
    }
    assert!(orders.windows(2).all(|w| w[0] == w[1]), "one order for all");

    // Every pair [p, i] exactly once (a duplicate cannot stand in for a missing one), and
    // each publisher's messages in the order it sent them.
    let pairs: Vec<(u64, u64)> = orders[0]
        .iter()
        .map(|pair| (pair[0].as_u64().unwrap(), pair[1].as_u64().unwrap()))
        .collect();
    let distinct: std::collections::BTreeSet<_> = pairs.iter().copied().collect();
    let every: std::collections::BTreeSet<_> = (0..3)
        .flat_map(|p| (0..EACH).map(move |i| (p, i)))
        .collect();
    assert_eq!(distinct, every, "every message");
    assert_eq!(pairs.len(), distinct.len(), "none twice");
    for p in 0..3 {
        let sent: Vec<u64> = pairs
            .iter()
            .filter(|pair| pair.0 == p)
            .map(|pair| pair.1)
            .collect();
        assert_eq!(
            sent,
            (0..EACH).collect::<Vec<_>>(),
            "publisher {p} in order"
        );
    }
}
