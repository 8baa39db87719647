//! One node of the chat: the gateway of chapter 6 with the events of a room chat, where a
//! room may have members on every node.
//!
//! ```text
//! client → node  {"event":"join","data":{"room":"rust","since":"9f…:1718000000000-3"},"id":1}
//! node → client  {"event":"ack","id":1,"data":{"room":"rust","node":"n2","members":[{"name":"ada","node":"n1","conn":4},…]}}
//! node → client  {"event":"message","data":{"room":"rust","from":"ada","node":"n1","conn":4,"text":"hi",
//!                 "position":"9f…:1718000000000-4","recovered":true}}          (each missed one, then)
//! node → client  {"event":"joined","data":{"room":"rust","position":"9f…:1718000000000-3"}}   (a first join)
//! node → client  {"event":"recovered","data":{"room":"rust","recovered":true,"missed":1,"reason":"…"}}
//! client → node  {"event":"send","data":{"room":"rust","text":"hello"},"id":2}
//! node → client  {"event":"ack","id":2,"data":{"room":"rust","position":"9f…:1718000000000-5"}}
//! client → node  {"event":"members","data":{"room":"rust"},"id":3}  →  ack {"room","members"}
//! node → client  {"event":"presence","data":{"room":"rust","joined":{"name":"bo","node":"n3","conn":1}}}
//! node → client  {"event":"broker","data":{"broker":"redis","up":false,"epoch":"9f…","reason":"…"}}
//! ```
//!
//! The first message of a connection is `welcome`, with the node's id: the page shows it, so
//! a learner sees where the balancer put each client. Chapter "Scaling out" walks through
//! this file.

use std::sync::Arc;

use axum::http::StatusCode;
use lab_gateway::server::encode;
use lab_gateway::{Ctx, Gateway, Handshake, Refusal, Server, Socket, WsException};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::Config;
use crate::broker::{Broker, Presence, Published, Recovery, Said};
use crate::metrics::Metrics;
use crate::position::Position;
use crate::rooms::{Delivery, Member, Rooms};

/// What every handler of a node shares. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Node {
    /// This node's id, shown to clients.
    pub id: String,
    /// The local rooms.
    pub rooms: Rooms,
    /// The broker to the other nodes.
    pub broker: Broker,
    /// The counters of `/metrics`.
    pub metrics: Metrics,
    /// Rooms one connection may be in at once.
    pub rooms_per_connection: usize,
    /// The longest message text, in characters.
    pub max_text_chars: usize,
}

/// The context of a node's handlers.
pub type NodeCtx = Ctx<Node, Member>;

/// The payload of `join`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Join {
    /// The room.
    pub room: String,
    /// The position of the last message seen in this room, to recover what came after it.
    pub since: Option<String>,
}

/// The payload of `leave` and `members`.
#[derive(Debug, Deserialize)]
pub struct RoomName {
    /// The room.
    pub room: String,
}

/// The payload of `send`.
#[derive(Debug, Deserialize)]
pub struct Say {
    /// The room, which the sender must have joined.
    pub room: String,
    /// The message.
    pub text: String,
}

impl Node {
    fn presence(&self, socket: &Socket<Member>) -> Presence {
        Presence {
            name: socket.with(|m| m.name.clone()),
            node: self.id.clone(),
            conn: socket.id(),
        }
    }

    /// Who is in `room`: across nodes from Redis, or this node's members when Redis cannot
    /// answer (said so in the log; the page shows the broker's state).
    async fn members(&self, room: &str) -> Vec<Presence> {
        match self.broker.members(room).await {
            Ok(members) => members,
            Err(err) => {
                tracing::warn!(room, %err, "presence from this node only");
                let mut local: Vec<Presence> = self
                    .rooms
                    .members_of(room)
                    .into_iter()
                    .map(|(conn, name)| Presence {
                        name,
                        node: self.id.clone(),
                        conn,
                    })
                    .collect();
                local.sort();
                local
            }
        }
    }
}

