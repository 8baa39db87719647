//! The workloads besides echo: connection setup, memory per idle connection, server push.
//!
//! - **Connection setup**: a new connection and its first echo, timed together: TCP alone,
//!   TCP + WebSocket upgrade, TCP + HTTP/1.1 request, TCP + HTTP/2 preface and SETTINGS,
//!   TCP + HTTP/2 + gRPC. What a client pays when it cannot keep a connection open.
//! - **Idle memory**: the server's resident memory before and after opening `n`
//!   connections that each did one echo and then sit idle. What it costs a server to hold
//!   many quiet clients (the WebSocket use case). Measured on a fresh server per transport,
//!   so one transport's freed memory is not reused by the next.
//! - **Server push**: the server sends a stream of updates as fast as the client takes
//!   them; WebSocket frames vs gRPC server streaming vs HTTP polling (one request per
//!   update). Latency is from the update's creation on the server to its arrival.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http_body_util::{BodyExt as _, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use prost::Message as _;
use protos::bench::v1::bench_client::BenchClient;
use protos::bench::v1::{EchoRequest, SubscribeRequest, Update};
use serde::Serialize;
use std::sync::Arc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{ClientError, Connection, grpc_channel};
use crate::counting::{ByteCounters, CountingStream};
use crate::load::{CpuClock, Measurement, REQUEST_TIMEOUT, Target};
use crate::procstat;
use crate::server::http::{push_payload, unix_nanos};
use crate::stats;
use crate::transport::{Encoding, Transport};
use crate::wire::{self, MAX_FRAME};

/// Opens `count` connections one after the other, each doing one echo of `size` bytes,
/// and times connect + handshake + first reply.
pub async fn measure_setup(
    transport: Transport,
    encoding: Encoding,
    target: &Target,
    count: usize,
    size: usize,
) -> Measurement {
    let payload = wire::payload(size);
    let mut timings = Measurement::new();
    let cpu = CpuClock::start(target.pid_for(transport));
    let started = Instant::now();
    for seq in 0..count as u64 {
        let request = EchoRequest {
            seq,
            payload: payload.clone(),
        };
        let t0 = Instant::now();
        let outcome = tokio::time::timeout(REQUEST_TIMEOUT, async {
            let mut connection =
                Connection::open(transport, encoding, &target.addrs, target.nodelay).await?;
            let reply = connection.echo(&request).await?;
            Ok::<_, ClientError>((reply, connection))
        })
        .await;
        let elapsed = t0.elapsed();
        match outcome {
            Ok(Ok((reply, connection))) => match wire::check_reply(&request, &reply) {
                Ok(()) => {
                    stats::record(&mut timings.histogram, elapsed.as_nanos() as u64);
                    timings.ok += 1;
                    let (w, r) = connection.counters.snapshot();
                    timings.bytes_written += w;
                    timings.bytes_read += r;
                }
                Err(wrong) => timings.fail(wrong.to_string()),
            },
            Ok(Err(err)) => timings.fail(err.to_string()),
            Err(_) => timings.fail(format!("no reply within {REQUEST_TIMEOUT:?}")),
        }
    }
    timings.elapsed = started.elapsed();
    cpu.stop(&mut timings);
    timings
}

/// Server memory held by idle connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct MemoryFigures {
    /// Connections opened (each did one echo, then stayed idle).
    pub connections: usize,
    /// Of those, how many opened and echoed correctly.
    pub ok: usize,
    /// Server resident memory before, bytes.
    pub rss_before: u64,
    /// Server resident memory with every connection open, bytes.
    pub rss_after: u64,
    /// `(after - before) / ok`, bytes per idle connection.
    pub bytes_per_connection: f64,
}

/// Opens `count` connections of `transport`, does one small echo on each, and reads the
/// server's resident memory before and after. Needs the server's pid (a child process).
pub async fn measure_idle_memory(
    transport: Transport,
    target: &Target,
    count: usize,
) -> Result<MemoryFigures, ClientError> {
    let pid = target.pid_for(transport).ok_or(ClientError::NoServerPid)?;
    let rss = || {
        procstat::rss_bytes(pid)
            .ok_or_else(|| ClientError::Io(std::io::Error::other("cannot read the server's VmRSS")))
    };
    let rss_before = rss()?;
    let payload = wire::payload(16);
    let mut open = Vec::with_capacity(count);
    for seq in 0..count as u64 {
        let request = EchoRequest {
            seq,
            payload: payload.clone(),
        };
        let outcome = tokio::time::timeout(REQUEST_TIMEOUT, async {
            let mut connection =
                Connection::open(transport, Encoding::Proto, &target.addrs, target.nodelay).await?;
            let reply = connection.echo(&request).await?;
            Ok::<_, ClientError>((reply, connection))
        })
        .await;
        if let Ok(Ok((reply, connection))) = outcome
            && wire::check_reply(&request, &reply).is_ok()
        {
            open.push(connection);
        }
    }
    let rss_after = rss()?;
    let ok = open.len();
    drop(open);
    Ok(MemoryFigures {
        connections: count,
        ok,
        rss_before,
        rss_after,
        bytes_per_connection: rss_after.saturating_sub(rss_before) as f64 / ok.max(1) as f64,
    })
}

