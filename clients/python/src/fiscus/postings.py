"""Postings and balances recomputed from stored events, by the rules of ``docs/POSTINGS.md`` (and
nothing else): each completed event expands into debit-positive postings that sum to zero per
currency; a project's balances are sums of its accounts plus the holds of approved, unpaid expense
requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, localcontext

from fiscus.model import (
    AdvanceIssued,
    AdvanceRepaid,
    ContributionReceived,
    CurrencyBalance,
    CurrencyConverted,
    EventKind,
    EventReversed,
    ExpenseApproved,
    ExpensePaid,
    ExpenseRejected,
    ExpenseRequested,
    Fund,
    FundsReleased,
    GrantAwarded,
    OpeningBalance,
    PledgeCancelled,
    PledgeFulfilled,
    PledgeRecorded,
    RefundIssued,
    RestrictedBalance,
    TransferReceived,
    TransferSent,
)
from fiscus.record import MINOR_UNITS


@dataclass(frozen=True)
class Posting:
    """One leg: an hledger account name, a currency, and a debit-positive amount."""

    account: str
    currency: str
    amount: Decimal


def fee(amount: Decimal, fee_bps: int, currency: str) -> Decimal:
    """``round(amount × fee_bps / 10000)`` to the currency's minor units, midpoint away from zero."""
    with localcontext() as ctx:
        ctx.prec = 60
        raw = amount * fee_bps / Decimal(10000)
        return raw.quantize(Decimal(1).scaleb(-MINOR_UNITS[currency]), rounding=ROUND_HALF_UP)


def _fund_account(project: str, fund: Fund) -> str:
    if fund.is_unrestricted:
        return f"Liabilities:Projects:{project}:Unrestricted"
    return f"Liabilities:Projects:{project}:Restricted:{fund.restricted_purpose}"


def postings(project: str, kind: EventKind) -> list[Posting]:
    """The postings of a stored (completed) event of ``project``; zero legs are left out."""
    bank = "Assets:Bank:{}".format
    unrestricted = f"Liabilities:Projects:{project}:Unrestricted"
    fees = f"Income:Fees:{project}"
    pledges = f"Assets:Receivable:Pledges:{project}"
    pledged = f"Liabilities:Projects:{project}:Pledged"
    advances = f"Assets:Receivable:Advances:{project}"
    clearing = "Assets:Clearing:Transfers"
    legs: list[tuple[str, str, Decimal]] = []
    if isinstance(kind, ContributionReceived):
        a, c = kind.amount.amount, kind.amount.currency
        f = fee(a, kind.fee_bps or 0, c)
        legs = [(bank(c), c, a), (_fund_account(project, kind.fund), c, -(a - f)), (fees, c, -f)]
    elif isinstance(kind, PledgeRecorded):
        a, c = kind.amount.amount, kind.amount.currency
        legs = [(pledges, c, a), (pledged, c, -a)]
    elif isinstance(kind, PledgeFulfilled):
        a, c = kind.amount.amount, kind.amount.currency
        f = fee(a, kind.fee_bps or 0, c)
        legs = [(bank(c), c, a), (pledges, c, -a), (pledged, c, a), (unrestricted, c, -(a - f)), (fees, c, -f)]
    elif isinstance(kind, PledgeCancelled) and kind.amount is not None:
        a, c = kind.amount.amount, kind.amount.currency
        legs = [(pledges, c, -a), (pledged, c, a)]
    elif isinstance(kind, GrantAwarded):
        a, c = kind.amount.amount, kind.amount.currency
        legs = [(f"Expenses:Grants:{kind.program}", c, a), (unrestricted, c, -a)]
    elif isinstance(kind, AdvanceIssued):
        a, c = kind.amount.amount, kind.amount.currency
        legs = [(advances, c, a), (unrestricted, c, -a)]
    elif isinstance(kind, AdvanceRepaid):
        a, c = kind.amount.amount, kind.amount.currency
        legs = [(unrestricted, c, a), (advances, c, -a)]
    elif isinstance(kind, ExpensePaid) and kind.details is not None:
        a, c = kind.details.amount.amount, kind.details.amount.currency
        legs = [(_fund_account(project, kind.details.fund), c, a), (bank(c), c, -a)]
    elif isinstance(kind, RefundIssued) and kind.fund is not None:
        a, c = kind.amount.amount, kind.amount.currency
        f = kind.fee_share or Decimal(0)
        legs = [(_fund_account(project, kind.fund), c, a - f), (fees, c, f), (bank(c), c, -a)]
    elif isinstance(kind, TransferSent):
        a, c = kind.amount.amount, kind.amount.currency
        legs = [(unrestricted, c, a), (clearing, c, -a)]
    elif isinstance(kind, TransferReceived):
        a, c = kind.amount.amount, kind.amount.currency
        legs = [(clearing, c, a), (unrestricted, c, -a)]
    elif isinstance(kind, FundsReleased):
        a, c = kind.amount.amount, kind.amount.currency
        legs = [(f"Liabilities:Projects:{project}:Restricted:{kind.purpose}", c, a), (unrestricted, c, -a)]
    elif isinstance(kind, CurrencyConverted):
        a, c = kind.amount.amount, kind.amount.currency
        b, d = kind.to.amount, kind.to.currency
        legs = [(unrestricted, c, a), (bank(c), c, -a), (bank(d), d, b), (unrestricted, d, -b)]
    elif isinstance(kind, OpeningBalance):
        a, c = kind.amount.amount, kind.amount.currency
        legs = [(bank(c), c, a), (_fund_account(project, kind.fund), c, -a)]
    elif isinstance(kind, EventReversed) and kind.target is not None:
        legs = [(p.account, p.currency, -p.amount) for p in postings(project, kind.target)]
    return [Posting(account, currency, amount) for account, currency, amount in legs if amount != 0]


