//! The floor of fan-out: what the kernel alone costs to deliver one message to N sockets.
//!
//! The fan-out workload (`bench run --workload fanout`) compares the broadcast lab's two
//! ways with this: the same number of subscribers on plain TCP, and a server that, for each
//! message from the publisher, writes the same fixed-size frame to every subscriber socket
//! in one tight loop on one thread. No WebSocket framing, no JSON, no queues, no tasks, no
//! wake-ups: one `write` system call per subscriber, which no server that keeps one TCP
//! connection per client can avoid. Whatever the lab's server costs above this floor is
//! what it can still improve; what the floor costs is what only more cores, more machines
//! or fewer deliveries can buy.
//!
//! It is a measuring instrument, not a server to copy: one subscriber that stopped reading
//! would block the loop for everyone (the lab's bounded queues exist for exactly that).
//!
//! The wire: a connection's first byte says what it is ([`SUBSCRIBER`] or [`PUBLISHER`]).
//! The publisher then sends frames of [`FRAME_LEN`] bytes (the first 8 are its send time,
//! little-endian microseconds on the publisher's clock, the next 8 a sequence number); the
//! server writes each one unchanged to every subscriber, then answers the publisher with 8
//! bytes: how long the pass over all subscribers took, in nanoseconds.

use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The size of every frame: the size of the benchmark's broadcast frame on the WebSocket
/// (218 bytes of JSON), so the kernel moves the same number of bytes.
pub const FRAME_LEN: usize = 218;

/// First byte of a subscriber's connection.
pub const SUBSCRIBER: u8 = b'S';

/// First byte of the publisher's connection.
pub const PUBLISHER: u8 = b'P';

/// First byte of a connection that asks how many subscribers there are: the server answers
/// with 8 bytes (little-endian) and closes it.
pub const COUNT: u8 = b'C';

/// Serves the floor on `listener` until the process ends: accepts subscribers, and starts a
/// thread per publisher that fans its frames out. Blocking, on threads of its own.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    let subscribers: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    for stream in listener.incoming() {
        let mut stream = stream?;
        stream.set_nodelay(true)?;
        let mut role = [0u8; 1];
        if stream.read_exact(&mut role).is_err() {
            continue;
        }
        match role[0] {
            SUBSCRIBER => subscribers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(stream),
            PUBLISHER => {
                let subscribers = Arc::clone(&subscribers);
                std::thread::spawn(move || publish_loop(stream, &subscribers));
            }
            COUNT => {
                let count = subscribers
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .len() as u64;
                let _ = stream.write_all(&count.to_le_bytes());
            }
            _ => {} // Not ours: dropped.
        }
    }
    Ok(())
}

// ANCHOR: pass
/// One publisher: each frame it sends is written to every subscriber, one `write` each.
fn publish_loop(mut publisher: TcpStream, subscribers: &Mutex<Vec<TcpStream>>) {
    let mut frame = [0u8; FRAME_LEN];
    while publisher.read_exact(&mut frame).is_ok() {
        let subscribers = subscribers.lock().unwrap_or_else(PoisonError::into_inner);
        let start = Instant::now();
        for mut subscriber in subscribers.iter() {
            // A subscriber that is gone is skipped; the others still get the frame.
            let _ = subscriber.write_all(&frame);
        }
        let pass = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        drop(subscribers);
        if publisher.write_all(&pass.to_le_bytes()).is_err() {
            return;
        }
    }
}
// ANCHOR_END: pass

/// The frame number `seq`, stamped with `sent_us` (microseconds on the publisher's clock).
pub fn frame(seq: u64, sent_us: u64) -> [u8; FRAME_LEN] {
    let mut frame = [b'.'; FRAME_LEN];
    frame[..8].copy_from_slice(&sent_us.to_le_bytes());
    frame[8..16].copy_from_slice(&seq.to_le_bytes());
    frame
}

/// How many subscribers the floor server at `addr` has accepted.
pub async fn subscriber_count(addr: SocketAddr) -> io::Result<u64> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(&[COUNT]).await?;
    let mut count = [0u8; 8];
    stream.read_exact(&mut count).await?;
    Ok(u64::from_le_bytes(count))
}

