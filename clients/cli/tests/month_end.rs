//! The accountant's month-end, on embedded stores with the real `fiscus` binary: the same fact
//! spelt differently is recorded once (content ids of the normalised event, local dates, likely
//! duplicates), and an import's dry run runs every check but the write, reporting file lines.

use serde_json::Value;

mod common;
use common::{json, ok, run, run_env};

/// A store with one project `conf` (USD, no fee) opened on 2026-01-01.
fn store() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("books").display().to_string();
    ok(&["--store", &store, "init"]);
    ok(&[
        "--store",
        &store,
        "record",
        "open-project",
        "--project",
        "conf",
        "--name",
        "Conf",
        "--fee-bps",
        "0",
        "--currency",
        "USD",
        "--date",
        "2026-01-01",
    ]);
    (dir, store)
}

fn head(store: &str, project: &str) -> u64 {
    json(&["--store", store, "balance", project])["head_seq"].as_u64().expect("head seq")
}

fn gift<'a>(store: &'a str, amount: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--store",
        store,
        "record",
        "contribution",
        "--project",
        "conf",
        "--amount",
        amount,
        "--currency",
        "USD",
        "--from",
        "Ann",
        "--source",
        "donation",
    ];
    args.extend_from_slice(extra);
    args
}

// ----- 1. idempotency does not depend on how the same fact is spelt -----

#[test]
fn the_same_amount_typed_differently_is_recorded_once() {
    let (_dir, store) = store();
    let first = json(&gift(&store, "200.00", &["--date", "2026-03-01"]));
    assert_eq!(first["duplicate"], false);
    for spelt in ["200.0", "200"] {
        let again = json(&gift(&store, spelt, &["--date", "2026-03-01"]));
        assert_eq!(again["duplicate"], true, "--amount {spelt} is the same 200 USD: {again}");
        assert_eq!(again["positions"], first["positions"]);
    }
    assert_eq!(head(&store, "conf"), 2, "one contribution after the opening");
    let other = json(&gift(&store, "200.01", &["--date", "2026-03-01"]));
    assert_eq!(other["duplicate"], false, "another amount is another event");
}

#[test]
fn a_commit_file_and_flags_derive_the_same_id() {
    let (dir, store) = store();
    let flags = json(&gift(&store, "75.5", &["--date", "2026-03-02", "--memo", "thanks"]));
    let file = dir.path().join("commit.json");
    std::fs::write(
        &file,
        r#"{"events": [{"project": "conf", "date": "2026-03-02", "kind": "contribution", "amount": "75.50",
            "currency": "USD", "from": "Ann", "source": "donation", "memo": "thanks"}]}"#,
    )
    .expect("write");
    let from_file = json(&["--store", &store, "record", "--file", &file.display().to_string()]);
    assert_eq!(from_file["duplicate"], true, "{from_file}");
    assert_eq!(from_file["positions"][0]["event_id"], flags["positions"][0]["event_id"]);
}

#[test]
fn a_multi_line_memo_is_the_same_row_after_its_line_endings_change() {
    let (dir, store) = store();
    let crlf = "date,project,kind,amount,currency,counterparty,memo,reference\r\n\
        2026-03-01,conf,ticket-sales,100.00,USD,Tito,\"Weekly payout\r\nline two\",TITO-1\r\n\
        2026-03-02,conf,donation,5.00,USD,Bob,plain,\r\n";
    let path = dir.path().join("payouts.csv");
    std::fs::write(&path, crlf).expect("write");
    let path = path.display().to_string();
    let first = json(&["--store", &store, "import", "csv", &path]);
    assert_eq!(first["recorded"], 2, "{first}");
    // the same file after dos2unix
    std::fs::write(&path, crlf.replace("\r\n", "\n")).expect("write");
    let again = json(&["--store", &store, "import", "csv", &path]);
    assert_eq!((again["recorded"].clone(), again["already_recorded"].clone()), (Value::from(0), Value::from(2)));
    assert_eq!(head(&store, "conf"), 3);
    let events = json(&["--store", &store, "events", "conf"]);
    assert_eq!(events["events"][1]["memo"], "Weekly payout\nline two", "{events}");
}

