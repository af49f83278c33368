//! `fiscus-bench grpc`: load figures of `fiscusd` over gRPC, each next to a bare tonic baseline
//! measured in the same run.
//!
//! It starts the real `fiscusd` as a child process on a fresh temporary store (`127.0.0.1:0`, a
//! tokens file made with `fiscusd token add`), and the echo server of [`crate::echo`] as another
//! child (`fiscus-bench echo-server`: `grpc.health.v1.Health/Check` answered at once), opens a few
//! projects with an opening balance, then measures with `--clients` concurrent clients, each with
//! one request in flight, spread over `--connections` HTTP/2 connections (one each by default):
//!
//! 1. durable commits for `--seconds`: every request is one `RecordCommit` of one
//!    `ContributionReceived` with its own event id, into the projects in turn; an answer means the
//!    event is synced to disk. Afterwards the chains' heads must hold exactly the acknowledged events;
//! 2. balance queries (`GetBalance` of the projects in turn) and the echo baseline, alternating in
//!    `--slices` slices that add up to `--seconds` each, so that both see the same machine when
//!    other load comes and goes. Both servers run the same way (own process, tokio's multi-thread
//!    runtime, `TCP_NODELAY`) and get the same clients, bearer header included.
//!
//! Each phase is bounded by its time and by `--max-requests`. Each request's latency is kept in
//! nanoseconds; p50 and p99 are nearest-rank percentiles of the sorted samples. A rate is the
//! answered requests (or committed events) over the wall time from the phase's start until its last
//! client has its last answer. The writer's group sizes come from the daemon's own "commit group"
//! log lines; CPU per request, by thread, from Linux's `/proc/PID/task/*/schedstat`, and the load of
//! everything else from `/proc/stat`. Both children are killed when the command ends, also on an
//! error. Progress goes to stderr; the one JSON object to stdout.

use std::collections::BTreeMap;
use std::error::Error;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fiscus_proto::pb;
use fiscus_proto::pb::event::Kind;
use fiscus_proto::pb::ledger_client::LedgerClient;
use serde_json::json;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::Status;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use fiscus_bench::crash::{wait_serving, Bearer};

use crate::echo;

pub mod logcost;

/// Errors of this command.
type BoxError = Box<dyn Error + Send + Sync>;

/// How long a child may take to print its address and report SERVING.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long a phase may run past `--seconds` for its last answers before it is a failure.
const PHASE_GRACE: Duration = Duration::from_secs(60);
/// The first words of `fiscusd`'s one line on stdout, before its address.
const FISCUSD_LISTENING: &str = "fiscusd listening on ";
/// The amount each project starts with.
const OPENING_BALANCE: &str = "100000.00";
/// The amount of each measured contribution.
const CONTRIBUTION: &str = "10.00";

/// Arguments of `fiscus-bench grpc`.
#[derive(clap::Args, Debug)]
pub struct GrpcArgs {
    /// Concurrent clients, each with one request in flight at a time.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Length of each measured phase, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// HTTP/2 connections the clients share (client i uses connection i mod N) [default: one per
    /// client].
    #[arg(long)]
    connections: Option<usize>,
    /// Projects the commits and queries go to, in turn.
    #[arg(long, default_value_t = 16)]
    projects: usize,
    /// Balance queries and echo calls alternate in this many slices of `--seconds / N` each, so
    /// that both see the same machine (other load on a shared machine comes and goes).
    #[arg(long, default_value_t = 5)]
    slices: u32,
    /// Most requests of one phase, over all clients (bounds its memory and time).
    #[arg(long, default_value_t = 5_000_000)]
    max_requests: u64,
    /// The `fiscusd` binary [default: next to this executable].
    #[arg(long, value_name = "PATH")]
    fiscusd: Option<PathBuf>,
}

/// Runs the command and prints its JSON object.
pub fn run(args: &GrpcArgs) -> Result<(), Box<dyn Error>> {
    if args.clients == 0 || args.seconds == 0 || args.projects == 0 || args.slices == 0 {
        return Err("--clients, --seconds, --projects and --slices must be at least 1".into());
    }
    let connections = args.connections.unwrap_or(args.clients).clamp(1, args.clients);
    let fiscusd = find_fiscusd(args.fiscusd.as_deref())?;
    let dir = tempfile::Builder::new().prefix("fiscus-bench-grpc-").tempdir()?;
    eprintln!("fiscusd: {}; store and log in {}", fiscusd.display(), dir.path().display());
    let load_before = loadavg();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("fiscus-bench").build()?;
    // The children are killed when their guards drop: at the end of this block, or on an error.
    let report = runtime.block_on(measure(args, connections, &fiscusd, dir.path())).map_err(|e| e.to_string())?;
    let mut report = report;
    report["loadavg_before"] = json!(load_before);
    report["loadavg_after"] = json!(loadavg());
    println!("{report}");
    Ok(())
}

