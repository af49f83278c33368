//! The record decoder: reads what [`crate::record::Record::encode`] wrote (serde into bincode with
//! [`crate::record::codec_config`]) straight from the bytes, as `docs/FORMAT.md` describes them.
//! Replay decodes every record, and this costs a fraction of going through serde's visitors or
//! bincode's generic decoder; the encoder stays bincode. The format vectors and the round-trip
//! property test hold the two to the same bytes. It is strict where bincode is lenient: an integer
//! must use its shortest encoding, which is what bincode writes.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::chain::Hash;
use crate::commit::COMMIT_EVENTS_MAX;
use crate::error::LedgerError;
use crate::event::{EventKind, ExpenseDetails, Fund, ProjectKind, Receipt, Source};
use crate::ids::ProjectId;
use crate::money::{Currency, Money};
use crate::record::{RecordView, RECORD_BYTES_MAX};

/// Why bytes did not decode.
type Bad = String;

/// Reads bincode's encoding (little endian, varint integers) from a slice.
pub(crate) struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Cursor<'a> {
        Cursor { rest: bytes }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Bad> {
        if n > self.rest.len() {
            return Err(format!("{n} bytes wanted, {} left", self.rest.len()));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Bad> {
        Ok(self.take(N)?.try_into().expect("take returned N bytes"))
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Bad> {
        Ok(self.array::<1>()?[0])
    }

    /// bincode's unsigned varint: below 251 one byte; 251, 252, 253 then a u16, u32, u64.
    pub(crate) fn varint(&mut self) -> Result<u64, Bad> {
        let (value, min) = match self.u8()? {
            b @ 0..=250 => return Ok(u64::from(b)),
            251 => (u64::from(u16::from_le_bytes(self.array()?)), 251),
            252 => (u64::from(u32::from_le_bytes(self.array()?)), 1 << 16),
            253 => (u64::from_le_bytes(self.array()?), 1 << 32),
            b => return Err(format!("integer marker {b} out of range")),
        };
        if value < min {
            return Err("integer not in its shortest encoding".to_owned());
        }
        Ok(value)
    }

    fn u32(&mut self) -> Result<u32, Bad> {
        u32::try_from(self.varint()?).map_err(|_| "u32 out of range".to_owned())
    }

    /// Zigzag then varint.
    fn i64(&mut self) -> Result<i64, Bad> {
        let z = self.varint()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    /// A length-prefixed byte string.
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], Bad> {
        let len = self.varint()?;
        if len > RECORD_BYTES_MAX as u64 {
            return Err(format!("a string of {len} bytes"));
        }
        self.take(len as usize)
    }

    fn str(&mut self) -> Result<&'a str, Bad> {
        std::str::from_utf8(self.bytes()?).map_err(|_| "text is not UTF-8".to_owned())
    }

    fn string(&mut self) -> Result<String, Bad> {
        self.str().map(str::to_owned)
    }

    fn option<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, Bad>) -> Result<Option<T>, Bad> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(f(self)?)),
            t => Err(format!("option tag {t}")),
        }
    }

    fn currency(&mut self) -> Result<Currency, Bad> {
        Currency::from_bytes(self.array()?).ok_or_else(|| "unknown currency code".to_owned())
    }

    /// A decimal as `(mantissa: i64, scale: u8)`, normalised (see `money::amount_codec`).
    fn amount(&mut self) -> Result<Decimal, Bad> {
        let mantissa = self.i64()?;
        let scale = self.u8()?;
        if scale > 28 {
            return Err("decimal scale over 28".to_owned());
        }
        if scale > 0 && mantissa % 10 == 0 {
            return Err("decimal not normalised".to_owned());
        }
        Ok(Decimal::new(mantissa, u32::from(scale)))
    }

    fn money(&mut self) -> Result<Money, Bad> {
        let c = self.currency()?;
        let a = self.amount()?;
        Money::from_normalised(a, c).ok_or_else(|| format!("amount {a} {c} is not a valid amount"))
    }

    fn date(&mut self) -> Result<NaiveDate, Bad> {
        date_from_number(self.u32()?).ok_or_else(|| "invalid yyyymmdd date".to_owned())
    }

    pub(crate) fn hash(&mut self) -> Result<Hash, Bad> {
        let len = self.varint()?;
        if len != 32 {
            return Err(format!("hash of {len} bytes"));
        }
        self.array()
    }

    fn project(&mut self) -> Result<ProjectId, Bad> {
        ProjectId::parse("project", self.str()?).map_err(|e| e.to_string())
    }

    fn fund(&mut self) -> Result<Fund, Bad> {
        match self.u32()? {
            0 => Ok(Fund::Unrestricted),
            1 => Ok(Fund::Restricted(self.string()?)),
            t => Err(format!("fund variant {t}")),
        }
    }

    fn details(&mut self) -> Result<ExpenseDetails, Bad> {
        Ok(ExpenseDetails {
            amount: self.money()?,
            payee: self.string()?,
            category: self.string()?,
            fund: self.fund()?,
            receipt: Receipt { hash: self.hash()?, file_name: self.string()? },
        })
    }

    fn project_kind(&mut self) -> Result<ProjectKind, Bad> {
        let t = self.u32()?;
        ProjectKind::ALL.get(t as usize).copied().ok_or_else(|| format!("project kind {t}"))
    }

    fn source(&mut self) -> Result<Source, Bad> {
        let t = self.u32()?;
        Source::ALL.get(t as usize).copied().ok_or_else(|| format!("source {t}"))
    }

    /// An event kind; `nested` is true inside a reversal, where another reversal may not stand.
    fn event_kind(&mut self, nested: bool) -> Result<EventKind, Bad> {
        let d = self;
        Ok(match d.u32()? {
            0 => EventKind::ProjectOpened {
                name: d.string()?,
                kind: d.project_kind()?,
                fee_bps: d.u32()?,
                currency: d.currency()?,
                advance_limit: d.amount()?,
            },
            1 => {
                EventKind::ProjectTermsChanged { fee_bps: d.option(Self::u32)?, advance_limit: d.option(Self::amount)? }
            }
            2 => EventKind::ContributionReceived {
                amount: d.money()?,
                from: d.string()?,
                source: d.source()?,
                fund: d.fund()?,
                fee_bps: d.option(Self::u32)?,
            },
            3 => EventKind::PledgeRecorded { amount: d.money()?, sponsor: d.string()?, due_date: d.date()? },
            4 => EventKind::PledgeFulfilled { amount: d.money()?, pledge: d.varint()?, fee_bps: d.option(Self::u32)? },
            5 => EventKind::PledgeCancelled { pledge: d.varint()?, amount: d.option(Self::money)? },
            6 => EventKind::GrantAwarded { amount: d.money()?, program: d.string()? },
            7 => EventKind::AdvanceIssued { amount: d.money()?, purpose: d.string()? },
            8 => EventKind::AdvanceRepaid { amount: d.money()? },
            9 => EventKind::ExpensePaid { request: d.option(Self::varint)?, details: d.option(Self::details)? },
            10 => EventKind::ExpenseRequested { details: d.details()? },
            11 => EventKind::ExpenseApproved { request: d.varint()? },
            12 => EventKind::ExpenseRejected { request: d.varint()?, reason: d.string()? },
            13 => EventKind::RefundIssued {
                amount: d.money()?,
                contribution: d.varint()?,
                fund: d.option(Self::fund)?,
                fee_share: d.option(Self::amount)?,
            },
            14 => EventKind::TransferSent { amount: d.money()?, to: d.project()? },
            15 => EventKind::TransferReceived { amount: d.money()?, from: d.project()? },
            16 => EventKind::FundsReleased { amount: d.money()?, purpose: d.string()? },
            17 => EventKind::CurrencyConverted { amount: d.money()?, to: d.money()? },
            18 => EventKind::OpeningBalance { amount: d.money()?, fund: d.fund()? },
            19 if nested => return Err("a reversal's target is itself a reversal".to_owned()),
            19 => EventKind::EventReversed {
                target_seq: d.varint()?,
                reason: d.string()?,
                target: d.option(|d| d.event_kind(true).map(Box::new))?,
            },
            20 => EventKind::ProjectClosed {},
            21 => EventKind::PeriodClosed { through: d.date()? },
            t => return Err(format!("event kind {t}")),
        })
    }
}

