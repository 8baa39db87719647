//! The gateway: NestJS's `@WebSocketGateway()` class, as a builder that becomes an
//! `axum::Router`.
//!
//! ```text
//! Gateway::new(state, config)           the class and its options
//!     .on("echo", echo)                 @SubscribeMessage('echo')
//!     .guard("shout", named)            @UseGuards(...) on one handler
//!     .layer(LoggingLayer)              @UseInterceptors(...) on every handler
//!     .after_init(|server| ...)         afterInit()
//!     .on_connect(|handshake, _| ...)   a guard on the handshake itself (NestJS has none)
//!     .on_connected(|socket| ...)       handleConnection()
//!     .on_disconnect(|socket, why| ...) handleDisconnect()
//!     .into_router()                    the module registering the gateway
//! ```
//!
//! Each connection then runs two tasks: the receive loop here (parse, route, spawn the
//! handler, answer) and a send task draining the connection's bounded outgoing queue. Errors
//! of the protocol end the connection with the close code RFC 6455 gives them (`kit::close`);
//! errors of a message only earn an `exception`. Chapter 6 ("The gateway") walks through it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, FromRequestParts, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use kit::OriginAllowlist;
use kit::close::{self, Violation};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tower::ServiceExt as _;
use tower::{Layer, Service};

use crate::envelope::{self, ACK, EXCEPTION, Envelope, Parsed};
use crate::exception::WsException;
use crate::pipeline::{Call, Ctx, Guard, HandlerService, guarded, handler_service};
use crate::rate::{RateLimit, TokenBucket};
use crate::server::{Kick, Outlet, Server, Socket};

/// How long the server waits to deliver its close frame, or for the peer's answering one,
/// before it drops the TCP connection anyway. A peer that has stopped reading must not keep
/// a task alive forever.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// How many queued messages the send task writes before one flush by default: a burst
/// becomes one system call instead of one per message, yet a long queue still flushes
/// regularly. See [`Config::write_batch`].
pub const MAX_BATCH: usize = 64;

// ANCHOR: config
/// A gateway's settings: its limits, and who may connect.
#[derive(Clone, Debug)]
pub struct Config {
    /// Browser origins allowed to open a connection (HTTP 403 before the upgrade otherwise).
    pub allowlist: OriginAllowlist,
    /// The largest message (and frame) accepted, in bytes. Larger ones close the connection
    /// with 1009; tungstenite refuses them from the frame header, before reading the payload.
    pub max_message_bytes: usize,
    /// Frames waiting to be written to one connection. A client that lets it fill up is too
    /// slow to keep up and is closed with 1008.
    pub outgoing_queue: usize,
    /// Requests of one connection handled at the same time. The next message is not read
    /// until one finishes, so a client cannot start unbounded work.
    pub max_in_flight: usize,
    /// Open connections allowed; beyond it the upgrade is answered 503 with `Retry-After`.
    /// Each connection holds a permit of a semaphore of this size from the upgrade to its
    /// end, so a burst of simultaneous upgrades cannot exceed it.
    pub max_connections: usize,
    /// How fast one connection may send messages; a client that floods beyond it is closed
    /// with 1008. `None` turns the limit off. See [`RateLimit`].
    pub rate_limit: Option<RateLimit>,
    /// The server's goodbye: when it starts, every connection is closed with 1001 ("going
    /// away"). A lab's `main` serves with [`kit::serve_with_goodbye`] and this signal.
    pub shutdown: kit::Shutdown,
    /// Silence after which a connection is considered dead and closed with 1001. The server
    /// pings at half this interval, so a live client (a browser answers pings by itself)
    /// is never silent that long, unless [`Config::ping_interval`] says otherwise. `None`
    /// turns the silence check off.
    pub idle_timeout: Option<Duration>,
    /// How often the server pings, when it should not be half of `idle_timeout`: the
    /// resilience lab (chapter 10) sets the ping interval and the ping timeout apart, as
    /// Socket.IO's `pingInterval` and `pingTimeout` do. `None` keeps the default (half of
    /// `idle_timeout`, no pings without it). Keep it well below `idle_timeout`, or live
    /// clients are closed for a silence the server caused.
    pub ping_interval: Option<Duration>,
    /// tungstenite's read and write buffer sizes. Its default is 128 KiB each, about 134 KiB
    /// of memory per idle connection; 4 KiB brings that down to a few KiB (chapter 10
    /// measures it), at the cost of more reads for large messages.
    pub socket_buffer_bytes: usize,
    /// How many queued messages the send task writes before one flush. Batching turns a
    /// burst into one system call; `1` is the naive way, one write and one flush per
    /// message, which the broadcast lab (chapter 9) keeps selectable to measure the
    /// difference.
    pub write_batch: usize,
}

