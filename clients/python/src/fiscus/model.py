"""The Fiscus contract as Python values: money, events and the answers of the daemon.

Field names are those of ``proto/fiscus/v1/*.proto``, except ``from``, a Python keyword, which is
``from_``. Amounts are :class:`decimal.Decimal` (an ``int`` is accepted in requests; a ``float`` is
refused with :class:`TypeError` when the value is built, before anything is sent), dates are
:class:`datetime.date`, hashes are 32 ``bytes``. Every class is a frozen dataclass.
"""

from __future__ import annotations

import builtins
import dataclasses
import enum
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, TypeVar, Union


def amount_of(value: object, what: str) -> Decimal:
    """``value`` as a :class:`Decimal`: a ``Decimal`` as is, an ``int`` converted exactly.

    Raises :class:`TypeError` for anything else: a ``float`` (binary fractions are not money), a
    ``bool``, a string (parse it yourself with ``Decimal(text)``, so that a typo fails where it is).
    """
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, float):
        raise TypeError(f"{what}: a float is not money; pass a decimal.Decimal such as Decimal('12.50')")
    raise TypeError(f"{what}: expected a decimal.Decimal, got {type(value).__name__}")


_CHECKED_BUILTINS: dict[str, type[Any]] = {"str": str, "bytes": bytes, "bool": bool}
_CHECKED_CLASSES = frozenset(
    {"Money", "Fund", "Receipt", "ExpenseDetails", "ProjectKind", "ContributionSource"}
)
"""The declared field types :func:`_check_fields` checks by class (this module's classes, looked up
when a value is built; amounts and dates are checked by :func:`amount_of` and ``_date_of``, an
event's kind by :class:`Event`)."""
_UINT_BITS = {"fee_bps": 32}
"""Integer fields of requests are proto ``uint64`` (seqs), except these (``uint32``)."""


def _check_fields(obj: object) -> None:
    """The fields of a request value are of their declared types (checked when the value is built,
    before anything is sent): an ``int`` field takes an ``int`` (not a ``bool`` nor a ``float``) in
    the range of its proto type, a ``str`` field a ``str``, an enum or dataclass field that class.
    Raises :class:`TypeError` or :class:`ValueError` naming ``Class.field``."""
    cls = type(obj)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        declared = str(f.type)
        optional = declared.endswith(" | None")
        name = declared.removesuffix(" | None")
        what = f"{cls.__name__}.{f.name}"
        if value is None:
            if not optional:
                raise TypeError(f"{what}: required, got None")
            continue
        if name == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{what}: expected an int, got {type(value).__name__} {value!r}")
            bits = _UINT_BITS.get(f.name, 64)
            if not 0 <= value < 1 << bits:
                raise ValueError(f"{what}: {value} is out of range (0 to {(1 << bits) - 1})")
        elif name in _CHECKED_BUILTINS or name in _CHECKED_CLASSES:
            expected = _CHECKED_BUILTINS.get(name) or globals()[name]
            if not isinstance(value, expected) or isinstance(value, bool) and expected is not bool:
                raise TypeError(f"{what}: expected {name}, got {type(value).__name__} {value!r}")


_T = TypeVar("_T")


def _checked(cls: type[_T]) -> type[_T]:
    """Runs :func:`_check_fields` after the class's own ``__post_init__`` (apply below ``@dataclass``)."""
    own = getattr(cls, "__post_init__", None)

    def __post_init__(self: Any) -> None:
        if own is not None:
            own(self)
        _check_fields(self)

    cls.__post_init__ = __post_init__  # type: ignore[attr-defined]
    return cls


