//! Settings of a running `fiscusd`: where the store and the tokens are, where to listen, TLS, and
//! the limits. A TOML file (`--config`) may give any of them; flags win over the file, and the file
//! over the defaults.
//!
//! ```toml
//! data = "/var/lib/fiscus"
//! listen = "127.0.0.1:7878"
//! tokens = "/etc/fiscus/tokens.toml"
//! log_format = "json"
//!
//! [limits]
//! request_bytes_max = 4194304
//! commit_events_max = 1000
//! connections_max = 1024
//!
//! [[witnesses]]
//! name = "auditor"
//! url = "http://witness.example:7380"
//! key = "witness.example/w1+1b2c3d4e+BC..."
//! ```
//!
//! Each `[[witnesses]]` entry is a C2SP tlog-witness every new checkpoint is submitted to (see
//! `witnesses.rs` for its fields and the submission).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use fiscus_ledger::commit::COMMIT_EVENTS_MAX;
use fiscus_ledger::files::{read_text_bounded, Links};
use fiscus_ledger::ids::MEMO_CHARS_MAX;
use fiscus_ledger::store::GROUP_REQUESTS_MAX;
use serde::Deserialize;

use crate::access::LogFormat;
use crate::witnesses::{Witness, WitnessConfig};

/// Where `fiscusd` listens when neither a flag nor the config file says: loopback only.
pub const LISTEN_DEFAULT: &str = "127.0.0.1:7878";

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config file is not valid TOML for these settings.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A required setting is missing.
    #[error("{0} is required (give the flag or set it in the config file)")]
    Missing(&'static str),
    /// A setting is out of its range.
    #[error("{setting}: {message}")]
    Range {
        /// The setting.
        setting: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A `[[witnesses]]` entry cannot be used.
    #[error("config file: {field}: {message}")]
    Witness {
        /// The field, as `witnesses[<index>].<name>`.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// The limits: every queue, page and request is bounded.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request message accepted, in bytes (larger: `RESOURCE_EXHAUSTED`).
    pub request_bytes_max: usize,
    /// Most events one `RecordCommit` may carry (at most the ledger's `COMMIT_EVENTS_MAX`).
    pub commit_events_max: usize,
    /// Most items a page (`ListEvents`, `ListProjects`) may ask for.
    pub page_size_max: u32,
    /// Page size when a request asks for 0.
    pub page_size_default: u32,
    /// Write requests waiting for the writer; a full queue answers `RESOURCE_EXHAUSTED` at once.
    pub queue_depth_max: usize,
    /// Most commit requests the writer takes into one group (one batch, one sync).
    pub group_requests_max: usize,
    /// Longest memo, in characters (at most the ledger's own limit of 1,000).
    pub memo_chars_max: usize,
    /// Most `Subscribe` streams at once.
    pub subscribers_max: usize,
    /// How many commits a live subscriber may fall behind the head before it is ended with
    /// `RESOURCE_EXHAUSTED`.
    pub subscriber_lag_commits_max: u64,
    /// How long a shutdown waits for calls in flight before it stops anyway, in milliseconds.
    pub shutdown_grace_ms: u64,
    /// Most `Subscribe` streams one token may hold at once (its share of `subscribers_max`; at most
    /// all of them).
    pub subscribers_per_principal_max: usize,
    /// Most connections open at once; a connection beyond it is closed when accepted.
    pub connections_max: usize,
    /// Most calls in flight on one HTTP/2 connection (its SETTINGS_MAX_CONCURRENT_STREAMS); the
    /// client's stack queues the others.
    pub streams_per_connection_max: u32,
    /// How long a call may take to be answered (a unary call's whole request body included), in
    /// milliseconds; later: `CANCELLED`. Streams (Subscribe, ExportChain) are bounded once started
    /// by their own rules, not by this.
    pub request_timeout_ms: u64,
    /// A connection whose client sends nothing for this long is closed, in milliseconds.
    pub idle_timeout_ms: u64,
    /// The server pings each connection's client after this long without a frame, in milliseconds
    /// (shorter than `idle_timeout_ms`: a live client's answer keeps the connection open).
    pub keepalive_interval_ms: u64,
    /// A ping unanswered for this long closes the connection, in milliseconds.
    pub keepalive_timeout_ms: u64,
    /// How long a TLS handshake may take, in milliseconds.
    pub tls_handshake_timeout_ms: u64,
    /// The share of the writer's time whole-store `Audit.Verify` calls may take, in percent: a
    /// whole-store verification runs on the writer thread (one consistent store) and holds commits
    /// back while it runs, so after one that took T the next waits (100 / share - 1) x T.
    pub store_verify_writer_share_pct: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request_bytes_max: 4 * 1024 * 1024,
            commit_events_max: COMMIT_EVENTS_MAX,
            page_size_max: 1_000,
            page_size_default: 100,
            queue_depth_max: 8_192,
            group_requests_max: 1_024,
            memo_chars_max: MEMO_CHARS_MAX,
            subscribers_max: 64,
            subscriber_lag_commits_max: 10_000,
            shutdown_grace_ms: 10_000,
            subscribers_per_principal_max: 16,
            connections_max: 1_024,
            streams_per_connection_max: 100,
            request_timeout_ms: 30_000,
            idle_timeout_ms: 120_000,
            keepalive_interval_ms: 30_000,
            keepalive_timeout_ms: 20_000,
            tls_handshake_timeout_ms: 10_000,
            store_verify_writer_share_pct: 10,
        }
    }
}

