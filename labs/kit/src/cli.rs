//! The command-line flags every lab's server shares: where to listen, and which extra
//! browser origins may connect.
//!
//! A lab's `main.rs` flattens [`ServeArgs`] into its own clap arguments, so every lab
//! answers `--addr` and `--allow-origin` the same way:
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! # use clap::Parser;
//! #[derive(clap::Parser)]
//! struct Args {
//!     #[command(flatten)]
//!     serve: kit::cli::ServeArgs,
//! }
//! let args = Args::parse();
//! let (listener, addr) = args.serve.bind(kit::ports::GATEWAY).await?;
//! let allowlist = args.serve.allowlist(kit::OriginAllowlist::for_lab(addr.port()))?;
//! # Ok(()) }
//! ```

use std::net::{Ipv4Addr, SocketAddr};

use tokio::net::TcpListener;

use crate::OriginAllowlist;

/// `--addr` and `--allow-origin`.
#[derive(Clone, Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1 and the lab's own port]. 127.0.0.1 keeps
    /// the lab on your machine; port 0 picks a free one.
    #[arg(long, value_name = "IP:PORT")]
    pub addr: Option<SocketAddr>,

    /// Another browser origin allowed to connect (repeatable), e.g. http://192.168.1.5:3002.
    #[arg(long, value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,
}

impl ServeArgs {
    /// Binds `--addr`, or 127.0.0.1 on `default_port`; returns the listener and the address
    /// it really got (the port, when 0 was asked).
    pub async fn bind(&self, default_port: u16) -> anyhow::Result<(TcpListener, SocketAddr)> {
        let addr = self
            .addr
            .unwrap_or(SocketAddr::from((Ipv4Addr::LOCALHOST, default_port)));
        let listener = crate::bind(addr).await?;
        let addr = listener.local_addr()?;
        Ok((listener, addr))
    }

    /// `allowlist` with every `--allow-origin` added; a malformed origin is an error that
    /// says what an origin looks like.
    pub fn allowlist(&self, mut allowlist: OriginAllowlist) -> anyhow::Result<OriginAllowlist> {
        for origin in &self.allow_origin {
            allowlist = allowlist.allow(origin)?;
        }
        Ok(allowlist)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Args {
        #[command(flatten)]
        serve: ServeArgs,
    }

    /// The flags parse as documented, and a bad origin is refused with advice.
    #[test]
    fn flags() {
        let args = Args::parse_from([
            "lab",
            "--addr",
            "127.0.0.1:0",
            "--allow-origin",
            "http://a.example:8080",
        ]);
        assert_eq!(args.serve.addr, Some("127.0.0.1:0".parse().unwrap()));
        let list = args.serve.allowlist(OriginAllowlist::empty()).unwrap();
        assert_eq!(
            list.origins().collect::<Vec<_>>(),
            ["http://a.example:8080"]
        );

        let bad = Args::parse_from(["lab", "--allow-origin", "a.example"]);
        let err = bad
            .serve
            .allowlist(OriginAllowlist::empty())
            .unwrap_err()
            .to_string();
        assert!(err.contains("scheme://host[:port]"), "{err}");
        assert_eq!(Args::parse_from(["lab"]).serve.addr, None);
    }

    /// Without --addr, the lab's own port on 127.0.0.1; with port 0, the port really bound.
    #[tokio::test]
    async fn bind() {
        let args = Args::parse_from(["lab", "--addr", "127.0.0.1:0"]);
        let (_listener, addr) = args.serve.bind(3999).await.unwrap();
        assert!(addr.ip().is_loopback());
        assert_ne!(addr.port(), 0);
    }
}
