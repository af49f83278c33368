//! A deterministic generator of a realistic sponsor year, shared by tests, benches and the demo.
//!
//! [`Workload`] streams [`CommitRequest`]s that a fresh ledger accepts, every one. It keeps a small
//! model of what the ledger will hold (balances per project, fund and currency, holds, open pledges,
//! pending requests, a few refundable contributions and reversible events per project), never the
//! events themselves, so a run of millions of events needs memory only for its few hundred projects.
//! Dates walk forward through one calendar year, so the sponsor can close each month behind it.
//!
//! The year is believable at any size: each kind of project has its own activity, budget and
//! currencies ([`KIND_PROFILES`]). A meetup records a few events a month and takes a few thousand
//! dollars' worth in a year; a large conference takes a few million. Amounts are scaled so that a
//! project's income (contributions and pledge payments) comes near its budget whatever the number of
//! events, and never exceeds its cap. A project holds its home currency (that of its city) and, for a
//! conference or an open-source project only, one second major currency: money moves between
//! projects only in a currency both hold.
//!
//! [`demo_year`] is a short fixed scenario for `fiscus demo`.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{Days, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};

use fiscus_ledger::commit::CommitRequest;
use fiscus_ledger::event::{Event, EventKind, ExpenseDetails, Fund, ProjectKind, Receipt, Source};
use fiscus_ledger::ids::ProjectId;
use fiscus_ledger::money::{fee, prorate, Currency, Money};

/// Who opens projects, changes terms and closes periods.
pub const ADMIN: &str = "admin:carol";
/// Who approves, rejects and reverses (never the requester).
pub const APPROVER: &str = "accountant:alice";
/// Who records money movements.
pub const CLERK: &str = "accountant:bob";

/// A tiny deterministic PRNG (splitmix64): the same seed gives the same stream on every platform.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0), without modulo bias worth mentioning.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0) has no value");
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi, "empty range {lo}..={hi}");
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct WorkloadConfig {
    /// Events to produce; the stream stops at exactly this many.
    pub events: u64,
    /// Seed: the same config gives the same stream.
    pub seed: u64,
    /// Projects to open; `None` scales with `events` (see [`WorkloadConfig::project_count`]).
    pub projects: Option<u32>,
    /// The calendar year the events are dated in.
    pub year: i32,
}

impl WorkloadConfig {
    /// `events` events from `seed`, projects scaled to the size, dated in 2026.
    pub fn new(events: u64, seed: u64) -> WorkloadConfig {
        WorkloadConfig { events, seed, projects: None, year: 2026 }
    }

    /// Projects the run opens: as configured, else `events / 2000` clamped to 20..=600, but at most
    /// one per eight events (at least 3) so that small runs are not only openings.
    pub fn project_count(&self) -> u32 {
        match self.projects {
            Some(p) => p.max(1),
            None => {
                let scaled = (self.events / 2000).clamp(20, 600);
                let small = (self.events / 8).max(3);
                u32::try_from(scaled.min(small)).expect("at most 600")
            }
        }
    }
}

/// Starts streaming the workload of `config`.
pub fn generate(config: &WorkloadConfig) -> Workload {
    Workload::new(config)
}

/// The stream of commit requests of a generated sponsor year (an [`Iterator`]).
pub struct Workload {
    rng: Rng,
    events: u64,
    year: i32,
    start: NaiveDate,
    days: u64,
    today: NaiveDate,
    emitted: u64,
    next_id: u64,
    recorded_at: i64,
    projects: Vec<Project>,
    initial: usize,
    opened: usize,
    active: Vec<usize>,
    scripted: VecDeque<usize>,
    closing: Option<usize>,
    closures: u64,
    closures_max: u64,
    closed_months: u32,
    sponsor_seq: u64,
    counter: u64,
}

/// The sponsor-wide chain's name for `PeriodClosed`.
fn sponsor() -> ProjectId {
    ProjectId::sponsor()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Unopened,
    Scripted,
    Active,
    Closing,
    Closed,
}

#[derive(Clone, Copy, Debug)]
enum Step {
    OpeningBalance,
    Advance,
    Deposit,
}

#[derive(Clone, Debug, Default)]
struct Books {
    unrestricted: Decimal,
    restricted: BTreeMap<String, Decimal>,
    held_unrestricted: Decimal,
    held_restricted: BTreeMap<String, Decimal>,
}

impl Books {
    fn balance(&self, fund: &Fund) -> Decimal {
        match fund {
            Fund::Unrestricted => self.unrestricted,
            Fund::Restricted(p) => self.restricted.get(p).copied().unwrap_or_default(),
        }
    }

    fn held(&self, fund: &Fund) -> Decimal {
        match fund {
            Fund::Unrestricted => self.held_unrestricted,
            Fund::Restricted(p) => self.held_restricted.get(p).copied().unwrap_or_default(),
        }
    }

    fn available(&self, fund: &Fund) -> Decimal {
        self.balance(fund) - self.held(fund)
    }

    fn add(&mut self, fund: &Fund, amount: Decimal) {
        match fund {
            Fund::Unrestricted => self.unrestricted += amount,
            Fund::Restricted(p) => *self.restricted.entry(p.clone()).or_default() += amount,
        }
    }

    fn hold(&mut self, fund: &Fund, amount: Decimal) {
        match fund {
            Fund::Unrestricted => self.held_unrestricted += amount,
            Fund::Restricted(p) => *self.held_restricted.entry(p.clone()).or_default() += amount,
        }
    }
}

#[derive(Clone, Debug)]
struct Contribution {
    seq: u64,
    paid: Money,
    fund: Fund,
    fee_bps: u32,
    refunded: Decimal,
    fee_refunded: Decimal,
}

#[derive(Clone, Debug)]
struct Request {
    seq: u64,
    amount: Money,
    fund: Fund,
    approved: bool,
}

#[derive(Clone, Debug)]
enum Undo {
    Expense { seq: u64, fund: Fund, amount: Money },
    Contribution { seq: u64, fund: Fund, currency: Currency, net: Decimal },
    Grant { seq: u64, amount: Money },
}

impl Undo {
    fn seq(&self) -> u64 {
        match self {
            Undo::Expense { seq, .. } | Undo::Contribution { seq, .. } | Undo::Grant { seq, .. } => *seq,
        }
    }
}

/// Most contributions per project the model remembers for refunds.
const CONTRIBUTIONS_KEPT: usize = 6;
/// Most recent events per project the model remembers as reversal candidates.
const UNDO_KEPT: usize = 4;
/// Most open expense requests per project.
const REQUESTS_OPEN_MAX: usize = 6;
/// Most open pledges per project.
const PLEDGES_OPEN_MAX: usize = 3;

/// How a kind of project behaves over a year.
#[derive(Clone, Copy, Debug)]
pub struct KindProfile {
    /// The kind.
    pub kind: ProjectKind,
    /// Relative likelihood (1..=[`ACTIVITY_MAX`]) that the next event is this project's: a
    /// conference sells tickets and pays vendors all year, a meetup records a few events a month.
    pub activity: u64,
    /// Range of a year's income (contributions and pledge payments), US dollars: each project draws
    /// its budget from it, and its amounts are scaled so that its year's income comes near it.
    pub budget_usd: (u64, u64),
    /// A project's income never exceeds its budget times this (a contribution that would is not made).
    pub cap_times: u64,
    /// Bounds of the amount scale (a multiplier of the base amounts, a conference's being 1), so that
    /// a single amount stays believable for the kind however many or few events a run has.
    pub scale: (Decimal, Decimal),
}

/// Most activity of a kind ([`KindProfile::activity`]).
pub const ACTIVITY_MAX: u64 = 100;

/// The profile of each kind; a conference is large (a few million dollars a year) with the
/// probability [`LARGE_CONFERENCE_PERCENT`], and has the second row's budget then.
pub const KIND_PROFILES: &[KindProfile] = &[
    KindProfile {
        kind: ProjectKind::Conference,
        activity: 60,
        budget_usd: (50_000, 600_000),
        cap_times: 2,
        scale: (Decimal::from_parts(1, 0, 0, false, 2), Decimal::from_parts(2, 0, 0, false, 0)),
    },
    KindProfile {
        kind: ProjectKind::Conference,
        activity: 100,
        budget_usd: (1_000_000, 4_000_000),
        cap_times: 2,
        scale: (Decimal::from_parts(5, 0, 0, false, 2), Decimal::from_parts(4, 0, 0, false, 0)),
    },
    KindProfile {
        kind: ProjectKind::Workshop,
        activity: 12,
        budget_usd: (10_000, 80_000),
        cap_times: 2,
        scale: (Decimal::from_parts(5, 0, 0, false, 3), Decimal::from_parts(3, 0, 0, false, 1)),
    },
    KindProfile {
        kind: ProjectKind::OpenSource,
        activity: 15,
        budget_usd: (10_000, 250_000),
        cap_times: 2,
        scale: (Decimal::from_parts(5, 0, 0, false, 3), Decimal::from_parts(1, 0, 0, false, 0)),
    },
    KindProfile {
        kind: ProjectKind::Other,
        activity: 5,
        budget_usd: (5_000, 50_000),
        cap_times: 2,
        scale: (Decimal::from_parts(2, 0, 0, false, 3), Decimal::from_parts(2, 0, 0, false, 1)),
    },
    KindProfile {
        kind: ProjectKind::Meetup,
        activity: 3,
        budget_usd: (2_000, 15_000),
        cap_times: 2,
        scale: (Decimal::from_parts(1, 0, 0, false, 3), Decimal::from_parts(5, 0, 0, false, 2)),
    },
];

/// Percent of conferences that are large (the second conference row of [`KIND_PROFILES`]).
pub const LARGE_CONFERENCE_PERCENT: u64 = 30;

/// Share of a project's events that bring income, and the mean income of one at scale 1 (US
/// dollars): what a project's scale is worked out from. Measured on generated years.
const INCOME_EVENTS_PERCENT: u64 = 25;
const INCOME_MEAN_USD: u64 = 4_000;

/// The profile of `kind` (the large one of a conference when `large`).
pub fn profile(kind: ProjectKind, large: bool) -> &'static KindProfile {
    let mut rows = KIND_PROFILES.iter().filter(|r| r.kind == kind);
    let first = rows.next().expect("every kind has a profile");
    if large {
        rows.next().unwrap_or(first)
    } else {
        first
    }
}