impl Config {
    /// The defaults for a lab served on `port`: its own origin and the course's, 64 KiB
    /// messages, a queue of 256 frames, 32 requests in flight, 10 000 connections,
    /// [`RateLimit::DEFAULT`], a 60 s heartbeat.
    pub fn for_port(port: u16) -> Self {
        Self {
            allowlist: OriginAllowlist::for_lab(port),
            max_message_bytes: 64 * 1024,
            outgoing_queue: 256,
            max_in_flight: 32,
            max_connections: 10_000,
            rate_limit: Some(RateLimit::DEFAULT),
            shutdown: kit::Shutdown::new(),
            idle_timeout: Some(Duration::from_secs(60)),
            ping_interval: None,
            socket_buffer_bytes: 4 * 1024,
            write_batch: MAX_BATCH,
        }
    }
}
// ANCHOR_END: config

/// The upgrade request, as the `on_connect` hook sees it.
#[derive(Debug)]
pub struct Handshake {
    /// The request's headers (`Origin`, `Cookie`, `Authorization`...).
    pub headers: HeaderMap,
    /// The request's path and query.
    pub uri: Uri,
    /// The peer's address, when known.
    pub peer: Option<SocketAddr>,
}

impl Handshake {
    /// The value of `name` in the query string, percent-decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        Query::<HashMap<String, String>>::try_from_uri(&self.uri)
            .ok()
            .and_then(|Query(mut params)| params.remove(name))
    }
}

/// An answer refusing a connection before it exists: an HTTP status and a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status of the refusal (401, 403, 400...).
    pub status: StatusCode,
    /// The body: why.
    pub message: String,
}

impl Refusal {
    /// A refusal with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

/// Who ended a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosedBy {
    /// The client sent a close frame.
    Client,
    /// The server closed it: a protocol violation, a limit, a slow client, silence.
    Server,
    /// Nobody said goodbye: the TCP connection ended or broke.
    Network,
}

/// How a connection ended, for the `on_disconnect` hook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Disconnect {
    /// Who ended it.
    pub by: ClosedBy,
    /// The close code sent or received, if any.
    pub code: Option<u16>,
    /// The close reason, or what happened.
    pub reason: String,
}

impl Disconnect {
    fn server(violation: Violation) -> Self {
        Self {
            by: ClosedBy::Server,
            code: Some(violation.code),
            reason: violation.reason,
        }
    }

    fn network(reason: &str) -> Self {
        Self {
            by: ClosedBy::Network,
            code: None,
            reason: reason.to_owned(),
        }
    }
}

type ConnectHook<C> = Arc<dyn Fn(&Handshake, &Server) -> Result<C, Refusal> + Send + Sync>;
type ConnectedHook<C> = Arc<dyn Fn(&Socket<C>) + Send + Sync>;
type DisconnectHook<C> = Arc<dyn Fn(&Socket<C>, &Disconnect) + Send + Sync>;
type WrapFn<S, C> = Box<dyn Fn(HandlerService<S, C>) -> HandlerService<S, C> + Send + Sync>;
type InitHook = Box<dyn FnOnce(&Server) + Send>;

