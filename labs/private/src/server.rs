//! The private-messaging server: the gateway of chapter 6 with a login endpoint, a token
//! check on the handshake, channels enforced by membership, and a relay of sealed messages.
//!
//! ```text
//! POST /login {"user", "password"}    -> {"token", "expires_in"}       (401 otherwise)
//! GET  /ws    + token                 -> 101, bound to that user        (401 otherwise)
//!   publish_key {public_key}          -> pushes `key` to everyone
//!   keys                              -> every published public key
//!   open_direct {with}                -> the direct channel; pushes `channel` to both
//!   create_group {name, members}      -> an invite-only group; pushes `channel`
//!   invite {channel, user}            -> the owner adds a member
//!   join {channel}                    -> the channel and the sealed history addressed to you
//!   send {channel, seq, copies}       -> one sealed copy per other member; pushes `message`
//! ```
//!
//! The server sees routing data (who, which channel, when, how big) and never a plaintext:
//! `send` carries only nonces and ciphertexts. Nothing here logs a token or a message body.
//! Chapter 8 ("Private messaging") walks through it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use kit::close;
use lab_gateway::{ConnId, Ctx, Gateway, Refusal, Socket, WsException};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::task::AbortHandle;

use crate::auth::{self, AuthError, Claims, DEMO_USERS, Tokens};
use crate::channels::{Channel, ChannelError, Channels, Sealed};
use crate::e2e;

/// The lab's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// The gateway's limits and Origin allowlist.
    pub gateway: lab_gateway::Config,
    /// How long a token lives. Five minutes: long enough to play, short enough to see a
    /// connection closed with 1008 when it runs out.
    pub token_ttl: Duration,
}

impl Config {
    /// The defaults for the lab served on `port`.
    pub fn for_port(port: u16) -> Self {
        Self {
            gateway: lab_gateway::Config::for_port(port),
            token_ttl: Duration::from_secs(300),
        }
    }
}

/// Everything the server knows that is not one connection's: keys, who is online, channels.
#[derive(Debug, Default)]
pub struct Directory {
    /// Each user's published public key (base64). Public by nature.
    pub keys: BTreeMap<String, String>,
    /// Each user's open connections: a message for a user goes to all of them.
    pub online: HashMap<String, BTreeSet<ConnId>>,
    /// The channels, their members and their sealed history.
    pub channels: Channels,
}

/// The server's shared state.
#[derive(Debug)]
pub struct AppState {
    /// Issues and checks tokens.
    pub tokens: Tokens,
    /// Keys, presence and channels, behind a std `Mutex`: every critical section is a few
    /// map operations, never an `.await`.
    pub directory: Mutex<Directory>,
}

impl AppState {
    /// Locks the directory. Each critical section leaves it consistent, so a poisoned lock
    /// (a panic elsewhere while it was held) is still safe to use.
    pub fn directory(&self) -> MutexGuard<'_, Directory> {
        self.directory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Every sealed message the server stores: what a stolen database would hold.
    pub fn stored(&self) -> Vec<Sealed> {
        self.directory().channels.stored()
    }
}

/// One connection's state: who it is, and the timer that ends it when the token expires.
#[derive(Debug, Default)]
pub struct Session {
    /// The user the token named.
    pub user: String,
    /// The token's expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// The expiry timer, stopped when the connection ends first.
    pub expiry: Option<AbortHandle>,
}

/// The handlers' context.
type Cx = Ctx<Arc<AppState>, Session>;

/// Whether `user` is one of the demo users.
fn known(user: &str) -> bool {
    DEMO_USERS.iter().any(|(name, _)| *name == user)
}

/// The user of the connection a handler serves.
fn user_of(ctx: &Cx) -> String {
    ctx.socket.with(|session| session.user.clone())
}

/// A channel refusal as the exception the client receives.
fn refused(err: ChannelError) -> WsException {
    match err {
        ChannelError::NotAMember | ChannelError::NotTheOwner => {
            WsException::Forbidden(err.to_string())
        }
        _ => WsException::Refused(err.to_string()),
    }
}