// ANCHOR: join
/// `join`: subscribe this node to the room's channel, add the member locally (its
/// forwarder subscribes before anything is read or announced), recover what it missed if it
/// sent `since`, announce it, and answer with who is in the room on every node.
async fn join(ctx: NodeCtx, Join { room, since }: Join) -> Result<Value, WsException> {
    lab_rooms::registry::check_room_name(&room, 32)?;
    let since = since
        .map(|since| since.parse::<Position>())
        .transpose()
        .map_err(|err| WsException::Validation(err.to_string()))?;
    let node = &ctx.state;
    let (already, count) = ctx
        .socket
        .with(|m| (m.rooms.contains_key(&room), m.rooms.len()));
    if already {
        let members = node.members(&room).await;
        return Ok(json!({ "room": room, "node": node.id, "members": members }));
    }
    if count >= node.rooms_per_connection {
        return Err(WsException::Refused(format!(
            "at most {} rooms per connection: leave one first",
            node.rooms_per_connection
        )));
    }
    // Where to start: the client's own position, or the history's end read *now*, before
    // the subscription, so that nothing said from here on can fall between the two.
    let start = match since {
        Some(since) => Some(Start::Rejoin(since)),
        None => node.broker.current_position(&room).await.map(Start::Fresh),
    };
    node.broker.subscribe_room(&room).await;
    let me = node.presence(&ctx.socket);
    let events = node.rooms.join(&room, ctx.socket.id(), &me.name);
    let forwarder = tokio::spawn(forward(
        ctx.socket.clone(),
        node.clone(),
        room.clone(),
        events,
        start,
    ));
    ctx.socket
        .with(|m| m.rooms.insert(room.clone(), forwarder.abort_handle()));
    node.broker.joined(&room, &me).await;
    let members = node.members(&room).await;
    Ok(json!({ "room": room, "node": node.id, "members": members }))
}
// ANCHOR_END: join

/// `leave`.
async fn leave(ctx: NodeCtx, RoomName { room }: RoomName) -> Result<Value, WsException> {
    if leave_room(&ctx.state, &ctx.socket, &room, "left").await {
        Ok(json!({ "room": room, "left": true }))
    } else {
        Err(WsException::Refused(format!("you are not in room {room}")))
    }
}

/// Takes `socket` out of `room` on this node and in the presence set; `false` if it was
/// not in it.
async fn leave_room(node: &Node, socket: &Socket<Member>, room: &str, reason: &str) -> bool {
    let Some(forwarder) = socket.with(|m| m.rooms.remove(room)) else {
        return false;
    };
    forwarder.abort();
    node.rooms.leave(room, socket.id());
    node.broker.left(room, &node.presence(socket), reason).await;
    true
}

// ANCHOR: send
/// `send`: a message to a room the sender is in, through the broker. The ack carries the
/// message's position in the room's history, or says it reached this node only.
async fn send(ctx: NodeCtx, Say { room, text }: Say) -> Result<Value, WsException> {
    let node = &ctx.state;
    if text.chars().count() > node.max_text_chars {
        return Err(WsException::Validation(format!(
            "text: at most {} characters",
            node.max_text_chars
        )));
    }
    if !ctx.socket.with(|m| m.rooms.contains_key(&room)) {
        return Err(WsException::Forbidden(format!(
            "you are not in room {room}"
        )));
    }
    let said = Said {
        room: room.clone(),
        from: ctx.socket.with(|m| m.name.clone()),
        node: node.id.clone(),
        conn: ctx.socket.id(),
        text,
    };
    match node
        .broker
        .publish(said)
        .await
        .map_err(WsException::internal)?
    {
        Published::Broadcast(position) => Ok(json!({ "room": room, "position": position })),
        Published::LocalOnly => Ok(json!({
            "room": room,
            "position": null,
            "local_only": true,
            "reason": "the broker is down: delivered to this node's members only, kept in no history",
        })),
    }
}
// ANCHOR_END: send

/// `members`: who is in the room, on every node.
async fn members(ctx: NodeCtx, RoomName { room }: RoomName) -> Result<Value, WsException> {
    lab_rooms::registry::check_room_name(&room, 32)?;
    let members = ctx.state.members(&room).await;
    Ok(json!({ "room": room, "members": members }))
}

/// Where a member's forwarder starts.
#[derive(Clone, Debug)]
pub enum Start {
    /// A first join: the history's end, read before the subscription. The member is told it
    /// (`joined`), so that it has a position to come back with even before any message.
    Fresh(Position),
    /// A rejoin with the client's position: what it missed is replayed, and it is told
    /// whether that was everything (`recovered`).
    Rejoin(Position),
}

