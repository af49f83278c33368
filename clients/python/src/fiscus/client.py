"""The clients: :class:`Client` (blocking) and :class:`AsyncClient` (``grpc.aio``), with the same
methods. Both speak the ``fiscus.v1`` contract to ``fiscusd`` with a bearer token.

Retries: a call that fails with ``UNAVAILABLE``, ``DEADLINE_EXCEEDED`` or ``RESOURCE_EXHAUSTED``
(the connection dropped, the server restarted or is overloaded) is sent again, at most ``retries``
more times with a doubling delay. A write is retried with the *same* request, so the same event ids:
if the first attempt was stored, the retry answers with its position and ``duplicate=True``, and
nothing is recorded twice. Any other refusal is raised at once (see :mod:`fiscus.errors`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

import grpc
import grpc.aio

from fiscus._paging import (
    PAGES_MAX,
    RESTARTS_MAX,
    ChainWalker,
    CommitJoiner,
    EventsWalker,
    PendingWalker,
    ProjectsWalker,
    StatementWalker,
    TrialBalanceWalker,
)
from fiscus._wire import checked_commit, event_to_pb, format_amount, from_pb, message_into
from fiscus.errors import FiscusError, FiscusUnavailable, from_rpc_error
from fiscus.model import (
    Balances,
    CommitNotice,
    Committed,
    Event,
    Heads,
    PendingExpense,
    ProjectKind,
    ProjectOpened,
    ProjectSummary,
    RawRecord,
    RecordedEvent,
    Statement,
    TrialBalance,
)
from fiscus.v1 import audit_pb2, audit_pb2_grpc, ledger_pb2, ledger_pb2_grpc

Tls = bool | bytes | grpc.ChannelCredentials | None
"""How to reach the server: ``None`` follows the address (``https://`` is TLS with the system's
roots, anything else plaintext); ``False`` plaintext; ``True`` TLS with the system's roots; ``bytes``
TLS trusting that CA certificate (PEM); a :class:`grpc.ChannelCredentials` as it is."""

R = TypeVar("R")

RETRIES_DEFAULT = 4
"""More attempts a call gets after a dropped connection or an overloaded server."""
RETRY_DELAY_S = 0.2
"""Delay before the first retry, in seconds; doubled each time, at most :data:`RETRY_DELAY_MAX_S`."""
RETRY_DELAY_MAX_S = 2.0
"""Longest delay between two attempts, in seconds."""
RESUME_FOR_S = 60.0
"""How long ``subscribe`` keeps trying to resume after its stream broke, in seconds."""

_CHANNEL_OPTIONS = [
    # Reconnect soon after a daemon restart instead of backing off for up to two minutes.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


def _channel_target(server: str, tls: Tls) -> tuple[str, grpc.ChannelCredentials | None]:
    """``host:port`` and the credentials (``None`` for plaintext) for ``server`` and ``tls``."""
    scheme = ""
    target = server
    if "://" in server:
        parts = urlsplit(server)
        scheme, target = parts.scheme, parts.netloc
        if scheme not in ("http", "https") or not target:
            raise ValueError(f"server: expected host:port, http://host:port or https://host:port, got {server!r}")
    if tls is None:
        tls = scheme == "https"
    if tls is False:
        return target, None
    if tls is True:
        return target, grpc.ssl_channel_credentials()
    if isinstance(tls, bytes):
        return target, grpc.ssl_channel_credentials(root_certificates=tls)
    return target, tls


def _delay(attempt: int) -> float:
    return float(min(RETRY_DELAY_S * (2**attempt), RETRY_DELAY_MAX_S))


# ----- requests, shared by both clients --------------------------------------------------------


def _open_request(
    project: str,
    opened: ProjectOpened,
    effective_date: date,
    event_id: str | None,
    memo: str,
    reference: str | None,
) -> ledger_pb2.OpenProjectRequest:
    req = ledger_pb2.OpenProjectRequest(
        event_id=event_id if event_id is not None else f"open-{project}",
        project=project,
        effective_date=effective_date.isoformat(),
        memo=memo,
    )
    if reference is not None:
        req.reference = reference
    message_into(req.opened, opened)
    return req


def _record_request(
    events: Event | Sequence[Event], expected_seq: Mapping[str, int] | None, allow_same_receipt: bool
) -> ledger_pb2.RecordCommitRequest:
    batch = [events] if isinstance(events, Event) else list(events)
    for i, e in enumerate(batch):
        if not isinstance(e, Event):
            raise TypeError(f"events[{i}]: expected a fiscus.Event, got {type(e).__name__}")
    req = ledger_pb2.RecordCommitRequest(events=[event_to_pb(e) for e in batch], allow_same_receipt=allow_same_receipt)
    for project, seq in (expected_seq or {}).items():
        req.expected_seq[project] = _uint_arg(seq, f"expected_seq[{project}]")
    return req


def _uint_arg(value: object, what: str, bits: int = 64) -> int:
    """An integer argument sent as a proto unsigned integer: an ``int`` (not a ``bool``) in range."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what}: expected an int, got {type(value).__name__}")
    if not 0 <= value < 1 << bits:
        raise ValueError(f"{what}: {value} is out of range (0 to {(1 << bits) - 1})")
    return value


