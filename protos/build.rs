//! Compiles `proto/**/*.proto` into Rust with tonic-prost-build.
//!
//! protoc comes from the `protoc-bin-vendored` crate, so building needs no system protoc.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [PathBuf::from("proto/bench/v1/bench.proto")];
    let includes = [PathBuf::from("proto")];

    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // `bytes` fields as `bytes::Bytes`: the harness reuses one payload buffer for every
    // request instead of copying it into a fresh `Vec<u8>` each time.
    config.bytes(["."]);

    tonic_prost_build::configure().compile_with_config(config, &protos, &includes)?;

    // The same echo rpcs with JSON bodies, as the service `bench.v1.BenchJson`: gRPC leaves
    // the message encoding to the codec (`src/json.rs`), and a .proto file can only name
    // protobuf, so this service is described here instead.
    let method = |name: &str, route: &str| {
        tonic_build::manual::Method::builder()
            .name(name)
            .route_name(route)
            .input_type("crate::bench::v1::EchoRequest")
            .output_type("crate::bench::v1::EchoReply")
            .codec_path("crate::json::JsonCodec")
    };
    let json_service = tonic_build::manual::Service::builder()
        .name("BenchJson")
        .package("bench.v1")
        .comment("The echo rpcs of `Bench`, with JSON messages (see `protos::json`).")
        .method(
            method("echo", "Echo")
                .comment("Unary: one request, one response.")
                .build(),
        )
        .method(
            method("echo_stream", "EchoStream")
                .comment("Bidirectional streaming: many requests and replies on one stream.")
                .client_streaming()
                .server_streaming()
                .build(),
        )
        .build();
    tonic_build::manual::Builder::new().compile(&[json_service]);
    for proto in &protos {
        println!("cargo:rerun-if-changed={}", proto.display());
    }
    Ok(())
}
