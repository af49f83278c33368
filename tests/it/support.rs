//! Starting the real `fiscusd` as a child process on a loopback port, with a temporary store and a
//! tokens file, and typed clients that carry a bearer token.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fiscus_proto::pb;
use fiscus_proto::pb::audit_client::AuditClient;
use fiscus_proto::pb::event::Kind;
use fiscus_proto::pb::ledger_client::LedgerClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// How long the daemon may take to start and report SERVING.
pub const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long it may take to stop after SIGTERM.
pub const STOP_DEADLINE: Duration = Duration::from_secs(30);

/// The project the `project` token belongs to.
pub const OWN_PROJECT: &str = "conf-a";

/// The tokens every test daemon knows, one per role.
#[derive(Clone, Debug)]
pub struct Tokens {
    /// Role admin, named "admin:root".
    pub admin: String,
    /// Role accountant, named "accountant:alice".
    pub accountant: String,
    /// A second accountant, named "accountant:bob".
    pub accountant2: String,
    /// Role auditor, named "auditor:ann".
    pub auditor: String,
    /// Role project:conf-a, named "organiser:olga".
    pub project: String,
}

/// A running `fiscusd`; killed when dropped.
pub struct Daemon {
    child: Option<Child>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The temporary directory with the store (`data/`), the tokens and the log.
    pub dir: Arc<tempfile::TempDir>,
    /// Its tokens.
    pub tokens: Tokens,
    /// The CA certificate (PEM) to trust when it serves TLS.
    pub ca: Option<Vec<u8>>,
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_fiscusd")
}

/// A command that runs `program` under the usual umask 022 (which, without fiscusd's own care,
/// leaves new folders 0755 and files 0644: readable by every local user), whatever the test's.
pub fn under_umask_022(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", "umask 022 && exec \"$0\" \"$@\""]).arg(program);
    c
}

/// The path of `fiscusd`.
pub fn fiscusd_bin() -> &'static str {
    bin()
}

/// Runs `fiscusd` on `dir`'s data folder and tokens file until it exits (it is expected to refuse
/// to start); returns its exit code and standard error.
pub fn refused_start(dir: &Path) -> (Option<i32>, String) {
    let mut command = under_umask_022(fiscusd_bin());
    command
        .arg("--data")
        .arg(dir.join("data"))
        .arg("--create")
        .arg("--tokens")
        .arg(dir.join("tokens.toml"))
        .args(["--listen", "127.0.0.1:0"]);
    run_to_exit(command, START_DEADLINE)
}

/// Runs `command` until it exits, at most `deadline` (then it is killed and the test fails: it
/// kept running where it should have refused, or blocked); returns its exit code and standard
/// error.
pub fn run_to_exit(mut command: Command, deadline: Duration) -> (Option<i32>, String) {
    let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("starts");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut err = String::new();
            use std::io::Read;
            child.stderr.take().expect("piped").read_to_string(&mut err).expect("stderr");
            return (status.code(), err);
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} did not exit within {} s", deadline.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn add_token(tokens: &Path, role: &str, name: &str) -> String {
    let out = Command::new(bin())
        .args(["token", "add", "--tokens"])
        .arg(tokens)
        .args(["--role", role, "--name", name])
        .output()
        .expect("fiscusd token add runs");
    assert!(out.status.success(), "token add failed: {}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).expect("the token is text").trim().to_owned();
    assert!(token.starts_with("fiscus_") && token.len() >= 7 + 32, "a long random token: {token}");
    token
}

impl Daemon {
    /// A daemon on a fresh store.
    pub async fn start() -> Daemon {
        Daemon::start_with(&[]).await
    }

    /// A daemon on a fresh store, with extra flags (such as `--config F`).
    pub async fn start_with(extra: &[&str]) -> Daemon {
        let (dir, tokens) = Daemon::prepare();
        Daemon::spawn(dir, tokens, extra).await
    }

    /// A fresh temporary directory (the store will be its `data/`) and tokens file, for a daemon
    /// started later with [`Daemon::spawn`].
    pub fn prepare() -> (Arc<tempfile::TempDir>, Tokens) {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let file = dir.path().join("tokens.toml");
        let tokens = Tokens {
            admin: add_token(&file, "admin", "admin:root"),
            accountant: add_token(&file, "accountant", "accountant:alice"),
            accountant2: add_token(&file, "accountant", "accountant:bob"),
            auditor: add_token(&file, "auditor", "auditor:ann"),
            project: add_token(&file, &format!("project:{OWN_PROJECT}"), "organiser:olga"),
        };
        (dir, tokens)
    }

    /// Starts `fiscusd` on `dir`'s store and tokens, reads its port and waits for SERVING.
    pub async fn spawn(dir: Arc<tempfile::TempDir>, tokens: Tokens, extra: &[&str]) -> Daemon {
        Daemon::spawn_tls(dir, tokens, extra, None).await
    }

