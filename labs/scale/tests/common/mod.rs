//! What the scale lab's tests share: a real cluster (Redis, nodes, HAProxy) on free ports,
//! skipped with a message where `redis-server` or `haproxy` is missing, and a failure
//! instead under `REQUIRE_SCALE=1` (set by `.ci/run`).

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use lab_resilience::client::Backoff;
use lab_scale::broker::RoomMessage;
use lab_scale::client::{ChatClient, Event};
use lab_scale::cluster::{Balance, Cluster, Options};

/// The variable that turns a skip into a failure.
pub const REQUIRE_VAR: &str = "REQUIRE_SCALE";

/// A quick reconnection policy for tests: a killed node's clients are back within 200 ms.
pub const QUICK: Backoff = Backoff {
    base: Duration::from_millis(50),
    cap: Duration::from_millis(200),
};

/// How long a test waits for one step.
pub const STEP: Duration = Duration::from_secs(15);

/// Whether the programs a cluster needs are here: `None` to run, `Some(reason)` to skip.
/// Under `REQUIRE_SCALE=1` a missing program fails the test instead.
pub fn missing(redis: bool) -> Option<String> {
    let found = lab_scale::programs();
    let missing: Vec<&str> = found
        .iter()
        .filter(|(name, path)| path.is_none() && (redis || *name != "redis-server"))
        .map(|(name, _)| *name)
        .collect();
    if missing.is_empty() {
        return None;
    }
    let why = format!(
        "{} not installed (Debian: apt-get install redis-server haproxy)",
        missing.join(" and ")
    );
    kit::testing::missing(REQUIRE_VAR, &why);
    Some(why)
}

/// A cluster of `nodes` nodes, with Redis or not, `balance`, and `node_args`; `None` when
/// skipped.
pub async fn cluster(
    nodes: usize,
    redis: bool,
    balance: Balance,
    node_args: &[&str],
) -> Option<Cluster> {
    if missing(redis).is_some() {
        return None;
    }
    let options = Options {
        exe: env!("CARGO_BIN_EXE_lab-scale").into(),
        nodes,
        redis,
        balance,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        node_args: node_args.iter().map(|a| (*a).to_owned()).collect(),
    };
    Some(Cluster::start(&options).await.expect("the cluster starts"))
}

/// A client connected through the balancer as `name`; returns it and its node.
pub async fn client(cluster: &Cluster, name: &str) -> (ChatClient, String) {
    let mut client = ChatClient::new(&cluster.ws_url("/ws"), name, QUICK);
    let node = tokio::time::timeout(STEP, client.connect())
        .await
        .expect("connected in time")
        .expect("connected");
    (client, node)
}

/// Clients through the balancer until there is one on each of `nodes` distinct nodes
/// (round robin gives them in turn); each with its node.
pub async fn one_per_node(
    cluster: &Cluster,
    prefix: &str,
    nodes: usize,
) -> Vec<(ChatClient, String)> {
    let mut clients: Vec<(ChatClient, String)> = Vec::new();
    for i in 0..nodes * 4 {
        let (c, node) = client(cluster, &format!("{prefix}{i}")).await;
        if clients.iter().all(|(_, n)| *n != node) {
            clients.push((c, node));
        }
        if clients.len() == nodes {
            return clients;
        }
    }
    panic!(
        "round robin did not spread {} clients over {nodes} nodes",
        nodes * 4
    );
}

/// The next room message `client` yields, within `wait`; `None` if none came.
pub async fn next_message(client: &mut ChatClient, wait: Duration) -> Option<RoomMessage> {
    tokio::time::timeout(wait, async {
        loop {
            match client.next().await {
                Some(Event::Message(message)) => return Some(message),
                Some(Event::GaveUp { reason }) => panic!("the client gave up: {reason}"),
                Some(_) => {}
                None => return None,
            }
        }
    })
    .await
    .ok()
    .flatten()
}

/// Reads messages until one with `text` arrives (within [`STEP`]); returns every message
/// text read, that one included.
pub async fn read_until(client: &mut ChatClient, text: &str) -> Vec<String> {
    let mut texts = Vec::new();
    loop {
        let message = next_message(client, STEP)
            .await
            .unwrap_or_else(|| panic!("{text:?} never arrived; got {texts:?}"));
        texts.push(message.said.text.clone());
        if message.said.text == text {
            return texts;
        }
    }
}

/// A scrape of `addr`'s `/metrics`.
pub async fn metrics(addr: SocketAddr) -> String {
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the metric line starting with `name` (labels included) in `text`.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(name) && line[name.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}