/// A date from its `yyyymmdd` number.
pub(crate) fn date_from_number(n: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(i32::try_from(n / 10_000).ok()?, n / 100 % 100, n % 100)
}

/// Decodes a record's stored bytes (all of them) into a view.
pub(crate) fn record_view(bytes: &[u8]) -> Result<RecordView<'_>, LedgerError> {
    let mut d = Cursor::new(bytes);
    let mut run = || -> Result<RecordView<'_>, Bad> {
        Ok(RecordView {
            version: d.u8()?,
            project: d.bytes()?,
            seq: d.varint()?,
            prev: d.hash()?,
            commit: d.varint()?,
            recorded_at: d.i64()?,
            actor: d.str()?,
            event_id: d.bytes()?,
            effective_date: d.date()?,
            memo: d.bytes()?,
            reference: d.option(Cursor::bytes)?,
            kind: d.event_kind(false)?,
        })
    };
    let view = run().map_err(|e| LedgerError::Format(format!("record does not decode: {e}")))?;
    if !d.is_empty() {
        return Err(LedgerError::Format(format!("record has {} trailing bytes", d.rest.len())));
    }
    Ok(view)
}

/// What [`walk_commit`] reads of a commit log entry besides its listing.
pub(crate) struct CommitHeader {
    /// Format version.
    pub version: u8,
    /// Commit number.
    pub number: u64,
    /// When it was recorded, µs since the epoch.
    pub recorded_at: i64,
    /// The stored commit hash.
    pub hash: Hash,
}

