"""Every method of the client against a real ``fiscusd``, the refusals as exceptions, Decimal
amounts, idempotent retries and what a project's token may read."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Callable
from datetime import date
from decimal import Decimal

import grpc
import pytest
from conftest import DAY, OWN_PROJECT, CuttingProxy, Daemon, contribution, open_project, usd

import fiscus


def expense_details(amount: str, category: str = "venue") -> fiscus.ExpenseDetails:
    # One invoice per amount and category: the ledger refuses the same receipt twice.
    receipt = fiscus.Receipt(hashlib.sha256(f"invoice {amount} {category}".encode()).digest(), "invoice-17.pdf")
    return fiscus.ExpenseDetails(usd(amount), "Venue Hall GmbH", category, receipt)


def test_every_method_of_the_blocking_client(daemon: Daemon) -> None:
    with daemon.admin() as admin, daemon.client() as acc, daemon.client(daemon.tokens.project) as own:
        opened = open_project(admin, OWN_PROJECT)
        assert opened == fiscus.Committed(1, [fiscus.Position(OWN_PROJECT, 1)], False)
        assert open_project(admin, OWN_PROJECT).duplicate, "the same ProjectOpened again is a duplicate"
        open_project(admin, "conf-b", fee_bps=500)

        one = acc.record(contribution("c-1", OWN_PROJECT, usd("1000.00"), reference="INV-1"))
        assert one.positions == [fiscus.Position(OWN_PROJECT, 2)] and not one.duplicate
        # A sponsorship package: one commit, one contribution per project, each with its own fee.
        package = acc.record(
            [
                contribution("pkg-a", OWN_PROJECT, usd("3000.00"), reference="PKG-1"),
                contribution("pkg-b", "conf-b", usd("2000.00"), reference="PKG-1"),
            ]
        )
        assert package.positions == [fiscus.Position(OWN_PROJECT, 3), fiscus.Position("conf-b", 2)]
        assert package.commit == one.commit + 1

        # An organiser files an expense request; an accountant approves it: a hold.
        request = fiscus.Event("exp-1", OWN_PROJECT, DAY, fiscus.ExpenseRequested(expense_details("500.00")))
        filed = own.record(request)
        acc.record(fiscus.Event("exp-1-ok", OWN_PROJECT, DAY, fiscus.ExpenseApproved(filed.positions[0].seq)))

        balances = own.balance(OWN_PROJECT)
        usd_balance = balances.in_currency("USD")
        assert usd_balance is not None
        assert usd_balance.balance == Decimal("3680.00")  # (1000 + 3000) less 8 %
        assert usd_balance.available == Decimal("3180.00")
        assert usd_balance.held == Decimal("500.00")
        assert usd_balance.fees_to_date == Decimal("320.00")
        assert balances.head_seq == 5

        b = acc.balance("conf-b", "USD").in_currency("USD")
        assert b is not None and b.balance == Decimal("1900.00")

        statement = own.statement(OWN_PROJECT, date(2026, 1, 1), date(2026, 12, 31))
        (usd_statement,) = statement.statements
        assert [line.seq for line in usd_statement.lines] == [2, 3]
        assert usd_statement.closing_balance == Decimal("3680.00")
        assert usd_statement.lines[0].reference == "INV-1"
        assert usd_statement.totals_by_source == [fiscus.StatementTotal("sponsorship", Decimal("3680.00"))]

        pending = own.pending(OWN_PROJECT)
        assert len(pending) == 1 and pending[0].approved and pending[0].requester == "organiser:olga"
        assert pending[0].details == expense_details("500.00")
        assert [p.position.project for p in acc.pending()] == [OWN_PROJECT]

        # events pages for the caller: 5 events in pages of 2.
        events = list(own.events(OWN_PROJECT, page_size=2))
        assert [e.seq for e in events] == [1, 2, 3, 4, 5]
        assert isinstance(events[1].event.kind, fiscus.ContributionReceived)
        assert events[1].event.kind.fee_bps == 800, "the completed fee rate comes back"
        assert events[1].event.kind.amount == usd("1000.00")
        assert events[3].actor == "organiser:olga"
        assert [e.seq for e in own.events(OWN_PROJECT, after_seq=3)] == [4, 5]

        summaries = acc.projects()
        assert [p.project for p in summaries] == [OWN_PROJECT, "conf-b"]
        assert summaries[0].kind == fiscus.ProjectKind.CONFERENCE and summaries[0].head_seq == 5
        assert [p.project for p in own.projects()] == [OWN_PROJECT]

        trial = acc.trial_balance()
        bank = [line for line in trial.lines if line.account == "Assets:Bank:USD"]
        assert bank == [fiscus.TrialBalanceLine("Assets:Bank:USD", "USD", Decimal("6000.00"))]
        for currency in {line.currency for line in trial.lines}:
            assert sum(line.amount for line in trial.lines if line.currency == currency) == 0

        heads = own.head(OWN_PROJECT)
        head = heads.of(OWN_PROJECT)
        assert head is not None and head.seq == 5 and head.hash == events[-1].hash
        raw = list(own.export_chain(OWN_PROJECT))
        assert [r.seq for r in raw] == [1, 2, 3, 4, 5] and raw[-1].hash == head.hash
        assert [r.seq for r in own.export_chain(OWN_PROJECT, from_seq=4)] == [4, 5]

        commits = []
        for notice in acc.subscribe(after_commit=0):
            commits.append(notice)
            if notice.commit == heads.commit:
                break
        assert [n.commit for n in commits] == list(range(1, heads.commit + 1))
        assert commits[3].events[0].event.event_id == "pkg-a" and len(commits[3].events) == 2
        assert commits[1].prev_commit_hash == commits[0].commit_hash
        only_b = next(iter(acc.subscribe(project="conf-b")))
        assert [e.project for e in only_b.events] == ["conf-b"]

        verified = fiscus.verify_project(own, OWN_PROJECT)
        assert verified.head_seq == 5 and verified.balances == balances.balances


def test_every_method_of_the_async_client(daemon: Daemon) -> None:
    async def run() -> None:
        async with fiscus.AsyncClient(daemon.address, daemon.tokens.admin) as admin:
            opened = await admin.open_project(
                OWN_PROJECT,
                name="Conf A",
                kind=fiscus.ProjectKind.MEETUP,
                fee_bps=0,
                currency="EUR",
                effective_date=date(2026, 1, 5),
            )
            assert opened.positions == [fiscus.Position(OWN_PROJECT, 1)]
            money = fiscus.Money(Decimal("10.50"), "EUR")
            await admin.record(
                [
                    contribution("a-1", OWN_PROJECT, money),
                    contribution("a-2", OWN_PROJECT, money, fund=fiscus.Fund.restricted("travel")),
                ]
            )
            b = (await admin.balance(OWN_PROJECT)).in_currency("EUR")
            assert b is not None and b.balance == Decimal("10.50")
            assert b.restricted == [fiscus.RestrictedBalance("travel", Decimal("10.50"), Decimal("10.50"))]
            s = await admin.statement(OWN_PROJECT, date(2026, 1, 1), date(2026, 12, 31), "EUR")
            assert s.statements[0].closing_balance == Decimal("21.00")
            assert [e.seq async for e in admin.events(OWN_PROJECT, page_size=1)] == [1, 2, 3]
            assert [p.project for p in await admin.projects()] == [OWN_PROJECT]
            assert (await admin.trial_balance()).commit == 2
            assert await admin.pending() == []
            heads = await admin.head()
            assert heads.commit == 2 and [h.project for h in heads.projects] == [OWN_PROJECT]
            assert [r.seq async for r in admin.export_chain(OWN_PROJECT)] == [1, 2, 3]
            seen = []
            async for notice in admin.subscribe():
                seen.append(notice.commit)
                if notice.commit == 2:
                    break
            assert seen == [1, 2]
            verified = await fiscus.verify_project_async(admin, OWN_PROJECT)
            assert verified.head_seq == 3
            with pytest.raises(fiscus.FiscusNotFound):
                await admin.balance("nope")

    asyncio.run(run())


def test_each_refusal_is_its_exception_with_status_message_and_field(daemon: Daemon) -> None:
    with daemon.admin() as admin:
        open_project(admin, OWN_PROJECT)
        admin.record(contribution("c-1", OWN_PROJECT, usd("100.00")))
        before = admin.head()

        with pytest.raises(fiscus.FiscusInvalid) as invalid:
            admin.record([contribution("ok", OWN_PROJECT, usd("1.00")), contribution("bad", "", usd("1.00"))])
        assert invalid.value.status == grpc.StatusCode.INVALID_ARGUMENT
        assert invalid.value.field == "events[1].project"
        assert "events[1].project" in invalid.value.message

        with pytest.raises(fiscus.FiscusInvalid) as bad_currency:
            admin.record(contribution("c-x", OWN_PROJECT, fiscus.Money(Decimal("1"), "XYZ")))
        assert bad_currency.value.field == "events[0].contribution_received.amount.currency"

        details = expense_details("100000.00")
        with pytest.raises(fiscus.FiscusRefused) as refused:
            admin.record(fiscus.Event("pay-1", OWN_PROJECT, DAY, fiscus.ExpensePaid(details=details)))
        assert refused.value.status == grpc.StatusCode.FAILED_PRECONDITION and refused.value.field is None

        with pytest.raises(fiscus.FiscusNotFound) as missing:
            admin.balance("no-such-project")
        assert missing.value.status == grpc.StatusCode.NOT_FOUND

        with pytest.raises(fiscus.FiscusConflict) as conflict:
            admin.record(contribution("c-1", OWN_PROJECT, usd("999.00")))
        assert conflict.value.status == grpc.StatusCode.ALREADY_EXISTS

        with pytest.raises(fiscus.FiscusConflict) as stale:
            admin.record(contribution("c-2", OWN_PROJECT, usd("1.00")), expected_seq={OWN_PROJECT: 1})
        assert stale.value.status == grpc.StatusCode.ABORTED and "2" in stale.value.message

        with fiscus.Client(daemon.address, "fiscus_not-a-token") as stranger:
            with pytest.raises(fiscus.FiscusUnauthenticated) as unknown:
                stranger.balance(OWN_PROJECT)
        assert isinstance(unknown.value, fiscus.FiscusPermissionDenied)
        assert unknown.value.status == grpc.StatusCode.UNAUTHENTICATED

        with daemon.client(daemon.tokens.auditor) as auditor:
            with pytest.raises(fiscus.FiscusPermissionDenied) as denied:
                auditor.record(contribution("c-3", OWN_PROJECT, usd("1.00")))
        assert denied.value.status == grpc.StatusCode.PERMISSION_DENIED

        assert admin.head() == before, "a refused request changes nothing"

    daemon.stop()
    with fiscus.Client(daemon.address, daemon.tokens.admin, retries=0, timeout=5) as gone:
        with pytest.raises(fiscus.FiscusUnavailable) as down:
            gone.balance(OWN_PROJECT)
    assert down.value.status == grpc.StatusCode.UNAVAILABLE


def test_amounts_are_decimals_in_and_out(daemon: Daemon) -> None:
    with daemon.admin() as admin:
        open_project(admin, OWN_PROJECT, fee_bps=0)
        admin.record(contribution("tiny", OWN_PROJECT, usd("0.10")))
        b = admin.balance(OWN_PROJECT).in_currency("USD")
        assert b is not None and b.balance == Decimal("0.10") and str(b.balance) == "0.10"

        big = fiscus.Money(Decimal("1e15"), "USD")
        admin.record(contribution("big", OWN_PROJECT, big))
        b = admin.balance(OWN_PROJECT).in_currency("USD")
        assert b is not None and b.balance == Decimal("1000000000000000.10")
        stored = [e.event.kind for e in admin.events(OWN_PROJECT)]
        assert isinstance(stored[2], fiscus.ContributionReceived)
        assert stored[2].amount.amount == Decimal("1e15") and str(stored[2].amount.amount) == "1000000000000000.00"

        for text, currency in [("0.105", "USD"), ("1.5", "JPY"), ("1000000000000000.01", "USD"), ("-1", "USD")]:
            with pytest.raises(fiscus.FiscusInvalid) as refused:
                admin.record(contribution(f"bad-{text}", OWN_PROJECT, fiscus.Money(Decimal(text), currency)))
            assert refused.value.field == "events[0].contribution_received.amount", text
        assert len(list(admin.events(OWN_PROJECT))) == 3, "nothing refused was stored"


def test_a_float_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(TypeError, match="float"):
        fiscus.Money(0.1, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="float"):
        fiscus.ProjectOpened("X", fiscus.ProjectKind.OTHER, 0, "USD", 10.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        fiscus.Money(True, "USD")  # type: ignore[arg-type]
    assert fiscus.Money(5, "USD").amount == Decimal(5)  # type: ignore[arg-type]
    # A client to nowhere: a float fails with TypeError, not with a connection error.
    with fiscus.Client("127.0.0.1:9", "t", retries=0, timeout=1) as nowhere:
        with pytest.raises(TypeError, match="float"):
            nowhere.open_project(
                "p",
                name="P",
                kind=fiscus.ProjectKind.OTHER,
                fee_bps=0,
                currency="USD",
                effective_date=DAY,
                advance_limit=0.5,  # type: ignore[arg-type]
            )


def test_a_write_retried_after_a_dropped_connection_is_stored_once(daemon: Daemon, proxy: CuttingProxy) -> None:
    with daemon.admin() as admin:
        open_project(admin, OWN_PROJECT)
    with fiscus.Client(proxy.address, daemon.tokens.accountant) as client:
        # The server stores the commit and answers; the proxy drops the answer and the connection.
        proxy.arm(b"retry-1", OWN_PROJECT.encode())
        first = client.record(contribution("retry-1", OWN_PROJECT, usd("250.00")))
        assert proxy.cuts == 1, "the answer was cut once"
        assert first.duplicate, "the retry found the commit the first attempt stored"
        assert first.positions == [fiscus.Position(OWN_PROJECT, 2)]

    with fiscus.Client(proxy.address, daemon.tokens.accountant, retries=0) as once:
        proxy.arm(b"retry-2", OWN_PROJECT.encode())
        with pytest.raises(fiscus.FiscusUnavailable):
            once.record(contribution("retry-2", OWN_PROJECT, usd("1.00")))
        assert proxy.cuts == 2

    async def async_retry() -> fiscus.Committed:
        async with fiscus.AsyncClient(proxy.address, daemon.tokens.accountant) as aclient:
            proxy.arm(b"retry-3", OWN_PROJECT.encode())
            return await aclient.record(contribution("retry-3", OWN_PROJECT, usd("3.00")))

    third = asyncio.run(async_retry())
    assert proxy.cuts == 3 and third.duplicate

    with daemon.client() as direct:
        ids = [e.event.event_id for e in direct.events(OWN_PROJECT)]
    assert ids == ["open-conf-a", "retry-1", "retry-2", "retry-3"], "each event is stored exactly once"


def test_a_project_token_is_denied_every_other_project(daemon: Daemon) -> None:
    with daemon.admin() as admin:
        open_project(admin, OWN_PROJECT)
        open_project(admin, "conf-b")
    with daemon.client(daemon.tokens.project) as own:
        own.balance(OWN_PROJECT)
        for other in ["conf-b", "no-such-project"]:
            calls: list[Callable[[], object]] = [
                lambda: own.balance(other),
                lambda: own.statement(other, date(2026, 1, 1), date(2026, 2, 1)),
                lambda: list(own.events(other)),
                lambda: own.pending(other),
                lambda: own.head(other),
                lambda: list(own.export_chain(other)),
                lambda: next(iter(own.subscribe(project=other))),
                lambda: fiscus.verify_project(own, other),
                lambda: own.record(contribution("x", other, usd("1.00"))),
            ]
            for call in calls:
                with pytest.raises(fiscus.FiscusPermissionDenied) as denied:
                    call()
                assert denied.value.status == grpc.StatusCode.PERMISSION_DENIED
                assert other not in denied.value.message or other == "conf-b"


def test_subscribe_resumes_from_its_cursor_across_a_daemon_restart(daemon: Daemon) -> None:
    with daemon.admin() as admin:
        open_project(admin, OWN_PROJECT)
        admin.record(contribution("before", OWN_PROJECT, usd("1.00")))
    received: list[fiscus.CommitNotice] = []
    arrived = threading.Condition()
    errors: list[BaseException] = []
    follower = daemon.client(daemon.tokens.auditor)

    def follow() -> None:
        try:
            for notice in follower.subscribe(resume_for=30):
                with arrived:
                    received.append(notice)
                    arrived.notify_all()
        except fiscus.FiscusError as e:  # ended by closing the client
            if e.status != grpc.StatusCode.CANCELLED:
                errors.append(e)

    def wait_for(commit: int) -> None:
        with arrived:
            assert arrived.wait_for(lambda: any(n.commit >= commit for n in received), timeout=30), received

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    wait_for(2)
    daemon.restart()
    with daemon.admin() as admin:
        admin.record(contribution("after-1", OWN_PROJECT, usd("2.00")))
        admin.record(contribution("after-2", OWN_PROJECT, usd("3.00")))
    wait_for(4)
    follower.close()
    thread.join(10)
    assert not errors
    assert [n.commit for n in received] == [1, 2, 3, 4], "none twice, none skipped"
    assert [n.events[0].event.event_id for n in received[2:]] == ["after-1", "after-2"]


def test_the_async_subscription_resumes_across_a_daemon_restart(daemon: Daemon) -> None:
    with daemon.admin() as admin:
        open_project(admin, OWN_PROJECT)

    async def run() -> list[int]:
        seen: list[int] = []
        async with fiscus.AsyncClient(daemon.address, daemon.tokens.auditor) as client:
            async for notice in client.subscribe(resume_for=30):
                seen.append(notice.commit)
                if notice.commit == 1:
                    await asyncio.get_running_loop().run_in_executor(None, restart_and_record)
                if notice.commit == 2:
                    return seen
        return seen

    def restart_and_record() -> None:
        daemon.restart()
        with daemon.admin() as admin:
            admin.record(contribution("after", OWN_PROJECT, usd("2.00")))

    assert asyncio.run(asyncio.wait_for(run(), 60)) == [1, 2]
