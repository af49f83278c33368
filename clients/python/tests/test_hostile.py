"""Answers a lying or broken server could give, served by a fake ``fiscusd`` on a loopback port:
each must be refused with a :class:`fiscus.FiscusError` naming what is wrong, never read as if it
were right, never loop for ever, and a paged or split answer must be read whole."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent import futures
from datetime import date
from decimal import Decimal
from typing import Any

import grpc
import pytest

import fiscus
from fiscus.v1 import event_pb2, ledger_pb2, ledger_pb2_grpc

Handler = Callable[[Any, grpc.ServicerContext], Any]


class Fake(ledger_pb2_grpc.LedgerServicer):
    """A Ledger service whose methods a test sets: ``fake.on["GetBalance"] = handler``. Every
    request is kept in ``calls`` under its method's name."""

    def __init__(self) -> None:
        self.on: dict[str, Handler] = {}
        self.calls: dict[str, list[Any]] = {}

    def _answer(self, name: str, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.setdefault(name, []).append(request)
        if len(self.calls[name]) > 1000:  # a client looping for ever is stopped here, and fails
            context.abort(grpc.StatusCode.INTERNAL, f"{name} called more than 1000 times")
        return self.on[name](request, context)

    def GetBalance(self, request: Any, context: Any) -> Any:
        return self._answer("GetBalance", request, context)

    def GetStatement(self, request: Any, context: Any) -> Any:
        return self._answer("GetStatement", request, context)

    def ListEvents(self, request: Any, context: Any) -> Any:
        return self._answer("ListEvents", request, context)

    def ListProjects(self, request: Any, context: Any) -> Any:
        return self._answer("ListProjects", request, context)

    def GetTrialBalance(self, request: Any, context: Any) -> Any:
        return self._answer("GetTrialBalance", request, context)

    def ListPendingExpenses(self, request: Any, context: Any) -> Any:
        return self._answer("ListPendingExpenses", request, context)

    def RecordCommit(self, request: Any, context: Any) -> Any:
        return self._answer("RecordCommit", request, context)

    def OpenProject(self, request: Any, context: Any) -> Any:
        return self._answer("OpenProject", request, context)

    def Subscribe(self, request: Any, context: Any) -> Iterator[Any]:
        answer: Iterator[Any] = self._answer("Subscribe", request, context)
        yield from answer


@pytest.fixture
def fake() -> Iterator[tuple[Fake, str]]:
    """A :class:`Fake` on a loopback port picked at run time, and its address."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = Fake()  # type: ignore[abstract]  # answers what the tests ask
    ledger_pb2_grpc.add_LedgerServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield servicer, f"127.0.0.1:{port}"
    finally:
        server.stop(None)


def client(address: str) -> fiscus.Client:
    return fiscus.Client(address, "token", retries=0, timeout=10)


def balance_of(amount: str, currency: str = "USD") -> ledger_pb2.GetBalanceResponse:
    zero = "0" if currency == "JPY" else "0.00"
    line = ledger_pb2.CurrencyBalance(
        currency=currency,
        balance=amount,
        available=zero,
        held=zero,
        pledged=zero,
        advances_outstanding=zero,
        fees_to_date=zero,
    )
    return ledger_pb2.GetBalanceResponse(project="p", head_seq=1, commit=1, balances=[line])


def summary(opened_on: str = "2026-01-01", project: str = "p") -> ledger_pb2.ProjectSummary:
    return ledger_pb2.ProjectSummary(
        project=project, name="P", kind=event_pb2.PROJECT_KIND_CONFERENCE, fee_bps=0, currency="USD", advance_limit="0.00", opened_on=opened_on, head_seq=1
    )


@pytest.mark.parametrize(
    "amount",
    [" 12.50 ", "1_000.00", "\u0661\u0662\u0663.\u0660\u0660", "+5.00", "-0.00", "12.5000001", "1e3", "NaN", "", "1.", ".5", "9" * 40],
)
def test_an_amount_not_in_the_contracts_one_format_is_refused_naming_the_field(
    fake: tuple[Fake, str], amount: str
) -> None:
    servicer, address = fake
    servicer.on["GetBalance"] = lambda req, ctx: balance_of(amount)
    with client(address) as c, pytest.raises(fiscus.FiscusError) as refused:
        c.balance("p")
    assert refused.value.field == "GetBalanceResponse.balances[0].balance"
    assert "GetBalanceResponse.balances[0].balance" in str(refused.value)


def test_amounts_in_the_contracts_format_are_read_exactly(fake: tuple[Fake, str]) -> None:
    servicer, address = fake
    with client(address) as c:
        for text, currency in [("12.50", "USD"), ("-0.01", "USD"), ("1250", "JPY"), ("0.125", "KWD"), ("7", "USD")]:
            servicer.on["GetBalance"] = lambda req, ctx: balance_of(text, currency)
            got = c.balance("p").balances[0].balance
            assert got == Decimal(text) and str(got) == text
        # More places than JPY's none, in a currency the client knows.
        servicer.on["GetBalance"] = lambda req, ctx: balance_of("1250.5", "JPY")
        with pytest.raises(fiscus.FiscusError, match="more decimal places than JPY"):
            c.balance("p")


@pytest.mark.parametrize("text", ["20260301", "2026-W10-1", "2026-060", "2026-02-29", "2026-3-01", "2026-03-01T00:00", "\u0662026-03-01"])
def test_a_date_that_is_not_yyyy_mm_dd_is_refused_naming_the_field(fake: tuple[Fake, str], text: str) -> None:
    servicer, address = fake
    servicer.on["ListProjects"] = lambda req, ctx: ledger_pb2.ListProjectsResponse(projects=[summary(text)])
    with client(address) as c, pytest.raises(fiscus.FiscusError) as refused:
        c.projects()
    assert refused.value.field is not None and refused.value.field.endswith("opened_on")
    assert "opened_on" in str(refused.value) and repr(text) in str(refused.value)
    servicer.on["ListProjects"] = lambda req, ctx: ledger_pb2.ListProjectsResponse(projects=[summary("2024-02-29")])
    with client(address) as c:
        assert c.projects()[0].opened_on == date(2024, 2, 29)


def positions(*pairs: tuple[str, int]) -> list[event_pb2.Position]:
    return [event_pb2.Position(project=p, seq=s) for p, s in pairs]


def test_positions_that_do_not_match_the_events_sent_are_refused(fake: tuple[Fake, str]) -> None:
    servicer, address = fake
    closed = fiscus.Event("e1", "p", date(2026, 3, 1), fiscus.ProjectClosed())
    other = fiscus.Event("e2", "q", date(2026, 3, 1), fiscus.ProjectClosed())
    bad = [
        (7, positions(("other", 99)) * 5, False, "5 positions for 1 events"),
        (7, positions(("other", 99)), False, "positions[0] is in project 'other', events[0] in 'p'"),
        (7, positions(("p", 0)), False, "positions[0] is seq 0"),
        (0, positions(("p", 3)), False, "commit number 0"),
        (0, [], False, "commit number 0"),
    ]
    with client(address) as c:
        for commit, answer, duplicate, problem in bad:
            servicer.on["RecordCommit"] = lambda req, ctx: ledger_pb2.RecordCommitResponse(
                commit=commit, positions=answer, duplicate=duplicate
            )
            with pytest.raises(fiscus.FiscusError, match="does not match the events sent") as refused:
                c.record(closed)
            assert problem in str(refused.value)
        # Two events of one project newly stored are consecutive; a duplicate keeps the originals.
        servicer.on["RecordCommit"] = lambda req, ctx: ledger_pb2.RecordCommitResponse(
            commit=9, positions=positions(("p", 4), ("p", 7), ("q", 2))
        )
        with pytest.raises(fiscus.FiscusError, match=r"positions\[1\] is seq 7 of 'p', after seq 4"):
            c.record([closed, closed, other])
        servicer.on["RecordCommit"] = lambda req, ctx: ledger_pb2.RecordCommitResponse(
            commit=9, positions=positions(("p", 4), ("p", 7), ("q", 2)), duplicate=True
        )
        assert c.record([closed, closed, other]).positions[1] == fiscus.Position("p", 7)
        # A project opened anywhere but at seq 1 of itself.
        servicer.on["OpenProject"] = lambda req, ctx: ledger_pb2.OpenProjectResponse(
            commit=3, position=event_pb2.Position(project="p", seq=2)
        )
        with pytest.raises(fiscus.FiscusError, match="not seq 1"):
            c.open_project("p", name="P", kind=fiscus.ProjectKind.OTHER, fee_bps=0, currency="USD", effective_date=date(2026, 1, 1))
