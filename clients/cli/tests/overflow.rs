//! `fiscus --store DIR record refund …` of the largest contribution at a 9 % fee: once a panic
//! (exit 101) from a `Decimal` overflow in the fee share, now recorded with the whole fee given
//! back; and an amount past the ledger's limit is a refusal naming the field, not a panic.

use std::process::Command;

use serde_json::Value;

const MAX: &str = "1000000000000000";

fn fiscus(store: &str, args: &[&str]) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fiscus"));
    for var in ["FISCUS_SERVER", "FISCUS_TOKEN", "FISCUS_STORE", "FISCUS_TLS_CA"] {
        c.env_remove(var);
    }
    let out = c.args(["--json", "--store", store]).args(args).output().expect("fiscus runs");
    let code = out.status.code().expect("fiscus exits, not killed");
    (code, String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[track_caller]
fn ok(store: &str, args: &[&str]) -> Value {
    let (code, out, err) = fiscus(store, args);
    assert_eq!(code, 0, "fiscus {args:?} failed:\n{out}\n{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("fiscus {args:?} printed no JSON ({e}):\n{out}"))
}

fn open(store: &str, fee_bps: &str) {
    let args = ["record", "open-project", "--project", "big", "--name", "Big", "--fee-bps", fee_bps];
    ok(store, &[&args[..], &["--currency", "USD", "--date", "2026-01-02"]].concat());
}

fn contribute(store: &str, amount: &str, id: &str) -> Value {
    let args = ["record", "contribution", "--project", "big", "--amount", amount, "--currency", "USD"];
    let rest = ["--from", "A donor", "--date", "2026-02-01", "--id", id];
    ok(store, &[&args[..], &rest[..]].concat())
}

#[test]
fn refund_of_the_largest_contribution_at_900_bps_on_an_embedded_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("store").display().to_string();
    ok(&store, &["init"]);
    open(&store, "900");
    let c = contribute(&store, MAX, "c1");
    let seq = c["positions"][0]["seq"].as_u64().expect("seq").to_string();
    let args = ["record", "refund", "--project", "big", "--contribution", &seq, "--amount", MAX, "--currency", "USD"];
    let (code, out, err) = fiscus(&store, &[&args[..], &["--date", "2026-02-02"]].concat());
    assert_eq!(code, 0, "the refund is recorded, not a panic:\n{out}\n{err}");
    let b = ok(&store, &["balance", "big"]);
    assert_eq!(b["balances"][0]["balance"], "0.00", "{b}");
    assert_eq!(b["balances"][0]["fees_to_date"], "0.00", "{b}");
    // The store reopens (replay verifies it) and takes later writes.
    contribute(&store, "5.00", "c2");
    assert_eq!(ok(&store, &["balance", "big"])["balances"][0]["balance"], "4.55");
}

#[test]
fn an_account_past_the_ledgers_limit_is_refused_naming_the_field_on_an_embedded_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("store").display().to_string();
    ok(&store, &["init"]);
    open(&store, "0");
    let events: Vec<Value> = (0..1_000)
        .map(|i| {
            serde_json::json!({
                "event_id": format!("c{i}"), "project": "big", "date": "2026-02-01", "kind": "contribution",
                "amount": MAX, "currency": "USD", "from": "A donor", "source": "sponsorship"
            })
        })
        .collect();
    let file = dir.path().join("thousand.json");
    std::fs::write(&file, serde_json::to_vec(&serde_json::json!({ "events": events })).expect("json")).expect("write");
    let (code, out, err) = fiscus(&store, &["record", "--file", &file.display().to_string()]);
    assert_eq!(code, 0, "1,000 contributions up to the limit:\n{out}\n{err}");
    let (code, out, err) = fiscus(
        &store,
        &["record", "contribution", "--project", "big", "--amount", "0.01", "--currency", "USD", "--from", "X"],
    );
    assert_eq!(code, 1, "a refusal, not a panic (101):\n{out}\n{err}");
    assert!(err.contains("amount") && err.contains("Assets:Bank:USD"), "names field and account:\n{err}");
}
