//! The lab's gateway: the events a client sends, and the hooks that keep the hub's audience
//! in step with the open connections.
//!
//! | event         | data                                         | ack                      |
//! |---------------|----------------------------------------------|--------------------------|
//! | `subscribe`   | `{"topics": ["news"]}`                       | `{"topics": [...]}`      |
//! | `unsubscribe` | `{"topics": ["news"]}`                       | `{"topics": [...]}`      |
//! | `publish`     | `{"to": {"kind": "all"}, "payload": ..., "volatile"?: bool, "confirm_ms"?: 500}` | the [`Report`] |
//! | `confirm`     | `{"seq": 7}`                                 | `{"counted": bool}`      |
//! | `stats`       | none                                         | the counters             |
//!
//! A connection's attributes come from the handshake's query string (`/ws?role=admin`), and
//! every connection is welcomed with `{"event": "welcome", "data": {"conn": 3, ...}}`.
//!
//! ```text
//! cargo run -p lab-broadcast        # then open http://127.0.0.1:3005/
//! ```
//!
//! Chapter 9 ("Broadcasting") walks through it.

use std::collections::{BTreeMap, HashMap};

use axum::extract::Query;
use axum::http::StatusCode;
use lab_gateway::{Config, Ctx, Disconnect, Gateway, Handshake, Refusal, Server, Socket};
use lab_gateway::{WsException, interceptors::LoggingLayer};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::hub::{Broadcast, FanOut, Hub, HubConfig, Member, Report};
use crate::stats::StatsSnapshot;

/// The most attributes a connection may carry, and the longest name or value: the hub
/// keeps them for the life of the connection, so a client may not make them large.
pub const MAX_ATTRS: usize = 8;
/// See [`MAX_ATTRS`].
pub const MAX_ATTR_CHARS: usize = 64;
/// The most topics one connection may subscribe to, for the same reason.
pub const MAX_TOPICS: usize = 32;

/// The initial read and write buffer of each connection. A subscriber mostly listens: what
/// it sends (`subscribe`, `confirm`) fits in a few hundred bytes, and a larger message
/// still gets through (the buffer grows for it). Measured by the fan-out benchmark on 1 000
/// idle connections: about 10.5 KiB of server memory each with the gateway's 4 KiB, 7.5 to
/// 8.4 KiB with 1 KiB (chapter 9; `bench run --workload fanout`).
pub const READ_BUFFER_BYTES: usize = 1024;

/// The lab's settings: the gateway's (limits, origins, write batching) and the hub's.
#[derive(Clone, Debug)]
pub struct LabConfig {
    /// The gateway underneath: origins, message size, queue length, heartbeat, buffers.
    pub gateway: Config,
    /// Fan-out way and the volatile threshold.
    pub hub: HubConfig,
}

impl LabConfig {
    /// The defaults for a lab served on `port`, fanning out the scaling way: volatile
    /// messages keep half of each 256-frame queue free, and each connection's read buffer
    /// starts at [`READ_BUFFER_BYTES`].
    pub fn for_port(port: u16) -> Self {
        let mut gateway = Config::for_port(port);
        gateway.socket_buffer_bytes = READ_BUFFER_BYTES;
        let hub = HubConfig {
            fanout: FanOut::Scaling,
            volatile_keep_free: gateway.outgoing_queue / 2,
        };
        Self { gateway, hub }
    }

    /// The same settings with fan-out done `fanout`'s way: the naive way also writes each
    /// message with its own flush (the gateway's `write_batch` of 1).
    pub fn with_fanout(mut self, fanout: FanOut) -> Self {
        self.hub.fanout = fanout;
        self.gateway.write_batch = match fanout {
            FanOut::Scaling => lab_gateway::gateway::MAX_BATCH,
            FanOut::Naive => 1,
        };
        self
    }
}

/// The context of the lab's handlers: the hub, and each connection's [`Member`] as it was
/// at the handshake.
pub type LabCtx = Ctx<Hub, Member>;

/// The `data` of `subscribe` and `unsubscribe`.
#[derive(Debug, Deserialize)]
pub struct Topics {
    /// Topic names.
    pub topics: Vec<String>,
}

/// The `data` of `confirm`.
#[derive(Debug, Deserialize)]
pub struct Confirm {
    /// The broadcast being confirmed.
    pub seq: u64,
}

/// `subscribe`: adds topics to this connection's subscriptions.
async fn subscribe(ctx: LabCtx, Topics { topics }: Topics) -> Result<Value, WsException> {
    change_topics(&ctx, &topics, true)
}