#[test]
fn the_default_date_is_the_local_calendar_date() {
    // The same moment is a different calendar day 26 hours apart: UTC-12 and UTC+14.
    let (_dir, store) = store();
    let mut dates = Vec::new();
    for (tz, hours) in [("Etc/GMT+12", -12), ("Etc/GMT-14", 14)] {
        let local = |h: i64| (chrono::Utc::now() + chrono::Duration::hours(h)).date_naive().to_string();
        let before = local(hours);
        let (code, out, err) = run_env(&[("TZ", tz)], &{
            let mut a = vec!["--json"];
            a.extend(gift(&store, "1.00", &["--memo", tz]));
            a
        });
        assert_eq!(code, 0, "{out}\n{err}");
        let after = local(hours);
        let v: Value = serde_json::from_str(&out).expect("json");
        let seq = v["positions"][0]["seq"].as_u64().expect("seq");
        let events = json(&["--store", &store, "events", "conf", "--after", &(seq - 1).to_string()]);
        let date = events["events"][0]["date"].as_str().expect("date").to_owned();
        assert!(date == before || date == after, "TZ={tz}: dated {date}, local date {before}");
        dates.push(date);
    }
    assert_ne!(dates[0], dates[1], "UTC-12 and UTC+14 are never on the same calendar day");
}

