//! The record format: how one event is stored, byte for byte. `docs/FORMAT.md` is its specification.
//!
//! A record is encoded once, with bincode 2 and [`codec_config`], and kept as those bytes; its hash
//! is taken over exactly them. Nothing re-encodes a stored record: verification re-hashes the bytes.

use chrono::NaiveDate;
use serde::Serialize;

use crate::chain::Hash;
use crate::error::LedgerError;
use crate::event::{Event, EventKind};
use crate::ids::{date_codec, ProjectId};

/// The format byte every record starts with.
pub const FORMAT_VERSION: u8 = 1;

/// Largest encoded record; the decoder refuses to read past it.
pub const RECORD_BYTES_MAX: usize = 64 * 1024;

/// The codec configuration of records and of every other stored value: little endian, variable-length
/// integers (bincode's varint), at most [`RECORD_BYTES_MAX`] bytes decoded.
pub type Codec = bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<RECORD_BYTES_MAX>,
>;

/// The one codec configuration (see [`Codec`]).
pub fn codec_config() -> Codec {
    bincode::config::standard().with_little_endian().with_variable_int_encoding().with_limit::<RECORD_BYTES_MAX>()
}

/// A decoded record: the chain fields, then the event.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Record {
    /// Format version ([`FORMAT_VERSION`]).
    pub version: u8,
    /// Seq in the project's chain, from 1.
    pub seq: u64,
    /// Hash of the previous record (or the genesis hash).
    pub prev: Hash,
    /// The global commit number that stored it.
    pub commit: u64,
    /// When the server recorded it: microseconds since 1970-01-01 UTC.
    pub recorded_at: i64,
    /// The authenticated principal who recorded it.
    pub actor: String,
    /// The event (its `project` is the record's project).
    pub event: Event,
}

#[derive(Serialize)]
struct RecordOut<'a> {
    version: u8,
    project: &'a str,
    seq: u64,
    #[serde(with = "crate::chain::hash_bytes")]
    prev: &'a Hash,
    commit: u64,
    recorded_at: i64,
    actor: &'a str,
    event_id: &'a str,
    #[serde(with = "date_codec")]
    effective_date: NaiveDate,
    memo: &'a str,
    reference: Option<&'a str>,
    kind: &'a EventKind,
}

/// A record decoded without copying its strings; what replay folds in (decoded by `decode.rs`).
///
/// The text the projection does not use (project, event id, memo, reference) stays raw bytes here,
/// unchecked; [`Record::decode`] checks it is UTF-8. Replay compares the project with its key.
#[derive(Debug)]
pub struct RecordView<'a> {
    /// Format version.
    pub version: u8,
    /// The project id's bytes.
    pub project: &'a [u8],
    /// Seq.
    pub seq: u64,
    /// Previous hash.
    pub prev: Hash,
    /// Commit number.
    pub commit: u64,
    /// Recorded at, µs since the epoch.
    pub recorded_at: i64,
    /// Actor.
    pub actor: &'a str,
    /// Event id's bytes.
    pub event_id: &'a [u8],
    /// Effective date.
    pub effective_date: NaiveDate,
    /// Memo's bytes.
    pub memo: &'a [u8],
    /// Reference's bytes.
    pub reference: Option<&'a [u8]>,
    /// The event.
    pub kind: EventKind,
}

impl Record {
    /// Encodes the record: these bytes are stored and hashed, once.
    pub fn encode(&self) -> Vec<u8> {
        debug_assert_eq!(self.version, FORMAT_VERSION);
        let out = RecordOut {
            version: self.version,
            project: self.event.project.as_str(),
            seq: self.seq,
            prev: &self.prev,
            commit: self.commit,
            recorded_at: self.recorded_at,
            actor: &self.actor,
            event_id: &self.event.event_id,
            effective_date: self.event.effective_date,
            memo: &self.event.memo,
            reference: self.event.reference.as_deref(),
            kind: &self.event.kind,
        };
        bincode::serde::encode_to_vec(&out, codec_config()).expect("encoding into a Vec cannot fail for these types")
    }

    /// Decodes stored bytes into an owned record, checking the format byte and the project id.
    pub fn decode(bytes: &[u8]) -> Result<Record, LedgerError> {
        let v = RecordView::decode(bytes)?;
        let text = |what: &str, b: &[u8]| {
            std::str::from_utf8(b)
                .map(str::to_owned)
                .map_err(|_| LedgerError::Format(format!("record {what} is not UTF-8")))
        };
        let project = ProjectId::parse("project", &text("project", v.project)?)
            .map_err(|e| LedgerError::Format(format!("record project: {e}")))?;
        Ok(Record {
            version: v.version,
            seq: v.seq,
            prev: v.prev,
            commit: v.commit,
            recorded_at: v.recorded_at,
            actor: v.actor.to_owned(),
            event: Event {
                event_id: text("event id", v.event_id)?,
                project,
                effective_date: v.effective_date,
                memo: text("memo", v.memo)?,
                reference: v.reference.map(|r| text("reference", r)).transpose()?,
                kind: v.kind,
            },
        })
    }
}

impl<'a> RecordView<'a> {
    /// Decodes stored bytes, borrowing strings; checks the format byte and that nothing trails.
    pub fn decode(bytes: &'a [u8]) -> Result<RecordView<'a>, LedgerError> {
        match bytes.first() {
            Some(&FORMAT_VERSION) => {}
            Some(v) => {
                return Err(LedgerError::Format(format!(
                    "record format version {v} is unknown; this build reads {FORMAT_VERSION}"
                )))
            }
            None => return Err(LedgerError::Format("empty record".to_owned())),
        }
        crate::decode::record_view(bytes)
    }
}

/// Appends one record to a stored value: a value holds one or more consecutive records of a project,
/// each as a `u32` little-endian length then the record's bytes.
pub fn push_framed(value: &mut Vec<u8>, record: &[u8]) {
    let len = u32::try_from(record.len()).expect("records are at most RECORD_BYTES_MAX bytes");
    value.extend_from_slice(&len.to_le_bytes());
    value.extend_from_slice(record);
}

/// Splits a stored value into its records' bytes.
pub struct Framed<'a> {
    rest: &'a [u8],
    item_bytes_max: usize,
}

