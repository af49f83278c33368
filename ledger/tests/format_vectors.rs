//! The test vectors of `docs/FORMAT.md`: the ledger must produce exactly the bytes, hashes, commit
//! entries, heads and store keys the page lists, and the page alone must be enough to check them
//! (an independent verifier here uses only `blake3`, the page's vectors and a reader written from the
//! page's rules).
//!
//! To regenerate the vectors after a deliberate format change (which needs a new format version), run
//! `FISCUS_BLESS_VECTORS=1 cargo test -p fiscus-ledger --test format_vectors`: the comparing test then
//! rewrites the page's `fiscus-vectors` and `fiscus-annotated` blocks in place.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::NaiveDate;
use fiscus_ledger::chain::{genesis_hash, Hash};
use fiscus_ledger::commit::{CommitRequest, Group, MemoryLedger, MemoryLookup, StagedCommit};
use fiscus_ledger::event::{Event, EventKind, ExpenseDetails, Fund, ProjectKind, Receipt, Source};
use fiscus_ledger::money::{Currency, Money};
use fiscus_ledger::projection::Projection;
use fiscus_ledger::record::{encode_value, Record};
use fiscus_ledger::store::{head_value, open_tree, Store, CHUNK_COMMITS, CHUNK_RECORDS};
use fiscus_ledger::ProjectId;
use rust_decimal::Decimal;

/// The specification page.
const FORMAT_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/FORMAT.md");

/// Set to rewrite the page's vector blocks with what the ledger produces.
const BLESS: &str = "FISCUS_BLESS_VECTORS";

/// The opening line of the fenced blocks that hold vectors.
const FENCE: &str = "```fiscus-vectors";

/// The opening line of the fenced block that holds the annotated record.
const ANNOTATED_FENCE: &str = "```fiscus-annotated";

/// `recorded_at` of commit 1 (2026-01-05T09:00:00.123456Z); each later commit is one day later.
const RECORDED_AT_1: i64 = 1_767_603_600_123_456;

/// One day in microseconds.
const DAY_US: i64 = 86_400_000_000;

/// The actor of every vector commit.
const ACTOR: &str = "accountant:alice";

/// The commits of the vectors.
const COMMITS: u64 = 7;

fn money(amount: &str, currency: &str) -> Money {
    Money::parse("amount", amount, currency).expect("vector amount")
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("vector date")
}

fn project(id: &str) -> ProjectId {
    ProjectId::parse("project", id).expect("vector project id")
}

fn event(id: &str, chain: &str, date: NaiveDate, memo: &str, reference: Option<&str>, kind: EventKind) -> Event {
    Event {
        event_id: id.to_owned(),
        project: project(chain),
        effective_date: date,
        memo: memo.to_owned(),
        reference: reference.map(str::to_owned),
        kind,
    }
}

fn receipt_hash() -> Hash {
    *blake3::hash(b"invoice VH-2026-017").as_bytes()
}

fn recorded_at(commit: u64) -> i64 {
    RECORDED_AT_1 + i64::try_from(commit - 1).expect("few commits") * DAY_US
}

fn request(number: u64, events: Vec<Event>) -> CommitRequest {
    CommitRequest {
        allow_same_receipt: false,
        events,
        expected_heads: vec![],
        actor: ACTOR.to_owned(),
        recorded_at: recorded_at(number),
    }
}

/// The commit requests of the vectors, in commit order (commit n is `requests()[n - 1]`).
fn requests() -> Vec<CommitRequest> {
    let usd = Currency::from_code("USD").expect("USD");
    let eur = Currency::from_code("EUR").expect("EUR");
    let rc = "rustconf-2026";
    let py = "pyweek-2026";
    let commits = vec![
        // 1: rustconf-2026 seq 1
        vec![event(
            "rc-open",
            rc,
            day(2026, 1, 5),
            "",
            None,
            EventKind::ProjectOpened {
                name: "RustConf 2026".to_owned(),
                kind: ProjectKind::Conference,
                fee_bps: 700,
                currency: usd,
                advance_limit: Decimal::from(5_000),
            },
        )],
        // 2: rustconf-2026 seq 2, fee_bps completed by the ledger
        vec![event(
            "rc-sp-0001",
            rc,
            day(2026, 1, 6),
            "Gold sponsorship",
            Some("SO-2026-001"),
            EventKind::ContributionReceived {
                amount: money("12500.50", "USD"),
                from: "Ferris Industries".to_owned(),
                source: Source::Sponsorship,
                fund: Fund::Unrestricted,
                fee_bps: None,
            },
        )],
        // 3: rustconf-2026 seq 3, a direct expense
        vec![event(
            "rc-exp-0001",
            rc,
            day(2026, 1, 7),
            "Venue deposit\nhall B",
            Some("VH-2026-017"),
            EventKind::ExpensePaid {
                request: None,
                details: Some(ExpenseDetails {
                    amount: money("1234.56", "USD"),
                    payee: "Venue Hall GmbH".to_owned(),
                    category: "venue".to_owned(),
                    fund: Fund::Unrestricted,
                    receipt: Receipt { hash: receipt_hash(), file_name: "VH-2026-017.pdf".to_owned() },
                }),
            },
        )],
        // 4: rustconf-2026 seq 4, the reversal of seq 3 (target completed by the ledger)
        vec![event(
            "rc-rev-0001",
            rc,
            day(2026, 1, 8),
            "",
            None,
            EventKind::EventReversed { target_seq: 3, reason: "paid twice".to_owned(), target: None },
        )],
        // 5: pyweek-2026 seq 1
        vec![event(
            "py-open",
            py,
            day(2026, 1, 9),
            "",
            None,
            EventKind::ProjectOpened {
                name: "PyWeek 2026".to_owned(),
                kind: ProjectKind::OpenSource,
                fee_bps: 500,
                currency: eur,
                advance_limit: Decimal::new(25_050, 2),
            },
        )],
        // 6: a sponsorship package: rustconf-2026 seq 5 and pyweek-2026 seq 2 in one commit
        vec![
            event(
                "pkg-0001-rc",
                rc,
                day(2026, 1, 10),
                "Package ACME-1",
                Some("PKG-ACME-1"),
                EventKind::ContributionReceived {
                    amount: money("3000", "USD"),
                    from: "Acme".to_owned(),
                    source: Source::Sponsorship,
                    fund: Fund::Unrestricted,
                    fee_bps: None,
                },
            ),
            event(
                "pkg-0001-py",
                py,
                day(2026, 1, 10),
                "Package ACME-1",
                Some("PKG-ACME-1"),
                EventKind::ContributionReceived {
                    amount: money("800.5", "EUR"),
                    from: "Acme".to_owned(),
                    source: Source::Sponsorship,
                    fund: Fund::Restricted("sprints".to_owned()),
                    fee_bps: Some(250),
                },
            ),
        ],
        // 7: sponsor seq 1, the books of 2025 closed sponsor-wide
        vec![event(
            "close-2025",
            "sponsor",
            day(2026, 1, 11),
            "Year end",
            None,
            EventKind::PeriodClosed { through: day(2025, 12, 31) },
        )],
    ];
    commits.into_iter().zip(1..).map(|(events, n)| request(n, events)).collect()
}