#[derive(Clone, Debug)]
struct Project {
    id: ProjectId,
    name: String,
    kind: ProjectKind,
    home: Currency,
    /// The one other currency the project may hold (conferences and open-source projects only).
    second: Option<Currency>,
    /// How the project's kind (and size, for a conference) behaves.
    profile: &'static KindProfile,
    /// The income the project's amounts are scaled to, and its cap, in US dollars.
    budget_usd: Decimal,
    income_cap_usd: Decimal,
    /// Multiplier of the base amounts (in US dollars) of this project's money movements.
    scale: Decimal,
    /// Contributions and pledge payments so far, and pledges still open, in US dollars.
    income_usd: Decimal,
    pledged_usd: Decimal,
    fee_bps: u32,
    advance_limit: Decimal,
    phase: Phase,
    seq: u64,
    closed_through: Option<NaiveDate>,
    script: VecDeque<Step>,
    books: BTreeMap<Currency, Books>,
    advances: Decimal,
    pledges: Vec<(u64, Money)>,
    contributions: VecDeque<Contribution>,
    requests: Vec<Request>,
    undo: VecDeque<Undo>,
}

impl Project {
    /// Whether `usd` more income (now or pledged) stays within the cap.
    fn fits(&self, usd: Decimal) -> bool {
        self.income_usd + self.pledged_usd + usd <= self.income_cap_usd
    }

    /// Whether the project may hold `c`.
    fn holds(&self, c: Currency) -> bool {
        c == self.home || self.second == Some(c)
    }

    fn books(&mut self, c: Currency) -> &mut Books {
        self.books.entry(c).or_default()
    }

    fn available(&self, c: Currency, fund: &Fund) -> Decimal {
        self.books.get(&c).map_or(Decimal::ZERO, |b| b.available(fund))
    }

    fn remember(&mut self, undo: Undo) {
        if self.undo.len() == UNDO_KEPT {
            self.undo.pop_front();
        }
        self.undo.push_back(undo);
    }

    fn contributed(&mut self, c: Contribution) {
        if self.contributions.len() == CONTRIBUTIONS_KEPT {
            self.contributions.pop_front();
        }
        let net = c.paid.amount() - fee(c.paid.amount(), c.fee_bps, c.paid.currency());
        self.books(c.paid.currency()).add(&c.fund, net);
        let undo = Undo::Contribution { seq: c.seq, fund: c.fund.clone(), currency: c.paid.currency(), net };
        self.contributions.push_back(c);
        self.remember(undo);
    }

    /// `(currency, available)` of every currency whose unrestricted fund has money available.
    fn spendable(&self) -> Vec<(Currency, Decimal)> {
        self.books
            .iter()
            .map(|(c, b)| (*c, b.available(&Fund::Unrestricted)))
            .filter(|(_, a)| *a > Decimal::ZERO)
            .collect()
    }

    /// `(currency, purpose, available)` of every restricted fund with money available.
    fn restricted_spendable(&self) -> Vec<(Currency, String, Decimal)> {
        let mut out = Vec::new();
        for (c, b) in &self.books {
            for p in b.restricted.keys() {
                let a = b.available(&Fund::Restricted(p.clone()));
                if a > Decimal::ZERO {
                    out.push((*c, p.clone(), a));
                }
            }
        }
        out
    }
}

/// One commit in the making.
struct Draft {
    events: Vec<Event>,
    actor: String,
}

#[derive(Clone, Copy, Debug)]
enum Action {
    Contribution,
    Package,
    Pledge,
    Fulfil,
    CancelPledge,
    Grant,
    Advance,
    Repay,
    Direct,
    Request,
    Approve,
    Reject,
    PayRequest,
    Refund,
    Transfer,
    Release,
    Convert,
    Reverse,
    Terms,
    CloseBooks,
}

/// How often each action is tried (an action that does not fit the project is skipped).
const ACTIONS: &[(Action, u64)] = &[
    (Action::Contribution, 22),
    (Action::Package, 3),
    (Action::Pledge, 4),
    (Action::Fulfil, 5),
    (Action::CancelPledge, 1),
    (Action::Grant, 2),
    (Action::Advance, 2),
    (Action::Repay, 3),
    (Action::Direct, 10),
    (Action::Request, 9),
    (Action::Approve, 8),
    (Action::Reject, 2),
    (Action::PayRequest, 8),
    (Action::Refund, 2),
    (Action::Transfer, 3),
    (Action::Release, 2),
    (Action::Convert, 2),
    (Action::Reverse, 2),
    (Action::Terms, 1),
    (Action::CloseBooks, 1),
];

/// Cities: id part, display name, home currency.
const CITIES: &[(&str, &str, &str)] = &[
    ("berlin", "Berlin", "EUR"),
    ("paris", "Paris", "EUR"),
    ("amsterdam", "Amsterdam", "EUR"),
    ("lisbon", "Lisbon", "EUR"),
    ("london", "London", "GBP"),
    ("manchester", "Manchester", "GBP"),
    ("edinburgh", "Edinburgh", "GBP"),
    ("tokyo", "Tokyo", "JPY"),
    ("osaka", "Osaka", "JPY"),
    ("toronto", "Toronto", "CAD"),
    ("vancouver", "Vancouver", "CAD"),
    ("montreal", "Montreal", "CAD"),
    ("nyc", "New York", "USD"),
    ("chicago", "Chicago", "USD"),
    ("portland", "Portland", "USD"),
    ("austin", "Austin", "USD"),
    ("seattle", "Seattle", "USD"),
    ("sydney", "Sydney", "AUD"),
    ("zurich", "Zurich", "CHF"),
    ("bangalore", "Bangalore", "INR"),
    ("sao-paulo", "Sao Paulo", "BRL"),
    ("nairobi", "Nairobi", "KES"),
];

const OPEN_SOURCE: &[&str] = &[
    "async-tools",
    "serde-extras",
    "tiny-http",
    "crypto-bench",
    "docs-builder",
    "embedded-hal-kit",
    "wasm-pack-lite",
    "lint-rules",
];

/// Units of each currency per US dollar, as (mantissa, scale).
const RATES: &[(&str, i64, u32)] = &[
    ("USD", 100, 2),
    ("EUR", 92, 2),
    ("GBP", 79, 2),
    ("JPY", 150, 0),
    ("CAD", 136, 2),
    ("AUD", 152, 2),
    ("CHF", 88, 2),
    ("INR", 83, 0),
    ("BRL", 5, 0),
    ("KES", 130, 0),
];

const SPONSORS: &[&str] = &[
    "Ferrous Systems",
    "Acme Cloud",
    "Oxide Computer",
    "Tokio Labs",
    "Embark Studios",
    "Northwind Bank",
    "Open Collective",
];
const DONORS: &[&str] = &["Ada Lovelace", "Grace Hopper", "GitHub Sponsors", "Monthly donors", "Anonymous"];
const PROGRAMS: &[&str] = &["community-grants", "event-support", "maintainer-fund", "diversity-travel"];
const PURPOSES: &[&str] = &["travel-grants", "diversity-scholarships", "accessibility", "childcare", "security-audit"];
/// Expense categories with a payee and a memo each.
const EXPENSES: &[(&str, &str, &str)] = &[
    ("venue", "Grand Hall Venues", "Venue hire balance"),
    ("catering", "Pixel Catering Co", "Catering for attendees"),
    ("travel", "Speaker reimbursement", "Speaker travel reimbursement"),
    ("av-equipment", "AV Rentals GmbH", "AV equipment rental"),
    ("printing", "Badge Printers Ltd", "Badges and signage printing"),
    ("hosting", "Hetzner Online", "CI and hosting invoice"),
    ("swag", "Sticker Mule", "Stickers and t-shirts"),
    ("insurance", "Event Cover Ltd", "Event liability insurance"),
];
const REJECT_REASONS: &[&str] =
    &["Missing itemised receipt", "Over the approved budget", "Duplicate of an earlier request"];
/// Who receives what a closing project holds in a currency no other project holds.
const CLOSING_PAYEE: &str = "Rust community fund";
const REVERSE_REASONS: &[&str] = &["Duplicate entry", "Recorded on the wrong project", "Bank returned the payment"];
const MONTHS: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn currency(code: &str) -> Currency {
    Currency::from_code(code).expect("the generator only names currencies of the table")
}

/// Units of `c` per US dollar.
fn rate(c: Currency) -> Decimal {
    let (_, m, s) =
        RATES.iter().find(|(code, _, _)| *code == c.code()).expect("the generator only uses currencies with a rate");
    Decimal::new(*m, *s)
}

/// What `m` is worth in US dollars at the generator's rates.
fn usd(m: Money) -> Decimal {
    m.amount() / rate(m.currency())
}

fn money(amount: Decimal, c: Currency) -> Money {
    Money::new("amount", amount, c).expect("generated amounts are positive, within minor units and the limit")
}

fn minor(c: Currency) -> Decimal {
    Decimal::new(1, c.minor_units())
}

fn plus_days(date: NaiveDate, days: u64) -> NaiveDate {
    date.checked_add_days(Days::new(days)).expect("generated dates stay within the calendar")
}

fn last_day(year: i32, month: u32) -> NaiveDate {
    let first_next =
        if month == 12 { NaiveDate::from_ymd_opt(year + 1, 1, 1) } else { NaiveDate::from_ymd_opt(year, month + 1, 1) };
    first_next.and_then(|d| d.pred_opt()).expect("a valid month")
}

/// µs since the epoch of midnight UTC of `date`.
fn micros(date: NaiveDate) -> i64 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    date.signed_duration_since(epoch).num_days() * 86_400_000_000
}

impl Workload {
    /// A fresh stream for `config`.
    pub fn new(config: &WorkloadConfig) -> Workload {
        let mut rng = Rng::new(config.seed);
        let count = config.project_count() as usize;
        let start = NaiveDate::from_ymd_opt(config.year, 1, 1).expect("a year chrono knows");
        let days = u64::try_from(
            NaiveDate::from_ymd_opt(config.year + 1, 1, 1).expect("next year").signed_duration_since(start).num_days(),
        )
        .expect("a year is positive");
        let mut projects: Vec<Project> = (0..count).map(|j| new_project(&mut rng, j)).collect();
        scale_amounts(&mut projects, config.events);
        let closures_max = if count >= 6 { (count as u64 / 40).max(1) } else { 0 };
        Workload {
            rng,
            events: config.events,
            year: config.year,
            start,
            days,
            today: start,
            emitted: 0,
            next_id: 0,
            recorded_at: micros(start),
            projects,
            initial: count.div_ceil(2),
            opened: 0,
            active: Vec::new(),
            scripted: VecDeque::new(),
            closing: None,
            closures: 0,
            closures_max,
            closed_months: 0,
            sponsor_seq: 0,
            counter: 0,
        }
    }

