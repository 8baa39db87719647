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
    for proto in &protos {
        println!("cargo:rerun-if-changed={}", proto.display());
    }
    Ok(())
}
