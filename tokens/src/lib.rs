//! The tokens file: who may call `fiscusd`, with which role (shared by `fiscusd token` and
//! `fiscus token`, which write the same file). It keeps only the blake3 hash of each
//! token (hex), so the file does not let anyone call the daemon; a token is shown once, when
//! `fiscusd token add` makes it.
//!
//! ```toml
//! [[token]]
//! name = "accountant:alice"
//! role = "accountant"
//! hash = "3f4e…"   # blake3 of the token, 64 hex digits
//! ```
//!
//! The file can be trusted:
//! - each hash appears once (a copy of a hash under another name would let one token act as
//!   whichever entry came last), and each name once;
//! - a name is 1 to [`NAME_LEN_MAX`] characters of [`NAME_CHARS`] (ASCII letters, digits and
//!   `. _ - : @`), since names become the actors of events in the books: no lookalike letters of
//!   other scripts, no bidi overrides, no line separators;
//! - [`add`] and [`revoke`] take an exclusive lock (`flock` on `FILE.lock`) for the whole read-change-write,
//!   writes a new temporary file created exclusively with mode 0600 under a unique name beside
//!   the file, syncs it, renames it over the file and reads the file back, so that concurrent adds
//!   all land and every printed token is stored; a tokens file group or others may write is refused.

use std::fmt;
use std::path::{Path, PathBuf};

use fiscus_ledger::files::Links;
use fiscus_ledger::ids::{check_text, ACTOR_LEN_MAX};
use fiscus_ledger::private;
use fiscus_ledger::ProjectId;
use serde::{Deserialize, Serialize};

pub mod toml_file;

/// The `token` subcommand of `fiscusd` and `fiscus`, which both manage this file.
#[cfg(feature = "cli")]
#[derive(clap::Subcommand, Debug)]
pub enum TokenAction {
    /// Make a token, print it once, and store only its hash in the tokens file.
    Add {
        /// The tokens file fiscusd reads (created when absent).
        #[arg(long, value_name = "FILE")]
        tokens: PathBuf,
        /// admin, accountant, auditor or project:<id>.
        #[arg(long)]
        role: String,
        /// The name recorded as the actor of the token's events, such as "accountant:alice".
        #[arg(long)]
        name: Option<String>,
    },
    /// List the tokens file's names and roles (never the tokens: the file does not hold them).
    List {
        /// The tokens file.
        #[arg(long, value_name = "FILE")]
        tokens: PathBuf,
    },
    /// Remove a token from the tokens file, by name. A running fiscusd refuses it once it has
    /// reloaded the file: send it SIGHUP (`kill -HUP <pid>`), or restart it.
    Revoke {
        /// The tokens file.
        #[arg(long, value_name = "FILE")]
        tokens: PathBuf,
        /// The token's name, as `token list` shows it.
        #[arg(long)]
        name: String,
    },
}

/// Runs a `token` subcommand for `fiscusd token` and `fiscus token` alike: what it prints for
/// people goes to `out` (a new token, the list) and `note` (what was done), so both binaries say
/// exactly the same.
#[cfg(feature = "cli")]
pub fn run(
    action: &TokenAction,
    out: &mut dyn std::io::Write,
    note: &mut dyn std::io::Write,
) -> Result<(), TokenError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| TokenError::Io { path, source }
    };
    match action {
        TokenAction::Add { tokens, role, name } => {
            let role = Role::parse(role)?;
            let (token, entry) = add(tokens, &role, name.as_deref())?;
            writeln!(
                note,
                "added token {:?} with role {} to {}; it is shown only now (a running fiscusd accepts it once it \
                 reloads the file: kill -HUP <pid>):",
                entry.name,
                entry.role,
                tokens.display()
            )
            .map_err(io(tokens))?;
            writeln!(out, "{token}").map_err(io(tokens))?;
        }
        TokenAction::List { tokens } => {
            let entries = load(tokens)?;
            let width = entries.iter().map(|e| e.name.chars().count()).max().unwrap_or(0);
            for e in entries {
                writeln!(out, "{:<width$}  {}", e.name, e.role).map_err(io(tokens))?;
            }
        }
        TokenAction::Revoke { tokens, name } => {
            let entry = revoke(tokens, name)?;
            writeln!(
                note,
                "revoked token {:?} (role {}) from {}; a running fiscusd refuses it once it reloads the file: \
                 kill -HUP <pid>",
                entry.name,
                entry.role,
                tokens.display()
            )
            .map_err(io(tokens))?;
        }
    }
    Ok(())
}

