//! Repository hygiene: every Rust file opens with a `//!` header, and no floating-point type appears
//! in the code that handles money (ledger, daemon, clients, proto).

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the ledger crate sits in the repository").to_owned()
}

#[test]
fn every_rust_file_has_a_module_header() {
    let mut files = Vec::new();
    for top in ["ledger", "daemon", "clients", "proto", "wire", "tokens", "benches", "tests", "tlog"] {
        rust_files(&repo().join(top), &mut files);
    }
    assert!(files.len() > 20, "found only {} files", files.len());
    let missing: Vec<_> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).expect("readable source");
            !text.lines().find(|l| !l.trim().is_empty()).is_some_and(|l| l.starts_with("//!"))
        })
        .collect();
    assert!(missing.is_empty(), "files without a //! header: {missing:?}");
}

/// The two floating-point type names (spelt so that this file does not itself contain them).
const FLOAT_TYPES: [&str; 2] = [concat!("f", "32"), concat!("f", "64")];

#[test]
fn no_floating_point_where_money_is_handled() {
    let mut files = Vec::new();
    for top in ["ledger/src", "daemon/src", "clients/rust/src", "proto/src", "wire/src", "tokens/src"] {
        rust_files(&repo().join(top), &mut files);
    }
    let mut found = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("readable source");
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let words = code.split(|c: char| !(c.is_alphanumeric() || c == '_'));
            if words.into_iter().any(|w| FLOAT_TYPES.contains(&w)) {
                found.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "floating point near money:\n{}", found.join("\n"));
}
