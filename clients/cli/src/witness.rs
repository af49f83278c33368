//! `fiscus witness`: a C2SP `tlog-witness` (c2sp.org/tlog-witness) that an auditor or a sponsored
//! project runs, so that the sponsor cannot show two different histories of its ledger.
//!
//! `fiscus witness serve` answers `POST /add-checkpoint` over HTTP/1.1: it knows the logs it
//! witnesses (origin and verifier key, from `--log` or the config file), keeps the latest
//! checkpoint it cosigned per origin, and cosigns a new one only with a consistency proof from it
//! ([`fiscus_tlog::Witness`] makes every check and gives every status). `fiscus witness key` prints
//! its verifier key, for the logs' and clients' policies.
//!
//! The state folder (0700) holds the cosigner key `witness.key` (0600, made on first start) and
//! one file per log under `logs/`, the latest cosigned checkpoint, written to a temporary file,
//! synced and renamed over the old one (and the folder synced) *before* the answer leaves: a
//! witness that forgot what it cosigned could be led to cosign a fork. The check against the held
//! checkpoint and its replacement are one step under a lock, as the spec requires. One process
//! serves a state folder: `serve` holds an exclusive lock on it for its lifetime
//! ([`fiscus_ledger::store::lock_folder`], the `holder` file naming the process), and a second
//! `serve` on the folder is refused at start with the folder and the holding process named, since
//! two witnesses sharing one folder would each hold their own checkpoint and could cosign two
//! different roots of one size. The held checkpoint keeps only the signature lines that verified:
//! the log's and the witness's own cosignature.
//!
//! Bounded: request bodies ([`REQUEST_BYTES_MAX`]), requests served at once (`--connections-max`),
//! open connections ([`OPEN_CONNECTIONS_MAX`]), the time to send the first byte, the headers and
//! the body, and a connection's lifetime. Listens on loopback by default.
//!
//! Idle connections cost a real submission nothing: a connection takes one of the
//! `--connections-max` permits only once its first byte has arrived, one that sends nothing is
//! closed after [`FIRST_BYTE_TIMEOUT`] without ever holding one, and a connection serves one
//! request and closes (no keep-alive: `fiscusd` opens one per submission), so no permit is held
//! by a connection waiting for its next request. The accept loop never waits for a permit, and
//! one peer address holds at most [`PEER_CONNECTIONS_MAX`] connections open.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Args, Subcommand};
use fiscus_client::fiscus_ledger::files::Links;
use fiscus_client::fiscus_ledger::private;
use fiscus_tlog::note::KEY_TYPE_ED25519;
use fiscus_tlog::witness::ADD_CHECKPOINT_PROOF_LINES_MAX;
use fiscus_tlog::{AddCheckpoint, Cosigner, NoteSignature, NoteVerifier, Witness, WitnessError};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Deserialize;

use crate::fail::Failure;

/// Most bytes of `fiscus witness serve --config FILE`.
pub const CONFIG_BYTES_MAX: u64 = 1024 * 1024;
/// Most bytes of the witness's key file (one signer key line).
pub const KEY_FILE_BYTES_MAX: u64 = 4096;
/// Where `fiscus witness serve` listens unless told otherwise (loopback only).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7380";
/// Most bytes of an `add-checkpoint` request body: a signed note with every cosignature and 63
/// proof lines fit.
pub const REQUEST_BYTES_MAX: usize = fiscus_tlog::note::NOTE_BYTES_MAX + 64 * (ADD_CHECKPOINT_PROOF_LINES_MAX + 1);
/// Requests served at once by default; connections whose first byte has arrived beyond it wait
/// for a permit (at most [`HEADER_READ_TIMEOUT`]).
pub const CONNECTIONS_MAX_DEFAULT: usize = 64;
/// Most connections open at once, idle ones included; a connection past it is closed at once.
pub const OPEN_CONNECTIONS_MAX: usize = 1_024;
/// Most connections open at once from one IP address, so that one peer cannot take every slot
/// of [`OPEN_CONNECTIONS_MAX`].
pub const PEER_CONNECTIONS_MAX: usize = 256;
/// How long a new connection may stay silent before it is closed (it holds no permit meanwhile).
pub const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a client may take to send a request's headers once its first byte has arrived, and
/// how long such a connection may wait for a permit.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a client may take to send a request's body.
const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a connection is kept, however busy.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(300);
/// The cosigner key file in the state folder.
const KEY_FILE: &str = "witness.key";
/// The folder of held checkpoints in the state folder.
const LOGS_DIR: &str = "logs";

