"""Follows new commits live and prints each event as it is recorded.

    python follow.py                 # from now on; Ctrl-C stops
    python follow.py --after 0       # every commit since the first, then live
    python follow.py --project rustconf-2026

When the connection drops or the daemon restarts, the subscription resumes after the last commit
it printed: none is printed twice and none is skipped. The server and token come from
``--server``/``--token`` or ``$FISCUS_SERVER``/``$FISCUS_TOKEN`` (accountant, auditor, admin, or a
project's token with ``--project`` naming its project).
"""

from __future__ import annotations

import argparse
import os
import sys

import fiscus


def describe(kind: fiscus.EventKind) -> str:
    """The kind's name and, when it has one, its amount."""
    amount = getattr(kind, "amount", None)
    if isinstance(amount, fiscus.Money):
        return f"{type(kind).__name__} {amount.amount} {amount.currency}"
    return type(kind).__name__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default=os.environ.get("FISCUS_SERVER", "127.0.0.1:7878"))
    parser.add_argument("--token", default=os.environ.get("FISCUS_TOKEN"))
    parser.add_argument("--project", help="only this project's events")
    parser.add_argument("--after", type=int, help="commit number to start after (default: the current head)")
    parser.add_argument("--count", type=int, help="stop after this many commits")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("give --token or set FISCUS_TOKEN")

    with fiscus.Client(args.server, args.token) as client:
        after = args.after if args.after is not None else client.head(args.project).commit
        print(f"following commits after {after}", flush=True)
        seen = 0
        try:
            for notice in client.subscribe(after_commit=after, project=args.project):
                for e in notice.events:
                    print(
                        f"commit {notice.commit} at {e.recorded_at:%Y-%m-%d %H:%M:%S}Z: {e.project}#{e.seq} "
                        f"{e.event.effective_date} {describe(e.event.kind)} ({e.event.event_id}, by {e.actor})",
                        flush=True,
                    )
                seen += 1
                if args.count is not None and seen >= args.count:
                    break
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
