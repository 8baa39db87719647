//! Frame encode and decode, ours beside tungstenite's, at 16 B, 1 KiB and 64 KiB.
//!
//! ```text
//! cargo bench -p lab-handshake --bench codec
//! ```
//!
//! The goal (chapter 4): a teaching codec, but not a naive one — within 1.5× of
//! tungstenite's throughput. Both sides do the same work on the same bytes:
//!
//! - decode: a server reading a buffer of masked client frames (parse the header, check it,
//!   unmask the payload, hand it over). tungstenite does it through its `WebSocket` over an
//!   in-memory stream, which is the only public way to get unmasked frames from it.
//! - encode: a server writing unmasked frames into a buffer.

// Benchmarks report failures by panicking, like tests.
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::io::{Cursor, Read, Write};

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lab_handshake::codec::{FrameCodec, Limits, Role};
use lab_handshake::frame::{Frame, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame as TFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode as TOpCode};
use tokio_tungstenite::tungstenite::protocol::{Role as TRole, WebSocket, WebSocketConfig};

const SIZES: [usize; 3] = [16, 1024, 64 * 1024];

/// How many frames one iteration handles: about 1 MiB of payload, at most 1000 frames, so
/// per-iteration setup is amortised.
fn frames_for(size: usize) -> usize {
    ((1 << 20) / size).clamp(1, 1000)
}

/// `count` masked client frames of `size` bytes, as our client codec writes them.
fn client_frames(size: usize, count: usize) -> Vec<u8> {
    let client = FrameCodec::new(Role::Client, Limits::default());
    let mut buf = BytesMut::new();
    for _ in 0..count {
        client.encode(Frame::new(OpCode::Binary, vec![0x5a; size]), &mut buf);
    }
    buf.to_vec()
}

/// A byte stream for tungstenite: reads come from a buffer, writes are discarded.
struct Memory(Cursor<Vec<u8>>);

impl Read for Memory {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Memory {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode masked frames");
    for size in SIZES {
        let count = frames_for(size);
        let wire = client_frames(size, count);
        group.throughput(Throughput::Bytes((size * count) as u64));

        let ours = FrameCodec::new(Role::Server, Limits::default());
        group.bench_with_input(BenchmarkId::new("ours", size), &wire, |b, wire| {
            b.iter_batched(
                || BytesMut::from(&wire[..]),
                |mut buf| {
                    let mut n = 0;
                    while let Some(frame) = ours.decode(&mut buf, None).unwrap() {
                        black_box(&frame.payload);
                        n += 1;
                    }
                    assert_eq!(n, count);
                },
                BatchSize::SmallInput,
            )
        });

        group.bench_with_input(BenchmarkId::new("tungstenite", size), &wire, |b, wire| {
            b.iter_batched(
                || {
                    WebSocket::from_raw_socket(
                        Memory(Cursor::new(wire.clone())),
                        TRole::Server,
                        Some(WebSocketConfig::default()),
                    )
                },
                |mut ws| {
                    for _ in 0..count {
                        black_box(ws.read().unwrap());
                    }
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode server frames");
    for size in SIZES {
        let count = frames_for(size);
        let payload = Bytes::from(vec![0x5a; size]);
        group.throughput(Throughput::Bytes((size * count) as u64));

        let ours = FrameCodec::new(Role::Server, Limits::default());
        group.bench_with_input(BenchmarkId::new("ours", size), &payload, |b, payload| {
            let mut out = BytesMut::with_capacity((size + 14) * count);
            b.iter(|| {
                out.clear();
                for _ in 0..count {
                    ours.encode(Frame::new(OpCode::Binary, payload.clone()), &mut out);
                }
                black_box(out.len())
            })
        });

        group.bench_with_input(
            BenchmarkId::new("tungstenite", size),
            &payload,
            |b, payload| {
                let mut out = Vec::with_capacity((size + 14) * count);
                b.iter(|| {
                    out.clear();
                    for _ in 0..count {
                        let frame =
                            TFrame::message(payload.clone(), TOpCode::Data(Data::Binary), true);
                        frame.format(&mut out).unwrap();
                    }
                    black_box(out.len())
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