/// A `fiscusd` started on a new store in `dir/data` (`--create`), with an admin and an accountant
/// token, `extra` arguments, on a loopback port it picks, at fiscusd's default log level (stated so
/// that the caller's RUST_LOG does not change the work), its log in `dir/fiscusd.log`; answered
/// once it is listening (not yet SERVING). Returns the server, its log, the admin and accountant
/// tokens.
fn start_fiscusd(
    fiscusd: &Path,
    dir: &Path,
    extra: &[&str],
) -> Result<(Server, std::path::PathBuf, String, String), BoxError> {
    let tokens = dir.join("tokens.toml");
    let admin = add_token(fiscusd, &tokens, "admin", "bench:admin")?;
    let accountant = add_token(fiscusd, &tokens, "accountant", "bench:accountant")?;
    let log = dir.join("fiscusd.log");
    let mut daemon = Command::new(fiscusd);
    daemon
        .arg("--data")
        .arg(dir.join("data"))
        .arg("--create")
        .arg("--tokens")
        .arg(&tokens)
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log)?));
    let server = Server::start("fiscusd", daemon, FISCUSD_LISTENING, &log)?;
    Ok((server, log, admin, accountant))
}

/// The three phases against freshly started servers; returns the report without the load figures.
async fn measure(
    args: &GrpcArgs,
    connections: usize,
    fiscusd: &Path,
    dir: &Path,
) -> Result<serde_json::Value, BoxError> {
    let (daemon, log, admin, accountant) = start_fiscusd(fiscusd, dir, &[])?;
    eprintln!("fiscusd (pid {}) listening on {}", daemon.pid(), daemon.addr);
    wait_serving(daemon.addr, pb::ledger_server::SERVICE_NAME, START_DEADLINE).await?;

    // The echo server starts now and idles until its slices of phase 2.
    let echo_log = dir.join("echo.log");
    let mut echo_cmd = Command::new(std::env::current_exe()?);
    echo_cmd.arg("echo-server").stdin(Stdio::piped()).stderr(Stdio::from(std::fs::File::create(&echo_log)?));
    let echo_server = Server::start("echo server", echo_cmd, echo::LISTENING, &echo_log)?;
    eprintln!("echo server (pid {}) listening on {}", echo_server.pid(), echo_server.addr);
    wait_serving(echo_server.addr, "", START_DEADLINE).await?;

    let projects: Vec<String> = (0..args.projects).map(|i| format!("bench-{i:03}")).collect();
    let admin_channel = connect(daemon.addr).await?;
    open_projects(&mut LedgerClient::with_interceptor(admin_channel, Bearer::new(&admin)?), &projects).await?;
    eprintln!("opened {} projects with {OPENING_BALANCE} USD each", projects.len());

    let channels = connect_all(daemon.addr, connections).await?;
    let echo_channels = connect_all(echo_server.addr, connections).await?;
    let bearer = Bearer::new(&accountant)?;
    let cap = (args.max_requests / args.clients as u64).max(1);
    let seconds = Duration::from_secs(args.seconds);

    // Phase 1: durable commits, one event per request.
    let log_start = file_len(&log);
    eprintln!("phase 1: {} clients recording one event per commit for {} s", args.clients, args.seconds);
    let commits = run_phase(args.clients, seconds, cap, daemon.pid(), |i| Commit {
        client: LedgerClient::with_interceptor(channels[i % channels.len()].clone(), bearer.clone()),
        id: i,
        projects: projects.clone(),
        prefix: String::new(),
    })
    .await?;
    let groups = commit_groups(&log, log_start, file_len(&log));
    commits.progress("commits", "events");

    // The chains hold every acknowledged event, once.
    let mut checker = LedgerClient::with_interceptor(channels[0].clone(), bearer.clone());
    let mut stored = 0u64;
    for p in &projects {
        let answer =
            checker.get_balance(pb::GetBalanceRequest { project: p.clone(), currency: None, as_of: None }).await?;
        // seq 1 opens the project, seq 2 is its opening balance.
        stored += answer.into_inner().head_seq.saturating_sub(2);
    }
    let heads_match = stored == commits.units;
    if !heads_match {
        eprintln!("warning: the chains hold {stored} measured events, the clients were told of {}", commits.units);
    }

    // Phase 2: balance queries and the trivial baseline, alternating, loaded the same way.
    let slices = args.slices;
    let slice = seconds / slices;
    let slice_cap = (cap / u64::from(slices)).max(1);
    eprintln!(
        "phase 2: {} clients asking balances, and calling the echo server, in {slices} alternating slices of {:.2} s",
        args.clients,
        slice.as_secs_f64()
    );
    let mut balances: Option<Phase> = None;
    let mut echoes: Option<Phase> = None;
    for _ in 0..slices {
        let b = run_phase(args.clients, slice, slice_cap, daemon.pid(), |i| Balance {
            client: LedgerClient::with_interceptor(channels[i % channels.len()].clone(), bearer.clone()),
            id: i,
            projects: projects.clone(),
        })
        .await?;
        balances = Some(match balances.take() {
            Some(all) => all.merge(b),
            None => b,
        });
        let e = run_phase(args.clients, slice, slice_cap, echo_server.pid(), |i| Echo {
            client: HealthClient::with_interceptor(echo_channels[i % echo_channels.len()].clone(), bearer.clone()),
        })
        .await?;
        echoes = Some(match echoes.take() {
            Some(all) => all.merge(e),
            None => e,
        });
    }
    let (Some(balances), Some(echoes)) = (balances, echoes) else {
        return Err("phase 2 ran no slice".into());
    };
    balances.progress("balance queries", "queries");
    echoes.progress("echo calls", "calls");
    drop(channels);
    drop(echo_channels);
    drop(echo_server);
    drop(daemon);

    let committed_per_s = commits.rate();
    let balance_per_s = balances.rate();
    let echo_per_s = echoes.rate();
    // In parts: one json! of all of it goes past the macro recursion limit.
    let mut report = json!({
        "clients": args.clients,
        "connections": connections,
        "seconds": args.seconds,
        "slices": slices,
        "projects": args.projects,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "committed_events_per_s": committed_per_s.round(),
        "committed_events": commits.units,
        "commit_p50_ms": ms(commits.percentile(500)),
        "commit_p99_ms": ms(commits.percentile(990)),
        "commit_max_ms": ms(commits.percentile(1000)),
        "commit_refusals": commits.errors,
        "commit_first_refusal": commits.first_error,
        "commit_heads_match": heads_match,
    });
    let writer = json!({
        "commit_groups": groups.groups,
        "commit_group_requests_mean": round2(groups.mean_requests()),
        "commit_group_requests_max": groups.max_requests,
        "commit_group_ms_mean": round3(groups.mean_us() / 1_000.0),
        "writer_busy_fraction": round3(groups.busy_us as f64 / (commits.elapsed.as_secs_f64() * 1e6)),
        "writer_cpu_us_per_event":
            commits.server.as_ref().map(|c| round2(c.writer_ns as f64 / 1e3 / commits.units.max(1) as f64)),
        "writer_runqueue_wait_fraction":
            commits.server.as_ref().map(|c| round3(c.writer_wait_ns as f64 / commits.elapsed.as_nanos().max(1) as f64)),
        "daemon_cpu_us_per_commit": commits.server_cpu_us_per_call(),
        "daemon_threads_cpu_us_per_commit": commits.server_threads_us_per_call(),
        "client_cpu_us_per_commit": commits.client_cpu_us_per_call(),
        "others_cores_during_commits": commits.others_cores(),
    });
    let reads = json!({
        "balance_queries_per_s": balance_per_s.round(),
        "balance_p50_ms": ms(balances.percentile(500)),
        "balance_p99_ms": ms(balances.percentile(990)),
        "balance_errors": balances.errors,
        "daemon_cpu_us_per_balance": balances.server_cpu_us_per_call(),
        "daemon_threads_cpu_us_per_balance": balances.server_threads_us_per_call(),
        "client_cpu_us_per_balance": balances.client_cpu_us_per_call(),
        "others_cores_during_balances": balances.others_cores(),
        "echo_queries_per_s": echo_per_s.round(),
        "echo_p50_ms": ms(echoes.percentile(500)),
        "echo_p99_ms": ms(echoes.percentile(990)),
        "echo_errors": echoes.errors,
        "echo_server_cpu_us_per_call": echoes.server_cpu_us_per_call(),
        "client_cpu_us_per_echo": echoes.client_cpu_us_per_call(),
        "others_cores_during_echo": echoes.others_cores(),
        "balance_over_echo": round3(balance_per_s / echo_per_s),
        "echo": "grpc.health.v1.Health/Check on a bare tonic server in a child process",
    });
    for part in [writer, reads] {
        if let (Some(all), serde_json::Value::Object(part)) = (report.as_object_mut(), part) {
            all.extend(part);
        }
    }
    Ok(report)
}

