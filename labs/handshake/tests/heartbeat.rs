//! The heartbeat: a silent connection goes Idle and is pinged; a peer that vanished without
//! a close frame (a half-open connection) is noticed and freed. Simulated time, so the
//! test takes milliseconds.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kit::testing::raw::{RawClient, masked};
use lab_handshake::close::CloseFrame;
use lab_handshake::events::{ConnectionState, Event, Observer};
use lab_handshake::{Connection, Message, Role, Settings};
use tokio::io::AsyncWriteExt;

/// The server pings after the idle interval, and drops the connection when the ping goes
/// unanswered for as long again.
#[tokio::test(start_paused = true)]
async fn silent_peer_is_pinged_then_dropped() {
    let server = common::RawServer::with(|config| {
        config.settings.idle_after = Some(Duration::from_secs(5));
    })
    .await;
    let mut raw = RawClient::connect(server.addr, "/ws", &[]).await.unwrap();
    // Say nothing. The server's first frame is its heartbeat ping...
    let (first, payload) = raw.frame().await.unwrap().expect("a ping");
    assert_eq!(first, 0x89, "a ping frame");
    assert_eq!(payload, b"heartbeat");
    // ...and, with no pong, it gives up and closes TCP: no close frame, nobody to read it.
    assert_eq!(raw.frame().await.unwrap(), None);
}

/// Answering the heartbeat keeps the connection alive (Idle → Active).
#[tokio::test(start_paused = true)]
async fn answered_heartbeat_keeps_the_connection() {
    let server = common::RawServer::with(|config| {
        config.settings.idle_after = Some(Duration::from_secs(5));
    })
    .await;
    let mut raw = RawClient::connect(server.addr, "/ws", &[]).await.unwrap();
    for _ in 0..3 {
        let (first, payload) = raw.frame().await.unwrap().expect("a ping");
        assert_eq!(first, 0x89);
        raw.send(&masked(0x8A, &payload)).await.unwrap();
    }
    raw.send(&masked(0x81, b"still here")).await.unwrap();
    assert_eq!(
        raw.frame().await.unwrap(),
        Some((0x81, b"still here".to_vec()))
    );
}

// ANCHOR: state_machine_events
/// The connection's state machine, observed: Connected → Active → Idle → Active → Closing
/// → Disconnected.
#[tokio::test(start_paused = true)]
async fn state_machine_events() {
    let (client_io, mut peer) = tokio::io::duplex(4096);
    let states = Arc::new(Mutex::new(Vec::new()));
    let seen = states.clone();
    let observer = Observer::new(1, None, move |tagged| {
        if let Event::State { to, .. } = tagged.event {
            seen.lock().unwrap().push(to);
        }
    });
    let settings = Settings {
        idle_after: Some(Duration::from_secs(5)),
        ..Settings::default()
    };
    let mut conn = Connection::new(
        client_io,
        Role::Server,
        settings,
        Default::default(),
        observer,
    );
    let driver = tokio::spawn(async move {
        let mut messages = Vec::new();
        while let Ok(message) = conn.recv().await {
            messages.push(message);
        }
        messages
    });
    peer.write_all(&masked(0x81, b"a")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await; // idle: the server pings
    peer.write_all(&masked(0x8A, b"heartbeat")).await.unwrap();
    peer.write_all(&masked(0x88, &1000u16.to_be_bytes()))
        .await
        .unwrap();
    let messages = kit::testing::within("the connection ends", driver)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        messages,
        vec![
            Message::Text("a".into()),
            Message::Pong(Bytes::from_static(b"heartbeat")),
            Message::Close(Some(CloseFrame {
                code: 1000,
                reason: String::new()
            })),
        ],
        "text, pong, close"
    );
    assert_eq!(
        *states.lock().unwrap(),
        vec![
            ConnectionState::Connected,
            ConnectionState::Active,
            ConnectionState::Idle,
            ConnectionState::Active,
            ConnectionState::Closing,
            ConnectionState::Disconnected,
        ]
    );
}
// ANCHOR_END: state_machine_events

/// The idle interval counts from the last byte received, not from the last call to `recv`:
/// a loop that cancels and restarts `recv` every second (as the inspector does when it
/// forwards events) still sends its heartbeat after the idle interval.
#[tokio::test(start_paused = true)]
async fn restarted_recv_does_not_reset_the_heartbeat() {
    use tokio::io::AsyncReadExt;
    let (server_io, mut peer) = tokio::io::duplex(4096);
    let settings = Settings {
        idle_after: Some(Duration::from_secs(5)),
        ..Settings::default()
    };
    let mut conn = Connection::new(
        server_io,
        Role::Server,
        settings,
        Default::default(),
        Observer::none(),
    );
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = conn.recv() => break,
                () = tokio::time::sleep(Duration::from_secs(1)) => {} // cancel and restart
            }
        }
    });
    let started = tokio::time::Instant::now();
    let mut frame = [0u8; 2];
    kit::testing::within("the heartbeat ping", peer.read_exact(&mut frame))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(frame[0], 0x89, "a ping");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_secs(6),
        "pinged after {waited:?}"
    );
}