    /// Events produced so far.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    /// Ids of the projects opened so far.
    pub fn projects(&self) -> impl Iterator<Item = &ProjectId> {
        self.projects.iter().filter(|p| p.phase != Phase::Unopened).map(|p| &p.id)
    }

    fn remaining(&self) -> u64 {
        self.events - self.emitted
    }

    fn next_counter(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    fn step(&mut self) -> Option<CommitRequest> {
        if self.emitted >= self.events {
            return None;
        }
        let day = u64::try_from(u128::from(self.emitted) * u128::from(self.days) / u128::from(self.events))
            .expect("below days");
        self.today = plus_days(self.start, day);
        let draft = match self.scheduled() {
            Some(d) => d,
            None => match self.random() {
                Some(d) => d,
                None => self.fallback()?,
            },
        };
        debug_assert!(draft.events.len() as u64 <= self.remaining());
        self.emitted += draft.events.len() as u64;
        let floor = micros(self.today) + 8 * 3_600_000_000;
        self.recorded_at = (self.recorded_at + 1 + self.rng.below(2_000_000) as i64).max(floor);
        Some(CommitRequest {
            allow_same_receipt: false,
            events: draft.events,
            expected_heads: Vec::new(),
            actor: draft.actor,
            recorded_at: self.recorded_at,
        })
    }

    fn event(&mut self, p: usize, kind: EventKind, memo: &str, reference: Option<String>) -> (Event, u64) {
        let project = &mut self.projects[p];
        project.seq += 1;
        let event = Event {
            event_id: format!("e{}", self.next_id),
            project: project.id.clone(),
            effective_date: self.today,
            memo: memo.to_owned(),
            reference,
            kind,
        };
        self.next_id += 1;
        (event, project.seq)
    }

    fn one(&mut self, p: usize, kind: EventKind, memo: &str, reference: Option<String>, actor: &str) -> (Draft, u64) {
        let (e, seq) = self.event(p, kind, memo, reference);
        (Draft { events: vec![e], actor: actor.to_owned() }, seq)
    }

    /// An amount worth between `lo` and `hi` US dollars times project `p`'s scale, in `c`.
    fn scaled(&mut self, p: usize, c: Currency, lo: u64, hi: u64) -> Money {
        let cents = self.rng.range(lo * 100, hi * 100);
        let amount = (Decimal::from(cents) / Decimal::ONE_HUNDRED * self.projects[p].scale * rate(c))
            .round_dp_with_strategy(c.minor_units(), RoundingStrategy::MidpointAwayFromZero);
        money(amount.max(minor(c)), c)
    }

    /// A round sponsorship tier of project `p` (a conference's 500 to 25,000 US dollars, times the
    /// project's scale), in `c`.
    fn tier(&mut self, p: usize, c: Currency) -> Money {
        let usd = *self.rng.pick(&[500u64, 1_000, 2_500, 5_000, 10_000, 15_000, 25_000]);
        money((Decimal::from(usd) * self.projects[p].scale * rate(c)).round_dp(0).max(Decimal::ONE), c)
    }

    /// Between `lo` and `hi` percent of `avail`, rounded down to `c`'s minor units; `None` if nothing.
    fn part(&mut self, avail: Decimal, c: Currency, lo: u64, hi: u64) -> Option<Money> {
        if avail <= Decimal::ZERO {
            return None;
        }
        let pct = self.rng.range(lo, hi);
        let a = (avail * Decimal::from(pct) / Decimal::ONE_HUNDRED)
            .round_dp_with_strategy(c.minor_units(), RoundingStrategy::ToZero);
        (a > Decimal::ZERO).then(|| money(a, c))
    }

    fn receipt(&mut self) -> Receipt {
        let n = self.next_counter();
        Receipt {
            hash: *blake3::hash(format!("receipt {n}").as_bytes()).as_bytes(),
            file_name: format!("receipt-{n:06}.pdf"),
        }
    }

    fn invoice(&mut self) -> Option<String> {
        let n = self.next_counter();
        Some(format!("INV-{}-{n:06}", self.year))
    }

    /// An active project, a busy kind more likely than a quiet one (by [`KindProfile::activity`]).
    fn random_active(&mut self) -> Option<usize> {
        if self.active.is_empty() {
            return None;
        }
        let n = self.active.len() as u64;
        for _ in 0..32 {
            let p = self.active[self.rng.below(n) as usize];
            if self.rng.below(ACTIVITY_MAX) < self.projects[p].profile.activity {
                return Some(p);
            }
        }
        Some(self.active[self.rng.below(n) as usize])
    }

    /// An active project other than `p` that holds `c`, if any, a busy kind more likely.
    fn holder_of(&mut self, c: Currency, p: usize) -> Option<usize> {
        let candidates: Vec<usize> =
            self.active.iter().copied().filter(|&q| q != p && self.projects[q].holds(c)).collect();
        if candidates.is_empty() {
            return None;
        }
        let n = candidates.len() as u64;
        for _ in 0..32 {
            let q = candidates[self.rng.below(n) as usize];
            if self.rng.below(ACTIVITY_MAX) < self.projects[q].profile.activity {
                return Some(q);
            }
        }
        Some(candidates[self.rng.below(n) as usize])
    }

    // ---- scheduled work -------------------------------------------------------------------------

    fn scheduled(&mut self) -> Option<Draft> {
        if let Some(d) = self.close_month() {
            return Some(d);
        }
        if self.opened < self.open_target() {
            return Some(self.open_next());
        }
        if !self.scripted.is_empty() && (self.active.len() < 3 || self.rng.chance(60)) {
            if let Some(d) = self.run_script() {
                return Some(d);
            }
        }
        self.wind_down()
    }

    fn open_target(&self) -> usize {
        let total = self.projects.len();
        let later = (total - self.initial) as u128;
        let span = (u128::from(self.events) * 4 / 5).max(1);
        let due = later * u128::from(self.emitted) / span;
        (self.initial + usize::try_from(due).unwrap_or(total)).min(total)
    }

    fn close_month(&mut self) -> Option<Draft> {
        if self.closed_months >= 11 {
            return None;
        }
        let month = self.closed_months + 1;
        let through = last_day(self.year, month);
        if self.today < plus_days(through, 3) {
            return None;
        }
        self.closed_months = month;
        self.sponsor_seq += 1;
        let memo = format!("Books closed for {}", MONTHS[(month - 1) as usize]);
        let event = Event {
            event_id: format!("e{}", self.next_id),
            project: sponsor(),
            effective_date: self.today,
            memo,
            reference: Some(format!("CLOSE-{}-{month:02}", self.year)),
            kind: EventKind::PeriodClosed { through },
        };
        self.next_id += 1;
        Some(Draft { events: vec![event], actor: ADMIN.to_owned() })
    }

    fn open_next(&mut self) -> Draft {
        let p = self.opened;
        self.opened += 1;
        let pr = &self.projects[p];
        let kind = EventKind::ProjectOpened {
            name: pr.name.clone(),
            kind: pr.kind,
            fee_bps: pr.fee_bps,
            currency: pr.home,
            advance_limit: pr.advance_limit,
        };
        let memo = match pr.kind {
            ProjectKind::Conference => "New conference joins the sponsor",
            ProjectKind::Meetup => "Meetup group joins the sponsor",
            ProjectKind::Workshop => "Workshop series joins the sponsor",
            ProjectKind::OpenSource => "Open-source project joins",
            ProjectKind::Other => "Community project joins",
        };
        let (draft, _) = self.one(p, kind, memo, None, ADMIN);
        let pr = &mut self.projects[p];
        if p < self.initial {
            pr.script.push_back(Step::OpeningBalance);
        } else if pr.kind == ProjectKind::Conference && pr.advance_limit > Decimal::ZERO {
            pr.script.extend([Step::Advance, Step::Deposit]);
        }
        if pr.script.is_empty() {
            pr.phase = Phase::Active;
            self.active.push(p);
        } else {
            pr.phase = Phase::Scripted;
            self.scripted.push_back(p);
        }
        draft
    }

    fn run_script(&mut self) -> Option<Draft> {
        let p = *self.scripted.front()?;
        let step = self.projects[p].script.pop_front();
        if self.projects[p].script.is_empty() {
            self.scripted.pop_front();
            self.projects[p].phase = Phase::Active;
            self.active.push(p);
        }
        let home = self.projects[p].home;
        match step? {
            Step::OpeningBalance => {
                let amount = self.scaled(p, home, 2_000, 30_000);
                let fund = if self.rng.chance(20) {
                    Fund::Restricted((*self.rng.pick(PURPOSES)).to_owned())
                } else {
                    Fund::Unrestricted
                };
                self.projects[p].books(home).add(&fund, amount.amount());
                let kind = EventKind::OpeningBalance { amount, fund };
                Some(self.one(p, kind, "Balance brought over from old books", None, CLERK).0)
            }
            Step::Advance => {
                let limit = self.projects[p].advance_limit;
                let pct = self.rng.range(40, 80);
                let a = (limit * Decimal::from(pct) / Decimal::ONE_HUNDRED)
                    .round_dp_with_strategy(0, RoundingStrategy::ToZero);
                if a <= Decimal::ZERO {
                    return None;
                }
                let amount = money(a, home);
                let pr = &mut self.projects[p];
                pr.books(home).add(&Fund::Unrestricted, a);
                pr.advances += a;
                let kind = EventKind::AdvanceIssued { amount, purpose: "Venue deposit".to_owned() };
                Some(self.one(p, kind, "Advance for the venue deposit", None, CLERK).0)
            }
            Step::Deposit => {
                let avail = self.projects[p].available(home, &Fund::Unrestricted);
                let amount = self.part(avail, home, 60, 90)?;
                self.direct(p, Fund::Unrestricted, amount, 0, "Venue deposit paid")
            }
        }
    }

    fn wind_down(&mut self) -> Option<Draft> {
        if self.closing.is_none() && self.closures < self.closures_max && self.active.len() >= 5 {
            let due = self.events * 55 / 100 + self.closures * (self.events * 35 / 100) / self.closures_max;
            if self.emitted >= due {
                let small: Vec<usize> = self
                    .active
                    .iter()
                    .copied()
                    .filter(|&i| {
                        matches!(
                            self.projects[i].kind,
                            ProjectKind::Meetup | ProjectKind::Workshop | ProjectKind::Other
                        )
                    })
                    .collect();
                let p = if small.is_empty() { self.random_active()? } else { *self.rng.pick(&small) };
                self.active.retain(|&i| i != p);
                self.projects[p].phase = Phase::Closing;
                self.closing = Some(p);
                self.closures += 1;
            }
        }
        let p = self.closing?;
        if !self.rng.chance(35) {
            return None;
        }
        self.wind_step(p)
    }

    /// The next step of emptying a closing project, ending with `ProjectClosed`.
    fn wind_step(&mut self, p: usize) -> Option<Draft> {
        if let Some(r) = self.projects[p].requests.first().cloned() {
            return Some(self.reject(p, &r, "Project is winding down"));
        }
        if let Some(&(seq, _)) = self.projects[p].pledges.first() {
            let (_, open) = self.projects[p].pledges.remove(0);
            self.projects[p].pledged_usd -= usd(open);
            let kind = EventKind::PledgeCancelled { pledge: seq, amount: None };
            return Some(self.one(p, kind, "Pledge cancelled at wind-down", None, CLERK).0);
        }
        if let Some((c, purpose, avail)) = self.projects[p].restricted_spendable().into_iter().next() {
            return Some(self.release(p, c, purpose, money(avail, c)));
        }
        let home = self.projects[p].home;
        let owed = self.projects[p].advances;
        if owed > Decimal::ZERO {
            let avail = self.projects[p].available(home, &Fund::Unrestricted);
            if avail < owed {
                let amount = money(owed - avail, home);
                return Some(self.grant(p, amount, "Grant to settle the advance"));
            }
            return Some(self.repay(p, money(owed, home)));
        }
        if let Some((c, avail)) = self.projects[p].spendable().into_iter().next() {
            if self.remaining() < 2 {
                return None;
            }
            return Some(match self.holder_of(c, p) {
                Some(q) => self.transfer(p, q, money(avail, c), "Remaining funds moved at closing"),
                None => {
                    let details = ExpenseDetails {
                        amount: money(avail, c),
                        payee: CLOSING_PAYEE.to_owned(),
                        category: "donation".to_owned(),
                        fund: Fund::Unrestricted,
                        receipt: self.receipt(),
                    };
                    self.projects[p].books(c).add(&Fund::Unrestricted, -avail);
                    let kind = EventKind::ExpensePaid { request: None, details: Some(details) };
                    self.one(p, kind, "Remaining funds given at closing", None, CLERK).0
                }
            });
        }
        self.projects[p].phase = Phase::Closed;
        self.closing = None;
        Some(self.one(p, EventKind::ProjectClosed {}, "Project wound down and closed", None, ADMIN).0)
    }

    // ---- random work ----------------------------------------------------------------------------

    fn random(&mut self) -> Option<Draft> {
        let total: u64 = ACTIONS.iter().map(|(_, w)| w).sum();
        for _ in 0..8 {
            let p = self.random_active()?;
            let mut roll = self.rng.below(total);
            let mut action = Action::Contribution;
            for (a, w) in ACTIONS {
                if roll < *w {
                    action = *a;
                    break;
                }
                roll -= w;
            }
            if let Some(d) = self.try_action(p, action) {
                return Some(d);
            }
        }
        None
    }

    /// A contribution to some project; a change of terms (which always fits) when every budget the
    /// draws tried is spent, so that the stream still stops at exactly the events asked for.
    fn fallback(&mut self) -> Option<Draft> {
        for _ in 0..8 {
            let p = match self.random_active() {
                Some(p) => p,
                None => self.projects.iter().position(|p| matches!(p.phase, Phase::Scripted | Phase::Closing))?,
            };
            if let Some(d) = self.contribution(p) {
                return Some(d);
            }
        }
        let p = match self.random_active() {
            Some(p) => p,
            None => self.projects.iter().position(|p| matches!(p.phase, Phase::Scripted | Phase::Closing))?,
        };
        self.try_action(p, Action::Terms)
    }

    fn try_action(&mut self, p: usize, action: Action) -> Option<Draft> {
        let home = self.projects[p].home;
        match action {
            Action::Contribution => self.contribution(p),
            Action::Package => self.package(),
            Action::Pledge => {
                if self.projects[p].pledges.len() >= PLEDGES_OPEN_MAX {
                    return None;
                }
                let amount = self.tier(p, home);
                if !self.projects[p].fits(usd(amount)) {
                    return None;
                }
                self.projects[p].pledged_usd += usd(amount);
                let sponsor = (*self.rng.pick(SPONSORS)).to_owned();
                let due_date = plus_days(self.today, self.rng.range(30, 120));
                let n = self.next_counter();
                let reference = Some(format!("PLG-{}-{n:06}", self.year));
                let (draft, seq) = self.one(
                    p,
                    EventKind::PledgeRecorded { amount, sponsor, due_date },
                    "Sponsorship pledge signed",
                    reference,
                    CLERK,
                );
                self.projects[p].pledges.push((seq, amount));
                Some(draft)
            }
            Action::Fulfil => {
                let n = self.projects[p].pledges.len();
                if n == 0 {
                    return None;
                }
                let i = self.rng.below(n as u64) as usize;
                let (seq, open) = self.projects[p].pledges[i];
                let amount = if self.rng.chance(60) {
                    open
                } else {
                    self.part(open.amount(), open.currency(), 30, 70).unwrap_or(open)
                };
                let left = open.amount() - amount.amount();
                let pr = &mut self.projects[p];
                pr.pledged_usd -= usd(amount);
                pr.income_usd += usd(amount);
                if left.is_zero() {
                    pr.pledges.remove(i);
                } else {
                    pr.pledges[i].1 = money(left, open.currency());
                }
                let net = amount.amount() - fee(amount.amount(), pr.fee_bps, amount.currency());
                pr.books(amount.currency()).add(&Fund::Unrestricted, net);
                let kind = EventKind::PledgeFulfilled { amount, pledge: seq, fee_bps: None };
                Some(self.one(p, kind, "Pledge payment received", None, CLERK).0)
            }
            Action::CancelPledge => {
                let n = self.projects[p].pledges.len();
                if n == 0 {
                    return None;
                }
                let i = self.rng.below(n as u64) as usize;
                let (seq, open) = self.projects[p].pledges.remove(i);
                self.projects[p].pledged_usd -= usd(open);
                let amount = self.rng.chance(50).then_some(open);
                Some(
                    self.one(
                        p,
                        EventKind::PledgeCancelled { pledge: seq, amount },
                        "Sponsor withdrew the pledge",
                        None,
                        CLERK,
                    )
                    .0,
                )
            }
            Action::Grant => {
                let amount = self.scaled(p, home, 500, 5_000);
                Some(self.grant(p, amount, "Community grant awarded"))
            }
            Action::Advance => {
                let pr = &self.projects[p];
                let room = pr.advance_limit - pr.advances;
                let amount = self.part(room, home, 20, 100)?;
                let pr = &mut self.projects[p];
                pr.books(home).add(&Fund::Unrestricted, amount.amount());
                pr.advances += amount.amount();
                let kind = EventKind::AdvanceIssued { amount, purpose: "Vendor deposit before income".to_owned() };
                Some(self.one(p, kind, "Advance for vendor deposits", None, CLERK).0)
            }
            Action::Repay => {
                let pr = &self.projects[p];
                let cap = pr.advances.min(pr.available(home, &Fund::Unrestricted));
                let amount = if self.rng.chance(50) && cap > Decimal::ZERO {
                    money(cap, home)
                } else {
                    self.part(cap, home, 30, 90)?
                };
                Some(self.repay(p, amount))
            }
            Action::Direct => {
                let restricted = self.projects[p].restricted_spendable();
                let (c, fund, avail) = if !restricted.is_empty() && self.rng.chance(25) {
                    let (c, purpose, a) = self.rng.pick(&restricted).clone();
                    (c, Fund::Restricted(purpose), a)
                } else {
                    let spendable = self.projects[p].spendable();
                    if spendable.is_empty() {
                        return None;
                    }
                    let (c, a) = match spendable.iter().find(|(c, _)| *c == home) {
                        Some(h) if self.rng.chance(75) => *h,
                        _ => *self.rng.pick(&spendable),
                    };
                    (c, Fund::Unrestricted, a)
                };
                let amount = self.part(avail, c, 3, 30)?;
                let e = self.rng.below(EXPENSES.len() as u64) as usize;
                self.direct(p, fund, amount, e, EXPENSES[e].2)
            }
            Action::Request => {
                if self.projects[p].requests.len() >= REQUESTS_OPEN_MAX {
                    return None;
                }
                let restricted: Vec<_> =
                    self.projects[p].restricted_spendable().into_iter().filter(|(c, _, _)| *c == home).collect();
                let fund = if !restricted.is_empty() && self.rng.chance(15) {
                    Fund::Restricted(self.rng.pick(&restricted).1.clone())
                } else {
                    Fund::Unrestricted
                };
                let avail = self.projects[p].available(home, &fund);
                let amount = match self.part(avail, home, 5, 35) {
                    Some(a) => a,
                    None => self.scaled(p, home, 50, 500),
                };
                let (category, payee, memo) = *self.rng.pick(EXPENSES);
                let details = ExpenseDetails {
                    amount,
                    payee: payee.to_owned(),
                    category: category.to_owned(),
                    fund: fund.clone(),
                    receipt: self.receipt(),
                };
                let actor = format!("project:{}", self.projects[p].id);
                let reference = self.invoice();
                let (draft, seq) = self.one(p, EventKind::ExpenseRequested { details }, memo, reference, &actor);
                self.projects[p].requests.push(Request { seq, amount, fund, approved: false });
                Some(draft)
            }
            Action::Approve => {
                let pr = &self.projects[p];
                let fits: Vec<usize> = (0..pr.requests.len())
                    .filter(|&i| {
                        let r = &pr.requests[i];
                        !r.approved && pr.available(r.amount.currency(), &r.fund) >= r.amount.amount()
                    })
                    .collect();
                if fits.is_empty() {
                    return None;
                }
                let i = *self.rng.pick(&fits);
                let pr = &mut self.projects[p];
                let r = &mut pr.requests[i];
                r.approved = true;
                let (seq, fund, amount) = (r.seq, r.fund.clone(), r.amount);
                pr.books(amount.currency()).hold(&fund, amount.amount());
                Some(
                    self.one(
                        p,
                        EventKind::ExpenseApproved { request: seq },
                        "Expense approved by accounting",
                        None,
                        APPROVER,
                    )
                    .0,
                )
            }
            Action::Reject => {
                let pr = &self.projects[p];
                if pr.requests.is_empty() {
                    return None;
                }
                let stuck = pr
                    .requests
                    .iter()
                    .find(|r| !r.approved && pr.available(r.amount.currency(), &r.fund) < r.amount.amount())
                    .cloned();
                let r = match stuck {
                    Some(r) => r,
                    None => self.rng.pick(&self.projects[p].requests).clone(),
                };
                let reason = *self.rng.pick(REJECT_REASONS);
                Some(self.reject(p, &r, reason))
            }
            Action::PayRequest => {
                let approved: Vec<usize> =
                    (0..self.projects[p].requests.len()).filter(|&i| self.projects[p].requests[i].approved).collect();
                if approved.is_empty() {
                    return None;
                }
                let i = *self.rng.pick(&approved);
                let pr = &mut self.projects[p];
                let r = pr.requests.remove(i);
                let books = pr.books(r.amount.currency());
                books.hold(&r.fund, -r.amount.amount());
                books.add(&r.fund, -r.amount.amount());
                pr.remember(Undo::Expense { seq: pr.seq + 1, fund: r.fund.clone(), amount: r.amount });
                let kind = EventKind::ExpensePaid { request: Some(r.seq), details: None };
                Some(self.one(p, kind, "Approved expense paid", None, CLERK).0)
            }
            Action::Refund => self.refund(p),
            Action::Transfer => {
                if self.remaining() < 2 || self.active.len() < 2 {
                    return None;
                }
                let spendable = self.projects[p].spendable();
                if spendable.is_empty() {
                    return None;
                }
                let (c, avail) = *self.rng.pick(&spendable);
                let q = self.holder_of(c, p)?;
                // Shared costs at the scale of the smaller of the two projects.
                let most = self.scaled(p, c, 200, 5_000).amount().min(self.scaled(q, c, 200, 5_000).amount());
                let amount = self.part(avail.min(most), c, 10, 100)?;
                Some(self.transfer(p, q, amount, "Shared costs moved between projects"))
            }
            Action::Release => {
                let restricted = self.projects[p].restricted_spendable();
                if restricted.is_empty() {
                    return None;
                }
                let (c, purpose, avail) = self.rng.pick(&restricted).clone();
                let amount = if self.rng.chance(50) { money(avail, c) } else { self.part(avail, c, 30, 90)? };
                Some(self.release(p, c, purpose, amount))
            }
            Action::Convert => {
                let spendable = self.projects[p].spendable();
                if spendable.is_empty() {
                    return None;
                }
                let (from, avail) = *self.rng.pick(&spendable);
                let pr = &self.projects[p];
                let to_currency = if from == pr.home { pr.second? } else { pr.home };
                let amount = self.part(avail, from, 10, 30)?;
                let to_amount = (amount.amount() / rate(from) * rate(to_currency))
                    .round_dp_with_strategy(to_currency.minor_units(), RoundingStrategy::MidpointAwayFromZero);
                if to_amount <= Decimal::ZERO {
                    return None;
                }
                let to = money(to_amount, to_currency);
                let pr = &mut self.projects[p];
                pr.books(from).add(&Fund::Unrestricted, -amount.amount());
                pr.books(to_currency).add(&Fund::Unrestricted, to_amount);
                let reference = self.invoice();
                Some(
                    self.one(
                        p,
                        EventKind::CurrencyConverted { amount, to },
                        "Converted to pay a foreign vendor",
                        reference,
                        CLERK,
                    )
                    .0,
                )
            }
            Action::Reverse => self.reverse(p),
            Action::Terms => {
                let new_fee = self.rng.chance(60).then(|| u32::try_from(self.rng.range(6, 20) * 50).expect("small"));
                let new_limit = match new_fee {
                    Some(_) if self.rng.chance(50) => None,
                    _ => Some(self.tier(p, home).amount() * Decimal::TWO),
                };
                let pr = &mut self.projects[p];
                if let Some(f) = new_fee {
                    pr.fee_bps = f;
                }
                if let Some(l) = new_limit {
                    pr.advance_limit = l;
                }
                let kind = EventKind::ProjectTermsChanged { fee_bps: new_fee, advance_limit: new_limit };
                Some(self.one(p, kind, "Terms updated after board review", None, ADMIN).0)
            }
            Action::CloseBooks => {
                let through = self.today.pred_opt()?;
                let pr = &self.projects[p];
                if pr.kind != ProjectKind::Conference && pr.kind != ProjectKind::Workshop {
                    return None;
                }
                if pr.closed_through.is_some_and(|t| t >= through) {
                    return None;
                }
                self.projects[p].closed_through = Some(through);
                Some(
                    self.one(p, EventKind::PeriodClosed { through }, "Event books closed after the event", None, ADMIN)
                        .0,
                )
            }
        }
    }

    /// A contribution to `p`; `None` when it would take the project's income over its cap.
    fn contribution(&mut self, p: usize) -> Option<Draft> {
        let pr = &self.projects[p];
        let (home, second, kind, project_fee) = (pr.home, pr.second, pr.kind, pr.fee_bps);
        let roll = self.rng.below(100);
        let source = match roll {
            0..=29 => Source::Sponsorship,
            30..=54 => Source::Donation,
            55..=84 if matches!(kind, ProjectKind::Conference | ProjectKind::Workshop) => Source::TicketSales,
            55..=84 => Source::Donation,
            85..=94 => Source::Grant,
            _ => Source::Other,
        };
        let c = match second {
            Some(second) if self.rng.chance(10) => second,
            _ => home,
        };
        let (amount, from, memo) = match source {
            Source::Sponsorship => (
                self.tier(p, c),
                (*self.rng.pick(SPONSORS)).to_owned(),
                *self.rng.pick(&["Sponsorship invoice paid", "Silver sponsorship", "Community sponsor tier"]),
            ),
            Source::Donation => (
                self.scaled(p, c, 5, 500),
                (*self.rng.pick(DONORS)).to_owned(),
                *self.rng.pick(&["Individual donation", "Donation via GitHub Sponsors"]),
            ),
            Source::TicketSales => (
                self.scaled(p, c, 200, 8_000),
                "Tito ticketing".to_owned(),
                *self.rng.pick(&["Ticket sales payout", "Early-bird ticket batch"]),
            ),
            Source::Grant => {
                (self.scaled(p, c, 1_000, 20_000), "Open Tech Fund".to_owned(), "External grant instalment")
            }
            Source::Other => (self.scaled(p, c, 20, 2_000), "Merch store".to_owned(), "Merchandise sales"),
        };
        if !self.projects[p].fits(usd(amount)) {
            return None;
        }
        self.projects[p].income_usd += usd(amount);
        let fund = if self.rng.chance(12) {
            Fund::Restricted((*self.rng.pick(PURPOSES)).to_owned())
        } else {
            Fund::Unrestricted
        };
        let fee_bps = match source {
            Source::Grant => Some(project_fee / 2),
            _ if self.rng.chance(5) => Some(0),
            _ => None,
        };
        let kind = EventKind::ContributionReceived { amount, from, source, fund: fund.clone(), fee_bps };
        let reference = self.invoice();
        let (draft, seq) = self.one(p, kind, memo, reference, CLERK);
        let bps = fee_bps.unwrap_or(project_fee);
        self.projects[p].contributed(Contribution {
            seq,
            paid: amount,
            fund,
            fee_bps: bps,
            refunded: Decimal::ZERO,
            fee_refunded: Decimal::ZERO,
        });
        Some(draft)
    }

    fn package(&mut self) -> Option<Draft> {
        if self.remaining() < 3 || self.active.len() < 3 {
            return None;
        }
        let mut chosen: Vec<usize> = Vec::with_capacity(3);
        while chosen.len() < 3 {
            let p = self.random_active()?;
            if !chosen.contains(&p) {
                chosen.push(p);
            }
        }
        let mut shares = Vec::with_capacity(3);
        for p in chosen {
            let home = self.projects[p].home;
            let amount = self.tier(p, home);
            if !self.projects[p].fits(usd(amount)) {
                return None;
            }
            shares.push((p, amount));
        }
        let n = self.next_counter();
        let reference = format!("PKG-{}-{n:06}", self.year);
        let sponsor = (*self.rng.pick(SPONSORS)).to_owned();
        let mut events = Vec::with_capacity(3);
        for (p, amount) in shares {
            self.projects[p].income_usd += usd(amount);
            let kind = EventKind::ContributionReceived {
                amount,
                from: sponsor.clone(),
                source: Source::Sponsorship,
                fund: Fund::Unrestricted,
                fee_bps: None,
            };
            let (e, seq) = self.event(p, kind, "Sponsorship package, one share", Some(reference.clone()));
            let bps = self.projects[p].fee_bps;
            self.projects[p].contributed(Contribution {
                seq,
                paid: amount,
                fund: Fund::Unrestricted,
                fee_bps: bps,
                refunded: Decimal::ZERO,
                fee_refunded: Decimal::ZERO,
            });
            events.push(e);
        }
        Some(Draft { events, actor: CLERK.to_owned() })
    }

    fn grant(&mut self, p: usize, amount: Money, memo: &str) -> Draft {
        let program = (*self.rng.pick(PROGRAMS)).to_owned();
        self.projects[p].books(amount.currency()).add(&Fund::Unrestricted, amount.amount());
        let (draft, seq) = self.one(p, EventKind::GrantAwarded { amount, program }, memo, None, ADMIN);
        self.projects[p].remember(Undo::Grant { seq, amount });
        draft
    }

    fn repay(&mut self, p: usize, amount: Money) -> Draft {
        let pr = &mut self.projects[p];
        pr.books(amount.currency()).add(&Fund::Unrestricted, -amount.amount());
        pr.advances -= amount.amount();
        self.one(p, EventKind::AdvanceRepaid { amount }, "Advance paid back to the sponsor", None, CLERK).0
    }

    fn direct(&mut self, p: usize, fund: Fund, amount: Money, expense: usize, memo: &str) -> Option<Draft> {
        let (category, payee, _) = EXPENSES[expense];
        let details = ExpenseDetails {
            amount,
            payee: payee.to_owned(),
            category: category.to_owned(),
            fund: fund.clone(),
            receipt: self.receipt(),
        };
        self.projects[p].books(amount.currency()).add(&fund, -amount.amount());
        let reference = self.invoice();
        let (draft, seq) =
            self.one(p, EventKind::ExpensePaid { request: None, details: Some(details) }, memo, reference, CLERK);
        self.projects[p].remember(Undo::Expense { seq, fund, amount });
        Some(draft)
    }

    fn reject(&mut self, p: usize, r: &Request, reason: &str) -> Draft {
        let pr = &mut self.projects[p];
        pr.requests.retain(|x| x.seq != r.seq);
        if r.approved {
            pr.books(r.amount.currency()).hold(&r.fund, -r.amount.amount());
        }
        let kind = EventKind::ExpenseRejected { request: r.seq, reason: reason.to_owned() };
        self.one(p, kind, "Expense request rejected", None, APPROVER).0
    }

    fn release(&mut self, p: usize, c: Currency, purpose: String, amount: Money) -> Draft {
        let books = self.projects[p].books(c);
        books.add(&Fund::Restricted(purpose.clone()), -amount.amount());
        books.add(&Fund::Unrestricted, amount.amount());
        self.one(p, EventKind::FundsReleased { amount, purpose }, "Restricted funds released", None, CLERK).0
    }

    fn transfer(&mut self, p: usize, q: usize, amount: Money, memo: &str) -> Draft {
        let c = amount.currency();
        self.projects[p].books(c).add(&Fund::Unrestricted, -amount.amount());
        self.projects[q].books(c).add(&Fund::Unrestricted, amount.amount());
        let n = self.next_counter();
        let reference = Some(format!("TRF-{}-{n:06}", self.year));
        let (to, from) = (self.projects[q].id.clone(), self.projects[p].id.clone());
        let (sent, _) = self.event(p, EventKind::TransferSent { amount, to }, memo, reference.clone());
        let (received, _) = self.event(q, EventKind::TransferReceived { amount, from }, memo, reference);
        Draft { events: vec![sent, received], actor: CLERK.to_owned() }
    }

    fn refund(&mut self, p: usize) -> Option<Draft> {
        let n = self.projects[p].contributions.len();
        if n == 0 {
            return None;
        }
        let i = self.rng.below(n as u64) as usize;
        let c = self.projects[p].contributions[i].clone();
        let cur = c.paid.currency();
        let remaining = c.paid.amount() - c.refunded;
        let amount = if self.rng.chance(40) && remaining > Decimal::ZERO {
            money(remaining, cur)
        } else {
            self.part(remaining, cur, 10, 50)?
        };
        // The ledger gives back the fee's share cumulatively (rules.rs); the model does the same sums.
        let fee_total = fee(c.paid.amount(), c.fee_bps, cur);
        let share_after = prorate(fee_total, c.refunded + amount.amount(), c.paid.amount(), cur)?;
        let fee_share = share_after - c.fee_refunded;
        let debit = amount.amount() - fee_share;
        let pr = &mut self.projects[p];
        if pr.available(cur, &c.fund) < debit {
            return None;
        }
        pr.books(cur).add(&c.fund, -debit);
        let entry = &mut pr.contributions[i];
        entry.refunded += amount.amount();
        entry.fee_refunded += fee_share;
        if entry.refunded == entry.paid.amount() {
            pr.contributions.remove(i);
        }
        pr.undo.retain(|u| u.seq() != c.seq);
        let kind = EventKind::RefundIssued { amount, contribution: c.seq, fund: None, fee_share: None };
        let n = self.next_counter();
        let reference = Some(format!("RF-{}-{n:06}", self.year));
        Some(self.one(p, kind, "Refund to the payer", reference, CLERK).0)
    }

    fn reverse(&mut self, p: usize) -> Option<Draft> {
        let undo = self.projects[p].undo.back()?.clone();
        let pr = &mut self.projects[p];
        match &undo {
            Undo::Expense { fund, amount, .. } => pr.books(amount.currency()).add(fund, amount.amount()),
            Undo::Contribution { seq, fund, currency, net } => {
                if pr.available(*currency, fund) < *net {
                    return None;
                }
                pr.books(*currency).add(fund, -*net);
                pr.contributions.retain(|c| c.seq != *seq);
            }
            Undo::Grant { amount, .. } => {
                if pr.available(amount.currency(), &Fund::Unrestricted) < amount.amount() {
                    return None;
                }
                pr.books(amount.currency()).add(&Fund::Unrestricted, -amount.amount());
            }
        }
        pr.undo.pop_back();
        let reason = (*self.rng.pick(REVERSE_REASONS)).to_owned();
        let kind = EventKind::EventReversed { target_seq: undo.seq(), reason, target: None };
        Some(self.one(p, kind, "Correction of an earlier entry", None, APPROVER).0)
    }
}

impl Iterator for Workload {
    type Item = CommitRequest;

