//! Helpers for Vestibule's tests.
//!
//! - [`hold_clock`]: with real sockets, a paused tokio clock auto-advances to
//!   the next timer whenever every task waits on I/O, so timers would fire in
//!   the middle of a loopback round trip. Holding the clock keeps the runtime
//!   busy in tiny real-time steps: I/O flows, and virtual time moves only when
//!   the test calls [`advance`].
//! - [`real_timeout`]: bound a wait in real time, whatever the tokio clock does.
//! - [`Proxy`]: a TCP proxy between a client and a gateway that injects faults
//!   (half-open, latency, resets mid-frame, trickle, byte splits).
//! - [`tokens`]: the one test secret and admin key, and login tokens for them.
//! - [`Proc`]: a child process read line by line, killed with its test.
//! - [`RedisServer`]: a throwaway `redis-server` on loopback.
//! - [`metric`]: one value scraped from a gateway's `/metrics`.
//! - [`proxies`]: real tinyproxy and dante servers on loopback.

mod metrics;
mod process;
pub mod proxies;
mod redis;
pub mod tokens;

pub use metrics::metric;
pub use process::{Proc, bin, free_port};
pub use redis::{RedisCluster, RedisServer};
pub use tokens::{ADMIN_KEY, APP_KEY, SECRET, token, token_for};

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Keeps a paused tokio clock from auto-advancing while it lives.
#[derive(Debug)]
pub struct ClockHold(JoinHandle<()>);

impl Drop for ClockHold {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Holds the paused clock still (see the crate docs). Call inside a
/// `#[tokio::test(start_paused = true)]` test.
pub fn hold_clock() -> ClockHold {
    ClockHold(tokio::spawn(async {
        loop {
            std::thread::sleep(Duration::from_micros(100));
            tokio::task::yield_now().await;
        }
    }))
}

/// Advances a held clock and lets the tasks it woke run.
pub async fn advance(by: Duration) {
    tokio::time::advance(by).await;
    settle().await;
}

/// Lets woken tasks and in-flight loopback I/O run without moving the clock.
pub async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

/// Waits for `future` at most `wait` of real time.
pub async fn real_timeout<F: Future>(wait: Duration, future: F) -> Option<F::Output> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        std::thread::sleep(wait);
        let _ = tx.send(());
    });
    tokio::select! {
        out = future => Some(out),
        _ = rx => None,
    }
}

/// Waits (in real time, at most `wait`) until `check` holds, letting tasks run in between.
pub async fn eventually(wait: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + wait;
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_micros(200));
        tokio::task::yield_now().await;
    }
}

/// What the proxy does with traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Pass bytes both ways.
    Forward,
    /// Pass nothing either way and close nothing: a half-open network. The
    /// connections open at that moment are severed for good (their path is
    /// gone, as when a NAT forgets a mapping); connections made after the
    /// mode returns to `Forward` work.
    Blackhole,
    /// Hold every chunk this long before passing it on, both ways.
    Latency(Duration),
    /// Pass the first half of the next gateway→client chunk, then reset the
    /// connection (RST) — a connection dying in the middle of a frame.
    ResetMidFrame,
    /// Pass gateway→client bytes `bytes` at a time with a pause of `every`
    /// between them (a slow link or a slow reader).
    Trickle {
        /// Bytes per step.
        bytes: usize,
        /// Pause between steps.
        every: Duration,
    },
    /// Pass every byte as its own TCP segment, both ways: frames split anywhere.
    Split,
    /// Hold client→server chunks that contain `pattern` this long (the
    /// chunks behind them wait too); pass the rest: one kind of command
    /// answered late, as by a busy server.
    LatencyOn {
        /// Bytes a held chunk contains (a command's name, say).
        pattern: &'static [u8],
        /// How long it is held.
        delay: Duration,
    },
}

/// A TCP proxy on 127.0.0.1 in front of `target`, injecting faults.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Starts forwarding to `target`.
    pub async fn start(target: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (mode, mode_rx) = watch::channel(Mode::Forward);
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let task = tokio::spawn(async move {
            let mut connections = Vec::new();
            while let Ok((client, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let mode = mode_rx.clone();
                connections.push(tokio::spawn(async move {
                    if let Ok(upstream) = TcpStream::connect(target).await {
                        pipe(client, upstream, mode).await;
                    }
                }));
                connections.retain(|c: &JoinHandle<()>| !c.is_finished());
            }
            for c in connections {
                c.abort();
            }
        });
        Ok(Self {
            addr,
            mode,
            accepted,
            task,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://ADDR/v1/ws`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/v1/ws", self.addr)
    }

    /// Changes what happens to traffic, for existing and new connections.
    pub fn set_mode(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Client to gateway.
    Up,
    /// Gateway to client.
    Down,
}

async fn pipe(client: TcpStream, upstream: TcpStream, mode: watch::Receiver<Mode>) {
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    let up = copy(client_read, upstream_write, mode.clone(), Direction::Up);
    let down = copy(upstream_read, client_write, mode, Direction::Down);
    // Either side ending (or resetting) ends both, like a real connection.
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

/// Copies one way until the source ends; true when it reset the connection.
async fn copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
    direction: Direction,
) -> bool {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if *mode.borrow() == Mode::Blackhole {
            // Severed: read nothing, write nothing, close nothing, ever.
            std::future::pending::<()>().await;
        }
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => return false,
                Ok(n) => n,
            },
            changed = mode.changed() => {
                if changed.is_err() {
                    return false;
                }
                continue;
            }
        };
        let chunk = &buf[..n];
        let current = *mode.borrow();
        let written = match current {
            Mode::Forward => to.write_all(chunk).await,
            Mode::Blackhole => std::future::pending::<std::io::Result<()>>().await,
            Mode::Latency(delay) => {
                tokio::time::sleep(delay).await;
                to.write_all(chunk).await
            }
            Mode::Split => {
                let mut result = Ok(());
                for byte in chunk {
                    result = to.write_all(std::slice::from_ref(byte)).await;
                    if result.is_err() {
                        break;
                    }
                }
                result
            }
            Mode::Trickle { bytes, every } if direction == Direction::Down => {
                let mut result = Ok(());
                for piece in chunk.chunks(bytes.max(1)) {
                    result = to.write_all(piece).await;
                    if result.is_err() {
                        break;
                    }
                    tokio::time::sleep(every).await;
                }
                result
            }
            Mode::ResetMidFrame if direction == Direction::Down => {
                let _ = to.write_all(&chunk[..n / 2]).await;
                // SO_LINGER 0: closing sends RST instead of FIN (and a zero
                // linger never blocks the thread, the reason for the deprecation).
                #[allow(deprecated)]
                let _ = to.as_ref().set_linger(Some(Duration::ZERO));
                return true;
            }
            Mode::LatencyOn { pattern, delay } => {
                if direction == Direction::Up
                    && chunk.windows(pattern.len().max(1)).any(|w| w == pattern)
                {
                    tokio::time::sleep(delay).await;
                }
                to.write_all(chunk).await
            }
            Mode::Trickle { .. } | Mode::ResetMidFrame => to.write_all(chunk).await,
        };
        if written.is_err() {
            return false;
        }
    }
}