/// The one decoder of a stored commit log entry (`docs/FORMAT.md` section 5): reads it, handing
/// each listed record to `each` as it goes (the entry's commit number and `recorded_at`, then the
/// record's project bytes, seq and hash), without building the list.
/// Strict as the record decoder is; the listing holds 1 to [`COMMIT_EVENTS_MAX`] records, and
/// nothing is allocated from a length before the bytes it counts are there.
pub(crate) fn walk_commit<'a>(
    bytes: &'a [u8],
    mut each: impl FnMut(u64, i64, &'a [u8], u64, &Hash),
) -> Result<CommitHeader, LedgerError> {
    let mut d = Cursor::new(bytes);
    let mut run = || -> Result<CommitHeader, Bad> {
        let version = d.u8()?;
        let number = d.varint()?;
        let recorded_at = d.i64()?;
        let count = d.varint()?;
        if count == 0 || count > COMMIT_EVENTS_MAX as u64 {
            return Err(format!("a commit of {count} records (1 to {COMMIT_EVENTS_MAX})"));
        }
        for _ in 0..count {
            let project = d.bytes()?;
            let seq = d.varint()?;
            let h = d.hash()?;
            each(number, recorded_at, project, seq, &h);
        }
        let hash = d.hash()?;
        if !d.is_empty() {
            return Err("trailing bytes".to_owned());
        }
        Ok(CommitHeader { version, number, recorded_at, hash })
    };
    run().map_err(|e| LedgerError::Format(format!("commit entry does not decode: {e}")))
}

/// The event id's bytes in a record's stored bytes, read without decoding the rest.
#[cfg(feature = "store")]
pub(crate) fn event_id_of(bytes: &[u8]) -> Option<&[u8]> {
    let mut d = Cursor::new(bytes);
    d.u8().ok()?;
    d.bytes().ok()?;
    d.varint().ok()?;
    d.hash().ok()?;
    d.varint().ok()?;
    d.varint().ok()?;
    d.bytes().ok()?;
    d.bytes().ok()
}