#[test]
fn the_same_bank_transaction_by_record_and_by_import_is_refused_unless_asked() {
    let (dir, store) = store();
    json(&gift(&store, "300.00", &["--date", "2026-04-01", "--reference", "BANK-77", "--memo", "by hand"]));
    let path = dir.path().join("bank.csv");
    std::fs::write(
        &path,
        "date,project,kind,amount,currency,counterparty,memo,reference\n\
         2026-04-01,conf,donation,300,USD,Ann Smith,from the bank,BANK-77\n",
    )
    .expect("write");
    let path = path.display().to_string();
    let (code, out, err) = run(&["--store", &store, "import", "csv", &path]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("line 2") && err.contains("likely a duplicate") && err.contains("BANK-77"), "{err}");
    assert!(err.contains("conf#2"), "names the recorded event: {err}");
    assert_eq!(head(&store, "conf"), 2, "nothing was recorded");
    let (code, _, err) = run(&["--store", &store, "import", "csv", &path, "--dry-run"]);
    assert_eq!(code, 1, "a dry run reports it too: {err}");
    let forced = json(&["--store", &store, "import", "csv", &path, "--allow-duplicate"]);
    assert_eq!(forced["recorded"], 1);

    // and the other way round: imported first, then typed in by hand
    let (code, _, err) = run(&gift(&store, "300.0", &["--date", "2026-04-01", "--reference", "BANK-77"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("likely a duplicate") && err.contains("--allow-duplicate"), "{err}");
    assert_eq!(head(&store, "conf"), 3);
    let forced = json(&gift(&store, "300.0", &["--date", "2026-04-01", "--reference", "BANK-77", "--allow-duplicate"]));
    assert_eq!(forced["duplicate"], false);
    // a retry of the very same event is no duplicate: it answers "already recorded"
    let retry = json(&gift(&store, "300.00", &["--date", "2026-04-01", "--reference", "BANK-77", "--memo", "by hand"]));
    assert_eq!(retry["duplicate"], true);
}

// ----- 2. a dry run runs everything but the write -----

const HEADER: &str = "date,project,kind,amount,currency,counterparty,memo,reference";

#[test]
fn a_dry_run_refuses_what_the_real_import_would_refuse_by_line() {
    let (dir, store) = store();
    // line 3: an unknown project; line 4: an expense larger than the money there is
    let text = format!(
        "{HEADER}\r\n2026-03-01,conf,donation,50.00,USD,Ann,a,R-1\r\n2026-03-02,no-such-project,donation,5.00,USD,Bob,b,R-2\r\n\
         2026-03-03,conf,expense,-80.00,USD,Venue,c,R-3\r\n"
    );
    let path = dir.path().join("march.csv");
    std::fs::write(&path, text).expect("write");
    let path = path.display().to_string();
    for dry in [true, false] {
        let mut args = vec!["--store", store.as_str(), "import", "csv", path.as_str()];
        if dry {
            args.push("--dry-run");
        }
        let (code, out, err) = run(&args);
        assert_eq!(code, 1, "dry run {dry}: {out}\n{err}");
        assert!(err.contains("line 3") && err.contains("no-such-project"), "dry run {dry}: {err}");
        assert!(err.contains("line 4") && err.contains("overdraft"), "dry run {dry}: {err}");
        assert!(!err.contains("line 2:"), "line 2 is fine: {err}");
        assert_eq!(head(&store, "conf"), 1, "nothing was recorded");
        // --json: the refusal on stdout, by line
        let mut with_json = vec!["--json"];
        with_json.extend_from_slice(&args);
        let (code, out, _) = run(&with_json);
        assert_eq!(code, 1);
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("no JSON on stdout ({e}): {out:?}"));
        let lines: Vec<u64> =
            v["errors"].as_array().expect("errors").iter().filter_map(|e| e["line"].as_u64()).collect();
        assert_eq!(lines, [3, 4], "{v}");
    }
}

#[test]
fn line_numbers_are_file_lines_with_crlf_and_multi_line_memos() {
    let (dir, store) = store();
    let text = format!(
        "{HEADER}\r\n2026-03-01,conf,donation,50.00,USD,Ann,\"two\r\nlines\",R-1\r\n2026-03-02,conf,donation,5.00,USD,Bob,b,R-2\r\n\
         2026-03-03,conf,donation,5.001,USD,Cy,c,R-3\r\n"
    );
    let path = dir.path().join("crlf.csv");
    std::fs::write(&path, &text).expect("write");
    let (code, _, err) = run(&["--store", &store, "import", "csv", &path.display().to_string()]);
    assert_eq!(code, 1);
    assert!(err.contains("line 5, column amount"), "the bad row is on line 5: {err}");
    // without the bad row: the table shows file lines 2 and 4 and the seqs created
    let good: String = text.lines().take(4).map(|l| format!("{l}\r\n")).collect();
    std::fs::write(&path, good).expect("write");
    let path = path.display().to_string();
    let dry = json(&["--store", &store, "import", "csv", &path, "--dry-run"]);
    let lines: Vec<(u64, u64)> = dry["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| (l["line"].as_u64().expect("line"), l["seq"].as_u64().expect("seq")))
        .collect();
    assert_eq!(lines, [(2, 2), (4, 3)], "{dry}");
    assert_eq!(head(&store, "conf"), 1, "a dry run writes nothing");
    let done = json(&["--store", &store, "import", "csv", &path]);
    let mut recorded = dry["lines"].clone();
    for line in recorded.as_array_mut().expect("lines") {
        line["status"] = "recorded".into();
    }
    assert_eq!(done["lines"], recorded, "the real run records what the dry run said, at the seqs it said: {done}");
    let table = ok(&["--store", &store, "import", "csv", &path]);
    assert!(table.contains("Seq") && table.contains("already recorded"), "{table}");
}

#[test]
fn import_help_lists_every_column_and_kind() {
    let help = ok(&["import", "csv", "--help"]);
    for column in [
        "date",
        "project",
        "kind",
        "amount",
        "currency",
        "counterparty",
        "memo",
        "reference",
        "category",
        "fund",
        "receipt",
        "receipt_hash",
    ] {
        assert!(help.contains(&format!("  {column} ")), "help lacks column {column}:\n{help}");
    }
    for kind in ["sponsorship", "donation", "ticket-sales", "grant", "contribution", "other", "expense"] {
        assert!(help.contains(&format!("  {kind} ")), "help lacks kind {kind}:\n{help}");
    }
}

// ----- 3. month-end reports a treasurer expects -----

/// `store()` plus, by hand: a 5,000.00 pledge of Acme dated 1 August and due 15 September (seq 2),
/// a 1,000.00 gift on 15 October (seq 3), 2,000.00 of the pledge paid on 20 October (seq 4), then
/// in November 1,000.00 more of the pledge (seq 5, dated 1 November) and a 300.00 gift (seq 6).
fn october_and_november() -> (tempfile::TempDir, String) {
    let (dir, store) = store();
    let s = store.as_str();
    let pledge = [
        "--store",
        s,
        "record",
        "pledge",
        "--project",
        "conf",
        "--amount",
        "5000.00",
        "--currency",
        "USD",
        "--sponsor",
        "Acme",
        "--due-date",
        "2026-09-15",
        "--date",
        "2026-08-01",
    ];
    ok(&pledge);
    ok(&gift(s, "1000.00", &["--date", "2026-10-15"]));
    let pay = |amount: &str, date: &str| {
        ok(&[
            "--store",
            s,
            "record",
            "pledge-payment",
            "--project",
            "conf",
            "--amount",
            amount,
            "--currency",
            "USD",
            "--pledge",
            "2",
            "--date",
            date,
        ]);
    };
    pay("2000.00", "2026-10-20");
    pay("1000.00", "2026-11-01");
    ok(&gift(s, "300.00", &["--date", "2026-11-02"]));
    assert_eq!(head(s, "conf"), 6);
    (dir, store)
}

#[test]
fn balance_and_trial_balance_as_of_a_date_count_events_by_effective_date() {
    let (_dir, store) = october_and_november();
    let s = store.as_str();
    let october = json(&["--store", s, "balance", "conf", "--as-of", "2026-10-31"]);
    assert_eq!(october["as_of"], "2026-10-31");
    let usd = &october["balances"][0];
    // 1,000.00 gift + 2,000.00 of the pledge; 3,000.00 of it still pledged
    assert_eq!((usd["balance"].as_str(), usd["pledged"].as_str()), (Some("3000.00"), Some("3000.00")), "{october}");
    let now = json(&["--store", s, "balance", "conf"]);
    assert_eq!(
        (now["balances"][0]["balance"].as_str(), now["balances"][0]["pledged"].as_str()),
        (Some("4300.00"), Some("2000.00"))
    );
    let table = ok(&["--store", s, "balance", "conf", "--as-of", "2026-10-31"]);
    assert!(table.contains("as of 2026-10-31") && table.contains("3,000.00 USD"), "{table}");

    let tb = json(&["--store", s, "trial-balance", "--as-of", "2026-10-31"]);
    let line = |account: &str| {
        tb.as_array().expect("lines").iter().find(|l| l["account"] == account).map(|l| l["amount"].clone())
    };
    assert_eq!(line("Assets:Bank:USD"), Some(Value::from("3000.00")), "{tb}");
    assert_eq!(line("Liabilities:Projects:conf:Unrestricted"), Some(Value::from("-3000.00")));
    assert_eq!(line("Assets:Receivable:Pledges:conf"), Some(Value::from("3000.00")));
    assert!(ok(&["--store", s, "trial-balance", "--as-of", "2026-10-31"]).contains("as of 2026-10-31"));
    // before the pledge nothing but the opening: no lines
    assert_eq!(json(&["--store", s, "trial-balance", "--as-of", "2026-07-31"]), Value::Array(Vec::new()));

    for bad in ["2026-10-32", "31/10/2026", "2026-1-31"] {
        let (code, _, err) = run(&["--store", s, "balance", "conf", "--as-of", bad]);
        assert_eq!(code, 2, "--as-of {bad}: {err}");
        assert!(err.contains("as-of"), "{err}");
        assert_eq!(run(&["--store", s, "trial-balance", "--as-of", bad]).0, 2);
        assert_eq!(run(&["--store", s, "pledges", "--as-of", bad]).0, 2);
    }
}

#[test]
fn open_pledges_show_what_is_outstanding_overdue_and_aged() {
    let (_dir, store) = october_and_november();
    let s = store.as_str();
    let october = json(&["--store", s, "pledges", "conf", "--as-of", "2026-10-31"]);
    let p = &october["pledges"][0];
    assert_eq!(october["pledges"].as_array().map(Vec::len), Some(1), "{october}");
    assert_eq!(
        (p["project"].as_str(), p["seq"].as_u64(), p["sponsor"].as_str()),
        (Some("conf"), Some(2), Some("Acme"))
    );
    assert_eq!(
        (p["pledged"].as_str(), p["fulfilled"].as_str(), p["outstanding"].as_str()),
        (Some("5000.00"), Some("2000.00"), Some("3000.00"))
    );
    // 15 September to 31 October: 46 days overdue
    assert_eq!(
        (p["due_date"].as_str(), p["days_overdue"].as_i64(), p["overdue"].as_bool()),
        (Some("2026-09-15"), Some(46), Some(true))
    );
    assert_eq!(p["bucket"], "31-60");
    let ageing = &october["ageing"][0];
    assert_eq!(
        (ageing["currency"].as_str(), ageing["31-60"].as_str(), ageing["current"].as_str(), ageing["total"].as_str()),
        (Some("USD"), Some("3000.00"), Some("0.00"), Some("3000.00"))
    );

    let december = json(&["--store", s, "pledges", "--as-of", "2026-12-31"]);
    assert_eq!(december["pledges"][0]["outstanding"], "2000.00");
    assert_eq!(december["ageing"][0]["over-90"], "2000.00", "107 days overdue: {december}");
    let september = json(&["--store", s, "pledges", "--as-of", "2026-09-01"]);
    assert_eq!(
        (september["pledges"][0]["overdue"].as_bool(), september["ageing"][0]["current"].as_str()),
        (Some(false), Some("5000.00"))
    );
    assert!(ok(&["--store", s, "pledges", "--as-of", "2026-07-31"]).contains("no open pledges as of 2026-07-31"));

    let table = ok(&["--store", s, "pledges", "--as-of", "2026-10-31"]);
    for want in ["Acme", "conf#2", "OVERDUE 46 days", "3,000.00", "31-60", "2026-09-15"] {
        assert!(table.contains(want), "pledges table lacks {want:?}:\n{table}");
    }
    assert_eq!(run(&["--store", s, "pledges", "no-such"]).0, 1);
}

/// The issue's example: the balance's 26,328.00 USD (unrestricted) and the statement's closing
/// 27,548.00 USD (restricted included) differ by the restricted 1,220.00; `balance` shows both,
/// labelled, and its funds held equal the closing balance.
#[test]
fn the_balance_explains_the_statements_closing_balance() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("books").display().to_string();
    ok(&["demo", "--store", &store]);
    let s = store.as_str();
    let b = json(&["--store", s, "balance", "rustconf-2026"]);
    let usd = &b["balances"][0];
    let st = json(&["--store", s, "statement", "rustconf-2026"]);
    let closing = st["statements"][0]["closing_balance"].clone();
    assert_eq!(closing, "27548.00");
    assert_eq!(usd["funds_held"], closing, "{b}");
    let d = |v: &Value| v.as_str().expect("decimal string").parse::<rust_decimal::Decimal>().expect("decimal");
    assert_eq!(d(&usd["balance"]) + d(&usd["restricted"][0]["balance"]), d(&closing));
    let table = ok(&["--store", s, "balance", "rustconf-2026"]);
    for want in [
        "Unrestricted (Balance)",
        "26,328.00 USD",
        "Restricted: diversity-scholarships",
        "1,220.00 USD",
        "Funds held (statement closing balance)",
        "27,548.00 USD",
        "available to spend",
        "Advances outstanding (owed back to the sponsor)",
        "Pledged, not yet paid",
    ] {
        assert!(table.contains(want), "balance lacks {want:?}:\n{table}");
    }
}

/// Tables fit the terminal's width: on an 80-column terminal (`COLUMNS=80`) no line of a table
/// is wider (today's demo printed a 147-column table, `events` 173), and the memos wrap instead.
#[test]
fn tables_fit_an_80_column_terminal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("books").display().to_string();
    let s = store.as_str();
    let widest =
        |text: &str| text.lines().filter(|l| l.starts_with(['┌', '│', '╞', '├', '└'])).map(|l| l.chars().count()).max();
    let (code, demo, err) = run_env(&[("COLUMNS", "80")], &["demo", "--store", s]);
    assert_eq!(code, 0, "{err}");
    assert!(widest(&demo).is_some_and(|w| w <= 80), "the demo's tables: {demo}");
    for args in [
        vec!["events", "rustconf-2026"],
        vec!["statement", "rustconf-2026"],
        vec!["balance", "rustconf-2026"],
        vec!["projects"],
        vec!["trial-balance"],
        vec!["pledges", "--as-of", "2026-03-01"],
    ] {
        let mut all = vec!["--store", s];
        all.extend(&args);
        let (code, out, err) = run_env(&[("COLUMNS", "80")], &all);
        assert_eq!(code, 0, "{args:?}: {err}");
        let w = widest(&out);
        assert!(w.is_some_and(|w| w <= 80), "fiscus {args:?} is {w:?} columns wide at COLUMNS=80:\n{out}");
    }
    // amounts for people are grouped, with their currency, by the one display formatter
    let tokyo = ok(&["--store", s, "balance", "tokyo-rust-workshop"]);
    assert!(tokyo.contains(" JPY") && !tokyo.contains(".00 JPY"), "JPY has no minor units: {tokyo}");
    let events = ok(&["--store", s, "events", "rustconf-2026"]);
    assert!(events.contains("15,000.00 USD") && !events.contains("15000.00 USD"), "{events}");
    // without a width (a pipe), nothing is wrapped: a memo stays on one line
    let events = ok(&["--store", s, "events", "rustconf-2026"]);
    assert!(events.contains("Ticket sales payout"), "{events}");
}

