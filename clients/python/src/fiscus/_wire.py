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
from decimal import Decimal, InvalidOperation
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
            setattr(msg, name, value)


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


def _bad(what: str, value: object) -> FiscusError:
    return FiscusError(f"the server's answer has an unreadable {what}: {value!r}")


def decimal_of(text: str, what: str = "amount") -> Decimal:
    """A decimal string of an answer as a :class:`Decimal` (finite, no exponent)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _bad(what, text) from None
    if not value.is_finite() or "e" in text.lower():
        raise _bad(what, text)
    return value


def date_of(text: str, what: str = "date") -> date:
    """A ``"YYYY-MM-DD"`` of an answer as a :class:`date`."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _bad(what, text) from None


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


def _value(hint: Any, raw: Any, what: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is list:
        (inner,) = typing.get_args(hint)
        return [_value(inner, item, what) for item in raw]
    if hint is Money:
        return Money(decimal_of(raw.amount, what), raw.currency)
    if hint is Decimal:
        return decimal_of(raw, what)
    if hint is date:
        return date_of(raw, what)
    if hint is Event:
        return event_of(raw)
    if hint is EventKind:
        return kind_of(raw)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        name = _ENUM_PB[hint].Name(raw) if raw in _ENUM_PB[hint].values() else str(raw)
        prefix = _ENUM_PREFIX[hint]
        try:
            return hint[name.removeprefix(prefix)]
        except KeyError:
            raise _bad(what, name) from None
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return from_pb(raw, hint)
    return raw


def from_pb(msg: Message | Any, cls: type[T]) -> T:
    """The dataclass ``cls`` read from a message with the same field names."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        name = _proto_name(f.name)
        hint, optional = _unwrap(_hints(cls)[f.name])
        if optional and not _present(msg, name):
            values[f.name] = None
            continue
        values[f.name] = _value(hint, getattr(msg, name), f"{cls.__name__}.{f.name}")
    return cls(**values)


def kind_of(msg: event_pb2.Event) -> EventKind:
    """The event kind set in the ``kind`` oneof of ``msg``."""
    which = msg.WhichOneof("kind")
    if which is None or which not in _KIND_BY_FIELD:
        raise _bad("event kind", which)
    kind: EventKind = from_pb(getattr(msg, which), _KIND_BY_FIELD[which])
    return kind


def event_of(msg: event_pb2.Event) -> Event:
    """The :class:`Event` of a ``fiscus.v1.Event``."""
    return Event(
        event_id=msg.event_id,
        project=msg.project,
        effective_date=date_of(msg.effective_date, "effective_date"),
        kind=kind_of(msg),
        memo=msg.memo,
        reference=msg.reference if msg.HasField("reference") else None,
    )


def committed_of(commit: int, positions: list[Any], duplicate: bool) -> Committed:
    """The answer to a write."""
    return Committed(commit, [Position(p.project, p.seq) for p in positions], duplicate)


def fund_of(value: Fund | str | None) -> Fund:
    """A fund from a :class:`Fund`, a purpose string, or ``None`` (unrestricted)."""
    if value is None:
        return Fund()
    if isinstance(value, Fund):
        return value
    return Fund(value)
