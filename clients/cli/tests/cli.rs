//! Tests of the real `fiscus` binary on embedded stores, and of `fiscus verify --server` (and the
//! client's `verify_project`) against a test-only gRPC server that serves a store's chain but lies
//! about one record, one balance or the head. Daemon-backed tests of the command line are in the
//! daemon's test target (`tests/it/cli.rs`), where `fiscusd` is built.

use std::path::Path;
use std::process::Command;

use fiscus_client::fiscus_ledger::store::{open_tree, tail_key};
use serde_json::Value;

mod common;
use common::{json, ok, run, run_env, run_with_input};

fn demo_store() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("books").display().to_string();
    ok(&["demo", "--store", &store]);
    (dir, store)
}

#[test]
fn demo_shows_the_year_balances_a_statement_and_a_verified_chain() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("books").display().to_string();
    let started = std::time::Instant::now();
    let out = ok(&["demo", "--store", &store]);
    assert!(started.elapsed().as_secs() < 60, "the demo takes well under a minute");
    for want in ["PKG-2026-0001", "AdvanceIssued", "26,328.00", "Statement of rustconf-2026", "Verified:"] {
        assert!(out.contains(want), "demo output lacks {want:?}:\n{out}");
    }
    let (code, _, err) = run(&["demo", "--store", &store]);
    assert_eq!(code, 1, "a second demo into the same store is refused: {err}");
    let other = dir.path().join("json").display().to_string();
    let v = json(&["demo", "--store", &other]);
    assert_eq!(v["verification"]["ok"], true);
    assert_eq!(v["projects"].as_array().map(Vec::len), Some(4));
    assert_eq!(v["statement"]["closing_balance"], "27548.00");
}

#[test]
fn demo_generates_a_large_year_with_the_workload_generator() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("gen").display().to_string();
    let v = json(&["demo", "--store", &store, "--events", "3000", "--seed", "5"]);
    assert_eq!(v["events"], 3000);
    assert_eq!(v["verification"]["ok"], true);
    let verify = json(&["verify", "--store", &store]);
    assert_eq!(verify["ok"], true);
    assert_eq!(verify["events"], 3000);
}

#[test]
fn reads_of_a_store_as_tables_and_json() {
    let (_dir, store) = demo_store();
    let s = store.as_str();
    let projects = json(&["--store", s, "projects"]);
    assert_eq!(projects.as_array().map(Vec::len), Some(4));
    assert!(ok(&["--store", s, "projects"]).contains("Tokyo Rust Workshops"));

    let b = json(&["--store", s, "balance", "rustconf-2026"]);
    assert_eq!(b["balances"][0]["balance"], "26328.00");
    assert_eq!(b["balances"][0]["restricted"][0]["balance"], "1220.00");
    let table = ok(&["--store", s, "balance", "rustconf-2026"]);
    assert!(table.contains("26,328.00 USD") && table.contains("diversity-scholarships"), "{table}");

    let st = json(&["--store", s, "statement", "rustconf-2026", "--from", "2026-03-01", "--to", "2026-03-31"]);
    let usd = &st["statements"][0];
    assert_eq!(usd["opening_balance"], "12300.00");
    assert_eq!(usd["lines"].as_array().map(Vec::len), Some(3));
    assert!(ok(&["--store", s, "statement", "berlin-rust-meetup"]).contains("Closing balance"));

    let ev = json(&["--store", s, "events", "rustconf-2026", "--limit", "5"]);
    assert_eq!(ev["events"].as_array().map(Vec::len), Some(5));
    assert_eq!(ev["head_seq"], 12);
    assert!(ok(&["--store", s, "events", "serde-tools"]).contains("TransferReceived"));

    let tb = json(&["--store", s, "trial-balance"]);
    let lines = tb.as_array().expect("an array");
    let mut sums: std::collections::BTreeMap<String, rust_decimal::Decimal> = Default::default();
    for l in lines {
        let amount: rust_decimal::Decimal = l["amount"].as_str().expect("a decimal string").parse().expect("decimal");
        *sums.entry(l["currency"].as_str().expect("currency").to_owned()).or_default() += amount;
        assert!(l["account"].is_string());
    }
    assert!(sums.values().all(|v| v.is_zero()), "each currency sums to zero: {sums:?}");
    assert!(lines
        .iter()
        .any(|l| l["account"] == "Liabilities:Projects:rustconf-2026:Unrestricted" && l["amount"] == "-26328.00"));
    assert!(ok(&["--store", s, "trial-balance"]).contains("Total USD"));

    assert_eq!(json(&["--store", s, "pending"]), Value::Array(vec![]));
    let (code, _, err) = run(&["--store", s, "balance", "no-such-project"]);
    assert_eq!((code, err.contains("unknown project")), (1, true), "{err}");
}