// ANCHOR: gateway
/// A gateway under construction. `S` is the application state every handler receives (clone
/// it cheaply: an `Arc`), `C` the state of each connection.
pub struct Gateway<S, C> {
    /// Handed to every handler in its [`Ctx`].
    state: S,
    /// Limits and origins.
    config: Config,
    /// The handle on every connection, available before the first one arrives.
    server: Server,
    /// The handlers by event name, as the pipe made them (not yet guarded or intercepted).
    handlers: BTreeMap<String, HandlerService<S, C>>,
    /// The guards of each event name, in the order they were added.
    guards: HashMap<String, Vec<Guard<S, C>>>,
    /// The interceptors, outermost first.
    layers: Vec<WrapFn<S, C>>,
    /// Run once by [`Gateway::into_router`].
    after_init: Vec<InitHook>,
    /// Builds a connection's state from its handshake, or refuses it.
    on_connect: ConnectHook<C>,
    /// Runs once a connection is open and registered.
    on_connected: Option<ConnectedHook<C>>,
    /// Runs once a connection has ended, whatever ended it.
    on_disconnect: Option<DisconnectHook<C>>,
    /// The subprotocols the server speaks, see [`Gateway::protocols`].
    protocols: Vec<String>,
    /// The events handled in arrival order, see [`Gateway::ordered`].
    ordered: HashSet<String>,
    /// One permit per open connection, see [`Gateway::permits`].
    permits: Arc<Semaphore>,
}
// ANCHOR_END: gateway