/// `--fiscusd PATH`, else `fiscusd` next to this executable.
fn find_fiscusd(given: Option<&Path>) -> Result<PathBuf, Box<dyn Error>> {
    if let Some(path) = given {
        return if path.is_file() {
            Ok(path.to_owned())
        } else {
            Err(format!("--fiscusd {}: no such file", path.display()).into())
        };
    }
    let exe = std::env::current_exe()?;
    let beside = exe.with_file_name(format!("fiscusd{}", std::env::consts::EXE_SUFFIX));
    if beside.is_file() {
        Ok(beside)
    } else {
        Err(format!(
            "no fiscusd next to {}: run `cargo build --release -p fiscus-daemon` first (with the same target \
             directory), or pass --fiscusd PATH",
            exe.display()
        )
        .into())
    }
}

/// Makes a token with `fiscusd token add` and returns it.
fn add_token(fiscusd: &Path, tokens: &Path, role: &str, name: &str) -> Result<String, BoxError> {
    let out = Command::new(fiscusd)
        .args(["token", "add", "--tokens"])
        .arg(tokens)
        .args(["--role", role, "--name", name])
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(format!("fiscusd token add failed: {}", String::from_utf8_lossy(&out.stderr).trim()).into());
    }
    let token = String::from_utf8(out.stdout)?.trim().to_owned();
    if token.is_empty() {
        return Err("fiscusd token add printed no token".into());
    }
    Ok(token)
}