/// Every token starts with this, so a leaked one is easy to recognise (and to scan for).
pub const TOKEN_PREFIX: &str = "fiscus_";

/// Random bytes in a token: 160 bits.
pub const TOKEN_RANDOM_BYTES: usize = 20;

/// The characters a token's name may hold, besides ASCII letters and digits.
pub const NAME_CHARS: &str = "A-Z a-z 0-9 . _ - : @";

/// Longest token name, in characters (the ledger's limit on an actor).
pub const NAME_LEN_MAX: usize = ACTOR_LEN_MAX;

/// What a token may do.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Role {
    /// Everything, including opening, changing and closing projects.
    Admin,
    /// Record events, approve expenses, read every project.
    Accountant,
    /// Read every project, and the Audit service.
    Auditor,
    /// Read one project, and file its expense requests.
    Project(ProjectId),
}

impl Role {
    /// Parses `admin`, `accountant`, `auditor` or `project:<id>`, where `<id>` is a valid project id
    /// and not the sponsor-wide chain's (`sponsor`), which is no project (its reads are for the
    /// roles that read every project).
    pub fn parse(text: &str) -> Result<Role, TokenError> {
        match text {
            "admin" => Ok(Role::Admin),
            "accountant" => Ok(Role::Accountant),
            "auditor" => Ok(Role::Auditor),
            _ => match text.strip_prefix("project:") {
                Some(id) => match ProjectId::parse("role", id) {
                    Ok(p) if p.is_sponsor() => Err(TokenError::Invalid(format!(
                        "role {text:?}: {id:?} is the sponsor-wide chain, not a project"
                    ))),
                    Ok(p) => Ok(Role::Project(p)),
                    Err(e) => Err(TokenError::Invalid(format!("role {text:?}: {e}"))),
                },
                None => Err(TokenError::Invalid(format!(
                    "role {text:?} is not one of admin, accountant, auditor, project:<id>"
                ))),
            },
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Admin => f.write_str("admin"),
            Role::Accountant => f.write_str("accountant"),
            Role::Auditor => f.write_str("auditor"),
            Role::Project(id) => write!(f, "project:{id}"),
        }
    }
}

/// A tokens file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Reading or writing the file failed.
    #[error("tokens file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file does not parse.
    #[error("tokens file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// An entry or an argument is not valid.
    #[error("{0}")]
    Invalid(String),
    /// The operating system's random generator failed.
    #[error("no random bytes for a token: {0}")]
    Random(String),
}

/// One entry as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredToken {
    name: String,
    role: String,
    hash: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    #[serde(default, rename = "token")]
    tokens: Vec<StoredToken>,
}

/// A known token: its hash, the name recorded as the actor of its events, and its role.
#[derive(Clone, Debug)]
pub struct TokenEntry {
    /// blake3 of the token.
    pub hash: blake3::Hash,
    /// The principal's name; events it records carry it as their actor.
    pub name: String,
    /// What it may do.
    pub role: Role,
}

/// The hash the tokens file keeps of a token.
pub fn hash_token(token: &str) -> blake3::Hash {
    blake3::hash(token.as_bytes())
}

/// Reads the tokens file; a missing file is an error (a daemon nobody may call is a mistake).
pub fn load(path: &Path) -> Result<Vec<TokenEntry>, TokenError> {
    let file = read(path)?;
    let mut out: Vec<TokenEntry> = Vec::with_capacity(file.tokens.len());
    for (i, t) in file.tokens.iter().enumerate() {
        let at = |m: String| TokenError::Parse { path: path.to_owned(), message: format!("token[{i}]: {m}") };
        let hash = blake3::Hash::from_hex(&t.hash).map_err(|e| at(format!("hash: {e}")))?;
        let role = Role::parse(&t.role).map_err(|e| at(e.to_string()))?;
        check_name(&t.name).map_err(|e| at(e.to_string()))?;
        if out.iter().any(|o| o.name == t.name) {
            return Err(at(format!("name {:?} is used twice; names tell actors apart", t.name)));
        }
        if let Some(o) = out.iter().find(|o| o.hash == hash) {
            return Err(at(format!(
                "the hash of {:?} is also the hash of {:?}; one token has one entry (remove the copy)",
                t.name, o.name
            )));
        }
        out.push(TokenEntry { hash, name: t.name.clone(), role });
    }
    Ok(out)
}