/// `fiscus witness` actions.
#[derive(Subcommand, Debug)]
pub enum WitnessAction {
    /// Serve the tlog-witness protocol: POST /add-checkpoint.
    Serve(ServeArgs),
    /// Print the witness's verifier key (making the key when the state folder has none).
    Key(KeyArgs),
}

/// `fiscus witness serve` options.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The state folder: the cosigner key and the latest checkpoint of each log (made 0700).
    #[arg(long, value_name = "DIR")]
    state: PathBuf,
    /// A TOML file with `listen`, `name`, `logs` (verifier keys) and `connections_max`; flags
    /// win over it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The address to listen on [default: 127.0.0.1:7380].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// The witness's key name, used when the key is made (by recommendation a schema-less URL
    /// such as witness.example.org/w1).
    #[arg(long)]
    name: Option<String>,
    /// A log to witness: its verifier key `<origin>+<key id>+<key>` (`fiscusd key show`).
    /// Repeat for several logs, or several keys of one log.
    #[arg(long = "log", value_name = "KEY")]
    logs: Vec<String>,
    /// Most requests served at once [default: 64]; idle connections do not count.
    #[arg(long, value_name = "N")]
    connections_max: Option<usize>,
}

/// `fiscus witness key` options.
#[derive(Args, Debug)]
pub struct KeyArgs {
    /// The state folder.
    #[arg(long, value_name = "DIR")]
    state: PathBuf,
    /// The key name, when the key is made here.
    #[arg(long)]
    name: Option<String>,
}

/// The config file of `fiscus witness serve`.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    listen: Option<SocketAddr>,
    name: Option<String>,
    #[serde(default)]
    logs: Vec<String>,
    connections_max: Option<usize>,
}

/// Runs a `fiscus witness` action.
pub async fn run(action: WitnessAction, json: bool) -> Result<(), Failure> {
    match action {
        WitnessAction::Key(args) => {
            make_state_dir(&args.state)?;
            let cosigner = load_or_make_key(&args.state, args.name.as_deref())?;
            if json {
                outln!("{}", serde_json::json!({ "verifier_key": cosigner.verifier_key(), "name": cosigner.name() }));
            } else {
                outln!("{}", cosigner.verifier_key());
            }
            Ok(())
        }
        WitnessAction::Serve(args) => serve(args).await,
    }
}

