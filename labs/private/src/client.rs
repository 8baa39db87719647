//! A private-messaging client in Rust: log in, connect with the token, publish a key pair's
//! public half, and send and receive end-to-end encrypted messages.
//!
//! It speaks exactly what the lab page speaks (same envelope, same key encoding, same
//! HKDF info, same associated data), so a terminal and a browser can talk to each other.
//! The command-line `private-client` and the tests use it. Every frame it sends or receives
//! is kept in [`PrivateClient::wire`], which is exactly what the server received and sent.
//! Chapter 8 ("Private messaging") walks through it.

use std::collections::HashMap;

use lab_gateway::Envelope;
use lab_gateway::client::{Client, ClientError};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header};

use crate::e2e::{self, E2eError, Identity, PairKey, ReplayGuard};

/// What can go wrong for the client.
#[derive(Debug, thiserror::Error)]
pub enum PrivateError {
    /// Logging in failed (bad password, server unreachable).
    #[error("login failed: {0}")]
    Login(String),
    /// The WebSocket failed or was closed.
    #[error(transparent)]
    Ws(#[from] ClientError),
    /// The server answered a request with an exception.
    #[error("the server refused {event}: {message}")]
    Refused {
        /// The request's event.
        event: String,
        /// The exception's message.
        message: String,
    },
    /// Encryption trouble: a missing key, a bad key.
    #[error(transparent)]
    E2e(#[from] E2eError),
}

/// Something the client received that a user would see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A message that opened: authentic, new, and now readable.
    Message {
        /// The channel.
        channel: String,
        /// The sender, as the server authenticated them.
        from: String,
        /// The plaintext.
        text: String,
    },
    /// A sealed message this client refused to open, and why (tampered, replayed...).
    Refused {
        /// The channel.
        channel: String,
        /// The claimed sender.
        from: String,
        /// Why it was refused.
        error: E2eError,
    },
}

/// `POST {base}/login`: a token for `user`.
pub async fn login(base: &str, user: &str, password: &str) -> Result<String, PrivateError> {
    let response = reqwest::Client::new()
        .post(format!("{base}/login"))
        .json(&json!({ "user": user, "password": password }))
        .send()
        .await
        .map_err(|e| PrivateError::Login(e.to_string()))?;
    if !response.status().is_success() {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        return Err(PrivateError::Login(format!("{status}: {body}")));
    }
    let body: Value = response
        .json()
        .await
        .map_err(|e| PrivateError::Login(e.to_string()))?;
    body["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| PrivateError::Login("no token in the answer".into()))
}

/// A connected, authenticated client with its own key pair.
#[derive(Debug)]
pub struct PrivateClient {
    /// The gateway connection.
    ws: Client,
    /// Who the server says we are.
    pub user: String,
    /// Our key pair.
    identity: Identity,
    /// Every published public key we know, by user.
    keys: HashMap<String, String>,
    /// Members of each channel we are in.
    members: HashMap<String, Vec<String>>,
    /// Our next sequence number.
    next_seq: u64,
    /// Sequence numbers already received.
    replay: ReplayGuard,
    /// Every frame sent (`> `) and received (`< `), in order: the server's view.
    pub wire: Vec<String>,
}

impl PrivateClient {
    // ANCHOR: connect
    /// Connects to `ws_url` with `token` in `Authorization: Bearer`, reads the welcome,
    /// and publishes a fresh public key.
    pub async fn connect(ws_url: &str, token: &str) -> Result<Self, PrivateError> {
        let mut request = ws_url.into_client_request().map_err(ClientError::from)?;
        let bearer = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|e| PrivateError::Login(e.to_string()))?;
        request.headers_mut().insert(header::AUTHORIZATION, bearer);
        let mut ws = Client::connect(request).await?;
        let welcome = ws.next().await?;
        let user = welcome.data["user"].as_str().unwrap_or_default().to_owned();
        let keys = serde_json::from_value(welcome.data["keys"].clone()).unwrap_or_default();
        let mut client = Self {
            ws,
            user,
            identity: Identity::generate(),
            keys,
            members: HashMap::new(),
            next_seq: 1,
            replay: ReplayGuard::default(),
            wire: vec![format!("< {}", welcome.to_json())],
        };
        let public_key = client.identity.public_key().to_owned();
        client
            .request("publish_key", json!({ "public_key": public_key }))
            .await?;
        Ok(client)
    }
    // ANCHOR_END: connect

    /// Our public key's fingerprint.
    pub fn fingerprint(&self) -> String {
        // Our own key is always a valid point.
        e2e::fingerprint(self.identity.public_key()).expect("our own key is valid")
    }

    /// The fingerprint of `user`'s key as the server gave it to us, if any.
    pub fn peer_fingerprint(&self, user: &str) -> Option<String> {
        self.keys
            .get(user)
            .and_then(|key| e2e::fingerprint(key).ok())
    }

    /// Sends a request and returns its `ack`'s data, or the exception as an error.
    pub async fn request(&mut self, event: &str, data: Value) -> Result<Value, PrivateError> {
        // The id the gateway client adds is left out of the log; the rest is the frame.
        let sent = Envelope::new(event, None, data.clone()).to_json();
        self.wire.push(format!("> {sent}"));
        let answer = self.ws.request(event, data).await?;
        self.wire.push(format!("< {}", answer.to_json()));
        if answer.event == "exception" {
            return Err(PrivateError::Refused {
                event: event.to_owned(),
                message: answer.data["message"].as_str().unwrap_or("").to_owned(),
            });
        }
        self.note(&answer.data);
        Ok(answer.data)
    }

    /// Remembers what an answer or event tells about channels.
    fn note(&mut self, data: &Value) {
        if let (Some(channel), Some(members)) = (data["channel"].as_str(), data.get("members")) {
            let members: Vec<String> = serde_json::from_value(members.clone()).unwrap_or_default();
            self.members.insert(channel.to_owned(), members);
        }
    }

    /// Opens the direct channel with `with`; returns its name.
    pub async fn open_direct(&mut self, with: &str) -> Result<String, PrivateError> {
        let info = self.request("open_direct", json!({ "with": with })).await?;
        Ok(info["channel"].as_str().unwrap_or_default().to_owned())
    }

    /// Creates the group `name` with `members`; returns its channel name.
    pub async fn create_group(
        &mut self,
        name: &str,
        members: &[&str],
    ) -> Result<String, PrivateError> {
        let info = self
            .request("create_group", json!({ "name": name, "members": members }))
            .await?;
        Ok(info["channel"].as_str().unwrap_or_default().to_owned())
    }

    /// Joins `channel` (members only); returns the server's answer.
    pub async fn join(&mut self, channel: &str) -> Result<Value, PrivateError> {
        self.request("join", json!({ "channel": channel })).await
    }

    // ANCHOR: send_text
    /// Encrypts `text` separately for every other member of `channel` and sends it.
    /// Returns how many connections the server delivered it to.
    pub async fn send_text(&mut self, channel: &str, text: &str) -> Result<u64, PrivateError> {
        let recipients: Vec<String> = self
            .members
            .get(channel)
            .into_iter()
            .flatten()
            .filter(|member| **member != self.user)
            .cloned()
            .collect();
        if recipients.iter().any(|r| !self.keys.contains_key(r)) {
            self.refresh_keys().await?;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut copies = Vec::new();
        for to in &recipients {
            let their_key = self
                .keys
                .get(to)
                .ok_or_else(|| E2eError::NoKey(to.clone()))?;
            let pair = PairKey::derive(&self.identity, &self.user, to, their_key)?;
            let (iv, ciphertext) = pair.seal(&e2e::aad(channel, &self.user, to, seq), text);
            copies.push(json!({ "to": to, "iv": iv, "ciphertext": ciphertext }));
        }
        let data = json!({ "channel": channel, "seq": seq, "copies": copies });
        let ack = self.request("send", data).await?;
        Ok(ack["delivered"].as_u64().unwrap_or(0))
    }
    // ANCHOR_END: send_text

    /// Asks the server for every published key.
    pub async fn refresh_keys(&mut self) -> Result<(), PrivateError> {
        let answer = self.request("keys", Value::Null).await?;
        self.keys = serde_json::from_value(answer["keys"].clone()).unwrap_or_default();
        Ok(())
    }

    // ANCHOR: receive
    /// Waits for the next message and opens it; keys and channel news are absorbed on the
    /// way. A message that fails to open is returned as [`Incoming::Refused`]: the user
    /// must see it, not lose it silently.
    pub async fn next_incoming(&mut self) -> Result<Incoming, PrivateError> {
        loop {
            let envelope = self.ws.next().await?;
            self.wire.push(format!("< {}", envelope.to_json()));
            let data = &envelope.data;
            match envelope.event.as_str() {
                "key" => {
                    let (Some(user), Some(key)) =
                        (data["user"].as_str(), data["public_key"].as_str())
                    else {
                        continue;
                    };
                    if self.keys.get(user).map(String::as_str) != Some(key) {
                        // A new key restarts that sender's numbering.
                        self.replay.reset(user);
                    }
                    self.keys.insert(user.to_owned(), key.to_owned());
                }
                "channel" => self.note(data),
                "message" => return Ok(self.open(data)),
                _ => {}
            }
        }
    }

    /// Opens one relayed copy, checking it is authentic and new.
    pub fn open(&mut self, data: &Value) -> Incoming {
        let field = |name: &str| data[name].as_str().unwrap_or_default().to_owned();
        let (channel, from) = (field("channel"), field("from"));
        let seq = data["seq"].as_u64().unwrap_or_default();
        let opened = self
            .keys
            .get(&from)
            .ok_or_else(|| E2eError::NoKey(from.clone()))
            .and_then(|key| PairKey::derive(&self.identity, &self.user, &from, key))
            .and_then(|pair| {
                let aad = e2e::aad(&channel, &from, &self.user, seq);
                pair.open(&aad, &field("iv"), &field("ciphertext"))
            })
            // Only an authentic message may use up its number.
            .and_then(|text| self.replay.check(&from, seq).map(|()| text));
        match opened {
            Ok(text) => Incoming::Message {
                channel,
                from,
                text,
            },
            Err(error) => Incoming::Refused {
                channel,
                from,
                error,
            },
        }
    }
    // ANCHOR_END: receive

    /// Sends a close frame and waits for the server's.
    pub async fn close(self) -> Result<(), PrivateError> {
        self.ws.close(kit::close::NORMAL).await?;
        Ok(())
    }
}