impl<S, C> std::fmt::Debug for Gateway<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("events", &self.handlers.keys().collect::<Vec<_>>())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S, C> Gateway<S, C>
where
    S: Clone + Send + Sync + 'static,
    C: Send + 'static,
{
    /// An empty gateway; every connection starts with `C::default()` until
    /// [`Gateway::on_connect`] says otherwise.
    pub fn new(state: S, config: Config) -> Self
    where
        C: Default,
    {
        Self {
            state,
            server: Server::default(),
            handlers: BTreeMap::new(),
            guards: HashMap::new(),
            layers: Vec::new(),
            after_init: Vec::new(),
            on_connect: Arc::new(|_, _| Ok(C::default())),
            on_connected: None,
            on_disconnect: None,
            protocols: Vec::new(),
            ordered: HashSet::new(),
            permits: Arc::new(Semaphore::new(config.max_connections)),
            config,
        }
    }

    /// The connection limit's permits ([`Config::max_connections`] of them): a second
    /// transport serving the same clients (the resilience lab's Server-Sent Events
    /// fallback) takes its permits from here too, so that the limit counts every client
    /// whichever way it came in.
    pub fn permits(&self) -> Arc<Semaphore> {
        Arc::clone(&self.permits)
    }

    /// The server handle, to emit from outside any handler (a timer, another service).
    pub fn server(&self) -> Server {
        self.server.clone()
    }

    // ANCHOR: on
    /// Registers `handler` for `event`: `@SubscribeMessage(event)`. Its payload type `T` is
    /// the validation pipe; its `Ok` value becomes the `ack`'s data.
    pub fn on<T, R, F, Fut>(mut self, event: &str, handler: F) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        R: Serialize + 'static,
        F: Fn(Ctx<S, C>, T) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<R, WsException>> + Send + 'static,
    {
        self.handlers
            .insert(event.to_owned(), handler_service(handler));
        self
    }

    /// Adds a guard to `event`: `@UseGuards()` on one handler.
    pub fn guard(
        mut self,
        event: &str,
        guard: impl Fn(&Ctx<S, C>, &Value) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.guards
            .entry(event.to_owned())
            .or_default()
            .push(Arc::new(guard));
        self
    }

    /// Wraps every handler in `layer`: `@UseInterceptors()` on the whole gateway. The first
    /// layer added is the outermost, as in tower's `ServiceBuilder`.
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<HandlerService<S, C>> + Send + Sync + 'static,
        L::Service: Service<Call<S, C>, Response = Value, Error = WsException>
            + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as Service<Call<S, C>>>::Future: Send + 'static,
    {
        self.layers.push(Box::new(move |inner| {
            HandlerService::new(layer.layer(inner))
        }));
        self
    }
    // ANCHOR_END: on

    /// Runs `hook` once, when the gateway is built: `afterInit(server)`.
    pub fn after_init(mut self, hook: impl FnOnce(&Server) + Send + 'static) -> Self {
        self.after_init.push(Box::new(hook));
        self
    }

    /// Decides on each upgrade request, before any WebSocket exists: return the new
    /// connection's state, or a [`Refusal`] that becomes the HTTP answer.
    pub fn on_connect(
        mut self,
        hook: impl Fn(&Handshake, &Server) -> Result<C, Refusal> + Send + Sync + 'static,
    ) -> Self {
        self.on_connect = Arc::new(hook);
        self
    }

    /// Runs for each connection once it is open: `handleConnection(client)`.
    pub fn on_connected(mut self, hook: impl Fn(&Socket<C>) + Send + Sync + 'static) -> Self {
        self.on_connected = Some(Arc::new(hook));
        self
    }

    /// Runs for each connection once it has ended, on every path out:
    /// `handleDisconnect(client)`, plus how it ended.
    pub fn on_disconnect(
        mut self,
        hook: impl Fn(&Socket<C>, &Disconnect) + Send + Sync + 'static,
    ) -> Self {
        self.on_disconnect = Some(Arc::new(hook));
        self
    }

    /// The subprotocols this server speaks (`Sec-WebSocket-Protocol`). When the client offers
    /// several values, the server answers with the first one of *its* list that the client
    /// offered, and never with anything else: the private lab relies on this, because a
    /// browser offers its token as a second "protocol" and the server must not echo it. A
    /// browser refuses a connection whose server ignores every protocol it offered.
    pub fn protocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    // ANCHOR: ordered
    /// Handles `events` in the order they arrive on a connection, one at a time: the next
    /// message of that connection is read only once the handler has answered.
    ///
    /// By default each message gets a task of its own, so a slow request does not hold up
    /// the next one; but two requests then run side by side, and the second may finish
    /// first. For an `echo` that is fine (the answers carry their `id`); for a chat it is
    /// not: a `send` could overtake the one before it, or even the `join` that lets it in.
    /// A NestJS gateway on the `ws` adapter handles a connection's messages one after the
    /// other in the same way, as long as its handlers do not `await` anything slow.
    pub fn ordered<I>(mut self, events: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.ordered.extend(events.into_iter().map(Into::into));
        self
    }
    // ANCHOR_END: ordered

    /// The registered event names, sorted.
    pub fn events(&self) -> Vec<String> {
        self.handlers.keys().cloned().collect()
    }

    // ANCHOR: into_router
    /// Builds every handler's full pipeline, runs the after-init hooks, and returns the
    /// router serving the gateway at `/ws`, behind the Origin allowlist.
    pub fn into_router(self) -> Router {
        let mut routes = HashMap::new();
        for (event, handler) in self.handlers {
            let guards = self.guards.get(&event).cloned().unwrap_or_default();
            // Guards sit inside the interceptors, so refusals are logged and counted too.
            let mut service = guarded(handler, guards);
            for wrap in self.layers.iter().rev() {
                service = wrap(service);
            }
            let ordered = self.ordered.contains(&event);
            routes.insert(Arc::<str>::from(event), Route { service, ordered });
        }
        for hook in self.after_init {
            hook(&self.server);
        }
        let shared = Arc::new(Shared {
            permits: self.permits,
            state: self.state,
            config: self.config,
            server: self.server,
            routes,
            on_connect: self.on_connect,
            on_connected: self.on_connected,
            on_disconnect: self.on_disconnect,
            protocols: self.protocols,
        });
        let allowlist = shared.config.allowlist.clone();
        allowlist.protect(
            Router::new()
                .route("/ws", get(ws_handler::<S, C>))
                .with_state(shared),
        )
    }
    // ANCHOR_END: into_router
}

/// One event's handling.
struct Route<S, C> {
    /// Interceptors, guards, pipe and handler.
    service: HandlerService<S, C>,
    /// Handled before the connection's next message is read ([`Gateway::ordered`]).
    ordered: bool,
}