/// Stages `requests` one commit at a time on an empty in-memory ledger.
fn build_from(requests: &[CommitRequest]) -> (Vec<StagedCommit>, Projection) {
    let mut projection = Projection::new();
    let mut lookup = MemoryLookup::default();
    let mut all = Vec::new();
    for req in requests {
        let mut group = Group::new(&projection);
        group.stage(req, &lookup).expect("vector commit accepted");
        let commits = projection.absorb(group.finish());
        lookup.absorb(&commits);
        all.extend(commits);
    }
    (all, projection)
}

/// Stages the vector requests.
fn build() -> (Vec<StagedCommit>, Projection) {
    build_from(&requests())
}

/// The chains of the vectors in order of first appearance.
fn chains(commits: &[StagedCommit]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in commits.iter().flat_map(|c| &c.records) {
        let p = r.event.project.as_str();
        if !out.iter().any(|q| q == p) {
            out.push(p.to_owned());
        }
    }
    out
}

/// One fenced block of vectors: a title (a comment line) and its `label: value` lines.
struct Section {
    title: String,
    lines: Vec<(String, String)>,
}

impl Section {
    fn render(&self) -> String {
        let mut out = format!("{FENCE}\n# {}\n", self.title);
        for (label, value) in &self.lines {
            writeln!(out, "{label}: {value}").expect("write to a String");
        }
        out.push_str("```\n");
        out
    }
}

/// The vectors as the ledger produces them, block by block, in page order.
fn produced_sections() -> Vec<Section> {
    let (commits, projection) = build();
    let projects = chains(&commits);
    let mut out = Vec::new();
    let genesis = projects.iter().map(|p| (format!("genesis {p}"), hex::encode(genesis_hash(&project(p))))).collect();
    out.push(Section { title: "Genesis hashes".to_owned(), lines: genesis });
    for c in &commits {
        let n = c.entry.number;
        let mut lines = Vec::new();
        let mut title = format!("Commit {n}:");
        for r in &c.records {
            let p = r.event.project.as_str();
            write!(title, " {p} seq {} {},", r.seq, r.event.kind.name()).expect("write to a String");
            lines.push((format!("record {p} {}", r.seq), hex::encode(&r.bytes)));
            lines.push((format!("record-hash {p} {}", r.seq), hex::encode(r.hash)));
        }
        title.pop();
        let listed: Vec<String> = c.entry.records.iter().map(|l| format!("{}/{}", l.project, l.seq)).collect();
        lines.push((format!("commit-records {n}"), listed.join(" ")));
        lines.push((format!("commit {n}"), hex::encode(c.entry.hash)));
        lines.push((format!("commit-entry {n}"), hex::encode(encode_value(&c.entry))));
        out.push(Section { title, lines });
    }
    let mut heads = Vec::new();
    for p in &projects {
        let state = projection.project(p).expect("vector project has a state");
        heads.push((format!("head {p}"), format!("{} {}", state.head.seq, hex::encode(state.head.hash))));
        heads.push((format!("head-value {p}"), hex::encode(head_value(&state.head))));
    }
    let head = projection.commit_head;
    heads.push(("commit-head".to_owned(), format!("{} {}", head.number, hex::encode(head.hash))));
    out.push(Section { title: "Heads".to_owned(), lines: heads });
    out
}

/// The annotated dump of record `rustconf-2026` seq 2, as the ledger produces it.
fn produced_annotation() -> String {
    let (commits, _) = build();
    let record = commits
        .iter()
        .flat_map(|c| &c.records)
        .find(|r| r.event.project.as_str() == "rustconf-2026" && r.seq == 2)
        .expect("the vectors hold rustconf-2026 seq 2");
    annotate_contribution(&record.bytes)
}

/// The line ranges (opening fence line, closing fence line) of the blocks opened by `fence`.
fn blocks(lines: &[&str], fence: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut open = None;
    for (i, line) in lines.iter().enumerate() {
        let line = line.trim_end();
        match open {
            None if line == fence => open = Some(i),
            Some(start) if line == "```" => {
                out.push((start, i));
                open = None;
            }
            _ => {}
        }
    }
    assert!(open.is_none(), "FORMAT.md has an unclosed {fence} block");
    out
}

