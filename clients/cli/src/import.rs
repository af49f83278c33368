//! `fiscus import csv`: money movements from a bank's or payment processor's CSV export
//! (`docs/IMPORT.md` documents the layout).
//!
//! Every row is checked before anything is recorded; a bad row is reported with its line number in
//! the file (counting every line break, `\n` or `\r\n`, including those inside quoted fields) and
//! column, and then nothing is recorded. Each row's event id is derived from its validated,
//! normalised event ([`crate::identity::content_id`]: `csv-` and 32 hex digits), so importing the
//! same file again records nothing new, even after its line endings were converted, and a file with
//! rows added at its end records only the new rows.

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;
use fiscus_client::fiscus_ledger::ids::parse_date;
use fiscus_client::fiscus_ledger::money::parse_amount;
use fiscus_client::fiscus_ledger::{
    Currency, Event, EventKind, ExpenseDetails, Fund, LedgerError, Money, ProjectId, Receipt, Source,
};

use crate::identity::{content_id, normalise_text, Origin};

/// The columns a file must have (in any order, names case-insensitive).
pub const REQUIRED_COLUMNS: [&str; 5] = ["date", "project", "kind", "amount", "currency"];
/// Columns a file may have.
pub const OPTIONAL_COLUMNS: [&str; 7] =
    ["counterparty", "memo", "reference", "category", "fund", "receipt", "receipt_hash"];
/// The values of the `kind` column and what each records (`docs/IMPORT.md`, `import csv --help`).
pub const KINDS: [(&str, &str); 7] = [
    ("sponsorship", "ContributionReceived, source sponsorship"),
    ("donation", "ContributionReceived, source donation"),
    ("ticket-sales", "ContributionReceived, source ticket-sales (also written \"tickets\")"),
    ("grant", "ContributionReceived, source grant (from outside the sponsor)"),
    ("contribution", "ContributionReceived, source other"),
    ("other", "ContributionReceived, source other"),
    ("expense", "ExpensePaid, a direct payment (positive or negative amount)"),
];
/// Most bad rows reported at once.
pub const ROW_ERRORS_MAX: usize = 20;
/// Category of an expense row without one.
pub const DEFAULT_CATEGORY: &str = "other";

/// One checked row: its line in the file and its event.
#[derive(Clone, Debug)]
pub struct Row {
    /// Line number in the file (the header is line 1).
    pub line: u64,
    /// The event the row records.
    pub event: Event,
}

/// A bad row (or a bad file): where and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    /// Line number (0 for the file as a whole).
    pub line: u64,
    /// The column at fault, if one is.
    pub column: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.column, self.line) {
            (Some(c), l) if l > 0 => write!(f, "line {l}, column {c}: {}", self.message),
            (None, l) if l > 0 => write!(f, "line {l}: {}", self.message),
            (Some(c), _) => write!(f, "column {c}: {}", self.message),
            (None, _) => f.write_str(&self.message),
        }
    }
}

/// Most characters of an unknown column's name that an error shows.
pub const COLUMN_NAME_SHOWN_MAX: usize = 40;

/// An unknown column's name as an error shows it: quoted with Rust's escapes, so that no control
/// character (a terminal's escape sequence, a NUL) reaches the terminal, and cut after
/// [`COLUMN_NAME_SHOWN_MAX`] characters (a file without line breaks is one header of any length).
fn unknown_column(name: &str) -> String {
    let mut chars = name.chars();
    let shown: String = chars.by_ref().take(COLUMN_NAME_SHOWN_MAX).collect();
    match chars.next() {
        Some(_) => format!("{shown:?}…"),
        None => format!("{shown:?}"),
    }
}

/// Most characters of a row's error message shown: a message quotes the cell at fault, and a
/// cell can be a megabyte long.
pub const ROW_MESSAGE_SHOWN_MAX: usize = 300;

/// `message`, cut after [`ROW_MESSAGE_SHOWN_MAX`] characters.
fn cut(message: String) -> String {
    match message.char_indices().nth(ROW_MESSAGE_SHOWN_MAX) {
        Some((at, _)) => format!("{}… (cut; the message had {} characters)", &message[..at], message.chars().count()),
        None => message,
    }
}

fn row_error(line: u64, column: &str, message: impl Into<String>) -> RowError {
    RowError { line, column: Some(column.to_owned()), message: cut(message.into()) }
}

