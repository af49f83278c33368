//! `fiscus`, the Fiscus command line: for the sponsor's accountants (record, import, export), its
//! auditors (verify, trial balance, tail) and sponsored projects' organisers (balance, statement,
//! verify their own chain), against a `fiscusd` (`--server`) or an embedded store (`--store`).
//!
//! Tables for people by default, `--json` for scripts. Exit codes: 0 ok, 1 refused, failed or
//! failed verification, 2 usage.

/// `println!` that ignores a closed standard output (`fiscus … | head` ends quietly).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod archive;
mod audit;
mod backend;
mod bundle;
mod check;
mod commands;
mod demo;
mod show;
mod token_file;
mod tokens;
mod verify;
mod witness;

// The parsers of commit files and CSV imports live in the library target, so that the fuzz targets
// (fuzz/) call the very code the command line runs.
use fiscus_cli::{fail, files, import, record};

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use fiscus_tokens::TokenAction;

use crate::fail::Failure;
use crate::record::KindSpec;

/// fiscusd's allocator: with glibc's, malloc and free took about a third of `fiscus audit`'s CPU on
/// a store of 1,000,000 events (each record is decoded into owned strings and freed on another
/// thread than the one that read it; BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const AFTER_HELP: &str = "\
Examples:
  fiscus demo                                   a sponsor's year on a temporary store
  fiscus --store ./books init                   make a new local store
  fiscus --store ./books projects               read a local store
  export FISCUS_SERVER=http://127.0.0.1:7878 FISCUS_TOKEN_FILE=~/.config/fiscus/token
  fiscus balance rustconf-2026                  a project's balances from fiscusd
  fiscus verify --project rustconf-2026         check the chain and balance without trusting the server

Exit codes: 0 ok, 1 refused / failed / verification failed, 2 usage error.";

/// The Fiscus command line: a fiscal sponsor's hash-chained ledger.
#[derive(Parser, Debug)]
#[command(name = "fiscus", version, about, after_help = AFTER_HELP, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    target: Target,
    /// Print JSON for scripts instead of tables (amounts are decimal strings).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

