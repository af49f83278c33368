//! Identifiers and validated text: project ids, event ids, dates, names and receipts.

use std::borrow::Borrow;
use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::error::LedgerError;

/// Longest project id.
pub const PROJECT_ID_LEN_MAX: usize = 40;
/// Longest event id (the client's idempotency key).
pub const EVENT_ID_LEN_MAX: usize = 64;
/// Longest memo, in characters.
pub const MEMO_CHARS_MAX: usize = 1_000;
/// Longest free-text name (payee, sponsor, project name, reason), in characters.
pub const NAME_CHARS_MAX: usize = 200;
/// Longest external reference (invoice number …), in characters.
pub const REFERENCE_CHARS_MAX: usize = 128;
/// Longest actor (authenticated principal) name, in bytes.
pub const ACTOR_LEN_MAX: usize = 128;

/// The chain of sponsor-wide events (sponsor-wide `PeriodClosed`). No project may take this id.
pub const SPONSOR_CHAIN: &str = "sponsor";

/// A project id: 1–40 characters of `[a-z0-9-]`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProjectId(String);

impl ProjectId {
    /// Validates a project id for request field `field`.
    pub fn parse(field: &str, id: &str) -> Result<ProjectId, LedgerError> {
        check_slug(field, id, "project id")?;
        Ok(ProjectId(id.to_owned()))
    }

    /// The id of the sponsor-wide chain.
    pub fn sponsor() -> ProjectId {
        ProjectId(SPONSOR_CHAIN.to_owned())
    }

    /// True for the sponsor-wide chain.
    pub fn is_sponsor(&self) -> bool {
        self.0 == SPONSOR_CHAIN
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks `[a-z0-9-]{1,40}`, the alphabet of project ids and of names that go into account names.
pub fn check_slug(field: &str, value: &str, what: &str) -> Result<(), LedgerError> {
    if value.is_empty() || value.len() > PROJECT_ID_LEN_MAX {
        return Err(LedgerError::invalid(
            field,
            format!("{what} must be 1 to {PROJECT_ID_LEN_MAX} characters, got {}", value.len()),
        ));
    }
    if let Some(c) = value.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
        return Err(LedgerError::invalid(
            field,
            format!("{what} {} has {c:?}; only a-z, 0-9 and '-' are allowed", crate::error::quoted(value)),
        ));
    }
    if value.starts_with('-') || value.ends_with('-') {
        return Err(LedgerError::invalid(
            field,
            format!("{what} {} must start and end with a letter or digit", crate::error::quoted(value)),
        ));
    }
    Ok(())
}

impl TryFrom<String> for ProjectId {
    type Error = LedgerError;
    fn try_from(s: String) -> Result<ProjectId, LedgerError> {
        check_slug("project", &s, "project id")?;
        Ok(ProjectId(s))
    }
}

impl From<ProjectId> for String {
    fn from(p: ProjectId) -> String {
        p.0
    }
}

impl Borrow<str> for ProjectId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Checks an event id: 1–64 printable ASCII characters.
pub fn check_event_id(field: &str, id: &str) -> Result<(), LedgerError> {
    if id.is_empty() || id.len() > EVENT_ID_LEN_MAX {
        return Err(LedgerError::invalid(
            field,
            format!("event id must be 1 to {EVENT_ID_LEN_MAX} characters, got {}", id.len()),
        ));
    }
    if !id.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(LedgerError::invalid(field, "event id must be printable ASCII"));
    }
    Ok(())
}

/// Whether `c` changes how the text around it displays without showing itself, so that text holding it
/// can read as other text (Unicode Technical Report #36, "bidirectional text spoofing"): the
/// bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), the zero-width
/// space, word joiner and invisible operators (U+200B, U+2060–U+2064), the byte order mark (U+FEFF)
/// and the line and paragraph separators (U+2028, U+2029). The joiners U+200C/U+200D and the marks
/// U+200E/U+200F/U+061C stay allowed: scripts such as Persian and emoji sequences need them.
pub fn is_deceptive_format_char(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200B}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{2028}' | '\u{2029}')
}

