//! The problem and the fix: three nodes behind HAProxy, without a broker (members of one
//! room on different nodes miss each other's messages) and with Redis (every message reaches
//! every member of its room, on every node, and nobody else). Every client connects to the
//! balancer's port only.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{client, cluster, next_message, one_per_node, read_until};
use lab_scale::cluster::Balance;

/// Messages each client says in the load tests.
const PER_CLIENT: usize = 20;

/// The balancer is in the path (clients know only its port) and spreads connections over
/// every node by round robin; sticky by source address puts every client of one address on
/// one node.
#[tokio::test]
async fn the_balancer_distributes_connections() {
    let Some(cluster) = cluster(3, true, Balance::Roundrobin, &[]).await else {
        return;
    };
    let mut nodes = BTreeMap::<String, usize>::new();
    let mut clients = Vec::new();
    for i in 0..9 {
        let (c, node) = client(&cluster, &format!("c{i}")).await;
        *nodes.entry(node).or_default() += 1;
        clients.push(c);
    }
    assert_eq!(
        nodes,
        BTreeMap::from([("n1".into(), 3), ("n2".into(), 3), ("n3".into(), 3)]),
        "round robin: three clients on each node"
    );
    // The node addresses were never given to a client: only the balancer's.
    for node in &cluster.nodes {
        assert_ne!(node.addr, cluster.balancer.addr);
    }
    drop(clients);
    drop(cluster);

    let Some(sticky) = common::cluster(3, true, Balance::Source, &[]).await else {
        return;
    };
    let mut seen = BTreeSet::new();
    for i in 0..6 {
        seen.insert(client(&sticky, &format!("s{i}")).await.1);
    }
    assert_eq!(
        seen.len(),
        1,
        "balance source: one address, one node: {seen:?}"
    );
}

/// Sends `PER_CLIENT` messages from each client in `room`, then a last one; returns what
/// each client received, in order, once it has received every client's last message.
async fn chat_round(
    clients: &mut [(lab_scale::client::ChatClient, String)],
    room: &str,
    expect_all: bool,
) -> Vec<Vec<String>> {
    for (c, _) in clients.iter_mut() {
        c.join(room).await.unwrap();
    }
    for i in 0..PER_CLIENT {
        for (k, (c, _)) in clients.iter_mut().enumerate() {
            c.send(room, &format!("{room}:{k}:{i}")).await.unwrap();
        }
    }
    let n = clients.len();
    let mut received = Vec::new();
    for (k, (c, _)) in clients.iter_mut().enumerate() {
        let mut texts = Vec::new();
        if expect_all {
            // Everyone's last message, whichever comes last.
            let mut lasts: BTreeSet<String> = (0..n)
                .map(|j| format!("{room}:{j}:{}", PER_CLIENT - 1))
                .collect();
            while !lasts.is_empty() {
                let m = next_message(c, common::STEP).await.unwrap_or_else(|| {
                    panic!("client {k} still waits for {lasts:?}; got {texts:?}")
                });
                lasts.remove(&m.said.text);
                texts.push(m.said.text);
            }
        } else {
            // Its own last message comes back (same node); then nothing more comes.
            texts = read_until(c, &format!("{room}:{k}:{}", PER_CLIENT - 1)).await;
            while let Some(m) = next_message(c, Duration::from_millis(500)).await {
                texts.push(m.said.text);
            }
        }
        received.push(texts);
    }
    received
}

/// Without a broker, three clients in one room on three nodes each see only their own
/// messages: two thirds of what was said in the room never reaches each of them.
#[tokio::test]
async fn without_a_broker_members_on_other_nodes_miss_messages() {
    let Some(cluster) = cluster(3, false, Balance::Roundrobin, &[]).await else {
        return;
    };
    let mut clients = one_per_node(&cluster, "p", 3).await;
    let received = chat_round(&mut clients, "rust", false).await;
    for (k, texts) in received.iter().enumerate() {
        let own: Vec<String> = (0..PER_CLIENT).map(|i| format!("rust:{k}:{i}")).collect();
        assert_eq!(
            texts, &own,
            "client {k} on {} got only its own node's messages",
            clients[k].1
        );
        let lost = PER_CLIENT * 3 - texts.len();
        assert_eq!(
            lost,
            PER_CLIENT * 2,
            "client {k} lost every message from the other nodes"
        );
    }
}

/// With Redis, two rooms of three members each (one per node) under a burst: every member
/// receives every message of its room exactly once, in one order shared by all members, and
/// not one message of the other room.
#[tokio::test]
async fn with_redis_every_member_gets_every_message_of_its_room_only() {
    let Some(cluster) = cluster(3, true, Balance::Roundrobin, &[]).await else {
        return;
    };
    let mut a = one_per_node(&cluster, "a", 3).await;
    let mut b = one_per_node(&cluster, "b", 3).await;
    let (got_a, got_b) = tokio::join!(
        chat_round(&mut a, "alpha", true),
        chat_round(&mut b, "beta", true)
    );
    for (room, got) in [("alpha", &got_a), ("beta", &got_b)] {
        let expected: BTreeSet<String> = (0..3)
            .flat_map(|k| (0..PER_CLIENT).map(move |i| format!("{room}:{k}:{i}")))
            .collect();
        for (k, texts) in got.iter().enumerate() {
            let set: BTreeSet<String> = texts.iter().cloned().collect();
            assert_eq!(set.len(), texts.len(), "{room} client {k}: no duplicates");
            assert_eq!(
                set, expected,
                "{room} client {k}: every message of its room, none of the other"
            );
            // Each sender's own messages in the order it sent them.
            for sender in 0..3 {
                let mine: Vec<&String> = texts
                    .iter()
                    .filter(|t| t.starts_with(&format!("{room}:{sender}:")))
                    .collect();
                let sent: Vec<String> = (0..PER_CLIENT)
                    .map(|i| format!("{room}:{sender}:{i}"))
                    .collect();
                assert_eq!(
                    mine,
                    sent.iter().collect::<Vec<_>>(),
                    "{room}: sender {sender} in order"
                );
            }
        }
        // One order for the whole room: the history's, the same on every node.
        assert!(
            got.windows(2).all(|w| w[0] == w[1]),
            "{room}: every member saw the same order"
        );
    }
}
