//! The access log: one line per call, refusals included, with time, peer, principal, method,
//! project, status and duration, as text or JSON; no value can forge a field or a line.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fiscus_proto::pb;
use tonic::Code;

use crate::support::*;

/// How long a line may take to reach the log after its call ended.
const LOG_DEADLINE: Duration = Duration::from_secs(10);

/// Parses `key="value"` and `key=value` fields (with `\` escapes inside quotes) of a text line; `None`
/// when the line is not well formed.
fn fields(line: &str) -> Option<BTreeMap<String, String>> {
    let rest = line.split_once(" ACCESS ")?.1;
    let mut out = BTreeMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(out);
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => {
                        value.push('\\');
                        value.push(chars.next()?);
                    }
                    c => value.push(c),
                }
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ' ').collect();
        }
        if out.insert(key, value).is_some() {
            return None;
        }
    }
}

/// The access lines of the log whose method ends with `method`, waiting for `count` of them.
fn access_lines(d: &Daemon, method: &str, count: usize) -> Vec<BTreeMap<String, String>> {
    let started = Instant::now();
    loop {
        let log = d.log();
        let lines: Vec<_> = log
            .lines()
            .filter(|l| l.contains(" ACCESS "))
            .map(|l| fields(l).unwrap_or_else(|| panic!("a malformed access line: {l:?}")))
            .filter(|f| f.get("method").is_some_and(|m| m.ends_with(method)))
            .collect();
        if lines.len() >= count {
            return lines;
        }
        assert!(started.elapsed() < LOG_DEADLINE, "{count} access lines of {method} expected; log:\n{log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A daemon with project conf-a open, and a client of its accountant.
async fn with_conf_a() -> (Daemon, Ledger) {
    let d = Daemon::start().await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, "conf-a", 0).await;
    let acc = d.ledger(Some(&d.tokens.accountant)).await;
    (d, acc)
}

#[track_caller]
fn has(line: &BTreeMap<String, String>, key: &str, value: &str) {
    assert_eq!(line.get(key).map(String::as_str), Some(value), "{key} in {line:?}");
}

const KEYS: [&str; 7] = ["duration_us", "method", "peer", "principal", "project", "role", "status"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_logged_with_who_tried_what() {
    let d = Daemon::start().await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, "conf-a", 0).await;
    open(&mut admin, "conf-b", 0).await;

    // An unknown token.
    let mut stranger = d.ledger(Some("fiscus_0000000000000000000000000000000000000000")).await;
    let balance = |p: &str| pb::GetBalanceRequest { project: p.into(), currency: None, as_of: None };
    assert_code(stranger.get_balance(balance("conf-a")).await, Code::Unauthenticated);
    // A project token reading another project.
    let mut org = d.ledger(Some(&d.tokens.project)).await;
    assert_code(org.get_balance(balance("conf-b")).await, Code::PermissionDenied);
    let lines = access_lines(&d, "/GetBalance", 2);
    let unknown = lines.iter().find(|l| l["status"] == "UNAUTHENTICATED").expect("the unknown token's line");
    has(unknown, "principal", "-");
    has(unknown, "method", "fiscus.v1.Ledger/GetBalance");
    assert!(unknown["peer"].starts_with("127.0.0.1:"), "{unknown:?}");
    assert!(unknown["message"].contains("unknown token"), "{unknown:?}");
    let other = lines.iter().find(|l| l["status"] == "PERMISSION_DENIED").expect("the project token's line");
    has(other, "principal", "organiser:olga");
    has(other, "role", "project:conf-a");
    has(other, "project", "conf-b");
    for l in &lines {
        for k in KEYS {
            assert!(l.contains_key(k), "{k} missing in {l:?}");
        }
        assert!(l["duration_us"].parse::<u64>().is_ok(), "{l:?}");
    }

    // A project token recording a contribution, and an auditor recording.
    assert_code(record(&mut org, vec![contribution("c-org", "conf-a", "5.00", None)]).await, Code::PermissionDenied);
    let mut auditor = d.ledger(Some(&d.tokens.auditor)).await;
    assert_code(
        record(&mut auditor, vec![contribution("c-aud", "conf-b", "5.00", None)]).await,
        Code::PermissionDenied,
    );
    let lines = access_lines(&d, "/RecordCommit", 2);
    let by_org = lines.iter().find(|l| l["principal"] == "organiser:olga").expect("the project token's commit");
    has(by_org, "status", "PERMISSION_DENIED");
    has(by_org, "project", "conf-a");
    has(by_org, "event_ids", "c-org");
    let by_auditor = lines.iter().find(|l| l["principal"] == "auditor:ann").expect("the auditor's commit");
    has(by_auditor, "status", "PERMISSION_DENIED");
    has(by_auditor, "project", "conf-b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_cannot_forge_a_field_or_a_line() {
    let (d, mut acc) = with_conf_a().await;
    let forged = "e1 actor=admin:root";
    let r = record(&mut acc, vec![contribution(forged, "conf-a", "5.00", None)]).await.expect("recorded");
    assert_eq!(r.positions.len(), 1);
    // A project id with a line separator, a newline and a made-up line after it.
    let evil = "x\u{2028}y\n2026-01-01T00:00:00Z ACCESS principal=\"admin:root\" status=\"OK\"";
    let refused = acc.get_balance(pb::GetBalanceRequest { project: evil.into(), currency: None, as_of: None }).await;
    assert_code(refused, Code::InvalidArgument);

    let commits = access_lines(&d, "/RecordCommit", 1);
    let line = commits.iter().find(|l| l["principal"] == "accountant:alice").expect("the accountant's commit");
    has(line, "status", "OK");
    has(line, "event_ids", forged);
    has(line, "events", "1");
    assert!(!line.contains_key("actor"), "no forged field: {line:?}");
    let reads = access_lines(&d, "/GetBalance", 1);
    assert_eq!(reads.len(), 1, "one line for one call: {reads:?}");
    has(&reads[0], "principal", "accountant:alice");
    has(&reads[0], "status", "INVALID_ARGUMENT");
    let project = &reads[0]["project"];
    assert!(project.contains("\\u{2028}") && project.contains("\\u{a}"), "escaped: {project:?}");
    let log = d.log();
    assert!(!log.contains('\u{2028}'), "no raw line separator in the log");
    assert!(log.lines().all(|l| !l.starts_with("2026-01-01T00:00:00Z")), "no forged line:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines() {
    let d = Daemon::start_with(&["--log-format", "json"]).await;
    let mut org = d.ledger(Some(&d.tokens.project)).await;
    let evil = "conf-b\u{2028}\"}";
    let refused = org.get_balance(pb::GetBalanceRequest { project: evil.into(), currency: None, as_of: None }).await;
    assert_code(refused, Code::PermissionDenied);
    let started = Instant::now();
    let line = loop {
        let log = d.log();
        let found = log.lines().find(|l| l.contains("\"access\"") && l.contains("GetBalance")).map(str::to_owned);
        if let Some(l) = found {
            break l;
        }
        assert!(started.elapsed() < LOG_DEADLINE, "no JSON access line:\n{log}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(line.is_ascii(), "{line}");
    let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(v["kind"], "access");
    assert_eq!(v["principal"], "organiser:olga");
    assert_eq!(v["status"], "PERMISSION_DENIED");
    assert_eq!(v["project"], evil);
    assert_eq!(v["method"], "fiscus.v1.Ledger/GetBalance");
    // Every other line of the log is JSON too.
    for l in d.log().lines().filter(|l| !l.trim().is_empty()) {
        assert!(serde_json::from_str::<serde_json::Value>(l).is_ok(), "not JSON: {l}");
    }
}

/// A commit whose caller stops waiting before its answer (a deadline of 1 ms on a commit of 200
/// events, which the writer takes longer to store) is stored all the same. Its access line can
/// say only that the call ended; the writer's line says the commit was stored, with its number
/// and event ids, so the log shows what became of it. A retry finds it recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_stored_after_its_caller_stopped_waiting_is_logged_as_stored() {
    let (d, mut acc) = with_conf_a().await;
    let mut stored_late = None;
    for attempt in 0..20 {
        let events: Vec<pb::Event> =
            (0..200).map(|i| contribution(&format!("late-{attempt}-{i}"), "conf-a", "1.00", None)).collect();
        let mut request = tonic::Request::new(pb::RecordCommitRequest {
            events: events.clone(),
            expected_seq: Default::default(),
            allow_same_receipt: false,
            dry_run: false,
        });
        request.set_timeout(Duration::from_millis(1));
        if acc.record_commit(request).await.is_ok() {
            continue; // answered within the millisecond
        }
        let again = record(&mut acc, events).await.expect("the retry is answered");
        if again.duplicate {
            stored_late = Some((attempt, again.commit));
            break;
        }
    }
    let (attempt, commit) = stored_late.expect("a commit stored after its caller stopped waiting, within 20 tries");
    let first_id = format!("late-{attempt}-0");
    let started = Instant::now();
    let writer_line = loop {
        let log = d.log();
        let found = log
            .lines()
            .filter(|l| !l.contains(" ACCESS "))
            .find(|l| l.contains("stored after its caller stopped waiting") && l.contains(&format!("{first_id},")))
            .map(str::to_owned);
        if let Some(line) = found {
            break line;
        }
        assert!(started.elapsed() < LOG_DEADLINE, "no writer line for commit {commit}; log:\n{log}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(writer_line.contains(&format!("commit={commit}")), "{writer_line}");
    assert!(writer_line.contains("and 190 more"), "{writer_line}");
    let calls = access_lines(&d, "/RecordCommit", 1);
    let call = calls
        .iter()
        // a call cut off before its request was read names no events: its line has no event_ids
        .find(|l| {
            l.get("event_ids").and_then(|ids| ids.split(',').next()) == Some(first_id.as_str())
                && l.get("status").is_some_and(|s| s != "OK")
        })
        .expect("the access line of the call that stopped waiting");
    assert!(call["message"].contains("stored if the writer logs it as stored"), "{call:?}");
}

/// A call writes at most a line's worth to the log, whatever it sends: a project id, an event id or
/// a method of a megabyte is logged as its start and its length. 50 balance reads with a 4 MB
/// project id by a project token (refused PERMISSION_DENIED) wrote 200 MB of log in 1.4 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_writes_a_line_not_what_it_sent() {
    let d = Daemon::start().await;
    let mut org = d.ledger(Some(&d.tokens.project)).await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    let huge = "p".repeat(1_000_000);
    let before = d.log().len();
    for _ in 0..5 {
        let read = org.get_balance(pb::GetBalanceRequest { project: huge.clone(), currency: None, as_of: None }).await;
        assert!(read.is_err());
    }
    let refused = record(&mut admin, vec![contribution(&huge, "conf-a", "5.00", None)]).await;
    assert!(refused.is_err());
    let reads = access_lines(&d, "/GetBalance", 5);
    let commits = access_lines(&d, "/RecordCommit", 1);
    let grown = d.log().len() - before;
    assert!(grown < 20_000, "6 calls of a megabyte each wrote {grown} bytes of log");
    for line in reads.iter().chain(&commits) {
        let project = line.get("project").cloned().unwrap_or_default();
        let ids = line.get("event_ids").cloned().unwrap_or_default();
        let long = if project.starts_with("ppp") { &project } else { &ids };
        assert!(long.ends_with("…(1000000 characters)") || long.ends_with("\\u{2026}(1000000 characters)"), "{line:?}");
    }
    d.stop();
}