impl<'a> Framed<'a> {
    /// Iterates the records of a stored value (each at most [`RECORD_BYTES_MAX`]).
    pub fn new(value: &'a [u8]) -> Framed<'a> {
        Framed { rest: value, item_bytes_max: RECORD_BYTES_MAX }
    }

    /// Iterates the commit log entries of a stored value (each at most [`VALUE_BYTES_MAX`]).
    pub fn commits(value: &'a [u8]) -> Framed<'a> {
        Framed { rest: value, item_bytes_max: VALUE_BYTES_MAX }
    }
}

impl<'a> Iterator for Framed<'a> {
    type Item = Result<&'a [u8], LedgerError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let Some((len, tail)) = self.rest.split_first_chunk::<4>() else {
            self.rest = &[];
            return Some(Err(LedgerError::Format("truncated record length".to_owned())));
        };
        let len = u32::from_le_bytes(*len) as usize;
        if len > self.item_bytes_max || len > tail.len() {
            self.rest = &[];
            return Some(Err(LedgerError::Format(format!("record length {len} runs past its value"))));
        }
        let (record, rest) = tail.split_at(len);
        self.rest = rest;
        Some(Ok(record))
    }
}

/// An entry of the commit log: which records one commit stored, with their hashes.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct CommitEntry {
    /// Format version ([`FORMAT_VERSION`]).
    pub version: u8,
    /// The commit number.
    pub number: u64,
    /// When it was recorded, µs since the epoch.
    pub recorded_at: i64,
    /// The records, in commit order.
    pub records: Vec<Listed>,
    /// `commit_hash(prev, number, record hashes)`.
    #[serde(with = "crate::chain::hash_bytes")]
    pub hash: Hash,
}

/// One record as the commit log lists it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Listed {
    /// The record's project.
    pub project: String,
    /// Its seq.
    pub seq: u64,
    /// Its hash.
    #[serde(with = "crate::chain::hash_bytes")]
    pub hash: Hash,
}

/// A commit log entry decoded without copying its strings.
#[derive(Debug)]
pub struct CommitView<'a> {
    /// Format version.
    pub version: u8,
    /// Commit number.
    pub number: u64,
    /// Recorded at, µs since the epoch.
    pub recorded_at: i64,
    /// The records, in commit order.
    pub records: Vec<ListedView<'a>>,
    /// The commit hash.
    pub hash: Hash,
}

/// One listed record, borrowed.
#[derive(Debug)]
pub struct ListedView<'a> {
    /// Project.
    pub project: &'a str,
    /// Seq.
    pub seq: u64,
    /// Record hash.
    pub hash: Hash,
}

impl<'a> CommitView<'a> {
    /// Decodes one stored commit log entry (unframed) with the ledger's one commit entry decoder,
    /// which replay uses too. Errors: [`LedgerError::Format`] saying what does not decode.
    pub fn decode(bytes: &'a [u8]) -> Result<CommitView<'a>, LedgerError> {
        let mut records = Vec::new();
        let mut bad_text = false;
        let header = crate::decode::walk_commit(bytes, |_, _, project, seq, hash| {
            // the listing grows with the bytes read, never with a length read from them
            match std::str::from_utf8(project) {
                Ok(project) => records.push(ListedView { project, seq, hash: *hash }),
                Err(_) => bad_text = true,
            }
        })?;
        if bad_text {
            return Err(LedgerError::Format("commit entry does not decode: a project is not UTF-8".to_owned()));
        }
        Ok(CommitView {
            version: header.version,
            number: header.number,
            recorded_at: header.recorded_at,
            records,
            hash: header.hash,
        })
    }
}

impl From<&CommitView<'_>> for CommitEntry {
    fn from(v: &CommitView<'_>) -> CommitEntry {
        CommitEntry {
            version: v.version,
            number: v.number,
            recorded_at: v.recorded_at,
            records: v
                .records
                .iter()
                .map(|r| Listed { project: r.project.to_owned(), seq: r.seq, hash: r.hash })
                .collect(),
            hash: v.hash,
        }
    }
}

impl CommitEntry {
    /// Decodes one stored commit log entry (unframed): [`CommitView::decode`], owned.
    pub fn decode(bytes: &[u8]) -> Result<CommitEntry, LedgerError> {
        CommitView::decode(bytes).map(|v| CommitEntry::from(&v))
    }
}

/// Largest stored value other than a record (a commit entry of [`crate::commit::COMMIT_EVENTS_MAX`]
/// records); bincode counts what decoding allocates against it, not only the bytes read.
pub const VALUE_BYTES_MAX: usize = 16 * 1024 * 1024;

/// The codec of stored values other than records: as [`codec_config`], with [`VALUE_BYTES_MAX`].
pub fn value_config() -> bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<VALUE_BYTES_MAX>,
> {
    bincode::config::standard().with_little_endian().with_variable_int_encoding().with_limit::<VALUE_BYTES_MAX>()
}

/// Encodes a stored value other than a record (commit entries, id entries).
pub fn encode_value<T: Serialize>(value: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(value, value_config()).expect("encoding into a Vec cannot fail for these types")
}
