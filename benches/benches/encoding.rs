//! Micro-benchmark: protobuf vs JSON encode and decode of the echo message, per payload size.
//!
//! `cargo bench -p bench --bench encoding`. The harness's encoding axis shows what this costs
//! inside a round trip; this shows it alone.

use std::hint::black_box;

use bench::transport::Encoding;
use bench::wire;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use protos::bench::v1::EchoRequest;

fn encode_decode(c: &mut Criterion) {
    for size in [16usize, 256, 4096, 64 * 1024] {
        let request = EchoRequest {
            seq: 42,
            payload: wire::payload(size),
        };
        let mut group = c.benchmark_group(format!("echo message {size} B"));
        group.throughput(Throughput::Bytes(size as u64));
        for encoding in Encoding::ALL {
            let bytes = wire::encode_request(encoding, &request);
            group.bench_function(BenchmarkId::new("encode", encoding), |b| {
                b.iter(|| wire::encode_request(encoding, black_box(&request)))
            });
            group.bench_function(BenchmarkId::new("decode", encoding), |b| {
                b.iter(|| wire::decode_request(encoding, black_box(&bytes)))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, encode_decode);
criterion_main!(benches);
