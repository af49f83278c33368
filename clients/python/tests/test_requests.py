"""Request values are checked where they are built, before anything is sent: a wrong type or a
number out of its proto range names its field, and a token that cannot be sent in a header is
refused without being shown."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

import fiscus

USD = fiscus.Money(Decimal("1.00"), "USD")


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: fiscus.ProjectOpened("X", fiscus.ProjectKind.OTHER, 1.5, "USD"), TypeError, "ProjectOpened.fee_bps: expected an int"),  # type: ignore[arg-type]
        (lambda: fiscus.ProjectOpened("X", fiscus.ProjectKind.OTHER, -1, "USD"), ValueError, "ProjectOpened.fee_bps: -1 is out of range"),
        (lambda: fiscus.ProjectOpened("X", fiscus.ProjectKind.OTHER, True, "USD"), TypeError, "ProjectOpened.fee_bps"),
        (lambda: fiscus.ProjectOpened("X", "conference", 0, "USD"), TypeError, "ProjectOpened.kind: expected ProjectKind"),  # type: ignore[arg-type]
        (lambda: fiscus.ProjectTermsChanged(fee_bps=2**32), ValueError, "ProjectTermsChanged.fee_bps"),
        (lambda: fiscus.PledgeFulfilled(USD, -1), ValueError, "PledgeFulfilled.pledge: -1 is out of range"),
        (lambda: fiscus.ExpenseApproved(2**64), ValueError, "ExpenseApproved.request"),
        (lambda: fiscus.EventReversed(3.0, "r"), TypeError, "EventReversed.target_seq"),  # type: ignore[arg-type]
        (lambda: fiscus.ContributionReceived(USD, "A", fiscus.ContributionSource.OTHER, "travel"), TypeError, "ContributionReceived.fund"),  # type: ignore[arg-type]
        (lambda: fiscus.Event(5, "p", date(2026, 3, 1), fiscus.ProjectClosed()), TypeError, "Event.event_id"),  # type: ignore[arg-type]
    ],
)
def test_a_request_value_of_the_wrong_type_or_range_is_refused_when_built(
    build: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        build()  # type: ignore[operator]


def test_arguments_out_of_range_name_themselves_before_anything_is_sent() -> None:
    with fiscus.Client("127.0.0.1:9", "t", retries=0, timeout=1) as nowhere:
        with pytest.raises(ValueError, match="fee_bps: -1 is out of range"):
            nowhere.open_project("p", name="P", kind=fiscus.ProjectKind.OTHER, fee_bps=-1, currency="USD", effective_date=date(2026, 1, 1))
        event = fiscus.Event("e", "p", date(2026, 3, 1), fiscus.ProjectClosed())
        with pytest.raises(ValueError, match=r"expected_seq\[p\]: -1 is out of range"):
            nowhere.record(event, expected_seq={"p": -1})
        with pytest.raises(ValueError, match="after_seq: -1"):
            next(iter(nowhere.events("p", after_seq=-1)))


@pytest.mark.parametrize("token", ["abc\ndef", "abc\n", "ab cd", "abc\u00e9", ""])
def test_a_token_that_cannot_be_sent_in_a_header_is_refused_without_showing_it(token: str) -> None:
    for make in (fiscus.Client, fiscus.AsyncClient):
        with pytest.raises(ValueError, match="token: ") as refused:
            make("127.0.0.1:9", token)
        shown = str(refused.value)
        assert token == "" or token.strip() not in shown, "the token is not echoed"
