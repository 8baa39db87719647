//! Presence across nodes and failover: who is in a room, asked of any node, after joins,
//! leaves and a node killed with SIGKILL; and a node killed in the middle of a stream of
//! messages, whose clients reconnect through HAProxy to the others and recover from the
//! room's Redis Stream.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{STEP, client, cluster, one_per_node};
use lab_scale::broker::Presence;
use lab_scale::client::{ChatClient, Event};
use lab_scale::cluster::Balance;

/// The presence TTL of these tests, in seconds: short, so an expiry is quick to see.
const TTL: u64 = 2;

/// The member list as `name@node`, sorted, asked through `client`.
async fn members(client: &mut ChatClient, room: &str) -> Vec<String> {
    let reply = client
        .request("members", serde_json::json!({ "room": room }))
        .await
        .unwrap();
    let list: Vec<Presence> = serde_json::from_value(reply["members"].clone()).unwrap();
    let mut names: Vec<String> = list
        .iter()
        .map(|m| format!("{}@{}", m.name, m.node))
        .collect();
    names.sort();
    names
}

/// Presence is the same from every node after joins and a leave; a node killed with SIGKILL
/// says nothing, so its member stays listed until its entry expires (one TTL), then
/// disappears, and the others are told once that it left.
#[tokio::test]
async fn presence_across_nodes_joins_leaves_and_a_killed_node() {
    let ttl = TTL.to_string();
    let Some(mut cluster) = cluster(3, true, Balance::Roundrobin, &["--presence-ttl", &ttl]).await
    else {
        return;
    };
    let mut clients = one_per_node(&cluster, "m", 3).await;
    for (c, _) in &mut clients {
        c.join("rust").await.unwrap();
    }
    let listed = members(&mut clients[0].0, "rust").await;
    assert_eq!(listed.len(), 3, "{listed:?}");
    let nodes: BTreeSet<String> = listed
        .iter()
        .map(|m| m.split('@').nth(1).unwrap().to_owned())
        .collect();
    assert_eq!(
        nodes,
        BTreeSet::from(["n1".into(), "n2".into(), "n3".into()]),
        "{listed:?}"
    );
    for (c, _) in &mut clients {
        assert_eq!(
            members(c, "rust").await,
            listed,
            "the same list from every node"
        );
    }

    // A leave is seen at once, from every node.
    let (mut leaver, leaver_node) = clients.remove(2);
    leaver
        .request("leave", serde_json::json!({ "room": "rust" }))
        .await
        .unwrap();
    let after_leave = members(&mut clients[0].0, "rust").await;
    assert_eq!(after_leave.len(), 2);
    assert!(
        after_leave
            .iter()
            .all(|m| !m.ends_with(&format!("@{leaver_node}"))),
        "{after_leave:?}"
    );
    leaver.close().await;

    // SIGKILL the node of clients[1]: no leave is ever sent for its member.
    let (_, victim_node) = &clients[1];
    let victim_node = victim_node.clone();
    let index = cluster
        .nodes
        .iter()
        .position(|n| n.id == victim_node)
        .unwrap();
    let killed_at = Instant::now();
    cluster.nodes.remove(index).kill().unwrap();
    let right_after = members(&mut clients[0].0, "rust").await;
    assert!(
        right_after
            .iter()
            .any(|m| m.ends_with(&format!("@{victim_node}"))),
        "still listed right after the kill, before its entry expires: {right_after:?}"
    );
    // Then it expires: the survivor's heartbeat removes it and announces it once.
    let (survivor, _) = &mut clients[0];
    let left = tokio::time::timeout(Duration::from_secs(4 * TTL), async {
        loop {
            match survivor.next().await {
                Some(Event::Other(frame))
                    if frame["event"] == "presence"
                        && frame["data"]["left"]["node"] == victim_node.as_str() =>
                {
                    return frame;
                }
                Some(_) => {}
                None => panic!("the survivor gave up"),
            }
        }
    })
    .await
    .expect("the killed node's member is announced as gone");
    assert!(
        left["data"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("expired"),
        "{left}"
    );
    let gone_after = killed_at.elapsed();
    assert!(
        gone_after >= Duration::from_millis(TTL * 1000 / 2),
        "not before its entry could expire: {gone_after:?}"
    );
    let finally = members(survivor, "rust").await;
    assert_eq!(finally.len(), 1, "only the survivor is left: {finally:?}");
}

/// Messages the publisher says in the failover test.
const MESSAGES: usize = 150;

/// A node is killed with SIGKILL while a publisher on another node is saying 150 messages:
/// its clients lose their connection (1006), reconnect through HAProxy, land on a surviving
/// node, rejoin with their last position and recover the rest from the Redis Stream. Every
/// receiver ends with every message exactly once, in order; the recovery is counted.
#[tokio::test]
async fn a_killed_node_loses_nothing_its_clients_recover_elsewhere() {
    let Some(mut cluster) = cluster(3, true, Balance::Roundrobin, &[]).await else {
        return;
    };
    // Two receivers per node, and a publisher.
    let mut receivers = one_per_node(&cluster, "r", 3).await;
    receivers.extend(one_per_node(&cluster, "s", 3).await);
    for (c, _) in &mut receivers {
        c.join("news").await.unwrap();
    }
    let (mut publisher, publisher_node) = client(&cluster, "publisher").await;
    publisher.join("news").await.unwrap();
    let victim = ["n1", "n2", "n3"]
        .into_iter()
        .find(|n| *n != publisher_node)
        .unwrap()
        .to_owned();
    let on_victim = receivers.iter().filter(|(_, n)| *n == victim).count();
    assert_eq!(on_victim, 2);

    let readers: Vec<_> = receivers
        .into_iter()
        .map(|(mut c, _)| {
            tokio::spawn(async move {
                let mut texts = Vec::new();
                // The first event is the welcome of the first connection.
                let mut nodes = Vec::new();
                let mut recoveries = Vec::new();
                let deadline = Instant::now() + Duration::from_secs(60);
                while texts.len() < MESSAGES && Instant::now() < deadline {
                    match tokio::time::timeout(STEP, c.next()).await {
                        Ok(Some(Event::Message(m))) => texts.push(m.said.text),
                        Ok(Some(Event::Welcome { node, .. })) => nodes.push(node),
                        Ok(Some(Event::Recovered {
                            recovered, missed, ..
                        })) => recoveries.push((recovered, missed)),
                        Ok(Some(_)) => {}
                        Ok(None) | Err(_) => break,
                    }
                }
                (texts, nodes, recoveries)
            })
        })
        .collect();

    let index = cluster.nodes.iter().position(|n| n.id == victim).unwrap();
    let mut victim_process = Some(cluster.nodes.remove(index));
    for i in 0..MESSAGES {
        if i == MESSAGES / 3 {
            victim_process.take().unwrap().kill().unwrap();
        }
        publisher.send("news", &format!("m{i:03}")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let expected: Vec<String> = (0..MESSAGES).map(|i| format!("m{i:03}")).collect();
    let mut moved = 0;
    for reader in readers {
        let (texts, nodes, recoveries) = reader.await.unwrap();
        assert_eq!(
            texts, expected,
            "every message exactly once, in order (nodes {nodes:?})"
        );
        if nodes[0] == victim {
            moved += 1;
            let now_on = nodes.last().unwrap();
            assert_ne!(
                *now_on, victim,
                "reconnected to a surviving node: {nodes:?}"
            );
            assert!(recoveries.iter().all(|(ok, _)| *ok), "{recoveries:?}");
            assert!(!recoveries.is_empty(), "rejoined with its position");
        } else {
            assert_eq!(
                nodes.len(),
                1,
                "a client on a surviving node never moved: {nodes:?}"
            );
        }
    }
    assert_eq!(moved, 2);
}

/// A member that has not seen a single message yet still has a position (the `joined`
/// event's, the history's end at its join): its node is killed, three messages are said
/// before it notices, and its rejoin on another node replays all three.
#[tokio::test]
async fn a_member_that_saw_nothing_yet_recovers_too() {
    let Some(mut cluster) = cluster(3, true, Balance::Roundrobin, &[]).await else {
        return;
    };
    let mut clients = one_per_node(&cluster, "q", 2).await;
    let (mut quiet, quiet_node) = clients.pop().unwrap();
    let (mut talker, _) = clients.pop().unwrap();
    quiet.join("calm").await.unwrap();
    talker.join("calm").await.unwrap();
    assert!(
        quiet.position("calm").is_some(),
        "a position from the join alone"
    );
    let index = cluster
        .nodes
        .iter()
        .position(|n| n.id == quiet_node)
        .unwrap();
    cluster.nodes.remove(index).kill().unwrap();
    // Said before the quiet member reads anything: it can only get them from the history.
    for text in ["one", "two", "three"] {
        talker.send("calm", text).await.unwrap();
    }
    let mut texts = Vec::new();
    let mut recovered = None;
    while texts.len() < 3 {
        match tokio::time::timeout(STEP, quiet.next()).await.unwrap() {
            Some(Event::Message(m)) => texts.push((m.said.text, m.recovered)),
            Some(Event::Recovered {
                recovered: ok,
                missed,
                ..
            }) => recovered = Some((ok, missed)),
            Some(_) => {}
            None => panic!("the client gave up"),
        }
    }
    let expected = [("one", true), ("two", true), ("three", true)].map(|(t, r)| (t.to_owned(), r));
    assert_eq!(texts, expected);
    assert_ne!(quiet.node(), Some(quiet_node.as_str()));
    // The `recovered` event follows the replayed messages.
    while recovered.is_none() {
        if let Some(Event::Recovered {
            recovered: ok,
            missed,
            ..
        }) = tokio::time::timeout(STEP, quiet.next()).await.unwrap()
        {
            recovered = Some((ok, missed));
        }
    }
    assert_eq!(recovered, Some((true, 3)));
}