def _token_metadata(token: object) -> tuple[tuple[str, str], ...]:
    """The ``authorization`` metadata of ``token``. A token is sent in a header, so it must be
    printable ASCII without spaces; anything else is refused here, without showing the token."""
    if not isinstance(token, str):
        raise TypeError(f"token: expected str, got {type(token).__name__}")
    bad = next((c for c in token if not "\x21" <= c <= "\x7e"), None)
    if not token or bad is not None:
        what = "is empty" if not token else f"holds {_char_name(bad or '')}"
        raise ValueError(
            f"token: {what}; a token is printable ASCII without spaces, as `fiscusd token add` prints it "
            "(was it read from a file with its line end?)"
        )
    return (("authorization", f"Bearer {token}"),)


def _char_name(c: str) -> str:
    names = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", " ": "a space"}
    return names.get(c, f"the character U+{ord(c):04X}")


def _recorded_at(events: Event | Sequence[Event], r: ledger_pb2.RecordCommitResponse) -> Committed:
    """The answer to ``RecordCommit``: one position per event sent, in its project (checked)."""
    batch = [events] if isinstance(events, Event) else list(events)
    return checked_commit([e.project for e in batch], r.commit, list(r.positions), r.duplicate)


def _opened_at(req: ledger_pb2.OpenProjectRequest, r: ledger_pb2.OpenProjectResponse) -> Committed:
    """The answer to ``OpenProject``: its ProjectOpened is seq 1 of the new project (checked)."""
    committed = checked_commit([req.project], r.commit, [r.position], r.duplicate)
    if committed.positions[0].seq != 1:
        raise FiscusError(
            f"the server's answer places the ProjectOpened of {req.project!r} at seq {r.position.seq}, not seq 1",
            field="position.seq",
        )
    return committed


def _balance_request(project: str, currency: str | None, as_of: date | None) -> ledger_pb2.GetBalanceRequest:
    req = ledger_pb2.GetBalanceRequest(project=project)
    if currency is not None:
        req.currency = currency
    if as_of is not None:
        req.as_of = _date_arg(as_of, "as_of")
    return req


def _date_arg(value: object, what: str) -> str:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"{what}: expected a datetime.date, got {type(value).__name__}")
    return value.isoformat()


def _balances(answer: ledger_pb2.GetBalanceResponse, project: str, as_of: date | None) -> Balances:
    """The balances of an answer to ``GetBalance``: as of the date asked for."""
    balances = from_pb(answer, Balances)
    if balances.as_of != as_of:
        raise FiscusError(
            f"GetBalance: the server answered as of {balances.as_of}, asked as of {as_of}",
            field="GetBalanceResponse.as_of",
        )
    return balances