/// `page` with its vector blocks replaced, in place and in order, by `sections` (blocks beyond the
/// page's are added after its last one, surplus blocks removed) and its annotated block's body by
/// `annotation`.
fn blessed(page: &str, sections: &[Section], annotation: &str) -> String {
    let lines: Vec<&str> = page.lines().collect();
    let vector_blocks = blocks(&lines, FENCE);
    let Some(&(_, last_end)) = vector_blocks.last() else {
        panic!("FORMAT.md has no {FENCE} block to put the vectors in");
    };
    let annotated = blocks(&lines, ANNOTATED_FENCE);
    assert_eq!(annotated.len(), 1, "FORMAT.md has one {ANNOTATED_FENCE} block");
    // What replaces each line range: (start, end inclusive, text).
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let (a_start, a_end) = annotated[0];
    edits.push((a_start, a_end, format!("{ANNOTATED_FENCE}\n{annotation}```\n")));
    for (i, &(start, end)) in vector_blocks.iter().enumerate() {
        match sections.get(i) {
            Some(s) if i + 1 == vector_blocks.len() => {
                let rest: Vec<String> = sections[i + 1..].iter().map(Section::render).collect();
                let mut text = s.render();
                for r in rest {
                    text.push('\n');
                    text.push_str(&r);
                }
                edits.push((start, end, text));
            }
            Some(s) => edits.push((start, end, s.render())),
            None => {
                // A surplus block goes, with the blank line after it.
                let end = if lines.get(end + 1).is_some_and(|l| l.trim().is_empty()) { end + 1 } else { end };
                edits.push((start, end, String::new()));
            }
        }
    }
    debug_assert!(last_end < lines.len());
    edits.sort_by_key(|e| e.0);
    let mut out = String::new();
    let mut at = 0;
    for (start, end, text) in edits {
        for line in &lines[at..start] {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str(&text);
        at = end + 1;
    }
    for line in &lines[at..] {
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn blessing() -> bool {
    std::env::var_os(BLESS).is_some_and(|v| !v.is_empty() && v != "0")
}

/// The page as the tests read it: the file, or, when blessing, the file with fresh vectors (so that
/// every test of a blessing run sees what is being written).
fn page_text() -> String {
    let text = std::fs::read_to_string(FORMAT_MD).expect("docs/FORMAT.md is readable");
    if blessing() {
        blessed(&text, &produced_sections(), &produced_annotation())
    } else {
        text
    }
}

/// Every `label: value` line of the page's vector blocks.
fn page_vectors() -> BTreeMap<String, String> {
    parse_vectors(&page_text())
}

fn parse_vectors(text: &str) -> BTreeMap<String, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = BTreeMap::new();
    for (start, end) in blocks(&lines, FENCE) {
        for line in &lines[start + 1..end] {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (label, value) = line.split_once(": ").expect("a vector line is `label: value`");
            let old = out.insert(label.trim().to_owned(), value.trim().to_owned());
            assert!(old.is_none(), "FORMAT.md lists {label:?} twice");
        }
    }
    assert!(!out.is_empty(), "FORMAT.md has no {FENCE} lines");
    out
}

fn page_hex(vectors: &BTreeMap<String, String>, label: &str) -> Vec<u8> {
    let value = vectors.get(label).unwrap_or_else(|| panic!("FORMAT.md has no vector {label:?}"));
    hex::decode(value).unwrap_or_else(|e| panic!("vector {label:?} is not hex: {e}"))
}

fn page_hash(vectors: &BTreeMap<String, String>, label: &str) -> Hash {
    page_hex(vectors, label).try_into().unwrap_or_else(|_| panic!("vector {label:?} is not 32 bytes"))
}

#[test]
fn page_vectors_are_what_the_ledger_produces() {
    let text = std::fs::read_to_string(FORMAT_MD).expect("docs/FORMAT.md is readable");
    let sections = produced_sections();
    let annotation = produced_annotation();
    let fresh = blessed(&text, &sections, &annotation);
    if fresh == text {
        return;
    }
    if blessing() {
        let tmp = format!("{FORMAT_MD}.tmp");
        std::fs::write(&tmp, &fresh).expect("write the blessed page");
        std::fs::rename(&tmp, FORMAT_MD).expect("replace docs/FORMAT.md");
        eprintln!("rewrote the vector blocks of {FORMAT_MD}");
        return;
    }
    let page = parse_vectors(&text);
    let produced: Vec<&(String, String)> = sections.iter().flat_map(|s| &s.lines).collect();
    for (label, value) in &produced {
        match page.get(label) {
            None => eprintln!("missing on the page: {label}"),
            Some(v) if v != value => eprintln!("differs: {label}\n  page:     {v}\n  produced: {value}"),
            Some(_) => {}
        }
    }
    for label in page.keys().filter(|l| !produced.iter().any(|(p, _)| p == *l)) {
        eprintln!("on the page but not produced: {label}");
    }
    eprintln!("\nThe vector blocks as the ledger produces them:\n");
    for s in &sections {
        eprintln!("{}", s.render());
    }
    eprintln!("{ANNOTATED_FENCE}\n{annotation}```\n");
    panic!(
        "docs/FORMAT.md's vectors (or its annotated record) differ from what the ledger produces; if the \
         format changed on purpose, set {BLESS}=1 to rewrite docs/FORMAT.md's vector blocks"
    );
}

#[test]
fn bless_rewrites_blocks_in_place() {
    let s =
        |title: &str, v: &str| Section { title: title.to_owned(), lines: vec![(format!("x {title}"), v.to_owned())] };
    let page = "intro\n```fiscus-annotated\nold\n```\ntext\n```fiscus-vectors\na: 1\n```\n\nmiddle\n\n```fiscus-vectors\nb: 2\n```\n\nend\n";
    let two = blessed(page, &[s("A", "1"), s("B", "2")], "dump\n");
    assert_eq!(
        two,
        "intro\n```fiscus-annotated\ndump\n```\ntext\n```fiscus-vectors\n# A\nx A: 1\n```\n\nmiddle\n\n```fiscus-vectors\n# B\nx B: 2\n```\n\nend\n"
    );
    let three = blessed(page, &[s("A", "1"), s("B", "2"), s("C", "3")], "dump\n");
    assert!(
        three.ends_with("```fiscus-vectors\n# B\nx B: 2\n```\n\n```fiscus-vectors\n# C\nx C: 3\n```\n\nend\n"),
        "{three}"
    );
    let one = blessed(page, &[s("A", "1")], "dump\n");
    assert_eq!(
        one,
        "intro\n```fiscus-annotated\ndump\n```\ntext\n```fiscus-vectors\n# A\nx A: 1\n```\n\nmiddle\n\nend\n"
    );
    assert_eq!(parse_vectors(&three).len(), 3);
    assert_eq!(blessed(&two, &[s("A", "1"), s("B", "2")], "dump\n"), two, "blessing twice changes nothing");
}

#[test]
fn page_records_decode_to_the_records_committed() {
    let page = page_vectors();
    let (commits, _) = build();
    for c in &commits {
        for r in &c.records {
            let p = r.event.project.as_str();
            let bytes = page_hex(&page, &format!("record {p} {}", r.seq));
            let decoded = Record::decode(&bytes).expect("a vector record decodes");
            assert_eq!(decoded.version, 1);
            assert_eq!(decoded.seq, r.seq);
            assert_eq!(decoded.commit, c.entry.number);
            assert_eq!(decoded.recorded_at, recorded_at(c.entry.number));
            assert_eq!(decoded.actor, ACTOR);
            assert_eq!(decoded.event, r.event, "record {p} {} decodes to another event", r.seq);
            assert_eq!(decoded.encode(), bytes, "record {p} {} re-encodes to other bytes", r.seq);
        }
    }
}

#[test]
fn memory_ledger_reaches_the_page_heads() {
    let page = page_vectors();
    let mut ledger = MemoryLedger::default();
    for (req, n) in requests().iter().zip(1..) {
        let answer = ledger.commit(req).expect("vector commit accepted");
        assert_eq!(answer.commit, n);
        assert!(!answer.duplicate);
        let again = ledger.commit(req).expect("a retried commit is answered");
        assert!(again.duplicate && again.commit == n, "a retry is the same commit, nothing new stored");
    }
    let head = ledger.projection.commit_head;
    assert_eq!(page["commit-head"], format!("{} {}", head.number, hex::encode(head.hash)));
    for p in ["rustconf-2026", "pyweek-2026", "sponsor"] {
        let state = ledger.projection.project(p).expect("chain");
        assert_eq!(page[&format!("head {p}")], format!("{} {}", state.head.seq, hex::encode(state.head.hash)));
    }
}

/// A reader of the page's primitive encodings, written from FORMAT.md alone.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let out = self.bytes.get(self.at..self.at + n).expect("field runs past the end");
        self.at += n;
        out
    }

    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }

    /// Unsigned varint: ≤ 250 itself; 251 + u16 LE; 252 + u32 LE; 253 + u64 LE; shortest form only.
    fn varint(&mut self) -> u64 {
        let (v, min) = match self.u8() {
            b @ 0..=250 => return u64::from(b),
            251 => (u64::from(u16::from_le_bytes(self.take(2).try_into().expect("2 bytes"))), 251),
            252 => (u64::from(u32::from_le_bytes(self.take(4).try_into().expect("4 bytes"))), 1 << 16),
            253 => (u64::from_le_bytes(self.take(8).try_into().expect("8 bytes")), 1 << 32),
            b => panic!("varint marker {b} is invalid"),
        };
        assert!(v >= min, "varint {v} not in its shortest form");
        v
    }

    /// Signed varint: zigzag (0, -1, 1, -2 … → 0, 1, 2, 3 …) then unsigned varint.
    fn zigzag(&mut self) -> i64 {
        let z = self.varint();
        let half = i64::try_from(z >> 1).expect("63 bits");
        if z & 1 == 0 {
            half
        } else {
            -half - 1
        }
    }

    fn string(&mut self) -> &'a str {
        let len = usize::try_from(self.varint()).expect("length");
        std::str::from_utf8(self.take(len)).expect("strings are UTF-8")
    }

    /// A hash: byte string of length 32 (the varint 0x20), then the bytes.
    fn hash(&mut self) -> Hash {
        assert_eq!(self.varint(), 32, "a hash is a byte string of 32 bytes");
        self.take(32).try_into().expect("32 bytes")
    }

    fn option(&mut self) -> bool {
        match self.u8() {
            0 => false,
            1 => true,
            b => panic!("option tag {b}"),
        }
    }

    /// A decimal as (zigzag mantissa, u8 scale), normalised, shown as text.
    fn decimal(&mut self) -> String {
        let mantissa = self.zigzag();
        let scale = self.u8();
        assert!(scale <= 28);
        assert!(scale == 0 || mantissa % 10 != 0, "decimal not normalised");
        Decimal::new(mantissa, u32::from(scale)).to_string()
    }

    fn currency(&mut self) -> &'a str {
        std::str::from_utf8(self.take(3)).expect("ASCII code")
    }

    /// Money: 3 code bytes, then the decimal.
    fn money(&mut self) -> String {
        let code = self.currency();
        format!("{} {code}", self.decimal())
    }

    /// A date: u32 varint yyyymmdd.
    fn date(&mut self) -> u64 {
        self.varint()
    }

    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }
}