async fn serve(args: ServeArgs) -> Result<(), Failure> {
    let config = match &args.config {
        Some(path) => {
            let text = crate::files::read_named(path, CONFIG_BYTES_MAX, "witness config")
                .map_err(|e| Failure::usage(format!("--config {e}")))?;
            // (where it does not parse, never its text: a key given by mistake is not printed)
            fiscus_tokens::toml_file::parse::<Config>(&text)
                .map_err(|e| Failure::usage(format!("--config {}: {e}", path.display())))?
        }
        None => Config::default(),
    };
    let listen = match args.listen.or(config.listen) {
        Some(addr) => addr,
        None => DEFAULT_LISTEN.parse().map_err(|_| Failure::other("the default address does not parse"))?,
    };
    let connections_max = args.connections_max.or(config.connections_max).unwrap_or(CONNECTIONS_MAX_DEFAULT);
    if connections_max == 0 {
        return Err(Failure::usage("--connections-max must be at least 1"));
    }
    let mut keys = args.logs;
    keys.extend(config.logs);
    if keys.is_empty() {
        return Err(Failure::usage("no log to witness: give --log KEY (the log's verifier key, `fiscusd key show`)"));
    }
    let mut verifiers = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        // a key is named in messages by its place, never by its text: a signing key (or its bare
        // secret) given by mistake is never echoed into terminals and logs
        let named = format!("key {} of {}", i + 1, keys.len());
        let verifier =
            NoteVerifier::from_verifier_key(key.trim()).map_err(|e| Failure::usage(format!("--log ({named}): {e}")))?;
        if verifier.key_type() != KEY_TYPE_ED25519 {
            return Err(Failure::usage(format!("--log ({named}): not a log's Ed25519 note key (type 0x01)")));
        }
        verifiers.push(verifier);
    }
    let name = args.name.or(config.name);
    // One process per state folder, for its whole life: two witnesses sharing one folder would
    // each hold their own checkpoint and could cosign two different roots of one size.
    make_state_dir(&args.state)?;
    let _lock = fiscus_ledger::store::lock_folder(&args.state, "witness state folder")?;
    let mut witness = Witness::new(load_or_make_key(&args.state, name.as_deref())?);
    let origins: Vec<String> = verifiers.iter().map(|v| v.name().to_owned()).collect();
    for verifier in verifiers {
        witness.add_log(verifier);
    }
    restore(&args.state, &mut witness, &origins)?;
    let shared = Arc::new(Shared { dir: args.state.clone(), witness: Mutex::new(witness) });

    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Failure::other(format!("cannot listen on {listen}: {e}")))?;
    let local = listener.local_addr()?;
    outln!("fiscus witness listening on {local}");
    if !local.ip().is_loopback() {
        eprintln!("fiscus witness: listening on {local}, beyond this machine");
    }
    let permits = Arc::new(tokio::sync::Semaphore::new(connections_max));
    let open = Arc::new(tokio::sync::Semaphore::new(OPEN_CONNECTIONS_MAX));
    let peers: Peers = Arc::new(Mutex::new(HashMap::new()));
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off rather than spin.
                    eprintln!("fiscus witness: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Past the open-connection bounds the connection is closed at once (dropped).
        let Some(peer_slot) = PeerSlot::take(&peers, peer.ip()) else { continue };
        let Ok(open_slot) = open.clone().try_acquire_owned() else { continue };
        let shared = shared.clone();
        let permits = permits.clone();
        tokio::spawn(async move {
            let _slots = (open_slot, peer_slot);
            // Silent connections hold no permit, and are closed soon.
            let mut first = [0u8; 1];
            match tokio::time::timeout(FIRST_BYTE_TIMEOUT, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
            let Ok(Ok(_permit)) = tokio::time::timeout(HEADER_READ_TIMEOUT, permits.acquire_owned()).await else {
                return;
            };
            let service = hyper::service::service_fn(move |request| handle(request, shared.clone()));
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
        });
    }
    Ok(())
}

/// Open connections per peer address.
type Peers = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// One open connection of a peer, counted in [`Peers`] until dropped.
struct PeerSlot {
    peers: Peers,
    ip: IpAddr,
}