/// A child server process; killed and reaped when dropped.
struct Server {
    name: &'static str,
    child: Child,
    /// Where it listens.
    addr: SocketAddr,
}

impl Server {
    /// Spawns `command` with stdout piped, and waits for its line `<prefix><address>`.
    fn start(name: &'static str, mut command: Command, prefix: &str, log: &Path) -> Result<Server, BoxError> {
        let mut child = command.stdout(Stdio::piped()).spawn().map_err(|e| format!("cannot start {name}: {e}"))?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{name}: no stdout").into());
        };
        // From here on the guard kills the child, whatever happens.
        let mut server = Server { name, child, addr: SocketAddr::from(([127, 0, 0, 1], 0)) };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Reads every line, so the child never blocks on a full pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let line = rx
            .recv_timeout(START_DEADLINE)
            .map_err(|_| format!("{name} printed no address within {START_DEADLINE:?}; its log:\n{}", tail(log)))?;
        server.addr = line
            .strip_prefix(prefix)
            .and_then(|a| a.trim().parse().ok())
            .ok_or_else(|| format!("{name} printed {line:?}, not \"{prefix}ADDR\""))?;
        Ok(server)
    }

    /// Its process id.
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        match self.child.wait() {
            Ok(_) => {}
            Err(e) => eprintln!("could not reap {}: {e}", self.name),
        }
    }
}

/// The last lines of a log file, for error messages.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// The size of a file (0 when unreadable).
fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The 1, 5 and 15 minute load averages (Linux), if known.
fn loadavg() -> Option<Vec<f64>> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().take(3).map(|v| v.parse().ok()).collect()
}

/// An endpoint on `addr` over plain HTTP/2.
fn endpoint(addr: SocketAddr) -> Result<Endpoint, BoxError> {
    Ok(Endpoint::from_shared(format!("http://{addr}"))?.connect_timeout(Duration::from_secs(5)).tcp_nodelay(true))
}

/// One connected channel.
async fn connect(addr: SocketAddr) -> Result<Channel, BoxError> {
    Ok(endpoint(addr)?.connect().await?)
}

/// `n` channels, each its own connection.
async fn connect_all(addr: SocketAddr, n: usize) -> Result<Vec<Channel>, BoxError> {
    let mut channels = Vec::with_capacity(n);
    for _ in 0..n {
        channels.push(connect(addr).await?);
    }
    Ok(channels)
}

/// A Ledger client with a token.
type Ledger = LedgerClient<InterceptedService<Channel, Bearer>>;

/// Money in USD on the wire.
fn usd(amount: &str) -> Option<pb::Money> {
    Some(pb::Money { amount: amount.to_owned(), currency: "USD".to_owned() })
}