/// The fields every record starts with, up to the event's variant index.
struct Head {
    version: u8,
    project: String,
    seq: u64,
    prev: Hash,
    commit: u64,
    recorded_at: i64,
    actor: String,
    event_id: String,
    date: u64,
    memo: String,
    reference: Option<String>,
    kind: u64,
}

fn read_head(r: &mut Reader<'_>) -> Head {
    Head {
        version: r.u8(),
        project: r.string().to_owned(),
        seq: r.varint(),
        prev: r.hash(),
        commit: r.varint(),
        recorded_at: r.zigzag(),
        actor: r.string().to_owned(),
        event_id: r.string().to_owned(),
        date: r.date(),
        memo: r.string().to_owned(),
        reference: if r.option() { Some(r.string().to_owned()) } else { None },
        kind: r.varint(),
    }
}

/// The annotated dump of a `ContributionReceived` record (section 2 of the page), read by hand.
fn annotate_contribution(bytes: &[u8]) -> String {
    let mut r = Reader::new(bytes);
    let mut out = String::new();
    let mut note = |r: &Reader<'_>, start: usize, what: String| {
        writeln!(out, "{start:>3}  {what}\n     {}", hex::encode(&r.bytes[start..r.at])).expect("write to a String");
    };
    let quoted = |s: &str| format!("length {}, {s:?}", s.len());
    let mut s = r.at;
    let version = r.u8();
    note(&r, s, format!("version: u8 {version}"));
    s = r.at;
    let p = r.string();
    note(&r, s, format!("project: string, {}", quoted(p)));
    s = r.at;
    let seq = r.varint();
    note(&r, s, format!("seq: varint {seq}"));
    s = r.at;
    r.hash();
    note(&r, s, "prev: hash, length 0x20 then 32 bytes".to_owned());
    s = r.at;
    let commit = r.varint();
    note(&r, s, format!("commit: varint {commit}"));
    s = r.at;
    let at = r.zigzag();
    note(&r, s, format!("recorded_at: zigzag varint of {at}"));
    s = r.at;
    let actor = r.string();
    note(&r, s, format!("actor: string, {}", quoted(actor)));
    s = r.at;
    let id = r.string();
    note(&r, s, format!("event_id: string, {}", quoted(id)));
    s = r.at;
    let date = r.date();
    note(&r, s, format!("effective_date: varint {date} (yyyymmdd)"));
    s = r.at;
    let memo = r.string();
    note(&r, s, format!("memo: string, {}", quoted(memo)));
    s = r.at;
    let some = r.option();
    note(&r, s, format!("reference: option tag {}", u8::from(some)));
    if some {
        s = r.at;
        let reference = r.string();
        note(&r, s, format!("reference: string, {}", quoted(reference)));
    }
    s = r.at;
    let kind = r.varint();
    assert_eq!(kind, 2, "the annotated record is a ContributionReceived");
    note(&r, s, format!("kind: varint {kind} = ContributionReceived"));
    s = r.at;
    let code = r.currency();
    note(&r, s, format!("amount.currency: 3 bytes {code:?}"));
    s = r.at;
    let (mantissa, scale) = (r.zigzag(), r.u8());
    note(&r, s, format!("amount.amount: zigzag varint mantissa {mantissa}, u8 scale {scale}"));
    s = r.at;
    let from = r.string();
    note(&r, s, format!("from: string, {}", quoted(from)));
    s = r.at;
    let source = r.varint();
    let names = ["Sponsorship", "Donation", "TicketSales", "Grant", "Other"];
    note(&r, s, format!("source: varint {source} = {}", names[usize::try_from(source).expect("small")]));
    s = r.at;
    let fund = r.varint();
    assert_eq!(fund, 0, "the annotated record's fund is unrestricted");
    note(&r, s, format!("fund: varint {fund} = Unrestricted"));
    s = r.at;
    let some = r.option();
    assert!(some, "fee_bps is completed");
    note(&r, s, "fee_bps: option tag 1".to_owned());
    s = r.at;
    let fee = r.varint();
    note(&r, s, format!("fee_bps: varint {fee}"));
    assert!(r.done());
    writeln!(out, "{:>3}  end ({} bytes)", r.at, bytes.len()).expect("write to a String");
    out
}