/// `unsubscribe`: removes topics from this connection's subscriptions.
async fn unsubscribe(ctx: LabCtx, Topics { topics }: Topics) -> Result<Value, WsException> {
    change_topics(&ctx, &topics, false)
}

fn change_topics(ctx: &LabCtx, topics: &[String], on: bool) -> Result<Value, WsException> {
    if topics
        .iter()
        .any(|t| t.is_empty() || t.chars().count() > MAX_ATTR_CHARS)
    {
        return Err(WsException::Validation(format!(
            "topics: 1 to {MAX_ATTR_CHARS} characters each"
        )));
    }
    // All or nothing: a refused change leaves the subscriptions as they were.
    let now = ctx
        .state
        .subscribe(ctx.socket.id(), topics, on, MAX_TOPICS)
        .map_err(|err| WsException::Refused(err.to_string()))?;
    Ok(json!({ "topics": now }))
}

// ANCHOR: publish_handler
/// `publish`: a broadcast from this connection; the ack is the [`Report`], sent once the
/// confirmations are in (or their timeout has passed).
async fn publish(ctx: LabCtx, broadcast: Broadcast) -> Result<Report, WsException> {
    Ok(ctx.state.publish(Some(ctx.socket.id()), broadcast).await)
}

/// `confirm`: this connection has processed broadcast `seq`.
async fn confirm(ctx: LabCtx, Confirm { seq }: Confirm) -> Result<Value, WsException> {
    let counted = ctx.state.confirm(ctx.socket.id(), seq);
    Ok(json!({ "counted": counted }))
}
// ANCHOR_END: publish_handler

/// `stats`: the dashboard's counters.
async fn stats(ctx: LabCtx, _: Value) -> Result<StatsSnapshot, WsException> {
    Ok(ctx.state.stats())
}

// ANCHOR: attributes
/// The connect hook: the query string becomes the connection's attributes, within limits,
/// before any WebSocket exists (a refusal is an HTTP 400).
fn attributes(handshake: &Handshake, _server: &Server) -> Result<Member, Refusal> {
    let attrs: BTreeMap<String, String> =
        match Query::<HashMap<String, String>>::try_from_uri(&handshake.uri) {
            Ok(Query(params)) => params.into_iter().collect(),
            Err(_) => BTreeMap::new(),
        };
    let too_long = attrs
        .iter()
        .any(|(k, v)| k.chars().count() > MAX_ATTR_CHARS || v.chars().count() > MAX_ATTR_CHARS);
    if attrs.len() > MAX_ATTRS || too_long {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            format!("at most {MAX_ATTRS} attributes of at most {MAX_ATTR_CHARS} characters"),
        ));
    }
    Ok(Member {
        topics: Default::default(),
        attrs,
    })
}
// ANCHOR_END: attributes

// ANCHOR: build
/// The lab's gateway, and the hub it broadcasts with.
pub fn gateway(config: LabConfig) -> (Gateway<Hub, Member>, Hub) {
    let hub = Hub::new(config.hub);
    let fanout = config.hub.fanout;
    let (on_init, on_join, on_leave) = (hub.clone(), hub.clone(), hub.clone());
    let gateway = Gateway::new(hub.clone(), config.gateway)
        .layer(LoggingLayer)
        .on("subscribe", subscribe)
        .on("unsubscribe", unsubscribe)
        .on("publish", publish)
        .on("confirm", confirm)
        .on("stats", stats)
        // Subscriptions change in the order they were asked for, and before any later
        // request of the same connection. `publish` stays concurrent: with confirmations it
        // waits up to its timeout, and the publisher must stay free meanwhile; a publisher
        // that needs its broadcasts in order waits for each ack.
        .ordered(["subscribe", "unsubscribe"])
        .after_init(move |server| on_init.attach(server))
        .on_connect(attributes)
        .on_connected(move |socket: &Socket<Member>| {
            let member = socket.with(|member| member.clone());
            let welcome = json!({ "conn": socket.id(), "attrs": member.attrs, "fanout": fanout });
            // Welcome first, then join: no broadcast can arrive before the welcome.
            let _ = socket.server().emit_to(socket.id(), "welcome", welcome);
            on_join.join(socket.id(), member);
        })
        .on_disconnect(move |socket: &Socket<Member>, _why: &Disconnect| {
            on_leave.leave(socket.id());
        });
    (gateway, hub)
}
// ANCHOR_END: build