/// Where the ledger is: a daemon, or a local store.
#[derive(Args, Debug, Clone)]
struct Target {
    /// fiscusd's URL, such as http://127.0.0.1:7878 (https:// for TLS).
    #[arg(long, env = "FISCUS_SERVER", global = true, value_name = "URL")]
    server: Option<String>,
    /// Bearer token for fiscusd (made with `fiscus token add` or `fiscusd token add`). On the
    /// command line every local user sees it (`ps`, shell history): prefer --token-file or
    /// FISCUS_TOKEN.
    #[arg(long, env = "FISCUS_TOKEN", global = true, hide_env_values = true, value_name = "TOKEN")]
    token: Option<String>,
    /// A file holding the bearer token (its first line), readable by its owner only (chmod 600).
    #[arg(long, env = "FISCUS_TOKEN_FILE", global = true, value_name = "FILE", conflicts_with = "token")]
    token_file: Option<PathBuf>,
    /// Send the token over plaintext http:// to a host other than this machine (anyone on the
    /// network path can read it); without this, such a call is refused. Use https:// instead.
    #[arg(long, global = true)]
    allow_plaintext: bool,
    /// PEM file of the CA that signed fiscusd's TLS certificate (default: the system's roots).
    #[arg(long, env = "FISCUS_TLS_CA", global = true, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// Name expected in fiscusd's certificate, when it is not the URL's host.
    #[arg(long, global = true, value_name = "NAME")]
    tls_domain: Option<String>,
    /// How long each call to fiscusd waits for its answer, in seconds (1 to 86400): past it the
    /// command fails with DEADLINE_EXCEEDED instead of waiting on a server that stopped answering.
    /// A server that stops answering altogether is also found by the connection's keep-alive PING
    /// (every 20 s, answer due within 10 s): a call then ends after about 30 s, whatever the
    /// deadline, saying the server stopped answering.
    /// [env: FISCUS_TIMEOUT=] [default: 30]
    #[arg(long, global = true, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(TIMEOUT_RANGE))]
    timeout: Option<u64>,
    /// Work on the embedded store in DIR instead of a daemon (local and offline use; takes
    /// precedence over --server). A DIR with no store is refused unless --create is given (or
    /// `fiscus --store DIR init` made it).
    #[arg(long, env = "FISCUS_STORE", global = true, value_name = "DIR")]
    store: Option<PathBuf>,
    /// With --store: make a new, empty store in DIR when it holds none (an existing store is
    /// opened as it is).
    #[arg(long, global = true)]
    create: bool,
    /// With --store: the actor recorded for events written locally.
    #[arg(long, global = true, default_value = "local", value_name = "NAME")]
    actor: String,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a realistic year of a sponsor on an embedded store and show balances, a statement and
    /// a verified chain.
    Demo(DemoArgs),
    /// A project's balances: balance, available, restricted funds, holds, pledges, advances, fees.
    Balance {
        /// The project id.
        project: String,
        /// Only this currency.
        #[arg(long)]
        currency: Option<String>,
        /// The balances at the end of this day, YYYY-MM-DD: events whose effective date is on or
        /// before it count, whenever they were recorded (default: every event).
        #[arg(long)]
        as_of: Option<String>,
    },
    /// A project's statement for a date range, one per currency.
    Statement {
        /// The project id.
        project: String,
        /// First date, YYYY-MM-DD (default: the beginning).
        #[arg(long)]
        from: Option<String>,
        /// Last date, YYYY-MM-DD (default: the end).
        #[arg(long)]
        to: Option<String>,
        /// Only this currency.
        #[arg(long)]
        currency: Option<String>,
    },
    /// A project's events in chain order.
    Events {
        /// The project id (or `sponsor`).
        project: String,
        /// Start after this seq.
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Most events to show.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// The projects and their terms.
    Projects {
        /// Include closed projects.
        #[arg(long)]
        all: bool,
    },
    /// The sponsor-wide trial balance (debit positive, as hledger shows it).
    TrialBalance {
        /// The balance at the end of this day, YYYY-MM-DD, by effective date (default: every event).
        #[arg(long)]
        as_of: Option<String>,
    },
    /// Open pledges: sponsor, amount, paid so far, outstanding, due date, overdue marked, and the
    /// receivables ageing (current, 1-30, 31-60, 61-90, over 90 days overdue) per currency.
    Pledges {
        /// Only this project.
        project: Option<String>,
        /// The report's date, YYYY-MM-DD (default: today): payments and cancellations dated after
        /// it do not count, and days overdue are counted to it.
        #[arg(long)]
        as_of: Option<String>,
    },
    /// Expense requests not yet paid or rejected.
    Pending {
        /// Only this project.
        project: Option<String>,
    },
    /// Record one event from flags, or a commit from a JSON file.
    #[command(after_help = record::RECORD_HELP)]
    Record(Box<RecordArgs>),
    /// Import money movements from a file.
    Import {
        #[command(subcommand)]
        what: ImportWhat,
    },
    /// Export the books (or one project's) for hledger, beancount, CSV or JSON lines.
    Export {
        /// The format.
        format: ExportFormat,
        /// Only this project.
        #[arg(long)]
        project: Option<String>,
        /// Write to FILE instead of standard output (`-`: standard output). FILE is made new (mode
        /// 0600) and renamed into place; a link, device, pipe or folder there is refused.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Verify chains: every chain of a local store (--store), or one project's chain and balance
    /// from fiscusd without trusting it (--server --project; every readable project without
    /// --project).
    Verify {
        /// The project to verify (with --server); with --bundle or --receipt, the project the
        /// bundle, or some record of the receipt, must be of.
        #[arg(long)]
        project: Option<String>,
        /// Verify a take-away bundle offline instead (no daemon, no store; `-` reads it from standard
        /// input); needs --pin.
        #[arg(long, value_name = "FILE", requires = "pin")]
        bundle: Option<PathBuf>,
        /// The log's verifier key `<origin>+<key id>+<key>` (`fiscusd key show`): with --server,
        /// accept a project's head and balance only under a checkpoint it signed, consistent with
        /// the last one accepted (see --state); with --bundle or --receipt, the key they must be
        /// signed by.
        #[arg(long, value_name = "KEY")]
        pin: Option<String>,
        /// With --pin: a C2SP tlog-policy file naming the witnesses whose cosignatures are
        /// required (for example k of n); with --server, the head and balance are accepted only
        /// under a checkpoint that carries them (see --wait); one of its `log` lines must be the
        /// pinned key.
        #[arg(long, value_name = "FILE", requires = "pin")]
        policy: Option<PathBuf>,
        /// With --server and --policy: how long to wait for a checkpoint at or after the head's to
        /// be cosigned as the policy needs, in seconds (at most 600) [default: 10].
        #[arg(long, value_name = "SECONDS", requires = "policy")]
        wait: Option<u64>,
        /// The file keeping the last checkpoint accepted with --pin [default:
        /// ~/.fiscus/checkpoint-<key id>]. A missing file is a first use; an empty one, a link or
        /// anything but a regular file is refused.
        #[arg(long, value_name = "FILE", requires = "pin")]
        state: Option<PathBuf>,
        /// Check a receipt kept by `fiscus record --receipt FILE`, offline, with --pin.
        #[arg(long, value_name = "FILE", conflicts_with = "bundle")]
        receipt: Option<PathBuf>,
    },
    /// Audit the whole ledger trusting only the log's verifier key: every chain (rules re-checked),
    /// the commit chain, the log rebuilt from the commit entries and compared with every stored
    /// checkpoint, every signature and consistency step; from fiscusd (--server, an auditor's
    /// token), a local store (--store) or an archive (--archive, offline). Exits 1 on damage.
    Audit {
        /// The log's verifier key `<origin>+<key id>+<key>` (`fiscusd key show`).
        #[arg(long, value_name = "KEY")]
        pin: String,
        /// A C2SP tlog-policy file naming the witnesses whose cosignatures the checkpoints carry;
        /// some checkpoint must meet its quorum (the largest such size is reported; the latest may
        /// not be cosigned yet).
        #[arg(long, value_name = "FILE")]
        policy: Option<std::path::PathBuf>,
        /// Audit an archive written by `fiscus archive` instead, offline.
        #[arg(long, value_name = "FILE")]
        archive: Option<std::path::PathBuf>,
        /// The file keeping the last checkpoint an audit (or `fiscus verify --pin`) accepted: the
        /// rebuilt log must hold it (same size, same root; a log never goes back), and a passing
        /// audit keeps its latest checkpoint there. A missing file is a first use; an empty one,
        /// a link or anything but a regular file is refused.
        #[arg(long, value_name = "FILE")]
        state: Option<std::path::PathBuf>,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Write an audit archive (from fiscusd or a local store): the raw commit entries, every
    /// chain's raw records and every stored checkpoint, owner-only; check it offline with
    /// `fiscus audit --archive FILE --pin KEY`.
    Archive {
        /// The archive file to write (replaced whole, never half-written).
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Write a project's take-away bundle (from fiscusd): its raw chain, the proof of its latest
    /// head under the signed checkpoint with its cosignatures, the verifier key and an hledger
    /// journal of its books; check it offline with `fiscus verify --bundle FILE --pin KEY`.
    Bundle {
        /// The project id.
        #[arg(long)]
        project: String,
        /// The bundle file to write (replaced whole, owner-only).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The log's verifier key `<origin>+<key id>+<key>` (`fiscusd key show`): the checkpoint
        /// must be signed by it, and the bundle names it.
        #[arg(long, value_name = "KEY")]
        pin: String,
        /// A C2SP tlog-policy file: the bundle is made only under a head checkpoint whose own
        /// cosignatures meet it (see --wait), so that `verify --bundle --policy` passes.
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// With --policy: how long to wait for the head's checkpoint to be cosigned as the policy
        /// needs, in seconds (at most 600) [default: 10].
        #[arg(long, value_name = "SECONDS", requires = "policy")]
        wait: Option<u64>,
    },
    /// Follow new commits as they are made (after catching up from --after). When the daemon
    /// goes away (a restart, a lost connection) it follows again from the last commit shown, with
    /// none missed or shown twice, waiting longer between attempts; it gives up after 30 in a row.
    /// It stops, saying so, when the daemon comes back with another history: its head behind the
    /// commit tail was at (the last one shown, or the one it started after), or that commit's hash
    /// another. Without --project, that holds before anything is shown; with --project, the
    /// project's last record shown must still be in its chain, with the same hash.
    Tail {
        /// Only this project's events.
        #[arg(long)]
        project: Option<String>,
        /// Start after this commit number (default: only new commits).
        #[arg(long)]
        after: Option<u64>,
        /// Stop after this many commits.
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Make a new, empty store in the folder given with --store (nothing is changed when one is
    /// there already).
    Init,
    /// Manage fiscusd's bearer tokens file.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Run a C2SP tlog-witness that cosigns a ledger's checkpoints and refuses a forked history.
    Witness {
        #[command(subcommand)]
        action: witness::WitnessAction,
    },
}

/// `fiscus demo` options.
#[derive(Args, Debug)]
struct DemoArgs {
    /// Instead of the scripted year, generate N events with the ledger's workload generator: at
    /// most 10,000,000 (a generated store takes about 350 bytes of disk and of memory per event).
    /// Progress is shown on standard error.
    #[arg(long, value_name = "N", value_parser = demo::events_arg)]
    events: Option<u64>,
    /// Seed of the generator (the same seed gives the same books).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Keep the temporary store (without --store) to look around in it afterwards; it is removed
    /// at the end otherwise, and when the demo is stopped (Ctrl-C, SIGTERM). A store given with
    /// --store is always kept.
    #[arg(long)]
    keep: bool,
}

/// `fiscus record` options.
#[derive(Args, Debug)]
struct RecordArgs {
    /// A commit file (JSON; `-` for standard input): every event in it is stored, or none.
    #[arg(long, short, value_name = "FILE")]
    file: Option<PathBuf>,
    /// The project (for an event from flags).
    #[arg(long, global = true)]
    project: Option<String>,
    /// Accounting date, YYYY-MM-DD (default: today's date where you are, in the local time zone,
    /// TZ; give --date when retrying an event recorded on another day).
    #[arg(long, global = true)]
    date: Option<String>,
    /// Free text shown on statements.
    #[arg(long, global = true, default_value = "")]
    memo: String,
    /// External reference such as an invoice or bank transaction number.
    #[arg(long, global = true)]
    reference: Option<String>,
    /// Idempotency key (default: derived from the event's content, so a retry records it once).
    #[arg(long, global = true)]
    id: Option<String>,
    /// Refuse the commit unless the project's head seq is this (optimistic concurrency).
    #[arg(long, global = true, value_name = "SEQ")]
    expected_seq: Option<u64>,
    /// Record an event even though one with the same reference, date, amount and project is
    /// already recorded under another id (without this, such a likely duplicate is refused).
    #[arg(long, global = true)]
    allow_duplicate: bool,
    /// Record an expense request or direct expense whose receipt the project already holds (on a
    /// request not rejected or a payment not reversed): the same invoice again, on purpose.
    #[arg(long, global = true)]
    allow_same_receipt: bool,
    /// Keep the commit's receipt (a C2SP tlog-proof under the signed checkpoint) in FILE; check
    /// it later with `fiscus verify --receipt FILE --pin KEY`. Given before the event kind (an
    /// expense's own `--receipt` names its invoice).
    #[arg(long, value_name = "FILE")]
    receipt: Option<PathBuf>,
    #[command(subcommand)]
    kind: Option<KindSpec>,
}

#[derive(Subcommand, Debug)]
enum ImportWhat {
    /// A bank's or payment processor's CSV (see docs/IMPORT.md). Every row is checked against the
    /// ledger before anything is recorded; importing the same file twice records nothing new.
    #[command(after_help = import_help())]
    Csv {
        /// The CSV file (`-` reads it from standard input).
        file: PathBuf,
        /// Check every row against the ledger as the import would (the same rules, on the current
        /// state) and show what would be recorded, per line, without recording anything.
        #[arg(long)]
        dry_run: bool,
        /// Record a row even though an event with the same reference, date, amount and project is
        /// already recorded under another id (without this, such a likely duplicate is refused).
        #[arg(long)]
        allow_duplicate: bool,
        /// Record an expense row whose receipt hash the project already holds (on a request not
        /// rejected or a payment not reversed) or an earlier row holds: the same invoice again, on
        /// purpose (without this, such a row is refused).
        #[arg(long)]
        allow_same_receipt: bool,
    },
}

/// `fiscus import csv --help`'s after-help: every column and every `kind`, from the parser's own
/// tables.
fn import_help() -> String {
    let mut help = String::from("Columns (a header row; any order; names case-insensitive):\n");
    for c in import::REQUIRED_COLUMNS {
        help.push_str(&format!("  {c:<14} required\n"));
    }
    for c in import::OPTIONAL_COLUMNS {
        help.push_str(&format!("  {c:<14} optional\n"));
    }
    help.push_str("Kinds (the kind column):\n");
    for (k, what) in import::KINDS {
        help.push_str(&format!("  {k:<14} {what}\n"));
    }
    help.push_str(
        "Rows are reported by their line in the file (the header is line 1). Each row's event id is\n\
         derived from its normalised content, so a row is recorded once however often it is imported.",
    );
    help
}

/// Export formats.
#[derive(ValueEnum, Clone, Copy, Debug)]
enum ExportFormat {
    /// An hledger journal.
    Hledger,
    /// A beancount ledger.
    Beancount,
    /// CSV, one line per posting. A memo, reference or event id starting with = + - @, a tab or
    /// CR gets a leading ' so that a spreadsheet never runs it as a formula.
    Csv,
    /// JSON lines, one object per event.
    Jsonl,
}

fn main() -> ExitCode {
    // The store's files (--store, the demo's), the tokens file and exports are the user's only.
    #[cfg(unix)]
    fiscus_ledger::private::private_umask();
    let matches = match Cli::command().try_get_matches() {
        Ok(matches) => matches,
        Err(e) => with_receipt_tip(e).exit(),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if matches.value_source("token") == Some(clap::parser::ValueSource::CommandLine) {
        eprintln!(
            "fiscus: warning: a token given with --token is visible to every local user (ps, shell history); \
             use --token-file FILE or FISCUS_TOKEN"
        );
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fiscus: cannot start: {e}");
            return ExitCode::from(fail::EXIT_FAILED);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fiscus: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// clap's refusal of `--receipt` after an event's kind (`fiscus record contribution ... --receipt
/// FILE`), whose own tip names a flag that merely looks alike: the tip says where `--receipt`
/// goes, and what the expense's own `--receipt` is. Every other error is clap's as it is.
fn with_receipt_tip(e: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let receipt = matches!(e.get(ContextKind::InvalidArg), Some(ContextValue::String(a)) if a.split('=').next() == Some("--receipt"));
    if e.kind() != ErrorKind::UnknownArgument || !receipt || !std::env::args().any(|a| a == "record") {
        return e;
    }
    // clap's usage line is left out: it ends in a flag clap took for the one meant
    let mut tip = clap::Error::new(ErrorKind::UnknownArgument).with_cmd(&Cli::command());
    if let Some(value) = e.get(ContextKind::InvalidArg) {
        tip.insert(ContextKind::InvalidArg, value.clone());
    }
    tip.insert(
        ContextKind::Suggested,
        ContextValue::StyledStrs(vec![
            "--receipt FILE keeps the commit's receipt: give it before the event's kind, as in \
             `fiscus record --receipt FILE KIND ...` (after `expense`, --receipt names the expense's invoice)"
                .into(),
        ]),
    );
    tip
}

/// The seconds a call may wait for its answer (`--timeout`, `FISCUS_TIMEOUT`).
const TIMEOUT_RANGE: std::ops::RangeInclusive<u64> = 1..=86_400;
/// The seconds a call waits when neither `--timeout` nor `FISCUS_TIMEOUT` says.
const DEFAULT_TIMEOUT: u64 = 30;

/// The call deadline in seconds: `--timeout`, else `FISCUS_TIMEOUT`, else 30. Read only by
/// commands that call fiscusd, so a bad `FISCUS_TIMEOUT` does not stop one on `--store`.
fn call_timeout(t: &Target) -> Result<u64, Failure> {
    if let Some(seconds) = t.timeout {
        return Ok(seconds);
    }
    match std::env::var("FISCUS_TIMEOUT") {
        Err(std::env::VarError::NotPresent) => Ok(DEFAULT_TIMEOUT),
        Ok(text) => text
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|s| TIMEOUT_RANGE.contains(s))
            .ok_or_else(|| {
                Failure::usage(format!(
                    "FISCUS_TIMEOUT is {text:?}: it must be a whole number of seconds from {} to {} (or unset for {DEFAULT_TIMEOUT})",
                    TIMEOUT_RANGE.start(),
                    TIMEOUT_RANGE.end()
                ))
            }),
        Err(std::env::VarError::NotUnicode(_)) => Err(Failure::usage("FISCUS_TIMEOUT is not UTF-8 text")),
    }
}

/// What `record` adds when a read it makes before sending its commit gets no answer.
const BEFORE_COMMIT: &str = "\nnothing was recorded: the command stopped before sending its commit";

async fn run(cli: Cli) -> Result<(), Failure> {
    let no_token = cli.target.store.is_none() && cli.target.token.is_none() && cli.target.token_file.is_none();
    let timeout = call_timeout(&cli.target).unwrap_or(DEFAULT_TIMEOUT);
    let plaintext = cli.target.server.clone().filter(|url| cli.target.store.is_none() && url.starts_with("http://"));
    let records = matches!(cli.command, Command::Record(_));
    let result = run_command(cli).await;
    // A plaintext call to a TLS port fails in HTTP/2 ("h2 protocol error"): when the server answers
    // a TLS handshake, say to use https://.
    let result = match (result, plaintext) {
        (
            Err(Failure::Client(
                e @ (fiscus_client::ClientError::Connect { .. }
                | fiscus_client::ClientError::Status {
                    code:
                        fiscus_client::Code::Internal | fiscus_client::Code::Unknown | fiscus_client::Code::Unavailable,
                    ..
                }),
            )),
            Some(url),
        ) if !e.to_string().contains(fiscus_client::STOPPED_ANSWERING)
            && fiscus_client::tls::speaks_tls(&url).await =>
        {
            Err(Failure::other(format!(
            "{e}\nfiscusd at {url} serves TLS: use https://{} (with --tls-ca CA.pem when its certificate is signed \
             by a CA of your own)",
            url.trim_start_matches("http://")
            )))
        }
        (result, _) => result,
    };
    result.map_err(|e| match e {
        // The server's "no bearer token" says what is missing, not how to give it.
        Failure::Client(fiscus_client::ClientError::Status { code: fiscus_client::Code::Unauthenticated, .. })
            if no_token =>
        {
            Failure::other(format!("{e}\nno token was given: give --token or set FISCUS_TOKEN (or --token-file FILE)"))
        }
        // a read's error, or a write's with what became of the commit (`backend::unanswered`)
        e if e.to_string().contains(fiscus_client::NO_ANSWER_IN_TIME) => {
            let before_commit = if records && matches!(&e, Failure::Client(_)) { BEFORE_COMMIT } else { "" };
            Failure::other(format!(
                "{e}\n(the deadline was {timeout} s: --timeout SECONDS or FISCUS_TIMEOUT sets it){before_commit}"
            ))
        }
        // `record`'s reads before its commit (a commit not answered is `Failure::Unanswered`)
        Failure::Client(e) if records && e.is_unreachable() => Failure::other(format!("{e}{BEFORE_COMMIT}")),
        e => e,
    })
}

/// Refuses a `--store` (or `FISCUS_STORE`) that is there but is no folder, a file or a device:
/// a store is a folder. Without this a file given as the store was told to run `fiscus --store FILE
/// init`, which cannot make a store of it.
fn store_is_a_folder(dir: &std::path::Path) -> Result<(), Failure> {
    match fiscus_ledger::files::not_a_folder(dir) {
        Some(kind) => Err(Failure::usage(format!(
            "--store {} is {kind}, not a folder: a store is a folder; give --store the folder that holds the books \
             (or a new folder's path, with `fiscus --store DIR init` or --create)",
            dir.display()
        ))),
        None => Ok(()),
    }
}

async fn run_command(cli: Cli) -> Result<(), Failure> {
    let json = cli.json;
    let t = &cli.target;
    // (tokens and the witness work on their own files, whatever FISCUS_STORE says)
    if let (Some(dir), false) = (&t.store, matches!(cli.command, Command::Token { .. } | Command::Witness { .. })) {
        store_is_a_folder(dir)?;
    }
    match cli.command {
        Command::Demo(a) => demo::run(t.store.as_deref(), a.events, a.seed, a.keep, json).await,
        Command::Token { action } => commands::token(action, json),
        Command::Witness { action } => witness::run(action, json).await,
        Command::Balance { project, currency, as_of } => {
            commands::balance(&connect(t).await?, &project, currency.as_deref(), as_of.as_deref(), json).await
        }
        Command::Statement { project, from, to, currency } => {
            commands::statement(&connect(t).await?, &project, from.as_deref(), to.as_deref(), currency.as_deref(), json)
                .await
        }
        Command::Events { project, after, limit } => {
            commands::events(&connect(t).await?, &project, after, limit, json).await
        }
        Command::Projects { all } => commands::projects(&connect(t).await?, all, json).await,
        Command::TrialBalance { as_of } => commands::trial_balance(&connect(t).await?, as_of.as_deref(), json).await,
        Command::Pledges { project, as_of } => {
            commands::pledges(&connect(t).await?, project.as_deref(), as_of.as_deref(), json).await
        }
        Command::Pending { project } => commands::pending(&connect(t).await?, project.as_deref(), json).await,
        Command::Record(r) => {
            let input = commands::RecordInput {
                file: r.file,
                project: r.project,
                date: r.date,
                memo: r.memo,
                reference: r.reference,
                id: r.id,
                expected_seq: r.expected_seq,
                allow_duplicate: r.allow_duplicate,
                allow_same_receipt: r.allow_same_receipt,
                kind: r.kind,
                receipt: r.receipt,
            };
            commands::record(&mut connect(t).await?, input, json).await
        }
        Command::Import { what: ImportWhat::Csv { file, dry_run, allow_duplicate, allow_same_receipt } } => {
            let mut b = connect(t).await?;
            commands::import_csv(&mut b, &file, dry_run, allow_duplicate, allow_same_receipt, json).await
        }
        Command::Export { format, project, output } => {
            let format = match format {
                ExportFormat::Hledger => commands::Format::Hledger,
                ExportFormat::Beancount => commands::Format::Beancount,
                ExportFormat::Csv => commands::Format::Csv,
                ExportFormat::Jsonl => commands::Format::Jsonl,
            };
            commands::export(&connect(t).await?, format, project.as_deref(), output.as_deref(), json).await
        }
        Command::Verify { bundle: Some(_), state: Some(_), .. }
        | Command::Verify { receipt: Some(_), state: Some(_), .. } => Err(Failure::usage(
            "--state applies to --server: a bundle or a receipt is checked offline against --pin only, and \
                 carries no proof that its checkpoint is consistent with one you kept (check that online with \
                 `fiscus verify --server … --project P --pin KEY --state FILE`)",
        )),
        Command::Verify { bundle: Some(file), pin, policy, project, .. } => {
            let pin = pin.ok_or_else(|| Failure::usage("--bundle needs --pin KEY"))?;
            bundle::verify_file(&file, &pin, policy.as_deref(), project.as_deref(), json)
        }
        Command::Verify { project, pin, state, receipt, bundle: None, policy, wait } => {
            if policy.is_some() && (receipt.is_some() || t.store.is_some()) {
                return Err(Failure::usage(
                    "--policy applies to --server and --bundle: a receipt or a local store carries no cosignatures",
                ));
            }
            match (receipt, &t.store, &t.server, pin) {
                (Some(file), _, _, pin) => verify::receipt(&file, pin.as_deref(), project.as_deref(), json),
                (None, Some(_), _, _) if project.is_some() => Err(Failure::usage(
                    "--project applies to --server, --bundle and --receipt: a local store is verified whole (drop \
                     --project)",
                )),
                (None, Some(_), _, Some(_)) => Err(Failure::usage(
                    "--pin applies to --server, --bundle and --receipt: a local store holds its own checkpoints \
                     (check them with `fiscus --store DIR audit --pin KEY`)",
                )),
                (None, Some(dir), _, None) => verify::store(dir, json),
                (None, None, Some(_), Some(pin)) => {
                    let witnesses = verify::witnesses(policy.as_deref(), wait)?;
                    let b = connect(t).await?;
                    verify::pinned(&b, project.as_deref(), &pin, state.as_deref(), witnesses.as_ref(), json).await
                }
                (None, None, Some(_), None) => verify::server(&connect(t).await?, project.as_deref(), json).await,
                (None, None, None, _) => Err(no_target()),
            }
        }
        Command::Audit { pin, policy, archive: Some(file), state, quiet } => {
            if let Some(other) = t.store.as_ref().map(|d| d.display().to_string()).or_else(|| t.server.clone()) {
                eprintln!("fiscus: the archive is audited offline; {other} is not read");
            }
            audit::run(None, Some(&file), &pin, policy.as_deref(), state.as_deref(), quiet, json).await
        }
        Command::Audit { pin, policy, archive: None, state, quiet } => {
            audit::run(Some(&connect(t).await?), None, &pin, policy.as_deref(), state.as_deref(), quiet, json).await
        }
        Command::Archive { out, quiet } => audit::archive(&connect(t).await?, &out, quiet, json).await,
        Command::Bundle { project, out, pin, policy, wait } => {
            if t.store.is_some() {
                // a local store has no signed checkpoint: refuse before opening (or creating) it
                return Err(Failure::usage(
                    "fiscus bundle needs --server: the bundle's checkpoint is signed by fiscusd",
                ));
            }
            let witnesses = verify::witnesses(policy.as_deref(), wait)?;
            bundle::write_file(&connect(t).await?, &project, &out, &pin, witnesses.as_ref(), json).await
        }
        Command::Tail { project, after, limit } => {
            commands::tail(&connect(t).await?, project.as_deref(), after, limit, json).await
        }
        Command::Init => {
            let dir = t.store.as_deref().ok_or_else(|| Failure::usage("fiscus init needs --store DIR"))?;
            backend::init(dir, json)
        }
    }
}

fn no_target() -> Failure {
    Failure::usage(
        "no ledger to work on: give --server URL (or FISCUS_SERVER) with --token-file FILE (or FISCUS_TOKEN), or \
         --store DIR for a local store",
    )
}

/// Opens the store (`--store`) or connects to the daemon (`--server`).
async fn connect(t: &Target) -> Result<backend::Backend, Failure> {
    if let Some(dir) = &t.store {
        return backend::Backend::local(dir, &t.actor, t.create);
    }
    let Some(url) = &t.server else { return Err(no_target()) };
    let tls_ca = match &t.tls_ca {
        Some(path) => Some(
            files::read_named(path, files::CERTIFICATES_BYTES_MAX, "CA certificate file")
                .map_err(|e| Failure::usage(format!("--tls-ca {e}")))?
                .into_bytes(),
        ),
        None => None,
    };
    let token = match (&t.token, &t.token_file) {
        (Some(token), _) => Some(token.clone()),
        (None, Some(path)) => Some(token_file::read(path)?),
        (None, None) => None,
    };
    if token.is_some() && !t.allow_plaintext {
        token_file::refuse_plaintext(url)?;
    }
    let options = fiscus_client::ClientOptions {
        token,
        tls_ca,
        tls_domain: t.tls_domain.clone(),
        call_timeout: Some(std::time::Duration::from_secs(call_timeout(t)?)),
        keep_alive: None,
    };
    backend::Backend::remote(url, options).await
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