    fn next(&mut self) -> Option<CommitRequest> {
        self.step()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.remaining()).unwrap_or(usize::MAX);
        (0, Some(left))
    }
}

/// Sets each project's amount scale so that its expected income over a run of `events` events
/// comes near its budget: its expected share of the events (by activity, and by how much of the year
/// it is open: the first half of the projects open at once, the others through the first 80% of the
/// run), times [`INCOME_EVENTS_PERCENT`], times [`INCOME_MEAN_USD`] at scale 1, within the kind's bounds.
fn scale_amounts(projects: &mut [Project], events: u64) {
    let count = projects.len();
    let initial = count.div_ceil(2);
    let later = (count - initial).max(1);
    let weight = |j: usize, p: &Project| -> Decimal {
        let open = if j < initial {
            Decimal::ONE
        } else {
            Decimal::ONE - Decimal::from(4 * (j - initial + 1)) / Decimal::from(5 * later)
        };
        Decimal::from(p.profile.activity) * open.max(Decimal::new(1, 1))
    };
    let weights: Vec<Decimal> = projects.iter().enumerate().map(|(j, p)| weight(j, p)).collect();
    let total: Decimal = weights.iter().sum();
    for (p, w) in projects.iter_mut().zip(weights) {
        let expected = Decimal::from(events) * w / total * Decimal::from(INCOME_EVENTS_PERCENT) / Decimal::ONE_HUNDRED;
        let (lo, hi) = p.profile.scale;
        let wanted = p.budget_usd / (expected.max(Decimal::ONE) * Decimal::from(INCOME_MEAN_USD));
        p.scale = wanted.clamp(lo, hi);
    }
}

