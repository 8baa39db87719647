//! A chat client that survives the loss of its node: it reconnects through the balancer,
//! lands on whichever node the balancer picks, rejoins its rooms with the position of the
//! last message it saw in each, and yields what it missed before the live messages, each
//! message exactly once.
//!
//! The reconnection policy is the resilience lab's, reused as it is (chapter 10): backoff
//! with full jitter ([`Backoff`]), and a decision per close code ([`classify`]): a node
//! killed under its clients is a 1006 (no close frame), a node stopped gracefully a 1001,
//! both worth retrying. What is new here is only the rejoin: the position of each room is a
//! Redis Stream id, valid on every node, so the node it lands on can answer it.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use futures_util::{SinkExt as _, StreamExt as _};
use lab_resilience::client::{ABNORMAL, Backoff, CONNECT_TIMEOUT, Decision, classify};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::broker::RoomMessage;
use crate::position::Position;

/// How long a request waits for its answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A client connection as tokio-tungstenite opens it.
type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

// ANCHOR: event
/// What a [`ChatClient`] yields.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// Connected (again): the node the balancer chose.
    Welcome {
        /// The node's id.
        node: String,
        /// The connection's id there.
        conn: u64,
    },
    /// A room message, new to this client (a duplicate is never yielded).
    Message(RoomMessage),
    /// A rejoin was answered: whether everything missed was replayed.
    Recovered {
        /// The room.
        room: String,
        /// Whether nothing was lost.
        recovered: bool,
        /// How many messages were replayed.
        missed: u64,
        /// Why, in words.
        reason: String,
    },
    /// Any other event (`presence`, `broker`, `missed`), as the node sent it.
    Other(Value),
    /// The connection ended, and what the client does about it.
    Closed {
        /// The close code; 1006 for a connection that just died.
        code: Option<u16>,
        /// What happened.
        reason: String,
        /// Retry or stop.
        decision: Decision,
    },
    /// The client stopped trying.
    GaveUp {
        /// Why.
        reason: String,
    },
}
// ANCHOR_END: event

/// A chat client on the balancer's `/ws`.
#[derive(Debug)]
pub struct ChatClient {
    /// `ws://<balancer>/ws?name=<name>`.
    url: String,
    /// The delays between attempts.
    backoff: Backoff,
    /// Attempts in a row before giving up.
    max_attempts: u32,
    /// The open connection, if any.
    ws: Option<Ws>,
    /// The node it is on now.
    node: Option<String>,
    /// The rooms joined, each with the position of the last message seen there.
    rooms: BTreeMap<String, Option<Position>>,
    /// Events read but not yet yielded.
    pending: VecDeque<Event>,
    /// The next request id.
    next_id: u64,
    /// Failures in a row.
    attempt: u32,
}

impl ChatClient {
    /// A client that connects to `url` (`ws://…/ws`) as `name`, reconnecting with `backoff`.
    pub fn new(url: &str, name: &str, backoff: Backoff) -> Self {
        Self {
            url: format!("{url}?name={name}"),
            backoff,
            max_attempts: 20,
            ws: None,
            node: None,
            rooms: BTreeMap::new(),
            pending: VecDeque::new(),
            next_id: 1,
            attempt: 0,
        }
    }

    /// Connects now (and rejoins any rooms), returning the node it landed on.
    pub async fn connect(&mut self) -> anyhow::Result<String> {
        let (ws, _) = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio_tungstenite::connect_async(self.url.as_str()),
        )
        .await
        .map_err(|_| anyhow!("no answer within {CONNECT_TIMEOUT:?}"))?
        .with_context(|| format!("connecting to {}", self.url))?;
        self.ws = Some(ws);
        let welcome = loop {
            let frame = self.read().await?;
            if frame["event"] == "welcome" {
                break frame;
            }
        };
        let node = welcome["data"]["node"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let conn = welcome["data"]["conn"].as_u64().unwrap_or_default();
        self.node = Some(node.clone());
        self.pending.push_back(Event::Welcome {
            node: node.clone(),
            conn,
        });
        // ANCHOR: rejoin
        // Rejoin every room where this client was, from the last message it saw there.
        let rooms: Vec<(String, Option<Position>)> = self
            .rooms
            .iter()
            .map(|(r, p)| (r.clone(), p.clone()))
            .collect();
        for (room, since) in rooms {
            let mut data = json!({ "room": room });
            if let Some(since) = since {
                data["since"] = json!(since.to_string());
            }
            self.request("join", data).await?;
        }
        // ANCHOR_END: rejoin
        self.attempt = 0;
        Ok(node)
    }

    /// The node the client is on, when connected.
    pub fn node(&self) -> Option<&str> {
        self.ws.as_ref().and(self.node.as_deref())
    }

    /// The last position seen in `room`.
    pub fn position(&self, room: &str) -> Option<&Position> {
        self.rooms.get(room).and_then(Option::as_ref)
    }

    /// Joins `room`; the answer's data (its members).
    pub async fn join(&mut self, room: &str) -> anyhow::Result<Value> {
        let reply = self.request("join", json!({ "room": room })).await?;
        self.rooms.entry(room.to_owned()).or_insert(None);
        Ok(reply)
    }