/// Most bytes of a tokens file (about 100,000 entries).
pub const TOKENS_FILE_BYTES_MAX: u64 = 16 * 1024 * 1024;

fn read(path: &Path) -> Result<TokensFile, TokenError> {
    // A pipe or a device would block its reader (fiscusd's SIGHUP reload hung on a pipe for good)
    // or never end; a link to a regular file is read (the file is managed elsewhere).
    let text = fiscus_ledger::files::read_text_bounded(path, TOKENS_FILE_BYTES_MAX, "tokens file", Links::Follow)
        .map_err(|source| TokenError::Io { path: path.to_owned(), source })?;
    toml_file::parse(&text).map_err(|e| TokenError::Parse { path: path.to_owned(), message: e.to_string() })
}

/// Checks that the tokens file at `path` is a regular file (a link to one is followed) that group
/// and others may not write ([`private::check_file`]); answers a warning when they may read it.
/// Anything but a regular file (a pipe, a device such as `/dev/zero`) is refused as such, with no
/// `chmod` advice.
pub fn check_private(path: &Path) -> Result<Option<String>, TokenError> {
    private::check_file(path, "tokens file", Links::Follow).map_err(|e| match e.kind() {
        // (these name the file themselves)
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::InvalidInput => TokenError::Invalid(e.to_string()),
        _ => TokenError::Io { path: path.to_owned(), source: e },
    })
}

/// Checks a token's name: 1 to [`NAME_LEN_MAX`] characters of [`NAME_CHARS`].
pub fn check_name(name: &str) -> Result<(), TokenError> {
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || ".-_:@".contains(*c))) {
        return Err(TokenError::Invalid(format!(
            "name {name:?}: {bad:?} (U+{:04X}) is not allowed; a name holds only {NAME_CHARS}, since it becomes the \
             actor of events in the books",
            u32::from(bad)
        )));
    }
    check_text("name", name, NAME_LEN_MAX, false, false).map_err(|e| TokenError::Invalid(e.to_string()))
}

/// A new random token: [`TOKEN_PREFIX`] then [`TOKEN_RANDOM_BYTES`] random bytes in hex.
pub fn generate() -> Result<String, TokenError> {
    let mut bytes = [0u8; TOKEN_RANDOM_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
    Ok(format!("{TOKEN_PREFIX}{}", hex::encode(bytes)))
}

/// Makes a token with `role` and `name` (default: the role and the first hex digits of its hash),
/// adds its hash to the tokens file (created when absent, mode 0600), and returns the token and its
/// entry. The whole change holds an exclusive lock on `FILE.lock`, and the file is read back after
/// it is replaced: the token returned is stored.
pub fn add(path: &Path, role: &Role, name: Option<&str>) -> Result<(String, TokenEntry), TokenError> {
    let io = |source| TokenError::Io { path: path.to_owned(), source };
    if let Some(n) = name {
        check_name(n)?;
    }
    // Checked and parsed before the lock file is made beside it: `--tokens /dev/zero` made
    // /dev/zero.lock, and a file that is no tokens file (`--tokens /etc/shadow`) its own.
    let present = match std::fs::symlink_metadata(path) {
        Ok(_) => {
            check_private(path)?;
            read(path)?;
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(io(e)),
    };
    let _lock = lock(path)?;
    let mut file = match std::fs::symlink_metadata(path) {
        Ok(_) => {
            check_private(path)?;
            read(path)?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !present => TokensFile::default(),
        Err(e) => return Err(io(e)),
    };
    let token = generate()?;
    let hash = hash_token(&token);
    let name = match name {
        Some(n) => n.to_owned(),
        None => format!("{role}-{}", &hash.to_hex()[..8]),
    };
    check_name(&name)?;
    if file.tokens.iter().any(|t| t.name == name) {
        return Err(TokenError::Invalid(format!("a token named {name:?} exists; names tell actors apart")));
    }
    file.tokens.push(StoredToken { name: name.clone(), role: role.to_string(), hash: hash.to_hex().to_string() });
    let text = toml::to_string(&file).map_err(|e| TokenError::Invalid(format!("tokens file: {e}")))?;
    write_private(path, &text)?;
    let stored = load(path)?;
    if !stored.iter().any(|e| e.hash == hash && e.name == name) {
        return Err(TokenError::Invalid(format!(
            "tokens file {}: the new token is not in the file read back; it was not added",
            path.display()
        )));
    }
    Ok((token, TokenEntry { hash, name, role: role.clone() }))
}

/// Removes the token named `name` from the tokens file and returns its entry; under the same lock
/// and with the same private write as [`add`], and the file is read back to check it is gone.
/// Errors: no token of that name ([`TokenError::Invalid`], listing the names there are).
pub fn revoke(path: &Path, name: &str) -> Result<TokenEntry, TokenError> {
    check_private(path)?;
    read(path)?; // (no lock file is made beside a file that is no tokens file)
    let _lock = lock(path)?;
    check_private(path)?;
    let entries = load(path)?;
    let Some(entry) = entries.iter().find(|e| e.name == name).cloned() else {
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        return Err(TokenError::Invalid(format!(
            "tokens file {}: no token is named {name:?} (the names are: {})",
            path.display(),
            names.join(", ")
        )));
    };
    let mut file = read(path)?;
    file.tokens.retain(|t| t.name != name);
    let text = toml::to_string(&file).map_err(|e| TokenError::Invalid(format!("tokens file: {e}")))?;
    write_private(path, &text)?;
    if load(path)?.iter().any(|e| e.name == name || e.hash == entry.hash) {
        return Err(TokenError::Invalid(format!(
            "tokens file {}: the token {name:?} is still in the file read back; it was not revoked",
            path.display()
        )));
    }
    Ok(entry)
}

/// Holds an exclusive `flock` on `FILE.lock` (created 0600 beside the tokens file, never removed:
/// removing it would let two writers lock two different files) until dropped.
fn lock(path: &Path) -> Result<std::fs::File, TokenError> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let io = |source| TokenError::Io { path: lock_path.clone(), source };
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(private::FILE_MODE);
    }
    let file = options.open(&lock_path).map_err(io)?;
    #[cfg(unix)]
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).map_err(|e| io(e.into()))?;
    Ok(file)
}