    /// As [`Daemon::spawn`]; with `ca`, it is reached over TLS trusting that certificate.
    pub async fn spawn_tls(dir: Arc<tempfile::TempDir>, tokens: Tokens, extra: &[&str], ca: Option<Vec<u8>>) -> Daemon {
        Daemon::spawn_at(dir, tokens, "127.0.0.1:0", extra, ca).await
    }

    /// As [`Daemon::spawn`], the process unable to write files larger than `file_bytes_max`: a
    /// write past it fails with EFBIG (SIGXFSZ ignored), a disk full as far as fiscusd can tell.
    pub async fn spawn_file_size_limited(dir: Arc<tempfile::TempDir>, tokens: Tokens, file_bytes_max: u64) -> Daemon {
        // bash counts `ulimit -f` in 1024-byte blocks
        let mut command = Command::new("bash");
        command
            .arg("-c")
            .arg(format!("umask 022 && ulimit -f {} && trap '' XFSZ && exec \"$0\" \"$@\"", file_bytes_max / 1024))
            .arg(bin());
        Daemon::spawn_command(command, dir, tokens, "127.0.0.1:0", &[], None).await
    }

    /// As [`Daemon::spawn_tls`], listening on `listen`.
    async fn spawn_at(
        dir: Arc<tempfile::TempDir>,
        tokens: Tokens,
        listen: &str,
        extra: &[&str],
        ca: Option<Vec<u8>>,
    ) -> Daemon {
        Daemon::spawn_command(under_umask_022(bin()), dir, tokens, listen, extra, ca).await
    }

    /// Runs `command` (which runs `fiscusd` with the arguments it is given), reads the address it
    /// listens on and waits for SERVING.
    async fn spawn_command(
        mut command: Command,
        dir: Arc<tempfile::TempDir>,
        tokens: Tokens,
        listen: &str,
        extra: &[&str],
        ca: Option<Vec<u8>>,
    ) -> Daemon {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join("fiscusd.log"))
            .expect("log file");
        let mut child = command
            .arg("--data")
            .arg(dir.path().join("data"))
            .arg("--create")
            .arg("--tokens")
            .arg(dir.path().join("tokens.toml"))
            .args(["--listen", listen])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .env("RUST_LOG", "info")
            .spawn()
            .expect("fiscusd starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Reads every line, so the daemon never blocks on a full pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let log_path = dir.path().join("fiscusd.log");
        let line = rx
            .recv_timeout(START_DEADLINE)
            .unwrap_or_else(|_| panic!("fiscusd printed no address in time; log:\n{}", read_log(&log_path)));
        let addr: SocketAddr = line
            .strip_prefix("fiscusd listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        assert!(addr.ip().is_loopback());
        let daemon = Daemon { child: Some(child), addr, dir, tokens, ca };
        daemon.wait_serving().await;
        daemon
    }

    async fn wait_serving(&self) {
        let started = Instant::now();
        loop {
            assert!(started.elapsed() < START_DEADLINE, "no SERVING in time; log:\n{}", self.log());
            if let Ok(channel) = self.endpoint().connect().await {
                let mut health = HealthClient::new(channel);
                // Audit is SERVING once fiscusd serves, even on a damaged store (read-only: the
                // server and Ledger are NOT_SERVING then).
                let asked = HealthCheckRequest { service: "fiscus.v1.Audit".into() };
                if let Ok(r) = health.check(asked).await {
                    if r.get_ref().status == ServingStatus::Serving as i32 {
                        return;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn endpoint(&self) -> Endpoint {
        let scheme = if self.ca.is_some() { "https" } else { "http" };
        let endpoint = Endpoint::from_shared(format!("{scheme}://{}", self.addr))
            .expect("valid endpoint")
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60));
        match &self.ca {
            Some(ca) => endpoint
                .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)).domain_name("localhost"))
                .expect("valid TLS config"),
            None => endpoint,
        }
    }

    /// A connected channel.
    pub async fn channel(&self) -> Channel {
        self.endpoint().connect().await.expect("connects to fiscusd")
    }

    /// A Ledger client sending `token` (or none).
    pub async fn ledger(&self, token: Option<&str>) -> Ledger {
        LedgerClient::with_interceptor(self.channel().await, Bearer::new(token))
    }

    /// An Audit client sending `token` (or none).
    pub async fn audit(&self, token: Option<&str>) -> Audit {
        AuditClient::with_interceptor(self.channel().await, Bearer::new(token))
    }

    /// The health status (`ServingStatus` as i32) it reports for `service` ("" for the server).
    pub async fn health(&self, service: &str) -> i32 {
        let mut health = HealthClient::new(self.channel().await);
        let asked = HealthCheckRequest { service: service.into() };
        health.check(asked).await.expect("health is served").into_inner().status
    }

    /// Its process id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        read_log(&self.dir.path().join("fiscusd.log"))
    }

