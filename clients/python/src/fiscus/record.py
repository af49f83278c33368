"""A reader of Fiscus records written from ``docs/FORMAT.md`` alone (format version 1): the hash
rules of its section 4 and the strict decoding of its sections 1–3. It shares no code with the Rust
ledger; where the two disagreed, one of the documents or one of the readers would be wrong.

Everything here raises :class:`RecordError` on bytes that break a rule; nothing panics on outside
data. Amounts come back as :class:`decimal.Decimal`, dates as :class:`datetime.date`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import blake3

from fiscus.model import (
    AdvanceIssued,
    AdvanceRepaid,
    ContributionReceived,
    ContributionSource,
    CurrencyConverted,
    Event,
    EventKind,
    EventReversed,
    ExpenseApproved,
    ExpenseDetails,
    ExpensePaid,
    ExpenseRejected,
    ExpenseRequested,
    Fund,
    FundsReleased,
    GrantAwarded,
    Money,
    OpeningBalance,
    PeriodClosed,
    PledgeCancelled,
    PledgeFulfilled,
    PledgeRecorded,
    ProjectClosed,
    ProjectKind,
    ProjectOpened,
    ProjectTermsChanged,
    Receipt,
    RefundIssued,
    TransferReceived,
    TransferSent,
)

FORMAT_VERSION = 1
"""The format byte that leads every version-1 record (FORMAT.md section 2)."""
RECORD_BYTES_MAX = 65_536
"""Largest record, in bytes (FORMAT.md section 2)."""
GENESIS_CONTEXT = "fiscus genesis v1"
RECORD_CONTEXT = "fiscus record v1"

MINOR_UNITS: dict[str, int] = {
    "AED": 2, "ARS": 2, "AUD": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0, "CNY": 2,
    "COP": 2, "CZK": 2, "DKK": 2, "EGP": 2, "EUR": 2, "GBP": 2, "GHS": 2, "HKD": 2, "HUF": 2,
    "IDR": 2, "ILS": 2, "INR": 2, "ISK": 0, "JOD": 3, "JPY": 0, "KES": 2, "KRW": 0, "KWD": 3,
    "MXN": 2, "NGN": 2, "NOK": 2, "NZD": 2, "OMR": 3, "PHP": 2, "PLN": 2, "SEK": 2, "SGD": 2,
    "THB": 2, "TND": 3, "TRY": 2, "TWD": 2, "UGX": 0, "USD": 2, "VND": 0, "ZAR": 2,
}  # fmt: skip
"""The currency table of FORMAT.md section 1: code → minor units. Any other code is invalid."""

_AMOUNT_MAX = Decimal(10) ** 15
_SLUG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


class RecordError(ValueError):
    """Bytes that are not a valid record; ``offset`` is where the reader stopped."""

    def __init__(self, problem: str, offset: int) -> None:
        super().__init__(f"{problem} (at byte {offset})")
        self.problem = problem
        self.offset = offset


def genesis_hash(project: str) -> bytes:
    """``derive_key("fiscus genesis v1", project id)``: the ``prev`` of a project's seq 1."""
    return blake3.blake3(project.encode(), derive_key_context=GENESIS_CONTEXT).digest()


def record_hash(stored: bytes) -> bytes:
    """``derive_key("fiscus record v1", stored bytes)``: a record's hash."""
    return blake3.blake3(stored, derive_key_context=RECORD_CONTEXT).digest()


def commit_hash(prev: bytes, number: int, record_hashes: list[bytes]) -> bytes:
    """``blake3(prev ‖ number as u64 BE ‖ record hashes)`` in the default hash mode."""
    h = blake3.blake3(prev)
    h.update(struct.pack(">Q", number))
    for r in record_hashes:
        h.update(r)
    return h.digest()


