//! The heartbeat, both ways, on tokio's paused clock (no test waits for real): a half-open
//! peer (it stopped reading and answering, and sent no FIN) is freed within the ping
//! timeout, its permit with it; with the heartbeat off it holds on forever. A client whose
//! server went silent gives the connection up and reconnects.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{next, options, start_with};
use kit::testing::{RawClient, TestServer, connect_ws, within};
use lab_resilience::client::{Event, Subscriber};
use tokio::time::Instant;

const INTERVAL: Duration = Duration::from_millis(100);
const TIMEOUT: Duration = Duration::from_millis(300);

/// The lab with at most one connection, and the heartbeat `heartbeat`.
async fn one_seat(heartbeat: Option<(Duration, Duration)>) -> (TestServer, lab_resilience::Stream) {
    start_with(|config| {
        *config = config.clone().with_heartbeat(heartbeat);
        config.gateway.max_connections = 1;
    })
    .await
}

/// Whether a second connection is refused with 503 (the seat is still taken).
async fn seat_taken(server: &TestServer) -> bool {
    match connect_ws(server.ws_url("/ws")).await.unwrap() {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status() == 503,
        Ok(_) => false,
        Err(err) => panic!("{err}"),
    }
}

/// A raw peer that completes the handshake and then never reads or writes again: no pong,
/// no close, no FIN. The server closes it with 1001 after the ping timeout, not before,
/// and its seat is free again.
#[tokio::test(start_paused = true)]
async fn half_open_peer_is_freed_within_the_ping_timeout() {
    let (server, stream) = one_seat(Some((INTERVAL, TIMEOUT))).await;
    let mut count = stream.watch_subscribers();
    let mut peer = RawClient::connect(server.addr, "/ws", &[]).await.unwrap();
    let start = Instant::now();
    within("the peer subscribed", count.wait_for(|n| *n == 1))
        .await
        .unwrap()
        .unwrap();
    assert!(seat_taken(&server).await, "the peer holds the only seat");
    within("the peer freed", count.wait_for(|n| *n == 0))
        .await
        .unwrap()
        .unwrap();
    let elapsed = start.elapsed();
    assert!(
        elapsed >= TIMEOUT - Duration::from_millis(5) && elapsed <= TIMEOUT + INTERVAL,
        "freed after {elapsed:?}, with a ping timeout of {TIMEOUT:?}"
    );
    assert!(!seat_taken(&server).await, "the seat is free again");
    assert_eq!(
        peer.close_code().await.unwrap(),
        Some(1001),
        "told why, if it ever reads"
    );
    server.stop().await.unwrap();
}

/// The server pings every `ping_interval`, set apart from the timeout (the gateway's own
/// default would be half the timeout): a peer that reads but never answers sees about
/// 9 pings in a 1 s timeout at 100 ms, then the close with 1001.
#[tokio::test(start_paused = true)]
async fn pings_follow_the_ping_interval() {
    let timeout = Duration::from_secs(1);
    let (server, _stream) = one_seat(Some((INTERVAL, timeout))).await;
    let mut peer = RawClient::connect(server.addr, "/ws", &[]).await.unwrap();
    let mut pings = 0;
    // Bounded: the subscribed event, about 9 pings, the close.
    for _ in 0..100 {
        let (first, payload) = peer
            .frame()
            .await
            .unwrap()
            .expect("a frame before the close");
        match first & 0x0f {
            0x9 => pings += 1,
            0x8 => {
                assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1001);
                break;
            }
            _ => {}
        }
    }
    assert!(
        (8..=10).contains(&pings),
        "{pings} pings in {timeout:?} at {INTERVAL:?}"
    );
    server.stop().await.unwrap();
}

/// With the heartbeat off (`--no-heartbeat`), the same peer is still holding its seat an
/// hour later: nothing ever notices it is gone.
#[tokio::test(start_paused = true)]
async fn without_heartbeat_a_half_open_peer_is_never_freed() {
    let (server, stream) = one_seat(None).await;
    let mut count = stream.watch_subscribers();
    let _peer = RawClient::connect(server.addr, "/ws", &[]).await.unwrap();
    within("the peer subscribed", count.wait_for(|n| *n == 1))
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(stream.subscriber_count(), 1);
    assert!(
        seat_taken(&server).await,
        "an hour later, the dead peer still holds its seat"
    );
    server.stop().await.unwrap();
}

/// The other way: a server that accepted the WebSocket and then went silent (it never
/// reads, so it answers no ping). The client gives up on it after its ping timeout, as a
/// lost connection (1006, retry), and reconnects.
#[tokio::test(start_paused = true)]
async fn client_gives_up_on_a_silent_server_and_reconnects() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut options = options(format!("ws://{addr}/ws"));
    options.heartbeat = Some((INTERVAL, TIMEOUT));
    let mut subscriber = Subscriber::new(options);
    let silent = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        // The reconnection arrives here: accepting it is the proof.
        let (_again, _) = listener.accept().await.unwrap();
        drop(ws);
    });
    let start = Instant::now();
    let closed = next(&mut subscriber).await.unwrap();
    let elapsed = start.elapsed();
    match &closed {
        Event::Closed {
            code: Some(1006),
            reason,
            decision,
        } => {
            assert!(reason.contains("silent"), "{reason}");
            assert!(decision.retries());
        }
        other => panic!("expected the silent server to be given up, got {other:?}"),
    }
    assert!(
        elapsed >= TIMEOUT && elapsed <= TIMEOUT + INTERVAL * 2,
        "after {elapsed:?}"
    );
    assert!(matches!(
        next(&mut subscriber).await,
        Some(Event::Reconnecting { attempt: 1, .. })
    ));
    // The next call reconnects; the silent server's task ends once it has accepted it.
    let _ = tokio::time::timeout(Duration::from_secs(1), next(&mut subscriber)).await;
    within("the reconnection", silent).await.unwrap().unwrap();
}