/// Opens every project in USD and records its opening balance.
async fn open_projects(admin: &mut Ledger, projects: &[String]) -> Result<(), BoxError> {
    for p in projects {
        admin
            .open_project(pb::OpenProjectRequest {
                event_id: format!("open-{p}"),
                project: p.clone(),
                effective_date: "2026-01-01".to_owned(),
                memo: "opened by fiscus-bench".to_owned(),
                reference: None,
                opened: Some(pb::ProjectOpened {
                    name: format!("Benchmark project {p}"),
                    kind: pb::ProjectKind::Conference.into(),
                    fee_bps: 500,
                    currency: "USD".to_owned(),
                    advance_limit: "0".to_owned(),
                }),
            })
            .await
            .map_err(|s| format!("opening {p}: {s}"))?;
        let opening = pb::Event {
            event_id: format!("opening-{p}"),
            project: p.clone(),
            effective_date: "2026-01-01".to_owned(),
            memo: "brought over from earlier books".to_owned(),
            reference: None,
            kind: Some(Kind::OpeningBalance(pb::OpeningBalance { amount: usd(OPENING_BALANCE), fund: None })),
        };
        admin
            .record_commit(pb::RecordCommitRequest {
                events: vec![opening],
                expected_seq: BTreeMap::new(),
                allow_same_receipt: false,
                dry_run: false,
            })
            .await
            .map_err(|s| format!("opening balance of {p}: {s}"))?;
    }
    Ok(())
}

/// One kind of request a client sends again and again. `call` sends the `k`th request of this
/// client and returns the units it did (events committed, or 1 for a query).
trait Call: Send + 'static {
    fn call(&mut self, k: u64) -> impl Future<Output = Result<u64, Status>> + Send;
}

/// Phase 1: one `ContributionReceived` per `RecordCommit`, into the projects in turn.
struct Commit {
    client: Ledger,
    id: usize,
    projects: Vec<String>,
    /// Set before the client's number in event ids, so that runs on one store do not collide.
    prefix: String,
}

impl Call for Commit {
    fn call(&mut self, k: u64) -> impl Future<Output = Result<u64, Status>> + Send {
        let project = &self.projects[(self.id + k as usize) % self.projects.len()];
        let event = pb::Event {
            event_id: format!("bench-{}{}-{k}", self.prefix, self.id),
            project: project.clone(),
            effective_date: "2026-03-01".to_owned(),
            memo: "benchmark donation".to_owned(),
            reference: None,
            kind: Some(Kind::ContributionReceived(pb::ContributionReceived {
                amount: usd(CONTRIBUTION),
                from: "Bench Donor".to_owned(),
                source: pb::ContributionSource::Donation.into(),
                fund: None,
                fee_bps: None,
            })),
        };
        let request = pb::RecordCommitRequest {
            events: vec![event],
            expected_seq: BTreeMap::new(),
            allow_same_receipt: false,
            dry_run: false,
        };
        async move {
            let answer = self.client.record_commit(request).await?.into_inner();
            Ok(if answer.duplicate { 0 } else { answer.positions.len() as u64 })
        }
    }
}

/// Phase 2: `GetBalance` of the projects in turn.
struct Balance {
    client: Ledger,
    id: usize,
    projects: Vec<String>,
}

impl Call for Balance {
    fn call(&mut self, k: u64) -> impl Future<Output = Result<u64, Status>> + Send {
        let project = self.projects[(self.id + k as usize) % self.projects.len()].clone();
        async move {
            let answer =
                self.client.get_balance(pb::GetBalanceRequest { project, currency: None, as_of: None }).await?;
            std::hint::black_box(answer);
            Ok(1)
        }
    }
}

/// Phase 3: the trivial unary call of the echo server.
struct Echo {
    client: HealthClient<InterceptedService<Channel, Bearer>>,
}

impl Call for Echo {
    async fn call(&mut self, _k: u64) -> Result<u64, Status> {
        let answer = self.client.check(HealthCheckRequest { service: String::new() }).await?;
        std::hint::black_box(answer);
        Ok(1)
    }
}

/// What one client of a phase saw.
#[derive(Default)]
struct Tally {
    /// Latency of each answered request, in nanoseconds.
    samples: Vec<u64>,
    /// Units done (events committed, or queries answered).
    units: u64,
    /// Refusals and failures by status code.
    errors: BTreeMap<String, u64>,
    /// The first refusal's message.
    first_error: Option<String>,
    /// When its last answer came.
    ended: Option<Instant>,
}