@dataclass
class _Books:
    accounts: dict[str, Decimal] = field(default_factory=dict)
    holds: dict[Fund, Decimal] = field(default_factory=dict)
    purposes: set[str] = field(default_factory=set)


class ProjectBooks:
    """A project's accounts and holds, folded event by event in seq order."""

    def __init__(self, project: str) -> None:
        self.project = project
        self._books: dict[str, _Books] = {}
        self._requests: dict[int, tuple[Fund, str, Decimal, bool]] = {}

    def _of(self, currency: str) -> _Books:
        return self._books.setdefault(currency, _Books())

    def apply(self, seq: int, kind: EventKind) -> None:
        """Folds the stored event at ``seq``: its postings, then the holds it places or releases."""
        restricted_prefix = f"Liabilities:Projects:{self.project}:Restricted:"
        for leg in postings(self.project, kind):
            books = self._of(leg.currency)
            books.accounts[leg.account] = books.accounts.get(leg.account, Decimal(0)) + leg.amount
            if leg.account.startswith(restricted_prefix):
                books.purposes.add(leg.account.removeprefix(restricted_prefix))
        if isinstance(kind, ExpenseRequested):
            m = kind.details.amount
            self._requests[seq] = (kind.details.fund, m.currency, m.amount, False)
        elif isinstance(kind, ExpenseApproved) and kind.request in self._requests:
            fund, currency, amount, _ = self._requests[kind.request]
            self._requests[kind.request] = (fund, currency, amount, True)
            self._hold(fund, currency, amount)
        elif isinstance(kind, ExpenseRejected):
            self._release(kind.request)
        elif isinstance(kind, ExpensePaid) and kind.request is not None:
            self._release(kind.request)

    def _release(self, request: int) -> None:
        released = self._requests.pop(request, None)
        if released is not None and released[3]:
            fund, currency, amount, _ = released
            self._hold(fund, currency, -amount)

    def _hold(self, fund: Fund, currency: str, amount: Decimal) -> None:
        books = self._of(currency)
        books.holds[fund] = books.holds.get(fund, Decimal(0)) + amount

    def balances(self) -> list[CurrencyBalance]:
        """Per currency, in code order, what ``GetBalance`` reports (``docs/POSTINGS.md``)."""
        p = self.project
        out = []
        for currency in sorted(self._books):
            b = self._books[currency]

            def raw(account: str, books: _Books = b) -> Decimal:
                return books.accounts.get(account, Decimal(0))

            places = Decimal(1).scaleb(-MINOR_UNITS[currency])

            def q(value: Decimal) -> Decimal:
                return (value + 0).quantize(places)

            held_unrestricted = b.holds.get(Fund(), Decimal(0))
            balance = -raw(f"Liabilities:Projects:{p}:Unrestricted")
            restricted = [
                RestrictedBalance(
                    purpose,
                    q(-raw(f"Liabilities:Projects:{p}:Restricted:{purpose}")),
                    q(-raw(f"Liabilities:Projects:{p}:Restricted:{purpose}") - b.holds.get(Fund(purpose), Decimal(0))),
                )
                for purpose in sorted(b.purposes)
            ]
            out.append(
                CurrencyBalance(
                    currency=currency,
                    balance=q(balance),
                    available=q(balance - held_unrestricted),
                    restricted=restricted,
                    held=q(sum(b.holds.values(), Decimal(0))),
                    pledged=q(-raw(f"Liabilities:Projects:{p}:Pledged")),
                    advances_outstanding=q(raw(f"Assets:Receivable:Advances:{p}")),
                    fees_to_date=q(-raw(f"Income:Fees:{p}")),
                )
            )
        return out
