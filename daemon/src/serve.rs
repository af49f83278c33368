//! Starting and stopping the server: open the store (verifying it), start the writer thread, bind,
//! serve Ledger and Audit behind the token interceptor next to gRPC health and reflection (every call
//! in the access log, `access.rs`; connections, streams and calls bounded, `connections.rs` and the
//! `limits`), and on
//! SIGTERM or Ctrl-C stop accepting calls, let the calls in flight finish (the writer answers every
//! request it has taken), close the store and exit.

use std::error::Error;
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use fiscus_ledger::files::{read_bounded, Links};
use fiscus_ledger::private;
use fiscus_ledger::replay::ReplayOptions;
use fiscus_ledger::store::Store;
use fiscus_proto::pb::audit_server::AuditServer;
use fiscus_proto::pb::ledger_server::LedgerServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tracing::{error, info, warn};

use crate::access::{AccessLogLayer, LogFormat};
use crate::audit_service::AuditService;
use crate::auth::Authenticator;
use crate::config::Settings;
use crate::ledger_service::LedgerService;
use crate::slots::SubscriberSlots;
use crate::state::Shared;
use crate::status::contract_status;
use crate::writer::Writer;

/// The services whose health is reported, besides the server as a whole ("").
const SERVICES: [&str; 2] =
    [fiscus_proto::pb::ledger_server::SERVICE_NAME, fiscus_proto::pb::audit_server::SERVICE_NAME];