/// What a phase measured, over all its clients.
struct Phase {
    /// Every answered request's latency, in nanoseconds, sorted.
    samples: Vec<u64>,
    /// Units done.
    units: u64,
    /// Refusals and failures by status code.
    errors: BTreeMap<String, u64>,
    /// The first refusal's message.
    first_error: Option<String>,
    /// From the phase's start to its last answer.
    elapsed: Duration,
    /// CPU the server process used meanwhile (Linux only).
    server: Option<Cpu>,
    /// CPU this process (the clients) used meanwhile.
    client: Option<Cpu>,
    /// CPU the whole machine used meanwhile, in nanoseconds (Linux only).
    machine_busy_ns: Option<u64>,
}

impl Phase {
    /// Both phases as one: their samples, counts, times and CPU added up.
    fn merge(mut self, other: Phase) -> Phase {
        self.samples.extend(other.samples);
        self.samples.sort_unstable();
        self.units += other.units;
        for (code, n) in other.errors {
            *self.errors.entry(code).or_default() += n;
        }
        self.first_error = self.first_error.or(other.first_error);
        self.elapsed += other.elapsed;
        self.server = self.server.zip(other.server).map(|(a, b)| a.plus(b));
        self.client = self.client.zip(other.client).map(|(a, b)| a.plus(b));
        self.machine_busy_ns = self.machine_busy_ns.zip(other.machine_busy_ns).map(|(a, b)| a + b);
        self
    }

    /// Requests sent, answered or not.
    fn calls(&self) -> u64 {
        self.samples.len() as u64 + self.errors.values().sum::<u64>()
    }

    /// Nanoseconds as microseconds per request.
    fn per_call_us(&self, ns: u64) -> f64 {
        round2(ns as f64 / 1e3 / self.calls().max(1) as f64)
    }

    /// The server's CPU time per request, in microseconds.
    fn server_cpu_us_per_call(&self) -> Option<f64> {
        self.server.as_ref().map(|c| self.per_call_us(c.total_ns))
    }

    /// The server's CPU time per request by thread name, in microseconds.
    fn server_threads_us_per_call(&self) -> Option<BTreeMap<String, f64>> {
        self.server.as_ref().map(|c| c.threads.iter().map(|(name, ns)| (name.clone(), self.per_call_us(*ns))).collect())
    }

    /// The clients' CPU time per request, in microseconds.
    fn client_cpu_us_per_call(&self) -> Option<f64> {
        self.client.as_ref().map(|c| self.per_call_us(c.total_ns))
    }

    /// Cores that everything but the server and the clients kept busy on average (other processes,
    /// and the hypervisor's steal time on a virtual machine).
    fn others_cores(&self) -> Option<f64> {
        let ours = self.server.as_ref()?.total_ns + self.client.as_ref()?.total_ns;
        Some(round2(self.machine_busy_ns?.saturating_sub(ours) as f64 / self.elapsed.as_nanos().max(1) as f64))
    }