/// A channel as the client sees it (members, no history).
fn describe(channel: &Channel) -> Value {
    json!({ "channel": channel.name, "kind": channel.kind, "owner": channel.owner,
            "members": channel.members })
}

/// Pushes `event` to every connection of every user in `users`.
fn push_to_users<'a>(
    ctx: &Cx,
    users: impl IntoIterator<Item = &'a String>,
    event: &str,
    data: &Value,
) {
    let conns: Vec<ConnId> = {
        let dir = ctx.state.directory();
        users
            .into_iter()
            .filter_map(|user| dir.online.get(user))
            .flatten()
            .copied()
            .collect()
    };
    ctx.server().emit_to_many(conns, event, data);
}

// ANCHOR: login
/// The body of `POST /login`.
#[derive(Debug, Deserialize)]
pub struct Login {
    /// One of the demo users.
    pub user: String,
    /// Their password.
    pub password: String,
}

/// `POST /login`: a token for a demo user, or 401.
async fn login(State(state): State<Arc<AppState>>, Json(login): Json<Login>) -> Response {
    match state.tokens.login(&login.user, &login.password) {
        Ok(token) => {
            tracing::info!(user = %login.user, "logged in");
            let expires_in = state.tokens.ttl.as_secs();
            Json(json!({ "token": token, "user": login.user, "expires_in": expires_in }))
                .into_response()
        }
        Err(err) => {
            tracing::info!(user = %login.user, "login refused");
            (StatusCode::UNAUTHORIZED, err.to_string()).into_response()
        }
    }
}
// ANCHOR_END: login

// ANCHOR: on_connect
/// The handshake's check: a valid token, or 401 before any WebSocket exists.
fn authenticate(state: &AppState, headers: &axum::http::HeaderMap) -> Result<Session, Refusal> {
    let claims = auth::token_from_headers(headers)
        .ok_or(AuthError::Missing)
        .and_then(|token| state.tokens.verify(&token));
    match claims {
        Ok(Claims { sub, exp, .. }) => Ok(Session {
            user: sub,
            exp,
            expiry: None,
        }),
        Err(err) => {
            // The reason, never the token.
            tracing::info!(reason = %err, "upgrade refused: 401");
            Err(Refusal::new(StatusCode::UNAUTHORIZED, err.to_string()))
        }
    }
}

/// Once open: note the user online, start the expiry timer, and welcome the connection.
fn connected(state: &AppState, socket: &Socket<Session>) {
    let (user, exp) = socket.with(|s| (s.user.clone(), s.exp));
    let remaining = auth::until(exp, SystemTime::now());
    let (server, id) = (socket.server().clone(), socket.id());
    // A token checked once at the handshake would otherwise be good forever.
    let timer = tokio::spawn(async move {
        tokio::time::sleep(remaining).await;
        tracing::info!(conn = id, "token expired: closing with 1008");
        server.disconnect(id, close::POLICY_VIOLATION, "token expired");
    });
    socket.with(|s| s.expiry = Some(timer.abort_handle()));
    let keys = {
        let mut dir = state.directory();
        dir.online.entry(user.clone()).or_default().insert(id);
        dir.keys.clone()
    };
    let users: Vec<&str> = DEMO_USERS.iter().map(|(name, _)| *name).collect();
    let _ = socket.server().emit_to(
        id,
        "welcome",
        json!({ "user": user, "conn": id, "expires_in": remaining.as_secs(),
                "users": users, "keys": keys }),
    );
    tracing::info!(conn = id, %user, "authenticated connection");
}
// ANCHOR_END: on_connect

/// Once closed: stop the timer, and note the user offline on this connection.
fn disconnected(state: &AppState, socket: &Socket<Session>) {
    let (user, timer) = socket.with(|s| (s.user.clone(), s.expiry.take()));
    if let Some(timer) = timer {
        timer.abort();
    }
    let mut dir = state.directory();
    if let Some(conns) = dir.online.get_mut(&user) {
        conns.remove(&socket.id());
        if conns.is_empty() {
            dir.online.remove(&user);
        }
    }
}

