//! The lab's own gateway: one handler of each kind, to poke at from the browser page or the
//! command-line client.
//!
//! | event     | shows                                                                    |
//! |-----------|--------------------------------------------------------------------------|
//! | `echo`    | a typed payload and a rule the type cannot express (at most 280 chars)   |
//! | `add`     | wrong types caught by the pipe; a refusal by the handler (overflow)      |
//! | `count`   | per-connection state (`@ConnectedSocket()`)                              |
//! | `whoami`  | what the connect hook learnt from the handshake                          |
//! | `shout`   | a guard, and an emit to every connection (`@WebSocketServer()`)          |
//! | `whisper` | an emit to one connection or a set of them                               |
//! | `sleep`   | concurrent requests: acks come back in the order handlers finish         |
//! | `fail`    | an internal error whose details stay in the server log                   |
//! | `crash`   | a panicking handler, still answered                                      |
//! | `metrics` | what the metrics interceptor counted                                     |
//!
//! ```text
//! cargo run -p lab-gateway        # then open http://127.0.0.1:3002/
//! ```
//!
//! Chapter 6 ("The gateway") walks through it.

use std::time::Duration;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::exception::WsException;
use crate::gateway::{Config, Disconnect, Gateway, Handshake, Refusal};
use crate::interceptors::{LoggingLayer, Metrics, MetricsLayer};
use crate::pipeline::Ctx;
use crate::server::{ConnId, Server, Socket};

/// The longest text `echo` accepts: a rule serde's types cannot say, checked by hand.
pub const MAX_ECHO_CHARS: usize = 280;
/// The longest `sleep`: long enough to see acks overtake each other, short enough that a
/// forgotten request does not hold a slot for long.
pub const MAX_SLEEP_MS: u64 = 10_000;

/// The state every handler of the demo shares.
#[derive(Clone, Debug, Default)]
pub struct DemoState {
    /// What the metrics interceptor counted, for the `metrics` event.
    pub metrics: Metrics,
}

/// The state of one connection: `client.data` in NestJS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Visitor {
    /// The name given in the handshake's query (`/ws?user=ada`), if any.
    pub user: Option<String>,
    /// How many times this connection sent `count`.
    pub count: u64,
}

/// The context of the demo's handlers.
pub type DemoCtx = Ctx<DemoState, Visitor>;

// ANCHOR: payloads
/// The payload of `echo` and `shout`.
#[derive(Debug, Deserialize)]
pub struct Text {
    /// Anything up to [`MAX_ECHO_CHARS`] characters.
    pub text: String,
}

/// The payload of `add`: two integers, not strings that look like them.
#[derive(Debug, Deserialize)]
pub struct Add {
    /// The first term.
    pub a: i64,
    /// The second term.
    pub b: i64,
}
// ANCHOR_END: payloads

/// The payload of `whisper`.
#[derive(Debug, Deserialize)]
pub struct Whisper {
    /// The connection ids to reach: one, or several.
    pub to: Vec<ConnId>,
    /// What to say.
    pub text: String,
}

/// The payload of `sleep`.
#[derive(Debug, Deserialize)]
pub struct Sleep {
    /// How long, at most [`MAX_SLEEP_MS`].
    pub ms: u64,
}

/// A pushed `shouted` or `whispered` event.
#[derive(Debug, Serialize)]
struct Said<'a> {
    from: ConnId,
    user: Option<String>,
    text: &'a str,
}

// ANCHOR: handlers
/// `echo`: sends the text back.
async fn echo(_ctx: DemoCtx, payload: Text) -> Result<Value, WsException> {
    if payload.text.chars().count() > MAX_ECHO_CHARS {
        return Err(WsException::Validation(format!(
            "text: at most {MAX_ECHO_CHARS} characters"
        )));
    }
    Ok(json!({ "text": payload.text }))
}

/// `add`: the sum, or a refusal when it does not fit.
async fn add(_ctx: DemoCtx, Add { a, b }: Add) -> Result<Value, WsException> {
    let sum = a
        .checked_add(b)
        .ok_or_else(|| WsException::Refused("a + b overflows a 64-bit integer".into()))?;
    Ok(json!({ "sum": sum }))
}

/// `count`: this connection's own counter, kept in its state.
async fn count(ctx: DemoCtx, _: Value) -> Result<Value, WsException> {
    let count = ctx.socket.with(|visitor| {
        visitor.count += 1;
        visitor.count
    });
    Ok(json!({ "count": count }))
}
// ANCHOR_END: handlers

/// `whoami`: what the server knows about this connection.
async fn whoami(ctx: DemoCtx, _: Value) -> Result<Value, WsException> {
    let user = ctx.socket.with(|visitor| visitor.user.clone());
    Ok(json!({
        "conn": ctx.socket.id(),
        "user": user,
        "peer": ctx.socket.peer().map(|p| p.to_string()),
        "connections": ctx.server().connections(),
    }))
}

