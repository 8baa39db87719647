//! Frame encode and decode, ours beside tungstenite's, at 16 B, 1 KiB and 64 KiB.
//!
//! ```text
//! cargo bench -p lab-handshake --bench codec
//! ```
//!
//! The goal (chapter 4): a teaching codec, but not a naive one — within 1.5× of
//! tungstenite's throughput. Both sides do the same work: a server decoding a masked client
//! frame (unmasking it), and a server encoding an unmasked frame.

use bytes::BytesMut;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lab_handshake::codec::{FrameCodec, Limits, Role};
use lab_handshake::frame::{Frame, OpCode};
use std::hint::black_box;
use tokio_tungstenite::tungstenite::protocol::frame::{
    Frame as TFrame, FrameHeader as TFrameHeader,
};

const SIZES: [usize; 3] = [16, 1024, 64 * 1024];

/// A masked client frame of `size` bytes, as our client codec writes it.
fn client_frame(size: usize) -> Vec<u8> {
    let mut buf = BytesMut::new();
    FrameCodec::new(Role::Client, Limits::default())
        .encode(Frame::new(OpCode::Binary, vec![0x5a; size]), &mut buf);
    buf.to_vec()
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode masked frame");
    for size in SIZES {
        let wire = client_frame(size);
        group.throughput(Throughput::Bytes(size as u64));
        let ours = FrameCodec::new(Role::Server, Limits::default());
        group.bench_with_input(BenchmarkId::new("ours", size), &wire, |b, wire| {
            b.iter(|| {
                let mut buf = BytesMut::from(&wire[..]);
                black_box(ours.decode(&mut buf, None).expect("valid").expect("whole"))
            })
        });
        group.bench_with_input(BenchmarkId::new("tungstenite", size), &wire, |b, wire| {
            b.iter(|| {
                let mut cursor = std::io::Cursor::new(&wire[..]);
                let (header, len) = TFrameHeader::parse(&mut cursor)
                    .expect("valid")
                    .expect("whole");
                let start = cursor.position() as usize;
                let mut payload = wire[start..start + len as usize].to_vec();
                let mut frame =
                    TFrame::from_payload(header, payload.drain(..).collect::<Vec<u8>>().into());
                frame.apply_mask();
                black_box(frame)
            })
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode server frame");
    for size in SIZES {
        let payload = bytes::Bytes::from(vec![0x5a; size]);
        group.throughput(Throughput::Bytes(size as u64));
        let ours = FrameCodec::new(Role::Server, Limits::default());
        group.bench_with_input(BenchmarkId::new("ours", size), &payload, |b, payload| {
            let mut out = BytesMut::with_capacity(size + 16);
            b.iter(|| {
                out.clear();
                ours.encode(Frame::new(OpCode::Binary, payload.clone()), &mut out);
                black_box(out.len())
            })
        });
        group.bench_with_input(
            BenchmarkId::new("tungstenite", size),
            &payload,
            |b, payload| {
                let mut out = Vec::with_capacity(size + 16);
                b.iter(|| {
                    out.clear();
                    let frame = TFrame::message(
                        payload.clone(),
                        tokio_tungstenite::tungstenite::protocol::frame::coding::OpCode::Data(
                            tokio_tungstenite::tungstenite::protocol::frame::coding::Data::Binary,
                        ),
                        true,
                    );
                    frame.format(&mut out).expect("in memory");
                    black_box(out.len())
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
