"""Walking the paged answers of ``fiscus.v1``, shared by both clients.

Each walker knows one RPC's paging fields (ledger.proto documents them): it makes the next request,
checks the page it is given against the cursor it sent and the pages before it, and keeps what the
caller gets. A client loops ``request()`` / ``take(answer)`` until ``request()`` is ``None``. So a
paged answer is always read whole or raises :class:`~fiscus.FiscusError`: a cursor that does not
advance, more than :data:`PAGES_MAX` pages, a page that is not the continuation of the one before
(another snapshot more than :data:`RESTARTS_MAX` times, items out of order, a gap) or a whole that
does not add up is an error, never a silently shorter answer nor an endless loop.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from fiscus._wire import from_pb
from fiscus.errors import FiscusError, VerificationFailed
from fiscus.model import (
    CommitNotice,
    CurrencyStatement,
    Event,
    PendingExpense,
    Position,
    ProjectSummary,
    RawRecord,
    RecordedEvent,
    Statement,
    TrialBalance,
    TrialBalanceLine,
)
from fiscus.record import commit_hash
from fiscus.v1 import audit_pb2, event_pb2, ledger_pb2

PAGES_MAX = 100_000
"""Most pages one paged call reads before it gives up with :class:`~fiscus.FiscusError`."""
RESTARTS_MAX = 5
"""Most times a paged read of a sponsor-wide report starts again because a later page answered
from another commit (the ledger moved on while it was read) before it gives up."""


def _paging_error(rpc: str, problem: str) -> FiscusError:
    return FiscusError(f"{rpc}: the server's pages do not add up: {problem}", field=None)


class _Walker:
    rpc = ""

    def __init__(self) -> None:
        self.pages = 0
        self.done = False

    def _count(self) -> None:
        self.pages += 1
        if self.pages > PAGES_MAX:
            raise self.fail(f"more than {PAGES_MAX} pages")

    def fail(self, problem: str) -> FiscusError:
        return _paging_error(self.rpc, problem)


# ----- GetStatement: next_page_token ---------------------------------------------------------------


class StatementWalker(_Walker):
    """``GetStatement`` pages (``page_token`` / ``next_page_token``): the lines of every page
    concatenated per currency, every page of the first page's head seq, and each currency's lines
    adding up from its opening to its closing balance."""

    rpc = "GetStatement"

    def __init__(self, project: str, from_date: date, to_date: date, currency: str | None) -> None:
        super().__init__()
        self.project, self.from_date, self.to_date, self.currency = project, from_date, to_date, currency
        self.token = ""
        self.seen: set[str] = set()
        self.first: Statement | None = None
        self.lines: dict[str, list[Any]] = {}

    def request(self) -> ledger_pb2.GetStatementRequest | None:
        if self.done:
            return None
        req = ledger_pb2.GetStatementRequest(
            project=self.project,
            from_date=self.from_date.isoformat(),
            to_date=self.to_date.isoformat(),
            page_token=self.token,
        )
        if self.currency is not None:
            req.currency = self.currency
        return req

    def take(self, answer: ledger_pb2.GetStatementResponse) -> None:
        self._count()
        page = from_pb(answer, Statement)
        asked = (self.project, self.from_date, self.to_date)
        if (page.project, page.from_date, page.to_date) != asked:
            raise self.fail(
                f"a page is of project {page.project!r} from {page.from_date} to {page.to_date}, "
                f"not the {asked[0]!r} from {asked[1]} to {asked[2]} asked for"
            )
        currencies = [s.currency for s in page.statements]
        if currencies != sorted(set(currencies)):
            raise self.fail(f"the currencies {currencies} are not each once, in code order")
        if self.currency is not None and currencies not in ([], [self.currency]):
            raise self.fail(f"the statement of {self.currency} was asked for, the page holds {currencies}")
        if self.first is None:
            self.first = page
            self.lines = {s.currency: [] for s in page.statements}
        else:
            if page.head_seq != self.first.head_seq:
                raise self.fail(f"page {self.pages} is of head seq {page.head_seq}, the first of {self.first.head_seq}")
            if currencies != [s.currency for s in self.first.statements]:
                raise self.fail(f"page {self.pages} holds the currencies {currencies}, the first others")
            for s, f in zip(page.statements, self.first.statements):
                if dataclasses.replace(s, lines=[]) != dataclasses.replace(f, lines=[]):
                    raise self.fail(f"page {self.pages} gives {s.currency} other balances or totals than the first")
        for s in page.statements:
            self.lines[s.currency].extend(s.lines)
        token = answer.next_page_token
        if not token:
            self.done = True
        elif token == self.token or token in self.seen:
            raise self.fail(f"the page token {token[:40]!r} was given before: it does not advance")
        else:
            self.seen.add(token)
            self.token = token

    def result(self) -> Statement:
        assert self.first is not None and self.done
        statements = [self._whole(s) for s in self.first.statements]
        return dataclasses.replace(self.first, statements=statements)

    def _whole(self, s: CurrencyStatement) -> CurrencyStatement:
        lines = self.lines[s.currency]
        running = s.opening_balance
        last: tuple[date, int] | None = None
        for i, line in enumerate(lines):
            where = f"{s.currency} line {i} (seq {line.seq})"
            if not self.from_date <= line.date <= self.to_date:
                raise self.fail(f"{where} is dated {line.date}, outside the statement's range")
            if last is not None and (line.date, line.seq) <= last:
                raise self.fail(f"{where} is not after the line before it in (date, seq) order")
            last = (line.date, line.seq)
            running += line.amount
            if line.running_balance != running:
                raise self.fail(f"{where}: running balance {line.running_balance}, the lines add up to {running}")
        if running != s.closing_balance:
            raise self.fail(
                f"{s.currency}: opening {s.opening_balance} and the {len(lines)} lines add up to {running}, "
                f"the closing balance is {s.closing_balance} (lines are missing)"
            )
        return dataclasses.replace(s, lines=lines)


# ----- GetTrialBalance: next_after_account / next_after_currency -----------------------------------


class TrialBalanceWalker(_Walker):
    """``GetTrialBalance`` pages: lines in (account, currency) order from one commit (read again
    from the first page when a later one answers from another commit), summing to zero per
    currency."""

    rpc = "GetTrialBalance"

    def __init__(self, as_of: date | None) -> None:
        super().__init__()
        self.as_of = as_of
        self.restarts = 0
        self._start()

    def _start(self) -> None:
        self.cursor = ("", "")
        self.commit: int | None = None
        self.lines: list[TrialBalanceLine] = []
        self.closed_through: date | None = None

    def request(self) -> ledger_pb2.GetTrialBalanceRequest | None:
        if self.done:
            return None
        req = ledger_pb2.GetTrialBalanceRequest(after_account=self.cursor[0], after_currency=self.cursor[1])
        if self.as_of is not None:
            req.as_of = self.as_of.isoformat()
        return req

    def take(self, answer: ledger_pb2.GetTrialBalanceResponse) -> None:
        self._count()
        page = from_pb(answer, TrialBalance)
        if page.as_of != self.as_of:
            raise self.fail(f"the answer is as of {page.as_of}, asked as of {self.as_of}")
        if self.commit is not None and page.commit != self.commit:
            self.restarts += 1
            if self.restarts > RESTARTS_MAX:
                raise self.fail(f"its pages came from another commit {self.restarts} times in a row")
            self._start()
            return
        self.commit = page.commit
        self.closed_through = page.closed_through
        last = self.cursor
        for line in page.lines:
            key = (line.account, line.currency)
            if key <= last:
                raise self.fail(f"line {key} is not after {last} in (account, currency) order")
            last = key
        self.lines.extend(page.lines)
        after = (answer.next_after_account, answer.next_after_currency)
        if after == ("", ""):
            self.done = True
            return
        if not page.lines or after != last:
            raise self.fail(f"the next cursor {after} is not the last line of the page {last}: it does not advance")
        self.cursor = after

    def result(self) -> TrialBalance:
        assert self.commit is not None and self.done
        sums: dict[str, Decimal] = {}
        for line in self.lines:
            sums[line.currency] = sums.get(line.currency, Decimal(0)) + line.amount
        for currency, total in sorted(sums.items()):
            if total != 0:
                raise self.fail(f"the {currency} lines sum to {total}, not zero (lines are missing)")
        return TrialBalance(self.commit, self.lines, self.closed_through, self.as_of)


# ----- ListPendingExpenses: after / next_after ------------------------------------------------------


class PendingWalker(_Walker):
    """``ListPendingExpenses`` pages: requests in (project, seq) order from one commit."""

    rpc = "ListPendingExpenses"

    def __init__(self, project: str | None) -> None:
        super().__init__()
        self.project = project
        self.restarts = 0
        self._start()

    def _start(self) -> None:
        self.cursor: Position | None = None
        self.commit: int | None = None
        self.expenses: list[PendingExpense] = []

    def request(self) -> ledger_pb2.ListPendingExpensesRequest | None:
        if self.done:
            return None
        req = ledger_pb2.ListPendingExpensesRequest(project=self.project or "")
        if self.cursor is not None:
            req.after.CopyFrom(event_pb2.Position(project=self.cursor.project, seq=self.cursor.seq))
        return req

    def take(self, answer: ledger_pb2.ListPendingExpensesResponse) -> None:
        self._count()
        if self.commit is not None and answer.commit != self.commit:
            self.restarts += 1
            if self.restarts > RESTARTS_MAX:
                raise self.fail(f"its pages came from another commit {self.restarts} times in a row")
            self._start()
            return
        self.commit = answer.commit
        last = (self.cursor.project, self.cursor.seq) if self.cursor is not None else ("", 0)
        for i, raw in enumerate(answer.expenses):
            expense = from_pb(raw, PendingExpense, f"ListPendingExpensesResponse.expenses[{i}]")
            key = (expense.position.project, expense.position.seq)
            if self.project and key[0] != self.project:
                raise self.fail(f"a request of project {key[0]!r} is listed for project {self.project!r}")
            if key <= last:
                raise self.fail(f"request {key} is not after {last} in (project, seq) order")
            last = key
            self.expenses.append(expense)
        if not answer.HasField("next_after"):
            self.done = True
            return
        after = (answer.next_after.project, answer.next_after.seq)
        if not answer.expenses or after != last:
            raise self.fail(f"the next cursor {after} is not the last request of the page {last}: it does not advance")
        self.cursor = Position(*after)

    def result(self) -> list[PendingExpense]:
        assert self.done
        return self.expenses


# ----- ListEvents: after_seq / next_after_seq / head_seq ---------------------------------------------


class EventsWalker(_Walker):
    """``ListEvents`` pages: events seq ``after_seq + 1``, ``+ 2`` … with no gap, up to the head
    seq of the last page read."""

    rpc = "ListEvents"

    def __init__(self, project: str, after_seq: int, page_size: int) -> None:
        super().__init__()
        self.project, self.cursor, self.page_size = project, after_seq, page_size

    def request(self) -> ledger_pb2.ListEventsRequest | None:
        if self.done:
            return None
        return ledger_pb2.ListEventsRequest(project=self.project, after_seq=self.cursor, page_size=self.page_size)

    def take(self, answer: ledger_pb2.ListEventsResponse) -> list[RecordedEvent]:
        self._count()
        events = [
            from_pb(e, RecordedEvent, f"ListEventsResponse.events[{i}]") for i, e in enumerate(answer.events)
        ]
        due = self.cursor + 1
        for e in events:
            if e.seq != due or e.project != self.project:
                raise self.fail(f"event {e.project!r} seq {e.seq} is where {self.project!r} seq {due} was due")
            due += 1
        last = due - 1
        if answer.next_after_seq != last:
            raise self.fail(f"next_after_seq is {answer.next_after_seq}, the page ends at seq {last}")
        if answer.next_after_seq >= answer.head_seq:
            self.done = True
        elif not events:
            raise self.fail(
                f"an empty page after seq {self.cursor} while the head is seq {answer.head_seq}: it does not advance"
            )
        self.cursor = last
        return events


# ----- ListProjects: after_project / next_after_project ----------------------------------------------


class ProjectsWalker(_Walker):
    """``ListProjects`` pages: projects in id order, each after the cursor."""

    rpc = "ListProjects"

    def __init__(self, include_closed: bool) -> None:
        super().__init__()
        self.include_closed = include_closed
        self.cursor = ""
        self.projects: list[ProjectSummary] = []

    def request(self) -> ledger_pb2.ListProjectsRequest | None:
        if self.done:
            return None
        return ledger_pb2.ListProjectsRequest(after_project=self.cursor, include_closed=self.include_closed)

    def take(self, answer: ledger_pb2.ListProjectsResponse) -> None:
        self._count()
        last = self.cursor
        for i, raw in enumerate(answer.projects):
            p = from_pb(raw, ProjectSummary, f"ListProjectsResponse.projects[{i}]")
            if p.project <= last:
                raise self.fail(f"project {p.project!r} is not after {last!r} in id order")
            last = p.project
            self.projects.append(p)
        after = answer.next_after_project
        if not after:
            self.done = True
        elif after < last or after <= self.cursor:
            raise self.fail(f"the next cursor {after!r} is not after the page's last project {last!r}: it does not advance")
        else:
            self.cursor = after

    def result(self) -> list[ProjectSummary]:
        assert self.done
        return self.projects


# ----- ExportChain: a stream that ends at head_seq -----------------------------------------------------


class ChainWalker:
    """``ExportChain`` messages: records ``from_seq``, ``from_seq + 1`` … with no gap, every
    message stating the same head seq, and the stream ending with the record of that seq. A chain
    served otherwise raises :class:`~fiscus.VerificationFailed` naming the project and the seq."""

    def __init__(self, project: str, from_seq: int) -> None:
        self.project = project
        self.due = max(from_seq, 1)
        self.head: int | None = None

    def take(self, answer: audit_pb2.ExportChainResponse) -> list[RawRecord]:
        if self.head is None:
            self.head = answer.head_seq
        elif answer.head_seq != self.head:
            raise VerificationFailed(
                self.project, self.due, f"an ExportChain message states head seq {answer.head_seq}, the first {self.head}"
            )
        out: list[RawRecord] = []
        for r in answer.records:
            if r.seq != self.due:
                raise VerificationFailed(
                    self.project, self.due, f"the server sent seq {r.seq} where seq {self.due} was due (a record is missing or moved)"
                )
            if r.seq > self.head:
                raise VerificationFailed(self.project, r.seq, f"the server sent seq {r.seq}, past the head seq {self.head} it states")
            self.due += 1
            out.append(RawRecord(r.seq, r.bytes, r.hash))
        return out

    def finish(self) -> None:
        """The stream ended: it must have reached its head seq."""
        if self.head is not None and self.due <= self.head:
            raise VerificationFailed(
                self.project, self.due, f"the export ended after seq {self.due - 1}, before the head seq {self.head} it states"
            )


# ----- Subscribe: a commit in parts (continues) --------------------------------------------------------


COMMIT_PARTS_MAX = 1_000
"""Most messages one commit of a subscription may come in (a commit holds at most 1,000 events)."""
COMMIT_EVENTS_MAX = 1_000
"""Most records one commit holds (docs/FORMAT.md, the commit entry)."""
HASH_BYTES = 32
GENESIS_COMMIT_HASH = bytes(HASH_BYTES)
"""The ``prev_commit_hash`` of commit 1."""


class CommitJoiner:
    """``Subscribe`` messages joined into whole commits: the parts of a commit (``continues``) are
    one :class:`~fiscus.CommitNotice`, given once its last part has come; ``cursor`` (where to
    resume) moves only then. What the contract lets a subscriber check is checked before a commit
    is given, so a commit is never given twice, out of order, short of a part, or silently skipped:

    - every commit: its number is above the cursor; its hashes are 32 bytes; it has 1 to 1,000
      events, each of this commit (``commit``, ``recorded_at_us``), with a 32-byte ``hash`` and an
      ``event`` of its own ``project``; each project's seqs run on from the last one given (from
      seq 1 when the subscription started at commit 0); a commit that follows the last one given
      (number + 1) names that commit's hash as its ``prev_commit_hash`` (32 zero bytes before
      commit 1);
    - without a project filter, where every commit is sent: each commit is the cursor + 1, and its
      events recompute its ``commit_hash``;
    - with one: every event is of that project (commits without any are not sent, so numbers may
      jump, and the other projects' events a hash needs are absent: a commit's hash is not
      recomputed, and ``prev_commit_hash`` is checked only across consecutive numbers).

    The first commit after a cursor other than 0 cannot be chained: the hash of the commit at the
    cursor, and the seqs reached then, are not known; from it on they are, across resumptions."""

    def __init__(self, after_commit: int, project: str | None) -> None:
        self.cursor = after_commit
        self.project = project
        self.parts: list[CommitNotice] = []
        self.cursor_hash: bytes | None = GENESIS_COMMIT_HASH if after_commit == 0 else None
        """The hash of commit ``cursor`` when known."""
        self.seqs: dict[str, int] = {}
        """The last seq given of each project."""
        self.from_start = after_commit == 0

    def fail(self, problem: str, field: str | None = None) -> FiscusError:
        return FiscusError(f"Subscribe: {problem}", field=None if field is None else f"SubscribeResponse.{field}")

    def _first_part(self, part: CommitNotice) -> None:
        """The checks of a commit that its first part allows."""
        if part.commit <= self.cursor:
            raise self.fail(
                f"commit {part.commit} came after commit {self.cursor}: a commit given twice or out of order", "commit"
            )
        if self.project is None and part.commit != self.cursor + 1:
            raise self.fail(
                f"commit {part.commit} came after commit {self.cursor}: commit {self.cursor + 1} is missing "
                "(without a project filter every commit is sent)",
                "commit",
            )
        for name, value in (("commit_hash", part.commit_hash), ("prev_commit_hash", part.prev_commit_hash)):
            if len(value) != HASH_BYTES:
                raise self.fail(f"commit {part.commit}'s {name} is {len(value)} bytes, not {HASH_BYTES}", name)
        if self.cursor_hash is not None and part.commit == self.cursor + 1 and part.prev_commit_hash != self.cursor_hash:
            before = f"commit {self.cursor}'s hash" if self.cursor > 0 else "the genesis (32 zero bytes)"
            raise self.fail(
                f"commit {part.commit}'s prev_commit_hash is {part.prev_commit_hash.hex()}, but {before} is "
                f"{self.cursor_hash.hex()}: the commit chain is broken",
                "prev_commit_hash",
            )

    def _whole(self, whole: CommitNotice) -> dict[str, int]:
        """The checks of a whole commit; the seqs each project reaches with it."""
        n = whole.commit
        if not whole.events:
            raise self.fail(
                f"commit {n} has no events: a commit holds 1 to {COMMIT_EVENTS_MAX} records"
                + (f" (and one without any of {self.project!r} is not sent)" if self.project is not None else ""),
                "events",
            )
        if len(whole.events) > COMMIT_EVENTS_MAX:
            raise self.fail(f"commit {n} has {len(whole.events)} events, more than a commit holds ({COMMIT_EVENTS_MAX})", "events")
        seqs: dict[str, int] = {}
        for i, e in enumerate(whole.events):
            where = f"events[{i}]"
            if e.commit != n:
                raise self.fail(f"{where} of commit {n} says it was stored by commit {e.commit}", f"{where}.commit")
            if e.recorded_at_us != whole.recorded_at_us:
                raise self.fail(
                    f"{where} of commit {n} was recorded at {e.recorded_at_us} µs, the commit at {whole.recorded_at_us} µs",
                    f"{where}.recorded_at_us",
                )
            if len(e.hash) != HASH_BYTES:
                raise self.fail(f"{where} of commit {n} has a hash of {len(e.hash)} bytes, not {HASH_BYTES}", f"{where}.hash")
            if self.project is not None and e.project != self.project:
                raise self.fail(
                    f"{where} of commit {n} is of project {e.project!r}, the subscription of {self.project!r}", f"{where}.project"
                )
            if e.event.project != e.project:
                raise self.fail(
                    f"{where} of commit {n} is in the chain of {e.project!r} but its event names {e.event.project!r}",
                    f"{where}.event.project",
                )
            last = seqs.get(e.project, self.seqs.get(e.project))
            if last is None and self.from_start:
                last = 0
            if (last is not None and e.seq != last + 1) or e.seq < 1:
                after = f"after seq {last} of {e.project!r}" if last else f"as the first record of {e.project!r}"
                raise self.fail(
                    f"{where} of commit {n} is seq {e.seq} {after}: a project's seqs run 1, 2, 3 … without a gap "
                    "(a commit of it is missing, or given twice)",
                    f"{where}.seq",
                )
            seqs[e.project] = e.seq
        if self.project is None:
            recomputed = commit_hash(whole.prev_commit_hash, n, [e.hash for e in whole.events])
            if recomputed != whole.commit_hash:
                raise self.fail(
                    f"the events of commit {n} do not recompute its commit hash {whole.commit_hash.hex()} (they give "
                    f"{recomputed.hex()}: an event is missing or changed)",
                    "commit_hash",
                )
        return seqs

    def take(self, msg: ledger_pb2.SubscribeResponse) -> CommitNotice | None:
        """The whole commit when ``msg`` is its last part, else ``None``."""
        part = from_pb(msg, CommitNotice, f"SubscribeResponse(commit {msg.commit})")
        if self.parts:
            first = self.parts[0]
            if dataclasses.replace(part, events=[]) != dataclasses.replace(first, events=[]):
                raise self.fail(
                    f"a part of commit {first.commit} is followed by commit {part.commit} or other hashes or "
                    "time, before the commit's last part",
                    "continues",
                )
        else:
            self._first_part(part)
        self.parts.append(part)
        if msg.continues:
            if len(self.parts) >= COMMIT_PARTS_MAX:
                raise self.fail(f"commit {part.commit} in more than {COMMIT_PARTS_MAX} parts", "continues")
            return None
        whole = dataclasses.replace(self.parts[0], events=[e for p in self.parts for e in p.events])
        self.parts = []
        self.seqs.update(self._whole(whole))
        self.cursor = whole.commit
        self.cursor_hash = whole.commit_hash
        return whole

    def broken(self) -> None:
        """The stream broke: the parts of a commit not yet whole are dropped (it is sent again whole
        after the cursor)."""
        self.parts = []
