"""``verify_project`` on a real chain of every money-moving kind, and on tampered copies of it
served by a fake server: a flipped byte, a removed record, an amount changed and re-hashed."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent import futures
from datetime import date
from decimal import Decimal
from typing import Any

import grpc
import pytest
from conftest import DAY, OWN_PROJECT, Daemon, contribution, open_project, usd

import fiscus
from fiscus.record import record_hash
from fiscus.v1 import audit_pb2, audit_pb2_grpc, ledger_pb2, ledger_pb2_grpc


def ev(event_id: str, kind: fiscus.EventKind, project: str = OWN_PROJECT) -> fiscus.Event:
    return fiscus.Event(event_id, project, DAY, kind)


def build_year(daemon: Daemon) -> None:
    """A chain with every kind that moves money or holds it, in two projects and two currencies."""
    # One invoice per expense: the ledger refuses the same receipt twice.
    receipts = iter(fiscus.Receipt(bytes([n]) * 32, "r.pdf") for n in range(1, 100))
    with daemon.admin() as a, daemon.client(daemon.tokens.project) as own:
        open_project(a, OWN_PROJECT, fee_bps=750)
        open_project(a, "conf-b", currency="EUR", fee_bps=0)
        a.record(contribution("c-1", OWN_PROJECT, usd("1000.05")))  # seq 2, fee 75.00 (75.00375)
        a.record(contribution("c-2", OWN_PROJECT, usd("200.00"), fiscus.Fund.restricted("travel")))  # 3
        a.record(ev("op", fiscus.OpeningBalance(usd("50.00"))))  # 4
        a.record(ev("pl", fiscus.PledgeRecorded(usd("300.00"), "Ferris", date(2026, 6, 1))))  # 5
        a.record(ev("pf", fiscus.PledgeFulfilled(usd("100.00"), 5)))  # 6
        a.record(ev("pc", fiscus.PledgeCancelled(5)))  # 7
        a.record(ev("gr", fiscus.GrantAwarded(usd("40.00"), "community-fund")))  # 8
        a.record(ev("ad", fiscus.AdvanceIssued(usd("500.00"), "deposit")))  # 9
        a.record(ev("ar", fiscus.AdvanceRepaid(usd("200.00"))))  # 10
        details = fiscus.ExpenseDetails(usd("60.00"), "Hotel", "travel", next(receipts), fiscus.Fund.restricted("travel"))
        own.record(ev("rq", fiscus.ExpenseRequested(details)))  # 11
        a.record(ev("ap", fiscus.ExpenseApproved(11)))  # 12 (a hold on travel)
        own.record(ev("rq2", fiscus.ExpenseRequested(fiscus.ExpenseDetails(usd("25.00"), "Cafe", "food", next(receipts)))))
        a.record(ev("ap2", fiscus.ExpenseApproved(13)))  # 14 (a hold on unrestricted, kept)
        a.record(ev("pay", fiscus.ExpensePaid(request=11)))  # 15
        a.record(ev("ref", fiscus.RefundIssued(usd("100.00"), 2)))  # 16
        a.record(ev("fr", fiscus.FundsReleased(usd("50.00"), "travel")))  # 17
        a.record(ev("cv", fiscus.CurrencyConverted(usd("100.00"), fiscus.Money(Decimal("91.50"), "EUR"))))  # 18
        direct = fiscus.ExpenseDetails(usd("12.34"), "Printer", "print", next(receipts))
        a.record(ev("px", fiscus.ExpensePaid(details=direct)))  # 19
        a.record(ev("rv", fiscus.EventReversed(19, "paid twice")))  # 20
        a.record(
            [
                ev("ts", fiscus.TransferSent(fiscus.Money(Decimal("10.00"), "EUR"), "conf-b")),  # 21
                ev("tr", fiscus.TransferReceived(fiscus.Money(Decimal("10.00"), "EUR"), OWN_PROJECT), "conf-b"),
            ]
        )
        a.record(contribution("last", OWN_PROJECT, usd("1000.00")))  # 22
        # The kinds without postings, in other chains.
        a.record(ev("terms", fiscus.ProjectTermsChanged(fee_bps=100, advance_limit=Decimal("250.5")), "conf-b"))
        eur = fiscus.ExpenseDetails(fiscus.Money(Decimal("5.00"), "EUR"), "Cafe", "food", next(receipts))
        a.record(ev("rq-b", fiscus.ExpenseRequested(eur), "conf-b"))
        a.record(ev("rj-b", fiscus.ExpenseRejected(4, "no receipt"), "conf-b"))
        a.record(ev("close-feb", fiscus.PeriodClosed(date(2026, 2, 28)), "conf-b"))
        open_project(a, "conf-c")
        a.record(ev("closed", fiscus.ProjectClosed(), "conf-c"))


def test_a_real_chain_verifies_and_its_balances_are_recomputed(daemon: Daemon) -> None:
    build_year(daemon)
    with daemon.client(daemon.tokens.auditor) as auditor:
        kinds: set[str] = set()
        for project in [OWN_PROJECT, "conf-b", "conf-c"]:
            verified = fiscus.verify_project(auditor, project)
            server = auditor.balance(project)
            assert verified.balances == server.balances
            assert verified.head_seq == server.head_seq and len(verified.records) == server.head_seq
            kinds |= {type(r.event.kind).__name__ for r in verified.records}
        verified = fiscus.verify_project(auditor, OWN_PROJECT)
        usd_books = next(b for b in verified.balances if b.currency == "USD")
        assert usd_books.held == Decimal("25.00") and usd_books.advances_outstanding == Decimal("300.00")
        # All 22 kinds, read from real chains by the reader written from FORMAT.md.
        assert len(kinds) == 22, sorted(kinds)
        # The sponsor chain has no balances, only records.
        with daemon.admin() as a:
            a.record(fiscus.Event("close-2025", "sponsor", DAY, fiscus.PeriodClosed(date(2025, 12, 31))))
        assert fiscus.verify_project(auditor, "sponsor").head_seq == 1


class FakeServer(audit_pb2_grpc.AuditServicer, ledger_pb2_grpc.LedgerServicer):
    """Answers GetHead, ExportChain and GetBalance with a real daemon's answers, after ``tamper``
    has changed them."""

    def __init__(
        self,
        head: audit_pb2.GetHeadResponse,
        records: list[audit_pb2.RawRecord],
        balance: ledger_pb2.GetBalanceResponse,
    ) -> None:
        self.head, self.records, self.balance = head, records, balance

    def GetHead(self, request: Any, context: Any) -> audit_pb2.GetHeadResponse:
        return self.head

    def ExportChain(self, request: Any, context: Any) -> Iterator[audit_pb2.ExportChainResponse]:
        yield audit_pb2.ExportChainResponse(head_seq=len(self.records), records=self.records)

    def GetBalance(self, request: Any, context: Any) -> ledger_pb2.GetBalanceResponse:
        return self.balance


Tamper = Callable[[FakeServer], None]


def _real_answers(daemon: Daemon) -> FakeServer:
    """A fake server holding a real daemon's answers for the year of :func:`build_year`."""
    build_year(daemon)
    with grpc.insecure_channel(daemon.address) as channel:
        auth = (("authorization", f"Bearer {daemon.tokens.auditor}"),)
        audit = audit_pb2_grpc.AuditStub(channel)
        ledger = ledger_pb2_grpc.LedgerStub(channel)
        head = audit.GetHead(audit_pb2.GetHeadRequest(project=OWN_PROJECT), metadata=auth)
        records = [
            r
            for m in audit.ExportChain(audit_pb2.ExportChainRequest(project=OWN_PROJECT), metadata=auth)
            for r in m.records
        ]
        balance = ledger.GetBalance(ledger_pb2.GetBalanceRequest(project=OWN_PROJECT), metadata=auth)
    return FakeServer(head, records, balance)  # type: ignore[abstract]  # answers what verify_project asks


