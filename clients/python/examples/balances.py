"""Prints every project's balance and available balance, per currency.

    python balances.py

``available`` is the unrestricted balance less the holds of approved, unpaid expenses: what the
project can spend now. The server and token come from ``--server``/``--token`` or
``$FISCUS_SERVER``/``$FISCUS_TOKEN``; a project's own token sees its project only.
"""

from __future__ import annotations

import argparse
import os
import sys
from decimal import Decimal

import fiscus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default=os.environ.get("FISCUS_SERVER", "127.0.0.1:7878"))
    parser.add_argument("--token", default=os.environ.get("FISCUS_TOKEN"))
    parser.add_argument("--closed", action="store_true", help="list closed projects too")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("give --token or set FISCUS_TOKEN")

    with fiscus.Client(args.server, args.token) as client:
        print(f"{'project':<24} {'currency':<8} {'balance':>18} {'available':>18} {'restricted':>18}")
        for project in client.projects(include_closed=args.closed):
            balances = client.balance(project.project)
            if not balances.balances:
                print(f"{project.project:<24} {project.currency:<8} {'0':>18} {'0':>18} {'0':>18}")
            for b in balances.balances:
                restricted = sum((r.balance for r in b.restricted), Decimal(0))
                print(f"{project.project:<24} {b.currency:<8} {b.balance:>18} {b.available:>18} {restricted:>18}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