#[test]
fn records_decode_by_hand_following_the_page() {
    let page = page_vectors();

    // ProjectOpened (index 0): name, kind, fee_bps, currency, advance_limit.
    let bytes = page_hex(&page, "record rustconf-2026 1");
    let mut r = Reader::new(&bytes);
    let h = read_head(&mut r);
    assert_eq!(h.version, 1);
    assert_eq!(h.project, "rustconf-2026");
    assert_eq!(h.seq, 1);
    assert_eq!(h.prev, page_hash(&page, "genesis rustconf-2026"));
    assert_eq!(h.commit, 1);
    assert_eq!(h.recorded_at, RECORDED_AT_1);
    assert_eq!(h.actor, ACTOR);
    assert_eq!(h.event_id, "rc-open");
    assert_eq!(h.date, 20_260_105);
    assert_eq!(h.memo, "");
    assert_eq!(h.reference, None);
    assert_eq!(h.kind, 0);
    assert_eq!(r.string(), "RustConf 2026");
    assert_eq!(r.varint(), 0, "ProjectKind::Conference");
    assert_eq!(r.varint(), 700);
    assert_eq!(r.currency(), "USD");
    assert_eq!(r.decimal(), "5000");
    assert!(r.done());
    // The prev field's bytes: 0x20, then the genesis hash.
    let prev_at = 1 + 1 + "rustconf-2026".len() + 1;
    assert_eq!(bytes[prev_at], 0x20);
    assert_eq!(bytes[prev_at + 1..prev_at + 33], page_hash(&page, "genesis rustconf-2026"));

    // ContributionReceived (index 2): amount, from, source, fund, fee_bps (completed).
    let bytes = page_hex(&page, "record rustconf-2026 2");
    let mut r = Reader::new(&bytes);
    let h = read_head(&mut r);
    assert_eq!((h.seq, h.commit, h.kind), (2, 2, 2));
    assert_eq!(h.prev, page_hash(&page, "record-hash rustconf-2026 1"));
    assert_eq!(h.reference.as_deref(), Some("SO-2026-001"));
    assert_eq!(r.money(), "12500.5 USD");
    assert_eq!(r.string(), "Ferris Industries");
    assert_eq!(r.varint(), 0, "Source::Sponsorship");
    assert_eq!(r.varint(), 0, "Fund::Unrestricted");
    assert!(r.option(), "fee_bps is completed");
    assert_eq!(r.varint(), 700);
    assert!(r.done());

    // ExpensePaid (index 9): request, details.
    let bytes = page_hex(&page, "record rustconf-2026 3");
    let mut r = Reader::new(&bytes);
    let h = read_head(&mut r);
    assert_eq!((h.seq, h.kind), (3, 9));
    assert_eq!(h.memo, "Venue deposit\nhall B");
    assert!(!r.option(), "no request");
    assert!(r.option(), "details");
    assert_eq!(r.money(), "1234.56 USD");
    assert_eq!(r.string(), "Venue Hall GmbH");
    assert_eq!(r.string(), "venue");
    assert_eq!(r.varint(), 0, "Fund::Unrestricted");
    assert_eq!(r.hash(), receipt_hash());
    assert_eq!(r.string(), "VH-2026-017.pdf");
    assert!(r.done());

    // EventReversed (index 19): target_seq, reason, target (the ExpensePaid kind, nested).
    let bytes = page_hex(&page, "record rustconf-2026 4");
    let mut r = Reader::new(&bytes);
    let h = read_head(&mut r);
    assert_eq!((h.seq, h.kind), (4, 19));
    assert_eq!(r.varint(), 3);
    assert_eq!(r.string(), "paid twice");
    assert!(r.option(), "target is completed");
    assert_eq!(r.varint(), 9, "the target is an ExpensePaid");
    assert!(!r.option());
    assert!(r.option());
    assert_eq!(r.money(), "1234.56 USD");
    assert_eq!(r.string(), "Venue Hall GmbH");
    assert_eq!(r.string(), "venue");
    assert_eq!(r.varint(), 0);
    assert_eq!(r.hash(), receipt_hash());
    assert_eq!(r.string(), "VH-2026-017.pdf");
    assert!(r.done());

    // A second project: ProjectOpened with a decimal advance limit, then a restricted contribution.
    let bytes = page_hex(&page, "record pyweek-2026 1");
    let mut r = Reader::new(&bytes);
    let h = read_head(&mut r);
    assert_eq!((h.project.as_str(), h.seq, h.commit, h.kind), ("pyweek-2026", 1, 5, 0));
    assert_eq!(h.prev, page_hash(&page, "genesis pyweek-2026"));
    assert_eq!(r.string(), "PyWeek 2026");
    assert_eq!(r.varint(), 3, "ProjectKind::OpenSource");
    assert_eq!(r.varint(), 500);
    assert_eq!(r.currency(), "EUR");
    let (mantissa, scale) = (r.zigzag(), r.u8());
    assert_eq!((mantissa, scale), (2505, 1), "250.50 is stored normalised as 2505 × 10^-1");
    assert!(r.done());

    let bytes = page_hex(&page, "record pyweek-2026 2");
    let mut r = Reader::new(&bytes);
    let h = read_head(&mut r);
    assert_eq!((h.seq, h.commit, h.kind), (2, 6, 2));
    assert_eq!(r.money(), "800.5 EUR");
    assert_eq!(r.string(), "Acme");
    assert_eq!(r.varint(), 0);
    assert_eq!(r.varint(), 1, "Fund::Restricted");
    assert_eq!(r.string(), "sprints");
    assert!(r.option());
    assert_eq!(r.varint(), 250);
    assert!(r.done());

    // PeriodClosed (index 21) on the sponsor chain: through, a date.
    let bytes = page_hex(&page, "record sponsor 1");
    let mut r = Reader::new(&bytes);
    let h = read_head(&mut r);
    assert_eq!((h.project.as_str(), h.seq, h.commit, h.kind), ("sponsor", 1, 7, 21));
    assert_eq!(h.prev, page_hash(&page, "genesis sponsor"));
    assert_eq!(h.date, 20_260_111);
    assert_eq!(r.date(), 20_251_231);
    assert!(r.done());
}

