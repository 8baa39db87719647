//! Shared by the broadcast lab's tests: the lab on a free port with its hub, and a JSON
//! client. Raw bytes go through `kit::testing::raw`.

#![allow(dead_code, clippy::unwrap_used)]

use futures_util::{SinkExt as _, StreamExt as _};
use kit::testing::{Client, TestServer, connect_ok, within};
use lab_broadcast::{FanOut, Hub, LabConfig};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

/// The lab (heartbeat off) fanning out `fanout`'s way, with settings adjusted by `adjust`.
pub async fn start_with(fanout: FanOut, adjust: impl FnOnce(&mut LabConfig)) -> (TestServer, Hub) {
    let mut hub = None;
    let server = TestServer::start(|addr| {
        let mut config = LabConfig::for_port(addr.port()).with_fanout(fanout);
        config.gateway.idle_timeout = None;
        adjust(&mut config);
        let (router, h) = lab_broadcast::build(config);
        hub = Some(h);
        router
    })
    .await
    .unwrap();
    (server, hub.unwrap())
}

/// The lab with its defaults.
pub async fn start() -> (TestServer, Hub) {
    start_with(FanOut::Scaling, |_| {}).await
}

/// What a client read: a message, or the close frame.
#[derive(Debug)]
pub enum Read {
    Json(Value),
    Closed(Option<CloseFrame>),
}

/// A JSON-speaking test client.
pub struct Json {
    pub ws: Client,
    pub conn: u64,
    /// Messages read while waiting for an answer, kept for `recv`.
    pub kept: std::collections::VecDeque<Value>,
}

impl Json {
    /// Connects with `query` (`""` or `"?role=admin"`) and reads the welcome.
    pub async fn connect(server: &TestServer, query: &str) -> Self {
        let ws = connect_ok(server.ws_url(&format!("/ws{query}")))
            .await
            .unwrap();
        Self::welcomed(ws).await
    }

    /// Reads the welcome on an open connection.
    pub async fn welcomed(ws: Client) -> Self {
        let mut client = Self {
            ws,
            conn: 0,
            kept: Default::default(),
        };
        let welcome = client.recv().await;
        assert_eq!(welcome["event"], "welcome", "{welcome}");
        client.conn = welcome["data"]["conn"].as_u64().unwrap();
        client
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

    /// The next message or the close frame (pings and pongs skipped).
    pub async fn read(&mut self) -> Read {
        loop {
            let message = within("a message from the lab", self.ws.next())
                .await
                .unwrap();
            match message {
                Some(Ok(Message::Text(text))) => {
                    return Read::Json(serde_json::from_str(text.as_str()).unwrap());
                }
                Some(Ok(Message::Close(frame))) => return Read::Closed(frame),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    /// The next text message as JSON, kept ones first.
    pub async fn recv(&mut self) -> Value {
        if let Some(kept) = self.kept.pop_front() {
            return kept;
        }
        match self.read().await {
            Read::Json(value) => value,
            Read::Closed(frame) => panic!("closed: {frame:?}"),
        }
    }

    /// Sends a request and returns its answer; events pushed meanwhile are kept.
    pub async fn request(&mut self, id: u64, event: &str, data: Value) -> Value {
        self.send(json!({ "event": event, "data": data, "id": id }))
            .await;
        loop {
            let Read::Json(reply) = self.read().await else {
                panic!("closed while waiting for answer {id}");
            };
            if reply["id"] == id {
                return reply;
            }
            self.kept.push_back(reply);
        }
    }

    /// The `data` of the next `broadcast` event, skipping nothing: anything else fails.
    pub async fn broadcast(&mut self) -> Value {
        let message = self.recv().await;
        assert_eq!(message["event"], "broadcast", "{message}");
        message["data"].clone()
    }

    /// Subscribes to `topics`.
    pub async fn subscribe(&mut self, topics: &[&str]) {
        let reply = self
            .request(900, "subscribe", json!({ "topics": topics }))
            .await;
        assert_eq!(reply["event"], "ack", "{reply}");
    }
}