/// Project `j` of a run: kinds cycle so that every kind appears among the first ten.
fn new_project(rng: &mut Rng, j: usize) -> Project {
    const KINDS: [ProjectKind; 10] = [
        ProjectKind::Conference,
        ProjectKind::Meetup,
        ProjectKind::OpenSource,
        ProjectKind::Meetup,
        ProjectKind::Workshop,
        ProjectKind::Conference,
        ProjectKind::OpenSource,
        ProjectKind::Meetup,
        ProjectKind::Other,
        ProjectKind::Workshop,
    ];
    let kind = KINDS[j % KINDS.len()];
    let (city, city_name, code) = *rng.pick(CITIES);
    let (id, name, code) = match kind {
        ProjectKind::Conference => (format!("{city}-conf-{j}"), format!("{city_name} Rust Conference"), code),
        ProjectKind::Meetup => (format!("{city}-meetup-{j}"), format!("{city_name} Rust Meetup"), code),
        ProjectKind::Workshop => (format!("{city}-workshop-{j}"), format!("{city_name} Rust Workshops"), code),
        ProjectKind::OpenSource => {
            let name = *rng.pick(OPEN_SOURCE);
            (format!("{name}-{j}"), format!("{name} (open source)"), if rng.chance(70) { "USD" } else { "EUR" })
        }
        ProjectKind::Other => (format!("{city}-community-{j}"), format!("{city_name} Rust Community"), code),
    };
    let home = currency(code);
    let fee_bps = match kind {
        ProjectKind::OpenSource => u32::try_from(rng.range(4, 10) * 50).expect("small"),
        _ => u32::try_from(rng.range(10, 20) * 50).expect("small"),
    };
    let limit_usd: u64 = match kind {
        ProjectKind::Conference => rng.range(10, 50) * 1_000,
        ProjectKind::Workshop => 5_000,
        ProjectKind::Meetup if rng.chance(50) => 2_000,
        _ => 0,
    };
    let advance_limit = (Decimal::from(limit_usd) * rate(home)).round_dp(0);
    let large = kind == ProjectKind::Conference && rng.chance(LARGE_CONFERENCE_PERCENT);
    let profile = profile(kind, large);
    let budget_usd = Decimal::from(rng.range(profile.budget_usd.0, profile.budget_usd.1));
    // A conference's sponsors and an open-source project's donors pay in a second major currency.
    let second = match kind {
        ProjectKind::Conference | ProjectKind::OpenSource => {
            Some(currency(if home == currency("USD") { "EUR" } else { "USD" }))
        }
        _ => None,
    };
    Project {
        id: ProjectId::parse("project", &id).expect("generated project ids are slugs"),
        name,
        kind,
        home,
        second,
        profile,
        budget_usd,
        income_cap_usd: budget_usd * Decimal::from(profile.cap_times),
        scale: Decimal::ONE,
        income_usd: Decimal::ZERO,
        pledged_usd: Decimal::ZERO,
        fee_bps,
        advance_limit,
        phase: Phase::Unopened,
        seq: 0,
        closed_through: None,
        script: VecDeque::new(),
        books: BTreeMap::new(),
        advances: Decimal::ZERO,
        pledges: Vec::new(),
        contributions: VecDeque::new(),
        requests: Vec::new(),
        undo: VecDeque::new(),
    }
}