/// Statements show gross, fee and net per line and the counterparty; an advance reads as money
/// owed back, a refund and a pledge payment name what they concern (the demo's RustConf at 7 %).
#[test]
fn statement_lines_show_gross_fee_net_and_the_counterparty() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("books").display().to_string();
    ok(&["demo", "--store", &store]);
    let st = json(&["--store", &store, "statement", "rustconf-2026"]);
    let lines = st["statements"][0]["lines"].as_array().expect("lines").clone();
    let line = |seq: u64| lines.iter().find(|l| l["seq"] == seq).cloned().unwrap_or_else(|| panic!("seq {seq}"));
    let gift = line(4);
    assert_eq!(
        (gift["gross"].as_str(), gift["fee"].as_str(), gift["amount"].as_str(), gift["counterparty"].as_str()),
        (Some("10000.00"), Some("700.00"), Some("9300.00"), Some("Ferrous Systems"))
    );
    let refund = line(7);
    assert_eq!(
        (refund["gross"].as_str(), refund["fee"].as_str(), refund["amount"].as_str()),
        (Some("-400.00"), Some("-28.00"), Some("-372.00"))
    );
    assert_eq!(
        (refund["counterparty"].as_str(), refund["detail"].as_str()),
        (Some("Tito ticketing"), Some("refunds seq 6"))
    );
    let pledge = line(9);
    assert_eq!(
        (pledge["counterparty"].as_str(), pledge["detail"].as_str()),
        (Some("Acme Cloud"), Some("pays pledge seq 5"))
    );
    let advance = line(2);
    assert!(
        advance["detail"].as_str().is_some_and(|d| d.contains("owed back to the sponsor, not income")),
        "{advance}"
    );
    assert_eq!(line(3)["counterparty"], "Oregon Convention Center");
    let table = ok(&["--store", &store, "statement", "rustconf-2026"]);
    for want in
        ["Gross", "Fee", "Net", "Ferrous Systems", "10,000.00", "700.00", "9,300.00", "owed back to the sponsor"]
    {
        assert!(table.contains(want), "statement lacks {want:?}:\n{table}");
    }
}

