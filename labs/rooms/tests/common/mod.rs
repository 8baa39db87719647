//! Shared by the rooms lab's tests: the lab on a free port, and a JSON client.

#![allow(dead_code, clippy::unwrap_used)]

use futures_util::{SinkExt as _, StreamExt as _};
use kit::testing::{Client, TestServer, connect_ok, within};
use lab_rooms::{RoomRegistry, RoomsConfig};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// The rooms lab with its defaults, grace 0 (rooms are deleted when empty), on 127.0.0.1:0.
pub async fn start() -> (TestServer, RoomRegistry) {
    start_with(|_| {}).await
}

/// The lab with settings adjusted by `adjust`; also returns its registry.
pub async fn start_with(adjust: impl FnOnce(&mut RoomsConfig)) -> (TestServer, RoomRegistry) {
    let mut registry = None;
    let server = TestServer::start(|addr| {
        let mut config = RoomsConfig::for_port(addr.port());
        config.gateway.idle_timeout = None;
        config.limits.grace = std::time::Duration::ZERO;
        adjust(&mut config);
        let rooms = RoomRegistry::new(config.limits.clone());
        registry = Some(rooms.clone());
        lab_rooms::app(config, rooms)
    })
    .await
    .unwrap();
    (server, registry.unwrap())
}

/// A JSON-speaking test client on tokio-tungstenite.
pub struct Json {
    pub ws: Client,
    /// Messages read while waiting for an answer, kept for `recv`.
    pub kept: std::collections::VecDeque<Value>,
}

impl Json {
    pub async fn connect(server: &TestServer, query: &str) -> Self {
        Self {
            ws: connect_ok(server.ws_url(&format!("/ws{query}")))
                .await
                .unwrap(),
            kept: Default::default(),
        }
    }

    /// Connects and reads the `welcome` event; returns the client and its connection id.
    pub async fn welcomed(server: &TestServer, query: &str) -> (Self, u64) {
        let mut client = Self::connect(server, query).await;
        let welcome = client.recv().await;
        assert_eq!(welcome["event"], "welcome", "{welcome}");
        let conn = welcome["data"]["conn"].as_u64().unwrap();
        (client, conn)
    }

    pub async fn send(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        within("sending", self.ws.send(Message::text(text)))
            .await
            .unwrap()
            .unwrap();
    }

    /// The next text message as JSON (pings and pongs skipped), kept ones first.
    pub async fn recv(&mut self) -> Value {
        if let Some(kept) = self.kept.pop_front() {
            return kept;
        }
        self.recv_socket().await
    }

    /// The next text message from the socket.
    async fn recv_socket(&mut self) -> Value {
        loop {
            let message = within("a message from the gateway", self.ws.next())
                .await
                .unwrap()
                .expect("the connection is open")
                .unwrap();
            match message {
                Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    /// Sends a request and returns the answer with its id (events pushed meanwhile are
    /// kept for `recv`).
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