    /// Units per second.
    fn rate(&self) -> f64 {
        self.units as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The nearest-rank percentile, `per_mille` of 1000 (500: the median; 1000: the maximum).
    fn percentile(&self, per_mille: u64) -> u64 {
        let n = self.samples.len() as u64;
        if n == 0 {
            return 0;
        }
        let rank = (n * per_mille).div_ceil(1000).clamp(1, n);
        self.samples[(rank - 1) as usize]
    }

    /// One progress line on stderr.
    fn progress(&self, what: &str, units: &str) {
        eprintln!(
            "  {what}: {} {units} in {:.2} s ({:.0}/s), p50 {:.3} ms, p99 {:.3} ms, {} errors",
            self.units,
            self.elapsed.as_secs_f64(),
            self.rate(),
            ms(self.percentile(500)),
            ms(self.percentile(990)),
            self.errors.values().sum::<u64>()
        );
    }
}

/// Runs `clients` clients made by `make`, each sending requests one after another from a common
/// start until `seconds` have passed or it has sent `cap`, against the server process `server`.
async fn run_phase<C: Call>(
    clients: usize,
    seconds: Duration,
    cap: u64,
    server: u32,
    make: impl Fn(usize) -> C,
) -> Result<Phase, BoxError> {
    // Every client starts at the same instant, after all are spawned.
    let start = Instant::now() + Duration::from_millis(50);
    let cpu_before = (Cpu::of(server), Cpu::of(std::process::id()), machine_busy_ns());
    let deadline = start + seconds;
    let mut tasks = Vec::with_capacity(clients);
    for i in 0..clients {
        tasks.push(tokio::spawn(client_loop(make(i), start, deadline, cap)));
    }
    let abort: Vec<_> = tasks.iter().map(|t| t.abort_handle()).collect();
    let joined = tokio::time::timeout(seconds + PHASE_GRACE, async {
        let mut tallies = Vec::with_capacity(tasks.len());
        for t in tasks {
            tallies.push(t.await);
        }
        tallies
    })
    .await;
    let tallies = match joined {
        Ok(t) => t,
        Err(_) => {
            for a in abort {
                a.abort();
            }
            return Err(format!("the phase went on {PHASE_GRACE:?} past its end; an answer never came").into());
        }
    };
    let cpu_after = (Cpu::of(server), Cpu::of(std::process::id()), machine_busy_ns());
    let mut phase = Phase {
        samples: Vec::new(),
        units: 0,
        errors: BTreeMap::new(),
        first_error: None,
        elapsed: Duration::ZERO,
        // The 50 ms before the start and the wait for the last tasks are counted too: a little idle.
        server: cpu_after.0.zip(cpu_before.0).map(|(a, b)| a.minus(&b)),
        client: cpu_after.1.zip(cpu_before.1).map(|(a, b)| a.minus(&b)),
        machine_busy_ns: cpu_after.2.zip(cpu_before.2).map(|(a, b)| a.saturating_sub(b)),
    };
    let mut last = start;
    for t in tallies {
        let t = t.map_err(|e| format!("a client task failed: {e}"))?;
        phase.samples.extend(t.samples);
        phase.units += t.units;
        for (code, n) in t.errors {
            *phase.errors.entry(code).or_default() += n;
        }
        phase.first_error = phase.first_error.or(t.first_error);
        last = last.max(t.ended.unwrap_or(start));
    }
    phase.elapsed = last.saturating_duration_since(start);
    phase.samples.sort_unstable();
    if phase.samples.is_empty() {
        return Err(format!(
            "no request was answered; first error: {}",
            phase.first_error.as_deref().unwrap_or("none")
        )
        .into());
    }
    Ok(phase)
}

/// One client: request after request until the deadline or the cap.
async fn client_loop<C: Call>(mut call: C, start: Instant, deadline: Instant, cap: u64) -> Tally {
    tokio::time::sleep_until(start.into()).await;
    let mut tally = Tally { samples: Vec::with_capacity(cap.min(1 << 16) as usize), ..Tally::default() };
    let mut k = 0;
    while k < cap && Instant::now() < deadline {
        let sent = Instant::now();
        let answer = call.call(k).await;
        let done = Instant::now();
        match answer {
            Ok(units) => {
                tally.samples.push(u64::try_from((done - sent).as_nanos()).unwrap_or(u64::MAX));
                tally.units += units;
            }
            Err(status) => {
                *tally.errors.entry(format!("{:?}", status.code())).or_default() += 1;
                if tally.first_error.is_none() {
                    tally.first_error = Some(status.to_string());
                }
            }
        }
        tally.ended = Some(done);
        k += 1;
    }
    tally
}

/// CPU time of a process, from Linux's per-thread scheduler statistics.
#[derive(Clone, Debug, Default, PartialEq)]
struct Cpu {
    /// On-CPU time of all its threads, in nanoseconds.
    total_ns: u64,
    /// On-CPU time by thread name, with a trailing `-N` left out (`sled-io-3` counts as `sled-io`).
    threads: BTreeMap<String, u64>,
    /// On-CPU time of `fiscusd`'s writer thread.
    writer_ns: u64,
    /// Time the writer thread was ready to run but waited for a CPU.
    writer_wait_ns: u64,
}

impl Cpu {
    /// The process `pid` now; `None` where `/proc` does not tell.
    fn of(pid: u32) -> Option<Cpu> {
        let mut cpu = Cpu::default();
        for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
            // A thread that ended meanwhile is skipped.
            let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) else { continue };
            let mut fields = stat.split_whitespace().map(|f| f.parse::<u64>().ok());
            let (Some(Some(on_cpu)), Some(Some(waiting))) = (fields.next(), fields.next()) else { continue };
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            let name = comm.trim().trim_end_matches(|c: char| c.is_ascii_digit()).trim_end_matches('-');
            cpu.total_ns += on_cpu;
            *cpu.threads.entry(name.to_owned()).or_default() += on_cpu;
            if name == "fiscus-writer" {
                cpu.writer_ns += on_cpu;
                cpu.writer_wait_ns += waiting;
            }
        }
        Some(cpu)
    }

    /// What was used since `before`.
    fn minus(mut self, before: &Cpu) -> Cpu {
        self.total_ns = self.total_ns.saturating_sub(before.total_ns);
        for (name, ns) in &mut self.threads {
            *ns = ns.saturating_sub(before.threads.get(name).copied().unwrap_or(0));
        }
        self.writer_ns = self.writer_ns.saturating_sub(before.writer_ns);
        self.writer_wait_ns = self.writer_wait_ns.saturating_sub(before.writer_wait_ns);
        self
    }

    /// Both added up.
    fn plus(mut self, other: Cpu) -> Cpu {
        self.total_ns += other.total_ns;
        for (name, ns) in other.threads {
            *self.threads.entry(name).or_default() += ns;
        }
        self.writer_ns += other.writer_ns;
        self.writer_wait_ns += other.writer_wait_ns;
        self
    }
}

