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

use std::fmt;
use std::path::{Path, PathBuf};

use fiscus_ledger::ids::{check_text, ACTOR_LEN_MAX};
use fiscus_ledger::ProjectId;
use serde::{Deserialize, Serialize};

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
}

/// Every token starts with this, so a leaked one is easy to recognise (and to scan for).
pub const TOKEN_PREFIX: &str = "fiscus_";

/// Random bytes in a token: 160 bits.
pub const TOKEN_RANDOM_BYTES: usize = 20;

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
        out.push(TokenEntry { hash, name: t.name.clone(), role });
    }
    Ok(out)
}

fn read(path: &Path) -> Result<TokensFile, TokenError> {
    let text = std::fs::read_to_string(path).map_err(|source| TokenError::Io { path: path.to_owned(), source })?;
    toml::from_str(&text).map_err(|e| TokenError::Parse { path: path.to_owned(), message: e.to_string() })
}

fn check_name(name: &str) -> Result<(), TokenError> {
    check_text("name", name, ACTOR_LEN_MAX, false, false).map_err(|e| TokenError::Invalid(e.to_string()))?;
    if name.len() > ACTOR_LEN_MAX {
        return Err(TokenError::Invalid(format!("name is over {ACTOR_LEN_MAX} bytes")));
    }
    Ok(())
}

/// A new random token: [`TOKEN_PREFIX`] then [`TOKEN_RANDOM_BYTES`] random bytes in hex.
pub fn generate() -> Result<String, TokenError> {
    let mut bytes = [0u8; TOKEN_RANDOM_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
    Ok(format!("{TOKEN_PREFIX}{}", hex::encode(bytes)))
}

/// Makes a token with `role` and `name` (default: the role and the first hex digits of its hash),
/// adds its hash to the tokens file (created when absent), and returns the token and its entry.
pub fn add(path: &Path, role: &Role, name: Option<&str>) -> Result<(String, TokenEntry), TokenError> {
    let mut file = if path.exists() { read(path)? } else { TokensFile::default() };
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
    Ok((token, TokenEntry { hash, name, role: role.clone() }))
}

/// Writes `text` to `path` through a temporary file and a rename, readable by its owner only.
fn write_private(path: &Path, text: &str) -> Result<(), TokenError> {
    let io = |source| TokenError::Io { path: path.to_owned(), source };
    let tmp = path.with_extension("toml.tmp");
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp).map_err(io)?;
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
