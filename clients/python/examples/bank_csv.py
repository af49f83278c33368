"""Records a month of a bank export as contributions to one project, idempotently.

Each credit line (a positive amount) becomes one ``ContributionReceived`` whose event id is
``bank-<transaction_id>``: run the script again on the same file, or on a file that grew, and the
lines already recorded answer "already recorded" instead of being stored twice. Debit lines
(negative amounts: bank fees, payments) are listed and left out: an expense needs a payee,
a category and a receipt, which a bank line does not carry.

    python bank_csv.py --project rustconf-2026 bank-2026-03.csv

The CSV has a header line with at least ``date`` (YYYY-MM-DD), ``transaction_id``,
``description``, ``amount`` (a decimal such as 1250.50) and ``currency``. The server and token come
from ``--server``/``--token`` or ``$FISCUS_SERVER``/``$FISCUS_TOKEN`` (an accountant's token).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from datetime import date
from decimal import Decimal, InvalidOperation

import fiscus


def contribution(row: dict[str, str], line: int, project: str, source: fiscus.ContributionSource) -> fiscus.Event:
    """The contribution of one credit line; ``ValueError`` names the line of a malformed field."""
    try:
        amount = Decimal(row["amount"])
        day = date.fromisoformat(row["date"])
    except (InvalidOperation, ValueError, KeyError) as e:
        raise ValueError(f"line {line}: {e!r} in {row}") from None
    kind = fiscus.ContributionReceived(fiscus.Money(amount, row["currency"]), row["description"], source)
    return fiscus.Event(
        event_id=f"bank-{row['transaction_id']}",
        project=project,
        effective_date=day,
        kind=kind,
        memo=row["description"],
        reference=row["transaction_id"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv_file")
    parser.add_argument("--project", required=True)
    parser.add_argument("--source", default="donation", choices=[s.value for s in fiscus.ContributionSource])
    parser.add_argument("--server", default=os.environ.get("FISCUS_SERVER", "127.0.0.1:7878"))
    parser.add_argument("--token", default=os.environ.get("FISCUS_TOKEN"))
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("give --token or set FISCUS_TOKEN")
    source = fiscus.ContributionSource(args.source)

    recorded = already = skipped = 0
    with open(args.csv_file, newline="") as f, fiscus.Client(args.server, args.token) as client:
        for line, row in enumerate(csv.DictReader(f), start=2):
            if Decimal(row["amount"]) <= 0:
                print(f"skipped  {row['transaction_id']}: {row['amount']} {row['currency']} is a debit")
                skipped += 1
                continue
            event = contribution(row, line, args.project, source)
            try:
                done = client.record(event)
            except fiscus.FiscusError as e:
                where = f" (field {e.field})" if e.field else ""
                print(f"refused  {row['transaction_id']}: {e.message}{where}", file=sys.stderr)
                return 1
            if done.duplicate:
                already += 1
                print(f"already  {event.event_id} at seq {done.positions[0].seq}")
            else:
                recorded += 1
                print(f"recorded {event.event_id} at seq {done.positions[0].seq} (commit {done.commit})")
    print(f"{recorded} recorded, {already} already recorded, {skipped} debits left out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
