//! `fiscus-bench crash`: kills the real `fiscusd` with SIGKILL again and again under concurrent
//! writers, restarts it on the same store, and checks after every restart that nothing a client was
//! told is committed has changed.
//!
//! One run: a temporary directory holds the store (`data/`), a tokens file made with
//! `fiscusd token add` and the daemon's log. The first start opens `--projects` projects. Then each
//! cycle:
//!
//! 1. now and then (`--open-kill-per-mille`) the daemon is started and killed after a random delay
//!    between 0 and the time the previous start took to listen, so that the kill lands while the
//!    store opens and replays (the log tells whether it did: "opening the store" without "store
//!    opened");
//! 2. the daemon is started and waited for until SERVING, and the whole ledger is checked (below);
//! 3. `--writers` concurrent clients send `RecordCommit` requests over loopback, each with one
//!    request in flight: one to three contributions, to distinct projects when more than one (a
//!    sponsorship package: one commit across chains). A writer first re-sends its request that got
//!    no answer before the last kill, with the same event ids and content;
//! 4. after a random delay between 0 and `--kill-window-ms` the daemon is killed with SIGKILL,
//!    whatever it is doing (in the middle of a commit group, usually).
//!
//! The check, after every restart and once more at the end, reads every project's raw chain
//! (`ExportChain`), verifies it as a client does (`fiscus_client::verify_records`: hashes, links,
//! the fold, the server's head and balances), asks the daemon's own `Audit/Verify` (both chains and
//! the commit log), and compares the stored event ids with what the writers know:
//!
//! - `lost`: an acknowledged event that is not stored; `moved`: stored at another project, seq or
//!   commit than its answer said; `duplicated`: an event id stored more than once;
//! - `half_commits`: a request that got no answer and is stored in part, or across several commits;
//! - `phantom`: a stored event no writer sent; `retry_mismatches`: a re-sent request answered
//!   otherwise than its stored state implies (`duplicate` with the original positions when it was
//!   stored, a new commit when it was not); `refused`: a request the daemon refused (none should be);
//! - `verify_failures`: a chain the client's verification refused, or an `Audit/Verify` not ok.
//!
//! Each count is of distinct event ids (or requests, or chains per check). The command prints one
//! JSON object ([`Report::to_json`]) and fails when any of them is not zero. Every wait has a
//! deadline; the daemon is killed when the run ends, also on an error.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::error::Error;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fiscus_client::{verify_records, Balances, ChainHead, Client, ClientError, ClientOptions, RawRecord};
use fiscus_ledger::record::Record;
use fiscus_ledger::ProjectId;
use fiscus_proto::pb;
use fiscus_proto::pb::audit_client::AuditClient;
use fiscus_proto::pb::event::Kind;
use fiscus_proto::pb::ledger_client::LedgerClient;
use serde_json::json;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// Errors of this command.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// How long a start may take to print the address and report SERVING.
pub const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long one request may wait for its answer (the kill ends every wait sooner).
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(30);
/// The first words of `fiscusd`'s one line on stdout, before its address.
const FISCUSD_LISTENING: &str = "fiscusd listening on ";
/// What `fiscusd` logs before and after it opens and replays the store.
const LOG_OPENING: &str = "opening the store";
const LOG_OPENED: &str = "store opened";
/// Most events of one request (each to its own project).
const EVENTS_PER_REQUEST_MAX: usize = 3;

/// Settings of one crash run.
#[derive(clap::Args, Clone, Debug)]
pub struct CrashArgs {
    /// Kill-and-restart cycles.
    #[arg(long, default_value_t = 20)]
    pub cycles: u64,
    /// Concurrent writers, each with one request in flight.
    #[arg(long, default_value_t = 8)]
    pub writers: usize,
    /// Projects the writers record into.
    #[arg(long, default_value_t = 4)]
    pub projects: usize,
    /// The kill comes after a random delay up to this many milliseconds of load.
    #[arg(long, default_value_t = 200)]
    pub kill_window_ms: u64,
    /// Of every 1,000 cycles, how many also start the daemon once and kill it while it opens.
    #[arg(long, default_value_t = 250)]
    pub open_kill_per_mille: u64,
    /// Seed of the random delays and requests [default: from the clock]; printed in the report.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where to keep the store and the log [default: a temporary directory, removed afterwards].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The `fiscusd` binary [default: next to this executable].
    #[arg(long, value_name = "PATH")]
    pub fiscusd: Option<PathBuf>,
    /// Print a progress line every this many cycles (0: none).
    #[arg(long, default_value_t = 50)]
    pub progress_every: u64,
}