@dataclass(frozen=True)
class StoredRecord:
    """A decoded record: the fields of FORMAT.md section 2 and its hash."""

    version: int
    project: str
    seq: int
    prev: bytes
    commit: int
    recorded_at_us: int
    actor: str
    event: Event
    hash: bytes


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def fail(self, problem: str) -> RecordError:
        return RecordError(problem, self.pos)

    def take(self, n: int, what: str) -> bytes:
        if n > len(self.data) - self.pos:
            raise self.fail(f"{what}: {n} bytes needed, {len(self.data) - self.pos} left")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def varint(self, what: str) -> int:
        first = self.u8(what)
        if first <= 250:
            return first
        widths = {0xFB: (2, 251), 0xFC: (4, 1 << 16), 0xFD: (8, 1 << 32)}
        if first not in widths:
            raise self.fail(f"{what}: varint marker 0x{first:02x} is invalid")
        width, smallest = widths[first]
        value = int.from_bytes(self.take(width, what), "little")
        if value < smallest:
            raise self.fail(f"{what}: varint {value} is not in its shortest form")
        return value

    def u32(self, what: str) -> int:
        value = self.varint(what)
        if value >= 1 << 32:
            raise self.fail(f"{what}: {value} does not fit a u32")
        return value

    def i64(self, what: str) -> int:
        z = self.varint(what)
        return (z >> 1) ^ -(z & 1)

    def string(self, what: str) -> str:
        n = self.varint(what)
        raw = self.take(n, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"{what}: not UTF-8") from None

    def option(self, what: str) -> bool:
        tag = self.u8(what)
        if tag not in (0, 1):
            raise self.fail(f"{what}: option tag {tag} is invalid")
        return tag == 1

    def hash(self, what: str) -> bytes:
        n = self.varint(what)
        if n != 32:
            raise self.fail(f"{what}: a hash is 32 bytes, not {n}")
        return self.take(32, what)

    def index(self, what: str, count: int) -> int:
        i = self.u32(what)
        if i >= count:
            raise self.fail(f"{what}: variant index {i} is invalid")
        return i

    def date(self, what: str) -> date:
        n = self.u32(what)
        try:
            d = date(n // 10000, n // 100 % 100, n % 100)
        except ValueError:
            raise self.fail(f"{what}: {n} is not a calendar date") from None
        if not date(1900, 1, 1) <= d <= date(2999, 12, 31):
            raise self.fail(f"{what}: {d} is outside 1900-01-01 … 2999-12-31")
        return d

    def decimal(self, what: str) -> Decimal:
        mantissa = self.i64(what)
        if not -(1 << 63) <= mantissa < 1 << 63:
            raise self.fail(f"{what}: mantissa out of the i64 range")
        scale = self.u8(what)
        if scale > 28:
            raise self.fail(f"{what}: scale {scale} is over 28")
        if scale > 0 and mantissa % 10 == 0:
            raise self.fail(f"{what}: ({mantissa}, {scale}) is not normalised")
        return Decimal(mantissa).scaleb(-scale)

    def currency(self, what: str) -> str:
        code = self.take(3, what)
        text = code.decode("ascii", errors="replace")
        if text not in MINOR_UNITS:
            raise self.fail(f"{what}: unknown currency {code!r}")
        return text

    def money(self, what: str) -> Money:
        currency = self.currency(f"{what}.currency")
        amount = self.decimal(f"{what}.amount")
        if amount <= 0 or amount > _AMOUNT_MAX:
            raise self.fail(f"{what}: {amount} {currency} is not a positive amount of at most 1e15")
        if -amount.as_tuple().exponent > MINOR_UNITS[currency]:  # type: ignore[operator]
            raise self.fail(f"{what}: {amount} has more places than {currency}'s {MINOR_UNITS[currency]}")
        return Money(amount, currency)

    def slug(self, what: str) -> str:
        text = self.string(what)
        if not 1 <= len(text) <= 40 or not set(text) <= _SLUG_CHARS or text.startswith("-") or text.endswith("-"):
            raise self.fail(f"{what}: {text!r} is not 1–40 of [a-z0-9-] without a leading or trailing '-'")
        return text

    def fund(self, what: str) -> Fund:
        if self.index(what, 2) == 0:
            return Fund()
        return Fund(self.slug(f"{what}.purpose"))

    def details(self, what: str) -> ExpenseDetails:
        amount = self.money(f"{what}.amount")
        payee = self.string(f"{what}.payee")
        category = self.string(f"{what}.category")
        fund = self.fund(f"{what}.fund")
        receipt = Receipt(self.hash(f"{what}.receipt.hash"), self.string(f"{what}.receipt.file_name"))
        return ExpenseDetails(amount=amount, payee=payee, category=category, receipt=receipt, fund=fund)

    def opt_u32(self, what: str) -> int | None:
        return self.u32(what) if self.option(what) else None

    def kind(self, what: str, nested: bool = False) -> EventKind:
        i = self.index(what, 22)
        r = self
        if i == 0:
            name = r.string("name")
            kind = list(ProjectKind)[r.index("kind", 5)]
            return ProjectOpened(name, kind, r.u32("fee_bps"), r.currency("currency"), r.decimal("advance_limit"))
        if i == 1:
            fee = r.opt_u32("fee_bps")
            return ProjectTermsChanged(fee, r.decimal("advance_limit") if r.option("advance_limit") else None)
        if i == 2:
            amount, from_ = r.money("amount"), r.string("from")
            source = list(ContributionSource)[r.index("source", 5)]
            return ContributionReceived(amount, from_, source, r.fund("fund"), r.opt_u32("fee_bps"))
        if i == 3:
            return PledgeRecorded(r.money("amount"), r.string("sponsor"), r.date("due_date"))
        if i == 4:
            return PledgeFulfilled(r.money("amount"), r.varint("pledge"), r.opt_u32("fee_bps"))
        if i == 5:
            pledge = r.varint("pledge")
            return PledgeCancelled(pledge, r.money("amount") if r.option("amount") else None)
        if i == 6:
            return GrantAwarded(r.money("amount"), r.string("program"))
        if i == 7:
            return AdvanceIssued(r.money("amount"), r.string("purpose"))
        if i == 8:
            return AdvanceRepaid(r.money("amount"))
        if i == 9:
            request = r.varint("request") if r.option("request") else None
            return ExpensePaid(request, r.details("details") if r.option("details") else None)
        if i == 10:
            return ExpenseRequested(r.details("details"))
        if i == 11:
            return ExpenseApproved(r.varint("request"))
        if i == 12:
            return ExpenseRejected(r.varint("request"), r.string("reason"))
        if i == 13:
            amount, contribution = r.money("amount"), r.varint("contribution")
            fund = r.fund("fund") if r.option("fund") else None
            return RefundIssued(amount, contribution, fund, r.decimal("fee_share") if r.option("fee_share") else None)
        if i == 14:
            return TransferSent(r.money("amount"), r.slug("to"))
        if i == 15:
            return TransferReceived(r.money("amount"), r.slug("from"))
        if i == 16:
            return FundsReleased(r.money("amount"), r.string("purpose"))
        if i == 17:
            return CurrencyConverted(r.money("amount"), r.money("to"))
        if i == 18:
            return OpeningBalance(r.money("amount"), r.fund("fund"))
        if i == 19:
            if nested:
                raise self.fail("target: a reversal's target cannot be a reversal")
            target_seq, reason = r.varint("target_seq"), r.string("reason")
            return EventReversed(target_seq, reason, r.kind("target", nested=True) if r.option("target") else None)
        if i == 20:
            return ProjectClosed()
        return PeriodClosed(r.date("through"))


def is_completed(kind: EventKind) -> bool:
    """True when every field the ledger completes is present (FORMAT.md section 3)."""
    if isinstance(kind, (ContributionReceived, PledgeFulfilled)):
        return kind.fee_bps is not None
    if isinstance(kind, PledgeCancelled):
        return kind.amount is not None
    if isinstance(kind, ExpensePaid):
        return kind.details is not None
    if isinstance(kind, RefundIssued):
        return kind.fund is not None and kind.fee_share is not None
    if isinstance(kind, EventReversed):
        return kind.target is not None and is_completed(kind.target)
    return True


def decode_record(stored: bytes) -> StoredRecord:
    """Decodes a record's stored bytes strictly (FORMAT.md sections 1–3): every byte consumed."""
    if len(stored) > RECORD_BYTES_MAX:
        raise RecordError(f"a record is at most {RECORD_BYTES_MAX} bytes, this one {len(stored)}", 0)
    r = _Reader(stored)
    version = r.u8("version")
    if version != FORMAT_VERSION:
        raise r.fail(f"format version {version} is not {FORMAT_VERSION}")
    project = r.slug("project")
    seq = r.varint("seq")
    prev = r.hash("prev")
    commit = r.varint("commit")
    recorded_at = r.i64("recorded_at")
    actor = r.string("actor")
    if not 1 <= len(actor.encode()) <= 128:
        raise r.fail("actor: 1–128 bytes")
    event_id = r.string("event_id")
    if not 1 <= len(event_id) <= 64 or not all(0x20 <= ord(c) <= 0x7E for c in event_id):
        raise r.fail(f"event_id: {event_id!r} is not 1–64 printable ASCII")
    effective_date = r.date("effective_date")
    memo = r.string("memo")
    if len(memo) > 1000:
        raise r.fail("memo: over 1,000 characters")
    reference = r.string("reference") if r.option("reference") else None
    if reference is not None and len(reference) > 128:
        raise r.fail("reference: over 128 characters")
    kind = r.kind("kind")
    if r.pos != len(stored):
        raise r.fail(f"{len(stored) - r.pos} bytes follow the event")
    event = Event(event_id, project, effective_date, kind, memo, reference)
    return StoredRecord(version, project, seq, prev, commit, recorded_at, actor, event, record_hash(stored))