/// `publish_key`'s payload.
#[derive(Debug, Deserialize)]
pub struct PublishKey {
    /// The P-256 public key, base64 of the uncompressed point.
    pub public_key: String,
}

/// Stores the sender's public key and tells everyone. One key per user: the latest published
/// wins, so a user who connects twice (two tabs) keeps only the newer key working. A real
/// messenger keeps one key per device and seals each message for every device.
async fn publish_key(ctx: Cx, req: PublishKey) -> Result<Value, WsException> {
    let fingerprint =
        e2e::fingerprint(&req.public_key).map_err(|e| WsException::Validation(e.to_string()))?;
    let user = user_of(&ctx);
    ctx.state
        .directory()
        .keys
        .insert(user.clone(), req.public_key.clone());
    ctx.server().broadcast(
        "key",
        json!({ "user": user, "public_key": req.public_key, "fingerprint": fingerprint }),
    );
    Ok(json!({ "fingerprint": fingerprint }))
}

/// Every published public key.
async fn keys(ctx: Cx, _: Value) -> Result<Value, WsException> {
    Ok(json!({ "keys": ctx.state.directory().keys.clone() }))
}

/// `open_direct`'s payload.
#[derive(Debug, Deserialize)]
pub struct OpenDirect {
    /// The other user.
    pub with: String,
}

/// Opens the direct channel with another user, and tells both.
async fn open_direct(ctx: Cx, req: OpenDirect) -> Result<Value, WsException> {
    let me = user_of(&ctx);
    let (info, members) = {
        let mut dir = ctx.state.directory();
        let channel = dir
            .channels
            .open_direct(&me, &req.with, known)
            .map_err(refused)?;
        (describe(channel), channel.members.clone())
    };
    push_to_users(&ctx, &members, "channel", &info);
    Ok(info)
}

/// `create_group`'s payload.
#[derive(Debug, Deserialize)]
pub struct CreateGroup {
    /// The group's name (the channel is `group:<name>`).
    pub name: String,
    /// Who is invited besides the creator.
    #[serde(default)]
    pub members: Vec<String>,
}

/// Creates an invite-only group, and tells its members.
async fn create_group(ctx: Cx, req: CreateGroup) -> Result<Value, WsException> {
    let me = user_of(&ctx);
    let (info, members) = {
        let mut dir = ctx.state.directory();
        let channel = dir
            .channels
            .create_group(&me, &req.name, &req.members, known)
            .map_err(refused)?;
        (describe(channel), channel.members.clone())
    };
    push_to_users(&ctx, &members, "channel", &info);
    Ok(info)
}

/// `invite`'s payload.
#[derive(Debug, Deserialize)]
pub struct Invite {
    /// The group.
    pub channel: String,
    /// The user to add.
    pub user: String,
}

/// The owner adds a member to a group; every member is told.
async fn invite(ctx: Cx, req: Invite) -> Result<Value, WsException> {
    let me = user_of(&ctx);
    let (info, members) = {
        let mut dir = ctx.state.directory();
        let channel = dir
            .channels
            .invite(&me, &req.channel, &req.user, known)
            .map_err(refused)?;
        (describe(channel), channel.members.clone())
    };
    push_to_users(&ctx, &members, "channel", &info);
    Ok(info)
}

/// `join`'s payload.
#[derive(Debug, Deserialize)]
pub struct Join {
    /// The channel's name.
    pub channel: String,
}

/// A member gets the channel and the sealed history addressed to them; anyone else gets
/// the same refusal whether the channel exists or not.
async fn join(ctx: Cx, req: Join) -> Result<Value, WsException> {
    let me = user_of(&ctx);
    let dir = ctx.state.directory();
    let channel = dir.channels.member(&me, &req.channel).map_err(refused)?;
    let history: Vec<&Sealed> = channel.history.iter().filter(|m| m.to == me).collect();
    let mut info = describe(channel);
    info["history"] = json!(history);
    Ok(info)
}