/// An auditor's verification of the page's vectors, from the page's rules alone: only `blake3`,
/// the hex of the vectors and a hand-written reader; none of the ledger's hashing or decoding.
#[test]
fn page_alone_suffices_to_verify_the_vectors() {
    let page = page_vectors();
    let mut records: Vec<(String, u64)> = page
        .keys()
        .filter_map(|k| k.strip_prefix("record ").and_then(|rest| rest.split_once(' ')))
        .map(|(p, s)| (p.to_owned(), s.parse().expect("seq")))
        .collect();
    assert_eq!(records.len(), 8);
    records.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));

    // Record chains: seq from 1 without a gap, prev links, record hashes.
    let mut heads: BTreeMap<String, (u64, Hash)> = BTreeMap::new();
    let mut hash_of: BTreeMap<(String, u64), Hash> = BTreeMap::new();
    let mut commit_of: BTreeMap<(String, u64), (u64, i64)> = BTreeMap::new();
    for (p, seq) in &records {
        let genesis = blake3::derive_key("fiscus genesis v1", p.as_bytes());
        assert_eq!(page_hash(&page, &format!("genesis {p}")), genesis);
        let (head_seq, head_hash) = heads.entry(p.clone()).or_insert((0, genesis));
        let bytes = page_hex(&page, &format!("record {p} {seq}"));
        let mut r = Reader::new(&bytes);
        let h = read_head(&mut r);
        assert_eq!(h.version, 1);
        assert_eq!(&h.project, p);
        assert_eq!(h.seq, *head_seq + 1, "{p}: seqs run from 1 without a gap");
        assert_eq!(h.prev, *head_hash, "{p} {seq}: prev is the hash of the record before");
        let hash = blake3::derive_key("fiscus record v1", &bytes);
        assert_eq!(hash, page_hash(&page, &format!("record-hash {p} {seq}")), "{p} {seq}: record hash");
        *head_seq = h.seq;
        *head_hash = hash;
        hash_of.insert((p.clone(), *seq), hash);
        commit_of.insert((p.clone(), *seq), (h.commit, h.recorded_at));
    }

    // Commit chain: numbers from 1, each hash = blake3(prev ‖ number u64 BE ‖ record hashes);
    // every record listed exactly once, in seq order per project, with its hash.
    let mut prev = [0u8; 32];
    let mut number = 0u64;
    let mut listed: BTreeMap<String, Vec<Hash>> = BTreeMap::new();
    while let Some(entry) = page.get(&format!("commit-entry {}", number + 1)) {
        number += 1;
        let entry = hex::decode(entry).expect("hex");
        let mut r = Reader::new(&entry);
        assert_eq!(r.u8(), 1, "version");
        assert_eq!(r.varint(), number);
        let at = r.zigzag();
        assert_eq!(at, recorded_at(number));
        let count = r.varint();
        let mut h = blake3::Hasher::new();
        h.update(&prev);
        h.update(&number.to_be_bytes());
        let mut names = Vec::new();
        for _ in 0..count {
            let p = r.string().to_owned();
            let seq = r.varint();
            let hash = r.hash();
            let list = listed.entry(p.clone()).or_default();
            assert_eq!(seq, list.len() as u64 + 1, "commit {number} lists {p}/{seq} out of order");
            list.push(hash);
            assert_eq!(hash_of[&(p.clone(), seq)], hash, "{p}/{seq}: the listed hash is the record's");
            assert_eq!(commit_of[&(p.clone(), seq)], (number, at), "{p}/{seq} names its commit and time");
            h.update(&hash);
            names.push(format!("{p}/{seq}"));
        }
        let hash: Hash = *h.finalize().as_bytes();
        assert_eq!(r.hash(), hash, "commit {number}: the stored commit hash");
        assert!(r.done());
        assert_eq!(hash, page_hash(&page, &format!("commit {number}")), "commit {number} hash");
        assert_eq!(page[&format!("commit-records {number}")], names.join(" "));
        prev = hash;
    }
    assert_eq!(number, COMMITS);

    // Records against the listing: the same sequence of hashes per project.
    for (p, (seq, _)) in &heads {
        let stored: Vec<Hash> = (1..=*seq).map(|s| hash_of[&(p.clone(), s)]).collect();
        assert_eq!(listed[p], stored, "{p}: the commit log lists every record, once, in order");
    }
    assert_eq!(listed.len(), heads.len());

    // Heads: the project heads and the commit head.
    for (p, (seq, hash)) in &heads {
        assert_eq!(page[&format!("head {p}")], format!("{seq} {}", hex::encode(hash)));
        let mut value = seq.to_be_bytes().to_vec();
        value.extend_from_slice(hash);
        assert_eq!(page_hex(&page, &format!("head-value {p}")), value);
    }
    assert_eq!(page["commit-head"], format!("{number} {}", hex::encode(prev)));
}

/// Every key and value of a store's tree.
/// Every key and value of the store, a compressed value (one starting with the zstd magic) as its
/// decompressed content; and the keys whose values were compressed.
type Keys = BTreeMap<Vec<u8>, Vec<u8>>;

fn stored(dir: &std::path::Path) -> (Keys, Vec<Vec<u8>>) {
    let (_db, tree) = open_tree(dir).expect("open tree");
    let mut out = BTreeMap::new();
    let mut compressed = Vec::new();
    for item in tree.iter() {
        let (k, v) = item.expect("read store");
        let v = if v.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            compressed.push(k.to_vec());
            zstd::decode_all(v.as_ref()).expect("a zstd frame")
        } else {
            v.to_vec()
        };
        out.insert(k.to_vec(), v);
    }
    (out, compressed)
}