def _date_of(value: object, what: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"{what}: expected a datetime.date, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Money:
    """An amount in one currency (an ISO 4217 code of the ledger's table, such as ``"USD"``).

    In requests the amount is positive, has at most the currency's minor-unit places (USD 2, JPY 0,
    KWD 3) and is at most 1e15; the daemon refuses anything else with ``FiscusInvalid`` naming the
    field. Answers carry exactly the currency's minor-unit places (``Decimal("1250.00")``).
    """

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", amount_of(self.amount, "Money.amount"))
        if not isinstance(self.currency, str):
            raise TypeError(f"Money.currency: expected str, got {type(self.currency).__name__}")


class ProjectKind(enum.Enum):
    """What kind of project a sponsored project is."""

    CONFERENCE = "conference"
    MEETUP = "meetup"
    WORKSHOP = "workshop"
    OPEN_SOURCE = "open-source"
    OTHER = "other"


class ContributionSource(enum.Enum):
    """Where a contribution came from; statements total per source under these names."""

    SPONSORSHIP = "sponsorship"
    DONATION = "donation"
    TICKET_SALES = "ticket-sales"
    GRANT = "grant"
    OTHER = "other"


@dataclass(frozen=True)
@_checked
class Fund:
    """A project's fund: unrestricted (``restricted_purpose == ""``) or restricted to a purpose slug."""

    restricted_purpose: str = ""

    @staticmethod
    def restricted(purpose: str) -> Fund:
        """The restricted fund for ``purpose``."""
        return Fund(purpose)

    @property
    def is_unrestricted(self) -> bool:
        """True for the unrestricted fund."""
        return self.restricted_purpose == ""

    def __str__(self) -> str:
        return "unrestricted" if self.is_unrestricted else f"restricted:{self.restricted_purpose}"


UNRESTRICTED = Fund()
"""The unrestricted fund (`Liabilities:Projects:<project>:Unrestricted`)."""


@dataclass(frozen=True)
@_checked
class Receipt:
    """The invoice or receipt of an expense: blake3 hash (32 bytes) of the file, and its name."""

    hash: bytes
    file_name: str


@dataclass(frozen=True)
@_checked
class ExpenseDetails:
    """Who is paid how much, for what (category slug), from which fund, with which receipt."""

    amount: Money
    payee: str
    category: str
    receipt: Receipt
    fund: Fund = UNRESTRICTED


# ----- the event kinds, in the contract's order -------------------------------------------------


@dataclass(frozen=True)
@_checked
class ProjectOpened:
    """Opens a project (seq 1). ``fee_bps`` 0–5000; ``advance_limit`` in ``currency``. No postings."""

    name: str
    kind: ProjectKind
    fee_bps: int
    currency: str
    advance_limit: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "advance_limit", amount_of(self.advance_limit, "ProjectOpened.advance_limit"))


@dataclass(frozen=True)
@_checked
class ProjectTermsChanged:
    """New fee rate and/or advance limit for later events; ``None`` keeps the current one."""

    fee_bps: int | None = None
    advance_limit: Decimal | None = None

    def __post_init__(self) -> None:
        if self.advance_limit is not None:
            limit = amount_of(self.advance_limit, "ProjectTermsChanged.advance_limit")
            object.__setattr__(self, "advance_limit", limit)


@dataclass(frozen=True)
@_checked
class ContributionReceived:
    """Money received. ``fee_bps`` ``None`` applies the project's rate (completed when stored)."""

    amount: Money
    from_: str
    source: ContributionSource
    fund: Fund = UNRESTRICTED
    fee_bps: int | None = None


@dataclass(frozen=True)
@_checked
class PledgeRecorded:
    """A sponsor's promise to pay ``amount`` by ``due_date``."""

    amount: Money
    sponsor: str
    due_date: date

    def __post_init__(self) -> None:
        _date_of(self.due_date, "PledgeRecorded.due_date")


@dataclass(frozen=True)
@_checked
class PledgeFulfilled:
    """A pledge (the seq of its ``PledgeRecorded``) paid, in part or in full."""

    amount: Money
    pledge: int
    fee_bps: int | None = None


@dataclass(frozen=True)
@_checked
class PledgeCancelled:
    """What remains of a pledge cancelled; ``amount`` is completed by the ledger."""

    pledge: int
    amount: Money | None = None


@dataclass(frozen=True)
@_checked
class GrantAwarded:
    """A grant from the sponsor's own funds under ``program`` (a slug)."""

    amount: Money
    program: str


@dataclass(frozen=True)
@_checked
class AdvanceIssued:
    """Money advanced to the project, in its home currency."""

    amount: Money
    purpose: str


@dataclass(frozen=True)
@_checked
class AdvanceRepaid:
    """An advance paid back."""

    amount: Money


@dataclass(frozen=True)
@_checked
class ExpensePaid:
    """An expense paid: direct (``details``) or an approved request (``request``, a seq).

    In a stored event ``details`` is always set (completed from the request).
    """

    request: int | None = None
    details: ExpenseDetails | None = None


@dataclass(frozen=True)
@_checked
class ExpenseRequested:
    """An expense filed for approval."""

    details: ExpenseDetails


@dataclass(frozen=True)
@_checked
class ExpenseApproved:
    """An expense request (its seq) approved: its amount is held on its fund."""

    request: int


@dataclass(frozen=True)
@_checked
class ExpenseRejected:
    """An expense request (its seq) refused."""

    request: int
    reason: str