/// What every connection of a built gateway shares.
struct Shared<S, C> {
    /// One permit per open connection, [`Config::max_connections`] in all. A connection
    /// takes its permit at the upgrade and holds it until it ends, however it ends, so the
    /// check and the count can never disagree (mini-redis limits its connections this way).
    permits: Arc<Semaphore>,
    /// Handed to every handler.
    state: S,
    /// Limits and origins.
    config: Config,
    /// The handle on every connection.
    server: Server,
    /// Each event's full pipeline: interceptors, guards, pipe, handler.
    routes: HashMap<Arc<str>, Route<S, C>>,
    /// See [`Gateway::on_connect`].
    on_connect: ConnectHook<C>,
    /// See [`Gateway::on_connected`].
    on_connected: Option<ConnectedHook<C>>,
    /// See [`Gateway::on_disconnect`].
    on_disconnect: Option<DisconnectHook<C>>,
    /// See [`Gateway::protocols`].
    protocols: Vec<String>,
}

// ANCHOR: ws_handler
/// The upgrade: limits and the connect hook run here, while refusing is still an HTTP
/// answer; only then does the connection get its WebSocket.
async fn ws_handler<S, C>(State(shared): State<Arc<Shared<S, C>>>, request: Request) -> Response
where
    S: Clone + Send + Sync + 'static,
    C: Send + 'static,
{
    let (mut parts, _body) = request.into_parts();
    // The answers RFC 6455 asks for, which axum's extractor does not give (see below).
    if let Some(refusal) = refuse_bad_upgrade(&parts.headers) {
        return refusal;
    }
    // Anything else that is not a valid upgrade gets axum's 400/405, never a 500.
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    // Counting the open connections and then deciding would let a burst of simultaneous
    // upgrades all see the same count and all get in. Taking a permit is the check and the
    // count in one step; it moves into the connection below and is released when it ends.
    let Ok(permit) = Arc::clone(&shared.permits).try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            "too many connections, try again later",
        )
            .into_response();
    };
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    let handshake = Handshake {
        headers: parts.headers,
        uri: parts.uri,
        peer,
    };
    let state = match (shared.on_connect)(&handshake, &shared.server) {
        Ok(state) => state,
        Err(refusal) => {
            tracing::info!(status = %refusal.status, ?peer, "connection refused at the handshake");
            return (refusal.status, refusal.message).into_response();
        }
    };
    // Taken before the 101 is sent: a goodbye that starts from here on waits for this
    // connection too, so no client is left out and dropped.
    let going_away = shared.config.shutdown.watch();
    let buffer = shared.config.socket_buffer_bytes;
    let max = shared.config.max_message_bytes;
    // Picks one of our protocols among those offered, if any; never echoes another value.
    let upgrade = if shared.protocols.is_empty() {
        upgrade
    } else {
        upgrade.protocols(shared.protocols.clone())
    };
    upgrade
        .read_buffer_size(buffer)
        .write_buffer_size(buffer)
        .max_message_size(max)
        .max_frame_size(max)
        .on_failed_upgrade(|err| tracing::debug!(%err, "upgrade failed"))
        .on_upgrade(move |socket| async move {
            run_connection(shared, socket, peer, state, going_away).await;
            // Held for the connection's whole life; a failed upgrade drops it with the closure.
            drop(permit);
        })
}
// ANCHOR_END: ws_handler

