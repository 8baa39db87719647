//! A client of any gateway, on tokio-tungstenite: send envelopes, wait for the answer to a
//! request by its `id`, keep pushed events for later. The command-line clients of the
//! gateway and rooms labs use it, and so do their tests.
//!
//! It is also the client side of acknowledgements (chapter 6, "The gateway"): a request gets
//! a fresh `id`, and whatever arrives before the answer with that `id` is kept in order.

use std::collections::VecDeque;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::envelope::Envelope;

/// What can go wrong for a client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The WebSocket failed (handshake refused, connection lost...).
    #[error("websocket: {0}")]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
    /// The server closed the connection, with this code and reason if it gave one.
    #[error("closed by the server: {0:?}")]
    Closed(Option<(u16, String)>),
    /// The server sent something that is not an envelope.
    #[error("not an envelope: {0}")]
    NotAnEnvelope(String),
}

/// A connection to a gateway.
#[derive(Debug)]
pub struct Client {
    /// The WebSocket.
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The id of the next request.
    next_id: u64,
    /// Pushed events that arrived while waiting for an answer, oldest first.
    pushed: VecDeque<Envelope>,
}

impl Client {
    /// Connects to `request` (a `ws://` URL, or a request with headers).
    pub async fn connect(request: impl IntoClientRequest + Unpin) -> Result<Self, ClientError> {
        let (ws, _response) = tokio_tungstenite::connect_async(request).await?;
        Ok(Self {
            ws,
            next_id: 1,
            pushed: VecDeque::new(),
        })
    }

    /// Sends an envelope as it is.
    pub async fn send(&mut self, envelope: &Envelope) -> Result<(), ClientError> {
        self.ws.send(Message::text(envelope.to_json())).await?;
        Ok(())
    }

    /// Sends raw text, for experiments with malformed messages.
    pub async fn send_text(&mut self, text: &str) -> Result<(), ClientError> {
        self.ws.send(Message::text(text)).await?;
        Ok(())
    }

    /// The next envelope: a kept pushed event first, then the socket's next message.
    pub async fn next(&mut self) -> Result<Envelope, ClientError> {
        if let Some(envelope) = self.pushed.pop_front() {
            return Ok(envelope);
        }
        self.receive().await
    }

    /// Reads the socket's next envelope, skipping pings and pongs.
    async fn receive(&mut self) -> Result<Envelope, ClientError> {
        loop {
            let message = match self.ws.next().await {
                Some(message) => message?,
                None => return Err(ClientError::Closed(None)),
            };
            match message {
                Message::Text(text) => {
                    return serde_json::from_str(text.as_str())
                        .map_err(|_| ClientError::NotAnEnvelope(text.to_string()));
                }
                Message::Close(frame) => {
                    return Err(ClientError::Closed(
                        frame.map(|f| (u16::from(f.code), f.reason.to_string())),
                    ));
                }
                Message::Binary(_) => {
                    return Err(ClientError::NotAnEnvelope("a binary frame".into()));
                }
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }

    // ANCHOR: request
    /// Sends `event` with `data` as a request with a fresh id, and returns its answer (an
    /// `ack` or an `exception`). Pushed events arriving meanwhile are kept for [`Client::next`].
    pub async fn request(&mut self, event: &str, data: Value) -> Result<Envelope, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&Envelope::new(event, Some(id), data)).await?;
        loop {
            let envelope = self.receive().await?;
            if envelope.id == Some(id) {
                return Ok(envelope);
            }
            self.pushed.push_back(envelope);
        }
    }
    // ANCHOR_END: request

    /// Sends a close frame with `code` and waits for the server's answer.
    pub async fn close(mut self, code: u16) -> Result<(), ClientError> {
        let frame = tokio_tungstenite::tungstenite::protocol::CloseFrame {
            code: code.into(),
            reason: "".into(),
        };
        self.ws.close(Some(frame)).await?;
        // Drain until the server's close frame ends the stream.
        while let Some(message) = self.ws.next().await {
            if message.is_err() {
                break;
            }
        }
        Ok(())
    }

    /// The underlying WebSocket, for tests that need to go lower.
    pub fn into_inner(self) -> WebSocketStream<MaybeTlsStream<TcpStream>> {
        self.ws
    }
}

// ANCHOR: repl
/// The loop both command-line clients (`gateway-client`, `rooms-client`) run: every line
/// typed becomes a request with a fresh id (from `first_id`); everything that arrives is
/// printed, as `show` words it (`None` hides it). At the end of the input it waits for the
/// answers still due, then for `linger` more (events may travel apart from answers), then
/// closes with 1000.
pub async fn repl<E: Into<String>>(
    mut client: Client,
    first_id: u64,
    linger: std::time::Duration,
    parse: impl Fn(&str) -> anyhow::Result<(E, Value)>,
    show: impl Fn(&Envelope) -> Option<String>,
) -> anyhow::Result<()> {
    use tokio::io::AsyncBufReadExt as _;

    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut next_id = first_id;
    let mut unanswered = std::collections::BTreeSet::new();
    let mut input_open = true;
    let print = |envelope: &Envelope| {
        if let Some(text) = show(envelope) {
            println!("{text}");
        }
    };
    loop {
        if !input_open && unanswered.is_empty() {
            while let Ok(Ok(envelope)) = tokio::time::timeout(linger, client.next()).await {
                print(&envelope);
            }
            client.close(1000).await?;
            return Ok(());
        }
        tokio::select! {
            line = lines.next_line(), if input_open => {
                let Some(line) = line? else {
                    input_open = false;
                    continue;
                };
                if line.trim().is_empty() {
                    continue;
                }
                match parse(line.trim()) {
                    Ok((event, data)) => {
                        client.send(&Envelope::new(event, Some(next_id), data)).await?;
                        unanswered.insert(next_id);
                        next_id += 1;
                    }
                    Err(err) => eprintln!("{err:#}"),
                }
            }
            received = client.next() => match received {
                Ok(envelope) => {
                    if let Some(id) = envelope.id {
                        unanswered.remove(&id);
                    }
                    print(&envelope);
                }
                Err(ClientError::Closed(why)) => {
                    println!("closed by the server: {why:?}");
                    return Ok(());
                }
                Err(err) => return Err(err.into()),
            },
        }
    }
}
// ANCHOR_END: repl