/// Writes `text` to `path` readable by its owner only: a new temporary file beside it, created
/// exclusively under a unique name with mode 0600 (a file left there by anyone else is never
/// reused), synced, renamed over `path`, and the folder synced.
fn write_private(path: &Path, text: &str) -> Result<(), TokenError> {
    use std::io::Write;
    let io = |source| TokenError::Io { path: path.to_owned(), source };
    // The file is replaced by a rename: a link there would be replaced, not the file it names (a
    // daemon reading that file would never see the change, and a revoked token would stay valid).
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "is a symbolic link: give the path of the file itself (it is replaced whole)",
        )));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    // tempfile opens with O_EXCL and mode 0600.
    let mut tmp = tempfile::Builder::new().prefix(".tokens-").suffix(".tmp").tempfile_in(&dir).map_err(io)?;
    tmp.write_all(text.as_bytes()).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    #[cfg(unix)]
    std::fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link at the tokens path is not replaced by `add` or `revoke` (the daemon would go on
    /// reading the file it names: a revoked token would stay valid), and a pipe there is refused,
    /// not waited on for good; a link is read, as a file managed elsewhere.
    #[cfg(unix)]
    #[test]
    fn a_link_or_a_pipe_at_the_tokens_path_is_refused_for_writing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let real = dir.path().join("real.toml");
        add(&real, &Role::Auditor, Some("ann")).expect("added");
        let link = dir.path().join("tokens.toml");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        assert_eq!(load(&link).expect("a link is read").len(), 1);
        let refused = add(&link, &Role::Auditor, Some("bob")).expect_err("a link is not replaced").to_string();
        assert!(refused.contains("is a symbolic link"), "{refused}");
        assert!(std::fs::symlink_metadata(&link).expect("meta").file_type().is_symlink());
        assert_eq!(load(&real).expect("read").len(), 1, "nothing added anywhere");
        let pipe = dir.path().join("pipe.toml");
        let made = std::process::Command::new("mkfifo").arg(&pipe).status().expect("mkfifo runs");
        assert!(made.success());
        let refused = load(&pipe).expect_err("a pipe").to_string();
        assert!(refused.contains("not a regular file"), "{refused}");
    }

    /// A signing key given as the tokens file (`--tokens DATA/log.key`) is refused saying where
    /// it does not parse, without its text: the key's secret is in no message.
    #[test]
    fn a_private_key_as_the_tokens_file_is_refused_without_its_secret() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log.key");
        let secret = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=";
        std::fs::write(&path, format!("PRIVATE+KEY+localhost/fiscus+1b2c3d4e+{secret}\n")).expect("write");
        let refused = load(&path).expect_err("not a tokens file").to_string();
        assert!(refused.contains(&format!("tokens file {}: line 1, column ", path.display())), "{refused}");
        let added = add(&path, &Role::Admin, Some("x")).expect_err("not a tokens file").to_string();
        for message in [refused, added] {
            assert!(!message.contains(secret) && !message.contains("PRIVATE+KEY"), "{message}");
        }
    }

    /// A device (by a link, as `/dev/zero` itself) or a pipe as the tokens file is refused as not a
    /// regular file, with no `chmod` advice (as root it would change the device) and no lock file
    /// made beside it.
    #[cfg(unix)]
    #[test]
    fn a_device_or_a_pipe_as_the_tokens_file_gets_no_chmod_advice() {
        let dir = tempfile::tempdir().expect("temp dir");
        let zero = dir.path().join("zero.toml");
        std::os::unix::fs::symlink("/dev/zero", &zero).expect("symlink");
        let pipe = dir.path().join("pipe.toml");
        let made = std::process::Command::new("mkfifo").arg(&pipe).status().expect("mkfifo runs");
        assert!(made.success());
        for path in [Path::new("/dev/zero"), &zero, &pipe] {
            for refused in [
                add(path, &Role::Admin, Some("x")).map(|_| ()),
                revoke(path, "x").map(|_| ()),
                check_private(path).map(|_| ()),
            ] {
                let message = refused.expect_err("not a regular file").to_string();
                assert!(message.contains("is not a regular file") && !message.contains("chmod"), "{message}");
            }
        }
        assert!(!dir.path().join("zero.toml.lock").exists() && !dir.path().join("pipe.toml.lock").exists());
    }

    /// A private file that is no tokens file is refused by `add` and `revoke` without a lock file
    /// made beside it (`--tokens /etc/shadow` as root left /etc/shadow.lock) and is left as it was.
    #[test]
    fn a_file_that_is_no_tokens_file_gets_no_lock_file_beside_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("shadow");
        let text = "root:*:19000:0:99999:7:::\n";
        std::fs::write(&path, text).expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        for refused in [add(&path, &Role::Admin, Some("x")).map(|_| ()), revoke(&path, "x").map(|_| ())] {
            let message = refused.expect_err("no tokens file").to_string();
            assert!(message.contains(&format!("tokens file {}: line 1", path.display())), "{message}");
        }
        assert!(!dir.path().join("shadow.lock").exists(), "a lock file was left beside it");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
    }

    #[test]
    fn a_revoked_token_is_gone_from_the_file_and_the_others_stay() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tokens.toml");
        let (alice, _) = add(&path, &Role::Accountant, Some("accountant:alice")).expect("add");
        let (bob, _) = add(&path, &Role::Auditor, Some("auditor:bob")).expect("add");
        let gone = revoke(&path, "accountant:alice").expect("revoke");
        assert_eq!((gone.name.as_str(), gone.role.to_string()), ("accountant:alice", "accountant".to_owned()));
        let left = load(&path).expect("load");
        assert!(!left.iter().any(|e| e.hash == hash_token(&alice)));
        assert!(left.iter().any(|e| e.hash == hash_token(&bob)));
        let err = revoke(&path, "accountant:alice").expect_err("revoked already").to_string();
        assert!(err.contains("no token is named") && err.contains("auditor:bob"), "{err}");
    }

    #[cfg(feature = "cli")]
    #[test]
    fn token_commands_print_the_same_words_for_both_binaries() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tokens.toml");
        add(&path, &Role::Accountant, Some("accountant:alice")).expect("add");
        add(&path, &Role::Project(ProjectId::parse("p", "meetup").expect("id")), Some("mo")).expect("add");
        let (mut out, mut note) = (Vec::new(), Vec::new());
        run(&TokenAction::List { tokens: path.clone() }, &mut out, &mut note).expect("list");
        assert_eq!(String::from_utf8_lossy(&out), "accountant:alice  accountant\nmo                project:meetup\n");
        let (mut out, mut note) = (Vec::new(), Vec::new());
        run(&TokenAction::Revoke { tokens: path.clone(), name: "mo".to_owned() }, &mut out, &mut note).expect("revoke");
        assert!(out.is_empty());
        let note = String::from_utf8_lossy(&note);
        assert!(note.contains("revoked token \"mo\" (role project:meetup)") && note.contains("kill -HUP"), "{note}");
    }

    #[test]
    fn roles_parse_and_print() {
        for r in ["admin", "accountant", "auditor", "project:rustconf-2026"] {
            assert_eq!(Role::parse(r).expect("valid role").to_string(), r);
        }
        assert!(Role::parse("root").is_err());
        assert!(Role::parse("project:Bad_Id").is_err());
        let err = Role::parse("project:sponsor").expect_err("the sponsor chain is no project");
        assert!(err.to_string().contains("sponsor-wide chain"), "{err}");
    }

    #[test]
    fn tokens_are_long_random_and_stored_as_hashes_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tokens.toml");
        let (t1, e1) = add(&path, &Role::Accountant, Some("accountant:alice")).expect("add");
        let (t2, _) = add(&path, &Role::Project(ProjectId::parse("p", "meetup").expect("id")), None).expect("add");
        assert_ne!(t1, t2);
        assert!(t1.starts_with(TOKEN_PREFIX) && t1.len() == TOKEN_PREFIX.len() + 2 * TOKEN_RANDOM_BYTES);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains(&t1) && !text.contains(&t2), "the file holds no token");
        let loaded = load(&path).expect("load");
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[0].hash, hash_token(&t1));
        assert_eq!(loaded[0].name, e1.name);
        assert_eq!(loaded[1].role.to_string(), "project:meetup");
        assert!(add(&path, &Role::Admin, Some("accountant:alice")).is_err(), "names are unique");
    }

    #[test]
    fn a_copy_of_a_hash_under_another_name_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tokens.toml");
        let (_, admin) = add(&path, &Role::Admin, Some("admin:root")).expect("add");
        let mut text = std::fs::read_to_string(&path).expect("read");
        text.push_str(&format!(
            "\n[[token]]\nname = \"auditor:evil\"\nrole = \"auditor\"\nhash = \"{}\"\n",
            admin.hash.to_hex()
        ));
        std::fs::write(&path, text).expect("write");
        let refused = load(&path).expect_err("a duplicate hash is refused");
        assert!(refused.to_string().contains("also the hash of \"admin:root\""), "{refused}");
    }

    #[test]
    fn lookalike_names_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tokens.toml");
        // A Cyrillic a, a right-to-left override, a line separator, a space, a newline.
        for name in ["accountant:\u{430}lice", "admin:\u{202e}toor", "a\u{2028}b", "alice smith", "a\nb", ""] {
            let refused = add(&path, &Role::Accountant, Some(name)).expect_err(name);
            assert!(matches!(refused, TokenError::Invalid(_)), "{name:?}: {refused}");
        }
        assert!(!path.exists(), "nothing was written");
        add(&path, &Role::Accountant, Some("accountant:alice.o-brien_2@acme")).expect("a plain ASCII name");
        let text = std::fs::read_to_string(&path).expect("read").replace("alice.o-brien", "\u{430}lice");
        std::fs::write(&path, text).expect("write");
        assert!(load(&path).is_err(), "a lookalike name in the file is refused too");
    }

    #[cfg(unix)]
    #[test]
    fn concurrent_adds_all_land_and_the_file_stays_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tokens.toml");
        // A world-writable leftover under the old fixed temporary name changes nothing.
        let leftover = dir.path().join("tokens.toml.tmp");
        std::fs::write(&leftover, "").expect("write");
        std::fs::set_permissions(&leftover, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        let threads: Vec<_> = (0..10)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || add(&path, &Role::Auditor, Some(&format!("auditor:{i}"))).expect("add"))
            })
            .collect();
        let added: Vec<_> = threads.into_iter().map(|t| t.join().expect("thread")).collect();
        let stored = load(&path).expect("load");
        assert_eq!(stored.len(), 10);
        for (token, entry) in &added {
            assert!(
                stored.iter().any(|s| s.hash == hash_token(token) && s.name == entry.name),
                "{} stored",
                entry.name
            );
        }
        let mode = std::fs::metadata(&path).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        let refused = add(&path, &Role::Auditor, Some("auditor:x")).expect_err("a file others may write");
        assert!(refused.to_string().contains("chmod 600"), "{refused}");
    }
}
