//! `fiscus token`: the tokens file `fiscusd` reads, in the daemon's own format (see
//! `daemon/src/tokens.rs`): TOML, one `[[token]]` table per token with `name`, `role` and `hash`
//! (the blake3 hash of the token, 64 hex digits). The file never holds a token; a new token is
//! printed once. fiscusd reads the file when it starts.

use std::path::Path;

use fiscus_client::fiscus_ledger::ids::{check_text, ACTOR_LEN_MAX};
use fiscus_client::fiscus_ledger::ProjectId;
use serde::{Deserialize, Serialize};

use crate::fail::Failure;

/// Every token starts with this (as fiscusd's do).
pub const TOKEN_PREFIX: &str = "fiscus_";
/// Random bytes in a token: 160 bits.
pub const TOKEN_RANDOM_BYTES: usize = 20;

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

/// Checks a role: `admin`, `accountant`, `auditor` or `project:<id>`.
pub fn check_role(role: &str) -> Result<(), Failure> {
    match role {
        "admin" | "accountant" | "auditor" => Ok(()),
        _ => match role.strip_prefix("project:") {
            Some(id) => ProjectId::parse("role", id).map(|_| ()).map_err(Failure::from),
            None => {
                Err(Failure::usage(format!("role {role:?} is not one of admin, accountant, auditor, project:<id>")))
            }
        },
    }
}

fn read(path: &Path) -> Result<TokensFile, Failure> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Failure::other(format!("tokens file {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| Failure::other(format!("tokens file {}: {e}", path.display())))
}

/// Makes a token with `role` and `name`, adds its hash to the file (created when absent), and
/// returns the token and the name it records events under.
pub fn add(path: &Path, role: &str, name: Option<&str>) -> Result<(String, String), Failure> {
    check_role(role)?;
    let mut file = if path.exists() { read(path)? } else { TokensFile::default() };
    let mut bytes = [0u8; TOKEN_RANDOM_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| Failure::other(format!("no random bytes for a token: {e}")))?;
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
    let hash = blake3::hash(token.as_bytes()).to_hex().to_string();
    let name = match name {
        Some(n) => n.to_owned(),
        None => format!("{role}-{}", &hash[..8]),
    };
    check_text("name", &name, ACTOR_LEN_MAX, false, false)?;
    if name.len() > ACTOR_LEN_MAX {
        return Err(Failure::usage(format!("name is over {ACTOR_LEN_MAX} bytes")));
    }
    if file.tokens.iter().any(|t| t.name == name) {
        return Err(Failure::other(format!("a token named {name:?} exists; names tell actors apart")));
    }
    file.tokens.push(StoredToken { name: name.clone(), role: role.to_owned(), hash });
    let text = toml::to_string(&file).map_err(|e| Failure::other(format!("tokens file: {e}")))?;
    write_private(path, &text)?;
    Ok((token, name))
}

/// The (name, role) of every token in the file.
pub fn list(path: &Path) -> Result<Vec<(String, String)>, Failure> {
    Ok(read(path)?.tokens.into_iter().map(|t| (t.name, t.role)).collect())
}

/// Writes through a temporary file and a rename, readable by its owner only.
fn write_private(path: &Path, text: &str) -> Result<(), Failure> {
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
        let mut f = options.open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stored_as_hashes_in_fiscusds_format() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tokens.toml");
        let (token, name) = add(&path, "project:conf-a", Some("organiser:olga")).expect("add");
        assert_eq!(name, "organiser:olga");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains(&token));
        assert!(text.contains("[[token]]") && text.contains(&blake3::hash(token.as_bytes()).to_hex().to_string()));
        assert!(add(&path, "root", None).is_err());
        assert!(add(&path, "admin", Some("organiser:olga")).is_err());
        assert_eq!(list(&path).expect("list"), vec![("organiser:olga".to_owned(), "project:conf-a".to_owned())]);
    }
}