#[test]
fn record_from_flags_and_from_a_commit_file_on_a_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("books").display().to_string();
    ok(&["--store", &store, "init"]);
    let s = store.as_str();
    for (id, name) in [("conf-a", "Conf A"), ("conf-b", "Conf B"), ("conf-c", "Conf C")] {
        ok(&[
            "--store",
            s,
            "record",
            "open-project",
            "--project",
            id,
            "--name",
            name,
            "--fee-bps",
            "1000",
            "--currency",
            "USD",
            "--date",
            "2026-01-01",
        ]);
    }
    let package = dir.path().join("package.json");
    let events: Vec<String> = ["conf-a", "conf-b", "conf-c"]
        .iter()
        .map(|p| {
            format!(
                r#"{{"project": "{p}", "date": "2026-03-01", "kind": "contribution", "amount": "1000.00",
            "currency": "USD", "from": "Ferrous Systems", "source": "sponsorship", "reference": "PKG-1"}}"#
            )
        })
        .collect();
    std::fs::write(&package, format!(r#"{{"events": [{}]}}"#, events.join(","))).expect("write");
    let package = package.display().to_string();
    let r = json(&["--store", s, "record", "--file", &package]);
    assert_eq!(r["duplicate"], false);
    assert_eq!(r["positions"].as_array().map(Vec::len), Some(3));
    let again = json(&["--store", s, "record", "--file", &package]);
    assert_eq!(again["duplicate"], true, "the same file twice records once");
    assert_eq!(json(&["--store", s, "balance", "conf-b"])["balances"][0]["balance"], "900.00");

    // A refusal (overdraft) exits 1 and changes nothing.
    let (code, _, err) = run(&[
        "--store",
        s,
        "record",
        "expense",
        "--project",
        "conf-a",
        "--amount",
        "5000",
        "--currency",
        "USD",
        "--payee",
        "Venue",
        "--category",
        "venue",
        "--receipt",
        &package,
        "--date",
        "2026-03-02",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("overdraft"), "{err}");
    assert_eq!(json(&["--store", s, "balance", "conf-a"])["head_seq"], 2);
    // Usage errors exit 2.
    assert_eq!(run(&["--store", s, "record"]).0, 2);
    assert_eq!(run(&["--store", s, "record", "grant", "--project", "conf-a"]).0, 2, "missing flags");
    assert_eq!(run(&["--store", s, "balance", "Bad_Id"]).0, 2);
    assert_eq!(run(&["balance", "conf-a"]).0, 2, "no --server and no --store");
    // A malformed amount is refused before anything is written, naming the field.
    let (code, _, err) = run(&[
        "--store",
        s,
        "record",
        "grant",
        "--project",
        "conf-a",
        "--amount",
        "1.001",
        "--currency",
        "USD",
        "--program",
        "fund",
        "--date",
        "2026-03-03",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("amount"), "{err}");
}

const CSV_HEADER: &str = "date,project,kind,amount,currency,counterparty,memo,reference\n";

#[test]
fn an_import_with_a_bad_row_records_nothing_and_a_second_import_records_nothing_new() {
    let (dir, store) = demo_store();
    let s = store.as_str();
    let head = |p: &str| json(&["--store", s, "balance", p])["head_seq"].clone();
    let before = head("serde-tools");
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        format!(
            "{CSV_HEADER}2026-06-01,serde-tools,donation,25.00,USD,Ann,Thanks,\n\
             2026-06-02,serde-tools,donation,12,50,USD,Bob,Comma,\n\
             2026-06-03,serde-tools,expense,-10.00,USD,Host,Server,INV-9\n"
        ),
    )
    .expect("write");
    let (code, _, err) = run(&["--store", s, "import", "csv", &bad.display().to_string()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("line 3") && err.contains("nothing was recorded"), "{err}");
    let bad2 = dir.path().join("bad2.csv");
    std::fs::write(&bad2, format!("{CSV_HEADER}2026-06-01,serde-tools,donation,25.00,USD,Ann,Thanks,\n2026-06-02,serde-tools,gift,1.00,USD,Bob,,\n"))
        .expect("write");
    let (code, _, err) = run(&["--store", s, "import", "csv", &bad2.display().to_string()]);
    assert_eq!(code, 1);
    assert!(err.contains("line 3, column kind"), "{err}");
    assert_eq!(head("serde-tools"), before, "nothing was recorded");

    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        format!(
            "{CSV_HEADER}2026-06-01,serde-tools,donation,25.00,USD,Ann,Thanks,\n\
             2026-06-03,serde-tools,expense,-10.00,USD,Host,Server,INV-9\n\
             2026-06-04,rustconf-2026,ticket-sales,100.00,USD,Tito,Payout,T-1\n"
        ),
    )
    .expect("write");
    let good = good.display().to_string();
    let dry = json(&["--store", s, "import", "csv", &good, "--dry-run"]);
    assert_eq!((dry["would_record"].clone(), dry["recorded"].clone()), (Value::from(3), Value::from(0)));
    assert_eq!(head("serde-tools"), before);
    let first = json(&["--store", s, "import", "csv", &good]);
    assert_eq!(first["recorded"], 3);
    let after = head("serde-tools");
    assert_eq!(after, Value::from(before.as_u64().expect("seq") + 2));
    let second = json(&["--store", s, "import", "csv", &good]);
    assert_eq!((second["recorded"].clone(), second["already_recorded"].clone()), (Value::from(0), Value::from(3)));
    assert_eq!(head("serde-tools"), after, "importing the same file twice records nothing new");
    let b = json(&["--store", s, "balance", "serde-tools"]);
    assert_eq!(b["balances"][0]["balance"], "4813.75", "4800 + 25 less 5 % fee − 10");
}

#[test]
fn exports_of_a_store() {
    let (dir, store) = demo_store();
    let s = store.as_str();
    for (format, check) in
        [("hledger", "decimal-mark ."), ("beancount", "option"), ("csv", "account"), ("jsonl", "\"event_id\"")]
    {
        let file = dir.path().join(format!("out.{format}"));
        let f = file.display().to_string();
        let summary = json(&["--store", s, "export", format, "--output", &f]);
        assert_eq!(summary["records"], 32, "{format}");
        let text = std::fs::read_to_string(&file).expect("written");
        assert!(text.contains(check), "{format}:\n{text}");
    }
    let one = ok(&["--store", s, "export", "jsonl", "--project", "serde-tools"]);
    assert_eq!(one.lines().count(), 4);
}

#[test]
fn verify_of_a_damaged_store_names_project_and_seq() {
    let (_dir, store) = demo_store();
    let v = json(&["verify", "--store", &store]);
    assert_eq!(
        (v["ok"].clone(), v["events"].clone(), v["projects"].clone()),
        (Value::from(true), Value::from(32), Value::from(4))
    );
    {
        let (db, tree) = open_tree(Path::new(&store)).expect("open");
        let key = tail_key("rustconf-2026", 5);
        let mut value = tree.get(&key).expect("read").expect("stored").to_vec();
        let at = value.len() - 20;
        value[at] ^= 0x01;
        tree.insert(key, value).expect("write");
        db.flush().expect("flush");
    }
    let (code, out, err) = run(&["verify", "--store", &store]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("rustconf-2026") && err.contains("seq 5"), "{err}");
    // reads of the damaged chain fail too: never its records up to the damage as the whole
    for read in [vec!["balance", "rustconf-2026"], vec!["events", "rustconf-2026"], vec!["trial-balance"]] {
        let mut args = vec!["--store", store.as_str()];
        args.extend(read.iter().copied());
        let (code, out, err) = run(&args);
        assert_eq!(code, 1, "{read:?} of a damaged chain: {out}\n{err}");
        assert!(err.contains("rustconf-2026"), "{read:?}: {err}");
    }
    let (code, _, err) = run(&["verify", "--store", "/nonexistent/fiscus"]);
    assert_eq!(code, 1, "{err}");
    // A key or a witness policy the local verification would not use is a usage error, not ignored.
    let key = "books.example/fiscus+0badcafe+AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
    let (code, _, err) = run(&["verify", "--store", &store, "--pin", key]);
    assert!(code == 2 && err.contains("--pin applies to --server"), "{code}: {err}");
    let (code, _, err) = run(&["verify", "--store", &store, "--pin", key, "--policy", "policy.txt"]);
    assert!(code == 2 && err.contains("--policy applies to --server and --bundle"), "{code}: {err}");
}

#[test]
fn tokens_are_written_in_fiscusds_format() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("tokens.toml").display().to_string();
    let token = ok(&["token", "add", "--tokens", &file, "--role", "project:conf-a", "--name", "organiser:olga"]);
    assert!(token.trim().starts_with("fiscus_"));
    let list = json(&["token", "list", "--tokens", &file]);
    assert_eq!(list[0]["role"], "project:conf-a");
    assert_eq!(run(&["token", "add", "--tokens", &file, "--role", "root"]).0, 2);
}

#[test]
fn every_command_has_help() {
    let top = ok(&["--help"]);
    for cmd in [
        "demo",
        "balance",
        "statement",
        "events",
        "projects",
        "trial-balance",
        "pending",
        "record",
        "import",
        "export",
        "verify",
        "tail",
        "token",
    ] {
        assert!(top.contains(cmd), "{cmd} missing from --help");
        let help = ok(&[cmd, "--help"]);
        assert!(help.contains("Usage"), "{cmd}: {help}");
    }
    for sub in [["import", "csv"], ["token", "add"], ["record", "contribution"], ["record", "expense"]] {
        ok(&[sub[0], sub[1], "--help"]);
    }
    assert!(ok(&["record", "--help"]).contains("\"events\""), "the commit file's shape is in record --help");
}

/// A gRPC server for tests that serves a store's chains, heads and balances, with one lie.
mod liar {
    use std::collections::BTreeMap;
    use std::net::SocketAddr;
    use std::path::Path;
    use std::pin::Pin;

    use fiscus_client::fiscus_ledger::money::format_amount;
    use fiscus_client::fiscus_ledger::store::Store;
    use fiscus_proto::pb;
    use fiscus_proto::pb::audit_server::{Audit, AuditServer};
    use fiscus_proto::pb::ledger_server::{Ledger, LedgerServer};
    use tokio_stream::Stream;
    use tonic::{Request, Response, Status};

    /// What the server lies about.
    #[derive(Clone, Copy, Debug)]
    pub enum Lie {
        /// Nothing.
        None,
        /// One bit of the stored bytes of (project, seq), with the hash recomputed to match.
        Record(&'static str, u64),
        /// One bit of (project, seq) without recomputing its stated hash.
        RecordHashKept(&'static str, u64),
        /// The balance of a project, one unit too high.
        Balance(&'static str),
        /// The head hash of a project.
        Head(&'static str),
        /// The balances of a project as of seq 1 (none), true of that seq and long out of date.
        OldBalance(&'static str),
    }

    struct Chain {
        raws: Vec<pb::RawRecord>,
        head: pb::ProjectHead,
        balance: pb::GetBalanceResponse,
    }

    #[derive(Clone)]
    pub struct Liar {
        chains: std::sync::Arc<BTreeMap<String, Chain>>,
    }

    impl Liar {
        /// Reads every chain of the store in `dir` and applies `lie`.
        pub fn new(dir: &Path, lie: Lie) -> Liar {
            let (store, _) = Store::open(dir).expect("store");
            let p = store.projection();
            let mut chains = BTreeMap::new();
            for c in p.chains() {
                let limit = usize::try_from(c.head.seq).expect("small");
                let mut raws: Vec<pb::RawRecord> = store
                    .raw_records(c.id.as_str(), 1, limit)
                    .expect("records")
                    .into_iter()
                    .map(|r| pb::RawRecord { seq: r.seq, bytes: r.bytes, hash: r.hash.to_vec() })
                    .collect();
                let mut head = pb::ProjectHead {
                    project: c.id.to_string(),
                    seq: c.head.seq,
                    hash: c.head.hash.to_vec(),
                    record: Vec::new(),
                };
                let mut balances: Vec<pb::CurrencyBalance> = c
                    .balances()
                    .iter()
                    .map(|b| {
                        let f = |v| format_amount(v, b.currency);
                        pb::CurrencyBalance {
                            currency: b.currency.code().to_owned(),
                            balance: f(b.balance),
                            available: f(b.available),
                            restricted: b
                                .restricted
                                .iter()
                                .map(|r| pb::RestrictedBalance {
                                    purpose: r.purpose.clone(),
                                    balance: f(r.balance),
                                    available: f(r.available),
                                })
                                .collect(),
                            held: f(b.held),
                            pledged: f(b.pledged),
                            advances_outstanding: f(b.advances_outstanding),
                            fees_to_date: f(b.fees_to_date),
                        }
                    })
                    .collect();
                match lie {
                    Lie::Record(project, seq) | Lie::RecordHashKept(project, seq) if project == c.id.as_str() => {
                        let r = &mut raws[usize::try_from(seq - 1).expect("small")];
                        let at = r.bytes.len() - 20;
                        r.bytes[at] ^= 0x01;
                        if matches!(lie, Lie::Record(..)) {
                            r.hash = fiscus_client::fiscus_ledger::chain::record_hash(&r.bytes).to_vec();
                        }
                    }
                    Lie::Balance(project) if project == c.id.as_str() => {
                        let b = &mut balances[0];
                        let more: rust_decimal::Decimal =
                            b.balance.parse::<rust_decimal::Decimal>().expect("decimal") + rust_decimal::Decimal::ONE;
                        b.balance = more.to_string();
                    }
                    Lie::Head(project) if project == c.id.as_str() => head.hash[0] ^= 0x01,
                    _ => {}
                }
                let mut balance = pb::GetBalanceResponse {
                    project: c.id.to_string(),
                    head_seq: c.head.seq,
                    commit: p.commit_head.number,
                    balances,
                    as_of: None,
                };
                if matches!(lie, Lie::OldBalance(project) if project == c.id.as_str()) {
                    (balance.head_seq, balance.balances) = (1, Vec::new());
                }
                chains.insert(c.id.to_string(), Chain { raws, head, balance });
            }
            Liar { chains: std::sync::Arc::new(chains) }
        }

        fn chain(&self, project: &str) -> Result<&Chain, Status> {
            self.chains.get(project).ok_or_else(|| Status::not_found(format!("unknown project {project}")))
        }

        /// Serves on a loopback port; returns its URL.
        pub async fn serve(self) -> String {
            let incoming =
                tonic::transport::server::TcpIncoming::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
            let addr = incoming.local_addr().expect("addr");
            let server = tonic::transport::Server::builder()
                .add_service(LedgerServer::new(self.clone()))
                .add_service(AuditServer::new(self))
                .serve_with_incoming(incoming);
            tokio::spawn(server);
            format!("http://{addr}")
        }
    }

    type Stream_<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

    fn nope<T>() -> Result<Response<T>, Status> {
        Err(Status::unimplemented("not served by the test server"))
    }

    #[tonic::async_trait]
    impl Ledger for Liar {
        async fn open_project(
            &self,
            _: Request<pb::OpenProjectRequest>,
        ) -> Result<Response<pb::OpenProjectResponse>, Status> {
            nope()
        }
        async fn change_terms(
            &self,
            _: Request<pb::ChangeTermsRequest>,
        ) -> Result<Response<pb::ChangeTermsResponse>, Status> {
            nope()
        }
        async fn record_commit(
            &self,
            _: Request<pb::RecordCommitRequest>,
        ) -> Result<Response<pb::RecordCommitResponse>, Status> {
            nope()
        }
        async fn get_balance(
            &self,
            r: Request<pb::GetBalanceRequest>,
        ) -> Result<Response<pb::GetBalanceResponse>, Status> {
            Ok(Response::new(self.chain(&r.get_ref().project)?.balance.clone()))
        }
        async fn get_statement(
            &self,
            _: Request<pb::GetStatementRequest>,
        ) -> Result<Response<pb::GetStatementResponse>, Status> {
            nope()
        }
        async fn list_events(
            &self,
            _: Request<pb::ListEventsRequest>,
        ) -> Result<Response<pb::ListEventsResponse>, Status> {
            nope()
        }
        async fn list_projects(
            &self,
            _: Request<pb::ListProjectsRequest>,
        ) -> Result<Response<pb::ListProjectsResponse>, Status> {
            nope()
        }
        async fn get_trial_balance(
            &self,
            _: Request<pb::GetTrialBalanceRequest>,
        ) -> Result<Response<pb::GetTrialBalanceResponse>, Status> {
            nope()
        }
        async fn list_pending_expenses(
            &self,
            _: Request<pb::ListPendingExpensesRequest>,
        ) -> Result<Response<pb::ListPendingExpensesResponse>, Status> {
            nope()
        }
        async fn list_open_pledges(
            &self,
            _: Request<pb::ListOpenPledgesRequest>,
        ) -> Result<Response<pb::ListOpenPledgesResponse>, Status> {
            nope()
        }
        type SubscribeStream = Stream_<pb::SubscribeResponse>;
        async fn subscribe(&self, _: Request<pb::SubscribeRequest>) -> Result<Response<Self::SubscribeStream>, Status> {
            nope()
        }
    }

    #[tonic::async_trait]
    impl Audit for Liar {
        async fn get_head(&self, r: Request<pb::GetHeadRequest>) -> Result<Response<pb::GetHeadResponse>, Status> {
            let c = self.chain(&r.get_ref().project)?;
            Ok(Response::new(pb::GetHeadResponse {
                commit: 1,
                commit_hash: vec![0; 32],
                projects: vec![c.head.clone()],
                scope: String::new(),
            }))
        }
        async fn verify(&self, _: Request<pb::VerifyRequest>) -> Result<Response<pb::VerifyResponse>, Status> {
            nope()
        }
        type ExportChainStream = Stream_<pb::ExportChainResponse>;
        async fn export_chain(
            &self,
            r: Request<pb::ExportChainRequest>,
        ) -> Result<Response<Self::ExportChainStream>, Status> {
            let c = self.chain(&r.get_ref().project)?;
            let head_seq = c.head.seq;
            let batches: Vec<Result<pb::ExportChainResponse, Status>> = c
                .raws
                .chunks(5)
                .map(|chunk| Ok(pb::ExportChainResponse { head_seq, records: chunk.to_vec() }))
                .collect();
            Ok(Response::new(Box::pin(tokio_stream::iter(batches))))
        }
        async fn get_checkpoint(
            &self,
            _: Request<pb::GetCheckpointRequest>,
        ) -> Result<Response<pb::GetCheckpointResponse>, Status> {
            nope()
        }
        async fn get_inclusion_proof(
            &self,
            _: Request<pb::GetInclusionProofRequest>,
        ) -> Result<Response<pb::GetInclusionProofResponse>, Status> {
            nope()
        }
        async fn get_consistency_proof(
            &self,
            _: Request<pb::GetConsistencyProofRequest>,
        ) -> Result<Response<pb::GetConsistencyProofResponse>, Status> {
            nope()
        }
        async fn get_head_proof(
            &self,
            _: Request<pb::GetHeadProofRequest>,
        ) -> Result<Response<pb::GetHeadProofResponse>, Status> {
            nope()
        }
        async fn list_commit_entries(
            &self,
            _: Request<pb::ListCommitEntriesRequest>,
        ) -> Result<Response<pb::ListCommitEntriesResponse>, Status> {
            nope()
        }
        async fn list_checkpoints(
            &self,
            _: Request<pb::ListCheckpointsRequest>,
        ) -> Result<Response<pb::ListCheckpointsResponse>, Status> {
            nope()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_project_catches_a_server_that_lies() {
    use liar::{Liar, Lie};
    let (_dir, store) = demo_store();
    let dir = Path::new(&store);
    // The lie, and the (project, seq, words) the error must name.
    type Expect = Option<(&'static str, u64, &'static str)>;
    let cases: [(Lie, Expect); 6] = [
        (Lie::None, None),
        // balances true of an old seq: what is verified and shown is the balance at the head
        (Lie::OldBalance("rustconf-2026"), None),
        // A changed record whose stated hash matches its bytes: the next record's link breaks.
        (Lie::Record("rustconf-2026", 6), Some(("rustconf-2026", 7, "record 6 or 7"))),
        (Lie::RecordHashKept("rustconf-2026", 4), Some(("rustconf-2026", 4, "hash"))),
        (Lie::Balance("rustconf-2026"), Some(("rustconf-2026", 12, "USD balance"))),
        (Lie::Head("rustconf-2026"), Some(("rustconf-2026", 12, "head hash"))),
    ];
    for (lie, expect) in cases {
        let url = Liar::new(dir, lie).serve().await;
        // The library: a typed error naming project and seq.
        let client =
            fiscus_client::Client::connect(&url, fiscus_client::ClientOptions::default()).await.expect("connects");
        let project = fiscus_client::project_id("rustconf-2026").expect("id");
        let result = client.verify_project(&project).await;
        match (&result, expect) {
            (Ok(v), None) => {
                assert_eq!(v.head_seq, 12, "{lie:?}");
                let balance = v.balances.first().map(|b| b.balance);
                assert_eq!(balance, Some(rust_decimal::Decimal::from(26_328)), "{lie:?}: the balance at the head");
            }
            (Err(fiscus_client::ClientError::Verification { project, seq, problem }), Some((p, s, what))) => {
                assert_eq!((project.as_str(), *seq), (p, s), "{lie:?}: {problem}");
                assert!(problem.contains(what), "{lie:?}: {problem}");
            }
            _ => panic!("{lie:?}: unexpected {result:?}"),
        }
        // The command line: exit 1 and the same facts.
        let url2 = url.clone();
        let (code, out, err) =
            tokio::task::spawn_blocking(move || run(&["verify", "--server", &url2, "--project", "rustconf-2026"]))
                .await
                .expect("joined");
        match expect {
            None => assert_eq!(code, 0, "{lie:?}: {out}\n{err}"),
            Some((p, s, _)) => {
                assert_eq!(code, 1, "{lie:?}: {out}\n{err}");
                assert!(err.contains(p) && err.contains(&format!("seq {s}")), "{lie:?}: {err}");
            }
        }
        // An honest project on the same lying server still verifies.
        let other = fiscus_client::project_id("serde-tools").expect("id");
        client.verify_project(&other).await.expect("serde-tools is served honestly");
    }
}

/// The amounts and dates the one amount parser and the one date parser refuse, with the reason each
/// is refused for.
const BAD_AMOUNTS: [(&str, &str, &str); 5] = [
    ("1.00000000000000000000000000001", "USD", "has 29 decimal places; USD allows 2"),
    ("0.0099999999999999999999999999999", "USD", "has 31 decimal places; USD allows 2"),
    ("1.000", "USD", "has 3 decimal places; USD allows 2"),
    ("1.0", "JPY", "has 1 decimal places; JPY allows 0"),
    ("0.00000000000000000000000000001", "USD", "has 29 decimal places; USD allows 2"),
];
const BAD_DATES: [&str; 3] = ["2026-1-5", " 2026-01-05", "+2026-01-05"];

#[test]
fn flags_commit_files_and_csv_refuse_the_same_amounts_and_dates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("books").display().to_string();
    ok(&["--store", &store, "init"]);
    let s = store.as_str();
    for (id, currency) in [("usd-conf", "USD"), ("jpy-conf", "JPY")] {
        let open = ["--store", s, "record", "open-project", "--project", id, "--name", id, "--fee-bps", "0"];
        ok(&[&open[..], &["--currency", currency, "--date", "2026-01-01"]].concat());
    }
    let project_of = |currency: &str| if currency == "JPY" { "jpy-conf" } else { "usd-conf" };
    let heads = || {
        (
            json(&["--store", s, "balance", "usd-conf"])["head_seq"].clone(),
            json(&["--store", s, "balance", "jpy-conf"])["head_seq"].clone(),
        )
    };
    let before = heads();
    let flags = |amount: &str, currency: &str, date: &str| {
        let project = project_of(currency);
        run(&[
            "--store",
            s,
            "record",
            "contribution",
            "--project",
            project,
            "--amount",
            amount,
            "--currency",
            currency,
            "--from",
            "Ann",
            "--date",
            date,
        ])
    };
    let file = |n: usize, amount: &str, currency: &str, date: &str| {
        let path = dir.path().join(format!("commit-{n}.json"));
        let event = serde_json::json!({"events": [{"project": project_of(currency), "date": date, "kind": "contribution",
            "amount": amount, "currency": currency, "from": "Ann", "source": "donation"}]});
        std::fs::write(&path, event.to_string()).expect("write");
        run(&["--store", s, "record", "--file", &path.display().to_string()])
    };
    let csv = |n: usize, amount: &str, currency: &str, date: &str| {
        let path = dir.path().join(format!("rows-{n}.csv"));
        let row = format!("{CSV_HEADER}\"{date}\",{},donation,{amount},{currency},Ann,Thanks,\n", project_of(currency));
        std::fs::write(&path, row).expect("write");
        run(&["--store", s, "import", "csv", &path.display().to_string()])
    };
    let mut n = 0;
    for (amount, currency, reason) in BAD_AMOUNTS {
        n += 1;
        for (how, (code, out, err)) in [
            ("flags", flags(amount, currency, "2026-03-01")),
            ("file", file(n, amount, currency, "2026-03-01")),
            ("csv", csv(n, amount, currency, "2026-03-01")),
        ] {
            assert_eq!(code, 1, "{how} {amount} {currency} was accepted:\n{out}{err}");
            assert!(err.contains(reason) && err.contains("amount"), "{how} {amount} {currency}: {err}");
        }
    }
    for date in BAD_DATES {
        n += 1;
        let mut ways = vec![("flags", flags("1.00", "USD", date)), ("file", file(n, "1.00", "USD", date))];
        // (CSV cells are trimmed before they are read, as docs/IMPORT.md says: " 2026-01-05" is
        // the cell "2026-01-05" there)
        if date.trim() == date {
            ways.push(("csv", csv(n, "1.00", "USD", date)));
        }
        for (how, (code, out, err)) in ways {
            assert_eq!(code, 1, "{how} {date:?} was accepted:\n{out}{err}");
            assert!(err.contains("YYYY-MM-DD") && err.contains("date"), "{how} {date:?}: {err}");
        }
        // a date flag of a read is parsed by the same function
        let (code, _, err) = run(&["--store", s, "statement", "usd-conf", "--from", date, "--to", "2026-12-31"]);
        assert_ne!(code, 0, "statement --from {date:?}");
        assert!(err.contains("YYYY-MM-DD"), "{date:?}: {err}");
    }
    assert_eq!(heads(), before, "nothing was recorded");
    // The same values written the one right way are accepted by each.
    assert_eq!(flags("1.00", "USD", "2026-03-01").0, 0);
    assert_eq!(file(100, "2", "JPY", "2026-03-02").0, 0);
    assert_eq!(csv(101, "3.5", "USD", "2026-03-03").0, 0);
}

/// Every folder under `dir` (itself included) is 0700 and every file 0600.
#[cfg(unix)]
#[track_caller]
fn assert_private_tree(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(dir), 0o700, "{} is {:o}", dir.display(), mode(dir));
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            assert_private_tree(&path);
        } else {
            assert_eq!(mode(&path), 0o600, "{} is {:o}", path.display(), mode(&path));
        }
    }
}

#[cfg(unix)]
#[test]
fn stores_are_private_under_umask_022() {
    let dir = tempfile::tempdir().expect("temp dir");
    let under_022 = |args: &[&str], tmp: &Path| {
        let mut c = Command::new("sh");
        c.args(["-c", "umask 022 && exec \"$0\" \"$@\"", env!("CARGO_BIN_EXE_fiscus")]).args(args);
        for var in ["FISCUS_SERVER", "FISCUS_TOKEN", "FISCUS_STORE", "FISCUS_TLS_CA"] {
            c.env_remove(var);
        }
        let out = c.env("TMPDIR", tmp).output().expect("fiscus runs");
        assert!(out.status.success(), "fiscus {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let books = dir.path().join("books");
    under_022(&["--store", &books.display().to_string(), "init"], dir.path());
    assert_private_tree(&books);
    // The demo's own temporary store.
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).expect("mkdir");
    under_022(&["demo", "--keep"], &tmp);
    let demo = std::fs::read_dir(&tmp).expect("read_dir").next().expect("the demo's store").expect("entry").path();
    assert_private_tree(&demo);
    // An existing folder others may write is refused, with the fix.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&books, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let (code, _, err) = run(&["--store", &books.display().to_string(), "projects"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("chmod 700"), "{err}");
}

/// Runs `fiscus --store S <line>` (the line split on spaces).
#[track_caller]
fn on_store(store: &str, line: &str) -> (i32, String, String) {
    let mut args = vec!["--store", store];
    args.extend(line.split(' '));
    run(&args)
}

#[test]
fn fee_terms_apply_by_their_effective_date() {
    // Issue 14 §2: a late bank statement with May and June rows after a change from 1 July.
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("books").display().to_string();
    ok(&["--store", &store, "init"]);
    for line in [
        "record open-project --project fee-meetup --name Fee --project-kind meetup --fee-bps 500 --currency EUR --date 2026-01-05",
        "record change-terms --project fee-meetup --fee-bps 800 --date 2026-07-01",
        "record contribution --project fee-meetup --amount 100.00 --currency EUR --from Early --date 2026-05-10",
        "record contribution --project fee-meetup --amount 1000.00 --currency EUR --from Late --date 2026-06-30",
        "record contribution --project fee-meetup --amount 1000.00 --currency EUR --from July --date 2026-07-01",
    ] {
        let (code, out, err) = on_store(&store, line);
        assert_eq!(code, 0, "{line}:\n{out}\n{err}");
    }
    let v = json(&["--store", &store, "events", "fee-meetup"]);
    let events = v["events"].as_array().expect("events");
    let fees: Vec<(Value, String)> = events[2..]
        .iter()
        .map(|e| {
            let fee = e["postings"]
                .as_array()
                .and_then(|p| p.iter().find(|l| l["account"] == "Income:Fees:fee-meetup"))
                .map(|l| l["amount"].to_string())
                .unwrap_or_default();
            (e["fields"]["fee_bps"].clone(), fee)
        })
        .collect();
    let want = [(500, "5.00"), (500, "50.00"), (800, "80.00")];
    for ((bps, fee), (want_bps, want_fee)) in fees.iter().zip(want) {
        assert_eq!(bps, &Value::from(want_bps), "{fees:?}");
        assert!(fee.contains(want_fee), "fee {fee} is not {want_fee}: {fees:?}");
    }
}

#[test]
fn events_are_not_dated_before_what_they_depend_on() {
    // Issue 14 §1: each of these was accepted and made a January–May statement close below zero.
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("books").display().to_string();
    ok(&["--store", &store, "init"]);
    for line in [
        "record open-project --project dated-conf --name Dated --fee-bps 1000 --currency USD --advance-limit 1000 --date 2026-01-05",
        "record contribution --project dated-conf --amount 500.00 --currency USD --from Sponsor --date 2026-06-01",
    ] {
        let (code, out, err) = on_store(&store, line);
        assert_eq!(code, 0, "{line}:\n{out}\n{err}");
    }
    for (line, dates) in [
        (
            "record refund --project dated-conf --amount 100.00 --currency USD --contribution 2 --date 2026-03-01",
            ["2026-03-01", "2026-06-01"],
        ),
        (
            "record contribution --project dated-conf --amount 10.00 --currency USD --from Early --date 2025-06-01",
            ["2025-06-01", "2026-01-05"],
        ),
        (
            "record expense --project dated-conf --amount 50.00 --currency USD --payee Venue --category venue --receipt-hash 0000000000000000000000000000000000000000000000000000000000000001 --receipt inv.pdf --date 2026-02-01",
            ["2026-02-01", "below zero"],
        ),
    ] {
        let (code, out, err) = on_store(&store, line);
        assert_eq!(code, 1, "{line} is refused:\n{out}\n{err}");
        for want in dates {
            assert!(err.contains(want), "{line}: the refusal names {want}: {err}");
        }
    }
    let v = json(&["--store", &store, "statement", "dated-conf", "--from", "2026-01-01", "--to", "2026-05-31"]);
    assert_eq!(v["statements"][0]["closing_balance"], "0.00", "{v}");
    assert_eq!(v["statements"][0]["lines"].as_array().map(Vec::len), Some(0), "{v}");
}

#[test]
fn money_that_came_in_as_a_pledge_payment_can_be_refunded() {
    // Issue 14 §5: 1000.00 pledged at 7 % and paid in full; 300.00 of it refunded with 21.00 of fee.
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("books").display().to_string();
    ok(&["--store", &store, "init"]);
    for line in [
        "record open-project --project pledged --name Pledged --fee-bps 700 --currency USD --date 2026-01-05",
        "record pledge --project pledged --amount 1000.00 --currency USD --sponsor Acme --due-date 2026-04-30 --date 2026-02-01",
        "record pledge-payment --project pledged --amount 1000.00 --currency USD --pledge 2 --date 2026-03-01",
        "record refund --project pledged --contribution 3 --amount 300.00 --currency USD --date 2026-03-10",
    ] {
        let (code, out, err) = on_store(&store, line);
        assert_eq!(code, 0, "{line}:\n{out}\n{err}");
    }
    let v = json(&["--store", &store, "balance", "pledged"]);
    let text = v.to_string();
    assert!(text.contains("651.00") && text.contains("49.00"), "balance 651.00, fees 70.00 - 21.00: {v}");
}

/// A new store (in a temporary folder, with its path) holding project `berlin` (EUR, no fee),
/// opened on 2026-01-05.
fn books_with_berlin() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("books").display().to_string();
    ok(&["--store", &store, "init"]);
    let open = "record open-project --project berlin --name Berlin --fee-bps 0 --currency EUR --date 2026-01-05";
    let (code, out, err) = on_store(&store, open);
    assert_eq!(code, 0, "{out}\n{err}");
    (dir, store)
}

#[test]
fn an_import_newest_first_is_recorded_in_date_order() {
    // Issue 14 §3: a sponsorship of 400.00 (2 March) below two expenses (12 and 20 March).
    let (dir, store) = books_with_berlin();
    let csv = dir.path().join("bank.csv");
    std::fs::write(
        &csv,
        "date,project,kind,amount,currency,counterparty,memo,reference\n\
         2026-03-20,berlin,expense,-100.00,EUR,Venue,Rent,B-3\n\
         2026-03-12,berlin,expense,-80.00,EUR,Cafe,Snacks,B-2\n\
         2026-03-02,berlin,sponsorship,400.00,EUR,Acme,Sponsor,B-1\n",
    )
    .expect("write csv");
    let csv = csv.display().to_string();
    let dry = json(&["--store", &store, "import", "csv", &csv, "--dry-run"]);
    assert_eq!(dry["recorded"], 0, "{dry}");
    let done = json(&["--store", &store, "import", "csv", &csv]);
    assert_eq!(done["recorded"], 3, "{done}");
    let v = json(&["--store", &store, "events", "berlin"]);
    let dates: Vec<&str> = v["events"].as_array().expect("events").iter().filter_map(|e| e["date"].as_str()).collect();
    assert_eq!(dates, ["2026-01-05", "2026-03-02", "2026-03-12", "2026-03-20"]);
}

/// `import csv -` reads the file from standard input: checked and recorded as a named file is,
/// its bad rows named as lines of "standard input", and nothing recorded then.
#[test]
fn an_import_reads_standard_input_for_dash() {
    let (_dir, store) = books_with_berlin();
    let header = "date,project,kind,amount,currency,counterparty,memo,reference\n";
    let bad = format!("{header}2026-03-02,berlin,sponsorship,400.00,EUR,Acme,Sponsor,B-1\n2026-03-12,berlin,expense,-80.0x,EUR,Cafe,Snacks,B-2\n");
    let (code, out, err) = run_with_input(&["--store", &store, "import", "csv", "-"], bad.as_bytes());
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("standard input: line 3"), "the bad row is a line of standard input: {err}");
    assert!(err.contains("nothing was recorded"), "{err}");
    let good = format!("{header}2026-03-02,berlin,sponsorship,400.00,EUR,Acme,Sponsor,B-1\n");
    let (code, out, err) = run_with_input(&["--json", "--store", &store, "import", "csv", "-"], good.as_bytes());
    assert_eq!(code, 0, "{out}\n{err}");
    let done: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(done["recorded"], 1, "{done}");
    let v = json(&["--store", &store, "events", "berlin"]);
    assert_eq!(v["events"].as_array().map(Vec::len), Some(2), "the opening and the imported row: {v}");
}

/// A file that lists one bank transaction twice (same project, reference, date and amount under
/// other counterparties) is refused as a likely duplicate within the file unless
/// --allow-duplicate; a bad restricted purpose is named under the column `fund`; a megabyte cell
/// is not repeated whole in the error.
#[test]
fn an_import_refuses_a_transaction_listed_twice_and_names_columns_and_cuts_long_cells() {
    let (_dir, store) = books_with_berlin();
    let header = "date,project,kind,amount,currency,counterparty,memo,reference,fund\n";
    let twice = format!(
        "{header}2026-03-02,berlin,donation,40.00,EUR,Ann,gift,BANK-1,\n2026-03-02,berlin,donation,40.00,EUR,Ann B.,gift,BANK-1,\n"
    );
    let (code, out, err) = run_with_input(&["--store", &store, "import", "csv", "-"], twice.as_bytes());
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("line 3") && err.contains("likely a duplicate of line 2 of this file"), "{err}");
    let (code, out, err) =
        run_with_input(&["--json", "--store", &store, "import", "csv", "-", "--allow-duplicate"], twice.as_bytes());
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("\"recorded\": 2"), "{out}");

    let bad_fund = format!("{header}2026-03-03,berlin,donation,5.00,EUR,Bob,gift,BANK-2,restricted:Bad Purpose\n");
    let (code, _, err) = run_with_input(&["--store", &store, "import", "csv", "-"], bad_fund.as_bytes());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("line 2, column fund:"), "{err}");

    let long = format!("{header}2026-03-04,berlin,donation,{},EUR,Cy,gift,BANK-3,\n", "1".repeat(1 << 20));
    let (code, _, err) = run_with_input(&["--store", &store, "import", "csv", "-"], long.as_bytes());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("line 2, column amount:") && err.len() < 2_000, "{} bytes: {}", err.len(), &err[..200]);
}