/// The CSV column a ledger field path comes from.
fn column_of(field: &str) -> &'static str {
    let last = field.rsplit('.').next().unwrap_or(field);
    match last {
        "from" | "payee" => "counterparty",
        "memo" => "memo",
        "reference" => "reference",
        "category" => "category",
        "purpose" | "fund" | "restricted_purpose" => "fund",
        "file_name" => "receipt",
        "project" => "project",
        "effective_date" | "date" => "date",
        "counterparty" => "counterparty",
        "receipt_hash" => "receipt_hash",
        "currency" => "currency",
        "amount" => "amount",
        _ => "kind",
    }
}

fn ledger_error(line: u64, e: &LedgerError) -> RowError {
    match e {
        LedgerError::Invalid { field, message } => row_error(line, column_of(field), message.clone()),
        other => RowError { line, column: None, message: cut(other.to_string()) },
    }
}

/// Parses and checks every row of a CSV text; all rows or the errors (at most [`ROW_ERRORS_MAX`]).
pub fn parse(text: &[u8], progress: &mut dyn FnMut(u64)) -> Result<Vec<Row>, Vec<RowError>> {
    if text.iter().all(u8::is_ascii_whitespace) {
        let message =
            format!("the file is empty: it needs a header row naming at least {}", REQUIRED_COLUMNS.join(", "));
        return Err(vec![RowError { line: 0, column: None, message }]);
    }
    // Quotes come in pairs (a quoted cell's two, and `""` for a quote inside one): an odd number
    // means a quoted cell that is never closed, which takes in every line after it as its own text
    // (rows of the file then vanish into a memo). The reader accepts that at the file's end.
    let quotes = text.iter().filter(|&&b| b == b'"').count();
    if quotes % 2 == 1 {
        let last = text.iter().rposition(|&b| b == b'"').unwrap_or(0);
        let line = Lines::new(text).line_at(last as u64);
        let message = "the file has an odd number of double quotes (\"): a quoted cell is not closed, so the lines \
                       after it would be read into it; the last quote is on this line (a quote inside a quoted cell \
                       is written twice: \"\")";
        return Err(vec![RowError { line, column: None, message: message.to_owned() }]);
    }
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(false).from_reader(text);
    let headers = match reader.headers() {
        Ok(h) => h.iter().map(|h| h.trim().to_ascii_lowercase()).collect::<Vec<_>>(),
        Err(e) => return Err(vec![RowError { line: 1, column: None, message: format!("no header row: {e}") }]),
    };
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut errors = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        if !REQUIRED_COLUMNS.contains(&h.as_str()) && !OPTIONAL_COLUMNS.contains(&h.as_str()) {
            errors.push(row_error(1, &unknown_column(h), "is not a column of the import layout (see docs/IMPORT.md)"));
        } else if index.insert(h.as_str(), i).is_some() {
            errors.push(row_error(1, h, "appears twice"));
        }
    }
    for c in REQUIRED_COLUMNS {
        if !index.contains_key(c) {
            errors.push(row_error(1, c, "is missing from the header row"));
        }
    }
    if !errors.is_empty() {
        // A header of thousands of unknown columns is as many errors: report the first few.
        errors.truncate(ROW_ERRORS_MAX);
        return Err(errors);
    }
    let mut rows = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut lines = Lines::new(text);
    for result in reader.records() {
        let record = match result {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| lines.line_at(p.byte()));
                // the bad record and what follows it hold a double quote
                let quoted = e
                    .position()
                    .and_then(|p| text.get(usize::try_from(p.byte()).ok()?..))
                    .is_some_and(|rest| rest.contains(&b'"'));
                let hint = match (e.kind(), quoted) {
                    (csv::ErrorKind::UnequalLengths { .. }, true) => {
                        " (a cell whose double quote \" is not closed takes in the lines after it, up to the next quote)"
                    }
                    _ => "",
                };
                errors.push(RowError { line, column: None, message: format!("not valid CSV: {e}{hint}") });
                break;
            }
        };
        let line = record.position().map_or(0, |p| lines.line_at(p.byte()));
        let get = |c: &str| index.get(c).and_then(|&i| record.get(i)).unwrap_or("").to_owned();
        match row(line, &get) {
            Ok(event) => match seen.get(&event.event_id) {
                Some(first) => errors.push(RowError {
                    line,
                    column: None,
                    message: format!("repeats line {first} exactly; give the rows different references to record both"),
                }),
                None => {
                    seen.insert(event.event_id.clone(), line);
                    rows.push(Row { line, event });
                }
            },
            Err(e) => errors.push(e),
        }
        progress(rows.len() as u64 + errors.len() as u64);
        if errors.len() >= ROW_ERRORS_MAX {
            break;
        }
    }
    if errors.is_empty() && rows.is_empty() {
        return Err(vec![RowError {
            line: 0,
            column: None,
            message: "the file has a header row and no rows".to_owned(),
        }]);
    }
    if errors.is_empty() {
        // Banks list newest first: rows are recorded in date order, in file order within a day.
        rows.sort_by_key(|r| (r.event.effective_date, r.line));
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// The lines on which a file's records begin, counted forward from the record asked before: the
/// reader hands records in file order, so the whole file is scanned once, however many rows it
/// has. The CSV reader's own count is not used: it counts a `\r\n` before a record as the
/// record's first byte.
struct Lines<'t> {
    text: &'t [u8],
    /// Where the last record asked about begins.
    at: usize,
    /// The line it begins on (from 1).
    line: u64,
    /// Bytes looked at so far (at most the file's length).
    scanned: usize,
}