/// Waits until the floor server at `addr` has accepted `n` subscribers (it reads their first
/// bytes one after another), or `deadline` passes; `true` if it has.
pub async fn wait_for_subscribers(
    addr: SocketAddr,
    n: usize,
    deadline: Duration,
) -> io::Result<bool> {
    let give_up = Instant::now() + deadline;
    while subscriber_count(addr).await? < n as u64 {
        if Instant::now() > give_up {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(true)
}

/// The publisher's end: sends frames, reads back how long each pass took.
#[derive(Debug)]
pub struct Publisher {
    stream: tokio::net::TcpStream,
}

impl Publisher {
    /// Connects to the floor server at `addr` as its publisher.
    pub async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        stream.write_all(&[PUBLISHER]).await?;
        Ok(Self { stream })
    }

    /// Sends one frame and returns how long the server's pass over every subscriber took.
    pub async fn publish(&mut self, frame: &[u8; FRAME_LEN]) -> io::Result<Duration> {
        self.stream.write_all(frame).await?;
        let mut pass = [0u8; 8];
        self.stream.read_exact(&mut pass).await?;
        Ok(Duration::from_nanos(u64::from_le_bytes(pass)))
    }
}

/// Subscribers reading frames in tasks of their own, until [`Subscribers::finish`].
#[derive(Debug)]
pub struct Subscribers {
    tasks: Vec<JoinHandle<Vec<u64>>>,
    stop: watch::Sender<bool>,
    received: Arc<AtomicU64>,
}

impl Subscribers {
    /// Opens `n` subscribers to the floor server at `addr`; latencies are measured against
    /// `clock`, the publisher's.
    pub async fn open(addr: SocketAddr, n: usize, clock: Instant) -> io::Result<Self> {
        let (stop, stopped) = watch::channel(false);
        let received = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::with_capacity(n);
        for _ in 0..n {
            let mut stream = tokio::net::TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            stream.write_all(&[SUBSCRIBER]).await?;
            let (received, mut stopped) = (Arc::clone(&received), stopped.clone());
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut frame = [0u8; FRAME_LEN];
                loop {
                    tokio::select! {
                        _ = stopped.changed() => break,
                        read = stream.read_exact(&mut frame) => if read.is_err() { break },
                    }
                    let now = clock.elapsed().as_micros() as u64;
                    let mut sent = [0u8; 8];
                    sent.copy_from_slice(&frame[..8]);
                    latencies.push(now.saturating_sub(u64::from_le_bytes(sent)));
                    received.fetch_add(1, Ordering::Relaxed);
                }
                latencies
            }));
        }
        Ok(Self {
            tasks,
            stop,
            received,
        })
    }

    /// Frames received by all subscribers so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Waits until `total` frames were received in all, or `deadline` passes.
    pub async fn wait_for(&self, total: u64, deadline: Duration) -> bool {
        lab_broadcast::tools::wait_for_count(&self.received, total, deadline).await
    }

    /// Stops every subscriber and returns every latency, in microseconds.
    pub async fn finish(self) -> Vec<u64> {
        let _ = self.stop.send(true);
        let mut all = Vec::new();
        for task in self.tasks {
            all.extend(task.await.unwrap_or_default());
        }
        all
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Every subscriber receives every frame unchanged and in order, the publisher hears
    /// how long each pass took, and `Subscribers` counts one latency per frame received.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_subscriber_gets_every_frame() {
        const READERS: usize = 20;
        const COUNTED: usize = 5;
        const FRAMES: u64 = 5;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || serve(listener));
        let clock = Instant::now();

        // Plain readers that keep every byte, to compare with what was sent.
        let mut readers = Vec::new();
        for _ in 0..READERS {
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream.write_all(&[SUBSCRIBER]).await.unwrap();
            readers.push(tokio::spawn(async move {
                let mut frames = Vec::new();
                for _ in 0..FRAMES {
                    let mut frame = [0u8; FRAME_LEN];
                    stream.read_exact(&mut frame).await.unwrap();
                    frames.push(frame);
                }
                frames
            }));
        }
        let subscribers = Subscribers::open(addr, COUNTED, clock).await.unwrap();
        let all = READERS + COUNTED;
        assert!(
            wait_for_subscribers(addr, all, Duration::from_secs(10))
                .await
                .unwrap()
        );

        let mut publisher = Publisher::connect(addr).await.unwrap();
        let mut sent = Vec::new();
        for seq in 0..FRAMES {
            let frame = frame(seq, clock.elapsed().as_micros() as u64);
            let pass = publisher.publish(&frame).await.unwrap();
            assert!(pass > Duration::ZERO);
            sent.push(frame);
        }
        for reader in readers {
            let frames = tokio::time::timeout(Duration::from_secs(10), reader)
                .await
                .expect("every frame within 10 s")
                .unwrap();
            let seqs: Vec<u64> = frames
                .iter()
                .map(|f| u64::from_le_bytes(f[8..16].try_into().unwrap()))
                .collect();
            assert_eq!(seqs, (0..FRAMES).collect::<Vec<_>>());
            assert!(frames == sent, "a frame arrived changed");
        }

        let counted = COUNTED as u64 * FRAMES;
        assert!(subscribers.wait_for(counted, Duration::from_secs(10)).await);
        let latencies = subscribers.finish().await;
        assert_eq!(latencies.len() as u64, counted);
    }
}