/// How the server pushes updates to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum PushKind {
    /// Binary WebSocket frames on one connection (`GET /push`).
    Ws,
    /// One gRPC server-streaming call (`Subscribe`).
    GrpcServerStream,
    /// HTTP/1.1 polling: one `GET /poll` per update on a keep-alive connection.
    HttpPoll,
}

impl PushKind {
    /// Every push transport.
    pub const ALL: [PushKind; 3] = [PushKind::Ws, PushKind::GrpcServerStream, PushKind::HttpPoll];

    /// A label for tables and files.
    pub fn label(self) -> &'static str {
        match self {
            PushKind::Ws => "WebSocket frames",
            PushKind::GrpcServerStream => "gRPC server stream",
            PushKind::HttpPoll => "HTTP/1.1 polling",
        }
    }
}

/// Checks one pushed update: in order, with the expected payload.
fn check_update(update: &Update, expected_seq: u64, payload: &Bytes) -> Result<(), String> {
    if update.seq != expected_seq {
        return Err(format!(
            "update seq {} where {expected_seq} was expected",
            update.seq
        ));
    }
    if update.payload != *payload {
        return Err(format!(
            "update payload of {} bytes differs from the expected {} bytes",
            update.payload.len(),
            payload.len()
        ));
    }
    Ok(())
}

/// Receives `count` pushed updates of `size` bytes by `kind`, timing each from its creation
/// on the server to its arrival here.
pub async fn measure_push(kind: PushKind, target: &Target, count: u64, size: u32) -> Measurement {
    let mut timings = Measurement::new();
    let counters = Arc::new(ByteCounters::default());
    let cpu = CpuClock::start(target.server_pid);
    let started = Instant::now();
    let outcome = tokio::time::timeout(
        REQUEST_TIMEOUT + Duration::from_millis(count),
        push_inner(kind, target, count, size, &counters, &mut timings),
    )
    .await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(err)) => timings.fail(err.to_string()),
        Err(_) => timings.fail("the push stream did not finish in time".into()),
    }
    timings.elapsed = started.elapsed();
    let (w, r) = counters.snapshot();
    timings.bytes_written = w;
    timings.bytes_read = r;
    cpu.stop(&mut timings);
    timings
}

async fn push_inner(
    kind: PushKind,
    target: &Target,
    count: u64,
    size: u32,
    counters: &Arc<ByteCounters>,
    timings: &mut Measurement,
) -> Result<(), ClientError> {
    let payload = push_payload(size as usize);
    let on_update = |update: Update, expected: u64, timings: &mut Measurement| {
        let latency = unix_nanos().saturating_sub(update.sent_at_unix_nanos);
        match check_update(&update, expected, &payload) {
            Ok(()) => {
                stats::record(&mut timings.histogram, latency);
                timings.ok += 1;
            }
            Err(err) => timings.fail(err),
        }
    };
    let subscribe = SubscribeRequest {
        count,
        payload_size: size,
    };
    let socket = || async {
        let stream = tokio::net::TcpStream::connect(match kind {
            PushKind::GrpcServerStream => target.addrs.grpc,
            _ => target.addrs.http,
        })
        .await?;
        stream.set_nodelay(target.nodelay)?;
        Ok::<_, ClientError>(CountingStream::new(stream, counters.clone()))
    };
    match kind {
        PushKind::Ws => {
            let url = format!("ws://{}/push", target.addrs.http);
            let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                .max_message_size(Some(MAX_FRAME));
            let (mut ws, _) =
                tokio_tungstenite::client_async_with_config(url, socket().await?, Some(config))
                    .await?;
            ws.send(Message::Binary(subscribe.encode_to_vec().into()))
                .await?;
            let mut expected = 0;
            while expected < count {
                match ws.next().await {
                    Some(Ok(Message::Binary(bytes))) => {
                        let update = Update::decode(bytes)
                            .map_err(|e| wire::WireError::Decode(e.to_string()))?;
                        on_update(update, expected, timings);
                        expected += 1;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(err)) => return Err(err.into()),
                    None => return Err(ClientError::Closed),
                }
            }
            ws.close(None).await.ok();
        }
        PushKind::GrpcServerStream => {
            let channel = grpc_channel(target.addrs.grpc, target.nodelay, counters).await?;
            let mut client = BenchClient::new(channel).max_decoding_message_size(MAX_FRAME);
            let mut stream = client.subscribe(subscribe).await?.into_inner();
            let mut expected = 0;
            while let Some(update) = stream.message().await? {
                on_update(update, expected, timings);
                expected += 1;
            }
            if expected != count {
                return Err(ClientError::Closed);
            }
        }
        PushKind::HttpPoll => {
            let (mut sender, connection) = http1::handshake(TokioIo::new(socket().await?)).await?;
            tokio::spawn(async move {
                if let Err(err) = connection.await {
                    tracing::debug!(%err, "polling connection ended");
                }
            });
            for seq in 0..count {
                let uri = format!("http://{}/poll?size={size}&seq={seq}", target.addrs.http);
                let request = hyper::Request::get(uri).body(Empty::<Bytes>::new())?;
                sender.ready().await?;
                let response = sender.send_request(request).await?;
                if !response.status().is_success() {
                    return Err(ClientError::HttpStatus(response.status()));
                }
                let body = response.into_body().collect().await?.to_bytes();
                let update =
                    Update::decode(body).map_err(|e| wire::WireError::Decode(e.to_string()))?;
                on_update(update, seq, timings);
            }
        }
    }
    Ok(())
}
