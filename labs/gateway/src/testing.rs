//! A JSON test client for gateway-based labs: the envelope over tokio-tungstenite, with a
//! timeout on every step.
//!
//! The gateway, rooms, broadcast and private labs all test their servers the same way: open
//! a connection, send `{"event", "data", "id"}` envelopes, wait for the `ack` with that id
//! while events pushed in between are kept for later. This module is that client, once.
//! It is test code: every method panics with a message saying what did not happen, which is
//! how a test reports a failure.

use std::collections::VecDeque;

use futures_util::{SinkExt as _, StreamExt as _};
use kit::testing::{Client, TestServer, connect_ok, within};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// A JSON-speaking WebSocket client.
#[derive(Debug)]
pub struct JsonClient {
    /// The WebSocket, for tests that need to send something else (a binary frame, a close).
    pub ws: Client,
    /// Messages read while waiting for a particular answer, handed out by `recv` first.
    pub kept: VecDeque<Value>,
}

impl JsonClient {
    /// Opens `/ws{query}` on `server` (`query` is `""` or like `"?name=ana"`).
    pub async fn connect(server: &TestServer, query: &str) -> Self {
        let ws = connect_ok(server.ws_url(&format!("/ws{query}")))
            .await
            .expect("the WebSocket handshake succeeds");
        Self {
            ws,
            kept: VecDeque::new(),
        }
    }

    /// Connects and reads the `welcome` event; returns the client and its connection id.
    pub async fn welcomed(server: &TestServer, query: &str) -> (Self, u64) {
        let mut client = Self::connect(server, query).await;
        let welcome = client.recv().await;
        assert_eq!(welcome["event"], "welcome", "{welcome}");
        let conn = welcome["data"]["conn"]
            .as_u64()
            .expect("the welcome carries the connection id");
        (client, conn)
    }

    /// Sends a JSON value as a text frame.
    pub async fn send(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    /// Sends any text, JSON or not.
    pub async fn send_text(&mut self, text: &str) {
        within("sending", self.ws.send(Message::text(text)))
            .await
            .expect("sent in time")
            .expect("the connection is open");
    }

    /// The next text message as JSON (pings and pongs skipped), kept ones first.
    pub async fn recv(&mut self) -> Value {
        if let Some(kept) = self.kept.pop_front() {
            return kept;
        }
        self.recv_socket().await
    }

    /// The next text message from the socket itself.
    async fn recv_socket(&mut self) -> Value {
        loop {
            let message = within("a message from the server", self.ws.next())
                .await
                .expect("a message in time")
                .expect("the connection is open")
                .expect("a valid frame");
            match message {
                Message::Text(text) => {
                    return serde_json::from_str(text.as_str()).expect("the server sends JSON");
                }
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    /// Sends a request and returns the answer (`ack` or `exception`) carrying its id;
    /// events pushed meanwhile are kept for `recv`.
    pub async fn request(&mut self, id: u64, event: &str, data: Value) -> Value {
        self.send(json!({ "event": event, "data": data, "id": id }))
            .await;
        loop {
            let reply = self.recv_socket().await;
            if reply["id"] == id {
                return reply;
            }
            self.kept.push_back(reply);
        }
    }

    /// The next message whose event is `event`, skipping others.
    pub async fn recv_event(&mut self, event: &str) -> Value {
        loop {
            let message = self.recv().await;
            if message["event"] == event {
                return message;
            }
        }
    }
}