@contextlib.contextmanager
def _serving(fake: FakeServer) -> Iterator[fiscus.Client]:
    """A client of ``fake`` served on a loopback port."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    audit_pb2_grpc.add_AuditServicer_to_server(fake, server)
    ledger_pb2_grpc.add_LedgerServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with fiscus.Client(f"127.0.0.1:{port}", "any", retries=0) as client:
            yield client
    finally:
        server.stop(None)


def _flip_memo_byte(keep_hash: bool) -> Tamper:
    def tamper(s: FakeServer) -> None:
        r = s.records[2]  # seq 3
        i = r.bytes.index(b"Acme")
        changed = r.bytes[:i] + b"B" + r.bytes[i + 1 :]
        r.bytes = changed
        if not keep_hash:
            r.hash = record_hash(changed)

    return tamper


def _remove(seq: int) -> Tamper:
    def tamper(s: FakeServer) -> None:
        del s.records[seq - 1]

    return tamper


def _money(mantissa: int, scale: int) -> bytes:
    """A USD Money as FORMAT.md section 1 encodes it (zigzag varint mantissa, u8 scale)."""
    z = mantissa * 2
    if z <= 250:
        varint = bytes([z])
    elif z < 1 << 16:
        varint = b"\xfb" + z.to_bytes(2, "little")
    else:
        varint = b"\xfc" + z.to_bytes(4, "little")
    return b"USD" + varint + bytes([scale])


def _rehashed_amount(seq: int, old: bytes, new: bytes, forge_head: bool) -> Tamper:
    """Changes the amount of the contribution at ``seq`` and re-hashes that record (and, with
    ``forge_head``, states its new hash as the project's head)."""

    def tamper(s: FakeServer) -> None:
        r = s.records[seq - 1]
        assert r.bytes.count(old) == 1
        r.bytes = r.bytes.replace(old, new)
        r.hash = record_hash(r.bytes)
        if forge_head:
            s.head.projects[0].hash = r.hash

    return tamper


@pytest.mark.parametrize(
    ("tamper", "seq", "problem"),
    [
        (_flip_memo_byte(keep_hash=True), 3, "hash the server states"),
        (_flip_memo_byte(keep_hash=False), 4, "record 3 or 4 is not as it was recorded"),
        (_remove(5), 5, "seq 6 where seq 5 was due"),
        (_remove(22), 22, "head is seq 22"),
        (_rehashed_amount(2, _money(100005, 2), _money(900005, 2), False), 3, "record 2 or 3 is not as"),
        (_rehashed_amount(2, _money(100005, 2), _money(100050, 2), False), 2, "does not decode"),
        (_rehashed_amount(22, _money(1000, 0), _money(9000, 0), False), 22, "head hash"),
        (_rehashed_amount(22, _money(1000, 0), _money(9000, 0), True), 22, "USD balance: the server states"),
    ],
    ids=[
        "flipped-byte",
        "flipped-byte-rehashed",
        "removed-record",
        "removed-last-record",
        "changed-amount-rehashed",
        "changed-amount-not-normalised",
        "changed-last-amount-rehashed",
        "changed-amount-rehashed-head-forged",
    ],
)
def test_a_tampered_chain_fails_naming_project_and_seq(daemon: Daemon, tamper: Tamper, seq: int, problem: str) -> None:
    fake = _real_answers(daemon)
    with _serving(fake) as client:
        assert fiscus.verify_project(client, OWN_PROJECT).head_seq == 22, "the untampered copy verifies"
        tamper(fake)
        with pytest.raises(fiscus.VerificationFailed) as failed:
            fiscus.verify_project(client, OWN_PROJECT)
    assert failed.value.project == OWN_PROJECT
    assert failed.value.seq == seq, str(failed.value)
    assert problem in str(failed.value)
    assert f"project {OWN_PROJECT} seq {seq}" in str(failed.value)


def test_the_balances_verified_are_those_of_the_head(daemon: Daemon) -> None:
    """A server answering GetBalance with an old seq's balances (true of seq 1: none) does not make
    the verification report old balances: they are recomputed at the verified head."""
    fake = _real_answers(daemon)
    real = list(fake.balance.balances)
    fake.balance.head_seq = 1
    del fake.balance.balances[:]
    with _serving(fake) as client:
        verified = fiscus.verify_project(client, OWN_PROJECT)
    assert verified.head_seq == 22 and verified.balances_seq == 22
    assert [(b.currency, b.balance) for b in verified.balances] == [
        (b.currency, Decimal(b.balance)) for b in real
    ], "the balances at head 22, not seq 1's"
    assert verified.balances, "the project has money at its head"
