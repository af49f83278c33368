"""Conversions between the ``fiscus.v1`` messages and the dataclasses of :mod:`fiscus.model`.

One rule per type, applied by field name (the dataclasses use the contract's names; ``from_`` is
``from``): ``Money`` ⇄ ``fiscus.v1.Money``, ``Decimal`` ⇄ decimal string (``format(d, "f")``, no
exponent), ``date`` ⇄ ``"YYYY-MM-DD"``, enums ⇄ their ``PREFIX_NAME`` numbers, an event kind ⇄ the
``kind`` oneof of ``fiscus.v1.Event``. An absent optional field is ``None``. A server answer that
does not parse raises :class:`fiscus.errors.FiscusError`, never a bare ``ValueError``.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import types
import typing
from datetime import date
from decimal import Decimal
from collections.abc import Sequence
from typing import Any, TypeVar

from google.protobuf.message import Message

from fiscus import model
from fiscus.errors import FiscusError
from fiscus.model import (
    EVENT_KINDS,
    Committed,
    ContributionSource,
    Event,
    EventKind,
    Fund,
    Money,
    Position,
    ProjectKind,
)
from fiscus.record import MINOR_UNITS
from fiscus.v1 import event_pb2

T = TypeVar("T")

_ENUM_PREFIX: dict[type[enum.Enum], str] = {
    ProjectKind: "PROJECT_KIND_",
    ContributionSource: "CONTRIBUTION_SOURCE_",
}
_ENUM_PB: dict[type[enum.Enum], Any] = {
    ProjectKind: event_pb2.ProjectKind,
    ContributionSource: event_pb2.ContributionSource,
}


def format_amount(value: Decimal) -> str:
    """A request amount as the contract's decimal string: digits, optional fraction, no exponent."""
    return format(value, "f")


def _proto_name(name: str) -> str:
    return "from" if name == "from_" else name


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


_KIND_FIELD: dict[type[Any], str] = {cls: _snake(cls.__name__) for cls in EVENT_KINDS}
_KIND_BY_FIELD: dict[str, type[Any]] = {v: k for k, v in _KIND_FIELD.items()}


# ----- Python → proto --------------------------------------------------------------------------


def _fill(msg: Any, obj: Any) -> None:
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if value is None:
            continue
        name = _proto_name(f.name)
        if isinstance(value, Money):
            sub = getattr(msg, name)
            sub.amount = format_amount(value.amount)
            sub.currency = value.currency
        elif isinstance(value, EVENT_KINDS):
            kind_into(getattr(msg, name), value)
        elif dataclasses.is_dataclass(value):
            sub = getattr(msg, name)
            sub.SetInParent()
            _fill(sub, value)
        elif isinstance(value, Decimal):
            setattr(msg, name, format_amount(value))
        elif isinstance(value, date):
            setattr(msg, name, value.isoformat())
        elif isinstance(value, enum.Enum):
            setattr(msg, name, _ENUM_PB[type(value)].Value(_ENUM_PREFIX[type(value)] + value.name))
        elif isinstance(value, bool):
            raise TypeError(f"{type(obj).__name__}.{f.name}: a bool is not a {f.type}")
        else:
            try:
                setattr(msg, name, value)
            except (TypeError, ValueError) as e:
                raise type(e)(f"{type(obj).__name__}.{f.name}: {value!r} cannot be sent: {e}") from None


def kind_into(msg: event_pb2.Event, kind: EventKind) -> None:
    """Sets the ``kind`` oneof of ``msg`` from an event kind."""
    sub = getattr(msg, _KIND_FIELD[type(kind)])
    sub.SetInParent()
    _fill(sub, kind)


def event_to_pb(event: Event) -> event_pb2.Event:
    """The ``fiscus.v1.Event`` of an event."""
    msg = event_pb2.Event(
        event_id=event.event_id,
        project=event.project,
        effective_date=event.effective_date.isoformat(),
        memo=event.memo,
    )
    if event.reference is not None:
        msg.reference = event.reference
    kind_into(msg, event.kind)
    return msg


