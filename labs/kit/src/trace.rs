//! Logging setup shared by every binary of the course.

use tracing_subscriber::EnvFilter;

/// Sends `tracing` events to stderr, filtered by `RUST_LOG` (for example
/// `RUST_LOG=debug cargo run -p course`), or at `info` when `RUST_LOG` is unset.
///
/// Calling it twice is harmless: the second call finds a subscriber already installed and
/// leaves it in place, which is what tests that start several servers need.
pub fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // `try_init` fails only when a global subscriber exists already; keeping it is right.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