@dataclass(frozen=True)
@_checked
class RefundIssued:
    """Part of a contribution (its seq) paid back; ``fund`` and ``fee_share`` are completed."""

    amount: Money
    contribution: int
    fund: Fund | None = None
    fee_share: Decimal | None = None

    def __post_init__(self) -> None:
        if self.fee_share is not None:
            object.__setattr__(self, "fee_share", amount_of(self.fee_share, "RefundIssued.fee_share"))


@dataclass(frozen=True)
@_checked
class TransferSent:
    """Money sent to project ``to``; committed with its ``TransferReceived``."""

    amount: Money
    to: str


@dataclass(frozen=True)
@_checked
class TransferReceived:
    """Money received from project ``from_``; committed with its ``TransferSent``."""

    amount: Money
    from_: str


@dataclass(frozen=True)
@_checked
class FundsReleased:
    """Restricted money (``purpose``) released to the unrestricted fund."""

    amount: Money
    purpose: str


@dataclass(frozen=True)
@_checked
class CurrencyConverted:
    """Unrestricted ``amount`` converted into ``to`` (another currency)."""

    amount: Money
    to: Money


@dataclass(frozen=True)
@_checked
class OpeningBalance:
    """A balance brought over from earlier books."""

    amount: Money
    fund: Fund = UNRESTRICTED


@dataclass(frozen=True)
@_checked
class EventReversed:
    """Negates the postings of the event at ``target_seq``; ``target`` is completed (its kind)."""

    target_seq: int
    reason: str
    target: EventKind | None = None


@dataclass(frozen=True)
@_checked
class ProjectClosed:
    """Closes the project."""


@dataclass(frozen=True)
@_checked
class PeriodClosed:
    """Closes the books through a date (on a project's chain, or on the ``sponsor`` chain)."""

    through: date

    def __post_init__(self) -> None:
        _date_of(self.through, "PeriodClosed.through")


EventKind = Union[
    ProjectOpened,
    ProjectTermsChanged,
    ContributionReceived,
    PledgeRecorded,
    PledgeFulfilled,
    PledgeCancelled,
    GrantAwarded,
    AdvanceIssued,
    AdvanceRepaid,
    ExpensePaid,
    ExpenseRequested,
    ExpenseApproved,
    ExpenseRejected,
    RefundIssued,
    TransferSent,
    TransferReceived,
    FundsReleased,
    CurrencyConverted,
    OpeningBalance,
    EventReversed,
    ProjectClosed,
    PeriodClosed,
]
"""What happened: one of the 22 kinds, in the contract's order (which is also the record format's)."""

EVENT_KINDS: tuple[type[EventKind], ...] = EventKind.__args__  # type: ignore[attr-defined]
"""The kinds in the contract's (and the record format's) order: index ``i`` is variant ``i``."""


@dataclass(frozen=True)
@_checked
class Event:
    """One event of one project's chain: the envelope and its kind.

    ``event_id`` is your idempotency key (1–64 printable ASCII, unique across the ledger): sending
    the same event again answers with the original position; keep it derived from your own record
    (``"bank-2026-03-0042"``), never random per attempt.
    """

    event_id: str
    project: str
    effective_date: date
    kind: EventKind
    memo: str = ""
    reference: str | None = None

    def __post_init__(self) -> None:
        _date_of(self.effective_date, "Event.effective_date")
        if not isinstance(self.kind, EVENT_KINDS):
            raise TypeError(f"Event.kind: expected an event kind such as ContributionReceived, got {self.kind!r}")


# ----- answers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Position:
    """Where an event is stored: its project's chain and its seq there."""

    project: str
    seq: int


@dataclass(frozen=True)
class Committed:
    """The answer to a write: the global commit number, each event's position, and whether every
    event was already recorded with the same content (a retry: nothing new was stored)."""

    commit: int
    positions: list[Position]
    duplicate: bool


@dataclass(frozen=True)
class RecordedEvent:
    """An event as stored, with what the server added; ``hash`` is its record hash (32 bytes)."""

    project: str
    seq: int
    commit: int
    actor: str
    recorded_at_us: int
    hash: bytes
    event: Event

    @property
    def recorded_at(self) -> datetime:
        """``recorded_at_us`` as an aware UTC datetime."""
        return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=self.recorded_at_us)


@dataclass(frozen=True)
class RestrictedBalance:
    """A restricted fund's balance and its balance less holds."""

    purpose: str
    balance: Decimal
    available: Decimal


@dataclass(frozen=True)
class CurrencyBalance:
    """A project's money in one currency (see ``CurrencyBalance`` in ledger.proto)."""

    currency: str
    balance: Decimal
    available: Decimal
    restricted: list[RestrictedBalance] = field(default_factory=list)
    held: Decimal = Decimal(0)
    pledged: Decimal = Decimal(0)
    advances_outstanding: Decimal = Decimal(0)
    fees_to_date: Decimal = Decimal(0)


