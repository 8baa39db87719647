//! Micro-benchmark: one echo round trip per transport, 64 B, on one warm connection.
//!
//! `cargo bench -p bench --bench round_trip`. The server runs in this process on a second
//! runtime thread; load, concurrency and percentiles belong to the harness (`bench run`),
//! this only gives criterion's mean with its confidence interval.

use std::time::Duration;

use bench::client::Connection;
use bench::server::{self, ServerOptions};
use bench::transport::{Encoding, Transport};
use bench::wire;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use protos::bench::v1::EchoRequest;

fn round_trip(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let server = runtime
        .block_on(server::start(ServerOptions::default()))
        .expect("the bench server starts");
    let request = EchoRequest {
        seq: 0,
        payload: wire::payload(64),
    };
    let mut group = c.benchmark_group("round trip 64 B");
    group.measurement_time(Duration::from_secs(3));
    for transport in Transport::ALL {
        let mut connection = runtime
            .block_on(Connection::open(
                transport,
                Encoding::Proto,
                &server.addrs,
                true,
            ))
            .expect("connects");
        group.bench_function(BenchmarkId::from_parameter(transport), |b| {
            b.iter(|| {
                runtime
                    .block_on(connection.echo(&request))
                    .expect("echo succeeds")
            })
        });
    }
    group.finish();
    drop(server);
}

criterion_group!(benches, round_trip);
criterion_main!(benches);
