//! The rooms lab with real clients: isolation under load, presence and the lifecycle in
//! order (including a client that vanishes without a close frame), limits, slow members.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Json, start, start_with};
use serde_json::{Value, json};

/// 15 clients in 3 rooms (one of them in two rooms) each send 20 messages at once: every
/// client receives exactly the messages of its rooms, each once, and nothing else.
#[tokio::test]
async fn isolation_under_load() {
    let (server, _) = start().await;
    let rooms = ["red", "green", "blue"];
    let mut clients = Vec::new();
    for i in 0..15 {
        let mut mine = vec![rooms[i % 3]];
        if i == 0 {
            mine.push("blue");
        }
        let (mut client, _) = Json::welcomed(&server, &format!("?name=u{i}")).await;
        for (n, room) in mine.iter().enumerate() {
            let reply = client
                .request(n as u64 + 1, "join", json!({ "room": room }))
                .await;
            assert_eq!(reply["event"], "ack", "{reply}");
        }
        clients.push((client, mine));
    }
    // Everyone sends, without waiting for acks (no id: fire and forget).
    const PER_CLIENT: usize = 20;
    for (i, (client, mine)) in clients.iter_mut().enumerate() {
        for k in 0..PER_CLIENT {
            let room = mine[k % mine.len()];
            client
                .send(json!({ "event": "send", "data": { "room": room, "text": format!("{i}:{k}:{room}") } }))
                .await;
        }
    }
    // What each room should carry: the texts sent to it.
    let mut sent: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (i, (_, mine)) in clients.iter().enumerate() {
        for k in 0..PER_CLIENT {
            let room = mine[k % mine.len()];
            sent.entry(room)
                .or_default()
                .insert(format!("{i}:{k}:{room}"));
        }
    }
    for (i, (client, mine)) in clients.iter_mut().enumerate() {
        let mut expected: BTreeSet<String> = mine
            .iter()
            .flat_map(|room| sent[room].iter().cloned())
            .collect();
        while !expected.is_empty() {
            let message = client.recv_event("message").await;
            let text = message["data"]["text"].as_str().unwrap().to_owned();
            let room = message["data"]["room"].as_str().unwrap();
            assert!(mine.contains(&room), "client {i} got a message of {room}");
            assert!(
                text.ends_with(room),
                "{text} delivered as a message of {room}"
            );
            assert!(
                expected.remove(&text),
                "client {i} got {text} twice or by mistake"
            );
        }
    }
    // And nothing more: a marker sent now to every room is what each client sees next,
    // exactly one per room it is in.
    for room in rooms {
        let (sender, _) = clients
            .iter_mut()
            .find(|(_, mine)| mine.contains(&room))
            .unwrap();
        sender
            .send(
                json!({ "event": "send", "data": { "room": room, "text": format!("end:{room}") } }),
            )
            .await;
    }
    for (i, (client, mine)) in clients.iter_mut().enumerate() {
        let mut markers = BTreeSet::new();
        for _ in 0..mine.len() {
            let next = client.recv_event("message").await;
            let (room, text) = (&next["data"]["room"], &next["data"]["text"]);
            assert_eq!(
                text,
                &json!(format!("end:{}", room.as_str().unwrap())),
                "client {i}: {next}"
            );
            markers.insert(text.as_str().unwrap().to_owned());
        }
        let expected: BTreeSet<String> = mine.iter().map(|room| format!("end:{room}")).collect();
        assert_eq!(markers, expected, "client {i}");
    }
}

/// Lifecycle events come in order (created, active, inactive, deleted); presence shows the
/// member list on join, a join event, and a leave event when a member's TCP connection is
/// dropped without a close frame.
#[tokio::test]
async fn presence_and_lifecycle_in_order_even_after_an_abrupt_drop() {
    let (server, registry) = start().await;
    let (mut watcher, _) = Json::welcomed(&server, "?name=watcher").await;
    let (mut ada, _) = Json::welcomed(&server, "?name=ada").await;
    let reply = ada.request(1, "join", json!({ "room": "rust" })).await;
    assert_eq!(reply["data"], json!({ "room": "rust", "members": ["ada"] }));
    // Subscribed before the join is announced, ada sees her own join first.
    assert_eq!(ada.recv_event("presence").await["data"]["joined"], "ada");

    let (mut bob, bob_id) = Json::welcomed(&server, "?name=bob").await;
    let reply = bob.request(1, "join", json!({ "room": "rust" })).await;
    assert_eq!(reply["data"]["members"], json!(["ada", "bob"]));
    let joined = ada.recv_event("presence").await;
    assert_eq!(
        joined["data"],
        json!({ "room": "rust", "joined": "bob", "conn": bob_id })
    );

    // bob's machine vanishes: TCP goes away, no close frame.
    drop(bob);
    let left = ada.recv_event("presence").await;
    assert_eq!(
        left["data"],
        json!({ "room": "rust", "left": "bob", "conn": bob_id })
    );
    assert_eq!(registry.members("rust"), ["ada"]);

    let reply = ada.request(2, "leave", json!({ "room": "rust" })).await;
    assert_eq!(reply["data"]["left"], true);
    let mut states = Vec::new();
    while states.last() != Some(&json!("deleted")) {
        let change = watcher.recv_event("room").await;
        assert_eq!(change["data"]["room"], "rust");
        states.push(change["data"]["state"].clone());
    }
    assert_eq!(
        states,
        json!(["created", "active", "inactive", "deleted"])
            .as_array()
            .unwrap()
            .clone()
    );
    assert_eq!(registry.state("rust"), None);
}