/// Checks free text: at most `max` characters, no control characters (a memo may hold newlines and
/// tabs), none of the characters of [`is_deceptive_format_char`].
pub fn check_text(field: &str, value: &str, max: usize, allow_empty: bool, multiline: bool) -> Result<(), LedgerError> {
    if !allow_empty && value.trim().is_empty() {
        return Err(LedgerError::invalid(field, "must not be empty"));
    }
    let chars = value.chars().count();
    if chars > max {
        return Err(LedgerError::invalid(field, format!("is {chars} characters; at most {max} are allowed")));
    }
    let bad = value.chars().any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')));
    if bad {
        return Err(LedgerError::invalid(field, "must not contain control characters"));
    }
    if let Some(c) = value.chars().find(|&c| is_deceptive_format_char(c)) {
        return Err(LedgerError::invalid(
            field,
            format!(
                "must not contain U+{:04X}, an invisible or text-direction character that makes text display as other text",
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

/// Earliest accepted accounting date.
pub const DATE_MIN: NaiveDate = NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid date");
/// Latest accepted accounting date.
pub const DATE_MAX: NaiveDate = NaiveDate::from_ymd_opt(2999, 12, 31).expect("valid date");

/// The one parser of a date's text, for every entry point (gRPC requests and answers, the command
/// line's flags and commit files, CSV import), for field `field`: exactly `YYYY-MM-DD` (ten ASCII
/// characters: four digits, `-`, two digits, `-`, two digits; no sign, no spaces, no one-digit
/// month or day), a real calendar date, within [`DATE_MIN`]..=[`DATE_MAX`].
pub fn parse_date(field: &str, text: &str) -> Result<NaiveDate, LedgerError> {
    let shape = || {
        LedgerError::invalid(
            field,
            format!("{} is not a date written YYYY-MM-DD, such as 2026-03-31", crate::error::quoted(text)),
        )
    };
    let Ok([y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2]) = <[u8; 10]>::try_from(text.as_bytes()) else {
        return Err(shape());
    };
    let number = |ds: &[u8]| ds.iter().try_fold(0u32, |n, &b| b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0')));
    let (Some(y), Some(m), Some(d)) = (number(&[y1, y2, y3, y4]), number(&[m1, m2]), number(&[d1, d2])) else {
        return Err(shape());
    };
    let year = i32::try_from(y).map_err(|_| shape())?;
    let date = NaiveDate::from_ymd_opt(year, m, d).ok_or_else(|| {
        LedgerError::invalid(field, format!("{} is not a day of the calendar", crate::error::quoted(text)))
    })?;
    check_date(field, date)?;
    Ok(date)
}

/// Checks that a date lies in the accepted range.
pub fn check_date(field: &str, date: NaiveDate) -> Result<(), LedgerError> {
    if date < DATE_MIN || date > DATE_MAX {
        return Err(LedgerError::invalid(field, format!("{date} is outside {DATE_MIN} to {DATE_MAX}")));
    }
    Ok(())
}

/// Serde form of a date in records: a `u32` holding `yyyymmdd` (2026-03-31 → 20260331).
pub mod date_codec {
    use chrono::{Datelike, NaiveDate};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Encodes a date as `yyyymmdd`.
    pub fn serialize<S: Serializer>(date: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
        super::date_number(*date).serialize(s)
    }

    /// Decodes `yyyymmdd`; an impossible date is an error.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        let n = u32::deserialize(d)?;
        let date = NaiveDate::from_ymd_opt((n / 10_000) as i32, n / 100 % 100, n % 100)
            .ok_or_else(|| serde::de::Error::custom("invalid yyyymmdd date"))?;
        let _ = date.year();
        Ok(date)
    }
}

/// `yyyymmdd` as a number.
pub fn date_number(date: NaiveDate) -> u32 {
    let year = u32::try_from(date.year()).expect("dates are validated to 1900..=2999");
    year * 10_000 + date.month() * 100 + date.day()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_ids() {
        assert!(ProjectId::parse("p", "rustconf-2026").is_ok());
        assert!(ProjectId::parse("p", "").is_err());
        assert!(ProjectId::parse("p", &"a".repeat(41)).is_err());
        assert!(ProjectId::parse("p", "-x").is_err());
        assert!(ProjectId::parse("p", "x-").is_err());
        let err = ProjectId::parse("project", "Rust_Conf").expect_err("upper case");
        assert!(err.to_string().contains("project"));
    }

    #[test]
    fn event_ids_and_text() {
        assert!(check_event_id("event_id", "inv-2026/001 a").is_ok());
        assert!(check_event_id("event_id", "").is_err());
        assert!(check_event_id("event_id", &"x".repeat(65)).is_err());
        assert!(check_event_id("event_id", "é").is_err());
        assert!(check_text("memo", &"m".repeat(1000), MEMO_CHARS_MAX, true, true).is_ok());
        assert!(check_text("memo", &"m".repeat(1001), MEMO_CHARS_MAX, true, true).is_err());
        assert!(check_text("payee", "  ", NAME_CHARS_MAX, false, false).is_err());
        assert!(check_text("payee", "a\u{7}", NAME_CHARS_MAX, false, false).is_err());
        for spoof in ["evil\u{202E}gnp.exe", "pay\u{200B}pal", "a\u{2066}b", "x\u{FEFF}", "a\u{2028}b"] {
            let e = check_text("memo", spoof, MEMO_CHARS_MAX, true, true).unwrap_err().to_string();
            assert!(e.contains("memo") && e.contains("U+"), "{spoof:?}: {e}");
        }
        for fine in ["می\u{200C}خواهم", "👨\u{200D}👩", "a\u{200E}b", "Zoë & Ünal"] {
            assert!(check_text("memo", fine, MEMO_CHARS_MAX, true, true).is_ok(), "{fine:?}");
        }
    }

    #[test]
    fn dates() {
        let d = parse_date("effective_date", "2026-02-28").expect("date");
        assert_eq!(date_number(d), 20_260_228);
        assert!(parse_date("effective_date", "2026-02-30").is_err());
        assert!(parse_date("effective_date", "26-02-01").is_err());
        assert!(parse_date("effective_date", "1800-01-01").is_err());
        for bad in [
            "2026-1-5",
            " 2026-01-05",
            "+2026-01-05",
            "2026-01-05 ",
            "2026-01-5",
            "2026/01/05",
            "20260105",
            "２０２６-01-05",
            "2026-01-0x",
            "",
        ] {
            let err = parse_date("effective_date", bad).expect_err(bad);
            assert!(err.to_string().contains("YYYY-MM-DD"), "{bad:?}: {err}");
        }
        assert!(parse_date("d", "2026-02-29").expect_err("no such day").to_string().contains("calendar"));
        assert_eq!(parse_date("d", "2024-02-29").expect("leap day").to_string(), "2024-02-29");
    }
}
