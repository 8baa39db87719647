//! Shared by the interop tests: each lab started in-process on 127.0.0.1:0 with its real
//! `Config` and `app`, as the labs' own tests start it, and the checks several clients share.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;

use std::time::Duration;

use interop::{binary_payload, sha256_hex, text_payload};
use kit::testing::{RawClient, TestServer};
use lab_handshake::{Lab, LabConfig, Limits, Settings};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The sizes of the echo cases: empty, the largest 7-bit length, 64 KiB (a 16-bit length
/// cannot hold it: the 64-bit length form) and 1 MiB.
pub const ECHO_SIZES: [usize; 4] = [0, 125, 64 * 1024, 1 << 20];

/// The message limit of the close-code cases: small, so that a message one byte over it
/// fits in the socket buffers and the client reads the server's close frame.
pub const SMALL_LIMIT: usize = 64 * 1024;

/// The handshake lab's own server (`cargo run -p lab-handshake`), no heartbeat; stops when
/// dropped.
pub struct Handshake {
    /// Where it listens.
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl Handshake {
    /// With its default limits (16 MiB).
    pub async fn start() -> Self {
        Self::with(|_| {}).await
    }

    /// With messages and frames limited to `limit` bytes.
    pub async fn with_limit(limit: usize) -> Self {
        Self::with(|config| {
            config.settings.limits = Limits {
                max_frame: limit,
                max_message: limit,
            }
        })
        .await
    }

    /// With settings adjusted by `adjust`.
    pub async fn with(adjust: impl FnOnce(&mut LabConfig)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = LabConfig::for_port(addr.port());
        config.settings = Settings {
            idle_after: None,
            ..Settings::default()
        };
        adjust(&mut config);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(lab_handshake::server::run(
            listener,
            Lab::new(config),
            async {
                let _ = stopped.await;
            },
        ));
        Self { addr, _stop: stop }
    }

    /// `ws://127.0.0.1:<port>/ws`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// The handshake lab as the course mounts it: our handshake code behind axum (`app.rs`).
pub async fn handshake_mounted() -> TestServer {
    TestServer::start(|addr| {
        let mut config = LabConfig::for_port(addr.port());
        config.settings.idle_after = None;
        lab_handshake::app::router(Lab::new(config))
    })
    .await
    .unwrap()
}

/// The gateway's demo with its defaults (64 KiB messages), no heartbeat.
pub async fn gateway() -> TestServer {
    TestServer::start(|addr| {
        let mut config = lab_gateway::Config::for_port(addr.port());
        config.idle_timeout = None;
        lab_gateway::app(config)
    })
    .await
    .unwrap()
}

/// The private lab with its defaults, no heartbeat.
pub async fn private() -> TestServer {
    TestServer::start(|addr| {
        let mut config = lab_private::Config::for_port(addr.port());
        config.gateway.idle_timeout = None;
        lab_private::lab(config).0
    })
    .await
    .unwrap()
}

/// The rooms lab with its defaults, no heartbeat.
pub async fn rooms() -> TestServer {
    TestServer::start(|addr| {
        let mut config = lab_rooms::RoomsConfig::for_port(addr.port());
        config.gateway.idle_timeout = None;
        let registry = lab_rooms::RoomRegistry::new(config.limits.clone());
        lab_rooms::app(config, registry)
    })
    .await
    .unwrap()
}

/// The lines of `case`, in order.
pub fn lines_of<'a>(lines: &'a [Value], case: &str) -> Vec<&'a Value> {
    lines.iter().filter(|line| line["case"] == case).collect()
}

/// The only line of `case`.
pub fn only<'a>(lines: &'a [Value], case: &str) -> &'a Value {
    let found = lines_of(lines, case);
    assert_eq!(found.len(), 1, "one {case:?} line expected in {lines:#?}");
    found[0]
}

/// The echo lines of a client: one per size and type, in the order sent, each with the
/// size and the digest of the payload the Rust side expects.
pub fn assert_echoes(lines: &[Value], sizes: &[usize]) {
    let echoes = lines_of(lines, "echo");
    assert_eq!(echoes.len(), 2 * sizes.len(), "{lines:#?}");
    for (pair, &size) in echoes.chunks(2).zip(sizes) {
        let (text, binary) = (pair[0], pair[1]);
        assert_eq!(text["type"], "text", "{text}");
        assert_eq!(text["size"], size, "{text}");
        assert_eq!(
            text["sha256"],
            sha256_hex(text_payload(size).as_bytes()),
            "{text}"
        );
        assert_eq!(binary["type"], "binary", "{binary}");
        assert_eq!(binary["size"], size, "{binary}");
        assert_eq!(
            binary["sha256"],
            sha256_hex(&binary_payload(size)),
            "{binary}"
        );
    }
}

/// A close frame as the scripts print it.
pub fn close(code: u16, reason: &str) -> Value {
    serde_json::json!({ "code": code, "reason": reason })
}

/// An inspector on `server`'s event feed (`/inspector`), once it is surely subscribed: a
/// probe connection is opened until the inspector reports one of its events.
pub async fn inspector(server: &Handshake) -> RawClient {
    let mut inspector = RawClient::connect(server.addr, "/inspector", &[])
        .await
        .unwrap();
    loop {
        let _probe = RawClient::connect(server.addr, "/ws?tag=probe", &[])
            .await
            .unwrap();
        let event = tokio::time::timeout(Duration::from_millis(500), inspector.frame()).await;
        if let Ok(event) = event {
            event.unwrap().expect("the inspector is open");
            return inspector;
        }
    }
}

/// The data frames the lab received on the connection tagged `tag`, as (opcode, first
/// header byte, payload length), from the inspector's feed, until that connection's close
/// frame. Pings and pongs are left out.
pub async fn data_frames(inspector: &mut RawClient, tag: &str) -> Vec<(String, u8, u64)> {
    let mut frames = Vec::new();
    loop {
        let (_, payload) = inspector.frame().await.unwrap().expect("the feed is open");
        let event: Value = serde_json::from_slice(&payload).unwrap();
        assert_ne!(event["kind"], "lagged", "the inspector fell behind");
        if event["tag"] != tag || event["kind"] != "frame" || event["direction"] != "In" {
            continue;
        }
        let opcode = event["opcode"].as_str().unwrap().to_owned();
        match opcode.as_str() {
            "Close" => return frames,
            "Ping" | "Pong" => {}
            _ => {
                let first = u8::from_str_radix(&event["header_hex"].as_str().unwrap()[..2], 16);
                let len = event["payload_len"].as_u64().unwrap();
                frames.push((opcode, first.unwrap(), len));
            }
        }
    }
}

/// The data frames the lab received on the connection tagged `tag`, as (opcode, FIN,
/// payload length), until that connection's close frame.
pub async fn frames_received(inspector: &mut RawClient, tag: &str) -> Vec<(String, bool, u64)> {
    data_frames(inspector, tag)
        .await
        .into_iter()
        .map(|(opcode, first, len)| (opcode, first & 0x80 != 0, len))
        .collect()
}

/// The frames of one message sent in parts of `lens` bytes, the first with `opcode`, FIN on
/// the last one only.
pub fn parts(opcode: &str, lens: &[u64]) -> Vec<(String, bool, u64)> {
    lens.iter()
        .enumerate()
        .map(|(i, &len)| {
            let opcode = if i == 0 { opcode } else { "Continuation" };
            (opcode.to_owned(), i == lens.len() - 1, len)
        })
        .collect()
}