def message_into(msg: Any, obj: Any) -> None:
    """Fills ``msg`` from a dataclass with the same field names (``ProjectOpened`` into ``opened``)."""
    _fill(msg, obj)


# ----- proto → Python --------------------------------------------------------------------------


def _bad(what: str, value: object, why: str = "") -> FiscusError:
    return FiscusError(f"the server's answer has an unreadable {what}: {value!r}{why}", field=what)


_AMOUNT = re.compile(r"-?[0-9]+(\.[0-9]+)?")
"""The contract's decimal string (money.proto): ASCII digits, optionally '.' and at least one digit,
an optional leading '-'; no exponent, no separator, no space, no '+'."""
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
"""The contract's date: ``YYYY-MM-DD`` in ASCII digits, nothing else."""
AMOUNT_ABS_MAX = Decimal("79228162514264337593543950335")
"""The largest magnitude the ledger's decimals hold (rust_decimal's 96-bit mantissa)."""


def decimal_of(text: str, what: str = "amount", currency: str | None = None) -> Decimal:
    """A decimal string of an answer as a :class:`Decimal`, by money.proto's one format and nothing
    looser: ASCII digits with an optional fraction and a leading '-' when negative (no space, no
    '+', no exponent, no separator, no other script's digits), never a negative zero, within the
    ledger's decimal range and, when ``currency`` is one the client knows, with no more decimal
    places than its minor units. Anything else raises :class:`~fiscus.FiscusError` naming ``what``.
    """
    if not isinstance(text, str) or _AMOUNT.fullmatch(text) is None:
        raise _bad(what, text, " (an amount is ASCII digits with an optional '.' fraction and leading '-')")
    value = Decimal(text)
    if value.is_zero() and text.startswith("-"):
        raise _bad(what, text, " (a negative zero)")
    if abs(value) > AMOUNT_ABS_MAX:
        raise _bad(what, text, " (out of the ledger's range)")
    places = MINOR_UNITS.get(currency) if currency is not None else None
    written = len(text) - text.index(".") - 1 if "." in text else 0
    if places is not None and written > places:
        raise _bad(what, text, f" (more decimal places than {currency}'s {places})")
    return value