#[test]
fn an_import_paying_an_invoice_twice_needs_allow_same_receipt() {
    // Issue 14 §3: the same invoice (the same receipt hash) paid twice in one bank statement.
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("books").display().to_string();
    ok(&["--store", &store, "init"]);
    for line in [
        "record open-project --project hamburg --name Hamburg --fee-bps 0 --currency EUR --date 2026-01-05",
        "record contribution --project hamburg --amount 1000.00 --currency EUR --from Acme --date 2026-02-01",
    ] {
        let (code, out, err) = on_store(&store, line);
        assert_eq!(code, 0, "{line}\n{out}\n{err}");
    }
    let hash = "ab".repeat(32);
    let csv = dir.path().join("bank.csv");
    std::fs::write(
        &csv,
        format!(
            "date,project,kind,amount,currency,counterparty,memo,reference,receipt,receipt_hash\n\
             2026-03-02,hamburg,expense,-120.00,EUR,Venue,Deposit,H-1,inv-7.pdf,{hash}\n\
             2026-03-09,hamburg,expense,-120.00,EUR,Venue,Deposit,H-2,inv-7.pdf,{hash}\n"
        ),
    )
    .expect("write csv");
    let csv = csv.display().to_string();
    for dry in [true, false] {
        let mut args = vec!["--store", store.as_str(), "import", "csv", csv.as_str()];
        if dry {
            args.push("--dry-run");
        }
        let (code, out, err) = run(&args);
        assert_ne!(code, 0, "the second payment of one receipt is refused (dry run {dry}):\n{out}\n{err}");
        assert!(err.contains("allow") && err.contains("receipt"), "the refusal names the override: {err}");
        assert!(err.contains("line 3"), "the refusal names the row: {err}");
    }
    let v = json(&["--store", &store, "events", "hamburg"]);
    assert_eq!(v["events"].as_array().expect("events").len(), 2, "nothing was recorded: {v}");
    let done = json(&["--store", &store, "import", "csv", &csv, "--allow-same-receipt"]);
    assert_eq!(done["recorded"], 2, "{done}");
    let v = json(&["--store", &store, "events", "hamburg"]);
    assert_eq!(v["events"].as_array().expect("events").len(), 4, "both payments recorded: {v}");
}