impl CrashArgs {
    /// `cycles` cycles against `fiscusd`, with the other settings at their defaults.
    pub fn new(cycles: u64, fiscusd: PathBuf) -> CrashArgs {
        CrashArgs {
            cycles,
            writers: 8,
            projects: 4,
            kill_window_ms: 200,
            open_kill_per_mille: 250,
            seed: None,
            dir: None,
            fiscusd: Some(fiscusd),
            progress_every: 0,
        }
    }
}

/// What a crash run found. The failure counts are of distinct event ids or requests.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Cycles run (each ends with a SIGKILL under load).
    pub cycles: u64,
    /// The seed of the run.
    pub seed: u64,
    /// Writers and projects.
    pub writers: usize,
    /// Projects.
    pub projects: usize,
    /// Distinct events acknowledged to a writer (the projects' openings included).
    pub acknowledged: u64,
    /// Requests acknowledged (each one commit, or a duplicate answer to a retry).
    pub acknowledged_requests: u64,
    /// Acknowledged events missing from the store.
    pub lost: u64,
    /// Event ids stored more than once.
    pub duplicated: u64,
    /// Acknowledged events stored elsewhere than their answer said.
    pub moved: u64,
    /// Unanswered requests found stored in part (or over several commits).
    pub half_commits: u64,
    /// Stored events no writer sent.
    pub phantom: u64,
    /// Re-sent requests answered otherwise than their stored state implies.
    pub retry_mismatches: u64,
    /// Requests the daemon refused.
    pub refused: u64,
    /// Chains the client's verification refused, plus `Audit/Verify` answers not ok.
    pub verify_failures: u64,
    /// The first failure seen, as a sentence.
    pub first_failure: Option<String>,
    /// Kills under load.
    pub kills_under_load: u64,
    /// Of them, kills with at least one request unanswered (in flight at the kill).
    pub kills_with_requests_in_flight: u64,
    /// Starts killed on purpose before they listened.
    pub kills_while_starting: u64,
    /// Of them, kills the log shows landed while the store was opening.
    pub kills_while_opening: u64,
    /// Requests that got no answer because of a kill.
    pub unanswered: u64,
    /// Of them, requests found stored whole at the next check (durable, unanswered).
    pub unanswered_found_stored: u64,
    /// Requests re-sent after a kill.
    pub retried: u64,
    /// Checks run (one per restart, and the last).
    pub checks: u64,
    /// Records in the store at the end.
    pub records_final: u64,
    /// Commits in the store at the end.
    pub commits_final: u64,
    /// Wall time of the run, in seconds.
    pub seconds: f64,
    /// Time from spawn to SERVING of each start, in milliseconds: median and maximum.
    pub start_ms: Vec<f64>,
    /// Time of each check, in milliseconds.
    pub check_ms: Vec<f64>,
}

