//! Bytes on the wire, counted at the socket.
//!
//! [`CountingStream`] wraps a client's `TcpStream` and adds every byte that goes through
//! `read` and `write` to two counters. Whatever a protocol adds (WebSocket frame headers and
//! masks, HTTP headers, HTTP/2 and gRPC framing, WINDOW_UPDATE and PING frames) is in the
//! count, because it is counted below the protocol, where the kernel sees it. TCP/IP headers
//! themselves are not: they are the same for every transport per segment.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The two counters of one connection, shared between the stream and whoever reads them.
#[derive(Debug, Default)]
pub struct ByteCounters {
    /// Bytes the client wrote (requests, client → server).
    pub written: AtomicU64,
    /// Bytes the client read (replies, server → client).
    pub read: AtomicU64,
}

impl ByteCounters {
    /// The current totals, `(written, read)`.
    pub fn snapshot(&self) -> (u64, u64) {
        (
            self.written.load(Ordering::Relaxed),
            self.read.load(Ordering::Relaxed),
        )
    }
}

/// A `TcpStream` that counts its bytes into [`ByteCounters`].
#[derive(Debug)]
pub struct CountingStream {
    /// The socket.
    inner: TcpStream,
    /// Where the counts go.
    counters: Arc<ByteCounters>,
}

impl CountingStream {
    /// Wraps `inner`, counting into `counters`.
    pub fn new(inner: TcpStream, counters: Arc<ByteCounters>) -> Self {
        Self { inner, counters }
    }
}

impl AsyncRead for CountingStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &poll {
            let n = (buf.filled().len() - before) as u64;
            self.counters.read.fetch_add(n, Ordering::Relaxed);
        }
        poll
    }
}

impl AsyncWrite for CountingStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &poll {
            self.counters
                .written
                .fetch_add(*n as u64, Ordering::Relaxed);
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = &poll {
            self.counters
                .written
                .fetch_add(*n as u64, Ordering::Relaxed);
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