/// Builds the fixed demo scenario commit by commit, numbering each project's seqs as the ledger will.
struct Demo {
    out: Vec<CommitRequest>,
    pending: Vec<Event>,
    seqs: HashMap<String, u64>,
    next_id: u64,
    recorded_at: i64,
}

impl Demo {
    fn add(&mut self, project: &str, memo: &str, reference: Option<&str>, kind: EventKind) -> u64 {
        let seq = self.seqs.entry(project.to_owned()).or_insert(0);
        *seq += 1;
        let seq = *seq;
        self.next_id += 1;
        self.pending.push(Event {
            event_id: format!("demo-{:03}", self.next_id),
            project: ProjectId::parse("project", project).expect("demo project ids are slugs"),
            effective_date: NaiveDate::MIN,
            memo: memo.to_owned(),
            reference: reference.map(str::to_owned),
            kind,
        });
        seq
    }

    fn commit(&mut self, actor: &str, month: u32, day: u32) {
        let date = NaiveDate::from_ymd_opt(2026, month, day).expect("demo dates are valid");
        let mut events = std::mem::take(&mut self.pending);
        for e in &mut events {
            e.effective_date = date;
        }
        self.recorded_at = (self.recorded_at + 1).max(micros(date) + 10 * 3_600_000_000);
        self.out.push(CommitRequest {
            allow_same_receipt: false,
            events,
            expected_heads: Vec::new(),
            actor: actor.to_owned(),
            recorded_at: self.recorded_at,
        });
    }
}

