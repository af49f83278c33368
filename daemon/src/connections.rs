//! Bounded connections: the accept loop in front of the gRPC server.
//!
//! - At most `connections_max` connections are open at once. At the cap, a new connection takes
//!   the place of the oldest open one that has made no call with a known token (anyone on the
//!   machine can open connections), else of the oldest one whose calls showed only a project's
//!   token (a project's organisers are outside the sponsor), else an auditor's; a connection that
//!   made a call with an admin's or accountant's token keeps its place. A connection's standing is
//!   at most what its token gives now: a token revoked (the tokens file loaded again) gives none,
//!   also when another token took its name. When every open connection is a staff one, the new connection is closed as soon
//!   as it is accepted. A warning says either, at most once a second, so the listen queue never
//!   fills with connections nobody serves, and connections held by someone without a token, or
//!   with a project's, cannot keep the sponsor's accountants out.
//! - A connection on which the client sends nothing for `idle_timeout_ms` is closed. A live HTTP/2
//!   client answers the server's keep-alive pings (every `keepalive_interval_ms`, shorter than the
//!   idle timeout), so only sockets that went silent, or never spoke HTTP/2, are closed.
//! - When accepting fails (no file descriptor left, `EMFILE`), the loop logs it and waits, 5 ms at
//!   first, doubling to at most a second, instead of retrying at once (which spun a core and logged
//!   nothing).
//!
//! The soft limit on open files is raised to the hard limit at start ([`raise_file_limit`]).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::futures::OwnedNotified;
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};
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

/// How long a new connection at the cap waits for the place of the connection it closed.
const EVICTION_WAIT: Duration = Duration::from_secs(1);

/// What the accept loop and the calls on one connection share: the highest standing a call on it
/// has shown (with the token's hash, so that a token revoked or lowered since loses it), and the
/// signal that closes it to make room.
#[derive(Debug, Default)]
struct Standing {
    vouched: Mutex<Option<(TokenHash, Vouched)>>,
    evicted: AtomicBool,
    close: Arc<Notify>,
}

/// What the calls on a connection have shown, lowest first: the order in which connections give
/// their places at the cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Vouched {
    /// No call with a known token.
    Nothing = 0,
    /// A project's token (`project:<id>`).
    Project = 1,
    /// An auditor's token (often an outside party's; it records nothing).
    Auditor = 2,
    /// An admin's or accountant's token: never closed to make room.
    Staff = 3,
}

/// A token as the tokens file keeps it: its hash.
pub type TokenHash = [u8; 32];

/// The standing each token in force gives (by its hash, so that a token rotated under the same name
/// gives the old one none), set whenever the tokens file is loaded: a connection's standing is at
/// most its token's now (none for a token revoked since).
static TOKEN_STANDING: RwLock<Option<HashMap<TokenHash, Vouched>>> = RwLock::new(None);

/// How many times the tokens in force were set: a stream waiting for the next commit wakes at
/// each change, so that one of a token revoked since ends at once rather than at the next commit.
static TOKEN_LOADS: std::sync::LazyLock<tokio::sync::watch::Sender<u64>> =
    std::sync::LazyLock::new(|| tokio::sync::watch::Sender::new(0));

/// Makes `tokens` (hash, standing) the tokens in force, and wakes the streams ([`token_loads`]).
pub fn tokens_in_force(tokens: impl IntoIterator<Item = (TokenHash, Vouched)>) {
    let map: HashMap<TokenHash, Vouched> = tokens.into_iter().collect();
    *TOKEN_STANDING.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(map);
    TOKEN_LOADS.send_modify(|loads| *loads = loads.wrapping_add(1));
}

/// A receiver that changes each time the tokens in force are set (the tokens file loaded again):
/// a stream marks it seen, checks [`token_in_force`], and waits on it beside its other events.
pub fn token_loads() -> tokio::sync::watch::Receiver<u64> {
    TOKEN_LOADS.subscribe()
}

/// True while the token `hash` is in the tokens file loaded last (a stream of a token revoked
/// since ends).
pub fn token_in_force(hash: &TokenHash) -> bool {
    TOKEN_STANDING
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
        .is_some_and(|t| t.contains_key(hash))
}

impl Standing {
    /// What the calls have shown, as far as their token is still in force.
    fn vouched(&self) -> Vouched {
        let marked = self.vouched.lock().map_or_else(|p| *p.into_inner(), |g| *g);
        let Some((token, level)) = marked else { return Vouched::Nothing };
        let tokens = TOKEN_STANDING.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = tokens.as_ref().and_then(|t| t.get(&token).copied()).unwrap_or(Vouched::Nothing);
        level.min(now)
    }
}

