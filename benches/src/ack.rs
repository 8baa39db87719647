//! Request and acknowledgement: our gateway's `ack` against Socket.IO's.
//!
//! A NestJS gateway answers a `@SubscribeMessage` handler's return value as an
//! acknowledgement; on its default adapter that is Socket.IO's `socket.emit('echo', data,
//! ack)`. Our gateway lab (chapter 6) does the same with `{"event", "data", "id"}` and an
//! `ack` carrying the `id`. This workload sends `echo` requests one after the other on one
//! connection (a closed loop, the same as the echo workload's one-connection rows) and times
//! each from the send to its acknowledgement, checking the text came back unchanged.
//!
//! The gateway's `echo` accepts at most 280 characters (a rule of the lab's demo), so the
//! payloads of this workload stay at or below that; the echo workload covers larger ones.

use std::net::SocketAddr;

use anyhow::{Context as _, bail, ensure};
use futures_util::{SinkExt as _, StreamExt as _};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::load::{CpuClock, Figures, Measurement, REQUEST_TIMEOUT};
use crate::socketio::SioClient;
use crate::stats;

/// The largest payload the gateway lab's `echo` takes (`lab_gateway::demo::MAX_ECHO_CHARS`).
pub const MAX_ACK_PAYLOAD: usize = 280;

/// Who answers the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Acking {
    /// The gateway lab: `{"event":"echo","data":{"text":...},"id":n}`, answered by an `ack`.
    Gateway,
    /// Socket.IO: `emit('echo', {text}, ack)`, answered by the ack callback.
    SocketIo,
}

impl Acking {
    /// Both, ours first.
    pub const ALL: [Acking; 2] = [Acking::Gateway, Acking::SocketIo];

    /// The row label.
    pub fn label(self) -> &'static str {
        match self {
            Acking::Gateway => "gateway lab",
            Acking::SocketIo => "Socket.IO (Node)",
        }
    }
}

/// One ack measurement.
#[derive(Debug, Clone, Serialize)]
pub struct AckResult {
    /// Who answered.
    pub server: Acking,
    /// Payload characters per request.
    pub size: usize,
    /// Latency, rate, bytes (not counted here: 0) and server CPU per request.
    pub figures: Figures,
    /// The first error, if any.
    pub first_error: Option<String>,
}

/// The text of `size` characters every request carries: printable ASCII, so a character
/// is a byte on both servers.
pub fn text(size: usize) -> String {
    (0..size)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect()
}

/// Sends `warmup` requests, then times `count` more, one at a time, to `server` at `addr`
/// (its process `pid`, for the CPU time).
pub async fn measure(
    server: Acking,
    addr: SocketAddr,
    pid: Option<u32>,
    size: usize,
    warmup: u64,
    count: u64,
) -> anyhow::Result<Measurement> {
    ensure!(
        size <= MAX_ACK_PAYLOAD,
        "the ack workload's payload is at most {MAX_ACK_PAYLOAD} characters (the gateway's echo limit), not {size}"
    );
    let text = text(size);
    let mut client = AckClient::connect(server, addr).await?;
    for seq in 0..warmup {
        client.echo(seq, &text).await?;
    }
    let mut measurement = Measurement::new();
    let cpu = CpuClock::start(pid);
    let started = Instant::now();
    for seq in warmup..warmup + count {
        let t0 = Instant::now();
        match tokio::time::timeout(REQUEST_TIMEOUT, client.echo(seq, &text)).await {
            Ok(Ok(())) => {
                stats::record(&mut measurement.histogram, t0.elapsed().as_nanos() as u64);
                measurement.ok += 1;
            }
            Ok(Err(err)) => measurement.fail(format!("{err:#}")),
            Err(_) => {
                measurement.fail(format!("no ack within {REQUEST_TIMEOUT:?}"));
                break;
            }
        }
    }
    measurement.elapsed = started.elapsed();
    cpu.stop(&mut measurement);
    Ok(measurement)
}

/// One client connection, of either kind.
enum AckClient {
    Gateway(lab_broadcast::tools::Ws),
    SocketIo(SioClient),
}

impl AckClient {
    async fn connect(server: Acking, addr: SocketAddr) -> anyhow::Result<Self> {
        Ok(match server {
            Acking::Gateway => {
                AckClient::Gateway(lab_broadcast::tools::connect(&format!("ws://{addr}/ws")).await?)
            }
            Acking::SocketIo => AckClient::SocketIo(SioClient::connect(addr).await?),
        })
    }

    /// One request and its acknowledgement, checked.
    async fn echo(&mut self, seq: u64, text: &str) -> anyhow::Result<()> {
        let data = match self {
            AckClient::Gateway(ws) => {
                let request = json!({ "event": "echo", "data": { "text": text }, "id": seq });
                ws.send(Message::text(request.to_string())).await?;
                loop {
                    let frame = ws
                        .next()
                        .await
                        .context("the gateway closed the connection")??;
                    let Message::Text(frame) = frame else {
                        continue;
                    };
                    let reply: Value = serde_json::from_str(frame.as_str())?;
                    if reply["id"] != json!(seq) {
                        continue;
                    }
                    if reply["event"] != "ack" {
                        bail!("the gateway answered {reply}");
                    }
                    break reply["data"].clone();
                }
            }
            AckClient::SocketIo(client) => {
                client
                    .emit_with_ack("echo", &json!({ "text": text }))
                    .await?
            }
        };
        ensure!(
            data["text"].as_str() == Some(text),
            "the acknowledgement did not carry the request's text back"
        );
        Ok(())
    }
}