/// Runs the daemon until it is told to stop.
pub fn run(settings: Settings) -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    match settings.log_format {
        LogFormat::Text => {
            tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init()
        }
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(std::io::stderr)
            .init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("fiscusd").build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fiscusd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = %e, "fiscusd stopped");
            eprintln!("fiscusd: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> Result<(), Box<dyn Error + Send + Sync>> {
    // SIGHUP is taken from the start: one sent while the store opens (the port already accepts
    // connections) ended the daemon without a word; it now reloads the tokens once they serve.
    let hangup = hangup_signal();
    let limits = settings.limits.clone();
    // A file or a device given as the folder is said to be one, not "no store: give --create".
    if let Some(kind) = fiscus_ledger::files::not_a_folder(&settings.data) {
        return Err(format!(
            "--data {} is {kind}, not a folder: a store is a folder; give --data the folder that holds the books",
            settings.data.display()
        )
        .into());
    }
    // Before anything makes the folder: a path with no store is refused unless asked to create.
    if !settings.create && !fiscus_ledger::store::present(&settings.data) {
        return Err(format!(
            "no store in {}: to make a new, empty store there give --create (or `create = true` in the config); \
             to serve existing books, give --data the folder that holds them",
            settings.data.display()
        )
        .into());
    }
    // The operator's files are checked and read before the data folder is made: a start refused
    // for a bad tokens file or certificate leaves no empty folder behind.
    for warning in private_files(&settings)? {
        warn!("{warning}");
    }
    let tokens = crate::tokens::load(&settings.tokens)?;
    // A certificate no client can accept is refused now, in words, not at every handshake.
    let tls = settings.tls.as_ref().map(crate::tls::server_config).transpose()?;
    // The address is taken before the store is replayed, so that a port in use is said at once
    // (not after a full verification), naming the address; and before --create makes the data
    // folder, which a start refused for its port left empty behind it.
    crate::connections::raise_file_limit(limits.connections_max);
    let listener = TcpListener::bind(settings.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e} (is another fiscusd running there?)", settings.listen))?;
    if let Some(warning) = private::create_dir(&settings.data, "data folder").map_err(|e| named(&settings.data, e))? {
        warn!("{warning}");
    }
    if tokens.is_empty() {
        warn!(tokens = %settings.tokens.display(), "the tokens file holds no token: every call will be refused");
    }
    if settings.tls.is_none() && !settings.listen.ip().is_loopback() {
        warn!(
            address = %settings.listen,
            "listening in plaintext on an address other machines can reach: bearer tokens and the books travel in \
             clear; give --tls-cert and --tls-key, or listen on 127.0.0.1"
        );
    }
    let data = settings.data.clone();
    info!(data = %data.display(), "opening the store and verifying every chain");
    let opening = std::time::Instant::now();
    let origin = settings.log_origin.clone();
    let (store, report) = tokio::task::spawn_blocking(move || {
        let progress = |records: u64| info!(records, "verifying the store");
        let (mut store, report) = Store::open_reporting(&data, ReplayOptions::default(), Some(&progress))?;
        let key_path = data.join(crate::log_key::KEY_FILE);
        let had_key = std::fs::symlink_metadata(&key_path).is_ok();
        let (signer, warning) = crate::log_key::load_or_create(&data, &origin)?;
        // The log's identity never changes silently: a key made now, or another key, on a store
        // whose checkpoints it did not sign would sign every new one under another identity, and
        // every client and witness that pinned the log's key would refuse them.
        if let Some((size, note)) = store.reader().latest_checkpoint()? {
            if let Err(e) = fiscus_tlog::open_checkpoint(&note, &origin, &[signer.verifier()]) {
                if !had_key {
                    // (the key just made is no one's: the store's own is to be put back)
                    let _ = std::fs::remove_file(&key_path);
                    return Err(format!(
                        "{} is missing, and the store's checkpoints (the latest of size {size}) were signed with it: \
                         restore it from a backup; fiscusd does not give a log another key",
                        key_path.display()
                    )
                    .into());
                }
                return Err(format!(
                    "{} is not the key that signed the store's checkpoints under origin {origin:?} (the latest, of \
                     size {size}: {e}): put the store's own key back, or give the origin it was made with \
                     (--log-origin); fiscusd does not give a log another key",
                    key_path.display()
                )
                .into());
            }
        }
        if let Some(w) = warning {
            warn!("{w}");
        }
        info!(origin = %origin, key = %signer.verifier_key(), "transparency log key");
        store.set_log_signer(fiscus_ledger::store::LogSigner { origin, signer })?;
        Ok::<_, Box<dyn Error + Send + Sync>>((store, report))
    })
    .await??;
    info!(
        data = %settings.data.display(),
        events = report.events,
        chains = report.chains,
        commits = report.commits,
        elapsed_ms = opening.elapsed().as_millis() as u64,
        "store opened and verified"
    );
    // The commit log behind the commits it synced and answered: no project's books are known
    // whole (any may miss those commits), so nothing is served from it.
    if let Some(d) = report.damage.iter().find(|d| d.project == fiscus_ledger::replay::COMMIT_LOG) {
        return Err(format!(
            "the store in {} is damaged, and nothing is served from it: {}; `fiscus --store {} verify` says what \
             it holds",
            settings.data.display(),
            d.problem,
            settings.data.display()
        )
        .into());
    }
    for d in &report.damage {
        error!(project = %d.project, seq = d.seq, problem = %d.problem, "chain failed verification");
    }
    let damaged = !report.damage.is_empty();
    if damaged {
        error!("writes are refused until an operator acts; reads of intact projects go on: health NOT_SERVING");
    }
    let damage = store.damage().to_vec();
    let writer = Writer::spawn(store, limits.queue_depth_max, limits.group_requests_max)?;
    // Each new checkpoint goes to the configured witnesses from tasks of their own.
    crate::witnesses::spawn(
        settings.witnesses.clone(),
        writer.log.clone(),
        writer.reader.clone(),
        writer.handle.clone(),
    );
    let (stop, stopping) = watch::channel(false);
    let shared = Arc::new(Shared {
        snapshot: writer.snapshot.clone(),
        log: writer.log.clone(),
        reader: writer.reader.clone(),
        writer: writer.handle.clone(),
        damage,
        limits: limits.clone(),
        subscribers: SubscriberSlots::new(limits.subscribers_max, limits.subscribers_per_principal_max),
        verifying: AtomicBool::new(false),
        shutdown: stopping.clone(),
    });

    let auth = Authenticator::new(tokens);
    reload_tokens_on_hangup(hangup, auth.clone(), settings.tokens.clone());
    let (health, health_service) = tonic_health::server::health_reporter();
    // Reflection v1, and v1alpha for the clients that speak only it (Python's grpcio-reflection,
    // older generic tools), both from the same descriptor sets.
    let reflection_of = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(fiscus_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection = reflection_of().build_v1()?;
    let reflection_v1alpha = reflection_of().build_v1alpha()?;
    let ledger =
        LedgerServer::new(LedgerService::new(shared.clone())).max_decoding_message_size(limits.request_bytes_max);
    let check = auth.clone();
    let ledger = InterceptedService::new(ledger, move |req| check.check(req));
    let audit = AuditServer::new(AuditService::new(shared.clone())).max_decoding_message_size(limits.request_bytes_max);
    let check = auth.clone();
    let audit = InterceptedService::new(audit, move |req| check.check(req));

    let ms = Duration::from_millis;
    // The access log is the outermost layer: it sees every call, and the final status.
    let mut builder = Server::builder()
        .max_concurrent_streams(limits.streams_per_connection_max)
        .timeout(ms(limits.request_timeout_ms))
        .http2_keepalive_interval(Some(ms(limits.keepalive_interval_ms)))
        .http2_keepalive_timeout(Some(ms(limits.keepalive_timeout_ms)))
        .layer(AccessLogLayer::new(settings.log_format))
        .layer(tower::util::MapResponseLayer::new(contract_status::<tonic::body::Body>))
        // innermost: a small answer leaves in one write (`frames.rs`)
        .layer(tower::util::MapResponseLayer::new(crate::frames::small_frames(crate::frames::piece_bytes(
            tls.is_some(),
        ))));
    if let Some(tls) = tls {
        builder = builder.tls_config(tls.timeout(ms(limits.tls_handshake_timeout_ms)))?;
    }
    let local = listener.local_addr()?;
    let router = builder
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_service(ledger)
        .add_service(audit);
    let incoming = crate::connections::accept(listener, limits.connections_max, ms(limits.idle_timeout_ms));
    let mut until = stopping.clone();
    let mut server = tokio::spawn(router.serve_with_incoming_shutdown(incoming, async move {
        let _ = until.wait_for(|stop| *stop).await;
    }));
    let signal = shutdown_signal();
    // A store that failed verification is served read-only until an operator acts (DESIGN.md,
    // "Store"): the server as a whole and Ledger (whose writes are refused) say NOT_SERVING, as
    // after a failed write; Audit, where the damage is examined, and the reads go on.
    let writes = if damaged { ServingStatus::NotServing } else { ServingStatus::Serving };
    health.set_service_status("", writes).await;
    health.set_service_status(fiscus_proto::pb::ledger_server::SERVICE_NAME, writes).await;
    health.set_service_status(fiscus_proto::pb::audit_server::SERVICE_NAME, ServingStatus::Serving).await;
    // Disk trouble: once a write has failed the store refuses writes until a restart, and health
    // says so (the server as a whole and Ledger NOT_SERVING, so that a supervisor restarts fiscusd);
    // Audit and the reads go on from the last published snapshot.
    let mut refusing = writer.refusing_writes.clone();
    let reporter = health.clone();
    tokio::spawn(async move {
        let Ok(why) = refusing.wait_for(Option::is_some).await.map(|w| w.clone().unwrap_or_default()) else { return };
        error!(reason = %why, "writes are refused until fiscusd is restarted: health NOT_SERVING");
        for s in ["", fiscus_proto::pb::ledger_server::SERVICE_NAME] {
            reporter.set_service_status(s, ServingStatus::NotServing).await;
        }
    });
    let scheme = if settings.tls.is_some() { "https" } else { "http" };
    // The one line on stdout, for scripts and tests that start fiscusd on port 0.
    println!("fiscusd listening on {local}");
    std::io::stdout().flush()?;
    info!(address = %local, scheme, "serving");

    let mut failure = writer.failure.clone();
    let mut failed = None;
    tokio::select! {
        signal = signal => info!(signal, "shutting down: finishing the calls in flight"),
        f = failure.wait_for(Option::is_some) => {
            failed = Some(f.map(|f| f.clone().unwrap_or_default()).unwrap_or_default());
            error!("the writer failed: NOT_SERVING, finishing the calls in flight, then exiting non-zero");
        }
        ended = &mut server => {
            writer.stop().await;
            return match ended {
                Ok(Ok(())) => Err("the server ended on its own".into()),
                Ok(Err(e)) => Err(e.into()),
                Err(e) => Err(e.into()),
            };
        }
    }
    health.set_service_status("", ServingStatus::NotServing).await;
    for s in SERVICES {
        health.set_service_status(s, ServingStatus::NotServing).await;
    }
    let _ = stop.send(true);
    match tokio::time::timeout(Duration::from_millis(limits.shutdown_grace_ms), &mut server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => warn!(error = %e, "the server ended with an error"),
        Ok(Err(e)) => warn!(error = %e, "the server task failed"),
        Err(_) => {
            warn!(grace_ms = limits.shutdown_grace_ms, "calls still in flight after the grace period; stopping anyway");
            server.abort();
        }
    }
    drop(shared);
    // Every request the writer took is answered and durable before the store closes.
    writer.stop().await;
    if let Some(what) = failed {
        // Exit non-zero: a supervisor restarts fiscusd, and replay verifies the store on open.
        return Err(format!("the writer failed ({what}); restart fiscusd to verify the store and serve again").into());
    }
    info!("stopped");
    Ok(())
}

/// Checks the files other local users must not reach (see `fiscus_ledger::private`) that the
/// operator names: the tokens file and the TLS key, each a regular file (anything else is refused
/// as such, before any `chmod` advice). One that group or others may write is an error naming the
/// `chmod` that fixes it; one they may read gives a warning back. (The data folder is checked when
/// it is made, after these.)
fn private_files(settings: &Settings) -> Result<Vec<String>, Box<dyn Error + Send + Sync>> {
    let mut warnings = Vec::new();
    warnings.extend(crate::tokens::check_private(&settings.tokens)?);
    if let Some(tls) = &settings.tls {
        warnings.extend(private::check_file(&tls.key, "TLS key", Links::Follow).map_err(|e| named(&tls.key, e))?);
    }
    Ok(warnings)
}

/// An error of `fiscus_ledger::private` as said to the operator: its refusals name the file
/// themselves; other errors (a missing file) get its name here.
fn named(path: &std::path::Path, e: std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::InvalidInput => e.to_string(),
        _ => format!("{}: {e}", path.display()),
    }
}