fn framed(items: &[&[u8]]) -> Vec<u8> {
    let mut value = Vec::new();
    for item in items {
        value.extend_from_slice(&u32::try_from(item.len()).expect("small").to_le_bytes());
        value.extend_from_slice(item);
    }
    value
}

fn commit_key(n: u64) -> Vec<u8> {
    let mut key = vec![b'c'];
    key.extend_from_slice(&n.to_be_bytes());
    key
}

fn chain_key(prefix: u8, project: &str, seq: u64) -> Vec<u8> {
    let mut key = vec![prefix];
    key.extend_from_slice(project.as_bytes());
    key.push(0);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// A sealed chunk's key.
fn record_key(project: &str, seq: u64) -> Vec<u8> {
    chain_key(b'r', project, seq)
}

/// An unsealed tail record's key.
fn tail_key(project: &str, seq: u64) -> Vec<u8> {
    chain_key(b't', project, seq)
}

/// The transparency log's keys (`docs/FORMAT.md` section 8, "Stored"): per commit group
/// `first..=last`, the group's leaves under `l` ‖ first, and the tree's stored hashes the group
/// adds under `n` ‖ their first index; each chain's map index under `i` ‖ chain id. (No signer is
/// set in these stores, so no checkpoint is kept under `k`.)
fn log_layout(commits: &[StagedCommit], groups: &[(u64, u64)]) -> Keys {
    let mut out = BTreeMap::new();
    let mut log = fiscus_ledger::log::LedgerLog::new();
    for &(first, last) in groups {
        let before = fiscus_tlog::tree::stored_hash_count(log.size());
        let mut leaves = Vec::new();
        for n in first..=last {
            let entry = &commits[usize::try_from(n - 1).expect("small")].entry;
            leaves.extend_from_slice(&log.append(entry).expect("in order").to_bytes());
        }
        let mut key = vec![b'l'];
        key.extend_from_slice(&first.to_be_bytes());
        out.insert(key, leaves);
        let hashes = &log.tree().stored_hashes()[usize::try_from(before).expect("small")..];
        let mut key = vec![b'n'];
        key.extend_from_slice(&before.to_be_bytes());
        out.insert(key, hashes.iter().flat_map(|h| h.0).collect());
    }
    for (index, chain) in log.map().chains() {
        let mut key = vec![b'i'];
        key.extend_from_slice(chain.as_bytes());
        out.insert(key, index.to_be_bytes().to_vec());
    }
    out
}

fn show(m: &BTreeMap<Vec<u8>, Vec<u8>>) -> Vec<String> {
    m.keys().map(|k| format!("{} {}", char::from(k[0]), hex::encode(&k[1..]))).collect()
}

fn assert_same_store(stored: &BTreeMap<Vec<u8>, Vec<u8>>, expected: &BTreeMap<Vec<u8>, Vec<u8>>) {
    assert_eq!(show(stored), show(expected), "the store holds other keys than the page says");
    for (k, v) in expected {
        assert_eq!(&stored[k], v, "value of key {} {}", char::from(k[0]), hex::encode(&k[1..]));
    }
}

/// The store's keys and values are what the page's layout says, built from the page's vectors.
#[test]
fn store_layout_is_what_the_page_says() {
    let page = page_vectors();
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut store, _) = Store::open(dir.path()).expect("open store");
    for req in requests() {
        store.commit(&req).expect("vector commit accepted");
    }
    store.close().expect("close store");

    let mut expected: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    expected.insert(b"mformat".to_vec(), vec![1]);
    // 'c' ‖ n u64 BE → u32 LE length ‖ entry (fewer than 64 commits: one entry per value)
    for n in 1..=COMMITS {
        expected.insert(commit_key(n), framed(&[&page_hex(&page, &format!("commit-entry {n}"))]));
    }
    // 't' ‖ project ‖ 0x00 ‖ seq u64 BE → u32 LE length ‖ bytes (fewer than 32 records: all in the tail)
    for label in page.keys().filter(|k| k.starts_with("record ")) {
        let (p, seq) = label.trim_start_matches("record ").split_once(' ').expect("project seq");
        let seq: u64 = seq.parse().expect("seq");
        expected.insert(tail_key(p, seq), framed(&[&page_hex(&page, label)]));
    }
    // 'h' ‖ project → seq u64 BE ‖ hash
    for label in page.keys().filter(|k| k.starts_with("head-value ")) {
        let mut key = vec![b'h'];
        key.extend_from_slice(label.trim_start_matches("head-value ").as_bytes());
        expected.insert(key, page_hex(&page, label));
    }
    let (commits, _) = build_from(&requests());
    expected.extend(log_layout(&commits, &(1..=COMMITS).map(|n| (n, n)).collect::<Vec<_>>()));
    let (stored, compressed) = stored(dir.path());
    assert_same_store(&stored, &expected);
    assert!(compressed.is_empty(), "nothing is sealed yet: {:?}", show(&stored));

    // The store verifies on open and reaches the page's heads.
    let (store, report) = Store::open(dir.path()).expect("reopen store");
    assert!(report.damage.is_empty(), "{:?}", report.damage);
    assert_eq!(report.commits, COMMITS);
    let head = store.projection().commit_head;
    assert_eq!(page["commit-head"], format!("{} {}", head.number, hex::encode(head.hash)));
    store.close().expect("close store");
}