    /// The store's directory.
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let sent = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
        assert!(sent.success());
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            assert!(started.elapsed() < STOP_DEADLINE, "fiscusd did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits at most `deadline` for it to exit on its own, and returns its exit status.
    pub fn wait_exit(mut self, deadline: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            assert!(started.elapsed() < deadline, "fiscusd did not exit by itself; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills it with SIGKILL (no shutdown at all) and starts it again on the same store and tokens.
    pub async fn crash_and_restart(mut self) -> Daemon {
        let (dir, tokens) = (self.dir.clone(), self.tokens.clone());
        let mut child = self.child.take().expect("running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        Daemon::spawn(dir, tokens, &[]).await
    }

    /// Stops it (SIGTERM) and starts it again on the same store, tokens and address, so that
    /// clients can find it again.
    pub async fn restart_at_same_address(self) -> Daemon {
        self.restart_at_same_address_after(Duration::ZERO, &[]).await
    }

    /// Stops this daemon and `other` (started with the same tokens), and starts `other`'s ledger at
    /// this one's address: a server that is not the one a client was following.
    pub async fn replace_at_same_address_by(self, other: Daemon) -> Daemon {
        let (tokens, listen) = (other.tokens.clone(), self.addr.to_string());
        let dir = other.dir.clone();
        for d in [self, other] {
            let status = d.stop();
            assert!(status.success(), "a clean exit after SIGTERM: {status}");
        }
        Daemon::spawn_at(dir, tokens, &listen, &[], None).await
    }

    /// A daemon on a new ledger with this one's tokens (another data folder), at a port of its own.
    pub async fn another_ledger(&self) -> Daemon {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        std::fs::copy(self.dir.path().join("tokens.toml"), dir.path().join("tokens.toml")).expect("tokens copied");
        Daemon::spawn_at(dir, self.tokens.clone(), "127.0.0.1:0", &[], None).await
    }

    /// [`Daemon::restart_at_same_address`], started again only after `down` and with the
    /// arguments `extra` (a `--config`).
    pub async fn restart_at_same_address_after(self, down: Duration, extra: &[&str]) -> Daemon {
        let (dir, tokens, listen) = (self.dir.clone(), self.tokens.clone(), self.addr.to_string());
        let status = self.stop();
        assert!(status.success(), "a clean exit after SIGTERM: {status}");
        tokio::time::sleep(down).await;
        Daemon::spawn_at(dir, tokens, &listen, extra, None).await
    }

    /// Stops it (SIGTERM) and starts it again on the same store and tokens.
    pub async fn restart(self) -> Daemon {
        let (dir, tokens) = (self.dir.clone(), self.tokens.clone());
        let status = self.stop();
        assert!(status.success(), "a clean exit after SIGTERM: {status}");
        Daemon::spawn(dir, tokens, &[]).await
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

pub fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Bearer {
    fn new(token: Option<&str>) -> Bearer {
        Bearer(token.map(|t| format!("Bearer {t}").parse().expect("a token is ASCII")))
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = &self.0 {
            request.metadata_mut().insert("authorization", v.clone());
        }
        Ok(request)
    }
}

/// A Ledger client with a token.
pub type Ledger = LedgerClient<InterceptedService<Channel, Bearer>>;
/// An Audit client with a token.
pub type Audit = AuditClient<InterceptedService<Channel, Bearer>>;

/// Money on the wire.
pub fn money(amount: &str, currency: &str) -> Option<pb::Money> {
    Some(pb::Money { amount: amount.into(), currency: currency.into() })
}

/// An event envelope.
pub fn event(id: &str, project: &str, date: &str, kind: Kind) -> pb::Event {
    pb::Event {
        event_id: id.into(),
        project: project.into(),
        effective_date: date.into(),
        memo: String::new(),
        reference: None,
        kind: Some(kind),
    }
}

/// A sponsorship contribution (the project's fee applies unless `fee_bps` is given).
pub fn contribution(id: &str, project: &str, amount: &str, fee_bps: Option<u32>) -> pb::Event {
    event(
        id,
        project,
        "2026-03-01",
        Kind::ContributionReceived(pb::ContributionReceived {
            amount: money(amount, "USD"),
            from: "Acme Corp".into(),
            source: pb::ContributionSource::Sponsorship.into(),
            fund: None,
            fee_bps,
        }),
    )
}

/// Expense details paid from the unrestricted fund.
pub fn expense(amount: &str) -> pb::ExpenseDetails {
    pb::ExpenseDetails {
        amount: money(amount, "USD"),
        payee: "Venue Ltd".into(),
        category: "venue".into(),
        fund: None,
        receipt: Some(pb::Receipt {
            hash: blake3::hash(b"invoice").as_bytes().to_vec(),
            file_name: "inv-1.pdf".into(),
        }),
    }
}

/// A direct expense payment.
pub fn expense_paid(id: &str, project: &str, amount: &str) -> pb::Event {
    event(
        id,
        project,
        "2026-03-02",
        Kind::ExpensePaid(pb::ExpensePaid { request: None, details: Some(expense(amount)) }),
    )
}

/// Opens `project` in USD with `fee_bps` and an advance limit of 5000.00.
pub async fn open(admin: &mut Ledger, project: &str, fee_bps: u32) -> pb::OpenProjectResponse {
    admin
        .open_project(pb::OpenProjectRequest {
            event_id: format!("open-{project}"),
            project: project.into(),
            effective_date: "2026-01-01".into(),
            memo: format!("{project} opens"),
            reference: None,
            opened: Some(pb::ProjectOpened {
                name: format!("Project {project}"),
                kind: pb::ProjectKind::Conference.into(),
                fee_bps,
                currency: "USD".into(),
                advance_limit: "5000.00".into(),
            }),
        })
        .await
        .unwrap_or_else(|s| panic!("open {project}: {s:?}"))
        .into_inner()
}

/// `events` with every expense that carries [`expense`]'s default receipt given its own, hashed
/// from its project and event id: distinct events are distinct invoices (the same receipt twice is
/// refused), and a retry of one event is the same content.
pub fn own_receipts(mut events: Vec<pb::Event>) -> Vec<pb::Event> {
    let default = blake3::hash(b"invoice").as_bytes().to_vec();
    for e in &mut events {
        let own = blake3::hash(format!("invoice {} {}", e.project, e.event_id).as_bytes()).as_bytes().to_vec();
        let details = match &mut e.kind {
            Some(Kind::ExpensePaid(p)) => p.details.as_mut(),
            Some(Kind::ExpenseRequested(r)) => r.details.as_mut(),
            _ => None,
        };
        if let Some(receipt) = details.and_then(|d| d.receipt.as_mut()).filter(|r| r.hash == default) {
            receipt.hash = own;
        }
    }
    events
}

/// Records one commit of `events` (each expense with its own receipt: [`own_receipts`]).
pub async fn record(client: &mut Ledger, events: Vec<pb::Event>) -> Result<pb::RecordCommitResponse, Status> {
    let events = own_receipts(events);
    client
        .record_commit(pb::RecordCommitRequest {
            events,
            expected_seq: Default::default(),
            allow_same_receipt: false,
            dry_run: false,
        })
        .await
        .map(|r| r.into_inner())
}

/// The USD balance entry of `project`.
pub async fn usd_balance(client: &mut Ledger, project: &str) -> pb::CurrencyBalance {
    let r = client
        .get_balance(pb::GetBalanceRequest { project: project.into(), currency: Some("USD".into()), as_of: None })
        .await
        .unwrap_or_else(|s| panic!("balance of {project}: {s:?}"))
        .into_inner();
    r.balances.into_iter().next().unwrap_or_else(|| pb::CurrencyBalance {
        currency: "USD".into(),
        balance: "0.00".into(),
        available: "0.00".into(),
        held: "0.00".into(),
        pledged: "0.00".into(),
        advances_outstanding: "0.00".into(),
        fees_to_date: "0.00".into(),
        ..Default::default()
    })
}

/// The head seq of `project`.
pub async fn head_seq(audit: &mut Audit, project: &str) -> u64 {
    let r = audit.get_head(pb::GetHeadRequest { project: project.into() }).await.expect("head").into_inner();
    r.projects.first().map_or(0, |p| p.seq)
}

/// Asserts a call failed with `code`, showing the status otherwise.
#[track_caller]
pub fn assert_code<T: std::fmt::Debug>(result: Result<T, Status>, code: Code) -> Status {
    match result {
        Ok(v) => panic!("expected {code:?}, got OK {v:?}"),
        Err(s) => {
            assert_eq!(s.code(), code, "{s:?}");
            s
        }
    }
}

/// Sends SIGHUP to the daemon and waits until its log says the tokens file was loaded again, the
/// `nth` time.
pub async fn reloaded(d: &Daemon, nth: usize) {
    let sent = std::process::Command::new("kill").args(["-HUP", &d.pid().to_string()]).status().expect("kill runs");
    assert!(sent.success());
    let started = std::time::Instant::now();
    while d.log().matches("tokens file reloaded").count() < nth {
        assert!(started.elapsed() < Duration::from_secs(20), "no reload {nth}; log:\n{}", d.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
