//! Every transport answers every echo size correctly, in both encodings, and a wrong reply
//! is counted as an error, never as a success.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bench::config::{EchoSpec, LoadMode};
use bench::load::{self, Target};
use bench::server::{self, ServerOptions};
use bench::transport::{Encoding, Transport};
use bench::wire::{self, FrameReader};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// A deadline for one short measurement; generous for a shared debug-build machine.
const MEASURE_TIMEOUT: Duration = Duration::from_secs(60);

const SIZES: [usize; 5] = [16, 256, 4096, 64 * 1024, 1024 * 1024];

fn spec(transport: Transport, encoding: Encoding, size: usize) -> EchoSpec {
    EchoSpec {
        transport,
        encoding,
        size,
        mode: LoadMode::Closed { concurrency: 1 },
        warmup: Duration::ZERO,
        duration: Duration::from_millis(20),
    }
}

/// Every transport echoes every payload size (16 B to 1 MiB) in both encodings with no
/// error, each reply checked byte for byte (gRPC with JSON through the `BenchJson` service).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transport_echoes_every_size() {
    let server = server::start(ServerOptions::default()).await.unwrap();
    let target = Target {
        addrs: server.addrs,
        nodelay: true,
        server_pid: None,
        node_pid: None,
    };
    for encoding in Encoding::ALL {
        // Node's ws is not part of the harness's server: tests/peers.rs checks its replies.
        for transport in Transport::ALL
            .into_iter()
            .filter(|&t| t != Transport::NodeWs)
        {
            for size in SIZES {
                let spec = spec(transport, encoding, size);
                let result =
                    tokio::time::timeout(MEASURE_TIMEOUT, load::measure_echo(&spec, &target))
                        .await
                        .unwrap_or_else(|_| panic!("{transport} {encoding} {size} B timed out"));
                let m = result.unwrap_or_else(|e| panic!("{transport} {encoding} {size} B: {e}"));
                assert_eq!(
                    m.errors, 0,
                    "{transport} {encoding} {size} B: {:?}",
                    m.first_error
                );
                assert!(
                    m.ok >= 1,
                    "{transport} {encoding} {size} B: no reply measured"
                );
                let f = m.figures();
                // Every request and reply carried at least its payload on the socket: in JSON,
                // its base64 form, 4/3 as long (so a transport that quietly fell back to
                // protobuf would fail here).
                let least = match encoding {
                    Encoding::Proto => size as f64,
                    Encoding::Json => (size * 4 / 3) as f64,
                };
                assert!(
                    f.bytes_out_per_msg >= least,
                    "{transport} {encoding} {size} B out: {}",
                    f.bytes_out_per_msg
                );
                assert!(
                    f.bytes_in_per_msg >= least,
                    "{transport} {encoding} {size} B in: {}",
                    f.bytes_in_per_msg
                );
            }
        }
    }
}

/// A server that answers every frame with the payload one byte short: the harness counts
/// each reply as an error and measures no success.
#[tokio::test]
async fn short_replies_are_errors() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tcp = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let encoding = wire::encoding_from_hello(stream.read_u8().await?).unwrap();
                let mut reader = FrameReader::default();
                while let Ok(frame) = reader.read(&mut stream).await {
                    let mut request = wire::decode_request(encoding, &frame).unwrap();
                    request.payload.truncate(request.payload.len() - 1);
                    let reply = wire::encode_request(encoding, &request);
                    wire::write_frame(&mut stream, reply).await?;
                }
                Ok::<_, std::io::Error>(())
            });
        }
    });
    // Only the raw-TCP address is used; the others point at the same listener.
    let target = Target {
        addrs: server::ServerAddrs {
            tcp,
            http: tcp,
            grpc: tcp,
            node_ws: None,
        },
        nodelay: true,
        server_pid: None,
        node_pid: None,
    };
    let m = tokio::time::timeout(
        MEASURE_TIMEOUT,
        load::measure_echo(&spec(Transport::Tcp, Encoding::Proto, 256), &target),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(m.ok, 0, "a short reply must never count as a success");
    assert!(m.errors >= 1);
    let first = m.first_error.unwrap();
    assert!(first.contains("255 bytes, expected 256"), "{first}");
}