/// `fiscus args…` under a 2 GB address-space limit, so that a file read without end fails fast
/// instead of filling the machine's memory; returns (exit code, stderr).
fn run_bounded(args: &[&str]) -> (i32, String) {
    let mut bash = Command::new("bash");
    bash.arg("-c").arg("ulimit -v 2000000; exec \"$0\" \"$@\"").arg(env!("CARGO_BIN_EXE_fiscus")).args(args);
    for var in common::TARGET_VARS {
        bash.env_remove(var);
    }
    let out = bash.output().expect("bash runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A receipt or a witness policy is read up to its kind's limit and no further (`/dev/zero`, a
/// file without end, is refused naming the limit, not read until memory runs out), a file that
/// is not text is refused as such, and a file that cannot be a bundle is refused from its start.
#[test]
fn receipts_and_policies_are_read_only_up_to_their_limit() {
    let key = fiscus_client::fiscus_tlog::NoteSigner::from_seed("example.org/log", [7; 32]).unwrap().verifier_key();
    let max = fiscus_client::fiscus_tlog::tlog_proof::TLOG_PROOF_BYTES_MAX;
    let (code, err) = run_bounded(&["verify", "--receipt", "/dev/zero", "--pin", &key]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("/dev/zero: a receipt is at most {max} bytes")), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("receipt.bin");
    std::fs::write(&binary, [0xff_u8, 0xfe, 0x00]).unwrap();
    let binary = binary.to_str().unwrap();
    let (code, err) = run_bounded(&["verify", "--receipt", binary, "--pin", &key]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("a receipt is UTF-8 text; this file is not"), "{err}");

    let (code, err) = run_bounded(&["verify", "--bundle", "/dev/zero", "--pin", &key]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("/dev/zero: not a bundle (a bundle is the JSON object `fiscus bundle` writes"), "{err}");

    let bundle = dir.path().join("bundle.json");
    std::fs::write(&bundle, "{}").unwrap();
    let bundle = bundle.to_str().unwrap();
    let max = fiscus_client::fiscus_tlog::policy::POLICY_BYTES_MAX;
    let (code, err) = run_bounded(&["verify", "--bundle", bundle, "--pin", &key, "--policy", "/dev/zero"]);
    assert_eq!(code, 2, "a usage error: {err}");
    assert!(err.contains(&format!("--policy /dev/zero: a witness policy is at most {max} bytes")), "{err}");
}

/// The files a commit names are read only up to their kind's limit, under the same 2 GB address
/// space: an expense's evidence is hashed in pieces and refused past 1 GiB (`/dev/zero` has no
/// end), an import file is refused past 32 MiB, and `--receipt` accepts only a regular file,
/// read no further than a receipt's first line. Nothing is recorded.
#[test]
fn files_a_commit_names_are_read_only_up_to_their_limit() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("books").display().to_string();
    let s = store.as_str();
    let on_store = |line: &str| -> Vec<String> {
        ["--store", s].iter().map(|w| (*w).to_owned()).chain(line.split_whitespace().map(str::to_owned)).collect()
    };
    let bounded = |line: &str| run_bounded(&on_store(line).iter().map(String::as_str).collect::<Vec<_>>());
    ok(&["--store", s, "init"]);
    for line in [
        "record open-project --project conf-a --name ConfA --fee-bps 1000 --currency USD --date 2026-01-01",
        "record grant --project conf-a --amount 100 --currency USD --program community-fund --date 2026-01-02",
    ] {
        let (code, err) = bounded(line);
        assert_eq!(code, 0, "{line}: {err}");
    }
    let expense = |evidence: &str| {
        bounded(&format!(
            "record expense --project conf-a --amount 10 --currency USD --payee Venue --category venue \
             --receipt {evidence} --date 2026-01-03"
        ))
    };
    let max = 1024 * 1024 * 1024;
    let (code, err) = expense("/dev/zero");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("/dev/zero is larger than the {max} bytes fiscus hashes")), "{err}");
    assert!(err.contains("--receipt-hash"), "the way out is named: {err}");

    let (code, err) = run_bounded(&["--store", s, "import", "csv", "/dev/zero"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("/dev/zero: an import file is at most 33554432 bytes"), "{err}");

    let commit = dir.path().join("commit.json");
    std::fs::write(
        &commit,
        r#"{"events": [{"project": "conf-a", "date": "2026-01-04", "kind": "contribution", "amount": "5.00",
            "currency": "USD", "from": "Ferrous Systems", "source": "donation"}]}"#,
    )
    .unwrap();
    let commit = commit.display().to_string();
    let (code, err) = run_bounded(&["--store", s, "record", "--receipt", "/dev/zero", "--file", &commit]);
    assert_eq!(code, 2, "a usage error: {err}");
    assert!(err.contains("--receipt /dev/zero: is not a regular file"), "{err}");
    assert_eq!(json(&["--store", s, "balance", "conf-a"])["head_seq"], 2, "nothing was recorded");

    // within the limits the same files serve: the evidence is hashed as blake3 of its bytes
    let invoice = dir.path().join("invoice.pdf");
    std::fs::write(&invoice, vec![7u8; 300_000]).unwrap();
    let (code, err) = expense(invoice.to_str().unwrap());
    assert_eq!(code, 0, "{err}");
    let hash = blake3::hash(&[7u8; 300_000]).to_hex().to_string();
    let (code, shown, err) = run(&["--store", s, "events", "conf-a", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(shown.contains(&hash), "the event holds the evidence's blake3 hash {hash}: {shown}");
}

/// `--receipt` after an event's kind (where only an expense has one, its invoice) is refused as
/// a usage error whose tip says where `--receipt` goes, not that a flag of a similar name exists.
#[test]
fn a_misplaced_receipt_flag_gets_a_tip_that_says_where_it_goes() {
    let line = "--store /nonexistent record contribution --project conf-a --amount 1 --currency USD --from Acme \
                --source donation --receipt commit.proof";
    let (code, _, err) = run(&line.split_whitespace().collect::<Vec<_>>());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unexpected argument '--receipt' found"), "{err}");
    assert!(err.contains("give it before the event's kind, as in `fiscus record --receipt FILE KIND"), "{err}");
    assert!(!err.contains("a similar argument exists") && !err.contains("--create"), "{err}");
    // another command's unknown flag keeps clap's own message
    let (code, _, err) = run(&["--store", "/nonexistent", "balance", "conf-a", "--receipt", "x"]);
    assert_eq!(code, 2, "{err}");
    assert!(!err.contains("before the event's kind"), "{err}");
}

/// An expense whose evidence file is empty is refused naming the file: an empty file is no
/// invoice, and its hash would stand for nothing. Nothing is recorded.
#[test]
fn an_empty_evidence_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("books").display().to_string();
    let s = store.as_str();
    ok(&["--store", s, "init"]);
    let empty = dir.path().join("invoice.pdf");
    std::fs::write(&empty, b"").unwrap();
    for line in [
        "record open-project --project conf-a --name ConfA --fee-bps 1000 --currency USD --date 2026-01-01".to_owned(),
        "record grant --project conf-a --amount 100 --currency USD --program fund --date 2026-01-02".to_owned(),
    ] {
        ok(&[&["--store", s][..], &line.split_whitespace().collect::<Vec<_>>()].concat());
    }
    let expense = format!(
        "record expense --project conf-a --amount 10 --currency USD --payee Venue --category venue --receipt {} \
         --date 2026-01-03",
        empty.display()
    );
    let (code, _, err) = run(&[&["--store", s][..], &expense.split_whitespace().collect::<Vec<_>>()].concat());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("{} is empty", empty.display())), "{err}");
    assert_eq!(json(&["--store", s, "balance", "conf-a"])["head_seq"], 2, "nothing was recorded");
}