/// A longer store: sealed chunks of records and of commit log entries, keyed by their first number,
/// as the page's chunk rule says (including a chunk sealed by a commit that also starts the next one).
#[test]
fn chunks_are_sealed_as_the_page_says() {
    let p = "chunky";
    let open = event(
        "ch-open",
        p,
        day(2026, 1, 5),
        "",
        None,
        EventKind::ProjectOpened {
            name: "Chunky".to_owned(),
            kind: ProjectKind::Meetup,
            fee_bps: 0,
            currency: Currency::from_code("JPY").expect("JPY"),
            advance_limit: Decimal::ZERO,
        },
    );
    let terms = |i: u64| {
        let fee_bps = Some(u32::try_from(i % 5_000).expect("small"));
        event(
            &format!("ch-{i}"),
            p,
            day(2026, 1, 6),
            "",
            None,
            EventKind::ProjectTermsChanged { fee_bps, advance_limit: None },
        )
    };
    // Commit 1: seq 1; commits 2..=29: seqs 2..=29; commit 30: seqs 30..=35 (seals records 1..=32,
    // and starts a run at 33); commits 31..=70: seqs 36..=75 (commit 59 seals records 33..=64,
    // commit 64 commits 1..=64); then commits 71..=73 (seqs 76..=78) as one group, one run each.
    let mut requests = vec![request(1, vec![open])];
    let mut seq = 1;
    for n in 2..=70u64 {
        let count = if n == 30 { 6 } else { 1 };
        let events = (0..count).map(|_| {
            seq += 1;
            terms(seq)
        });
        requests.push(request(n, events.collect()));
    }
    assert_eq!(seq, 75);

    let dir = tempfile::tempdir().expect("temp dir");
    let (mut store, _) = Store::open(dir.path()).expect("open store");
    for req in &requests {
        store.commit(req).expect("commit accepted");
    }
    let group: Vec<CommitRequest> = (71..=73u64)
        .map(|n| {
            seq += 1;
            request(n, vec![terms(seq)])
        })
        .collect();
    for answer in store.commit_group(&group).expect("group written") {
        answer.expect("commit accepted");
    }
    store.close().expect("close store");
    requests.extend(group);

    let (commits, projection) = build_from(&requests);
    let records: Vec<Vec<u8>> = commits.iter().flat_map(|c| &c.records).map(|r| r.bytes.clone()).collect();
    let entries: Vec<Vec<u8>> = commits.iter().map(|c| encode_value(&c.entry)).collect();
    // Items numbered from 1, `chunk` to a sealed value: ⌊n / chunk⌋ chunk values, then singles.
    let layout = |items: &[Vec<u8>], chunk: u64, key: &dyn Fn(u64) -> Vec<u8>, single: &dyn Fn(u64) -> Vec<u8>| {
        let mut out = BTreeMap::new();
        let n = items.len() as u64;
        let sealed = n / chunk * chunk;
        for start in (1..=sealed).step_by(usize::try_from(chunk).expect("small")) {
            let chunk_items: Vec<&[u8]> =
                (start..start + chunk).map(|i| items[usize::try_from(i - 1).expect("small")].as_slice()).collect();
            out.insert(key(start), framed(&chunk_items));
        }
        // one value per commit for the first 70 commits, then the group's as one run
        let group_start = n - 2;
        for i in sealed + 1..group_start {
            out.insert(single(i), framed(&[&items[usize::try_from(i - 1).expect("small")]]));
        }
        let run: Vec<&[u8]> =
            (group_start..=n).map(|i| items[usize::try_from(i - 1).expect("small")].as_slice()).collect();
        out.insert(single(group_start), framed(&run));
        out
    };
    let mut expected = BTreeMap::new();
    expected.insert(b"mformat".to_vec(), vec![1]);
    expected.extend(layout(&entries, CHUNK_COMMITS, &commit_key, &commit_key));
    expected.extend(layout(&records, CHUNK_RECORDS, &|s| record_key(p, s), &|s| tail_key(p, s)));
    let state = projection.project(p).expect("chain");
    let mut head_key = vec![b'h'];
    head_key.extend_from_slice(p.as_bytes());
    expected.insert(head_key, head_value(&state.head));
    let mut groups: Vec<(u64, u64)> = (1..=70).map(|n| (n, n)).collect();
    groups.push((71, 73));
    expected.extend(log_layout(&commits, &groups));
    let (stored, compressed) = stored(dir.path());
    assert_same_store(&stored, &expected);
    assert!(stored.contains_key(&record_key(p, 33)) && !stored.contains_key(&record_key(p, 34)));
    assert!(!stored.contains_key(&tail_key(p, 33)) && stored.contains_key(&tail_key(p, 65)));
    assert!(stored.contains_key(&tail_key(p, 76)) && !stored.contains_key(&tail_key(p, 77)));
    assert!(stored.contains_key(&commit_key(65)) && !stored.contains_key(&commit_key(2)));
    assert!(stored.contains_key(&commit_key(71)) && !stored.contains_key(&commit_key(72)));
    // exactly the sealed chunks are compressed
    assert_eq!(compressed, vec![commit_key(1), record_key(p, 1), record_key(p, 33)]);

    let (store, report) = Store::open(dir.path()).expect("reopen store");
    assert!(report.damage.is_empty(), "{:?}", report.damage);
    assert_eq!(report.commits, 73);
    store.close().expect("close store");
}

#[test]
fn decoder_is_as_strict_as_the_page_says() {
    let page = page_vectors();
    let good = page_hex(&page, "record rustconf-2026 2");
    assert!(Record::decode(&good).is_ok());
    // One flipped byte changes the record hash.
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert_ne!(blake3::derive_key("fiscus record v1", &flipped), blake3::derive_key("fiscus record v1", &good));
    // seq (offset 15, the varint 02) in a longer form than the shortest: refused.
    assert_eq!(good[15], 2);
    let mut long = good[..15].to_vec();
    long.extend_from_slice(&[0xfb, 0x02, 0x00]);
    long.extend_from_slice(&good[16..]);
    assert!(Record::decode(&long).is_err(), "a varint not in its shortest form is refused");
    // prev with a length other than 32: refused.
    assert_eq!(good[16], 0x20);
    let mut short = good.clone();
    short[16] = 0x1f;
    assert!(Record::decode(&short).is_err(), "a hash of 31 bytes is refused");
    // Trailing bytes, an unknown version, an option tag 2: refused.
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(Record::decode(&trailing).is_err(), "trailing bytes are refused");
    let mut version = good.clone();
    version[0] = 2;
    assert!(Record::decode(&version).is_err(), "an unknown format byte is refused");
    let mut fee_tag = good.clone();
    let tag_at = good.len() - 4;
    assert_eq!(good[tag_at..], [0x01, 0xfb, 0xbc, 0x02]);
    fee_tag[tag_at] = 2;
    assert!(Record::decode(&fee_tag).is_err(), "an option tag other than 0 or 1 is refused");
    // A reversal whose target is itself a reversal: refused.
    let reversal = page_hex(&page, "record rustconf-2026 4");
    let mut r = Reader::new(&reversal);
    read_head(&mut r);
    r.varint();
    r.string();
    assert!(r.option());
    let target_at = r.at;
    assert_eq!(reversal[target_at], 9);
    let mut nested = reversal[..target_at].to_vec();
    nested.extend_from_slice(&[19, 3, 0, 0]);
    assert!(Record::decode(&nested).is_err(), "a reversal of a reversal is refused");
}