impl Limits {
    /// Checks each limit against its range.
    pub fn check(&self) -> Result<(), ConfigError> {
        let range = |setting: &'static str, value: u64, lo: u64, hi: u64| {
            if value < lo || value > hi {
                Err(ConfigError::Range { setting, message: format!("{value} is outside {lo} to {hi}") })
            } else {
                Ok(())
            }
        };
        let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        range("limits.request_bytes_max", n(self.request_bytes_max), 1024, 1 << 30)?;
        range("limits.commit_events_max", n(self.commit_events_max), 1, n(COMMIT_EVENTS_MAX))?;
        range("limits.page_size_max", u64::from(self.page_size_max), 1, 100_000)?;
        range("limits.page_size_default", u64::from(self.page_size_default), 1, u64::from(self.page_size_max))?;
        range("limits.queue_depth_max", n(self.queue_depth_max), 1, 1 << 20)?;
        range("limits.group_requests_max", n(self.group_requests_max), 1, n(GROUP_REQUESTS_MAX))?;
        range("limits.memo_chars_max", n(self.memo_chars_max), 0, n(MEMO_CHARS_MAX))?;
        range("limits.subscribers_max", n(self.subscribers_max), 0, 1 << 16)?;
        range("limits.subscriber_lag_commits_max", self.subscriber_lag_commits_max, 1, u64::MAX)?;
        range("limits.shutdown_grace_ms", self.shutdown_grace_ms, 0, 3_600_000)?;
        range("limits.subscribers_per_principal_max", n(self.subscribers_per_principal_max), 1, 1 << 16)?;
        range("limits.connections_max", n(self.connections_max), 1, 1 << 20)?;
        range("limits.streams_per_connection_max", u64::from(self.streams_per_connection_max), 1, 10_000)?;
        range("limits.request_timeout_ms", self.request_timeout_ms, 100, 3_600_000)?;
        range("limits.keepalive_interval_ms", self.keepalive_interval_ms, 100, 3_600_000)?;
        range("limits.keepalive_timeout_ms", self.keepalive_timeout_ms, 100, 3_600_000)?;
        // A live client answers a ping before its connection counts as idle.
        range(
            "limits.idle_timeout_ms",
            self.idle_timeout_ms,
            self.keepalive_interval_ms.saturating_add(self.keepalive_timeout_ms),
            86_400_000,
        )?;
        range("limits.tls_handshake_timeout_ms", self.tls_handshake_timeout_ms, 100, 3_600_000)?;
        range("limits.store_verify_writer_share_pct", self.store_verify_writer_share_pct, 1, 100)?;
        Ok(())
    }
}

/// What a config file may hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The store's directory.
    pub data: Option<PathBuf>,
    /// Address to listen on.
    pub listen: Option<SocketAddr>,
    /// The tokens file.
    pub tokens: Option<PathBuf>,
    /// TLS certificate chain (PEM).
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// The format of the log, access log included: `text` or `json`.
    pub log_format: Option<LogFormat>,
    /// The transparency log's origin line (the first line of every checkpoint, and the name of
    /// its signing key).
    pub log_origin: Option<String>,
    /// Make a new, empty store when `data` holds none (`--create`); without it such a folder is
    /// refused, so that a mistyped path never serves empty books.
    #[serde(default)]
    pub create: bool,
    /// The limits.
    #[serde(default)]
    pub limits: Limits,
    /// The witnesses each new checkpoint is submitted to.
    #[serde(default)]
    pub witnesses: Vec<WitnessConfig>,
}