impl PeerSlot {
    /// Counts one more connection of `ip`; `None` when it has [`PEER_CONNECTIONS_MAX`] open.
    fn take(peers: &Peers, ip: IpAddr) -> Option<PeerSlot> {
        let mut map = peers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let open = map.entry(ip).or_insert(0);
        if *open >= PEER_CONNECTIONS_MAX {
            return None;
        }
        *open += 1;
        Some(PeerSlot { peers: peers.clone(), ip })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut map = self.peers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(open) = map.get_mut(&self.ip) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The witness and where it persists.
struct Shared {
    dir: PathBuf,
    witness: Mutex<Witness>,
}

/// Why an `add-checkpoint` was not cosigned.
enum Refusal {
    /// One of the spec's refusals.
    Witness(WitnessError),
    /// The new checkpoint could not be persisted: nothing was cosigned.
    Persist(String),
}

impl Shared {
    /// Checks `request`, persists the new held checkpoint and only then answers the cosignature:
    /// the check and the update happen under one lock, on a copy that replaces the witness only
    /// once the file is durable.
    fn add(&self, request: &AddCheckpoint, now: u64) -> Result<Vec<NoteSignature>, Refusal> {
        let mut witness = self.witness.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut next = witness.clone();
        let lines = next.add_checkpoint(request, now).map_err(Refusal::Witness)?;
        let origin = match fiscus_tlog::Note::parse(&request.checkpoint)
            .and_then(|note| fiscus_tlog::Checkpoint::parse_body(&note.text))
        {
            Ok(checkpoint) => checkpoint.origin,
            Err(e) => return Err(Refusal::Persist(format!("the cosigned checkpoint no longer parses: {e}"))),
        };
        let Some(held) = next.latest(&origin) else {
            return Err(Refusal::Persist("no held checkpoint after cosigning".into()));
        };
        persist_checkpoint(&self.dir, &origin, &held.note).map_err(|e| Refusal::Persist(e.to_string()))?;
        *witness = next;
        Ok(lines)
    }
}

async fn handle(
    request: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    Ok(answer(request, shared).await)
}

fn text(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = http::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(http::header::CONTENT_TYPE, value);
    }
    response
}

fn plain(status: StatusCode, message: impl std::fmt::Display) -> Response<Full<Bytes>> {
    text(status, "text/plain; charset=utf-8", format!("{message}\n"))
}

async fn answer(request: Request<Incoming>, shared: Arc<Shared>) -> Response<Full<Bytes>> {
    if request.uri().path() != "/add-checkpoint" {
        return plain(StatusCode::NOT_FOUND, "not found: this witness serves POST /add-checkpoint");
    }
    if request.method() != Method::POST {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "add-checkpoint takes POST");
        response.headers_mut().insert(http::header::ALLOW, http::HeaderValue::from_static("POST"));
        return response;
    }
    let declared = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > REQUEST_BYTES_MAX as u64) {
        return plain(StatusCode::PAYLOAD_TOO_LARGE, format!("request body over {REQUEST_BYTES_MAX} bytes"));
    }
    let body = Limited::new(request.into_body(), REQUEST_BYTES_MAX).collect();
    let body = match tokio::time::timeout(REQUEST_READ_TIMEOUT, body).await {
        Err(_) => return plain(StatusCode::REQUEST_TIMEOUT, "the request body took too long"),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return plain(StatusCode::PAYLOAD_TOO_LARGE, format!("request body over {REQUEST_BYTES_MAX} bytes"))
        }
        Ok(Err(e)) => return plain(StatusCode::BAD_REQUEST, format!("reading the request: {e}")),
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let Ok(body) = String::from_utf8(body.to_vec()) else {
        return plain(StatusCode::BAD_REQUEST, "the request body is not UTF-8");
    };
    let request = match AddCheckpoint::parse(&body) {
        Ok(request) => request,
        Err(e) => return refusal(e),
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let outcome = tokio::task::spawn_blocking(move || shared.add(&request, now)).await;
    match outcome {
        Ok(Ok(lines)) => {
            let body: String = lines.iter().map(NoteSignature::to_line).collect();
            text(StatusCode::OK, "text/plain; charset=utf-8", body)
        }
        Ok(Err(Refusal::Witness(e))) => refusal(e),
        Ok(Err(Refusal::Persist(why))) => {
            eprintln!("fiscus witness: cannot persist the state: {why}");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "the witness could not persist its state; nothing was cosigned")
        }
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, format!("the witness failed: {e}")),
    }
}

/// The answer to a refusal, with the spec's status; a 409 on the old size carries the held size
/// as `text/x.tlog.size`.
fn refusal(e: WitnessError) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    if matches!(e, WitnessError::RootConflict { .. } | WitnessError::BadProof(_)) {
        // Possible evidence of a log showing two histories: keep a trace.
        eprintln!("fiscus witness: refused ({}): {e}", status.as_u16());
    }
    match e.size_body() {
        Some(size) => text(status, "text/x.tlog.size", size),
        None => plain(status, e),
    }
}