// ANCHOR: shout
/// The guard of `shout` and `whisper`: only a connection that gave a name may speak.
fn has_a_name(ctx: &DemoCtx, _data: &Value) -> Result<(), String> {
    if ctx.socket.with(|visitor| visitor.user.is_some()) {
        Ok(())
    } else {
        Err("give a name to speak: connect to /ws?user=<name>".into())
    }
}

/// `shout`: pushes `shouted` to every connection, the sender included.
async fn shout(ctx: DemoCtx, payload: Text) -> Result<Value, WsException> {
    let user = ctx.socket.with(|visitor| visitor.user.clone());
    let said = Said {
        from: ctx.socket.id(),
        user,
        text: &payload.text,
    };
    let delivered = ctx.server().broadcast("shouted", said);
    Ok(json!({ "delivered": delivered }))
}
// ANCHOR_END: shout

/// `whisper`: pushes `whispered` to the listed connections only.
async fn whisper(ctx: DemoCtx, payload: Whisper) -> Result<Value, WsException> {
    let user = ctx.socket.with(|visitor| visitor.user.clone());
    let said = Said {
        from: ctx.socket.id(),
        user,
        text: &payload.text,
    };
    let delivered = ctx.server().emit_to_many(payload.to, "whispered", said);
    Ok(json!({ "delivered": delivered }))
}

/// `sleep`: answers after `ms` milliseconds, while other requests go on.
async fn sleep(_ctx: DemoCtx, Sleep { ms }: Sleep) -> Result<Value, WsException> {
    if ms > MAX_SLEEP_MS {
        return Err(WsException::Validation(format!(
            "ms: at most {MAX_SLEEP_MS}"
        )));
    }
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(json!({ "slept_ms": ms }))
}

// ANCHOR: fail
/// `fail`: a failure that is not the client's fault. The client reads "internal error";
/// the address and the user name in the error only reach the server's log.
async fn fail(_ctx: DemoCtx, _: Value) -> Result<Value, WsException> {
    let cause = std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        "database at 10.0.0.5:5432 refused user 'billing'",
    );
    Err(WsException::internal(cause))
}
// ANCHOR_END: fail

/// `crash`: a handler with a bug. The panic is caught and answered as an internal error.
async fn crash(_ctx: DemoCtx, _: Value) -> Result<Value, WsException> {
    panic!("a bug in the crash handler (on purpose)")
}

/// `metrics`: the counters of the metrics interceptor.
async fn metrics(ctx: DemoCtx, _: Value) -> Result<Value, WsException> {
    serde_json::to_value(ctx.state.metrics.snapshot()).map_err(WsException::internal)
}

// ANCHOR: identify
/// The connect hook: reads an optional `?user=<name>` from the handshake and refuses a bad
/// or banned name with an HTTP status, before any WebSocket exists.
fn identify(handshake: &Handshake, _server: &Server) -> Result<Visitor, Refusal> {
    let Some(user) = handshake.query("user") else {
        return Ok(Visitor::default());
    };
    let valid = (1..=24).contains(&user.chars().count())
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "user: 1 to 24 letters, digits, '-' or '_'",
        ));
    }
    if user.eq_ignore_ascii_case("mallory") {
        return Err(Refusal::new(StatusCode::FORBIDDEN, "mallory is banned"));
    }
    Ok(Visitor {
        user: Some(user),
        count: 0,
    })
}
// ANCHOR_END: identify

/// The demo gateway with `config`.
// ANCHOR: build
pub fn gateway(config: Config) -> Gateway<DemoState, Visitor> {
    let state = DemoState::default();
    let gateway = Gateway::new(state.clone(), config)
        // Interceptors: the first is the outermost, so the log's timing includes counting.
        .layer(LoggingLayer)
        .layer(MetricsLayer::new(state.metrics))
        .on("echo", echo)
        .on("add", add)
        .on("count", count)
        .on("whoami", whoami)
        .on("shout", shout)
        .guard("shout", has_a_name)
        .on("whisper", whisper)
        .guard("whisper", has_a_name)
        .on("sleep", sleep)
        .on("fail", fail)
        .on("crash", crash)
        .on("metrics", metrics);
    let events = gateway.events();
    gateway
        .after_init(|server| tracing::info!(open = server.connection_count(), "gateway ready"))
        .on_connect(identify)
        .on_connected(move |socket: &Socket<Visitor>| {
            let user = socket.with(|visitor| visitor.user.clone());
            let welcome = json!({ "conn": socket.id(), "user": user, "events": events });
            let _ = socket.server().emit_to(socket.id(), "welcome", welcome);
        })
        .on_disconnect(|socket: &Socket<Visitor>, why: &Disconnect| {
            let user = socket.with(|visitor| visitor.user.clone());
            let left = json!({ "conn": socket.id(), "user": user, "why": why });
            socket.server().broadcast("left", left);
        })
}
// ANCHOR_END: build
