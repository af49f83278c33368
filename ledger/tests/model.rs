//! Model test: random histories of commits against a real `Store` (in a temporary directory),
//! compared answer by answer and balance by balance with a small reference model written here.
//!
//! A history mixes valid and invalid commits: packages (several events in one commit), groups (several
//! commits in one `commit_group`, as the daemon's writer makes them), resent commits and reused event
//! ids (duplicates and conflicts), stale `expected_seq`, amounts near and at the largest amount,
//! bulk commits of 1,000 largest amounts (up to and past the ledger's balance limit), and reopening
//! the store (replay). The model keeps amounts as integer cents in `i128`, so it cannot overflow
//! where the ledger might.
//!
//! `cargo test -p fiscus-ledger --test model` runs a few histories; a long run sets the count:
//! `PROPTEST_CASES=10000 cargo test --release -p fiscus-ledger --test model` (see BENCHMARKS.md).

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use fiscus_ledger::commit::{CommitRequest, Committed};
use fiscus_ledger::event::{Event, EventKind, ExpenseDetails, Fund, ProjectKind, Receipt, Source};
use fiscus_ledger::money::{Currency, Money};
use fiscus_ledger::store::Store;
use fiscus_ledger::{LedgerError, ProjectId};
use proptest::prelude::*;
use rust_decimal::Decimal;

/// The largest amount, 1e15 USD, in cents.
const AMOUNT_MAX_CENTS: i128 = 100_000_000_000_000_000;
/// The balance limit, 1e18 USD, in cents.
const BALANCE_MAX_CENTS: i128 = 100_000_000_000_000_000_000;
const PROJECTS: [&str; 2] = ["alpha", "beta"];

// ---- commands ------------------------------------------------------------------------------------

/// What one event asks for (amounts in cents). Two events are the same request when equal.
#[derive(Clone, PartialEq, Eq, Debug)]
enum Spec {
    Open { fee_bps: u32 },
    Contribute { cents: i128 },
    Expense { cents: i128 },
    Refund { contribution: u64, cents: i128 },
}

/// An event of a commit: its id, project and what it asks for.
#[derive(Clone, PartialEq, Eq, Debug)]
struct Ev {
    id: String,
    project: &'static str,
    spec: Spec,
}

/// How a generated event picks its id.
#[derive(Clone, Debug)]
enum IdChoice {
    /// A new id.
    Fresh,
    /// The id of an earlier event of the history (the k-th, modulo their count), with new content.
    Reuse(usize),
    /// The id of the event before it in the same commit.
    Repeat,
}

#[derive(Clone, Debug)]
struct EvGen {
    id: IdChoice,
    project: usize,
    spec: SpecGen,
}

#[derive(Clone, Debug)]
enum SpecGen {
    Open(u32),
    Contribute(i128),
    Expense(i128),
    /// A refund of the contribution at seq (from the project's known contributions, or any seq).
    Refund {
        pick: usize,
        any_seq: Option<u64>,
        cents: i128,
        whole: bool,
    },
}

#[derive(Clone, Debug)]
struct CommitGen {
    events: Vec<EvGen>,
    /// `expected_seq` of the first event's project: `Some(0)` the true head, `Some(d)` head + d (stale).
    expected: Option<u64>,
}

#[derive(Clone, Debug)]
enum Cmd {
    /// One commit.
    Commit(CommitGen),
    /// Several commits in one group, each answered.
    Group(Vec<CommitGen>),
    /// The k-th earlier commit again, exactly as it was sent.
    Resend(usize),
    /// The k-th earlier commit again with one more, new event.
    ResendPlus(usize),
    /// A commit of `n` contributions of the largest amount to one project.
    Bulk { project: usize, n: usize },
    /// Close the store and open it again (replay).
    Reopen,
}

fn cents() -> impl Strategy<Value = i128> {
    prop_oneof![
        6 => 1i128..=100_000,
        2 => (AMOUNT_MAX_CENTS - 10_000)..=AMOUNT_MAX_CENTS,
        1 => Just(AMOUNT_MAX_CENTS),
        1 => 1i128..=AMOUNT_MAX_CENTS,
    ]
}

