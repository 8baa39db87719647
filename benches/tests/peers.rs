//! The Node peers (`benches/peers/`) answer what the harness asks of them, so their rows in
//! a comparison cannot rot: Node's `ws` echoes the harness's own wire format to the
//! harness's own client, Socket.IO acks, rooms and broadcasts reach whom they should through
//! our Rust client (`bench::socketio`), and no Node process outlives its owner.
//!
//! `benches/peers/install.sh && REQUIRE_PEERS=1 cargo test -p bench --test peers`. Without
//! Node or the packages, each test is skipped with a message (a failure under
//! `REQUIRE_PEERS=1`, as `.ci/run` sets it).

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use bench::client::Connection;
use bench::peers::{NodePeer, PeerError, PeerKind, peers_dir};
use bench::server::ServerAddrs;
use bench::socketio::SioClient;
use bench::transport::{Encoding, Transport};
use bench::wire;
use futures_util::{SinkExt as _, StreamExt as _};
use protos::bench::v1::EchoRequest;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// A deadline for any one exchange; generous for a shared debug-build machine.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Starts `kind`, or says why it cannot be started and returns `None` (a failure under
/// `REQUIRE_PEERS=1`).
async fn start(kind: PeerKind, core: Option<usize>) -> Option<NodePeer> {
    match NodePeer::spawn(kind, core).await {
        Ok(peer) => Some(peer),
        Err(err @ PeerError::Missing { .. }) => {
            kit::testing::missing("REQUIRE_PEERS", &format!("the {} peer: {err}", kind.name()));
            None
        }
        Err(err) => panic!("the {} peer did not start: {err}", kind.name()),
    }
}

/// `future`, failing the test after [`TIMEOUT`] with `what`.
async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, future)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// Whether process `pid` is still running (a zombie has ended; it only waits to be reaped).
fn is_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the parenthesised command name.
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