// ANCHOR: forward
/// Copies a room's events to one member. It first replays from the room's history what
/// came after its starting position (on any node: the history is in Redis), then goes live,
/// skipping what the replay already sent: the receiver was subscribed before the history
/// was read, so every message is in the replay, or in the receiver, or in both, and the
/// position decides. Each message reaches the member exactly once, in the history's order.
async fn forward(
    socket: Socket<Member>,
    node: Node,
    room: String,
    mut events: broadcast::Receiver<Arc<Delivery>>,
    start: Option<Start>,
) {
    let mut last = None;
    if let Some(Start::Fresh(position)) = &start {
        let note = json!({ "room": room, "position": position });
        if socket.emit("joined", note).await.is_err() {
            return;
        }
    }
    if let Some(Start::Fresh(since) | Start::Rejoin(since)) = &start {
        last = Some(since.clone());
        let Recovery {
            recovered,
            reason,
            missed,
        } = node.broker.recover(&room, since).await;
        let count = missed.len();
        for message in missed {
            last.clone_from(&message.position);
            if socket.emit("message", &message).await.is_err() {
                return;
            }
        }
        if matches!(start, Some(Start::Rejoin(_))) {
            node.metrics.recovery(recovered);
            tracing::info!(conn = socket.id(), room, recovered, count, %reason, "rejoined");
            let note =
                json!({ "room": room, "recovered": recovered, "missed": count, "reason": reason });
            if socket.emit("recovered", note).await.is_err() {
                return;
            }
        }
    }
    loop {
        let delivery = match events.recv().await {
            Ok(delivery) => delivery,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                let note = json!({ "room": room, "missed": missed, "hint": "rejoin with since to recover them" });
                if socket.emit("missed", note).await.is_err() {
                    return;
                }
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let frame = match &*delivery {
            Delivery::Message { position, frame } => {
                let seen = last
                    .as_ref()
                    .is_some_and(|l| l.epoch == position.epoch && position.id <= l.id);
                if seen {
                    continue;
                }
                last = Some(position.clone());
                frame.clone()
            }
            Delivery::LocalOnly(frame) | Delivery::Presence(frame) => frame.clone(),
        };
        if socket.send_frame(frame).await.is_err() {
            return;
        }
    }
}
// ANCHOR_END: forward

/// The connect hook: an optional `?name=` of 1 to 24 letters, digits, `-` or `_` (no `:`,
/// which separates the parts of a presence entry).
fn name_from(handshake: &Handshake, _server: &Server) -> Result<Member, Refusal> {
    let Some(name) = handshake.query("name") else {
        return Ok(Member::default());
    };
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if name.is_empty() || name.chars().count() > 24 || !name.chars().all(valid) {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "name: 1 to 24 letters, digits, '-' or '_'",
        ));
    }
    Ok(Member {
        name,
        ..Member::default()
    })
}

// ANCHOR: gateway
/// A node's gateway.
pub fn gateway(config: &Config, node: &Node) -> Gateway<Node, Member> {
    let (on_init, on_open, on_close) = (node.clone(), node.clone(), node.clone());
    Gateway::new(node.clone(), config.gateway.clone())
        .on("join", join)
        .on("leave", leave)
        .on("send", send)
        .on("members", members)
        // A chat: a member's messages are handled in the order sent, a `send` after its `join`.
        .ordered(["join", "leave", "send", "members"])
        .after_init(move |server| {
            // Every connection hears when the broker goes down or comes back.
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(announce_broker(on_init, server.clone()));
                }
                Err(_) => tracing::error!("no tokio runtime: broker changes will not be announced"),
            }
        })
        .on_connect(name_from)
        .on_connected(move |socket| {
            let name = socket.with(|m| {
                if m.name.is_empty() {
                    m.name = format!("guest-{}", socket.id());
                }
                m.name.clone()
            });
            let welcome = json!({
                "conn": socket.id(),
                "name": name,
                "node": on_open.id,
                "broker": on_open.broker.status(),
            });
            let _ = socket.server().emit_to(socket.id(), "welcome", welcome);
        })
        // Every way out (close, dropped TCP, heartbeat) leaves every room, here and in Redis.
        .on_disconnect(move |socket, _why| {
            let (node, socket) = (on_close.clone(), socket.clone());
            tokio::spawn(async move {
                let rooms: Vec<String> = socket.with(|m| m.rooms.keys().cloned().collect());
                for room in rooms {
                    leave_room(&node, &socket, &room, "disconnected").await;
                }
            });
        })
}
// ANCHOR_END: gateway

/// Pushes a `broker` event to every connection of `server` each time the broker's status
/// changes, until the broker is dropped.
async fn announce_broker(node: Node, server: Server) {
    let mut status = node.broker.watch_status();
    while status.changed().await.is_ok() {
        let now = status.borrow_and_update().clone();
        if let Ok(frame) = encode("broker", &now) {
            for conn in server.connections() {
                let _ = server.emit_frame(conn, frame.clone());
            }
        }
    }
}