/// Busy CPU time of the whole machine so far (every state of `/proc/stat` but idle and iowait),
/// in nanoseconds; `None` where `/proc` does not tell.
fn machine_busy_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().next()?.strip_prefix("cpu ")?;
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    let ticks: Vec<u64> = cpu.split_whitespace().take(8).map(|t| t.parse().ok()).collect::<Option<_>>()?;
    let busy: u64 = ticks.iter().enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, t)| t).sum();
    // USER_HZ is 100 on every Linux architecture Fiscus runs on.
    Some(busy * 10_000_000)
}

/// The writer's groups of a phase, from `fiscusd`'s "commit group" log lines.
#[derive(Default)]
struct Groups {
    /// Groups written.
    groups: u64,
    /// Requests in all of them.
    requests: u64,
    /// The largest group.
    max_requests: u64,
    /// Time the writer spent on them (validation, batch, write, flush and sync, publication).
    busy_us: u64,
}

impl Groups {
    fn mean_requests(&self) -> f64 {
        self.requests as f64 / self.groups.max(1) as f64
    }

    fn mean_us(&self) -> f64 {
        self.busy_us as f64 / self.groups.max(1) as f64
    }
}

/// Reads the "commit group" lines logged between byte offsets `from` and `to` of the log.
fn commit_groups(log: &Path, from: u64, to: u64) -> Groups {
    let mut groups = Groups::default();
    let Ok(bytes) = std::fs::read(log) else { return groups };
    let (from, to) = (usize::try_from(from).unwrap_or(0), usize::try_from(to).unwrap_or(0).min(bytes.len()));
    let Some(text) = bytes.get(from..to) else { return groups };
    let field = |line: &str, name: &str| -> Option<u64> {
        let at = line.find(&format!(" {name}="))? + name.len() + 2;
        line[at..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
    };
    for line in String::from_utf8_lossy(text).lines().filter(|l| l.contains("commit group")) {
        let (Some(requests), Some(us)) = (field(line, "requests"), field(line, "elapsed_us")) else { continue };
        groups.groups += 1;
        groups.requests += requests;
        groups.max_requests = groups.max_requests.max(requests);
        groups.busy_us += us;
    }
    groups
}

/// Nanoseconds as milliseconds, to the microsecond.
fn ms(nanos: u64) -> f64 {
    round3(nanos as f64 / 1e6)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(samples: Vec<u64>) -> Phase {
        Phase {
            samples,
            units: 0,
            errors: BTreeMap::new(),
            first_error: None,
            elapsed: Duration::from_secs(1),
            server: None,
            client: None,
            machine_busy_ns: None,
        }
    }

    #[test]
    fn nearest_rank_percentiles() {
        let p = phase((1..=100).collect());
        assert_eq!(p.percentile(500), 50);
        assert_eq!(p.percentile(990), 99);
        assert_eq!(p.percentile(1000), 100);
        assert_eq!(phase(vec![7]).percentile(990), 7);
        assert_eq!(phase(Vec::new()).percentile(500), 0);
    }

    #[test]
    fn reads_commit_group_lines() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("fiscusd.log");
        let text = "2026-01-01T00:00:00Z  INFO fiscus_daemon::writer: commit group first_commit=1 last_commit=3 \
                    commits=3 events=3 requests=3 refused=0 elapsed_us=1500\n\
                    2026-01-01T00:00:00Z  INFO fiscus_daemon::writer: something else requests=99\n\
                    2026-01-01T00:00:00Z  INFO fiscus_daemon::writer: commit group first_commit=4 last_commit=8 \
                    commits=5 events=5 requests=5 refused=0 elapsed_us=2500\n";
        std::fs::write(&log, text).expect("write");
        let g = commit_groups(&log, 0, file_len(&log));
        assert_eq!((g.groups, g.requests, g.max_requests, g.busy_us), (2, 8, 5, 4000));
    }
}
