//! What the fuzz targets share: how one fuzz input becomes a byte stream cut into chunks,
//! and an in-memory socket that hands those chunks to the lab's async code.
//!
//! A network peer decides where TCP cuts its bytes: a frame header can arrive one byte at a
//! time, or ten frames in one read. Code that parses a stream must give the same answer
//! however it is cut, so most targets run the same bytes twice, whole and cut, and compare.
//! The cuts come from the fuzz input itself, so libFuzzer explores them like any other byte.
//!
//! Built and run by `cargo fuzz` only (see `fuzz/README.md`); the targets are in
//! `fuzz_targets/`.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use lab_handshake::{Limits, Role};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Splits an input laid out as `[k][k chunk sizes][stream]` into the sizes and the stream.
///
/// Seeds stay easy to write by hand: a leading zero byte, then the bytes as they would be
/// on the wire, means "cut into single bytes" (see [`chunks`]).
pub fn split_sizes(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((&k, rest)) = data.split_first() else {
        return (&[], &[]);
    };
    rest.split_at(usize::from(k).min(rest.len()))
}

/// At most this many chunks; the last one takes whatever is left.
///
/// The handshake parsers start again from the first byte on every read (simple, and cheap
/// for the one or two reads a real request takes), so a 4 KiB input cut into single bytes
/// would cost millions of byte comparisons and slow the fuzzer a hundredfold. The
/// interesting cuts, inside a header or a character, fit in the first 64.
pub const MAX_CHUNKS: usize = 64;

/// Cuts `stream` into chunks whose sizes cycle through `sizes` (a byte `b` means `b + 1`
/// bytes, so no chunk is empty: an empty read means end of stream). No sizes at all means
/// one byte per chunk, the hardest cut for a parser.
pub fn chunks<'a>(stream: &'a [u8], sizes: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = stream;
    let mut next = sizes.iter().cycle();
    while !rest.is_empty() {
        if out.len() + 1 == MAX_CHUNKS {
            out.push(rest);
            break;
        }
        let size = next.next().map_or(1, |&b| usize::from(b) + 1);
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        out.push(chunk);
        rest = tail;
    }
    out
}

/// The input of the frame-level targets: which end decodes, its limits, and the cut stream.
#[derive(Debug)]
pub struct StreamInput<'a> {
    /// Server (expects masked frames) or client (expects unmasked ones).
    pub role: Role,
    /// The size limits the decoder enforces.
    pub limits: Limits,
    /// Chunk sizes, as [`chunks`] reads them.
    pub sizes: &'a [u8],
    /// The bytes on the wire.
    pub stream: &'a [u8],
}

impl<'a> StreamInput<'a> {
    /// Reads `[role][limit][k][k chunk sizes][stream]`.
    ///
    /// `role`'s low bit: 0 server, 1 client. `limit` `n` sets a frame limit of `16 (n + 1)`
    /// bytes and a message limit of `64 (n + 1)`: small enough for the fuzzer to cross both
    /// with short inputs. The lab's default (16 MiB) is the same code with a larger number;
    /// it is left out because an input cannot reach it, and a header claiming 16 MiB would
    /// make the decoder reserve it, thousands of times a second.
    pub fn parse(data: &'a [u8]) -> Option<Self> {
        let [role, limit, rest @ ..] = data else {
            return None;
        };
        let role = if role & 1 == 0 {
            Role::Server
        } else {
            Role::Client
        };
        let n = usize::from(*limit) + 1;
        let limits = Limits {
            max_frame: 16 * n,
            max_message: 64 * n,
        };
        let (sizes, stream) = split_sizes(rest);
        Some(Self {
            role,
            limits,
            sizes,
            stream,
        })
    }

    /// The stream cut as the input says.
    pub fn chunks(&self) -> Vec<&'a [u8]> {
        chunks(self.stream, self.sizes)
    }
}

/// A socket in memory: reads hand out the scripted chunks one by one (a read never gets
/// more than one chunk, like a TCP read that returns what has arrived), then end of stream;
/// writes are collected where [`ScriptedSocket::written`] can see them after the socket has
/// been handed to the code under test.
///
/// Reads never return `Pending`, so code driven over it cannot wait on the network: a
/// target cannot hang on a read, only on a real loop in the code under test.
#[derive(Debug, Default)]
pub struct ScriptedSocket<'a> {
    /// What the peer still has to send, in the order it arrives.
    incoming: Vec<&'a [u8]>,
    /// Index of the next chunk to hand out.
    next: usize,
    /// Everything written to the socket.
    written: Rc<RefCell<Vec<u8>>>,
}

impl<'a> ScriptedSocket<'a> {
    /// A socket whose peer sends `incoming`, then closes.
    pub fn new(incoming: Vec<&'a [u8]>) -> Self {
        Self {
            incoming,
            next: 0,
            written: Rc::default(),
        }
    }

    /// What the peer sent that has not been read yet.
    pub fn unread(&self) -> Vec<u8> {
        self.incoming[self.next.min(self.incoming.len())..].concat()
    }

    /// A handle on the bytes written, which stays valid once the socket is moved.
    pub fn written(&self) -> Rc<RefCell<Vec<u8>>> {
        Rc::clone(&self.written)
    }
}

impl AsyncRead for ScriptedSocket<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(chunk) = this.incoming.get_mut(this.next) {
            // A reader with less room than the chunk gets a part; the rest stays queued.
            let n = chunk.len().min(buf.remaining());
            buf.put_slice(&chunk[..n]);
            *chunk = &chunk[n..];
            if chunk.is_empty() {
                this.next += 1;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ScriptedSocket<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.written.borrow_mut().extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Runs a future to completion on this thread's tokio runtime.
///
/// One runtime per thread, built on first use: building one per input would cost more
/// than most inputs. It has a timer because the code under test uses `tokio::time` (a
/// client waits a moment for the server to close TCP); the scripted socket never makes it
/// wait.
pub fn block_on<F: Future>(future: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            // Without a runtime no target can run; failing loudly is the only option.
            .expect("a current-thread tokio runtime");
    }
    RUNTIME.with(|runtime| runtime.block_on(future))
}