/// Each limit answers with a clear exception and the connection stays open.
#[tokio::test]
async fn limits_answer_with_clear_exceptions() {
    let (server, _) = start_with(|config| {
        config.limits.rooms_per_connection = 2;
        config.limits.members_per_room = 2;
        config.limits.max_text_chars = 10;
    })
    .await;
    let (mut ada, _) = Json::welcomed(&server, "?name=ada").await;
    let message = |reply: &Value| reply["data"]["message"].as_str().unwrap().to_owned();

    for (id, room) in [(1, "a"), (2, "b")] {
        assert_eq!(
            ada.request(id, "join", json!({ "room": room })).await["event"],
            "ack"
        );
    }
    let reply = ada.request(3, "join", json!({ "room": "c" })).await;
    assert_eq!(
        message(&reply),
        "at most 2 rooms per connection: leave one first"
    );

    for bad in ["", "Rust", "has space", &"x".repeat(33)] {
        let reply = ada.request(4, "join", json!({ "room": bad })).await;
        assert_eq!(reply["data"]["cause"]["kind"], "validation", "{bad:?}");
    }
    let reply = ada
        .request(5, "send", json!({ "room": "a", "text": "12345678901" }))
        .await;
    assert_eq!(message(&reply), "invalid data: text: at most 10 characters");
    let reply = ada
        .request(6, "send", json!({ "room": "zzz", "text": "hi" }))
        .await;
    assert_eq!(message(&reply), "forbidden: you are not in room zzz");

    let (mut bob, _) = Json::welcomed(&server, "?name=bob").await;
    let (mut cy, _) = Json::welcomed(&server, "?name=cy").await;
    assert_eq!(
        bob.request(1, "join", json!({ "room": "a" })).await["event"],
        "ack"
    );
    let reply = cy.request(1, "join", json!({ "room": "a" })).await;
    assert_eq!(message(&reply), "room a is full (2 members)");

    let reply = ada
        .request(7, "send", json!({ "room": "a", "text": "still ok" }))
        .await;
    assert_eq!(reply["data"]["delivered"], 2);
}

/// A member that does not read falls behind its room and is told how many messages it
/// missed; the sender and the room carry on.
#[tokio::test]
async fn slow_member_is_told_what_it_missed() {
    let (server, _) = start_with(|config| {
        config.gateway.outgoing_queue = 2;
        config.limits.room_backlog = 4;
        config.limits.max_text_chars = 50_000;
    })
    .await;
    let (mut fast, _) = Json::welcomed(&server, "?name=fast").await;
    let (mut slow, _) = Json::welcomed(&server, "?name=slow").await;
    fast.request(1, "join", json!({ "room": "flood" })).await;
    slow.request(1, "join", json!({ "room": "flood" })).await;
    fast.kept.clear();

    // About 25 MB for a reader that reads nothing: more than the socket buffers hold.
    let text = "w".repeat(50_000);
    for id in 2..500 {
        let reply = fast
            .request(id, "send", json!({ "room": "flood", "text": text }))
            .await;
        assert_eq!(reply["event"], "ack");
        fast.kept.clear();
    }
    let missed = slow.recv_event("missed").await;
    assert_eq!(missed["data"]["room"], "flood");
    assert!(missed["data"]["missed"].as_u64().unwrap() > 0, "{missed}");

    // The room carries on, for the slow member too: a new message reaches it.
    let reply = fast
        .request(500, "send", json!({ "room": "flood", "text": "after" }))
        .await;
    assert_eq!(reply["event"], "ack", "{reply}");
    loop {
        let message = slow.recv_event("message").await;
        if message["data"]["text"] == "after" {
            break;
        }
        // What was queued before the `missed` note; nothing after "after" is sent.
        assert_eq!(message["data"]["text"], text.as_str());
    }
}

/// `rooms` lists every room with its state and size.
#[tokio::test]
async fn rooms_lists_rooms() {
    let (server, _) = start().await;
    let (mut ada, _) = Json::welcomed(&server, "?name=ada").await;
    ada.request(1, "join", json!({ "room": "b" })).await;
    ada.request(2, "join", json!({ "room": "a" })).await;
    let reply = ada.request(3, "rooms", Value::Null).await;
    assert_eq!(
        reply["data"]["rooms"],
        json!([
            { "room": "a", "state": "active", "members": 1 },
            { "room": "b", "state": "active", "members": 1 }
        ])
    );
}