fn spec_gen() -> impl Strategy<Value = SpecGen> {
    prop_oneof![
        1 => prop::sample::select(vec![0u32, 700, 900, 5_000]).prop_map(SpecGen::Open),
        5 => cents().prop_map(SpecGen::Contribute),
        2 => cents().prop_map(SpecGen::Expense),
        4 => (any::<usize>(), prop::option::weighted(0.15, 0u64..12), cents(), any::<bool>())
            .prop_map(|(pick, any_seq, cents, whole)| SpecGen::Refund { pick, any_seq, cents, whole }),
    ]
}

fn ev_gen() -> impl Strategy<Value = EvGen> {
    let id = prop_oneof![
        24 => Just(IdChoice::Fresh),
        2 => any::<usize>().prop_map(IdChoice::Reuse),
        1 => Just(IdChoice::Repeat),
    ];
    (id, 0..PROJECTS.len(), spec_gen()).prop_map(|(id, project, spec)| EvGen { id, project, spec })
}

fn commit_gen() -> impl Strategy<Value = CommitGen> {
    let events = prop_oneof![4 => prop::collection::vec(ev_gen(), 1..=1), 2 => prop::collection::vec(ev_gen(), 2..=4)];
    let expected = prop_oneof![6 => Just(None), 2 => Just(Some(0)), 1 => (1u64..3).prop_map(Some)];
    (events, expected).prop_map(|(events, expected)| CommitGen { events, expected })
}

fn cmd() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        12 => commit_gen().prop_map(Cmd::Commit),
        2 => prop::collection::vec(commit_gen(), 2..=4).prop_map(Cmd::Group),
        2 => any::<usize>().prop_map(Cmd::Resend),
        1 => any::<usize>().prop_map(Cmd::ResendPlus),
        1 => (0..PROJECTS.len(), prop_oneof![Just(1_000usize), 995usize..=1_000]).prop_map(|(project, n)| Cmd::Bulk { project, n }),
        1 => Just(Cmd::Reopen),
    ]
}

// ---- the reference model -------------------------------------------------------------------------

/// What the model expects of a refused commit: the refusal's kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Refusal {
    Invalid,
    UnknownProject,
    ProjectExists,
    IdConflict,
    HeadMismatch,
    Overdraft,
    ExceedsRemaining,
    BadReference,
    Overflow,
}

fn refusal_of(e: &LedgerError) -> Option<Refusal> {
    Some(match e {
        LedgerError::Invalid { .. } => Refusal::Invalid,
        LedgerError::UnknownProject { .. } => Refusal::UnknownProject,
        LedgerError::ProjectExists { .. } => Refusal::ProjectExists,
        LedgerError::IdConflict { .. } => Refusal::IdConflict,
        LedgerError::HeadMismatch { .. } => Refusal::HeadMismatch,
        LedgerError::Overdraft { .. } => Refusal::Overdraft,
        LedgerError::ExceedsRemaining { .. } => Refusal::ExceedsRemaining,
        LedgerError::BadReference { .. } => Refusal::BadReference,
        LedgerError::Overflow { .. } => Refusal::Overflow,
        _ => return None,
    })
}

/// A contribution as the model keeps it, in cents.
#[derive(Clone, Debug, PartialEq)]
struct Contribution {
    paid: i128,
    fee: i128,
    refunded: i128,
    fee_refunded: i128,
}

/// One project: its head and its three accounts in cents, as credits (bank as a debit).
#[derive(Clone, Debug, Default)]
struct Project {
    open: bool,
    fee_bps: u32,
    head: u64,
    bank: i128,
    fund: i128,
    fees: i128,
    contributions: BTreeMap<u64, Contribution>,
}

