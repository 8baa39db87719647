//! The benchmark harness, the one home of the course's measurements: what do WebSocket, REST
//! and gRPC cost on the same machine and the same workload, and what do the labs cost beside
//! Node's `ws` and Socket.IO? Chapter 11 of the book presents its results; chapters 2, 7, 9
//! and 10 quote them.
//!
//! Run it with `cargo run --release -p bench -- run --preset quick` (about a minute) and read
//! `--help` for the rest. The pieces, in the order a request meets them:
//!
//! - [`config`]: what a run measures, and the checks that refuse a bad configuration.
//! - [`transport`]: the two axes, transport and encoding.
//! - [`wire`]: the echo message in protobuf or JSON, the payload, the reply check, raw frames.
//! - [`server`]: one server per transport, run in a child process (`bench serve`).
//! - [`client`]: one client per transport, each on a socket whose bytes are counted
//!   ([`counting`]).
//! - [`load`]: the closed and open load loops, recording into HdrHistogram ([`stats`]).
//! - [`workloads`]: connection setup, idle memory, server push.
//! - [`run`]: a whole run: repetitions, ratios to raw TCP; [`report`] and [`charts`] write
//!   it out; [`machine`] describes the machine it ran on; [`child`] starts the server.
//! - [`delivery`] and [`ack`]: the many-client workloads (`--workload rooms|fanout|ack`) on
//!   the course's own labs, run as `bench serve-lab` children ([`labs`]), beside the fan-out
//!   floor ([`floor`]) and Socket.IO; [`peers`] starts Node's `ws` and Socket.IO from
//!   `benches/peers/`, and [`socketio`] is the Engine.IO client that drives Socket.IO with the
//!   same client code as ours.
//! - [`soak`]: the bookkeeping of `soak` (`src/bin/soak.rs`), which runs the rooms and
//!   broadcast labs under a thousand clients for minutes: exactly-once delivery, memory over
//!   time, open descriptors, latency per minute.
//!
//! The rules that make the numbers honest (DESIGN.md, "The benchmark harness"): transports
//! side by side in one run with raw TCP as the floor; the same payload bytes everywhere;
//! `TCP_NODELAY` on every socket; server and client in separate processes on separate
//! cores; warm-up discarded; repetitions with their spread; HdrHistogram; open loop without
//! coordinated omission; payloads verified.

pub mod ack;
pub mod charts;
pub mod child;
pub mod client;
pub mod config;
pub mod counting;
pub mod delivery;
pub mod floor;
pub mod labs;
pub mod load;
pub mod machine;
pub mod peers;
pub mod procstat;
pub mod program;
pub mod report;
pub mod run;
pub mod server;
pub mod soak;
pub mod socketio;
pub mod stats;
pub mod transport;
pub mod wire;
pub mod workloads;
