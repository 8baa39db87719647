//! Redis stopped and started again under a running cluster, and bad input from clients and
//! from the broker itself: what the chapter says happens, checked exactly.

#![allow(clippy::unwrap_used)]

mod common;

use common::{STEP, client, cluster, metric, metrics, one_per_node, read_until};
use lab_scale::client::{ChatClient, Event};
use lab_scale::cluster::{Balance, Redis};
use serde_json::{Value, json};

/// Waits for a `broker` event saying `up`; returns its data.
async fn broker_event(client: &mut ChatClient, up: bool) -> Value {
    tokio::time::timeout(STEP, async {
        loop {
            match client.next().await {
                Some(Event::Other(frame))
                    if frame["event"] == "broker" && frame["data"]["up"] == up =>
                {
                    return frame["data"].clone();
                }
                Some(_) => {}
                None => panic!("the client gave up"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no broker event with up = {up}"))
}

/// Redis stops and comes back (empty: no persistence). Meanwhile every node says the broker
/// is down (`broker` event, `scale_broker_up 0`) and keeps serving its own members: a
/// message said then reaches the sender's node only, with no position. When Redis is back
/// the nodes reconnect by themselves, cross-node delivery resumes, and the history has a new
/// epoch: a member on another node never gets the message said during the outage, and a
/// rejoin with a position from before is told `recovered: false`.
#[tokio::test]
async fn redis_stopped_and_restarted() {
    let Some(mut cluster) = cluster(3, true, Balance::Roundrobin, &[]).await else {
        return;
    };
    let mut clients = one_per_node(&cluster, "o", 3).await;
    let (mut b, b_node) = clients.pop().unwrap();
    let (mut a, a_node) = clients.pop().unwrap();
    // A second member on A's node.
    let mut a2 = loop {
        let (c, node) = client(&cluster, "neighbour").await;
        if node == a_node {
            break c;
        }
    };
    for c in [&mut a, &mut a2, &mut b] {
        c.join("ops").await.unwrap();
    }
    a.send("ops", "before").await.unwrap();
    for c in [&mut a, &mut a2, &mut b] {
        read_until(c, "before").await;
    }
    let old = b.position("ops").cloned().unwrap();
    let a_addr = cluster.nodes.iter().find(|n| n.id == a_node).unwrap().addr;

    // Redis goes away.
    let redis = cluster.redis.take().unwrap();
    let port = redis.port;
    redis.stop().unwrap();
    for c in [&mut a, &mut a2, &mut b] {
        let down = broker_event(c, false).await;
        assert_eq!(down["broker"], "redis");
    }
    assert_eq!(metric(&metrics(a_addr).await, "scale_broker_up"), Some(0.0));

    // The sender's node still serves its own members; the ack says how far it went.
    let ack = a.send("ops", "during").await.unwrap();
    assert_eq!(ack["local_only"], true, "{ack}");
    assert_eq!(ack["position"], Value::Null);
    let during = common::next_message(&mut a2, STEP).await.unwrap();
    assert_eq!(
        (during.said.text.as_str(), during.position.as_ref()),
        ("during", None)
    );

    // Redis is back, empty; the nodes reconnect without being told.
    let redis = Redis::start_on(port, cluster.dir.path()).await.unwrap();
    let mut epochs = Vec::new();
    for c in [&mut a, &mut a2, &mut b] {
        epochs.push(broker_event(c, true).await["epoch"].clone());
    }
    assert!(
        epochs
            .iter()
            .all(|e| *e == epochs[0] && *e != old.epoch.as_str()),
        "a new epoch: {epochs:?} vs {}",
        old.epoch
    );

    a.send("ops", "after").await.unwrap();
    // B, on another node, goes from "before" straight to "after": "during" is lost to it.
    assert_ne!(a_node, b_node);
    assert_eq!(read_until(&mut b, "after").await, ["after"]);
    assert_eq!(read_until(&mut a2, "after").await, ["after"]);

    // A rejoin from the old position cannot be recovered: that history died with Redis.
    b.request("leave", json!({ "room": "ops" })).await.unwrap();
    b.request("join", json!({ "room": "ops", "since": old.to_string() }))
        .await
        .unwrap();
    let recovered = tokio::time::timeout(STEP, async {
        loop {
            if let Some(Event::Recovered {
                recovered, reason, ..
            }) = b.next().await
            {
                return (recovered, reason);
            }
        }
    })
    .await
    .unwrap();
    assert!(
        !recovered.0 && recovered.1.contains("Redis restarted"),
        "{recovered:?}"
    );

    let scraped = metrics(a_addr).await;
    assert_eq!(metric(&scraped, "scale_broker_up"), Some(1.0));
    assert_eq!(metric(&scraped, "scale_broker_reconnects_total"), Some(1.0));
    assert_eq!(
        metric(&scraped, "scale_published_total{path=\"local_only\"}"),
        Some(1.0)
    );
    drop(redis);
}

/// Bad input gets an exception and changes nothing; garbage published on a room's channel
/// by someone else is counted and dropped, and the node goes on delivering.
#[tokio::test]
async fn bad_input_from_clients_and_from_the_broker() {
    let Some(cluster) = cluster(2, true, Balance::Roundrobin, &[]).await else {
        return;
    };
    let mut clients = one_per_node(&cluster, "x", 2).await;
    let (mut b, b_node) = clients.pop().unwrap();
    let (mut a, _) = clients.pop().unwrap();
    for (data, expected) in [
        (json!({ "room": "Bad Room" }), "room: 1 to 32 characters"),
        (
            json!({ "room": "ok", "since": "nope" }),
            "since must be <epoch>:<ms>-<seq>",
        ),
        (json!({ "room": "ok", "since": "abc:1-x" }), "since must be"),
        (json!({ "room": "ok", "extra": 1 }), "unknown field"),
    ] {
        let err = a
            .request("join", data.clone())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{data}: {err}");
    }
    let err = a.send("ok", "not a member").await.unwrap_err().to_string();
    assert!(err.contains("you are not in room ok"), "{err}");
    let err = a
        .request("send", json!({ "room": "ok", "text": "x".repeat(2001) }))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("at most 2000 characters"), "{err}");

    // None of that joined anything; now a real room.
    a.join("ok").await.unwrap();
    b.join("ok").await.unwrap();
    let redis = redis::Client::open(cluster.redis.as_ref().unwrap().url()).unwrap();
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    let channel = lab_scale::broker::channel_of("ok");
    for garbage in [
        "",
        "m",
        "m abc 1-0 {}",
        "m e 1-0 not json",
        "p {",
        "x y z",
        "\u{0}\u{ff}",
    ] {
        let _: () = redis::AsyncCommands::publish(&mut conn, &channel, garbage)
            .await
            .unwrap();
    }
    a.send("ok", "still here").await.unwrap();
    assert_eq!(read_until(&mut b, "still here").await, ["still here"]);
    let b_addr = cluster.nodes.iter().find(|n| n.id == b_node).unwrap().addr;
    assert_eq!(
        metric(&metrics(b_addr).await, "scale_broker_malformed_total"),
        Some(7.0)
    );
}