#[derive(Clone, Debug, Default)]
struct Model {
    commits: u64,
    projects: BTreeMap<&'static str, Project>,
    /// (project, event id) → (seq, commit, what it asked for): ids are scoped per project.
    ids: HashMap<(&'static str, String), (u64, u64, Ev)>,
}

/// `round(n / d)` for `d > 0`, midpoint away from zero.
fn round_div(n: i128, d: i128) -> i128 {
    let q = (2 * n.abs() + d) / (2 * d);
    if n < 0 {
        -q
    } else {
        q
    }
}

/// The model's answer: positions and the commit number, or the refusal.
type Answer = Result<(u64, Vec<(&'static str, u64)>, bool), Refusal>;

impl Model {
    fn project(&self, p: &str) -> Project {
        self.projects.get(p).cloned().unwrap_or_default()
    }

    fn commit(&mut self, events: &[Ev], expected: &[(&'static str, u64)]) -> Answer {
        if events.len() > fiscus_ledger::commit::COMMIT_EVENTS_MAX {
            return Err(Refusal::Invalid);
        }
        for (i, e) in events.iter().enumerate() {
            if events[..i].iter().any(|o| o.id == e.id && o.project == e.project) {
                return Err(Refusal::Invalid);
            }
        }
        let mut found = Vec::new();
        for e in events {
            if let Some((seq, commit, stored)) = self.ids.get(&(e.project, e.id.clone())) {
                if stored != e {
                    return Err(Refusal::IdConflict);
                }
                found.push((e.project, *seq, *commit));
            }
        }
        if !found.is_empty() {
            if found.len() < events.len() {
                return Err(Refusal::Invalid);
            }
            return Ok((found[0].2, found.iter().map(|(p, s, _)| (*p, *s)).collect(), true));
        }
        for (p, seq) in expected {
            if self.project(p).head != *seq {
                return Err(Refusal::HeadMismatch);
            }
        }
        let mut draft = self.projects.clone();
        let mut positions = Vec::new();
        for e in events {
            let p = draft.entry(e.project).or_default();
            decide(p, &e.spec)?;
            p.head += 1;
            positions.push((e.project, p.head));
            if let Spec::Contribute { cents } = e.spec {
                let fee = round_div(cents * i128::from(p.fee_bps), 10_000);
                p.contributions.insert(p.head, Contribution { paid: cents, fee, refunded: 0, fee_refunded: 0 });
            }
        }
        self.commits += 1;
        self.projects = draft;
        for (e, (p, seq)) in events.iter().zip(&positions) {
            self.ids.insert((p, e.id.clone()), (*seq, self.commits, e.clone()));
        }
        Ok((self.commits, positions, false))
    }
}

/// The rules the model knows, in the ledger's order of checks; changes `p` only when accepted
/// (the caller then advances the head).
fn decide(p: &mut Project, spec: &Spec) -> Result<(), Refusal> {
    let within = |v: i128| v.abs() <= BALANCE_MAX_CENTS;
    match *spec {
        Spec::Open { fee_bps } => {
            if p.open || p.head > 0 {
                return Err(Refusal::ProjectExists);
            }
            p.open = true;
            p.fee_bps = fee_bps;
        }
        _ if !p.open => return Err(Refusal::UnknownProject),
        Spec::Contribute { cents } => {
            let fee = round_div(cents * i128::from(p.fee_bps), 10_000);
            // Postings in order: bank, fund, fees; each account's new sum is checked.
            if !within(p.bank + cents) || !within(p.fund + (cents - fee)) || !within(p.fees + fee) {
                return Err(Refusal::Overflow);
            }
            p.bank += cents;
            p.fund += cents - fee;
            p.fees += fee;
        }
        Spec::Expense { cents } => {
            if p.fund < cents {
                return Err(Refusal::Overdraft);
            }
            p.fund -= cents;
            p.bank -= cents;
        }
        Spec::Refund { contribution, cents } => {
            let c = p.contributions.get(&contribution).cloned().ok_or(Refusal::BadReference)?;
            if cents > c.paid - c.refunded {
                return Err(Refusal::ExceedsRemaining);
            }
            let share_after = round_div(c.fee * (c.refunded + cents), c.paid);
            let share = share_after - c.fee_refunded;
            if p.fund < cents - share {
                return Err(Refusal::Overdraft);
            }
            p.fund -= cents - share;
            p.fees -= share;
            p.bank -= cents;
            let c = p.contributions.get_mut(&contribution).expect("looked up above");
            c.refunded += cents;
            c.fee_refunded += share;
        }
    }
    Ok(())
}

// ---- driving the store ---------------------------------------------------------------------------

fn usd() -> Currency {
    Currency::from_code("USD").expect("USD")
}

fn money(cents: i128) -> Money {
    let amount = Decimal::from_i128_with_scale(cents, 2);
    Money::new("amount", amount, usd()).expect("generated amounts are valid")
}

fn to_event(e: &Ev) -> Event {
    let kind = match e.spec {
        Spec::Open { fee_bps } => EventKind::ProjectOpened {
            name: format!("Project {}", e.project),
            kind: ProjectKind::Conference,
            fee_bps,
            currency: usd(),
            advance_limit: Decimal::ZERO,
        },
        Spec::Contribute { cents } => EventKind::ContributionReceived {
            amount: money(cents),
            from: "A donor".to_owned(),
            source: Source::Donation,
            fund: Fund::Unrestricted,
            fee_bps: None,
        },
        Spec::Expense { cents } => EventKind::ExpensePaid {
            request: None,
            details: Some(ExpenseDetails {
                amount: money(cents),
                payee: "Venue Ltd".to_owned(),
                category: "venue".to_owned(),
                fund: Fund::Unrestricted,
                // Each expense its own invoice (the same receipt twice is refused): hashed from its id.
                receipt: Receipt {
                    hash: *blake3::hash(e.id.as_bytes()).as_bytes(),
                    file_name: "invoice.pdf".to_owned(),
                },
            }),
        },
        Spec::Refund { contribution, cents } => {
            EventKind::RefundIssued { amount: money(cents), contribution, fund: None, fee_share: None }
        }
    };
    Event {
        event_id: e.id.clone(),
        project: ProjectId::parse("project", e.project).expect("project id"),
        effective_date: NaiveDate::from_ymd_opt(2026, 3, 1).expect("date"),
        memo: String::new(),
        reference: None,
        kind,
    }
}

/// A concrete commit (events and expected heads), as sent and as the model sees it.
#[derive(Clone)]
struct Sent {
    events: Vec<Ev>,
    expected: Vec<(&'static str, u64)>,
}

impl std::fmt::Debug for Sent {
    /// The first events and the expected heads (a bulk commit has a thousand events).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.events.len();
        write!(f, "{n} event(s) {:?}", &self.events[..n.min(4)])?;
        if n > 4 {
            write!(f, " … {:?}", &self.events[n - 1])?;
        }
        write!(f, ", expected {:?}", self.expected)
    }
}

impl Sent {
    fn request(&self) -> CommitRequest {
        CommitRequest {
            allow_same_receipt: false,
            events: self.events.iter().map(to_event).collect(),
            expected_heads: self
                .expected
                .iter()
                .map(|(p, s)| (ProjectId::parse("project", p).expect("project id"), *s))
                .collect(),
            actor: "accountant:alice".to_owned(),
            // 2027-01-01T00:00:00Z: after every date the model gives its events
            recorded_at: 1_798_761_600_000_000,
        }
    }
}

struct Run {
    model: Model,
    store: Option<Store>,
    dir: tempfile::TempDir,
    sent: Vec<Sent>,
    ids: Vec<String>,
    next_id: u64,
}

impl Run {
    fn new() -> Run {
        // Memory-backed when there is /dev/shm: the long run is bound by fsync otherwise.
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.expect("temp dir");
        let (store, _) = Store::open(dir.path()).expect("open store");
        Run { model: Model::default(), store: Some(store), dir, sent: Vec::new(), ids: Vec::new(), next_id: 0 }
    }

    fn store(&mut self) -> &mut Store {
        self.store.as_mut().expect("open")
    }

    /// Makes the concrete commit of `g` against the model's current state.
    fn concrete(&mut self, g: &CommitGen) -> Sent {
        let mut events = Vec::new();
        for e in &g.events {
            let project = PROJECTS[e.project];
            let id = match e.id {
                IdChoice::Reuse(k) if !self.ids.is_empty() => self.ids[k % self.ids.len()].clone(),
                IdChoice::Repeat if !events.is_empty() => events.last().map(|e: &Ev| e.id.clone()).unwrap_or_default(),
                _ => {
                    self.next_id += 1;
                    format!("ev-{}", self.next_id)
                }
            };
            let spec = match &e.spec {
                SpecGen::Open(fee_bps) => Spec::Open { fee_bps: *fee_bps },
                SpecGen::Contribute(c) => Spec::Contribute { cents: *c },
                SpecGen::Expense(c) => Spec::Expense { cents: *c },
                SpecGen::Refund { pick, any_seq, cents, whole } => {
                    let p = self.model.project(project);
                    let known: Vec<(&u64, &Contribution)> = p.contributions.iter().collect();
                    match any_seq {
                        None if !known.is_empty() => {
                            let (seq, c) = known[pick % known.len()];
                            let left = c.paid - c.refunded;
                            let cents = if *whole || left <= 0 { left.max(1) } else { (*cents % left).max(1) };
                            Spec::Refund { contribution: *seq, cents: cents.min(AMOUNT_MAX_CENTS) }
                        }
                        _ => Spec::Refund { contribution: any_seq.unwrap_or(1), cents: (*cents).max(1) },
                    }
                }
            };
            events.push(Ev { id, project, spec });
        }
        let expected = match (g.expected, events.first()) {
            (Some(delta), Some(first)) => {
                let head = self.model.project(first.project).head;
                vec![(first.project, head + delta)]
            }
            _ => Vec::new(),
        };
        Sent { events, expected }
    }

    /// Sends `sent` through `commit_group` (with the others of its group) and checks each answer.
    fn send(&mut self, group: Vec<Sent>) {
        let requests: Vec<CommitRequest> = group.iter().map(Sent::request).collect();
        let answers = self.store().commit_group(&requests).expect("the store writes");
        assert_eq!(answers.len(), group.len());
        for (sent, got) in group.into_iter().zip(answers) {
            let want = self.model.commit(&sent.events, &sent.expected);
            check_answer(&sent, &want, &got);
            tally(&want);
            self.ids.extend(sent.events.iter().map(|e| e.id.clone()));
            self.sent.push(sent);
        }
    }

    fn run(&mut self, cmd: &Cmd) {
        match cmd {
            Cmd::Commit(g) => {
                let sent = self.concrete(g);
                self.send(vec![sent]);
            }
            Cmd::Group(gs) => {
                // Each commit of the group is made against the model as it will be when staged.
                let mut group = Vec::new();
                let saved = self.model.clone();
                for g in gs {
                    let sent = self.concrete(g);
                    let _ = self.model.commit(&sent.events, &sent.expected);
                    group.push(sent);
                }
                self.model = saved;
                self.send(group);
            }
            Cmd::Resend(k) => {
                if !self.sent.is_empty() {
                    let again = self.sent[k % self.sent.len()].clone();
                    self.send(vec![again]);
                }
            }
            Cmd::ResendPlus(k) => {
                if !self.sent.is_empty() {
                    let mut again = self.sent[k % self.sent.len()].clone();
                    self.next_id += 1;
                    let project = again.events[0].project;
                    let id = format!("ev-{}", self.next_id);
                    again.events.push(Ev { id, project, spec: Spec::Contribute { cents: 100 } });
                    self.send(vec![again]);
                }
            }
            Cmd::Bulk { project, n } => {
                let project = PROJECTS[*project];
                let events = (0..*n)
                    .map(|_| {
                        self.next_id += 1;
                        Ev {
                            id: format!("ev-{}", self.next_id),
                            project,
                            spec: Spec::Contribute { cents: AMOUNT_MAX_CENTS },
                        }
                    })
                    .collect();
                self.send(vec![Sent { events, expected: Vec::new() }]);
            }
            Cmd::Reopen => {
                self.store.take().expect("open").close().expect("close");
                let (store, report) = Store::open(self.dir.path()).expect("reopen");
                assert!(report.damage.is_empty(), "replay found damage: {:?}", report.damage);
                self.store = Some(store);
            }
        }
        self.check_balances();
    }

    fn check_balances(&mut self) {
        let model = self.model.clone();
        let projection = self.store().projection();
        assert_eq!(projection.commit_head.number, model.commits, "commit number");
        for name in PROJECTS {
            let want = model.project(name);
            match projection.project(name) {
                None => assert!(!want.open && want.head == 0, "{name} is missing from the store"),
                Some(state) => {
                    assert_eq!(state.head.seq, want.head, "{name} head");
                    let books = state.books(usd());
                    let d = |cents: i128| Decimal::from_i128_with_scale(cents, 2);
                    assert_eq!(books.bank, d(want.bank), "{name} bank");
                    assert_eq!(-books.unrestricted, d(want.fund), "{name} fund");
                    assert_eq!(-books.fees, d(want.fees), "{name} fees");
                    for (seq, c) in &want.contributions {
                        let r = state.refunds.get(seq).copied().unwrap_or_default();
                        assert_eq!((r.amount, r.fee), (d(c.refunded), d(c.fee_refunded)), "{name} refunds of {seq}");
                    }
                }
            }
        }
    }
}

fn check_answer(sent: &Sent, want: &Answer, got: &Result<Committed, LedgerError>) {
    match (want, got) {
        (Ok((commit, positions, duplicate)), Ok(c)) => {
            let got_positions: Vec<(String, u64)> =
                c.positions.iter().map(|p| (p.project.to_string(), p.seq)).collect();
            let want_positions: Vec<(String, u64)> = positions.iter().map(|(p, s)| ((*p).to_owned(), *s)).collect();
            assert_eq!((c.commit, &got_positions, c.duplicate), (*commit, &want_positions, *duplicate), "{sent:?}");
        }
        (Err(kind), Err(e)) => assert_eq!(refusal_of(e), Some(*kind), "{e} for {sent:?}"),
        (want, got) => panic!("the model says {want:?}, the store {got:?}, for {sent:?}"),
    }
}

/// How often each answer came, printed at the end of a run when `MODEL_STATS` is set (to see that
/// the generators reach every branch).
static TALLY: std::sync::Mutex<BTreeMap<String, u64>> = std::sync::Mutex::new(BTreeMap::new());

fn tally(answer: &Answer) {
    let key = match answer {
        Ok((_, _, true)) => "duplicate".to_owned(),
        Ok((_, positions, false)) => format!("accepted, {} event(s)", positions.len().min(5)),
        Err(kind) => format!("{kind:?}"),
    };
    if let Ok(mut t) = TALLY.lock() {
        *t.entry(key).or_default() += 1;
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn the_store_answers_as_the_model(
        opens in prop::collection::vec((0..PROJECTS.len(), prop::sample::select(vec![0u32, 700, 900, 5_000])), 0..=2),
        cmds in prop::collection::vec(cmd(), 1..40),
    ) {
        let mut run = Run::new();
        // Most histories open their projects first, so that the rest has something to act on.
        for (project, fee_bps) in opens {
            let g = CommitGen {
                events: vec![EvGen { id: IdChoice::Fresh, project, spec: SpecGen::Open(fee_bps) }],
                expected: None,
            };
            run.run(&Cmd::Commit(g));
        }
        for cmd in &cmds {
            run.run(cmd);
        }
        run.run(&Cmd::Reopen);
        if std::env::var_os("MODEL_STATS").is_some() {
            if let Ok(t) = TALLY.lock() {
                eprintln!("{t:?}");
            }
        }
    }
}