/// The upgrade mistakes axum 0.8's `WebSocketUpgrade` answers differently from what the RFCs
/// ask (found by running curl against it, `interop/tests/curl.rs`), answered here as the
/// handshake lab answers them:
///
/// - no `Upgrade: websocket` at all, a plain GET: 426 Upgrade Required with `Upgrade:
///   websocket`, as RFC 9110 (15.5.22) requires of every 426 (axum says 400);
/// - a `Sec-WebSocket-Version` other than 13, or none: 426 with `Sec-WebSocket-Version: 13`,
///   the versions this server speaks, which RFC 6455 (4.2.2) says it MUST send (axum's 400
///   leaves it out, so the client cannot learn what to retry with);
/// - a `Sec-WebSocket-Key` that is not 16 bytes in base64: 400 (RFC 6455, 4.2.1); axum
///   never decodes the key, it only hashes it, and upgrades a 5-byte one.
fn refuse_bad_upgrade(headers: &HeaderMap) -> Option<Response> {
    use base64::Engine as _;
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    let upgrade_required = |extra: &[(header::HeaderName, &'static str)], body: &'static str| {
        let mut response = (StatusCode::UPGRADE_REQUIRED, body).into_response();
        let h = response.headers_mut();
        h.insert(
            header::UPGRADE,
            header::HeaderValue::from_static("websocket"),
        );
        h.insert(
            header::CONNECTION,
            header::HeaderValue::from_static("Upgrade"),
        );
        for (name, value) in extra {
            h.insert(name, header::HeaderValue::from_static(value));
        }
        response
    };
    if !has_token(header::UPGRADE, "websocket") {
        return Some(upgrade_required(
            &[],
            "this endpoint speaks WebSocket only: send an upgrade request",
        ));
    }
    // A missing `Connection: Upgrade` is left to axum's 400.
    if !has_token(header::CONNECTION, "upgrade") {
        return None;
    }
    let version = headers.get(header::SEC_WEBSOCKET_VERSION);
    if version.is_none_or(|v| v.as_bytes() != b"13") {
        return Some(upgrade_required(
            &[(header::SEC_WEBSOCKET_VERSION, "13")],
            "unsupported Sec-WebSocket-Version: this server speaks 13",
        ));
    }
    let key_is_16_bytes = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|key| base64::engine::general_purpose::STANDARD.decode(key).ok())
        .is_some_and(|key| key.len() == 16);
    (!key_is_16_bytes).then(|| {
        (
            StatusCode::BAD_REQUEST,
            "Sec-WebSocket-Key must be 16 bytes in base64",
        )
            .into_response()
    })
}

// ANCHOR: run_connection
/// One connection from open to closed: register it, start its send task, run the receive
/// loop, and clean up on every path out.
async fn run_connection<S, C>(
    shared: Arc<Shared<S, C>>,
    socket: WebSocket,
    peer: Option<SocketAddr>,
    state: C,
    mut going_away: kit::shutdown::Watcher,
) where
    S: Clone + Send + Sync + 'static,
    C: Send + 'static,
{
    let id = shared.server.next_id();
    let (sink, stream) = socket.split();
    let (queue, outgoing) = mpsc::channel(shared.config.outgoing_queue);
    let kick = Arc::new(Kick::default());
    shared.server.register(
        id,
        Outlet {
            queue: queue.clone(),
            kick: Arc::clone(&kick),
        },
    );
    let socket = Socket::new(id, peer, state, queue, shared.server.clone());
    let (stop, stopped) = oneshot::channel();
    let ping_every = shared
        .config
        .ping_interval
        .or(shared.config.idle_timeout.map(|idle| idle / 2));
    let batch = shared.config.write_batch.max(1);
    let send_task = tokio::spawn(send_task(sink, outgoing, stopped, ping_every, batch));
    tracing::info!(conn = id, ?peer, "connected");
    if let Some(hook) = &shared.on_connected {
        hook(&socket);
    }

    // `going_away` is held until this connection has finished closing: the server's goodbye
    // waits for it.
    let disconnect = tokio::select! {
        disconnect = recv_task(&shared, &socket, stream, &kick) => disconnect,
        () = going_away.started() => Disconnect::server(Violation::new(
            close::GOING_AWAY,
            "server shutting down",
        )),
    };

    // Leave the registry first, so nothing more is emitted to a closing connection.
    shared.server.unregister(id);
    // 1006 never travels on the wire (RFC 6455, 7.4.1): a server "closing" with it
    // ([`Server::abort`]) just drops the TCP connection.
    let goodbye = (disconnect.by == ClosedBy::Server)
        .then(|| {
            disconnect
                .code
                .filter(|&code| code != crate::server::ABNORMAL)
                .map(|code| Violation::new(code, &disconnect.reason))
        })
        .flatten();
    let _ = stop.send(goodbye);
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, send_task).await;
    tracing::info!(conn = id, by = ?disconnect.by, code = ?disconnect.code, reason = %disconnect.reason, "disconnected");
    if let Some(hook) = &shared.on_disconnect {
        hook(&socket, &disconnect);
    }
    drop(going_away);
}
// ANCHOR_END: run_connection

