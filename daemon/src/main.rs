//! `fiscusd`, the Fiscus daemon: the command line.
//!
//! - `fiscusd --data DIR [--create] --tokens FILE [--listen ADDR] [--tls-cert F --tls-key F]
//!   [--log-format text|json] [--config F]`
//!   serves the Ledger and Audit services, gRPC health and reflection (see `serve.rs`);
//! - `fiscusd token add --tokens FILE --role ROLE [--name NAME]` makes a token and prints it once;
//! - `fiscusd token list --tokens FILE` lists the names and roles of the tokens file;
//! - `fiscusd token revoke --tokens FILE --name NAME` removes a token (SIGHUP makes a running
//!   `fiscusd` reload the file).
//! - `fiscusd key show --data DIR [--create] [--log-origin O] [--config F]` prints the transparency
//!   log's verifier key (making the key only with `--create` when the data folder has none yet).

mod access;
mod audit_service;
mod auth;
mod config;
mod connections;
mod frames;
use fiscus_wire as convert;
mod ledger_service;
mod log_key;
mod serve;
mod slots;
mod state;
mod status;
mod subscribe;
mod tls;
use fiscus_tokens as tokens;
mod witnesses;
mod writer;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::access::LogFormat;
use crate::config::{Flags, Settings};
use crate::tokens::TokenAction;

/// mimalloc: with glibc's allocator, malloc and free took about a third of the runtime threads' CPU
/// under load (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The Fiscus daemon: the ledger a fiscal sponsor keeps, served over gRPC.
#[derive(Parser, Debug)]
#[command(name = "fiscusd", version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

/// Settings of the server (each may also come from `--config`).
#[derive(Args, Debug)]
struct ServeArgs {
    /// Directory of the store (made only with --create).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Make a new, empty store when --data holds none (without it such a folder is refused, so
    /// that a mistyped path never serves empty books); an existing store is opened as it is.
    #[arg(long)]
    create: bool,
    /// Address to listen on [default: 127.0.0.1:7878]; port 0 picks a free port.
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// The tokens file (made with `fiscusd token add`).
    #[arg(long, value_name = "FILE")]
    tokens: Option<PathBuf>,
    /// TLS certificate chain, PEM (with --tls-key).
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// TLS private key, PEM (with --tls-cert).
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Log lines (the access log included) as `text` or `json` [default: text].
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<LogFormat>,
    /// The transparency log's origin line, the first line of every checkpoint [default:
    /// localhost/fiscus]; a name of your own, such as books.example.org/fiscus.
    #[arg(long, value_name = "ORIGIN")]
    log_origin: Option<String>,
    /// A TOML config file with the same settings and the limits; flags win over it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Fault injection for tests only: the writer panics before storing this commit number.
    #[arg(long, value_name = "N", hide = true)]
    fault_writer_panic_at_commit: Option<u64>,
    /// For measurement only (`fiscus-bench logcost`): a new store is written without its
    /// transparency log, and commits are answered without receipts. The log is always on otherwise.
    #[arg(long, hide = true)]
    measure_without_log: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Manage bearer tokens.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// The transparency log's signing key.
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
}

#[derive(Subcommand, Debug)]
enum KeyAction {
    /// Prints the verifier key (`name+keyid+base64`, as Go's sumdb/note writes it) that clients
    /// pin with `fiscus verify --pin KEY`. A folder without a key is refused unless --create.
    Show {
        /// Directory of the store.
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        /// Make the key (and the folder) when there is none yet, as the daemon's first start does.
        #[arg(long)]
        create: bool,
        /// The log's origin line [default: localhost/fiscus].
        #[arg(long, value_name = "ORIGIN")]
        log_origin: Option<String>,
        /// A TOML config file (its `data` and `log_origin`).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    // Every file fiscusd makes (the store's, sled's later snapshots, the tokens file) is its owner's.
    #[cfg(unix)]
    fiscus_ledger::private::private_umask();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Token { action }) => token_command(action),
        Some(Command::Key { action: KeyAction::Show { data, create, log_origin, config } }) => {
            key_show(data, create, log_origin, config)
        }
        None => {
            if let Some(commit) = cli.serve.fault_writer_panic_at_commit {
                writer::inject_panic_at_commit(commit);
            }
            if cli.serve.measure_without_log {
                writer::measure_without_log();
            }
            let flags = Flags {
                data: cli.serve.data,
                listen: cli.serve.listen,
                tokens: cli.serve.tokens,
                tls_cert: cli.serve.tls_cert,
                tls_key: cli.serve.tls_key,
                log_format: cli.serve.log_format,
                log_origin: cli.serve.log_origin,
                config: cli.serve.config,
                create: cli.serve.create,
            };
            match Settings::resolve(flags) {
                Ok(settings) => serve::run(settings),
                Err(e) => {
                    eprintln!("fiscusd: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

fn key_show(data: Option<PathBuf>, create: bool, log_origin: Option<String>, config: Option<PathBuf>) -> ExitCode {
    let file = match &config {
        Some(path) => config::FileConfig::load(path).map_err(|e| e.to_string()),
        None => Ok(config::FileConfig::default()),
    };
    let shown = file.and_then(|file| {
        let data = data.or(file.data).ok_or("--data is required")?;
        let (origin, from) = match (log_origin, file.log_origin, &config) {
            (Some(flag), _, _) => (flag, log_key::OriginFrom::Flag),
            (None, Some(origin), Some(path)) => (origin, log_key::OriginFrom::ConfigFile(path)),
            _ => (log_key::ORIGIN_DEFAULT.to_owned(), log_key::OriginFrom::Default),
        };
        let key =
            if create || file.create { log_key::load_or_create(&data, &origin) } else { log_key::load(&data, &origin) };
        let (signer, warning) = key.map_err(|e| e.origin_from(from).to_string())?;
        if let Some(w) = warning {
            eprintln!("fiscusd: warning: {w}");
        }
        Ok::<_, String>(signer.verifier_key())
    });
    match shown {
        Ok(key) => {
            println!("{key}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fiscusd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn token_command(action: TokenAction) -> ExitCode {
    // One implementation for `fiscusd token` and `fiscus token`: the same words from both.
    match tokens::run(&action, &mut std::io::stdout(), &mut std::io::stderr()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fiscusd: {e}");
            ExitCode::FAILURE
        }
    }
}