impl Report {
    /// The sum of every failure count: zero when the run found nothing wrong.
    pub fn failures(&self) -> u64 {
        self.lost
            + self.duplicated
            + self.moved
            + self.half_commits
            + self.phantom
            + self.retry_mismatches
            + self.refused
            + self.verify_failures
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        let stats = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            let median = v.get(v.len() / 2).copied().unwrap_or(0.0);
            let max = v.last().copied().unwrap_or(0.0);
            (round1(median), round1(max))
        };
        let (start_median, start_max) = stats(&self.start_ms);
        let (check_median, check_max) = stats(&self.check_ms);
        let mut report = json!({
            "cycles": self.cycles,
            "seed": self.seed,
            "writers": self.writers,
            "projects": self.projects,
            "acknowledged": self.acknowledged,
            "acknowledged_requests": self.acknowledged_requests,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "moved": self.moved,
            "half_commits": self.half_commits,
            "phantom": self.phantom,
            "retry_mismatches": self.retry_mismatches,
            "refused": self.refused,
            "verify_failures": self.verify_failures,
            "first_failure": self.first_failure,
        });
        let more = json!({
            "kills_under_load": self.kills_under_load,
            "kills_with_requests_in_flight": self.kills_with_requests_in_flight,
            "kills_while_starting": self.kills_while_starting,
            "kills_while_opening": self.kills_while_opening,
            "unanswered": self.unanswered,
            "unanswered_found_stored": self.unanswered_found_stored,
            "retried": self.retried,
            "checks": self.checks,
            "records_final": self.records_final,
            "commits_final": self.commits_final,
            "seconds": round1(self.seconds),
            "cycle_ms_mean": round1(self.seconds * 1e3 / self.cycles.max(1) as f64),
            "start_ms_median": start_median,
            "start_ms_max": start_max,
            "check_ms_median": check_median,
            "check_ms_max": check_max,
        });
        if let (Some(all), serde_json::Value::Object(more)) = (report.as_object_mut(), more) {
            all.extend(more);
        }
        report
    }

    fn fail(&mut self, what: String) {
        if self.first_failure.is_none() {
            self.first_failure = Some(what);
        }
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Runs the command: prints the report; an error when the run failed or found a failure.
pub fn main(args: &CrashArgs) -> Result<(), Box<dyn Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("fiscus-crash").build()?;
    let report = runtime.block_on(run(args)).map_err(|e| e.to_string())?;
    println!("{}", report.to_json());
    if report.failures() > 0 {
        return Err(format!(
            "{} failures; first: {}",
            report.failures(),
            report.first_failure.as_deref().unwrap_or("none named")
        )
        .into());
    }
    Ok(())
}