/// What the receive loop waited for.
enum Next {
    /// A message, an error, or the end of the stream.
    Message(Option<Result<Message, axum::Error>>),
    /// The idle timeout passed in silence.
    Idle,
}

/// The next message, or [`Next::Idle`] if none comes within `idle`.
async fn next_or_idle(stream: &mut SplitStream<WebSocket>, idle: Option<Duration>) -> Next {
    match idle {
        Some(idle) => match tokio::time::timeout(idle, stream.next()).await {
            Ok(next) => Next::Message(next),
            Err(_) => Next::Idle,
        },
        None => Next::Message(stream.next().await),
    }
}

// ANCHOR: recv_task
/// Reads messages until the connection ends, and says how it ended.
async fn recv_task<S, C>(
    shared: &Arc<Shared<S, C>>,
    socket: &Socket<C>,
    mut stream: SplitStream<WebSocket>,
    kick: &Kick,
) -> Disconnect
where
    S: Clone + Send + Sync + 'static,
    C: Send + 'static,
{
    let in_flight = Arc::new(Semaphore::new(shared.config.max_in_flight));
    let mut bucket = shared.config.rate_limit.map(TokenBucket::new);
    loop {
        // A kick (slow client, `Server::disconnect`) wins over anything else.
        let next = tokio::select! {
            biased;
            violation = kick.kicked() => return Disconnect::server(violation),
            next = next_or_idle(&mut stream, shared.config.idle_timeout) => next,
        };
        let message = match next {
            Next::Idle => {
                return Disconnect::server(Violation::new(
                    close::GOING_AWAY,
                    "no sign of life within the idle timeout",
                ));
            }
            Next::Message(None) => return Disconnect::network("TCP closed without a close frame"),
            Next::Message(Some(Err(err))) => {
                // A protocol violation, invalid UTF-8 or an oversized message: answer with its
                // close code. Anything else means the socket itself is gone.
                return match close::violation_of_axum(err) {
                    Some(violation) => Disconnect::server(violation),
                    None => Disconnect::network("connection lost"),
                };
            }
            Next::Message(Some(Ok(message))) => message,
        };
        // Every data message takes a token; a flood empties the bucket and ends here.
        if matches!(message, Message::Text(_) | Message::Binary(_))
            && let Some(bucket) = bucket.as_mut()
            && !bucket.try_take()
        {
            tracing::warn!(conn = socket.id(), "message rate limit exceeded: closing");
            return Disconnect::server(Violation::new(
                close::POLICY_VIOLATION,
                "too many messages: over the rate limit",
            ));
        }
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => {
                let err = WsException::Malformed(
                    "binary frames are not supported here: send JSON text".into(),
                );
                socket.reply(&exception(None, None, &err)).await;
                continue;
            }
            // tungstenite answers pings itself; a pong is a sign of life, nothing more.
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Close(frame) => {
                // Reading once more lets tungstenite send its answering close frame.
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, stream.next()).await;
                return Disconnect {
                    by: ClosedBy::Client,
                    code: frame.as_ref().map(|f| f.code),
                    reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                };
            }
        };
        // Handling may wait (for a free slot, for room in the queue): a kick still wins.
        tokio::select! {
            biased;
            violation = kick.kicked() => return Disconnect::server(violation),
            () = dispatch(shared, socket, &in_flight, text) => {}
        }
    }
}
// ANCHOR_END: recv_task