/// Inputs of the wrong kind are named as such: an empty CSV (one message, not one per missing
/// column), a folder given as an archive, a device as a token file, an empty policy.
#[test]
fn inputs_of_the_wrong_kind_are_named_as_such() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("books").display().to_string();
    ok(&["--store", &store, "init"]);
    let (code, _, err) = run_with_input(&["--store", &store, "import", "csv", "-"], b"\n");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("the file is empty: it needs a header row") && !err.contains("missing"), "{err}");

    let key = fiscus_client::fiscus_tlog::NoteSigner::from_seed("example.org/log", [7; 32]).unwrap().verifier_key();
    let folder = dir.path().display().to_string();
    let (code, _, err) = run(&["audit", "--archive", &folder, "--pin", &key]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is a folder, not an archive"), "{err}");

    let (code, _, err) = run(&["--server", "http://127.0.0.1:9", "--token-file", "/dev/zero", "projects"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a regular file") && !err.contains("chmod 600 /dev/zero"), "{err}");

    let policy = dir.path().join("empty-quorum.txt");
    std::fs::write(&policy, "").expect("write");
    let bundle = dir.path().join("b.bundle");
    std::fs::write(&bundle, "{}").expect("write");
    let (code, _, err) = run(&[
        "verify",
        "--bundle",
        &bundle.display().to_string(),
        "--pin",
        &key,
        "--policy",
        &policy.display().to_string(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("policy: it is empty") && !err.contains("policy: policy:"), "{err}");
}

/// A bad `FISCUS_TIMEOUT` is named as the variable (not as `--timeout`), only by commands that
/// call fiscusd: a command on `--store` makes no call and runs; `--timeout` takes precedence.
#[test]
fn a_bad_fiscus_timeout_is_named_and_stops_only_calls() {
    let (_dir, store) = demo_store();
    let (code, out, err) = run_env(&[("FISCUS_TIMEOUT", "abc")], &["--store", &store, "--json", "projects"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"project\""), "{out}");
    for bad in ["abc", "0", "86401", "-5", ""] {
        let (code, _, err) = run_env(&[("FISCUS_TIMEOUT", bad)], &["--server", "http://127.0.0.1:9", "projects"]);
        assert_eq!(code, 2, "{bad:?}: {err}");
        assert!(err.contains(&format!("FISCUS_TIMEOUT is {bad:?}: it must be a whole number of seconds")), "{err}");
        assert!(!err.contains("--timeout"), "{err}");
    }
    // --timeout wins over the variable: the call is made (and finds no server)
    let (code, _, err) =
        run_env(&[("FISCUS_TIMEOUT", "abc")], &["--timeout", "5", "--server", "http://127.0.0.1:9", "projects"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot reach http://127.0.0.1:9"), "{err}");
}

/// An import refused for one row shows its other rows as not recorded, with no seq: a table or
/// JSON that said `recorded` at seq N for them was read as money on the books. The same file,
/// mended, then records them at the seqs a dry run gives.
#[test]
fn an_import_refused_for_one_row_shows_no_row_as_recorded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("books").display().to_string();
    ok(&["--store", &store, "init"]);
    let (code, _, err) =
        on_store(&store, "record open-project --project p1 --name P --fee-bps 0 --currency USD --date 2026-01-01");
    assert_eq!(code, 0, "{err}");
    let csv = dir.path().join("feb.csv");
    let rows = "date,project,kind,amount,currency,counterparty\n2026-02-01,p1,donation,10,USD,A\n\
                2026-02-02,p1,expense,-50,USD,B\n2026-02-03,p1,donation,10,USD,C\n";
    std::fs::write(&csv, rows).expect("write");
    let path = csv.display().to_string();
    let (code, out, err) = run(&["--store", &store, "--json", "import", "csv", &path]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("line 3: overdraft") && err.contains("nothing was recorded"), "{err}");
    let v: Value = serde_json::from_str(&out).expect("json");
    let lines = v["lines"].as_array().expect("lines");
    let status: Vec<(&str, bool)> =
        lines.iter().map(|l| (l["status"].as_str().expect("status"), l["seq"].is_null())).collect();
    assert_eq!(
        status,
        [
            ("not recorded (other rows are refused)", true),
            ("refused", true),
            ("not recorded (other rows are refused)", true)
        ],
        "{v}"
    );
    let (code, table, _) = run(&["--store", &store, "import", "csv", &path]);
    assert_eq!(code, 1);
    assert!(!table.contains("│ recorded") && !table.contains("┆ recorded"), "{table}");
    let (_, events, _) = run(&["--store", &store, "--json", "events", "p1"]);
    let events: Value = serde_json::from_str(&events).expect("json");
    assert_eq!(events["head_seq"], 1, "nothing was recorded: {events}");
    // mended, the dry run's seqs are those the import records at
    std::fs::write(&csv, rows.replace("-50", "-5")).expect("write");
    let dry = json(&["--store", &store, "import", "csv", &path, "--dry-run"]);
    let done = json(&["--store", &store, "import", "csv", &path]);
    let seqs = |v: &Value| -> Vec<(String, u64)> {
        v["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .map(|l| (l["status"].as_str().expect("status").to_owned(), l["seq"].as_u64().expect("seq")))
            .collect()
    };
    let would: Vec<u64> = seqs(&dry).into_iter().map(|(s, n)| if s == "would be recorded" { n } else { 0 }).collect();
    let recorded: Vec<u64> = seqs(&done).into_iter().map(|(s, n)| if s == "recorded" { n } else { 0 }).collect();
    assert_eq!(would, [2, 3, 4]);
    assert_eq!(recorded, would, "{done}");
}

/// `export -o FILE` puts a new private file at the path: a file there that others may read (made
/// by another user on a shared machine) kept its mode and got the whole books written into it.
/// Now the file is replaced (mode 0600). A link, a pipe or a folder at the path is refused and left
/// as it was (a rename over it replaced `/dev/stdout` when run as root); `-o -` is standard output.
#[cfg(unix)]
#[test]
fn an_export_replaces_a_file_at_its_path_and_refuses_anything_else() {
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    let (dir, store) = demo_store();
    let open = dir.path().join("books.journal");
    std::fs::write(&open, "old").expect("write");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let before = std::fs::metadata(&open).expect("meta").ino();
    let path = open.display().to_string();
    ok(&["--store", &store, "export", "hledger", "-o", &path]);
    let after = std::fs::metadata(&open).expect("meta");
    assert_eq!(after.permissions().mode() & 0o777, 0o600);
    assert_ne!(after.ino(), before, "a new file, not the old one written into");
    assert!(std::fs::read_to_string(&open).expect("read").contains("Assets:Bank"), "the journal is there");

    let target = dir.path().join("elsewhere.txt");
    std::fs::write(&target, "keep me").expect("write");
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let fifo = dir.path().join("pipe");
    assert!(Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs").success());
    for (at, what) in [
        (&link, "is a symbolic link"),
        (&fifo, "is a device, a pipe or a socket"),
        (&dir.path().to_path_buf(), "is a folder"),
    ] {
        let (code, _, err) = run(&["--store", &store, "export", "csv", "-o", &at.display().to_string()]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(what), "{err}");
    }
    assert_eq!(std::fs::read_to_string(&target).expect("read"), "keep me", "the link's target is untouched");
    assert!(std::fs::symlink_metadata(&link).expect("meta").file_type().is_symlink(), "the link is left");
    assert!(std::fs::metadata(&fifo).expect("meta").file_type().is_fifo(), "the pipe is left");
    // a file inside the store folder would replace one of the store's own
    for inside in [format!("{store}/db"), format!("{store}/blobs/x.journal"), format!("{store}/../books/db")] {
        let (code, _, err) = run(&["--store", &store, "export", "hledger", "-o", &inside]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("which holds a store"), "{inside}: {err}");
    }
    let v = json(&["verify", "--store", &store]);
    assert_eq!(v["ok"], true, "the store is whole: {v}");
    // nor in any other store's folder (a daemon's data folder: its `db` was replaced)
    let other = dir.path().join("other-data");
    std::fs::create_dir(&other).expect("mkdir");
    for f in ["conf", "db"] {
        std::fs::write(other.join(f), "a store's own").expect("write");
    }
    let (code, _, err) = run(&["--store", &store, "export", "hledger", "-o", &other.join("db").display().to_string()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("which holds a store"), "{err}");
    assert_eq!(std::fs::read_to_string(other.join("db")).expect("read"), "a store's own");
    let (code, out, err) = run(&["--store", &store, "export", "csv", "-o", "-"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("date,") || out.contains(",USD,"),
        "the export on standard output: {}",
        &out[..out.len().min(200)]
    );
    assert!(!Path::new("-").exists(), "no file named -");
}

/// An empty token (`FISCUS_TOKEN=`, or spaces) and one with letters no token holds are refused
/// before anything is sent: each was sent and answered "unknown token".
#[test]
fn an_empty_or_non_ascii_token_is_refused_before_it_is_sent() {
    for (token, said) in [("", "the token is empty"), ("   ", "the token is empty"), ("tökén", "printable ASCII")] {
        let (code, out, err) =
            common::run_env(&[("FISCUS_TOKEN", token)], &["--server", "http://127.0.0.1:9", "projects"]);
        assert_eq!(code, 1, "{token:?}: {out}{err}");
        assert!(err.contains(said) && !err.contains("unknown token") && !err.contains("connect"), "{token:?}: {err}");
    }
}

/// A signing key (or its bare secret) given where a verifier key goes is refused and never
/// shown; `--state` without `--pin` keeps nothing and is refused, not ignored.
#[test]
fn a_signing_key_is_never_shown_and_state_needs_pin() {
    const SECRET: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state").display().to_string();
    for key in [format!("PRIVATE+KEY+PeterNeumann+c74f20a3+{SECRET}"), SECRET.to_owned()] {
        let (code, out, err) = run(&["witness", "serve", "--state", &state, "--log", &key, "--listen", "127.0.0.1:0"]);
        assert_eq!(code, 2, "{out}{err}");
        assert!(err.contains("--log (key 1 of 1)") && !err.contains("FALVFG"), "{err}");
    }
    // as a token, from the command line or the environment: refused before anything is sent
    let signing = format!("PRIVATE+KEY+PeterNeumann+c74f20a3+{SECRET}");
    let (code, out, err) = run(&["--server", "http://127.0.0.1:9", "--token", &signing, "projects"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("private signing key") && !err.contains("FALVFG"), "{err}");
    let (code, out, err) =
        common::run_env(&[("FISCUS_TOKEN", &signing)], &["--server", "http://127.0.0.1:9", "projects"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("private signing key") && !err.contains("FALVFG"), "{err}");
    let (code, _, err) = run(&["--server", "http://127.0.0.1:9", "verify", "--project", "conf-a", "--state", &state]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--pin"), "{err}");
    assert!(!Path::new(&state).exists(), "nothing kept");
}

/// A `--store` that is a file or a device is refused as not a folder, whatever the command:
/// `/dev/null` was refused as "not a regular file: give the path of a regular file", and a file
/// was told to run `fiscus --store FILE init`, which cannot make a store of it.
#[test]
fn a_store_that_is_a_file_or_a_device_is_refused_as_not_a_folder() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = tmp.path().join("tokens.toml");
    std::fs::write(&file, "x = 1\n").expect("write");
    let file = file.display().to_string();
    for (store, kind) in [("/dev/null", "a device"), (file.as_str(), "a regular file")] {
        for args in [vec!["init"], vec!["balance", "conf-a"], vec!["--create", "projects"], vec!["verify"]] {
            let mut all = vec!["--store", store];
            all.extend(args.iter().copied());
            let (code, out, err) = run(&all);
            assert_eq!(code, 2, "{all:?}: {out}{err}");
            let said = format!("--store {store} is {kind}, not a folder: a store is a folder");
            assert!(err.contains(&said), "{all:?}: {err}");
            assert!(!err.contains("regular file:") && !err.contains(&format!("--store {store} init")), "{err}");
        }
    }
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "x = 1\n", "the file is left as it was");
}