/// True when the file at `path` holds nothing but white space (it is a regular file: the reload
/// read it just now).
fn blank(path: &std::path::Path) -> bool {
    read_bounded(path, crate::tokens::TOKENS_FILE_BYTES_MAX, "tokens file", Links::Follow)
        .is_ok_and(|b| b.iter().all(u8::is_ascii_whitespace))
}

/// How long a reload of the tokens file may take before it is given up (the tokens in force stay).
const TOKENS_RELOAD_WAIT: Duration = Duration::from_secs(10);

/// SIGHUP's stream, its handler installed now (without one SIGHUP ends the process without a
/// word); a signal that comes before the stream is read is kept for it. `None` when it cannot be
/// had (logged).
#[cfg(unix)]
fn hangup_signal() -> Option<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{signal, SignalKind};
    signal(SignalKind::hangup())
        .map_err(|e| warn!(error = %e, "cannot listen for SIGHUP; restart fiscusd to reload the tokens file"))
        .ok()
}

#[cfg(not(unix))]
fn hangup_signal() -> Option<()> {
    None
}

/// On SIGHUP (`hangup`, from [`hangup_signal`]), reads the tokens file again (with the same
/// checks as at start) and makes it the known set, logging which names were added, removed or
/// changed; connections and calls in flight are untouched. A file that cannot be used is logged
/// and the tokens in force stay.
#[cfg(unix)]
fn reload_tokens_on_hangup(hangup: Option<tokio::signal::unix::Signal>, auth: Authenticator, path: std::path::PathBuf) {
    {
        let Some(mut hangup) = hangup else { return };
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                // Off the runtime, and bounded: a file on a stalled mount must not stop every call.
                let at = path.clone();
                let read = tokio::task::spawn_blocking(move || {
                    crate::tokens::check_private(&at).map_err(|e| e.to_string()).and_then(|warning| {
                        if let Some(w) = warning {
                            warn!("{w}");
                        }
                        let tokens = crate::tokens::load(&at).map_err(|e| e.to_string())?;
                        let emptied = tokens.is_empty() && blank(&at);
                        Ok((tokens, emptied))
                    })
                });
                let loaded = match tokio::time::timeout(TOKENS_RELOAD_WAIT, read).await {
                    Ok(Ok(loaded)) => loaded,
                    Ok(Err(e)) => Err(format!("the reload failed: {e}")),
                    Err(_) => Err(format!("not read within {} s", TOKENS_RELOAD_WAIT.as_secs())),
                };
                // (a TOML error spans lines, with a caret under the fault: one log line says it)
                let loaded = loaded
                    .map_err(|e| e.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" "));
                match loaded {
                    // a file emptied, or caught while an editor writes it, would lock every caller out;
                    // `token revoke` of the last token writes `token = []`, which is applied
                    Ok((_, true)) => error!(
                        tokens = %path.display(),
                        "SIGHUP: the tokens file is empty (truncated, or caught while written?); the tokens in \
                         force stay (`token revoke` of the last token writes `token = []`)"
                    ),
                    Ok((tokens, false)) => {
                        let count = tokens.len();
                        let changes = auth.replace(tokens);
                        info!(
                            tokens = %path.display(),
                            count,
                            added = ?changes.added,
                            removed = ?changes.removed,
                            changed = ?changes.changed,
                            "SIGHUP: tokens file reloaded{}",
                            if changes.is_empty() { " (no change)" } else { "" }
                        );
                    }
                    Err(e) => error!(
                        tokens = %path.display(),
                        error = %e,
                        "SIGHUP: the tokens file cannot be used; the tokens in force stay"
                    ),
                }
            }
        });
    }
}

#[cfg(not(unix))]
fn reload_tokens_on_hangup(_hangup: Option<()>, _auth: Authenticator, _path: std::path::PathBuf) {}

/// Listens for SIGTERM at once (a SIGTERM that came before the handler was installed would kill the
/// daemon without a clean shutdown) and returns a future that waits for it or Ctrl-C (SIGINT) and
/// names it.
fn shutdown_signal() -> std::pin::Pin<Box<dyn std::future::Future<Output = &'static str> + Send>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => Box::pin(async move {
                tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = tokio::signal::ctrl_c() => "SIGINT",
                }
            }),
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the daemon");
                Box::pin(async {
                    let _ = tokio::signal::ctrl_c().await;
                    "SIGINT"
                })
            }
        }
    }
    #[cfg(not(unix))]
    {
        Box::pin(async {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        })
    }
}