// ANCHOR: send
/// One sealed copy of a message, for one recipient.
#[derive(Debug, Deserialize, Serialize)]
pub struct Copy {
    /// The recipient.
    pub to: String,
    /// AES-GCM nonce, base64.
    pub iv: String,
    /// Ciphertext and tag, base64.
    pub ciphertext: String,
}

/// `send`'s payload: a message sealed separately for each other member.
#[derive(Debug, Deserialize)]
pub struct Send {
    /// The channel.
    pub channel: String,
    /// The sender's sequence number (authenticated inside each copy).
    pub seq: u64,
    /// One copy per recipient.
    pub copies: Vec<Copy>,
}

/// Checks membership, stores the copies, and relays each to its recipient's connections.
/// The sender is the connection's user, whatever the message might claim.
async fn send(ctx: Cx, req: Send) -> Result<Value, WsException> {
    let from = user_of(&ctx);
    for copy in &req.copies {
        e2e::check_shape(&copy.iv, &copy.ciphertext)
            .map_err(|e| WsException::Validation(e.to_string()))?;
    }
    let copies: Vec<Sealed> = req
        .copies
        .into_iter()
        .map(|copy| Sealed {
            channel: req.channel.clone(),
            from: from.clone(),
            to: copy.to,
            seq: req.seq,
            iv: copy.iv,
            ciphertext: copy.ciphertext,
        })
        .collect();
    let posted = {
        let mut dir = ctx.state.directory();
        // A non-member's empty send is refused like any other.
        dir.channels.member(&from, &req.channel).map_err(refused)?;
        dir.channels.post(copies).map_err(refused)?
    };
    let mut delivered = 0;
    for copy in &posted {
        let conns: Vec<ConnId> = ctx
            .state
            .directory()
            .online
            .get(&copy.to)
            .map(|conns| conns.iter().copied().collect())
            .unwrap_or_default();
        delivered += ctx.server().emit_to_many(conns, "message", copy);
    }
    // Routing data only: never the ciphertext, let alone a plaintext.
    tracing::debug!(%from, channel = %req.channel, seq = req.seq, copies = posted.len(), "relayed");
    Ok(json!({ "delivered": delivered }))
}
// ANCHOR_END: send

// ANCHOR: router
/// The lab: the gateway with its token check and handlers, and `POST /login`.
pub fn app(config: Config) -> (Router, Arc<AppState>) {
    let state = Arc::new(AppState {
        tokens: Tokens::random(config.token_ttl),
        directory: Mutex::default(),
    });
    let (on_connect, on_connected, on_disconnect) =
        (Arc::clone(&state), Arc::clone(&state), Arc::clone(&state));
    let allowlist = config.gateway.allowlist.clone();
    let gateway = Gateway::new(Arc::clone(&state), config.gateway)
        .protocols([auth::PROTOCOL])
        .on_connect(move |handshake, _| authenticate(&on_connect, &handshake.headers))
        .on_connected(move |socket| connected(&on_connected, socket))
        .on_disconnect(move |socket, _| disconnected(&on_disconnect, socket))
        .on("publish_key", publish_key)
        .on("keys", keys)
        .on("open_direct", open_direct)
        .on("create_group", create_group)
        .on("invite", invite)
        .on("join", join)
        .on("send", send)
        // A conversation: a user's requests are handled in the order they were sent (a
        // `send` never overtakes the one before it, nor the `join` it depends on).
        .ordered([
            "publish_key",
            "keys",
            "open_direct",
            "create_group",
            "invite",
            "join",
            "send",
        ]);
    let login = allowlist.protect(
        Router::new()
            .route("/login", post(login))
            .with_state(Arc::clone(&state)),
    );
    let app = gateway
        .into_router()
        .merge(login)
        .layer(axum::middleware::map_response(challenge));
    (app, state)
}

/// Adds `WWW-Authenticate: Bearer` to every 401, as HTTP requires: it tells the client which
/// scheme to use (RFC 6750), without saying anything about the token it sent.
async fn challenge(mut response: Response) -> Response {
    if response.status() == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            axum::http::header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer realm=\"lab-private\""),
        );
    }
    response
}
// ANCHOR_END: router
