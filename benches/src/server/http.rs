//! REST and WebSocket on one axum app: the same echo, two ways of carrying it.
//!
//! - `POST /echo`: the body is the encoded request (`Content-Type: application/x-protobuf`
//!   or `application/json`), the response body the encoded reply. Served over HTTP/1.1
//!   keep-alive or over HTTP/2 with prior knowledge (h2c): axum's server reads the first
//!   bytes of a connection and picks the protocol, so one router serves both rows.
//! - `GET /ws`: a WebSocket; binary messages carry protobuf, text messages JSON.
//! - `GET /push`: a WebSocket that receives one `SubscribeRequest` and pushes that many
//!   `Update`s (the push workload).
//! - `GET /poll?size=N`: one fresh `Update` per request, the HTTP-polling way to get pushes.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use prost::Message as _;
use protos::bench::v1::{SubscribeRequest, Update};
use serde::Deserialize;
use tokio::net::TcpListener;

use super::ServerState;
use crate::transport::Encoding;
use crate::wire::{self, MAX_FRAME};

/// The media type of a protobuf body. There is no registered one; this is the common usage.
pub const PROTOBUF_CONTENT_TYPE: &str = "application/x-protobuf";
/// The media type of a JSON body.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// The media type for an encoding.
pub fn content_type(encoding: Encoding) -> &'static str {
    match encoding {
        Encoding::Proto => PROTOBUF_CONTENT_TYPE,
        Encoding::Json => JSON_CONTENT_TYPE,
    }
}

/// The router: REST echo, WebSocket echo, push over WebSocket, push by polling.
pub fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route("/echo", post(rest_echo))
        .route("/ws", get(ws_handler))
        .route("/push", get(push_handler))
        .route("/poll", get(poll_handler))
        // axum refuses bodies over 2 MiB by default; the 1 MiB payload in JSON is bigger.
        .layer(DefaultBodyLimit::max(MAX_FRAME))
        .with_state(state)
}

/// Serves the router with `TCP_NODELAY` set (or not) on every accepted socket.
pub async fn serve(listener: TcpListener, state: Arc<ServerState>) {
    let nodelay = state.options.nodelay;
    let listener = listener.tap_io(move |tcp| {
        if let Err(err) = tcp.set_nodelay(nodelay) {
            tracing::warn!(%err, "could not set TCP_NODELAY");
        }
    });
    if let Err(err) = axum::serve(listener, router(state)).await {
        tracing::error!(%err, "the HTTP server stopped");
    }
}

/// `POST /echo`: decode, reply, encode; the encoding follows the request's `Content-Type`.
async fn rest_echo(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let encoding = match headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        Some(PROTOBUF_CONTENT_TYPE) => Encoding::Proto,
        Some(JSON_CONTENT_TYPE) => Encoding::Json,
        _ => {
            return (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/x-protobuf or application/json",
            )
                .into_response();
        }
    };
    state.stall.gate().await;
    match wire::echo(encoding, &body) {
        Ok(reply) => ([(header::CONTENT_TYPE, content_type(encoding))], reply).into_response(),
        Err(err) => (StatusCode::BAD_REQUEST, err.to_string()).into_response(),
    }
}

/// `GET /ws`: the upgrade. Library defaults otherwise (including tungstenite's 128 KiB read
/// buffer), because that is what an application gets out of the box.
async fn ws_handler(ws: WebSocketUpgrade, State(state): State<Arc<ServerState>>) -> Response {
    ws.max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .on_upgrade(move |socket| handle_socket(socket, state))
}

/// One WebSocket connection: message in, reply out, until the client closes.
async fn handle_socket(mut socket: WebSocket, state: Arc<ServerState>) {
    while let Some(message) = socket.recv().await {
        let reply = match message {
            Ok(Message::Binary(request)) => {
                state.stall.gate().await;
                wire::echo(Encoding::Proto, &request).map(Message::Binary)
            }
            Ok(Message::Text(request)) => {
                state.stall.gate().await;
                wire::echo(Encoding::Json, request.as_bytes()).map(|reply| {
                    // Invariant: serde_json writes UTF-8.
                    Message::Text(reply.try_into().expect("JSON is UTF-8"))
                })
            }
            // Pings are answered by the library; a close ends the loop on the next recv.
            Ok(_) => continue,
            Err(err) => {
                tracing::debug!(%err, "WebSocket receive failed");
                return;
            }
        };
        let reply = match reply {
            Ok(reply) => reply,
            Err(err) => {
                // A harness client never sends a bad message; say why and close (1007).
                tracing::warn!(%err, "undecodable echo request on /ws");
                let _ = socket
                    .send(Message::Close(Some(axum::extract::ws::CloseFrame {
                        code: 1007,
                        reason: "undecodable echo request".into(),
                    })))
                    .await;
                return;
            }
        };
        if socket.send(reply).await.is_err() {
            return;
        }
    }
}

/// The current time in nanoseconds since the Unix epoch: the `sent_at` of an update. Client
/// and server share one machine and so one clock.
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The largest payload of a pushed update.
pub const MAX_PUSH_PAYLOAD: usize = 1024 * 1024;

/// The payload of pushed updates: a slice of one buffer made once, so that making an update
/// costs the same on every push transport (a clone of a reference-counted slice).
pub fn push_payload(size: usize) -> Bytes {
    static BUFFER: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    BUFFER
        .get_or_init(|| wire::payload(MAX_PUSH_PAYLOAD))
        .slice(..size.min(MAX_PUSH_PAYLOAD))
}

/// One update of the push workload.
pub fn make_update(seq: u64, payload: &Bytes) -> Update {
    Update {
        seq,
        sent_at_unix_nanos: unix_nanos(),
        payload: payload.clone(),
    }
}

/// `GET /push`: a WebSocket that reads one binary `SubscribeRequest` and pushes `count`
/// binary `Update`s as fast as the connection takes them.
async fn push_handler(ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(MAX_FRAME)
        .on_upgrade(|mut socket: WebSocket| async move {
            let Some(Ok(Message::Binary(first))) = socket.recv().await else {
                return;
            };
            let Ok(subscribe) = SubscribeRequest::decode(first) else {
                tracing::warn!("undecodable SubscribeRequest on /push");
                return;
            };
            let payload = push_payload(subscribe.payload_size as usize);
            for seq in 0..subscribe.count {
                let update = make_update(seq, &payload);
                if socket
                    .send(Message::Binary(update.encode_to_vec().into()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            // Wait for the client's close so the last frames are not cut by a reset.
            while let Some(Ok(message)) = socket.recv().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        })
}

/// The query of `GET /poll`.
#[derive(Debug, Deserialize)]
struct PollQuery {
    /// Payload bytes of the update.
    size: u32,
    /// Which update the client asks for.
    #[serde(default)]
    seq: u64,
}

/// `GET /poll?size=N&seq=S`: the next update, made when asked (as if one were always
/// ready: polling's best case).
async fn poll_handler(Query(query): Query<PollQuery>) -> Response {
    let payload = push_payload(query.size as usize);
    let update = make_update(query.seq, &payload);
    (
        [(header::CONTENT_TYPE, PROTOBUF_CONTENT_TYPE)],
        update.encode_to_vec(),
    )
        .into_response()
}
