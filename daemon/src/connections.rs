//! Bounded connections: the accept loop in front of the gRPC server.
//!
//! - At most `connections_max` connections are open at once; a connection beyond the cap is closed
//!   as soon as it is accepted (a warning says so, at most once a second), so the listen queue never
//!   fills with connections nobody serves.
//! - A connection on which the client sends nothing for `idle_timeout_ms` is closed. A live HTTP/2
//!   client answers the server's keep-alive pings (every `keepalive_interval_ms`, shorter than the
//!   idle timeout), so only sockets that went silent, or never spoke HTTP/2, are closed.
//! - When accepting fails (no file descriptor left, `EMFILE`), the loop logs it and waits, 5 ms at
//!   first, doubling to at most a second, instead of retrying at once (which spun a core and logged
//!   nothing).
//!
//! The soft limit on open files is raised to the hard limit at start ([`raise_file_limit`]).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo};
use tracing::{info, warn};

/// First wait after a failed accept.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);

/// Longest wait after failed accepts in a row.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Most warnings a second about connections closed at the cap.
const CAP_WARNING_EVERY: Duration = Duration::from_secs(1);

/// An accepted connection: closed when its client is silent for the idle timeout; holds one of
/// the connection slots until it is dropped.
pub struct Conn {
    stream: TcpStream,
    info: TcpConnectInfo,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    _slot: OwnedSemaphorePermit,
}

impl Conn {
    fn new(stream: TcpStream, peer: SocketAddr, idle: Duration, slot: OwnedSemaphorePermit) -> Conn {
        let info = TcpConnectInfo { local_addr: stream.local_addr().ok(), remote_addr: Some(peer) };
        Conn { stream, info, idle, deadline: Box::pin(tokio::time::sleep(idle)), _slot: slot }
    }
}

impl Connected for Conn {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for Conn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    let next = tokio::time::Instant::now() + self.idle;
                    self.deadline.as_mut().reset(next);
                }
                Poll::Ready(result)
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the client sent nothing for {} ms", self.idle.as_millis()),
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    /// False, though the socket takes vectored writes: h2 then copies every DATA frame shorter
    /// than 1024 bytes (not 256) into its buffer, so that an answer of a few KiB leaves in one
    /// write in two frames rather than six (`frames.rs`). TLS, which wraps this stream, writes
    /// to it vectored all the same.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

/// The connections accepted on `listener`, at most `connections_max` open at once, each closed
/// after `idle` without a byte from its client. The accept loop ends when the stream is dropped
/// (the server stops accepting), which closes the listener.
pub fn accept(listener: TcpListener, connections_max: usize, idle: Duration) -> ReceiverStream<io::Result<Conn>> {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(accept_loop(listener, Arc::new(Semaphore::new(connections_max)), connections_max, idle, tx));
    ReceiverStream::new(rx)
}

async fn accept_loop(
    listener: TcpListener,
    slots: Arc<Semaphore>,
    connections_max: usize,
    idle: Duration,
    tx: mpsc::Sender<io::Result<Conn>>,
) {
    let mut backoff = ACCEPT_BACKOFF_MIN;
    let mut closed_at_cap = 0u64;
    let mut warned: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = tx.closed() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = ACCEPT_BACKOFF_MIN;
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    closed_at_cap += 1;
                    if warned.is_none_or(|w| w.elapsed() >= CAP_WARNING_EVERY) {
                        warn!(
                            %peer,
                            connections_max,
                            closed = closed_at_cap,
                            "at the connection cap: closing new connections (limits.connections_max)"
                        );
                        warned = Some(Instant::now());
                        closed_at_cap = 0;
                    }
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                if tx.send(Ok(Conn::new(stream, peer, idle, slot))).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                warn!(error = %e, backoff_ms = backoff.as_millis() as u64, "accepting a connection failed; waiting");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = tx.closed() => return,
                }
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
            }
        }
    }
}

/// Raises the soft limit on open files to the hard limit (every connection takes one), and logs
/// both. A failure is logged and otherwise ignored: the connection cap still holds.
pub fn raise_file_limit(connections_max: usize) {
    #[cfg(unix)]
    {
        use rustix::process::{getrlimit, setrlimit, Resource};
        // Linux refuses a soft limit above fs.nr_open (1,048,576 by default), even under an
        // unlimited hard limit.
        const NR_OPEN_DEFAULT: u64 = 1 << 20;
        let limit = getrlimit(Resource::Nofile);
        let target = limit.maximum.unwrap_or(NR_OPEN_DEFAULT).min(NR_OPEN_DEFAULT);
        let mut raised = limit;
        if limit.current.is_some_and(|c| c < target) {
            raised.current = Some(target);
            if let Err(e) = setrlimit(Resource::Nofile, raised) {
                warn!(error = %e, "cannot raise the limit on open files");
                raised = limit;
            }
        }
        let soft = raised.current.unwrap_or(u64::MAX);
        info!(soft, hard = raised.maximum.unwrap_or(u64::MAX), "limit on open files");
        if soft < u64::try_from(connections_max).unwrap_or(u64::MAX).saturating_add(64) {
            warn!(
                soft,
                connections_max,
                "the limit on open files is below limits.connections_max plus the store's files; raise it \
                 (LimitNOFILE= in a systemd unit) or lower the cap"
            );
        }
    }
}