// ANCHOR: dispatch
/// Routes one text message: parse, find the handler, and run it in a task of its own so
/// that a slow handler does not hold up the next message (or, for an event marked
/// [`Gateway::ordered`], to completion before the next message is read). Every request
/// with an `id` gets exactly one answer with that `id`, whatever happens.
async fn dispatch<S, C>(
    shared: &Arc<Shared<S, C>>,
    socket: &Socket<C>,
    in_flight: &Arc<Semaphore>,
    text: Utf8Bytes,
) where
    S: Clone + Send + Sync + 'static,
    C: Send + 'static,
{
    let envelope = match envelope::parse(text.as_str()) {
        Parsed::Ok(envelope) => envelope,
        Parsed::Malformed { id, problem } => {
            tracing::debug!(conn = socket.id(), "malformed message");
            let err = WsException::Malformed(problem);
            return socket.reply(&exception(id, None, &err)).await;
        }
    };
    let Some(route) = shared.routes.get(envelope.event.as_str()) else {
        tracing::debug!(conn = socket.id(), event = %envelope.event, "unknown event");
        let err = WsException::UnknownEvent(envelope.event.clone());
        return socket
            .reply(&exception(envelope.id, Some(&envelope.event), &err))
            .await;
    };
    // Wait for a free slot: at most `max_in_flight` handlers per connection.
    let Ok(permit) = Arc::clone(in_flight).acquire_owned().await else {
        return; // The semaphore is never closed.
    };
    let event: Arc<str> = envelope.event.into();
    let id = envelope.id;
    let call = Call {
        ctx: Ctx {
            event: Arc::clone(&event),
            id,
            socket: socket.clone(),
            state: shared.state.clone(),
        },
        data: envelope.data,
    };
    let (service, socket) = (route.service.clone(), socket.clone());
    let handling = async move {
        // The handler runs in a task of its own so that a panic in it is caught here and
        // still answered, as an internal error.
        let outcome = match tokio::spawn(service.oneshot(call)).await {
            Ok(outcome) => outcome,
            Err(join) => {
                tracing::error!(conn = socket.id(), %event, "handler panicked");
                Err(WsException::internal(join))
            }
        };
        let reply = match (outcome, id) {
            (Ok(data), Some(id)) => Some(Envelope::new(ACK, Some(id), data)),
            // No id: the client asked for no answer.
            (Ok(_), None) => None,
            (Err(err), id) => Some(exception(id, Some(&event), &err)),
        };
        if let Some(reply) = reply {
            socket.reply(&reply).await;
        }
        drop(permit);
    };
    if route.ordered {
        // The receive loop waits here: the next message is read once this one is answered.
        handling.await;
    } else {
        tokio::spawn(handling);
    }
}
// ANCHOR_END: dispatch

/// The `exception` envelope for `err`.
fn exception(id: Option<u64>, event: Option<&str>, err: &WsException) -> Envelope {
    Envelope::new(EXCEPTION, id, err.payload(event))
}

// ANCHOR: send_task
/// Writes the connection's outgoing queue to the socket, pings on schedule, and on `stop`
/// sends the close frame it is given (if any) and ends. Up to `batch` queued messages go
/// out with one flush.
async fn send_task(
    mut sink: SplitSink<WebSocket, Message>,
    mut outgoing: mpsc::Receiver<Message>,
    mut stop: oneshot::Receiver<Option<Violation>>,
    ping_every: Option<Duration>,
    batch: usize,
) {
    let mut ping = ping_every.map(|every| {
        let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval
    });
    let goodbye = loop {
        tokio::select! {
            biased;
            goodbye = &mut stop => break goodbye.ok().flatten(),
            written = write_next(&mut sink, &mut outgoing, &mut ping, batch) => if !written {
                break None;
            },
        }
    };
    if let Some(violation) = goodbye {
        let frame = CloseFrame {
            code: violation.code,
            reason: violation.reason.into(),
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
    }
}

/// Waits for the next thing to write (queued messages or a ping) and writes it. Messages
/// already waiting are fed together and flushed once. `false` when the socket or the queue
/// is gone.
async fn write_next(
    sink: &mut SplitSink<WebSocket, Message>,
    outgoing: &mut mpsc::Receiver<Message>,
    ping: &mut Option<tokio::time::Interval>,
    batch: usize,
) -> bool {
    let tick = async {
        match ping {
            Some(interval) => interval.tick().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        message = outgoing.recv() => {
            let Some(mut message) = message else { return false };
            let mut batched = 0;
            loop {
                if sink.feed(message).await.is_err() {
                    return false;
                }
                batched += 1;
                if batched >= batch {
                    break;
                }
                match outgoing.try_recv() {
                    Ok(next) => message = next,
                    Err(_) => break,
                }
            }
            sink.flush().await.is_ok()
        }
        _ = tick => sink.send(Message::Ping(Default::default())).await.is_ok(),
    }
}
// ANCHOR_END: send_task