/// The connect info of a connection (in each request's extensions): its addresses, and the mark
/// the token check sets ([`ConnInfo::vouched`]).
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// The local and remote addresses.
    pub tcp: TcpConnectInfo,
    standing: Arc<Standing>,
}

impl ConnInfo {
    /// The client's address.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.tcp.remote_addr()
    }

    /// Marks the connection as one that made a call with the known token `token` (its hash), of
    /// standing `by`: a staff token's connection is not closed to make room at the cap, an
    /// auditor's only after project tokens' and those without a token, a project token's after
    /// those without.
    pub fn vouched(&self, token: &TokenHash, by: Vouched) {
        if self.standing.vouched() < by {
            *self.standing.vouched.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((*token, by));
        }
    }

    /// The connect info in `extensions`, on a clear-text or a TLS connection.
    pub fn of(extensions: &http::Extensions) -> Option<&ConnInfo> {
        extensions
            .get::<ConnInfo>()
            .or_else(|| extensions.get::<tonic::transport::server::TlsConnectInfo<ConnInfo>>().map(|i| i.get_ref()))
    }
}

/// An accepted connection: closed when its client is silent for the idle timeout, or to make room
/// at the cap when it has made no call with a known token; holds one of the connection slots until
/// it is dropped.
pub struct Conn {
    stream: TcpStream,
    info: ConnInfo,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    evicted: Pin<Box<OwnedNotified>>,
    _slot: OwnedSemaphorePermit,
}

impl Conn {
    fn new(stream: TcpStream, peer: SocketAddr, idle: Duration, slot: OwnedSemaphorePermit) -> Conn {
        let tcp = TcpConnectInfo { local_addr: stream.local_addr().ok(), remote_addr: Some(peer) };
        let standing = Arc::new(Standing::default());
        let evicted = Box::pin(standing.close.clone().notified_owned());
        Conn {
            stream,
            info: ConnInfo { tcp, standing },
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
            evicted,
            _slot: slot,
        }
    }
}

impl Connected for Conn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
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
            Poll::Pending => {
                if self.evicted.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "closed to make room at the connection cap: no call on it showed a staff token",
                    )));
                }
                match self.deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("the client sent nothing for {} ms", self.idle.as_millis()),
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
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
    let mut evicted_at_cap = 0u64;
    let mut warned: Option<Instant> = None;
    // the open connections, oldest first (a dropped one is skipped and forgotten)
    let mut open: VecDeque<Weak<Standing>> = VecDeque::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = tx.closed() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = ACCEPT_BACKOFF_MIN;
                let slot = match slots.clone().try_acquire_owned() {
                    Ok(slot) => Some(slot),
                    Err(_) if evict_lowest_standing(&mut open) => {
                        evicted_at_cap += 1;
                        tokio::time::timeout(EVICTION_WAIT, slots.clone().acquire_owned())
                            .await
                            .ok()
                            .and_then(Result::ok)
                    }
                    Err(_) => None,
                };
                if slot.is_none() {
                    closed_at_cap += 1;
                }
                if (slot.is_none() || evicted_at_cap > 0) && warned.is_none_or(|w| w.elapsed() >= CAP_WARNING_EVERY) {
                    warn!(
                        %peer,
                        connections_max,
                        closed_new = closed_at_cap,
                        closed_without_token = evicted_at_cap,
                        "at the connection cap: closing the oldest connections without a token, else with only a \
                         project's, else new connections (limits.connections_max)"
                    );
                    warned = Some(Instant::now());
                    (closed_at_cap, evicted_at_cap) = (0, 0);
                }
                let Some(slot) = slot else {
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let conn = Conn::new(stream, peer, idle, slot);
                open.retain(|c| c.strong_count() > 0);
                open.push_back(Arc::downgrade(&conn.info.standing));
                if tx.send(Ok(conn)).await.is_err() {
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

/// Signals the oldest open connection of the lowest standing below [`Vouched::Staff`] to close
/// (not one signalled already), and forgets connections already gone; false when every open
/// connection is a staff one.
fn evict_lowest_standing(open: &mut VecDeque<Weak<Standing>>) -> bool {
    open.retain(|c| c.strong_count() > 0);
    let mut chosen: Option<(Vouched, Arc<Standing>)> = None;
    for standing in open.iter().filter_map(Weak::upgrade) {
        let vouched = standing.vouched();
        let lower = chosen.as_ref().is_none_or(|(v, _)| vouched < *v);
        if vouched < Vouched::Staff && lower && !standing.evicted.load(Ordering::Relaxed) {
            chosen = Some((vouched, standing));
            if vouched == Vouched::Nothing {
                break;
            }
        }
    }
    match chosen {
        Some((_, standing)) => {
            standing.evicted.store(true, Ordering::Relaxed);
            standing.close.notify_one();
            true
        }
        None => false,
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