class _Base:
    def __init__(self, server: str, token: str, retries: int, timeout: float | None) -> None:
        if retries < 0:
            raise ValueError("retries: must be 0 or more")
        self.server = server
        self.retries = retries
        self.timeout = timeout
        self._metadata = _token_metadata(token)


class Client(_Base):
    """A blocking client of ``fiscusd``.

    ``server`` is ``"host:port"`` or ``"http(s)://host:port"``; ``token`` a bearer token printed by
    ``fiscusd token add``; ``tls`` see :data:`Tls`; ``timeout`` the deadline of each unary call in
    seconds (``None``: no deadline); ``retries`` see the module's docstring. Use it as a context
    manager, or call :meth:`close`::

        with fiscus.Client("127.0.0.1:7878", token) as client:
            print(client.balance("rustconf-2026"))
    """

    def __init__(
        self,
        server: str,
        token: str,
        *,
        tls: Tls = None,
        timeout: float | None = 30.0,
        retries: int = RETRIES_DEFAULT,
    ) -> None:
        super().__init__(server, token, retries, timeout)
        target, creds = _channel_target(server, tls)
        self._channel = (
            grpc.secure_channel(target, creds, options=_CHANNEL_OPTIONS)
            if creds is not None
            else grpc.insecure_channel(target, options=_CHANNEL_OPTIONS)
        )
        self._ledger = ledger_pb2_grpc.LedgerStub(self._channel)
        self._audit = audit_pb2_grpc.AuditStub(self._channel)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes the connection; calls in flight are cancelled."""
        self._channel.close()

    def _call(self, method: Callable[..., R], request: Any) -> R:
        attempt = 0
        while True:
            try:
                return method(request, metadata=self._metadata, timeout=self.timeout)
            except grpc.RpcError as e:
                err = from_rpc_error(e)
                if isinstance(err, FiscusUnavailable) and attempt < self.retries:
                    time.sleep(_delay(attempt))
                    attempt += 1
                    continue
                raise err from None

    def open_project(
        self,
        project: str,
        *,
        name: str,
        kind: ProjectKind,
        fee_bps: int,
        currency: str,
        effective_date: date,
        advance_limit: Decimal = Decimal(0),
        event_id: str | None = None,
        memo: str = "",
        reference: str | None = None,
    ) -> Committed:
        """Opens ``project`` (its ``ProjectOpened``, seq 1; role admin). ``event_id`` defaults to
        ``"open-<project>"``. Raises :class:`~fiscus.FiscusConflict` when the project exists."""
        opened = ProjectOpened(name, kind, fee_bps, currency, advance_limit)
        req = _open_request(project, opened, effective_date, event_id, memo, reference)
        r = self._call(self._ledger.OpenProject, req)
        return _opened_at(req, r)

    def record(
        self,
        events: Event | Sequence[Event],
        *,
        expected_seq: Mapping[str, int] | None = None,
        allow_same_receipt: bool = False,
    ) -> Committed:
        """Records one event, or several as one atomic commit (a sponsorship package paying three
        projects is one commit of three ``ContributionReceived``). ``expected_seq`` maps project
        ids to the head seq they must have before the commit (else :class:`~fiscus.FiscusConflict`).
        An expense whose receipt hash its project already holds is refused
        (:class:`~fiscus.FiscusRefused`) unless ``allow_same_receipt``; such requests are then
        marked in :meth:`pending` (``same_receipt_seqs``).
        A bad field raises :class:`~fiscus.FiscusInvalid` whose ``field`` is its path, such as
        ``"events[1].contribution_received.amount"``; a refused rule :class:`~fiscus.FiscusRefused`.
        """
        req = _record_request(events, expected_seq, allow_same_receipt)
        r = self._call(self._ledger.RecordCommit, req)
        return _recorded_at(events, r)

    def balance(self, project: str, currency: str | None = None, *, as_of: date | None = None) -> Balances:
        """``project``'s balances, one per currency it has used (or only ``currency``): now, or as of
        the end of the day ``as_of`` (every event dated on or before it, whenever recorded)."""
        answer = self._call(self._ledger.GetBalance, _balance_request(project, currency, as_of))
        return _balances(answer, project, as_of)

    def statement(self, project: str, from_date: date, to_date: date, currency: str | None = None) -> Statement:
        """``project``'s statement from ``from_date`` to ``to_date``, inclusive, per currency: every
        page the server splits it into, read and joined (the lines of each currency add up from its
        opening to its closing balance, or :class:`~fiscus.FiscusError` is raised)."""
        walker = StatementWalker(project, from_date, to_date, currency)
        while (req := walker.request()) is not None:
            walker.take(self._call(self._ledger.GetStatement, req))
        return walker.result()

    def events(self, project: str, after_seq: int = 0, page_size: int = 0) -> Iterator[RecordedEvent]:
        """``project``'s stored events after ``after_seq``, in seq order, fetching pages of
        ``page_size`` (0: the server's default) as you iterate, up to the head of the last page."""
        walker = EventsWalker(project, _uint_arg(after_seq, "after_seq"), _uint_arg(page_size, "page_size", 32))
        while (req := walker.request()) is not None:
            yield from walker.take(self._call(self._ledger.ListEvents, req))

    def projects(self, include_closed: bool = False) -> list[ProjectSummary]:
        """Every project the token may read, in id order (closed ones too with ``include_closed``)."""
        walker = ProjectsWalker(include_closed)
        while (req := walker.request()) is not None:
            walker.take(self._call(self._ledger.ListProjects, req))
        return walker.result()

    def trial_balance(self, *, as_of: date | None = None) -> TrialBalance:
        """The sponsor-wide trial balance (roles accountant, auditor, admin), now or as of the end
        of the day ``as_of``: every page, from one commit (read again from the start when the ledger
        moved on between pages), its lines summing to zero per currency."""
        walker = TrialBalanceWalker(as_of)
        while (req := walker.request()) is not None:
            walker.take(self._call(self._ledger.GetTrialBalance, req))
        return walker.result()

    def pending(self, project: str | None = None) -> list[PendingExpense]:
        """Expense requests not yet paid or rejected, of ``project`` or of every readable project:
        every page, from one commit."""
        walker = PendingWalker(project)
        while (req := walker.request()) is not None:
            walker.take(self._call(self._ledger.ListPendingExpenses, req))
        return walker.result()

    def head(self, project: str | None = None) -> Heads:
        """The commit head and the head of ``project``'s chain (or of every chain)."""
        return from_pb(self._call(self._audit.GetHead, audit_pb2.GetHeadRequest(project=project or "")), Heads)

    def export_chain(self, project: str, from_seq: int = 0) -> Iterator[RawRecord]:
        """``project``'s raw stored records from ``from_seq`` (0 or 1: from the start) up to its head
        when the export started, as :class:`~fiscus.RawRecord`, with no gap (a stream that skips a
        seq or ends before the head it states raises :class:`~fiscus.FiscusError`); verify them with
        :func:`fiscus.verify_project` or your own reader of docs/FORMAT.md."""
        call = self._audit.ExportChain(
            audit_pb2.ExportChainRequest(project=project, from_seq=_uint_arg(from_seq, "from_seq")), metadata=self._metadata
        )
        walker = ChainWalker(project, from_seq)
        try:
            for msg in call:
                yield from walker.take(msg)
            walker.finish()
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None
        finally:
            call.cancel()

    def subscribe(
        self, after_commit: int = 0, project: str | None = None, *, resume_for: float = RESUME_FOR_S
    ) -> Iterator[CommitNotice]:
        """Every commit after ``after_commit`` (of ``project`` only, when given): first the stored
        ones, then each new one as it is made, none twice and none skipped, each whole (a commit
        the server sends in several parts, ``continues``, is one notice). When the stream breaks
        (the daemon restarted, the connection dropped, the subscriber fell behind) it resumes from
        the last commit delivered whole (a commit cut off between its parts is received again), trying for ``resume_for`` seconds before raising
        :class:`~fiscus.FiscusUnavailable`. Stop by leaving the loop (or closing the iterator)."""
        joiner = CommitJoiner(after_commit, project)
        broken_since: float | None = None
        attempt = 0
        while True:
            req = ledger_pb2.SubscribeRequest(after_commit=_uint_arg(joiner.cursor, "after_commit"), project=project or "")
            call = self._ledger.Subscribe(req, metadata=self._metadata)
            failure: FiscusError = FiscusUnavailable("the subscription ended", grpc.StatusCode.UNAVAILABLE)
            try:
                for msg in call:
                    notice = joiner.take(msg)
                    if notice is not None:
                        broken_since, attempt = None, 0
                        yield notice
            except grpc.RpcError as e:
                failure = from_rpc_error(e)
                if not isinstance(failure, FiscusUnavailable):
                    raise failure from None
            finally:
                call.cancel()
            joiner.broken()
            now = time.monotonic()
            broken_since = now if broken_since is None else broken_since
            if now - broken_since > resume_for:
                raise failure
            time.sleep(_delay(attempt))
            attempt += 1


class AsyncClient(_Base):
    """The same client on ``grpc.aio``: every method is a coroutine, and ``events``,
    ``export_chain`` and ``subscribe`` are async iterators. Use ``async with``, or await
    :meth:`close`. Arguments as :class:`Client`."""

    def __init__(
        self,
        server: str,
        token: str,
        *,
        tls: Tls = None,
        timeout: float | None = 30.0,
        retries: int = RETRIES_DEFAULT,
    ) -> None:
        super().__init__(server, token, retries, timeout)
        target, creds = _channel_target(server, tls)
        self._channel = (
            grpc.aio.secure_channel(target, creds, options=_CHANNEL_OPTIONS)
            if creds is not None
            else grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS)
        )
        self._ledger = ledger_pb2_grpc.LedgerStub(self._channel)
        self._audit = audit_pb2_grpc.AuditStub(self._channel)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Closes the connection; calls in flight are cancelled."""
        await self._channel.close()

    async def _call(self, method: Callable[..., Awaitable[R]], request: Any) -> R:
        attempt = 0
        while True:
            try:
                return await method(request, metadata=self._metadata, timeout=self.timeout)
            except grpc.RpcError as e:
                err = from_rpc_error(e)
                if isinstance(err, FiscusUnavailable) and attempt < self.retries:
                    await asyncio.sleep(_delay(attempt))
                    attempt += 1
                    continue
                raise err from None

    async def open_project(
        self,
        project: str,
        *,
        name: str,
        kind: ProjectKind,
        fee_bps: int,
        currency: str,
        effective_date: date,
        advance_limit: Decimal = Decimal(0),
        event_id: str | None = None,
        memo: str = "",
        reference: str | None = None,
    ) -> Committed:
        """As :meth:`Client.open_project`."""
        opened = ProjectOpened(name, kind, fee_bps, currency, advance_limit)
        req = _open_request(project, opened, effective_date, event_id, memo, reference)
        r = await self._call(self._ledger.OpenProject, req)
        return _opened_at(req, r)

    async def record(
        self,
        events: Event | Sequence[Event],
        *,
        expected_seq: Mapping[str, int] | None = None,
        allow_same_receipt: bool = False,
    ) -> Committed:
        """As :meth:`Client.record`."""
        req = _record_request(events, expected_seq, allow_same_receipt)
        r = await self._call(self._ledger.RecordCommit, req)
        return _recorded_at(events, r)

    async def balance(self, project: str, currency: str | None = None, *, as_of: date | None = None) -> Balances:
        """As :meth:`Client.balance`."""
        answer = await self._call(self._ledger.GetBalance, _balance_request(project, currency, as_of))
        return _balances(answer, project, as_of)

    async def statement(
        self, project: str, from_date: date, to_date: date, currency: str | None = None
    ) -> Statement:
        """As :meth:`Client.statement`: every page, joined."""
        walker = StatementWalker(project, from_date, to_date, currency)
        while (req := walker.request()) is not None:
            walker.take(await self._call(self._ledger.GetStatement, req))
        return walker.result()

    async def events(self, project: str, after_seq: int = 0, page_size: int = 0) -> AsyncIterator[RecordedEvent]:
        """As :meth:`Client.events`, as an async iterator."""
        walker = EventsWalker(project, _uint_arg(after_seq, "after_seq"), _uint_arg(page_size, "page_size", 32))
        while (req := walker.request()) is not None:
            for e in walker.take(await self._call(self._ledger.ListEvents, req)):
                yield e

    async def projects(self, include_closed: bool = False) -> list[ProjectSummary]:
        """As :meth:`Client.projects`."""
        walker = ProjectsWalker(include_closed)
        while (req := walker.request()) is not None:
            walker.take(await self._call(self._ledger.ListProjects, req))
        return walker.result()

    async def trial_balance(self, *, as_of: date | None = None) -> TrialBalance:
        """As :meth:`Client.trial_balance`."""
        walker = TrialBalanceWalker(as_of)
        while (req := walker.request()) is not None:
            walker.take(await self._call(self._ledger.GetTrialBalance, req))
        return walker.result()

    async def pending(self, project: str | None = None) -> list[PendingExpense]:
        """As :meth:`Client.pending`."""
        walker = PendingWalker(project)
        while (req := walker.request()) is not None:
            walker.take(await self._call(self._ledger.ListPendingExpenses, req))
        return walker.result()

    async def head(self, project: str | None = None) -> Heads:
        """As :meth:`Client.head`."""
        r = await self._call(self._audit.GetHead, audit_pb2.GetHeadRequest(project=project or ""))
        return from_pb(r, Heads)

    async def export_chain(self, project: str, from_seq: int = 0) -> AsyncIterator[RawRecord]:
        """As :meth:`Client.export_chain`, as an async iterator."""
        call = self._audit.ExportChain(
            audit_pb2.ExportChainRequest(project=project, from_seq=_uint_arg(from_seq, "from_seq")), metadata=self._metadata
        )
        walker = ChainWalker(project, from_seq)
        try:
            async for msg in call:
                for r in walker.take(msg):
                    yield r
            walker.finish()
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None
        finally:
            call.cancel()

    async def subscribe(
        self, after_commit: int = 0, project: str | None = None, *, resume_for: float = RESUME_FOR_S
    ) -> AsyncIterator[CommitNotice]:
        """As :meth:`Client.subscribe`, as an async iterator."""
        joiner = CommitJoiner(after_commit, project)
        broken_since: float | None = None
        attempt = 0
        while True:
            req = ledger_pb2.SubscribeRequest(after_commit=_uint_arg(joiner.cursor, "after_commit"), project=project or "")
            call = self._ledger.Subscribe(req, metadata=self._metadata)
            failure: FiscusError = FiscusUnavailable("the subscription ended", grpc.StatusCode.UNAVAILABLE)
            try:
                async for msg in call:
                    notice = joiner.take(msg)
                    if notice is not None:
                        broken_since, attempt = None, 0
                        yield notice
            except grpc.RpcError as e:
                failure = from_rpc_error(e)
                if not isinstance(failure, FiscusUnavailable):
                    raise failure from None
            finally:
                call.cancel()
            joiner.broken()
            now = time.monotonic()
            broken_since = now if broken_since is None else broken_since
            if now - broken_since > resume_for:
                raise failure
            await asyncio.sleep(_delay(attempt))
            attempt += 1


__all__ = ["PAGES_MAX", "RESTARTS_MAX", "AsyncClient", "Client", "Tls", "format_amount"]