/// Most bytes of a config file.
pub const CONFIG_FILE_BYTES_MAX: u64 = 1024 * 1024;

impl FileConfig {
    /// Reads and parses a config file: a regular file (a link to one is followed) of at most
    /// [`CONFIG_FILE_BYTES_MAX`] bytes; a parse error gives the line and column, never the text.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = read_text_bounded(path, CONFIG_FILE_BYTES_MAX, "config file", Links::Follow)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        fiscus_tokens::toml_file::parse(&text)
            .map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })
    }
}

/// The settings given on the command line (each overrides the config file).
#[derive(Debug, Default, Clone)]
pub struct Flags {
    /// `--data`.
    pub data: Option<PathBuf>,
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--tokens`.
    pub tokens: Option<PathBuf>,
    /// `--tls-cert`.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key`.
    pub tls_key: Option<PathBuf>,
    /// `--log-format`.
    pub log_format: Option<LogFormat>,
    /// `--log-origin`.
    pub log_origin: Option<String>,
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--create`.
    pub create: bool,
}

/// Certificate and key files for TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// The resolved settings of a running daemon.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The store's directory (a new store is made there only with `create`).
    pub data: PathBuf,
    /// Make a new store when `data` holds none.
    pub create: bool,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The tokens file.
    pub tokens: PathBuf,
    /// TLS, when both files are given.
    pub tls: Option<TlsFiles>,
    /// The format of the log lines.
    pub log_format: LogFormat,
    /// The transparency log's origin line ([`crate::log_key::ORIGIN_DEFAULT`] when unset).
    pub log_origin: String,
    /// The limits.
    pub limits: Limits,
    /// The witnesses each new checkpoint is submitted to (checked).
    pub witnesses: Vec<Witness>,
}

impl Settings {
    /// Flags over the config file (when `--config` names one) over the defaults.
    pub fn resolve(flags: Flags) -> Result<Settings, ConfigError> {
        let file = match &flags.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        Settings::merge(flags, file)
    }

    /// Flags over `file` over the defaults.
    pub fn merge(flags: Flags, file: FileConfig) -> Result<Settings, ConfigError> {
        let data = flags.data.or(file.data).ok_or(ConfigError::Missing("--data"))?;
        let tokens = flags.tokens.or(file.tokens).ok_or(ConfigError::Missing("--tokens"))?;
        let listen = match flags.listen.or(file.listen) {
            Some(a) => a,
            None => LISTEN_DEFAULT.parse().expect("LISTEN_DEFAULT is a socket address"),
        };
        let tls = match (flags.tls_cert.or(file.tls_cert), flags.tls_key.or(file.tls_key)) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            (Some(_), None) => return Err(ConfigError::Missing("--tls-key (with --tls-cert)")),
            (None, Some(_)) => return Err(ConfigError::Missing("--tls-cert (with --tls-key)")),
        };
        let log_format = flags.log_format.or(file.log_format).unwrap_or_default();
        let log_origin =
            flags.log_origin.or(file.log_origin).unwrap_or_else(|| crate::log_key::ORIGIN_DEFAULT.to_owned());
        crate::log_key::check_origin(&log_origin)
            .map_err(|message| ConfigError::Range { setting: "log_origin", message })?;
        let mut limits = file.limits;
        // A smaller page limit without a default of its own lowers the default with it; a default
        // given above the limit is refused by `check`, naming it.
        if limits.page_size_default == Limits::default().page_size_default {
            limits.page_size_default = limits.page_size_default.min(limits.page_size_max);
        }
        limits.check()?;
        let witnesses = crate::witnesses::resolve(&file.witnesses)
            .map_err(|e| ConfigError::Witness { field: e.field, message: e.message })?;
        let create = flags.create || file.create;
        Ok(Settings { data, create, listen, tokens, tls, log_format, log_origin, limits, witnesses })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_defaults_fill_the_rest() {
        let file: FileConfig = toml::from_str(
            "data = \"/from-file\"\ntokens = \"/t.toml\"\nlisten = \"127.0.0.1:9000\"\n[limits]\npage_size_max = 50\n",
        )
        .expect("valid config");
        let flags = Flags { data: Some("/from-flag".into()), ..Flags::default() };
        let s = Settings::merge(flags, file).expect("settings");
        assert_eq!(s.data, PathBuf::from("/from-flag"));
        assert_eq!(s.tokens, PathBuf::from("/t.toml"));
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.limits.page_size_max, 50);
        assert_eq!(s.limits.page_size_default, 50, "the default follows a smaller limit");
        assert_eq!(s.limits.commit_events_max, COMMIT_EVENTS_MAX);
    }

    /// A page size default given above the page limit is refused naming it: it was lowered to the
    /// limit without a word.
    #[test]
    fn a_page_default_given_above_the_limit_is_refused() {
        let flags = Flags { data: Some("/d".into()), tokens: Some("/t".into()), ..Flags::default() };
        let file: FileConfig = toml::from_str(
            "[limits]
page_size_max = 1000
page_size_default = 5000
",
        )
        .expect("parses");
        let error = Settings::merge(flags, file).expect_err("refused").to_string();
        assert!(error.contains("limits.page_size_default") && error.contains("5000 is outside 1 to 1000"), "{error}");
    }

    /// A signing key given as the config file is refused with the line and column of the fault,
    /// none of its text (toml's message quoted the line, secret and all); a named pipe is refused
    /// at once, not read (it blocked for good), and a sparse file of 20 GiB from its size.
    #[cfg(unix)]
    #[test]
    fn a_key_a_pipe_or_a_huge_file_as_the_config_is_refused_safely() {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = dir.path().join("log.key");
        let secret = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=";
        std::fs::write(&key, format!("PRIVATE+KEY+localhost/fiscus+1b2c3d4e+{secret}\n")).expect("write");
        let refused = FileConfig::load(&key).expect_err("not a config");
        assert!(matches!(refused, ConfigError::Parse { .. }), "{refused}");
        let message = refused.to_string();
        assert!(message.starts_with(&format!("config file {}: line 1, column ", key.display())), "{message}");
        assert!(!message.contains(secret) && !message.contains("PRIVATE+KEY"), "{message}");
        let pipe = dir.path().join("pipe.toml");
        assert!(std::process::Command::new("mkfifo").arg(&pipe).status().expect("mkfifo").success());
        let refused = FileConfig::load(&pipe).expect_err("a pipe").to_string();
        assert!(refused.contains("is not a regular file (a named pipe)"), "{refused}");
        let huge = dir.path().join("huge.toml");
        std::fs::File::create(&huge).and_then(|f| f.set_len(20 << 30)).expect("a sparse file");
        let refused = FileConfig::load(&huge).expect_err("too large").to_string();
        assert!(refused.contains("a config file is at most 1048576 bytes"), "{refused}");
    }

    #[test]
    fn default_listen_is_loopback() {
        let flags = Flags { data: Some("/d".into()), tokens: Some("/t".into()), ..Flags::default() };
        let s = Settings::merge(flags, FileConfig::default()).expect("settings");
        assert!(s.listen.ip().is_loopback());
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(toml::from_str::<FileConfig>("[limits]\nno_such_limit = 1\n").is_err());
        let file: FileConfig = toml::from_str("[limits]\ncommit_events_max = 5000\n").expect("parses");
        let flags = Flags { data: Some("/d".into()), tokens: Some("/t".into()), ..Flags::default() };
        assert!(matches!(Settings::merge(flags.clone(), file), Err(ConfigError::Range { .. })));
        let half_tls = Flags { tls_cert: Some("/c".into()), ..flags };
        assert!(matches!(Settings::merge(half_tls, FileConfig::default()), Err(ConfigError::Missing(_))));
    }

    #[test]
    fn a_bad_witness_entry_is_refused_naming_its_field() {
        let w = fiscus_tlog::Cosigner::from_seed("witness.example/w1", [1; 32]).unwrap().verifier_key();
        let flags = Flags { data: Some("/d".into()), tokens: Some("/t".into()), ..Flags::default() };
        let file: FileConfig = toml::from_str(&format!(
            "[[witnesses]]\nname = \"a\"\nurl = \"http://127.0.0.1:7380\"\nkey = \"{w}\"\n\
             [[witnesses]]\nname = \"b\"\nurl = \"http://127.0.0.1:7381\"\nkey = \"not a key\"\n"
        ))
        .expect("parses");
        let error = Settings::merge(flags.clone(), file).unwrap_err().to_string();
        assert!(error.contains("witnesses[1].key"), "{error}");
        let file: FileConfig =
            toml::from_str(&format!("[[witnesses]]\nname = \"a\"\nurl = \"http://127.0.0.1:7380\"\nkey = \"{w}\"\n"))
                .expect("parses");
        assert_eq!(Settings::merge(flags, file).expect("settings").witnesses.len(), 1);
        assert!(
            toml::from_str::<FileConfig>("[[witnesses]]\nname = \"a\"\nurl = \"u\"\nkey = \"k\"\nport = 1\n").is_err()
        );
    }
}