/// Approving, rejecting and paying an expense request confirm the amount and the request; a
/// currency conversion's statement lines show both sides.
#[test]
fn request_confirmations_show_the_amount_and_conversions_both_sides() {
    let (dir, store) = store();
    let s = store.as_str();
    ok(&gift(s, "5000.00", &["--date", "2026-02-01"]));
    let invoice = dir.path().join("invoice.pdf");
    std::fs::write(&invoice, b"invoice 17").expect("invoice");
    let invoice = invoice.display().to_string();
    let request = |amount: &str, payee: &str| {
        let v = json(&[
            "--store",
            s,
            "record",
            "expense-request",
            "--project",
            "conf",
            "--amount",
            amount,
            "--currency",
            "USD",
            "--payee",
            payee,
            "--category",
            "venue",
            "--receipt",
            &invoice,
            "--date",
            "2026-02-02",
            "--allow-same-receipt",
        ]);
        v["positions"][0]["seq"].as_u64().expect("seq")
    };
    let venue = request("1200.00", "Grand Hall");
    let cake = request("80.00", "Bakery");
    let approver = ["--actor", "treasurer"];
    let mut approve = vec!["--store", s, "record", "approve", "--project", "conf", "--date", "2026-02-03"];
    approve.extend(approver);
    let venue_seq = venue.to_string();
    let cake_seq = cake.to_string();
    let mut a = approve.clone();
    a.extend(["--seq", &venue_seq]);
    let out = ok(&a);
    assert!(
        out.contains("1,200.00 USD") && out.contains(&format!("request seq {venue}")) && out.contains("Grand Hall"),
        "{out}"
    );
    let mut r = vec!["--store", s, "record", "reject", "--project", "conf", "--date", "2026-02-03", "--reason", "no"];
    r.extend(approver);
    r.extend(["--seq", &cake_seq]);
    let out = ok(&r);
    assert!(out.contains("80.00 USD") && out.contains(&format!("request seq {cake}")), "{out}");
    let mut pay = vec!["--store", s, "record", "pay", "--project", "conf", "--date", "2026-02-04", "--seq", &venue_seq];
    pay.extend(approver);
    let paid = json(&pay);
    let position = &paid["positions"][0];
    assert_eq!((position["request"].as_u64(), position["amount"].as_str()), (Some(venue), Some("1200.00")), "{paid}");
    // the events table: the approval's and rejection's rows show the request's amount and payee
    let events = ok(&["--store", s, "events", "conf"]);
    let row = |kind: &str| events.lines().find(|l| l.contains(kind)).unwrap_or_default().to_owned();
    let approved = row("ExpenseApproved");
    assert!(approved.contains("1,200.00 USD") && approved.contains("Grand Hall"), "{events}");
    assert!(row("ExpenseRejected").contains("80.00 USD"), "{events}");
    assert!(row("ExpensePaid").contains("1,200.00 USD"), "{events}");
    let st = json(&["--store", s, "statement", "conf"]);
    let lines = st["statements"][0]["lines"].as_array().expect("lines");
    let payment = lines.iter().find(|l| l["kind"] == "ExpensePaid").expect("the payment's line");
    assert_eq!(payment["detail"], format!("pays expense request seq {venue}"));
    assert_eq!((payment["counterparty"].as_str(), payment["amount"].as_str()), (Some("Grand Hall"), Some("-1200.00")));

    ok(&[
        "--store",
        s,
        "record",
        "convert",
        "--project",
        "conf",
        "--amount",
        "1000.00",
        "--currency",
        "USD",
        "--to-amount",
        "920.00",
        "--to-currency",
        "EUR",
        "--date",
        "2026-02-05",
    ]);
    let st = json(&["--store", s, "statement", "conf"]);
    for statement in st["statements"].as_array().expect("statements") {
        let converted = statement["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .find(|l| l["kind"] == "CurrencyConverted")
            .expect("a line");
        assert_eq!(converted["detail"], "converted 1,000.00 USD into 920.00 EUR", "{statement}");
    }
}