def date_of(text: str, what: str = "date") -> date:
    """A ``"YYYY-MM-DD"`` of an answer as a :class:`date` (no other ISO 8601 form, such as
    ``20260301`` or a week date, and a real calendar day)."""
    if not isinstance(text, str) or _DATE.fullmatch(text) is None:
        raise _bad(what, text, " (a date is YYYY-MM-DD)")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _bad(what, text, " (not a calendar date)") from None


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls, vars(model))
    return hints


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """The type inside ``X | None`` and whether ``None`` is allowed."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        if len(args) == 1:
            return args[0], optional
        return EventKind, optional
    return hint, False


def _present(msg: Any, name: str) -> bool:
    try:
        return bool(msg.HasField(name))
    except ValueError:  # a plain proto3 scalar or a repeated field: always there
        return True


def _value(hint: Any, raw: Any, what: str, currency: str | None) -> Any:
    origin = typing.get_origin(hint)
    if origin is list:
        (inner,) = typing.get_args(hint)
        return [_value(inner, item, f"{what}[{i}]", currency) for i, item in enumerate(raw)]
    if hint is Money:
        return Money(decimal_of(raw.amount, f"{what}.amount", raw.currency), raw.currency)
    if hint is Decimal:
        return decimal_of(raw, what, currency)
    if hint is date:
        return date_of(raw, what)
    if hint is Event:
        return event_of(raw, what)
    if hint is EventKind:
        return kind_of(raw, what)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        name = _ENUM_PB[hint].Name(raw) if raw in _ENUM_PB[hint].values() else str(raw)
        prefix = _ENUM_PREFIX[hint]
        try:
            return hint[name.removeprefix(prefix)]
        except KeyError:
            raise _bad(what, name) from None
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return from_pb(raw, hint, what, currency)
    return raw


def _currency_of(msg: Any, cls: type[Any], inherited: str | None) -> str | None:
    """The currency a message's amounts are in: its own ``currency`` field (a balance, a statement,
    a trial balance line, a project's terms), else its ``amount``'s (a refund's ``fee_share``),
    else the enclosing message's."""
    hints = _hints(cls)
    if hints.get("currency") is str:
        return str(msg.currency)
    if hints.get("amount") is Money and _present(msg, "amount"):
        return str(msg.amount.currency)
    return inherited


def from_pb(msg: Message | Any, cls: type[T], path: str | None = None, currency: str | None = None) -> T:
    """The dataclass ``cls`` read from a message with the same field names. ``path`` names the
    message in errors (by default its type's name); ``currency`` is the enclosing message's."""
    where = path if path is not None else type(msg).__name__
    currency = _currency_of(msg, cls, currency)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        name = _proto_name(f.name)
        hint, optional = _unwrap(_hints(cls)[f.name])
        if optional and not _present(msg, name):
            values[f.name] = None
            continue
        values[f.name] = _value(hint, getattr(msg, name), f"{where}.{name}", currency)
    return cls(**values)


def kind_of(msg: event_pb2.Event, path: str = "Event") -> EventKind:
    """The event kind set in the ``kind`` oneof of ``msg``."""
    which = msg.WhichOneof("kind")
    if which is None or which not in _KIND_BY_FIELD:
        raise _bad(f"{path}.kind", which)
    kind: EventKind = from_pb(getattr(msg, which), _KIND_BY_FIELD[which], f"{path}.{which}")
    return kind


def event_of(msg: event_pb2.Event, path: str = "Event") -> Event:
    """The :class:`Event` of a ``fiscus.v1.Event``."""
    return Event(
        event_id=msg.event_id,
        project=msg.project,
        effective_date=date_of(msg.effective_date, f"{path}.effective_date"),
        kind=kind_of(msg, path),
        memo=msg.memo,
        reference=msg.reference if msg.HasField("reference") else None,
    )


def checked_commit(projects: Sequence[str], commit: int, raw_positions: Sequence[Any], duplicate: bool) -> Committed:
    """The answer to a write: ``projects`` are those of the events sent, in order. It must name one
    position per event, in its event's project, each once
    (and, for a commit newly stored, consecutive seqs per project); else :class:`~fiscus.FiscusError`."""
    positions = [Position(p.project, p.seq) for p in raw_positions]

    def fail(problem: str, field: str | None = None) -> FiscusError:
        return FiscusError(
            f"the server's answer to the commit does not match the events sent: {problem}; whether it was "
            "stored is unknown (sending it again with the same event ids is safe)",
            field=field,
        )

    if commit < 1:
        raise fail(f"commit number {commit}", "commit")
    if len(positions) != len(projects):
        raise fail(f"{len(positions)} positions for {len(projects)} events", "positions")
    last: dict[str, int] = {}
    seen: set[tuple[str, int]] = set()
    for i, (project, pos) in enumerate(zip(projects, positions)):
        if pos.project != project:
            raise fail(f"positions[{i}] is in project {pos.project!r}, events[{i}] in {project!r}", f"positions[{i}]")
        if pos.seq < 1 or (pos.project, pos.seq) in seen:
            raise fail(f"positions[{i}] is seq {pos.seq}", f"positions[{i}]")
        if not duplicate and pos.project in last and pos.seq != last[pos.project] + 1:
            raise fail(
                f"positions[{i}] is seq {pos.seq} of {pos.project!r}, after seq {last[pos.project]} in the same commit",
                f"positions[{i}]",
            )
        seen.add((pos.project, pos.seq))
        last[pos.project] = pos.seq
    return Committed(commit, positions, duplicate)


def fund_of(value: Fund | str | None) -> Fund:
    """A fund from a :class:`Fund`, a purpose string, or ``None`` (unrestricted)."""
    if value is None:
        return Fund()
    if isinstance(value, Fund):
        return value
    return Fund(value)