    /// Says `text` in `room`; the answer's data (the message's position).
    pub async fn send(&mut self, room: &str, text: &str) -> anyhow::Result<Value> {
        self.request("send", json!({ "room": room, "text": text }))
            .await
    }

    /// Sends a request and waits for its answer; events read meanwhile are kept. An
    /// `exception` is an error carrying its message.
    pub async fn request(&mut self, event: &str, data: Value) -> anyhow::Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let text = json!({ "event": event, "data": data, "id": id }).to_string();
        let ws = self.ws.as_mut().context("not connected")?;
        tokio::time::timeout(REQUEST_TIMEOUT, ws.send(Message::text(text)))
            .await
            .map_err(|_| anyhow!("sending {event} timed out"))??;
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, async {
            loop {
                let frame = self.read().await?;
                if frame["id"] == id {
                    return Ok::<_, anyhow::Error>(frame);
                }
                self.keep(frame);
            }
        })
        .await
        .map_err(|_| anyhow!("no answer to {event} within {REQUEST_TIMEOUT:?}"))??;
        if answer["event"] == "exception" {
            bail!("{event}: {}", answer["data"]["message"]);
        }
        Ok(answer["data"].clone())
    }

    /// The next text frame as JSON.
    async fn read(&mut self) -> anyhow::Result<Value> {
        let ws = self.ws.as_mut().context("not connected")?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(text.as_str()).context("a frame that is not JSON");
                }
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.as_ref().map(|f| u16::from(f.code));
                    let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                    self.lost(code, reason);
                    bail!("closed");
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => {
                    self.lost(Some(ABNORMAL), format!("connection lost: {err}"));
                    bail!("connection lost");
                }
                None => {
                    self.lost(Some(ABNORMAL), "TCP closed without a close frame".into());
                    bail!("connection lost");
                }
            }
        }
    }

    /// The connection is gone: say so.
    fn lost(&mut self, code: Option<u16>, reason: String) {
        self.ws = None;
        self.pending.push_back(Event::Closed {
            code,
            reason,
            decision: classify(code),
        });
    }

    // ANCHOR: keep
    /// Turns a pushed frame into an event, dropping a message already seen: a rejoin may
    /// replay a message that also arrived live, and the position says which.
    fn keep(&mut self, frame: Value) {
        let data = frame["data"].clone();
        let event = match frame["event"].as_str() {
            Some("message") => {
                let Ok(message) = serde_json::from_value::<RoomMessage>(data) else {
                    return;
                };
                if let Some(position) = &message.position {
                    let last = self.rooms.entry(message.said.room.clone()).or_insert(None);
                    let seen = last
                        .as_ref()
                        .is_some_and(|l| l.epoch == position.epoch && position.id <= l.id);
                    if seen {
                        return;
                    }
                    *last = Some(position.clone());
                }
                Event::Message(message)
            }
            // The history's end when this client first joined: its position until a
            // message comes, so a rejoin recovers even what it never saw live.
            Some("joined") => {
                if let (Some(room), Ok(position)) = (
                    data["room"].as_str(),
                    serde_json::from_value::<Position>(data["position"].clone()),
                ) {
                    let last = self.rooms.entry(room.to_owned()).or_insert(None);
                    if last.is_none() {
                        *last = Some(position);
                    }
                }
                Event::Other(frame)
            }
            Some("recovered") => Event::Recovered {
                room: data["room"].as_str().unwrap_or_default().to_owned(),
                recovered: data["recovered"].as_bool().unwrap_or(false),
                missed: data["missed"].as_u64().unwrap_or(0),
                reason: data["reason"].as_str().unwrap_or_default().to_owned(),
            },
            _ => Event::Other(frame),
        };
        self.pending.push_back(event);
    }
    // ANCHOR_END: keep

    // ANCHOR: next
    /// The next event. A lost connection is yielded as [`Event::Closed`], then the client
    /// reconnects after a jittered delay (rejoining its rooms), as long as the close code
    /// says retrying makes sense; `None` once it has given up.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                if let Event::Closed { decision, .. } = &event
                    && !decision.retries()
                {
                    self.attempt = self.max_attempts;
                }
                return Some(event);
            }
            if self.attempt >= self.max_attempts {
                return None;
            }
            if self.ws.is_none() {
                let delay = self.backoff.delay(self.attempt);
                self.attempt += 1;
                tokio::time::sleep(delay).await;
                if let Err(err) = self.connect().await {
                    if self.attempt >= self.max_attempts {
                        self.pending.push_back(Event::GaveUp {
                            reason: format!("{} attempts failed, the last: {err:#}", self.attempt),
                        });
                    }
                    self.ws = None;
                }
                continue;
            }
            match self.read().await {
                Ok(frame) => self.keep(frame),
                Err(_) => continue,
            }
        }
    }
    // ANCHOR_END: next

    /// Closes the connection with 1000.
    pub async fn close(&mut self) {
        if let Some(mut ws) = self.ws.take() {
            let _ = tokio::time::timeout(REQUEST_TIMEOUT, ws.close(None)).await;
        }
    }
}