/// Waits until `pid` has ended, failing after [`TIMEOUT`]. A bounded poll: a killed process
/// ends within milliseconds, but nothing tells us when.
async fn assert_ends(pid: u32, what: &str) {
    within(what, async {
        while is_running(pid) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// Node's ws echoes protobuf (binary frames) and JSON (text frames) EchoRequests from 16 B
/// to the harness's largest payload, 4 MiB, to the harness's own WebSocket client, every
/// reply the request's seq and payload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_ws_echoes_both_encodings_to_the_harness_client() {
    let Some(peer) = start(PeerKind::NodeWs, None).await else {
        return;
    };
    // The harness's client connects to `node_ws` for the node-ws transport.
    let addrs = ServerAddrs {
        tcp: peer.addr,
        http: peer.addr,
        grpc: peer.addr,
        node_ws: Some(peer.addr),
    };
    for encoding in Encoding::ALL {
        let mut connection = within(
            "connecting",
            Connection::open(Transport::NodeWs, encoding, &addrs, true),
        )
        .await
        .unwrap();
        for (seq, size) in [16, 4096, 1024 * 1024, bench::config::MAX_PAYLOAD]
            .into_iter()
            .enumerate()
        {
            let request = EchoRequest {
                seq: seq as u64 + 300,
                payload: wire::payload(size),
            };
            let reply = within("an echo", connection.echo(&request))
                .await
                .unwrap_or_else(|err| panic!("{encoding} {size} B: {err}"));
            wire::check_reply(&request, &reply)
                .unwrap_or_else(|err| panic!("{encoding} {size} B: {err}"));
        }
        // seq 0 and an empty payload are proto3 defaults, left out of the encoding.
        let empty = EchoRequest {
            seq: 0,
            payload: Default::default(),
        };
        let reply = within("an empty echo", connection.echo(&empty))
            .await
            .unwrap();
        wire::check_reply(&empty, &reply).unwrap();
    }
    peer.stop().await.unwrap();
}

/// A binary frame that is not an EchoRequest closes the connection with 1007, as our own
/// server does.
#[tokio::test]
async fn node_ws_closes_on_an_undecodable_request() {
    let Some(peer) = start(PeerKind::NodeWs, None).await else {
        return;
    };
    let (mut socket, _) = within(
        "connecting",
        tokio_tungstenite::connect_async(format!("ws://{}/ws", peer.addr)),
    )
    .await
    .unwrap();
    // Field 2 claims 5 bytes and carries 2.
    socket
        .send(Message::Binary(vec![0x12, 0x05, 1, 2].into()))
        .await
        .unwrap();
    let close = match within("the close", socket.next()).await {
        Some(Ok(Message::Close(frame))) => frame,
        other => panic!("expected a close, got {other:?}"),
    };
    assert_eq!(close.unwrap().code, CloseCode::Invalid);
    peer.stop().await.unwrap();
}

/// Connects one Socket.IO client, under the test timeout.
async fn sio(addr: SocketAddr) -> SioClient {
    within("connecting to Socket.IO", SioClient::connect(addr))
        .await
        .unwrap()
}

/// Socket.IO's echo acks return the data sent, nested JSON and a 1 MiB string alike, on a
/// sequence of ack ids.
#[tokio::test]
async fn socketio_echo_ack_returns_the_data() {
    let Some(peer) = start(PeerKind::SocketIo, None).await else {
        return;
    };
    let mut client = sio(peer.addr).await;
    assert!(!client.handshake.sid.is_empty());
    assert!(client.handshake.max_payload >= 4 * 1024 * 1024);
    let large = "x".repeat(1024 * 1024);
    let values = [
        json!({"seq": 1, "payload": "q83v", "nested": [1, 2, {"a": null}]}),
        json!("plain"),
        json!(large),
        json!(42),
    ];
    for value in values {
        let acked = within("an echo ack", client.emit_with_ack("echo", &value))
            .await
            .unwrap();
        assert_eq!(acked, value);
    }
    within("closing", client.close()).await.unwrap();
    peer.stop().await.unwrap();
}

/// Two clients join a room (the acks count 1, then 2 members) and a publish reaches both;
/// a third client, in another room, gets only what is published to its own room.
#[tokio::test]
async fn socketio_publish_reaches_room_members_only() {
    let Some(peer) = start(PeerKind::SocketIo, None).await else {
        return;
    };
    let mut alice = sio(peer.addr).await;
    let mut bob = sio(peer.addr).await;
    let mut carol = sio(peer.addr).await;
    let joined = within("alice joins", alice.emit_with_ack("join", "rust")).await;
    assert_eq!(joined.unwrap(), json!(1));
    let joined = within("bob joins", bob.emit_with_ack("join", "rust")).await;
    assert_eq!(joined.unwrap(), json!(2));
    let joined = within("carol joins", carol.emit_with_ack("join", "go")).await;
    assert_eq!(joined.unwrap(), json!(1));

    // Carol publishes: a room member only receives, a publisher only sends.
    let (mut publisher, mut carol_inbox) = carol.into_split();
    let body = json!({"seq": 7, "text": "hello, rust"});
    within(
        "publishing",
        publisher.emit("publish", &json!({"room": "rust", "body": body})),
    )
    .await
    .unwrap();
    for member in [&mut alice, &mut bob] {
        let (event, data) = within("a room message", member.next_event()).await.unwrap();
        assert_eq!((event.as_str(), data), ("msg", body.clone()));
    }
    // The server handles one client's packets in order and writes to each socket in order,
    // so had the first publish reached carol, it would come before this one.
    let marker = json!("only for go");
    within(
        "publishing to go",
        publisher.emit("publish", &json!({"room": "go", "body": marker})),
    )
    .await
    .unwrap();
    let (event, data) = within("carol's message", carol_inbox.next_event())
        .await
        .unwrap();
    assert_eq!((event.as_str(), data), ("msg", marker));
    within("closing", publisher.close()).await.unwrap();
    peer.stop().await.unwrap();
}

/// A broadcast reaches every connected client, the sender included, once all are counted in.
#[tokio::test]
async fn socketio_broadcast_reaches_all() {
    let Some(peer) = start(PeerKind::SocketIo, None).await else {
        return;
    };
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(sio(peer.addr).await);
    }
    let count = within("counting", clients[0].emit_with_ack("count", &Value::Null)).await;
    assert_eq!(count.unwrap(), json!(3));
    let body = json!({"n": 1});
    within("broadcasting", clients[2].emit("broadcast", &body))
        .await
        .unwrap();
    for client in &mut clients {
        let (event, data) = within("the broadcast", client.next_event()).await.unwrap();
        assert_eq!((event.as_str(), data), ("msg", body.clone()));
    }
    peer.stop().await.unwrap();
}

/// Each peer's Node process is gone once its `NodePeer` is dropped, and once it is stopped.
#[tokio::test]
async fn no_node_process_outlives_its_peer() {
    for kind in PeerKind::ALL {
        let Some(peer) = start(kind, None).await else {
            return;
        };
        let pid = peer.pid;
        assert!(is_running(pid), "{} is not running", kind.name());
        drop(peer);
        assert_ends(pid, "the dropped peer's exit").await;

        let Some(peer) = start(kind, None).await else {
            return;
        };
        let pid = peer.pid;
        peer.stop().await.unwrap();
        assert!(!is_running(pid), "{} still runs after stop", kind.name());
    }
}

/// A script whose parent lets go of its stdin exits by itself, with status 0: what keeps a
/// peer from outliving a harness that crashed.
#[tokio::test]
async fn a_peer_exits_when_its_stdin_closes() {
    // Whether Node and the packages are there: spawn says, and skips or fails as it should.
    let Some(peer) = start(PeerKind::NodeWs, None).await else {
        return;
    };
    peer.stop().await.unwrap();
    for kind in PeerKind::ALL {
        let mut child = tokio::process::Command::new("node")
            .arg(peers_dir().join(kind.script()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
        let line = within("the address line", lines.next_line()).await;
        let line: Value = serde_json::from_str(&line.unwrap().unwrap()).unwrap();
        let addr: SocketAddr = line["addr"].as_str().unwrap().parse().unwrap();
        assert!(addr.ip().is_loopback(), "{} binds {addr}", kind.name());
        drop(child.stdin.take());
        let status = within("the exit", child.wait()).await.unwrap();
        assert!(status.success(), "{} exited with {status}", kind.name());
    }
}

/// With a core given, the peer runs under taskset on that core alone, and its pid is node's.
#[tokio::test]
async fn a_pinned_peer_runs_on_its_core() {
    let Some(peer) = start(PeerKind::SocketIo, Some(0)).await else {
        return;
    };
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", peer.pid)).unwrap();
    assert_eq!(comm.trim(), "node");
    let status = std::fs::read_to_string(format!("/proc/{}/status", peer.pid)).unwrap();
    let cpus = status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .unwrap();
    assert_eq!(cpus.trim(), "0");
    // It still serves: a pinned peer is a working peer.
    let mut client = sio(peer.addr).await;
    let acked = within("an echo ack", client.emit_with_ack("echo", "pinned")).await;
    assert_eq!(acked.unwrap(), json!("pinned"));
    peer.stop().await.unwrap();
}
