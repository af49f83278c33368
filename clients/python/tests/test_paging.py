"""Paged answers are read whole: a statement larger than one message, the trial balance and the
pending expenses page after page, as of a date; and a server whose cursor does not advance, whose
pages do not continue each other or do not add up is refused, never looped on for ever nor
returned as if complete."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from conftest import OWN_PROJECT, Daemon, open_project, usd
from test_hostile import Fake, client, fake, summary  # noqa: F401 (fake: the fixture)

import fiscus
from fiscus.v1 import event_pb2, ledger_pb2, money_pb2

MAY = date(2026, 5, 1)


def donations(prefix: str, n: int, memo: str) -> list[fiscus.Event]:
    kind = fiscus.ContributionReceived(usd("1.00"), "Donor", fiscus.ContributionSource.DONATION)
    return [fiscus.Event(f"{prefix}-{i}", OWN_PROJECT, date(2026, 5, 1 + i % 28), kind, memo=memo) for i in range(n)]


def test_a_statement_over_several_pages_is_read_whole(daemon: Daemon) -> None:
    with daemon.admin() as admin:
        open_project(admin, OWN_PROJECT, fee_bps=100)
        # 2,000 events of 3,000-byte memos: 6 MB of lines, more than one message holds.
        for part in ("a", "b"):
            admin.record(donations(part, 1000, "\u20ac" * 1000))
        statement = admin.statement(OWN_PROJECT, MAY, date(2026, 5, 31))
        (s,) = statement.statements
        assert len(s.lines) == 2000
        order = [(line.date, line.seq) for line in s.lines]
        assert order == sorted(order)
        assert len({line.seq for line in s.lines}) == 2000
        assert s.opening_balance == 0 and s.closing_balance == Decimal("1980.00")
        assert sum(line.amount for line in s.lines) == s.closing_balance
        assert s.lines[0].gross == Decimal("1.00") and s.lines[0].fee == Decimal("0.01")
        assert s.lines[0].counterparty == "Donor"

        async def read() -> fiscus.Statement:
            async with fiscus.AsyncClient(daemon.address, daemon.tokens.auditor) as ac:
                return await ac.statement(OWN_PROJECT, MAY, date(2026, 5, 31), "USD")

        assert asyncio.run(read()) == statement


def test_balances_and_the_trial_balance_as_of_a_date(daemon: Daemon) -> None:
    with daemon.admin() as admin:
        open_project(admin, OWN_PROJECT, fee_bps=0)
        kind = fiscus.ContributionReceived(usd("10.00"), "Donor", fiscus.ContributionSource.DONATION)
        admin.record(fiscus.Event("march", OWN_PROJECT, date(2026, 3, 31), kind))
        admin.record(fiscus.Event("april", OWN_PROJECT, date(2026, 4, 1), kind))
        march = admin.balance(OWN_PROJECT, as_of=date(2026, 3, 31))
        assert march.as_of == date(2026, 3, 31)
        march_usd = march.in_currency("USD")
        assert march_usd is not None and march_usd.balance == Decimal("10.00")
        now = admin.balance(OWN_PROJECT).in_currency("USD")
        assert now is not None and now.balance == Decimal("20.00")
        trial = admin.trial_balance(as_of=date(2026, 3, 31))
        assert trial.as_of == date(2026, 3, 31)
        assert fiscus.TrialBalanceLine("Assets:Bank:USD", "USD", Decimal("10.00")) in trial.lines
        assert admin.trial_balance().as_of is None


def test_the_same_invoice_twice_is_shown_to_the_approver(daemon: Daemon) -> None:
    receipt = fiscus.Receipt(hashlib.sha256(b"invoice 42").digest(), "invoice-42.pdf")
    details = fiscus.ExpenseDetails(usd("50.00"), "Venue", "venue", receipt)
    with daemon.admin() as admin:
        open_project(admin, OWN_PROJECT)
    with daemon.client(daemon.tokens.project) as own:
        own.record(fiscus.Event("rq-1", OWN_PROJECT, date(2026, 3, 2), fiscus.ExpenseRequested(details)))
        with pytest.raises(fiscus.FiscusRefused):
            own.record(fiscus.Event("rq-2", OWN_PROJECT, date(2026, 3, 3), fiscus.ExpenseRequested(details)))
        own.record(
            fiscus.Event("rq-2", OWN_PROJECT, date(2026, 3, 3), fiscus.ExpenseRequested(details)), allow_same_receipt=True
        )
        pending = own.pending(OWN_PROJECT)
    assert [(p.position.seq, p.same_receipt_seqs) for p in pending] == [(2, [3]), (3, [2])]


# ----- a fake server's pages ---------------------------------------------------------------------


def line(seq: int, running: str) -> ledger_pb2.StatementLine:
    return ledger_pb2.StatementLine(
        date=f"2026-03-{seq:02d}", seq=seq, kind="ContributionReceived", amount="1.00", running_balance=running
    )


def statement_page(lines: list[ledger_pb2.StatementLine], token: str, closing: str = "3.00") -> ledger_pb2.GetStatementResponse:
    s = ledger_pb2.CurrencyStatement(currency="USD", opening_balance="0.00", lines=lines, closing_balance=closing)
    return ledger_pb2.GetStatementResponse(
        project="p", from_date="2026-03-01", to_date="2026-03-31", head_seq=3, statements=[s], next_page_token=token
    )


def test_statement_pages_are_joined_and_a_token_that_does_not_advance_is_refused(fake: tuple[Fake, str]) -> None:
    servicer, address = fake
    march = (date(2026, 3, 1), date(2026, 3, 31))

    def two_pages(req: Any, ctx: Any) -> ledger_pb2.GetStatementResponse:
        if req.page_token == "":
            return statement_page([line(1, "1.00"), line(2, "2.00")], "page-2")
        return statement_page([line(3, "3.00")], "")

    servicer.on["GetStatement"] = two_pages
    with client(address) as c:
        assert [x.seq for x in c.statement("p", *march).statements[0].lines] == [1, 2, 3]
        assert [r.page_token for r in servicer.calls["GetStatement"]] == ["", "page-2"]

        servicer.on["GetStatement"] = lambda req, ctx: statement_page([line(1, "1.00")], "again")
        with pytest.raises(fiscus.FiscusError, match="does not advance"):
            c.statement("p", *march)
        # One page, with a line missing and nothing said of more pages: it does not add up.
        servicer.on["GetStatement"] = lambda req, ctx: statement_page([line(1, "1.00"), line(2, "2.00")], "")
        with pytest.raises(fiscus.FiscusError, match="lines are missing"):
            c.statement("p", *march)


def trial_page(commit: int, lines: list[tuple[str, str]], after: tuple[str, str] = ("", "")) -> ledger_pb2.GetTrialBalanceResponse:
    return ledger_pb2.GetTrialBalanceResponse(
        commit=commit,
        lines=[ledger_pb2.TrialBalanceLine(account=a, currency="USD", amount=x) for a, x in lines],
        next_after_account=after[0],
        next_after_currency=after[1],
    )


def test_trial_balance_pages_are_read_from_one_commit(fake: tuple[Fake, str]) -> None:
    servicer, address = fake
    bank, project = "Assets:Bank:USD", "Liabilities:Projects:p:Unrestricted"
    commits = iter([7, 8, 8])

    def pages(req: Any, ctx: Any) -> ledger_pb2.GetTrialBalanceResponse:
        if req.after_account == "":
            return trial_page(next(commits), [(bank, "10.00")], (bank, "USD"))
        return trial_page(8, [(project, "-10.00")])

    servicer.on["GetTrialBalance"] = pages
    with client(address) as c:
        trial = c.trial_balance()
        # The second page was of commit 8, the first of 7: read again from the start.
        assert trial.commit == 8 and [x.account for x in trial.lines] == [bank, project]
        assert [r.after_account for r in servicer.calls["GetTrialBalance"]] == ["", bank, "", bank]

        servicer.on["GetTrialBalance"] = lambda req, ctx: trial_page(1, [(bank, "10.00")], (bank, "USD"))
        with pytest.raises(fiscus.FiscusError, match="does not advance|not after"):
            c.trial_balance()
        servicer.on["GetTrialBalance"] = lambda req, ctx: trial_page(1, [(bank, "10.00")])
        with pytest.raises(fiscus.FiscusError, match="sum to 10.00, not zero"):
            c.trial_balance()


def pending_page(seqs: list[int], after: int | None) -> ledger_pb2.ListPendingExpensesResponse:
    details = event_pb2.ExpenseDetails(
        amount=money_pb2.Money(amount="5.00", currency="USD"),
        payee="V",
        category="venue",
        receipt=event_pb2.Receipt(hash=b"\x01" * 32, file_name="r.pdf"),
    )
    expenses = [
        ledger_pb2.PendingExpense(
            position=event_pb2.Position(project="p", seq=s), details=details, requester="r", requested_on="2026-03-02"
        )
        for s in seqs
    ]
    answer = ledger_pb2.ListPendingExpensesResponse(expenses=expenses, commit=1)
    if after is not None:
        answer.next_after.CopyFrom(event_pb2.Position(project="p", seq=after))
    return answer


def test_pending_expense_pages_are_followed_and_a_repeated_cursor_is_refused(fake: tuple[Fake, str]) -> None:
    servicer, address = fake

    def pages(req: Any, ctx: Any) -> ledger_pb2.ListPendingExpensesResponse:
        if not req.HasField("after"):
            return pending_page([2, 3], 3)
        return pending_page([5], None)

    servicer.on["ListPendingExpenses"] = pages
    with client(address) as c:
        assert [p.position.seq for p in c.pending("p")] == [2, 3, 5]
        servicer.on["ListPendingExpenses"] = lambda req, ctx: pending_page([2], 2)
        with pytest.raises(fiscus.FiscusError, match="not after|does not advance"):
            c.pending("p")
        assert len(servicer.calls["ListPendingExpenses"]) == 4


def test_a_cursor_that_does_not_advance_ends_events_and_projects_with_an_error(fake: tuple[Fake, str]) -> None:
    servicer, address = fake
    closed = event_pb2.Event(event_id="x", project="p", effective_date="2026-01-01", project_closed=event_pb2.ProjectClosed())
    servicer.on["ListEvents"] = lambda req, ctx: ledger_pb2.ListEventsResponse(
        events=[event_pb2.RecordedEvent(project="p", seq=1, commit=1, actor="a", event=closed)], next_after_seq=0, head_seq=5
    )
    servicer.on["ListProjects"] = lambda req, ctx: ledger_pb2.ListProjectsResponse(
        projects=[summary()], next_after_project="a"
    )
    with client(address) as c:
        with pytest.raises(fiscus.FiscusError, match="ListEvents"):
            list(c.events("p"))
        with pytest.raises(fiscus.FiscusError, match="ListProjects"):
            c.projects()
        # An empty page while the head is further on: the server says more, and gives nothing.
        servicer.on["ListEvents"] = lambda req, ctx: ledger_pb2.ListEventsResponse(next_after_seq=0, head_seq=5)
        with pytest.raises(fiscus.FiscusError, match="does not advance"):
            list(c.events("p"))
    assert len(servicer.calls["ListEvents"]) <= 3 and len(servicer.calls["ListProjects"]) <= 2


def test_too_many_pages_is_an_error(fake: tuple[Fake, str], monkeypatch: pytest.MonkeyPatch) -> None:
    servicer, address = fake
    monkeypatch.setattr("fiscus._paging.PAGES_MAX", 5)
    servicer.on["ListProjects"] = lambda req, ctx: ledger_pb2.ListProjectsResponse(
        projects=[summary(project=req.after_project + "a")], next_after_project=req.after_project + "a"
    )
    with client(address) as c, pytest.raises(fiscus.FiscusError, match="more than 5 pages"):
        c.projects()
    assert len(servicer.calls["ListProjects"]) == 6


def test_an_answer_for_another_date_is_refused(fake: tuple[Fake, str]) -> None:
    servicer, address = fake
    servicer.on["GetBalance"] = lambda req, ctx: ledger_pb2.GetBalanceResponse(project="p", head_seq=1, commit=1)
    with client(address) as c, pytest.raises(fiscus.FiscusError, match="as of None") as refused:
        c.balance("p", as_of=date(2026, 3, 31))
    assert refused.value.field == "GetBalanceResponse.as_of"
    assert servicer.calls["GetBalance"][0].as_of == "2026-03-31"

