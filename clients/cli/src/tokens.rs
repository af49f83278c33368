//! `fiscus token`: the tokens file `fiscusd` reads, written by the same code as `fiscusd token`
//! (`fiscus-tokens`): only each token's blake3 hash is kept, and the token is shown once.

use std::path::Path;

use fiscus_tokens::{Role, TokenError};

use crate::fail::Failure;

fn failure(e: TokenError) -> Failure {
    Failure::other(e.to_string())
}

/// Adds a token with `role` (and `name`, or one made up) to the file; returns the token and its name.
pub fn add(path: &Path, role: &str, name: Option<&str>) -> Result<(String, String), Failure> {
    let role = Role::parse(role).map_err(|e| Failure::usage(e.to_string()))?;
    let (token, entry) = fiscus_tokens::add(path, &role, name).map_err(failure)?;
    Ok((token, entry.name))
}

/// Every token's name and role.
pub fn list(path: &Path) -> Result<Vec<(String, String)>, Failure> {
    let entries = fiscus_tokens::load(path).map_err(failure)?;
    Ok(entries.into_iter().map(|e| (e.name, e.role.to_string())).collect())
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