@dataclass(frozen=True)
class Balances:
    """A project's balances at one consistent point: its head seq and the last commit included."""

    project: str
    head_seq: int
    commit: int
    balances: list[CurrencyBalance]
    as_of: date | None = None
    """The date asked for (``balance(..., as_of=)``): every event dated on or before it counts."""

    def in_currency(self, currency: str) -> CurrencyBalance | None:
        """The balance in ``currency``, or ``None`` when the project never used it."""
        return next((b for b in self.balances if b.currency == currency), None)


@dataclass(frozen=True)
class StatementReversal:
    """What a reversal's statement line reverses (its kind and seq), the total it counts under
    (``"source:<source>"``, ``"category:<category>"`` or ``"kind:<kind>"``) and why."""

    kind: str
    seq: int
    counts_under: str
    reason: str


@dataclass(frozen=True)
class StatementLine:
    """One event of a statement: net change of the funds held, and the funds held after it.

    ``gross`` and ``fee`` are set for money in and its refunds (``amount`` is the net),
    ``counterparty`` for whom the money came from or went to, ``reverses`` on a reversal; ``detail``
    says in words what the line means beyond its kind (see ``StatementLine`` in ledger.proto).
    """

    date: date
    seq: int
    kind: str
    memo: str
    reference: str | None
    amount: Decimal
    running_balance: Decimal
    reverses: StatementReversal | None = None
    gross: Decimal | None = None
    fee: Decimal | None = None
    counterparty: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class StatementTotal:
    """A total of statement lines under a source, category or kind name."""

    name: str
    amount: Decimal


@dataclass(frozen=True)
class CurrencyStatement:
    """A statement in one currency (see ``CurrencyStatement`` in ledger.proto)."""

    currency: str
    opening_balance: Decimal
    lines: list[StatementLine]
    totals_by_source: list[StatementTotal]
    totals_by_category: list[StatementTotal]
    totals_by_kind: list[StatementTotal]
    closing_balance: Decimal


@dataclass(frozen=True)
class Statement:
    """A project's statements for a date range, one per currency."""

    project: str
    from_date: date
    to_date: date
    head_seq: int
    statements: list[CurrencyStatement]


@dataclass(frozen=True)
class ProjectSummary:
    """A project's terms and status."""

    project: str
    name: str
    kind: ProjectKind
    fee_bps: int
    currency: str
    advance_limit: Decimal
    opened_on: date
    closed: bool
    closed_through: date | None
    head_seq: int


@dataclass(frozen=True)
class TrialBalanceLine:
    """One account's balance in one currency, debit positive (hledger's sign)."""

    account: str
    currency: str
    amount: Decimal


@dataclass(frozen=True)
class TrialBalance:
    """The sponsor-wide trial balance at a commit."""

    commit: int
    lines: list[TrialBalanceLine]
    closed_through: date | None
    as_of: date | None = None
    """The date asked for (``trial_balance(as_of=)``): every event dated on or before it counts."""


@dataclass(frozen=True)
class PendingExpense:
    """An expense request not yet paid or rejected."""

    position: Position
    details: ExpenseDetails
    requester: str
    requested_on: date
    approved: bool
    same_receipt_seqs: list[int] = field(default_factory=list)
    """Seqs of the project's other requests (not rejected) and direct payments (not reversed) with
    the same receipt hash: empty unless the same invoice was filed or paid twice. Check before
    approving."""


@dataclass(frozen=True)
class CommitNotice:
    """One commit as ``subscribe`` delivers it."""

    commit: int
    commit_hash: bytes
    prev_commit_hash: bytes
    recorded_at_us: int
    events: list[RecordedEvent]


@dataclass(frozen=True)
class ProjectHead:
    """The head of one chain: its last seq and that record's hash."""

    project: str
    seq: int
    hash: bytes


@dataclass(frozen=True)
class Heads:
    """The commit head and chain heads, read at one consistent point."""

    commit: int
    commit_hash: bytes
    projects: list[ProjectHead]

    def of(self, project: str) -> ProjectHead | None:
        """The head of ``project``, or ``None`` when it has no records."""
        return next((h for h in self.projects if h.project == project), None)


@dataclass(frozen=True)
class RawRecord:
    """One stored record exactly as kept: its seq, its bytes and the hash the server states."""

    seq: int
    bytes: builtins.bytes
    hash: builtins.bytes