impl<'t> Lines<'t> {
    fn new(text: &'t [u8]) -> Lines<'t> {
        Lines { text, at: 0, line: 1, scanned: 0 }
    }

    /// The line (from 1) on which the record starting at byte `offset` begins: one more than the
    /// line breaks before it. A line ends at `\n`, `\r\n` or a lone `\r`, as the CSV reader ends
    /// its records.
    fn line_at(&mut self, offset: u64) -> u64 {
        let text = self.text;
        let mut start = usize::try_from(offset).unwrap_or(usize::MAX).min(text.len());
        // a record never starts with the line break that ends the one before it
        while matches!(text.get(start), Some(b'\n' | b'\r')) {
            start += 1;
        }
        if start < self.at {
            // an earlier record than the last one asked about (the reader never goes back)
            (self.at, self.line) = (0, 1);
        }
        let between = text.get(self.at..start).unwrap_or_default();
        let at = self.at;
        let breaks = between
            .iter()
            .enumerate()
            .filter(|&(i, &c)| c == b'\n' || (c == b'\r' && text.get(at + i + 1) != Some(&b'\n')))
            .count();
        self.scanned += between.len();
        (self.at, self.line) = (start, self.line + breaks as u64);
        self.line
    }
}

/// One row into its event; `get` reads a column (empty when the file has no such column).
fn row(line: u64, get: &dyn Fn(&str) -> String) -> Result<Event, RowError> {
    let date: NaiveDate = parse_date("date", &get("date")).map_err(|e| ledger_error(line, &e))?;
    let project = ProjectId::parse("project", &get("project")).map_err(|e| ledger_error(line, &e))?;
    let kind_text = get("kind").to_ascii_lowercase();
    let currency =
        Currency::parse("currency", &get("currency").to_ascii_uppercase()).map_err(|e| ledger_error(line, &e))?;
    let amount_text = get("amount");
    let signed = parse_amount("amount", &amount_text, Some(currency)).map_err(|e| ledger_error(line, &e))?;
    let (counterparty, memo, reference) = (get("counterparty"), normalise_text(&get("memo")), get("reference"));
    let money_of = |value| Money::new("amount", value, currency).map_err(|e| ledger_error(line, &e));
    let fund = match get("fund").as_str() {
        "" | "unrestricted" => Fund::Unrestricted,
        f => match f.strip_prefix("restricted:") {
            Some(p) => Fund::Restricted(p.to_owned()),
            None => {
                return Err(row_error(line, "fund", format!("{f:?} is neither unrestricted nor restricted:<purpose>")))
            }
        },
    };
    let source = match kind_text.as_str() {
        "contribution" | "other" => Some(Source::Other),
        "sponsorship" => Some(Source::Sponsorship),
        "donation" => Some(Source::Donation),
        "ticket-sales" | "tickets" => Some(Source::TicketSales),
        "grant" => Some(Source::Grant),
        _ => None,
    };
    // Without a receipt an expense's row stands as one: the hash of its normalised content.
    let normalised = [
        date.to_string(),
        project.to_string(),
        kind_text.clone(),
        signed.normalize().to_string(),
        currency.code().to_owned(),
        counterparty.clone(),
        memo.clone(),
        reference.clone(),
        get("category"),
        fund.label(),
        get("receipt"),
        get("receipt_hash"),
    ]
    .join("\u{1f}");
    let digest = blake3::hash(normalised.as_bytes());
    let row_name = format!("csv-{}.csv", &digest.to_hex()[..32]);
    let kind = if let Some(source) = source {
        if signed.is_sign_negative() {
            return Err(row_error(line, "amount", "money received must be positive; money out is kind expense"));
        }
        EventKind::ContributionReceived { amount: money_of(signed)?, from: counterparty, source, fund, fee_bps: None }
    } else if kind_text == "expense" {
        // Banks write money out as negative amounts; either sign is an expense of that size.
        let category = match get("category") {
            c if c.is_empty() => DEFAULT_CATEGORY.to_owned(),
            c => c.to_ascii_lowercase(),
        };
        let receipt = match (get("receipt"), get("receipt_hash")) {
            (name, hash) if !hash.is_empty() => {
                let bytes = hex::decode(&hash).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
                let hash = bytes.ok_or_else(|| row_error(line, "receipt_hash", "must be 64 hex digits (blake3)"))?;
                let name = if name.is_empty() { row_name } else { name };
                Receipt { hash, file_name: name }
            }
            // Without a receipt, the bank's row itself stands as one: its hash is the row's.
            (name, _) => Receipt { hash: *digest.as_bytes(), file_name: if name.is_empty() { row_name } else { name } },
        };
        let details = ExpenseDetails { amount: money_of(signed.abs())?, payee: counterparty, category, fund, receipt };
        EventKind::ExpensePaid { request: None, details: Some(details) }
    } else {
        return Err(row_error(
            line,
            "kind",
            format!("{kind_text:?} is not one of {}", KINDS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")),
        ));
    };
    let mut event = Event {
        event_id: String::new(),
        project,
        effective_date: date,
        memo,
        reference: (!reference.is_empty()).then_some(reference),
        kind,
    };
    event.event_id = content_id(Origin::Import, std::slice::from_ref(&event));
    event.validate("").map_err(|e| ledger_error(line, &e))?;
    Ok(event)
}

/// Adds the line number to a refusal that names `events[i]`, so a row refused by the ledger (an
/// overdraft, a closed period) is found in the file.
pub fn locate(message: &str, chunk: &[Row]) -> String {
    let Some(start) = message.find("events[") else { return message.to_owned() };
    let rest = &message[start + "events[".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    match digits.parse::<usize>().ok().and_then(|i| chunk.get(i)) {
        Some(row) => format!("line {}: {message}", row.line),
        None => message.to_owned(),
    }
}

/// Where `rows` are in the file: "line N" for one row, "lines A to B" (the first and the last
/// line among them) for more.
pub fn lines_of(rows: &[Row]) -> String {
    let first = rows.iter().map(|r| r.line).min().unwrap_or(0);
    let last = rows.iter().map(|r| r.line).max().unwrap_or(0);
    match first == last {
        true => format!("line {first}"),
        false => format!("lines {first} to {last}"),
    }
}

/// "1 row", "2 rows".
pub fn rows(n: usize) -> String {
    match n {
        1 => "1 row".to_owned(),
        n => format!("{n} rows"),
    }
}

/// What an import that stopped at a commit says of what it recorded: `recorded` new rows went in
/// with the commits before it; `unanswered` holds that commit's rows when the daemon did not
/// answer it (they may or may not have been recorded), `None` when it was refused (they were not).
pub fn failed_commit_note(recorded: usize, unanswered: Option<&[Row]>) -> String {
    match (recorded, unanswered) {
        (0, None) => "nothing was recorded".to_owned(),
        (n, None) => format!("the first {n} new rows were recorded; run the import again to record the rest"),
        (n, Some(rows)) => format!(
            "the daemon did not answer: {}the {} of the commit it did not answer ({}) may or may not have been \
             recorded; run the import again: the rows recorded are found and not recorded twice",
            match n {
                0 => "no earlier row was recorded, and ".to_owned(),
                n => format!("the first {n} new rows were recorded, and "),
            },
            self::rows(rows.len()),
            lines_of(rows),
        ),
    }
}

/// Reads an import file's bytes (`-`: standard input), at most
/// [`crate::files::IMPORT_FILE_BYTES_MAX`].
pub fn read(path: &Path) -> Result<Vec<u8>, String> {
    use crate::files::{read_bytes, read_bytes_from, FileError, IMPORT_FILE_BYTES_MAX};
    let read = match path == Path::new("-") {
        true => read_bytes_from(std::io::stdin().lock(), IMPORT_FILE_BYTES_MAX),
        false => read_bytes(path, IMPORT_FILE_BYTES_MAX),
    };
    let name = source_name(path);
    if read.as_ref().is_ok_and(fiscus_tlog::is_signer_key) {
        return Err(format!(
            "{name}: this is a private signing key (PRIVATE+KEY+...), not a bank export; nothing of it is shown or \
             recorded: keep it secret"
        ));
    }
    read.map_err(|e| match e {
        FileError::TooLarge(max) => format!(
            "{name}: an import file is at most {max} bytes (32 MiB); import a larger export in parts (a part \
             imported again records nothing twice)"
        ),
        FileError::Io(e) => format!("cannot read {name}: {e}"),
        FileError::NotText => format!("cannot read {name}"),
    })
}

/// What messages call the import file at `path`: its path, or "standard input" for `-`.
pub fn source_name(path: &Path) -> String {
    match path == Path::new("-") {
        true => "standard input".to_owned(),
        false => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "date,project,kind,amount,currency,counterparty,memo,reference\n\
        2026-03-01,conf-a,sponsorship,1000.00,USD,Acme,Gold package,INV-1\n\
        2026-03-02,conf-a,expense,-250.00,USD,Venue Ltd,Deposit,BANK-7\n\
        2026-03-03,conf-a,ticket-sales,99.5,usd,Tito,Payout,\n";

    /// A signing key's file given as the import file is refused by name, none of it shown.
    #[test]
    fn a_signing_key_is_no_bank_export() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log.key");
        std::fs::write(&path, "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz\n")
            .expect("write");
        let said = read(&path).expect_err("a signing key");
        assert!(said.contains("private signing key") && !said.contains("AYEK"), "{said}");
    }

    #[test]
    fn good_rows_become_events_with_stable_ids() {
        let rows = parse(GOOD.as_bytes(), &mut |_| {}).expect("valid");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].line, 3);
        assert!(
            matches!(&rows[1].event.kind, EventKind::ExpensePaid { details: Some(d), .. } if d.category == "other")
        );
        let again = parse(GOOD.as_bytes(), &mut |_| {}).expect("valid");
        assert_eq!(rows[2].event.event_id, again[2].event.event_id);
        assert!(rows[0].event.event_id.starts_with("csv-"));
    }

    /// A quote that is never closed is refused with the line of the last quote, even in the last
    /// column, where the reader would take every later row into the cell (two bank rows vanished
    /// into a memo); a quote closed rows later, which turns two rows into one of the wrong width, is
    /// named as the likely cause; a short row without quotes is not; a file of a header alone is
    /// refused.
    #[test]
    fn an_unclosed_quote_is_refused_or_named_as_the_likely_cause() {
        let header = "date,project,kind,amount,currency,counterparty,reference,memo\n";
        let last_column = format!(
            "{header}2026-03-10,conf-a,donation,10.00,USD,Ann,UQ-1,\"first gift\n\
             2026-03-10,conf-a,donation,20.00,USD,Bob,UQ-2,second gift\n\
             2026-03-10,conf-a,donation,30.00,USD,Cy,UQ-3,third gift\n"
        );
        let errors = parse(last_column.as_bytes(), &mut |_| {}).expect_err("an unclosed quote");
        assert_eq!(errors[0].line, 2, "{errors:?}");
        assert!(errors[0].message.contains("odd number of double quotes"), "{}", errors[0].message);
        let closed_later = format!(
            "{header}2026-03-01,conf-a,donation,5.00,USD,Ann,R1,\"gift\n2026-03-02,conf-a,donation,6.00,USD,Bob\",R2,fine\n"
        );
        let errors = parse(closed_later.as_bytes(), &mut |_| {}).expect_err("not valid CSV");
        assert!(errors[0].message.contains("double quote \" is not closed"), "{}", errors[0].message);
        let short = format!("{header}2026-03-01,conf-a,donation\n");
        let errors = parse(short.as_bytes(), &mut |_| {}).expect_err("not valid CSV");
        assert!(!errors[0].message.contains("quote"), "{}", errors[0].message);
        let errors = parse(header.as_bytes(), &mut |_| {}).expect_err("no rows");
        assert_eq!(errors[0].message, "the file has a header row and no rows");
    }

    /// A commit the daemon did not answer is said to be in doubt, with its lines, and never
    /// "nothing was recorded"; a refused one records nothing of its own.
    #[test]
    fn an_unanswered_commit_is_in_doubt_and_a_refused_one_is_not() {
        let rows = parse(GOOD.as_bytes(), &mut |_| {}).expect("valid");
        assert_eq!(failed_commit_note(0, None), "nothing was recorded");
        assert!(failed_commit_note(1000, None).starts_with("the first 1000 new rows were recorded;"));
        let first = failed_commit_note(0, Some(&rows));
        assert!(!first.contains("nothing was recorded"), "{first}");
        for part in
            ["did not answer", "the 3 rows of the commit", "(lines 2 to 4)", "may or may not", "run the import again"]
        {
            assert!(first.contains(part), "{part:?} in {first}");
        }
        let later = failed_commit_note(1000, Some(&rows[1..2]));
        assert!(
            later.contains("the first 1000 new rows were recorded, and the 1 row of") && later.contains("(line 3)"),
            "{later}"
        );
    }

    /// Each record's line is counted on from the one before: a file of 20,000 rows (with `\n`,
    /// `\r\n`, lone `\r` and line breaks inside quoted fields) is scanned once, not once per row
    /// (a 32 MiB export of 367,563 rows took over ten minutes), and every row is named by the line
    /// it starts on.
    #[test]
    fn line_numbers_are_counted_in_one_pass_over_the_file() {
        let mut text = String::from("date,project,kind,amount,currency,counterparty,memo,reference\n");
        let mut starts = Vec::new();
        let mut line = 2u64;
        for i in 0..20_000u64 {
            starts.push((text.len() as u64, line));
            let (memo, breaks) = if i % 7 == 0 { ("\"two\nlines\"", 1) } else { ("plain", 0) };
            let end = ["\n", "\r\n", "\r"][(i % 3) as usize];
            text.push_str(&format!("2026-03-01,conf-a,donation,1.00,USD,Donor {i},{memo},R-{i}{end}"));
            line += 1 + breaks;
        }
        let mut lines = Lines::new(text.as_bytes());
        for &(offset, expected) in &starts {
            assert_eq!(lines.line_at(offset), expected, "the row at byte {offset}");
        }
        assert!(lines.scanned <= text.len(), "{} bytes scanned for a file of {}", lines.scanned, text.len());
        let rows = parse(text.as_bytes(), &mut |_| {}).expect("valid");
        let mut named: Vec<u64> = rows.iter().map(|r| r.line).collect();
        named.sort_unstable();
        assert_eq!(named, starts.iter().map(|&(_, line)| line).collect::<Vec<_>>());
    }

    /// An unknown column's name is shown escaped and cut short: a terminal's escape sequence in a
    /// header does not reach the terminal, and a file of 32 MiB without a line break is not
    /// printed back whole.
    #[test]
    fn unknown_column_names_are_shown_escaped_and_cut_short() {
        let hostile = "date,project,kind,amount,currency,\u{1b}[2J\u{1b}]0;PWNED\u{7}evil\n";
        let errs = parse(hostile.as_bytes(), &mut |_| {}).expect_err("an unknown column");
        let shown = errs[0].to_string();
        assert_eq!(shown, "line 1, column \"\\u{1b}[2j\\u{1b}]0;pwned\\u{7}evil\": is not a column of the import layout (see docs/IMPORT.md)");
        assert!(!shown.chars().any(char::is_control), "{shown}");
        let endless = vec![0u8; 1 << 20];
        let errs = parse(&endless, &mut |_| {}).expect_err("no header");
        let shown = errs.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
        assert!(shown.len() < 1_000, "{} bytes of errors for a 1 MiB header", shown.len());
        assert!(!shown.contains('\0'), "{shown:?}");
    }

    #[test]
    fn rows_of_a_crlf_file_or_after_blank_lines_are_named_by_their_own_line() {
        // found by the csv_import fuzz target: the only row of a CRLF file was said to be line 1
        let crlf = GOOD.replace('\n', "\r\n");
        let rows = parse(crlf.as_bytes(), &mut |_| {}).expect("valid");
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 3, 4]);
        let bad = crlf.replace("99.5,usd", "99.555,usd");
        let errs = parse(bad.as_bytes(), &mut |_| {}).expect_err("bad amount");
        assert_eq!((errs[0].line, errs[0].column.as_deref()), (4, Some("amount")));
        let blank = GOOD.replace("INV-1\n", "INV-1\n\n\r\n").replace("99.5,usd", "99.555,usd");
        let errs = parse(blank.as_bytes(), &mut |_| {}).expect_err("bad amount");
        assert_eq!(errs[0].line, 6, "{errs:?}");
    }

    #[test]
    fn rows_of_a_file_with_lone_carriage_returns_are_named_by_their_own_line() {
        // found by the csv_import fuzz target: a row after `\r\r` (old Mac line endings) was said
        // to be line 1, the header's line
        let text = "amount,currency,date,project,kind,counterparty\r\r\"12.00\",EUR,2025-01-31,berlin-rust-meetup,contribution,Bank\r\n";
        let rows = parse(text.as_bytes(), &mut |_| {}).expect("valid");
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [3]);
        let cr = GOOD.replace('\n', "\r");
        let rows = parse(cr.as_bytes(), &mut |_| {}).expect("valid");
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 3, 4]);
    }

    #[test]
    fn header_errors_are_capped_like_row_errors() {
        let columns: Vec<String> = (0..5_000).map(|i| format!("extra{i}")).collect();
        let text = format!("{}\n", columns.join(","));
        let errs = parse(text.as_bytes(), &mut |_| {}).expect_err("unknown columns");
        assert_eq!(errs.len(), ROW_ERRORS_MAX);
        assert!(errs[0].message.contains("is not a column"), "{:?}", errs[0]);
    }

    #[test]
    fn a_bad_row_is_named_by_line_and_column() {
        let bad = GOOD.replace("99.5,usd", "99.555,usd");
        let errs = parse(bad.as_bytes(), &mut |_| {}).expect_err("bad amount");
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].line, 4);
        assert_eq!(errs[0].column.as_deref(), Some("amount"));
        let bad = GOOD.replace("sponsorship", "bribe");
        let errs = parse(bad.as_bytes(), &mut |_| {}).expect_err("bad kind");
        assert_eq!((errs[0].line, errs[0].column.as_deref()), (2, Some("kind")));
        let bad = GOOD.replace("Acme", "");
        let errs = parse(bad.as_bytes(), &mut |_| {}).expect_err("no counterparty");
        assert_eq!((errs[0].line, errs[0].column.as_deref()), (2, Some("counterparty")));
        let bad = GOOD.replace("2026-03-02", "02/03/2026");
        let errs = parse(bad.as_bytes(), &mut |_| {}).expect_err("bad date");
        assert_eq!((errs[0].line, errs[0].column.as_deref()), (3, Some("date")));
    }

    #[test]
    fn a_repeated_row_and_a_bad_header_are_refused() {
        let twice = format!("{GOOD}2026-03-01,conf-a,sponsorship,1000.00,USD,Acme,Gold package,INV-1\n");
        let errs = parse(twice.as_bytes(), &mut |_| {}).expect_err("repeat");
        assert!(errs[0].message.contains("repeats line 2"), "{errs:?}");
        let errs = parse(b"date,project,kind,amount\n", &mut |_| {}).expect_err("no currency");
        assert_eq!(errs[0].column.as_deref(), Some("currency"));
    }

    #[test]
    fn a_refusal_is_located_in_the_file() {
        let rows = parse(GOOD.as_bytes(), &mut |_| {}).expect("valid");
        assert_eq!(locate("overdraft at events[1].expense_paid", &rows), "line 3: overdraft at events[1].expense_paid");
    }
}
