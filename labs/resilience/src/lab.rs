//! The lab's gateway: a subscription at the handshake, the ticker that feeds the stream,
//! and the hooks that keep the stream's subscribers in step with the open connections.
//!
//! A client subscribes by connecting: `/ws` for a first subscription, `/ws?since=<epoch>:<offset>`
//! to recover what it missed. Its first message is `subscribed` (the [`Recovery`]: epoch,
//! latest offset, `recovered`, the missed updates), then one `update` per published update:
//!
//! ```text
//! server → client  {"event":"subscribed","data":{"epoch":"9f…","offset":42,"was_recovering":true,
//!                   "recovered":true,"reason":"…","missed":[{"epoch":"9f…","offset":41,"price":101.5},…]}}
//! server → client  {"event":"update","data":{"epoch":"9f…","offset":43,"price":101.7}}
//! client → server  {"event":"position","id":1}  →  ack {"epoch","offset","retained":[oldest,newest]}
//! ```
//!
//! The limits, the heartbeat and the goodbye are the gateway's (chapter 6): this file adds
//! only what resilience needs on top. Chapter 10 ("Best practices, measured") walks
//! through it.

use std::time::Duration;

use axum::http::StatusCode;
use lab_gateway::{Ctx, Disconnect, Gateway, Handshake, Refusal, Server, Socket, WsException};
use serde_json::{Value, json};

use crate::Config;
use crate::stream::{Position, Recovery, Stream};

/// Each connection's state: the position it asked to recover from, if any.
pub type Since = Option<Position>;

/// `position`: where the stream is, and what its history still holds. A silenced
/// connection ([`go_silent`]) gets its answer only when the silence ends, so that the
/// client's heartbeat hears nothing meanwhile.
async fn position(ctx: Ctx<Stream, Since>, _: Value) -> Result<Value, WsException> {
    ctx.state.metrics().request();
    if let Some(until) = ctx.state.silent_until(ctx.socket.id()) {
        tokio::time::sleep_until(until).await;
    }
    let position = ctx.state.position();
    Ok(json!({
        "epoch": position.epoch,
        "offset": position.offset,
        "retained": ctx.state.retained(),
    }))
}

// ANCHOR: controls
/// The longest silence `go_silent` accepts.
pub const MAX_SILENCE: Duration = Duration::from_secs(60);

/// `kill_me`: the server drops this connection without a close frame (a crash, a cut
/// cable): the client sees 1006 and must reconnect and recover.
async fn kill_me(ctx: Ctx<Stream, Since>, _: Value) -> Result<Value, WsException> {
    ctx.state.metrics().request();
    ctx.socket
        .server()
        .abort(ctx.socket.id(), "dropped on purpose, without a close frame");
    Ok(json!({ "dropping": true }))
}

/// `go_silent {"secs": n}`: the server stops writing to this connection for `n` seconds (1
/// to 60) while the TCP connection stays up: a half-open link, as the client sees it. Its
/// heartbeat must notice; the updates meanwhile wait in the history.
async fn go_silent(ctx: Ctx<Stream, Since>, data: Value) -> Result<Value, WsException> {
    ctx.state.metrics().request();
    let secs = data
        .get("secs")
        .and_then(Value::as_f64)
        .filter(|secs| (1.0..=MAX_SILENCE.as_secs_f64()).contains(secs))
        .ok_or_else(|| {
            WsException::Validation("secs must be a number of seconds from 1 to 60".into())
        })?;
    ctx.state
        .silence(ctx.socket.id(), Duration::from_secs_f64(secs));
    Ok(json!({ "silent_for": secs }))
}

/// `restart`: the stream restarts as a new process would (a new epoch, an empty history),
/// and every subscriber hears 1012. What Ctrl-C and a new start do, from the page.
async fn restart(ctx: Ctx<Stream, Since>, _: Value) -> Result<Value, WsException> {
    ctx.state.metrics().request();
    let epoch = ctx.state.restart();
    Ok(json!({ "epoch": epoch }))
}
// ANCHOR_END: controls

// ANCHOR: since
/// The connect hook: reads `since` from the query string. A malformed one is refused with
/// HTTP 400 before any WebSocket exists, so a client learns of its bug at once instead of
/// silently getting a fresh subscription.
fn since(handshake: &Handshake, _server: &Server) -> Result<Since, Refusal> {
    handshake
        .query("since")
        .map(|since| since.parse::<Position>())
        .transpose()
        .map_err(|err| Refusal::new(StatusCode::BAD_REQUEST, err.to_string()))
}
// ANCHOR_END: since

// ANCHOR: build
/// The lab's gateway on `stream`.
pub fn gateway(config: &Config, stream: &Stream) -> Gateway<Stream, Since> {
    let (on_init, on_join, on_leave) = (stream.clone(), stream.clone(), stream.clone());
    Gateway::new(stream.clone(), config.gateway.clone())
        .on("position", position)
        .on("kill_me", kill_me)
        .on("go_silent", go_silent)
        .on("restart", restart)
        .after_init(move |server| on_init.attach(server))
        .on_connect(since)
        .on_connected(move |socket: &Socket<Since>| {
            on_join.metrics().connected();
            let since = socket.with(|since| since.clone());
            let Recovery {
                recovered,
                missed,
                reason,
                ..
            } = on_join.subscribe(socket.id(), since.as_ref());
            tracing::info!(conn = socket.id(), ?since, recovered, missed = missed.len(), %reason, "subscribed");
        })
        .on_disconnect(move |socket: &Socket<Since>, why: &Disconnect| {
            // Counted before leaving: a test that waits for the subscriber count to drop
            // then finds the close in `/metrics`.
            on_leave.metrics().disconnected(why);
            on_leave.leave(socket.id());
        })
}
// ANCHOR_END: build

// ANCHOR: ticker
/// Publishes `per_second` updates a second until the server's goodbye starts. A missed
/// tick (a busy machine) is skipped, not made up in a burst.
pub async fn ticker(stream: Stream, per_second: f64, shutdown: kit::Shutdown) {
    if !(per_second.is_finite() && per_second > 0.0) {
        return;
    }
    let every = Duration::from_secs_f64(1.0 / per_second);
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // The ticker is not a connection, so it holds no `Watcher` (the goodbye would count it
    // as one still closing): it reads the flag once per tick instead.
    while !shutdown.is_started() {
        interval.tick().await;
        stream.tick();
    }
}
// ANCHOR_END: ticker