/// One crash run with `args`; the report says what it found (an `Err` is a run that could not go
/// on: the daemon did not start, a deadline passed).
pub async fn run(args: &CrashArgs) -> Result<Report, BoxError> {
    if args.cycles == 0 || args.writers == 0 || args.projects == 0 {
        return Err("--cycles, --writers and --projects must be at least 1".into());
    }
    let fiscusd = find_fiscusd(args.fiscusd.as_deref())?;
    let temp;
    let dir = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            temp = tempfile::Builder::new().prefix("fiscus-bench-crash-").tempdir()?;
            temp.path().to_owned()
        }
    };
    let seed = args.seed.unwrap_or_else(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        now.as_nanos() as u64 ^ u64::from(std::process::id())
    });
    eprintln!("fiscus-bench crash: seed {seed}; fiscusd {}; store and log in {}", fiscusd.display(), dir.display());
    let mut run = Run::new(args, seed, &fiscusd, &dir)?;
    let started = Instant::now();
    run.setup().await?;
    for cycle in 0..args.cycles {
        run.cycle().await.map_err(|e| format!("cycle {}: {e}", cycle + 1))?;
        run.report.cycles = cycle + 1;
        if args.progress_every > 0 && (cycle + 1) % args.progress_every == 0 {
            let r = &run.report;
            eprintln!(
                "  cycle {}: {} acknowledged, {} unanswered ({} found stored), {} kills while opening, {} failures, {:.0} s",
                cycle + 1,
                run.acked.len(),
                r.unanswered,
                r.unanswered_found_stored,
                r.kills_while_opening,
                r.failures(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    // The last check, and a clean stop.
    let daemon = run.start().await?;
    run.check(&daemon).await?;
    daemon.stop()?;
    run.report.acknowledged = run.acked.len() as u64;
    run.report.seconds = started.elapsed().as_secs_f64();
    Ok(run.report)
}

/// Where an event is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Place {
    /// Index of the project.
    project: usize,
    seq: u64,
    commit: u64,
}

/// A request sent and not answered: it may be stored whole, or not at all.
#[derive(Clone, Debug)]
struct Pending {
    request: pb::RecordCommitRequest,
    /// Where its events are stored, when the last check found all of them (in request order).
    stored: Option<Vec<Place>>,
}

/// The state of one run.
struct Run {
    args: CrashArgs,
    fiscusd: PathBuf,
    dir: PathBuf,
    log: PathBuf,
    tokens: (String, String, String),
    projects: Vec<String>,
    rng: Rng,
    /// Every acknowledged event and where its answer placed it.
    acked: HashMap<String, Place>,
    /// Per writer: its unanswered request, and how many requests it has made.
    writers: Vec<(Option<Pending>, u64)>,
    /// Distinct ids already counted as lost, moved, duplicated or phantom.
    counted: HashSet<(&'static str, String)>,
    last_start: Duration,
    report: Report,
}

impl Run {
    fn new(args: &CrashArgs, seed: u64, fiscusd: &Path, dir: &Path) -> Result<Run, BoxError> {
        let tokens_file = dir.join("tokens.toml");
        let admin = add_token(fiscusd, &tokens_file, "admin", "crash:admin")?;
        let accountant = add_token(fiscusd, &tokens_file, "accountant", "crash:accountant")?;
        let auditor = add_token(fiscusd, &tokens_file, "auditor", "crash:auditor")?;
        Ok(Run {
            args: args.clone(),
            fiscusd: fiscusd.to_owned(),
            dir: dir.to_owned(),
            log: dir.join("fiscusd.log"),
            tokens: (admin, accountant, auditor),
            projects: (0..args.projects).map(|i| format!("crash-{i:03}")).collect(),
            rng: Rng(seed),
            acked: HashMap::new(),
            writers: vec![(None, 0); args.writers],
            counted: HashSet::new(),
            last_start: Duration::from_millis(50),
            report: Report { seed, writers: args.writers, projects: args.projects, ..Report::default() },
        })
    }

    /// Starts `fiscusd` and waits until it serves.
    async fn start(&mut self) -> Result<Daemon, BoxError> {
        let started = Instant::now();
        let mut daemon = Daemon::spawn(&self.fiscusd, &self.dir, &self.log)?;
        let addr = daemon.wait_addr(START_DEADLINE).await.map_err(|e| format!("{e}; log:\n{}", tail(&self.log)))?;
        wait_serving(addr, pb::ledger_server::SERVICE_NAME, START_DEADLINE).await?;
        self.last_start = started.elapsed();
        self.report.start_ms.push(self.last_start.as_secs_f64() * 1e3);
        Ok(daemon)
    }

    /// Opens the projects (on a fresh store; on a reused one they are there already).
    async fn setup(&mut self) -> Result<(), BoxError> {
        let daemon = self.start().await?;
        let mut admin = LedgerClient::with_interceptor(connect(daemon.address()?).await?, Bearer::new(&self.tokens.0)?);
        for (i, p) in self.projects.iter().enumerate() {
            let answer = admin
                .open_project(pb::OpenProjectRequest {
                    event_id: format!("open-{p}"),
                    project: p.clone(),
                    effective_date: "2026-01-01".to_owned(),
                    memo: "opened by fiscus-bench crash".to_owned(),
                    reference: None,
                    opened: Some(pb::ProjectOpened {
                        name: format!("Crash project {p}"),
                        kind: pb::ProjectKind::Conference.into(),
                        fee_bps: 500,
                        currency: "USD".to_owned(),
                        advance_limit: "0".to_owned(),
                    }),
                })
                .await
                .map_err(|s| format!("opening {p}: {s}"))?
                .into_inner();
            self.acked.insert(
                format!("open-{p}"),
                Place { project: i, seq: answer.position.map_or(0, |p| p.seq), commit: answer.commit },
            );
            self.report.acknowledged_requests += 1;
        }
        daemon.kill()?;
        Ok(())
    }

    /// One cycle: maybe a kill while starting, a start, the check, load, the kill.
    async fn cycle(&mut self) -> Result<(), BoxError> {
        if self.rng.below(1000) < self.args.open_kill_per_mille {
            self.kill_while_starting().await?;
        }
        let daemon = self.start().await?;
        self.check(&daemon).await?;
        self.load_and_kill(daemon).await
    }

    /// Starts the daemon and kills it after a random part of the time the last start took.
    async fn kill_while_starting(&mut self) -> Result<(), BoxError> {
        let from = file_len(&self.log);
        let delay = Duration::from_micros(self.rng.below(self.last_start.as_micros() as u64 + 1));
        let daemon = Daemon::spawn(&self.fiscusd, &self.dir, &self.log)?;
        tokio::time::sleep(delay).await;
        daemon.kill()?;
        self.report.kills_while_starting += 1;
        let text = log_since(&self.log, from);
        if text.contains(LOG_OPENING) && !text.contains(LOG_OPENED) {
            self.report.kills_while_opening += 1;
        }
        Ok(())
    }

    /// Runs the writers and kills the daemon after a random delay.
    async fn load_and_kill(&mut self, daemon: Daemon) -> Result<(), BoxError> {
        let channel = connect(daemon.address()?).await?;
        let bearer = Bearer::new(&self.tokens.1)?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::with_capacity(self.writers.len());
        for (w, (pending, made)) in self.writers.iter_mut().enumerate() {
            let writer = Writer {
                id: w,
                client: LedgerClient::with_interceptor(channel.clone(), bearer.clone()),
                projects: self.projects.clone(),
                rng: Rng(self.rng.next() | 1),
                pending: pending.take(),
                made: *made,
                stop: stop.clone(),
            };
            tasks.push(tokio::spawn(writer.run()));
        }
        let delay = Duration::from_millis(self.rng.below(self.args.kill_window_ms + 1));
        tokio::time::sleep(delay).await;
        daemon.kill()?;
        stop.store(true, Ordering::SeqCst);
        self.report.kills_under_load += 1;
        let mut in_flight = false;
        for (w, task) in tasks.into_iter().enumerate() {
            let outcome = tokio::time::timeout(REQUEST_DEADLINE, task)
                .await
                .map_err(|_| "a writer got no answer nor error after the kill")?
                .map_err(|e| format!("a writer task failed: {e}"))?;
            self.writers[w] = (outcome.pending.clone(), outcome.made);
            in_flight |= outcome.pending.is_some();
            if outcome.pending.is_some() {
                self.report.unanswered += 1;
            }
            self.report.retried += outcome.retried;
            for a in outcome.answers {
                self.answered(a);
            }
        }
        if in_flight {
            self.report.kills_with_requests_in_flight += 1;
        }
        Ok(())
    }

    /// Takes in one answer a writer got.
    fn answered(&mut self, a: Answered) {
        match a.result {
            Err(status) => {
                self.report.refused += 1;
                self.report.fail(format!("a request was refused: {status}"));
            }
            Ok(answer) => {
                self.report.acknowledged_requests += 1;
                if let Some(expected) = &a.expected {
                    // A retry: stored before means a duplicate answer with the same places.
                    let same = match expected {
                        Some(places) => answer.duplicate && self.places(&answer) == Some(places.clone()),
                        None => !answer.duplicate,
                    };
                    if !same {
                        self.report.retry_mismatches += 1;
                        self.report.fail(format!(
                            "a retried request was answered duplicate={} at {:?}, but the check found it stored at {:?}",
                            answer.duplicate, answer.positions, expected
                        ));
                    }
                }
                if answer.positions.len() != a.request.events.len() {
                    self.report.moved += a.request.events.len() as u64;
                    self.report.fail(format!(
                        "an answer has {} positions for {} events",
                        answer.positions.len(),
                        a.request.events.len()
                    ));
                    return;
                }
                let places = self.places(&answer).unwrap_or_default();
                for (e, place) in a.request.events.iter().zip(places) {
                    if let Some(before) = self.acked.insert(e.event_id.clone(), place) {
                        if before != place {
                            self.report.moved += 1;
                            self.report
                                .fail(format!("{} was acknowledged at {before:?}, then at {place:?}", e.event_id));
                        }
                    }
                }
            }
        }
    }

    /// The places of an answer's positions.
    fn places(&self, answer: &pb::RecordCommitResponse) -> Option<Vec<Place>> {
        answer
            .positions
            .iter()
            .map(|p| {
                let project = self.projects.iter().position(|name| *name == p.project)?;
                Some(Place { project, seq: p.seq, commit: answer.commit })
            })
            .collect()
    }

    /// Counts a failure of kind `kind` about `id` once over the whole run.
    fn count_once(&mut self, kind: &'static str, id: &str, what: String) -> bool {
        if self.counted.insert((kind, id.to_owned())) {
            self.report.fail(what);
            true
        } else {
            false
        }
    }

    /// Reads and verifies every chain, and compares them with what the writers were told.
    async fn check(&mut self, daemon: &Daemon) -> Result<(), BoxError> {
        let started = Instant::now();
        self.report.checks += 1;
        let url = format!("http://{}", daemon.address()?);
        let options = ClientOptions { token: Some(self.tokens.2.clone()), ..ClientOptions::default() };
        let client = Client::connect(&url, options).await?;
        // Every stored event: id → places.
        let mut stored: HashMap<String, Vec<Place>> = HashMap::new();
        let mut records = 0u64;
        for (i, name) in self.projects.iter().enumerate() {
            let project = fiscus_client::project_id(name)?;
            let chain = match read_chain(&client, &project).await {
                Ok((chain, head, balances)) => {
                    if let Err(e) = verify_records(&project, &chain, &head, &balances, None) {
                        self.report.verify_failures += 1;
                        self.report.fail(format!("client verification: {e}"));
                    }
                    chain
                }
                // A project the daemon does not know stores nothing: its events count as lost.
                Err(ClientError::Status { code: Code::NotFound, .. }) => Vec::new(),
                Err(e) => return Err(format!("reading {name}: {e}").into()),
            };
            records += chain.len() as u64;
            for raw in &chain {
                match Record::decode(&raw.bytes) {
                    Ok(r) => stored.entry(r.event.event_id.clone()).or_default().push(Place {
                        project: i,
                        seq: r.seq,
                        commit: r.commit,
                    }),
                    Err(e) => {
                        self.report.verify_failures += 1;
                        self.report.fail(format!("{name} seq {}: the record does not decode: {e}", raw.seq));
                    }
                }
            }
        }
        let mut audit = AuditClient::with_interceptor(connect(daemon.address()?).await?, Bearer::new(&self.tokens.2)?);
        let verified = audit.verify(pb::VerifyRequest { project: String::new() }).await?.into_inner();
        if !verified.ok {
            self.report.verify_failures += 1;
            self.report.fail(format!("Audit/Verify is not ok: {:?}", verified.damage));
        }
        self.report.records_final = records;
        self.report.commits_final = verified.commit;

        // Acknowledged events: each stored once, where its answer said.
        let acked: Vec<(String, Place)> = self.acked.iter().map(|(id, p)| (id.clone(), *p)).collect();
        for (id, place) in acked {
            match stored.get(&id).map(Vec::as_slice) {
                None | Some([]) => {
                    if self.count_once("lost", &id, format!("acknowledged {id} at {place:?} is not stored")) {
                        self.report.lost += 1;
                    }
                }
                Some([found, ..]) if *found != place => {
                    if self.count_once(
                        "moved",
                        &id,
                        format!("{id} was acknowledged at {place:?}, is stored at {found:?}"),
                    ) {
                        self.report.moved += 1;
                    }
                }
                Some(_) => {}
            }
        }
        let mut known: HashSet<String> = HashSet::new();
        // Unanswered requests: stored whole in one commit, or not at all.
        for w in 0..self.writers.len() {
            let Some(pending) = self.writers[w].0.as_mut() else { continue };
            let found: Vec<Option<Place>> = pending
                .request
                .events
                .iter()
                .map(|e| stored.get(&e.event_id).and_then(|p| p.first().copied()))
                .collect();
            known.extend(pending.request.events.iter().map(|e| e.event_id.clone()));
            let present = found.iter().flatten().count();
            let commits: HashSet<u64> = found.iter().flatten().map(|p| p.commit).collect();
            let was_stored = pending.stored.is_some();
            pending.stored = None;
            if present == found.len() && commits.len() == 1 {
                pending.stored = Some(found.into_iter().flatten().collect());
                if !was_stored {
                    self.report.unanswered_found_stored += 1;
                }
            } else if present > 0 {
                let first = pending.request.events.first().map(|e| e.event_id.clone()).unwrap_or_default();
                let what = format!("request {first}… is stored in part: {found:?}");
                if self.count_once("half", &first, what) {
                    self.report.half_commits += 1;
                }
            }
        }
        for (id, places) in &stored {
            if places.len() > 1
                && self.count_once("duplicated", id, format!("{id} is stored {} times: {places:?}", places.len()))
            {
                self.report.duplicated += 1;
            }
            if !self.acked.contains_key(id)
                && !known.contains(id)
                && self.count_once("phantom", id, format!("{id} is stored at {places:?}, and no writer sent it"))
            {
                self.report.phantom += 1;
            }
        }
        self.report.check_ms.push(started.elapsed().as_secs_f64() * 1e3);
        Ok(())
    }
}

/// A project's raw chain with the head and balances the daemon states, read as
/// `Client::verify_project` reads them (balances, then head, then the chain).
async fn read_chain(
    client: &Client,
    project: &ProjectId,
) -> Result<(Vec<RawRecord>, ChainHead, Balances), ClientError> {
    let balances = client.balance(project, None).await?;
    let heads = client.head(Some(project)).await?;
    let head = heads.projects.into_iter().find(|h| &h.project == project).ok_or_else(|| ClientError::Answer {
        field: "projects".to_owned(),
        message: format!("no head for {project}"),
    })?;
    let chain = client.export_chain(project).await?;
    Ok((chain, head, balances))
}

/// One answer a writer got (or a refusal).
struct Answered {
    request: pb::RecordCommitRequest,
    /// For a retry: where the last check found it stored (`Some(None)`: not stored).
    expected: Option<Option<Vec<Place>>>,
    result: Result<pb::RecordCommitResponse, Status>,
}

/// What a writer hands back when the daemon is gone.
struct Outcome {
    answers: Vec<Answered>,
    /// The request that got no answer.
    pending: Option<Pending>,
    made: u64,
    retried: u64,
}

/// One concurrent writer of a cycle.
struct Writer {
    id: usize,
    client: LedgerClient<InterceptedService<Channel, Bearer>>,
    projects: Vec<String>,
    rng: Rng,
    pending: Option<Pending>,
    made: u64,
    stop: Arc<AtomicBool>,
}

impl Writer {
    async fn run(mut self) -> Outcome {
        let mut answers = Vec::new();
        let mut retried = 0;
        loop {
            let (request, expected) = match self.pending.take() {
                Some(p) => {
                    retried += 1;
                    (p.request, Some(p.stored))
                }
                None => {
                    if self.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    self.made += 1;
                    (self.request(), None)
                }
            };
            let mut call = Request::new(request.clone());
            call.set_timeout(REQUEST_DEADLINE);
            match self.client.record_commit(call).await {
                Ok(answer) => answers.push(Answered { request, expected, result: Ok(answer.into_inner()) }),
                // The daemon decided: a refusal (there should be none).
                Err(s) if decided(s.code()) => answers.push(Answered { request, expected, result: Err(s) }),
                // No answer: the daemon was killed (or the connection went with it).
                Err(_) => {
                    let stored = expected.flatten();
                    self.pending = Some(Pending { request, stored });
                    break;
                }
            }
        }
        Outcome { answers, pending: self.pending, made: self.made, retried }
    }

    /// A new request: one to three contributions, to distinct projects.
    fn request(&mut self) -> pb::RecordCommitRequest {
        let n = (1 + self.rng.below(EVENTS_PER_REQUEST_MAX as u64) as usize).min(self.projects.len());
        let first = self.rng.below(self.projects.len() as u64) as usize;
        let reference = format!("w{}-{}", self.id, self.made);
        let events = (0..n)
            .map(|i| {
                let project = &self.projects[(first + i) % self.projects.len()];
                let cents = 100 + self.rng.below(99_900);
                pb::Event {
                    event_id: format!("w{}-{}-{i}", self.id, self.made),
                    project: project.clone(),
                    effective_date: "2026-03-01".to_owned(),
                    memo: "crash test contribution".to_owned(),
                    reference: (n > 1).then(|| reference.clone()),
                    kind: Some(Kind::ContributionReceived(pb::ContributionReceived {
                        amount: Some(pb::Money {
                            amount: format!("{}.{:02}", cents / 100, cents % 100),
                            currency: "USD".to_owned(),
                        }),
                        from: "Crash Donor".to_owned(),
                        source: pb::ContributionSource::Sponsorship.into(),
                        fund: None,
                        fee_bps: None,
                    })),
                }
            })
            .collect();
        pb::RecordCommitRequest { events, expected_seq: BTreeMap::new(), allow_same_receipt: false, dry_run: false }
    }
}

/// Codes the daemon itself sends after deciding on a request (as opposed to a broken connection).
fn decided(code: Code) -> bool {
    matches!(
        code,
        Code::InvalidArgument
            | Code::FailedPrecondition
            | Code::AlreadyExists
            | Code::NotFound
            | Code::PermissionDenied
            | Code::Unauthenticated
            | Code::Aborted
            | Code::OutOfRange
    )
}

/// SplitMix64: small, seedable, good enough to pick delays and amounts.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// A running `fiscusd`; killed with SIGKILL when dropped.
struct Daemon {
    child: Option<Child>,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    listening: Option<SocketAddr>,
}

impl Daemon {
    /// Starts `fiscusd` on `dir/data`, its log appended to `log`.
    fn spawn(fiscusd: &Path, dir: &Path, log: &Path) -> Result<Daemon, BoxError> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
        let mut child = Command::new(fiscusd)
            .arg("--data")
            .arg(dir.join("data"))
            .arg("--create")
            .arg("--tokens")
            .arg(dir.join("tokens.toml"))
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", fiscusd.display()))?;
        let stdout = child.stdout.take();
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        if let Some(stdout) = stdout {
            std::thread::spawn(move || {
                // Reads every line, so the daemon never blocks on a full pipe.
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Ok(Daemon { child: Some(child), lines, listening: None })
    }

    /// Waits for the line with the address, and keeps it.
    async fn wait_addr(&mut self, deadline: Duration) -> Result<SocketAddr, BoxError> {
        let line = match tokio::time::timeout(deadline, self.lines.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => return Err("fiscusd ended before it listened".into()),
            Err(_) => return Err(format!("fiscusd printed no address within {deadline:?}").into()),
        };
        let addr: SocketAddr = line
            .strip_prefix(FISCUSD_LISTENING)
            .and_then(|a| a.trim().parse().ok())
            .ok_or_else(|| format!("fiscusd printed {line:?}, not \"{FISCUSD_LISTENING}ADDR\""))?;
        self.listening = Some(addr);
        Ok(addr)
    }

    fn address(&self) -> Result<SocketAddr, BoxError> {
        self.listening.ok_or_else(|| "the daemon has not said where it listens".into())
    }

    /// Sends SIGKILL and reaps the process.
    fn kill(mut self) -> Result<(), BoxError> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Sends SIGTERM and waits for a clean exit.
    fn stop(mut self) -> Result<(), BoxError> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        let sent = Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
        if !sent.success() {
            return Err("kill -TERM failed".into());
        }
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                return if status.success() { Ok(()) } else { Err(format!("fiscusd exited with {status}").into()) };
            }
            if started.elapsed() > START_DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                return Err("fiscusd did not stop after SIGTERM".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `--fiscusd PATH`, else `fiscusd` next to this executable.
fn find_fiscusd(given: Option<&Path>) -> Result<PathBuf, BoxError> {
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
        Err(format!("no fiscusd next to {}: build fiscus-daemon first, or pass --fiscusd PATH", exe.display()).into())
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

/// One connected channel to `addr` (plaintext, 5 s connect timeout, no Nagle delay).
pub async fn connect(addr: SocketAddr) -> Result<Channel, BoxError> {
    Ok(Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .connect()
        .await?)
}

/// Waits until the server on `addr` answers SERVING for `service` ("" for the whole server),
/// trying every 10 ms for at most `deadline`.
pub async fn wait_serving(addr: SocketAddr, service: &str, deadline: Duration) -> Result<(), BoxError> {
    let started = Instant::now();
    let mut last = String::from("no answer yet");
    while started.elapsed() < deadline {
        match connect(addr).await {
            Ok(channel) => {
                let asked = HealthCheckRequest { service: service.to_owned() };
                match HealthClient::new(channel).check(asked).await {
                    Ok(r) if r.get_ref().status == i32::from(ServingStatus::Serving) => return Ok(()),
                    Ok(r) => last = format!("status {}", r.get_ref().status),
                    Err(e) => last = e.to_string(),
                }
            }
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(format!("{addr} did not report SERVING within {deadline:?} ({last})").into())
}

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct Bearer(MetadataValue<Ascii>);

impl Bearer {
    /// The interceptor for `token`; an error when the token is not printable ASCII.
    pub fn new(token: &str) -> Result<Bearer, BoxError> {
        Ok(Bearer(format!("Bearer {token}").parse().map_err(|_| "the token is not printable ASCII")?))
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request.metadata_mut().insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// The size of a file (0 when unreadable).
fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// What the log gained from byte offset `from` on.
fn log_since(log: &Path, from: u64) -> String {
    let bytes = std::fs::read(log).unwrap_or_default();
    let from = usize::try_from(from).unwrap_or(usize::MAX).min(bytes.len());
    String::from_utf8_lossy(&bytes[from..]).into_owned()
}

/// The last lines of the log, for error messages.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
