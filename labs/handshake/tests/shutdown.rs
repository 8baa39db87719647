//! Stopping the lab: every open connection, echo and inspector alike, is closed with 1001
//! ("going away") and the closing handshake completes, in-process and when the real binary
//! receives SIGTERM.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::RawServer;
use futures_util::StreamExt as _;
use kit::testing::{LabProcess, RawClient, connect_ok, within};
use tokio_tungstenite::tungstenite::Message;

/// The goodbye reaches an echo connection and an inspector with 1001; a client that answers
/// the close (tungstenite does) lets the server finish well before the deadline.
#[tokio::test]
async fn going_away_closes_echo_and_inspector_with_1001() {
    let shutdown = kit::Shutdown::new();
    let signal = shutdown.clone();
    let server = RawServer::with(move |config| config.shutdown = signal).await;
    let mut echo = connect_ok(server.ws_url()).await.unwrap();
    let mut inspector = RawClient::connect(server.addr, "/inspector", &[])
        .await
        .unwrap();
    // Both connections exist on the server once their handshakes are done; an echo proves it.
    futures_util::SinkExt::send(&mut echo, Message::text("hi"))
        .await
        .unwrap();
    within("the echo", echo.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();

    let goodbye = tokio::spawn(async move { shutdown.going_away(Duration::from_secs(10)).await });
    let close = loop {
        match within("the close frame", echo.next()).await.unwrap() {
            Some(Ok(Message::Close(frame))) => break frame.unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(u16::from(close.code), 1001);
    // The raw inspector never answers the close: the server gives up on it after a moment.
    assert_eq!(inspector.close_code().await.unwrap(), Some(1001));
    assert_eq!(within("the goodbye", goodbye).await.unwrap().unwrap(), 0);
}

/// The real binary, stopped with SIGTERM: the client is told 1001, the process exits 0.
#[tokio::test]
async fn sigterm_closes_clients_with_1001_then_exits() {
    let lab = LabProcess::start(env!("CARGO_BIN_EXE_lab-handshake"), &[])
        .await
        .unwrap();
    let mut client = RawClient::connect(lab.addr, "/ws", &[]).await.unwrap();
    lab.terminate().await.unwrap();
    assert_eq!(client.close_code().await.unwrap(), Some(1001));
    let (status, _lines) = lab.wait().await.unwrap();
    assert!(status.success(), "exit status {status}");
}