fn demo_money(amount: i64, code: &str) -> Money {
    money(Decimal::from(amount), currency(code))
}

fn demo_expense(amount: i64, code: &str, payee: &str, category: &str, file: &str) -> ExpenseDetails {
    ExpenseDetails {
        amount: demo_money(amount, code),
        payee: payee.to_owned(),
        category: category.to_owned(),
        fund: Fund::Unrestricted,
        receipt: Receipt { hash: *blake3::hash(file.as_bytes()).as_bytes(), file_name: file.to_owned() },
    }
}

/// A short, fixed year of a sponsor for `fiscus demo`: a new conference (`rustconf-2026`) gets an
/// advance for its venue deposit before any sponsor pays, a sponsorship package pays three events,
/// a meetup's expense requests are approved and paid, then a pledge, ticket income and a refund, a
/// grant, a restricted donation partly released, a transfer, a conversion, and four closed months
/// (January to April).
pub fn demo_year() -> Vec<CommitRequest> {
    let mut d = Demo { out: Vec::new(), pending: Vec::new(), seqs: HashMap::new(), next_id: 0, recorded_at: 0 };
    let open = |name: &str, kind, fee_bps, code: &str, limit: i64| EventKind::ProjectOpened {
        name: name.to_owned(),
        kind,
        fee_bps,
        currency: currency(code),
        advance_limit: Decimal::from(limit),
    };
    let (conf, meetup, workshop, oss) = ("rustconf-2026", "berlin-rust-meetup", "tokyo-rust-workshop", "serde-tools");
    d.add(
        conf,
        "RustConf 2026 joins the sponsor",
        None,
        open("RustConf 2026", ProjectKind::Conference, 700, "USD", 20_000),
    );
    d.commit(ADMIN, 1, 5);
    d.add(
        meetup,
        "Berlin meetup joins the sponsor",
        None,
        open("Berlin Rust Meetup", ProjectKind::Meetup, 500, "EUR", 0),
    );
    d.commit(ADMIN, 1, 5);
    d.add(
        workshop,
        "Tokyo workshops join the sponsor",
        None,
        open("Tokyo Rust Workshops", ProjectKind::Workshop, 600, "JPY", 0),
    );
    d.commit(ADMIN, 1, 5);
    d.add(oss, "serde-tools joins the sponsor", None, open("serde-tools", ProjectKind::OpenSource, 500, "USD", 0));
    d.commit(ADMIN, 1, 5);
    d.add(
        meetup,
        "Balance brought over from old books",
        None,
        EventKind::OpeningBalance { amount: demo_money(1_200, "EUR"), fund: Fund::Unrestricted },
    );
    d.commit(CLERK, 1, 6);
    d.add(
        oss,
        "Balance brought over from old books",
        None,
        EventKind::OpeningBalance { amount: demo_money(800, "USD"), fund: Fund::Unrestricted },
    );
    d.commit(CLERK, 1, 6);
    let advance = EventKind::AdvanceIssued { amount: demo_money(15_000, "USD"), purpose: "Venue deposit".to_owned() };
    d.add(conf, "Advance for the venue deposit", Some("ADV-2026-001"), advance);
    d.commit(CLERK, 1, 10);
    let deposit = demo_expense(12_000, "USD", "Oregon Convention Center", "venue", "occ-deposit.pdf");
    d.add(
        conf,
        "Venue deposit paid",
        Some("OCC-7731"),
        EventKind::ExpensePaid { request: None, details: Some(deposit) },
    );
    d.commit(CLERK, 1, 12);
    let jan = last_day(2026, 1);
    d.add(ProjectId::sponsor().as_str(), "Books closed for January", None, EventKind::PeriodClosed { through: jan });
    d.commit(ADMIN, 2, 3);
    for (project, amount, code) in [(conf, 10_000, "USD"), (meetup, 2_000, "EUR"), (workshop, 300_000, "JPY")] {
        let kind = EventKind::ContributionReceived {
            amount: demo_money(amount, code),
            from: "Ferrous Systems".to_owned(),
            source: Source::Sponsorship,
            fund: Fund::Unrestricted,
            fee_bps: None,
        };
        d.add(project, "Ferrous Systems package share", Some("PKG-2026-0001"), kind);
    }
    d.commit(CLERK, 2, 10);
    let meetup_actor = format!("project:{meetup}");
    let pizza = demo_expense(350, "EUR", "Pizzeria Napoli", "catering", "pizza-feb.pdf");
    let r1 = d.add(
        meetup,
        "Pizza for the February meetup",
        Some("NAP-0211"),
        EventKind::ExpenseRequested { details: pizza },
    );
    d.commit(&meetup_actor, 2, 14);
    let room = demo_expense(200, "EUR", "c-base e.V.", "venue", "room-feb.pdf");
    let r2 =
        d.add(meetup, "Room hire for the meetup", Some("CB-2026-02"), EventKind::ExpenseRequested { details: room });
    d.commit(&meetup_actor, 2, 14);
    d.add(meetup, "Expense approved by accounting", None, EventKind::ExpenseApproved { request: r1 });
    d.add(meetup, "Expense approved by accounting", None, EventKind::ExpenseApproved { request: r2 });
    d.commit(APPROVER, 2, 16);
    d.add(meetup, "Approved expense paid", None, EventKind::ExpensePaid { request: Some(r1), details: None });
    d.add(meetup, "Approved expense paid", None, EventKind::ExpensePaid { request: Some(r2), details: None });
    d.commit(CLERK, 2, 20);
    let due_date = NaiveDate::from_ymd_opt(2026, 4, 30).expect("valid");
    let pledge = d.add(
        conf,
        "Acme Cloud gold sponsorship pledge",
        Some("PLG-ACME-2026"),
        EventKind::PledgeRecorded { amount: demo_money(5_000, "USD"), sponsor: "Acme Cloud".to_owned(), due_date },
    );
    d.commit(CLERK, 2, 25);
    d.add(
        ProjectId::sponsor().as_str(),
        "Books closed for February",
        None,
        EventKind::PeriodClosed { through: last_day(2026, 2) },
    );
    d.commit(ADMIN, 3, 2);
    let tickets = EventKind::ContributionReceived {
        amount: demo_money(25_000, "USD"),
        from: "Tito ticketing".to_owned(),
        source: Source::TicketSales,
        fund: Fund::Unrestricted,
        fee_bps: None,
    };
    let sales = d.add(conf, "Ticket sales payout", Some("TITO-2026-03"), tickets);
    d.commit(CLERK, 3, 10);
    let refund =
        EventKind::RefundIssued { amount: demo_money(400, "USD"), contribution: sales, fund: None, fee_share: None };
    d.add(conf, "Refund of two cancelled tickets", Some("TITO-RF-17"), refund);
    d.commit(CLERK, 3, 15);
    d.add(
        oss,
        "Maintainer fund grant",
        None,
        EventKind::GrantAwarded { amount: demo_money(3_000, "USD"), program: "maintainer-fund".to_owned() },
    );
    d.commit(ADMIN, 3, 20);
    let scholarships = EventKind::ContributionReceived {
        amount: demo_money(4_000, "USD"),
        from: "Northwind Bank".to_owned(),
        source: Source::Donation,
        fund: Fund::Restricted("diversity-scholarships".to_owned()),
        fee_bps: None,
    };
    d.add(conf, "Donation for diversity scholarships", Some("NWB-2026-9"), scholarships);
    d.commit(CLERK, 3, 22);
    d.add(
        ProjectId::sponsor().as_str(),
        "Books closed for March",
        None,
        EventKind::PeriodClosed { through: last_day(2026, 3) },
    );
    d.commit(ADMIN, 4, 2);
    d.add(
        conf,
        "Acme Cloud pledge paid",
        Some("PLG-ACME-2026"),
        EventKind::PledgeFulfilled { amount: demo_money(5_000, "USD"), pledge, fee_bps: None },
    );
    d.commit(CLERK, 4, 10);
    let release =
        EventKind::FundsReleased { amount: demo_money(2_500, "USD"), purpose: "diversity-scholarships".to_owned() };
    d.add(conf, "Scholarships awarded, funds released", None, release);
    d.commit(CLERK, 4, 15);
    let amount = demo_money(1_000, "USD");
    d.add(
        conf,
        "Share of the serde-tools sprint",
        Some("TRF-2026-001"),
        EventKind::TransferSent { amount, to: ProjectId::parse("to", oss).expect("slug") },
    );
    d.add(
        oss,
        "Share of the serde-tools sprint",
        Some("TRF-2026-001"),
        EventKind::TransferReceived { amount, from: ProjectId::parse("from", conf).expect("slug") },
    );
    d.commit(CLERK, 4, 20);
    d.add(
        conf,
        "Advance paid back to the sponsor",
        Some("ADV-2026-001"),
        EventKind::AdvanceRepaid { amount: demo_money(15_000, "USD") },
    );
    d.commit(CLERK, 5, 1);
    let convert = EventKind::CurrencyConverted { amount: demo_money(100_000, "JPY"), to: demo_money(650, "USD") };
    d.add(workshop, "Yen to dollars for a US speaker", Some("FX-2026-05"), convert);
    d.commit(CLERK, 5, 4);
    d.add(
        ProjectId::sponsor().as_str(),
        "Books closed for April",
        None,
        EventKind::PeriodClosed { through: last_day(2026, 4) },
    );
    d.commit(ADMIN, 5, 5);
    d.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use fiscus_ledger::commit::MemoryLedger;

    fn d(s: &str) -> Decimal {
        s.parse().expect("test decimal")
    }

    /// Runs a workload through a MemoryLedger; every commit must be accepted, and the model must
    /// agree with the ledger's projection at the end.
    fn run(events: u64, seed: u64) -> (MemoryLedger, Workload, BTreeMap<&'static str, u64>) {
        let mut ledger = MemoryLedger::default();
        let mut w = generate(&WorkloadConfig::new(events, seed));
        let mut kinds: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut last_at = i64::MIN;
        for req in w.by_ref() {
            assert!(req.recorded_at > last_at, "recorded_at increases");
            last_at = req.recorded_at;
            for e in &req.events {
                *kinds.entry(e.kind.name()).or_default() += 1;
                let memo = e.memo.chars().count();
                assert!((10..=40).contains(&memo), "memo {:?} is {memo} characters", e.memo);
            }
            if let Err(err) = ledger.commit(&req) {
                panic!("seed {seed}: commit {} refused: {err}\n{req:#?}", ledger.projection.commit_head.number + 1);
            }
        }
        assert_eq!(ledger.projection.events, events, "seed {seed}: stops at exactly N events");
        assert_eq!(w.emitted(), events);
        (ledger, w, kinds)
    }

    fn assert_model_matches(ledger: &MemoryLedger, w: &Workload) {
        for pr in w.projects.iter().filter(|p| p.phase != Phase::Unopened) {
            let state = ledger.projection.project(pr.id.as_str()).expect("opened project is in the ledger");
            assert_eq!(state.head.seq, pr.seq, "{}: seq", pr.id);
            assert_eq!(state.closed, pr.phase == Phase::Closed, "{}: closed", pr.id);
            for (c, b) in &state.books {
                let m = pr.books.get(c).cloned().unwrap_or_default();
                assert_eq!(-b.unrestricted, m.unrestricted, "{} {c}: unrestricted", pr.id);
                assert_eq!(b.held_unrestricted, m.held_unrestricted, "{} {c}: held", pr.id);
                for (purpose, raw) in &b.restricted {
                    assert_eq!(
                        -*raw,
                        m.restricted.get(purpose).copied().unwrap_or_default(),
                        "{} {c} {purpose}",
                        pr.id
                    );
                }
                if *c == pr.home {
                    assert_eq!(b.advances_receivable, pr.advances, "{}: advances", pr.id);
                }
            }
            assert_eq!(state.requests.len(), pr.requests.len(), "{}: open requests", pr.id);
            assert_eq!(state.pledges.len(), pr.pledges.len(), "{}: open pledges", pr.id);
        }
    }

    #[test]
    fn rng_is_deterministic_and_spread() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<u64> = (0..100).map(|_| a.below(10)).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.below(10)).collect();
        assert_eq!(xs, ys);
        for v in 0..10 {
            assert!(xs.contains(&v), "{v} never drawn");
        }
    }

    #[test]
    fn same_seed_same_stream() {
        let a: Vec<String> = generate(&WorkloadConfig::new(300, 11)).map(|r| format!("{r:?}")).collect();
        let b: Vec<String> = generate(&WorkloadConfig::new(300, 11)).map(|r| format!("{r:?}")).collect();
        let c: Vec<String> = generate(&WorkloadConfig::new(300, 12)).map(|r| format!("{r:?}")).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn a_year_is_accepted_whole_and_covers_every_kind() {
        let (ledger, w, kinds) = run(12_000, 1);
        assert_model_matches(&ledger, &w);
        // every name of EventKind::NAMES is generated (so the list of names is right, too)
        let all = fiscus_ledger::event::EventKind::NAMES;
        for k in all {
            assert!(kinds.get(k).copied().unwrap_or(0) > 0, "{k} never generated: {kinds:?}");
        }
        assert_eq!(ledger.projection.projects().count(), 20);
        let currencies: std::collections::BTreeSet<String> =
            ledger.projection.trial_balance().iter().map(|l| l.currency.code().to_owned()).collect();
        assert!(currencies.len() >= 3, "{currencies:?}");
        assert_eq!(ledger.projection.sponsor_closed_through(), Some(last_day(2026, 11)));
        let kinds_of_projects: std::collections::BTreeSet<String> =
            ledger.projection.projects().map(|p| format!("{:?}", p.info.as_ref().expect("info").kind)).collect();
        assert_eq!(kinds_of_projects.len(), 5, "{kinds_of_projects:?}");
    }

    /// Income (contributions and pledge payments, in US dollars at the generator's rates) and the
    /// currencies held, per opened project, from the events of a run.
    struct Year {
        income: BTreeMap<String, Decimal>,
        currencies: BTreeMap<String, std::collections::BTreeSet<Currency>>,
        kinds: BTreeMap<String, ProjectKind>,
        homes: BTreeMap<String, Currency>,
    }

    /// Runs `events` events of `seed` through a ledger, summing each project's income on the way.
    fn year(events: u64, seed: u64) -> (Year, Workload) {
        let mut ledger = MemoryLedger::default();
        let mut w = generate(&WorkloadConfig::new(events, seed));
        let mut income: BTreeMap<String, Decimal> = BTreeMap::new();
        for req in w.by_ref() {
            for e in &req.events {
                if let EventKind::ContributionReceived { amount, .. } | EventKind::PledgeFulfilled { amount, .. } =
                    &e.kind
                {
                    *income.entry(e.project.to_string()).or_default() += usd(*amount);
                }
            }
            if let Err(err) = ledger.commit(&req) {
                panic!("seed {seed}: commit refused: {err}\n{req:#?}");
            }
        }
        assert_eq!(ledger.projection.events, events);
        let mut y = Year { income, currencies: BTreeMap::new(), kinds: BTreeMap::new(), homes: BTreeMap::new() };
        for s in ledger.projection.projects() {
            let id = s.id.to_string();
            let info = s.info.as_ref().expect("an opened project has its terms");
            y.kinds.insert(id.clone(), info.kind);
            y.homes.insert(id.clone(), info.currency);
            y.currencies.insert(id.clone(), s.balances().iter().map(|b| b.currency).collect());
            y.income.entry(id).or_default();
        }
        (y, w)
    }

    /// The most a project of each kind takes in a year, US dollars: a meetup's year is thousands, a
    /// large conference's a few million.
    fn income_max_usd(kind: ProjectKind) -> Decimal {
        Decimal::from(match kind {
            ProjectKind::Meetup => 30_000,
            ProjectKind::Workshop => 160_000,
            ProjectKind::Other => 100_000,
            ProjectKind::OpenSource => 500_000,
            ProjectKind::Conference => 8_000_000,
        })
    }

    #[test]
    fn years_of_any_size_keep_each_kind_to_its_scale_and_currencies() {
        for (events, seed) in [(12_000, 1), (12_000, 2), (2_000, 3), (300, 4), (60, 5)] {
            let (y, w) = year(events, seed);
            for (id, income) in &y.income {
                let kind = y.kinds[id];
                assert!(
                    *income <= income_max_usd(kind),
                    "{events} events, seed {seed}: {id} ({kind:?}) took {income} USD"
                );
                let held = &y.currencies[id];
                assert!(held.len() <= 2, "{events}/{seed}: {id} holds {held:?}");
                assert!(held.contains(&y.homes[id]) || held.is_empty(), "{id} lacks its home currency: {held:?}");
                if !matches!(kind, ProjectKind::Conference | ProjectKind::OpenSource) {
                    assert!(held.iter().all(|c| *c == y.homes[id]), "{id} ({kind:?}) holds {held:?}");
                }
            }
            if events < 12_000 {
                continue;
            }
            // A full year: every project open from January takes its kind's scale of money.
            for pr in w.projects.iter().take(w.initial) {
                let income = y.income[pr.id.as_str()];
                let least = pr.budget_usd / Decimal::from(4);
                assert!(
                    income >= least,
                    "seed {seed}: {} ({:?}, budget {} USD) took only {income} USD",
                    pr.id,
                    pr.kind,
                    pr.budget_usd
                );
            }
            let largest =
                y.income.iter().filter(|(id, _)| y.kinds[*id] == ProjectKind::Conference).map(|(_, i)| *i).max();
            assert!(largest >= Some(Decimal::from(200_000)), "seed {seed}: largest conference {largest:?}");
            let meetups: Vec<Decimal> =
                y.income.iter().filter(|(id, _)| y.kinds[*id] == ProjectKind::Meetup).map(|(_, i)| *i).collect();
            assert!(meetups.iter().any(|i| *i >= Decimal::from(1_000)), "seed {seed}: meetups {meetups:?}");
        }
    }

    #[test]
    fn small_runs_of_many_seeds_are_accepted() {
        for seed in 0..12 {
            let (ledger, w, _) = run(50 + seed * 37, seed);
            assert_model_matches(&ledger, &w);
        }
    }

    #[test]
    fn demo_year_is_accepted_with_the_expected_balances() {
        let mut ledger = MemoryLedger::default();
        for req in demo_year() {
            ledger.commit(&req).unwrap_or_else(|e| panic!("demo commit refused: {e}\n{req:#?}"));
        }
        let usd = currency("USD");
        let bal = |p: &str, c: Currency| {
            ledger
                .projection
                .project(p)
                .expect("project")
                .balances()
                .into_iter()
                .find(|b| b.currency == c)
                .expect("currency")
        };
        let conf = bal("rustconf-2026", usd);
        // 15000 − 12000 + 9300 + 23250 − 372 + 4650 + 2500 − 1000 − 15000
        assert_eq!(conf.balance, d("26328"));
        assert_eq!(conf.advances_outstanding, Decimal::ZERO);
        assert_eq!(conf.restricted[0].balance, d("1220"));
        assert_eq!(bal("berlin-rust-meetup", currency("EUR")).balance, d("2550"));
        assert_eq!(bal("tokyo-rust-workshop", currency("JPY")).balance, d("182000"));
        assert_eq!(bal("tokyo-rust-workshop", usd).balance, d("650"));
        assert_eq!(bal("serde-tools", usd).balance, d("4800"));
        assert_eq!(ledger.projection.sponsor_closed_through(), Some(last_day(2026, 4)));
    }
}
