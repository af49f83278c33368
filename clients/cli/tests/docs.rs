//! The documents' command blocks, run as shown: every `console` block of a page runs in order with
//! trycmd (commands after `$ `, their shown output checked; `...` stands for any lines and `[..]`
//! for any text within a line, so that a table's layout may change while its figures stay checked).
//! A page's files live beside it in `<page>.in/` (copied to a fresh sandbox directory each run, the
//! commands' working directory); a file the page also shows is checked equal to its block here.

use std::path::Path;

/// The repository's root, from this crate's directory.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).expect("clients/cli is two levels down")
}

/// The text of the first block of `page` fenced as ```` ```lang ````, without its fences.
fn block(page: &str, lang: &str) -> String {
    let text = std::fs::read_to_string(root().join(page)).expect("the page reads");
    let start = text.find(&format!("```{lang}\n")).unwrap_or_else(|| panic!("{page} has no {lang} block"));
    let body = &text[start + lang.len() + 4..];
    let end = body.find("```").expect("the block ends");
    body[..end].to_owned()
}

/// Runs `page`'s console blocks with trycmd, `fiscus` being the binary built for these tests.
fn run_page(page: &str) {
    trycmd::TestCases::new()
        .register_bin("fiscus", Path::new(env!("CARGO_BIN_EXE_fiscus")))
        .case(root().join(page))
        .run();
}

#[test]
fn import_page_runs_as_shown() {
    let shown = block("docs/IMPORT.md", "csv");
    for dir in ["docs/IMPORT.in", "docs/IMPORT.out"] {
        let file = std::fs::read_to_string(root().join(dir).join("march.csv")).expect("the fixture reads");
        assert_eq!(file, shown, "{dir}/march.csv differs from the page's example");
    }
    run_page("docs/IMPORT.md");
}

#[test]
fn record_page_runs_as_shown() {
    let shown = block("docs/RECORD.md", "json");
    for dir in ["docs/RECORD.in", "docs/RECORD.out"] {
        let file = std::fs::read_to_string(root().join(dir).join("package.json")).expect("the fixture reads");
        assert_eq!(file, shown, "{dir}/package.json differs from the page's commit file");
    }
    run_page("docs/RECORD.md");
}

/// Of `clients/README.md`, the console blocks that need no daemon (the demo); the blocks that start
/// `fiscusd` and record over gRPC are shell blocks, not run here.
#[test]
fn clients_page_demo_runs_as_shown() {
    run_page("clients/README.md");
}