/// Makes the state folder `dir` (0700) when there is none; warns once when group or others may
/// read it.
fn make_state_dir(dir: &Path) -> Result<(), Failure> {
    if let Some(warning) = private::create_dir(dir, "witness state folder").map_err(Failure::from)? {
        eprintln!("fiscus witness: warning: {warning}");
    }
    Ok(())
}

/// Loads the cosigner key of `dir` (made by [`make_state_dir`]), or makes one named `name` (file
/// 0600) when there is none. A key file group or others may write is refused; one they may read is warned about.
fn load_or_make_key(dir: &Path, name: Option<&str>) -> Result<Cosigner, Failure> {
    let path = dir.join(KEY_FILE);
    // The link itself: a link there (even one to nowhere) is refused, as a pipe or a device is,
    // before any mode advice (`chmod` would change what it names).
    if std::fs::symlink_metadata(&path).is_ok() {
        if let Some(warning) = private::check_file(&path, "witness key", Links::Refuse).map_err(Failure::from)? {
            eprintln!("fiscus witness: warning: {warning}");
        }
        let text = crate::files::read_named(&path, KEY_FILE_BYTES_MAX, "witness key").map_err(Failure::other)?;
        let cosigner = Cosigner::from_signer_key(text.trim())
            .map_err(|e| Failure::other(format!("{}: not a witness key: {e}", path.display())))?;
        if let Some(name) = name {
            if name != cosigner.name() {
                return Err(Failure::usage(format!(
                    "the key in {} is named {:?}, not {name:?}: drop --name or use another state folder",
                    path.display(),
                    cosigner.name()
                )));
            }
        }
        return Ok(cosigner);
    }
    let Some(name) = name else {
        return Err(Failure::usage(format!(
            "{} holds no key: give --name NAME (a schema-less URL such as witness.example.org/w1) to make one",
            dir.display()
        )));
    };
    let cosigner = Cosigner::generate(name).map_err(|e| Failure::usage(format!("--name {name:?}: {e}")))?;
    write_durably(dir, KEY_FILE, format!("{}\n", cosigner.signer_key()).as_bytes())?;
    Ok(cosigner)
}

/// The file holding the latest checkpoint of `origin` (origins may hold `/`, so they are hashed).
fn checkpoint_file(origin: &str) -> String {
    let digest = blake3::hash(origin.as_bytes());
    format!("{}.checkpoint", &digest.to_hex()[..32])
}

fn persist_checkpoint(dir: &Path, origin: &str, note: &str) -> std::io::Result<()> {
    let logs = dir.join(LOGS_DIR);
    if !logs.exists() {
        private::create_dir(&logs, "witness logs folder")?;
    }
    write_durably(&logs, &checkpoint_file(origin), note.as_bytes())
}

/// Writes `bytes` to `dir/name` so that a crash leaves the old file or the new one, whole: a
/// temporary file (0600) in the same folder, synced, renamed over the old one, the folder synced.
fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(dir.join(name)).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Restores the held checkpoint of every configured log from the state folder. A file that does
/// not open under its log's keys is refused (a witness must not forget what it cosigned); files of
/// logs no longer configured are left alone.
fn restore(dir: &Path, witness: &mut Witness, origins: &[String]) -> Result<(), Failure> {
    let logs = dir.join(LOGS_DIR);
    for origin in origins {
        let path = logs.join(checkpoint_file(origin));
        let note = match crate::files::read_text(&path, fiscus_tlog::note::NOTE_BYTES_MAX as u64) {
            Ok(note) => note,
            Err(crate::files::FileError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Failure::other(e.message(&path.display().to_string(), "kept checkpoint"))),
        };
        witness.restore(&note).map_err(|e| {
            Failure::other(format!(
                "{}: the held checkpoint of {origin:?} does not open under its log key ({e}); refusing to start \
                 without it",
                path.display()
            ))
        })?;
        if witness.latest(origin).is_none() {
            return Err(Failure::other(format!("{}: holds the checkpoint of another log", path.display())));
        }
    }
    Ok(())
}
