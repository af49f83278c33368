"""A commit whose events pass one message's budget comes in parts (``continues``): ``subscribe``
gives it once, whole, and resumes after a dropped stream from the last commit it gave whole."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import grpc
import pytest
from conftest import OWN_PROJECT, Daemon, open_project, usd
from test_hostile import Fake, client, fake  # noqa: F401 (fake: the fixture)

import fiscus
from fiscus.record import commit_hash
from fiscus.v1 import event_pb2, ledger_pb2


def test_a_commit_in_several_messages_is_one_notice(daemon: Daemon) -> None:
    kind = fiscus.ContributionReceived(usd("1.00"), "Donor", fiscus.ContributionSource.DONATION)
    # 1,000 events of 4,000-byte memos: more than the 3 MiB of events one message holds.
    big = [fiscus.Event(f"big-{i}", OWN_PROJECT, date(2026, 5, 1), kind, memo="\U0001f600" * 1000) for i in range(1000)]
    with daemon.admin() as admin:
        open_project(admin, OWN_PROJECT)
        committed = admin.record(big)
        admin.record(fiscus.Event("after", OWN_PROJECT, date(2026, 5, 2), kind))
    with daemon.client(daemon.tokens.auditor) as auditor:
        notices = []
        for notice in auditor.subscribe(after_commit=0):
            notices.append(notice)
            if notice.commit == committed.commit + 1:
                break
    assert [n.commit for n in notices] == [1, 2, 3], "each commit once"
    assert [e.event.event_id for e in notices[1].events] == [f"big-{i}" for i in range(1000)]

    async def follow() -> list[int]:
        async with fiscus.AsyncClient(daemon.address, daemon.tokens.project) as own:
            sizes = []
            async for notice in own.subscribe(after_commit=1, project=OWN_PROJECT):
                sizes.append(len(notice.events))
                if notice.commit == 3:
                    return sizes
        return sizes

    assert asyncio.run(asyncio.wait_for(follow(), 60)) == [1000, 1]


def recorded(seq: int, commit: int, project: str = "p") -> event_pb2.RecordedEvent:
    closed = event_pb2.Event(event_id=f"e{seq}", project=project, effective_date="2026-01-01", project_closed=event_pb2.ProjectClosed())
    h = bytes([seq % 256]) * 31 + project.encode()[:1]
    return event_pb2.RecordedEvent(project=project, seq=seq, commit=commit, actor="a", recorded_at_us=commit, hash=h, event=closed)


def parts(commit: int, prev: bytes, seqs: list[list[int]], project: str = "p") -> list[ledger_pb2.SubscribeResponse]:
    """Commit ``commit`` (after ``prev``) of ``project``'s seqs, in one message per list of seqs,
    with a valid hash."""
    events = [recorded(s, commit, project) for part in seqs for s in part]
    h = commit_hash(prev, commit, [e.hash for e in events])
    return [
        ledger_pb2.SubscribeResponse(
            commit=commit,
            commit_hash=h,
            prev_commit_hash=prev,
            recorded_at_us=commit,
            events=[recorded(s, commit, project) for s in part],
            continues=i < len(seqs) - 1,
        )
        for i, part in enumerate(seqs)
    ]


def test_a_stream_dropped_between_the_parts_of_a_commit_resumes_before_it(fake: tuple[Fake, str]) -> None:
    servicer, address = fake
    one = parts(1, b"\x00" * 32, [[1]])
    two = parts(2, one[0].commit_hash, [[2, 3], [4]])
    three = parts(3, two[0].commit_hash, [[5]])

    def stream(req: Any, ctx: grpc.ServicerContext) -> Iterator[ledger_pb2.SubscribeResponse]:
        if len(servicer.calls["Subscribe"]) == 1:
            yield one[0]
            yield two[0]  # the first part of commit 2, and the stream drops
            ctx.abort(grpc.StatusCode.UNAVAILABLE, "dropped between the parts of a commit")
        yield from [m for m in one + two + three if m.commit > req.after_commit]

    servicer.on["Subscribe"] = stream
    with client(address) as c:
        notices = []
        for notice in c.subscribe(resume_for=10):
            notices.append(notice)
            if notice.commit == 3:
                break
    assert [r.after_commit for r in servicer.calls["Subscribe"]] == [0, 1], "resumed after the last whole commit"
    assert [(n.commit, [e.seq for e in n.events]) for n in notices] == [(1, [1]), (2, [2, 3, 4]), (3, [5])]


def test_a_commit_given_twice_or_a_part_of_another_is_refused(fake: tuple[Fake, str]) -> None:
    servicer, address = fake
    one = parts(1, b"\x00" * 32, [[1]])
    two = parts(2, one[0].commit_hash, [[2], [3]])
    changed = parts(2, one[0].commit_hash, [[2]])[0]
    changed.events[0].hash = b"\x99" * 32
    cases = [
        (one + one, "commit 1 came after commit 1"),
        ([one[0], two[0], one[0]], "a part of commit 2 is followed by commit 1"),
        ([one[0], two[0], ledger_pb2.SubscribeResponse(commit=3)], "followed by commit 3"),
        ([one[0], two[1]], "events\\[0\\] of commit 2 is seq 3 after seq 1 of 'p'"),
        ([one[0], changed], "do not recompute its commit hash"),
    ]
    with client(address) as c:
        for messages, problem in cases:
            servicer.on["Subscribe"] = lambda req, ctx: iter(messages)
            with pytest.raises(fiscus.FiscusError, match=problem):
                for _ in c.subscribe(resume_for=1):
                    pass


ZERO = b"\x00" * 32


def delivered(c: fiscus.Client, **kw: Any) -> tuple[list[int], fiscus.FiscusError | None]:
    """The commits ``subscribe`` gives from the fake's stream, and the error it raises;
    ``resume_for=0`` so that the end of the stream ends the subscription too."""
    got: list[int] = []
    try:
        for notice in c.subscribe(resume_for=0, **kw):
            got.append(notice.commit)
    except fiscus.FiscusError as e:
        return got, e
    return got, None  # pragma: no cover (subscribe never ends but by an error)


def test_without_a_filter_a_skipped_or_unchained_commit_is_refused(fake: tuple[Fake, str]) -> None:
    servicer, address = fake
    one = parts(1, ZERO, [[1]])[0]
    h1 = one.commit_hash
    other = b"\x11" * 32
    two = parts(2, h1, [[2]])[0]
    q_one = parts(2, h1, [[1]], project="q")[0]  # commit 2 opens another chain, q
    empty = [
        ledger_pb2.SubscribeResponse(commit=1, commit_hash=commit_hash(ZERO, 1, []), prev_commit_hash=ZERO, recorded_at_us=1),
        ledger_pb2.SubscribeResponse(commit=3, commit_hash=commit_hash(other, 3, []), prev_commit_hash=other, recorded_at_us=2),
    ]
    wrong_commit = parts(2, h1, [[2]])[0]
    wrong_commit.events[0].commit = 7
    wrong_time = parts(2, h1, [[2]])[0]
    wrong_time.events[0].recorded_at_us = 9
    wrong_event = parts(2, h1, [[2]])[0]
    wrong_event.events[0].event.project = "q"
    short = parts(2, h1, [[2]])[0]
    short.prev_commit_hash = h1[:31]
    cases: list[tuple[list[ledger_pb2.SubscribeResponse], int, str, str]] = [
        # A commit without events, the tester's stream: commit 1, then 3 chained to something else.
        (empty, 0, "commit 1 has no events: a commit holds 1 to 1000 records", "events"),
        # Commit 2 skipped: 3 follows 1 (its prev hash is not commit 1's, nor may it be).
        ([one, parts(3, other, [[2]])[0]], 1, "commit 3 came after commit 1: commit 2 is missing", "commit"),
        ([one, parts(3, h1, [[2]])[0]], 1, "commit 3 came after commit 1: commit 2 is missing", "commit"),
        # Commit 2 whose own hash holds but whose prev is not commit 1's hash.
        ([one, parts(2, other, [[2]])[0]], 1, f"commit 2's prev_commit_hash is {other.hex()}, but commit 1's hash is {h1.hex()}", "prev_commit_hash"),
        ([parts(1, other, [[1]])[0]], 0, "commit 1's prev_commit_hash is 1111.*, but the genesis", "prev_commit_hash"),
        ([one, short], 1, "commit 2's prev_commit_hash is 31 bytes, not 32", "prev_commit_hash"),
        # A chain's seqs skip or start past 1: a commit of it is missing.
        ([one, parts(2, h1, [[3]])[0]], 1, "events\\[0\\] of commit 2 is seq 3 after seq 1 of 'p'", "events[0].seq"),
        ([parts(1, ZERO, [[2]])[0]], 0, "events\\[0\\] of commit 1 is seq 2 as the first record of 'p'", "events[0].seq"),
        ([one, q_one, parts(3, q_one.commit_hash, [[3]], project="q")[0]], 2, "seq 3 after seq 1 of 'q'", "events[0].seq"),
        # An event that is not of its commit.
        ([one, wrong_commit], 1, "events\\[0\\] of commit 2 says it was stored by commit 7", "events[0].commit"),
        ([one, wrong_time], 1, "events\\[0\\] of commit 2 was recorded at 9 µs, the commit at 2 µs", "events[0].recorded_at_us"),
        ([one, wrong_event], 1, "in the chain of 'p' but its event names 'q'", "events[0].event.project"),
    ]
    with client(address) as c:
        for messages, given, problem, field in cases:
            servicer.on["Subscribe"] = lambda req, ctx: iter(messages)
            got, error = delivered(c)
            assert error is not None and not isinstance(error, fiscus.FiscusUnavailable), (problem, got, error)
            assert re.search(problem, str(error)), (problem, str(error))
            assert error.field == f"SubscribeResponse.{field}", (problem, error.field)
            assert got == list(range(1, given + 1)), (problem, got)
        # A chain that holds is given, one commit per stream here, each resumed stream chained to
        # the last commit given before it; and one that does not is refused after a resumption too.
        servicer.on["Subscribe"] = lambda req, ctx: iter([m for m in [one, two] if m.commit > req.after_commit][:1])
        got, error = delivered(c)
        assert got == [1, 2] and isinstance(error, fiscus.FiscusUnavailable), (got, error)
        unchained = parts(2, other, [[2]])[0]
        servicer.on["Subscribe"] = lambda req, ctx: iter([m for m in [one, unchained] if m.commit > req.after_commit][:1])
        got, error = delivered(c)
        assert got == [1] and error is not None and error.field == "SubscribeResponse.prev_commit_hash", (got, error)

    async def follow() -> tuple[list[int], fiscus.FiscusError | None]:
        servicer.on["Subscribe"] = lambda req, ctx: iter(empty)
        got: list[int] = []
        async with fiscus.AsyncClient(address, "token", retries=0, timeout=10) as ac:
            try:
                async for notice in ac.subscribe(resume_for=0):
                    got.append(notice.commit)
            except fiscus.FiscusError as e:
                return got, e
        return got, None

    got, error = asyncio.run(asyncio.wait_for(follow(), 30))
    assert got == [] and error is not None and "commit 1 has no events" in str(error)


def test_with_a_filter_what_the_contract_allows_is_checked(fake: tuple[Fake, str]) -> None:
    servicer, address = fake
    one = parts(1, ZERO, [[1]])[0]
    h1 = one.commit_hash
    other = b"\x11" * 32
    # Commits of other projects are not sent: numbers jump, the hash cannot be recomputed.
    three = parts(3, other, [[2]])[0]
    three.commit_hash = b"\x33" * 32
    four = parts(4, three.commit_hash, [[3]])[0]
    four.commit_hash = b"\x44" * 32
    empty = ledger_pb2.SubscribeResponse(commit=2, commit_hash=other, prev_commit_hash=h1, recorded_at_us=2)
    foreign = parts(2, h1, [[1]], project="q")[0]
    cases: list[tuple[list[ledger_pb2.SubscribeResponse], list[int], str, str]] = [
        ([one, empty], [1], "commit 2 has no events: .*one without any of 'p' is not sent", "events"),
        ([one, foreign], [1], "events\\[0\\] of commit 2 is of project 'q', the subscription of 'p'", "events[0].project"),
        ([one, parts(2, other, [[2]])[0]], [1], "commit 2's prev_commit_hash is 1111.*, but commit 1's hash", "prev_commit_hash"),
        ([one, three, parts(4, other, [[3]])[0]], [1, 3], "commit 4's prev_commit_hash is 1111.*, but commit 3's hash is 3333", "prev_commit_hash"),
        ([one, parts(3, other, [[3]])[0]], [1], "events\\[0\\] of commit 3 is seq 3 after seq 1 of 'p'", "events[0].seq"),
        ([parts(2, other, [[2]])[0]], [], "seq 2 as the first record of 'p'", "events[0].seq"),
        ([one, three, three], [1, 3], "commit 3 came after commit 3", "commit"),
    ]
    with client(address) as c:
        for messages, given, problem, field in cases:
            servicer.on["Subscribe"] = lambda req, ctx: iter(messages)
            got, error = delivered(c, project="p")
            assert error is not None and not isinstance(error, fiscus.FiscusUnavailable), (problem, got, error)
            assert re.search(problem, str(error)), (problem, str(error))
            assert error.field == f"SubscribeResponse.{field}", (problem, error.field)
            assert got == given, (problem, got)
        # Gaps in commit numbers are other projects' commits: given, chained where consecutive.
        servicer.on["Subscribe"] = lambda req, ctx: iter([m for m in [one, three, four] if m.commit > req.after_commit])
        got, error = delivered(c, project="p")
        assert got == [1, 3, 4] and isinstance(error, fiscus.FiscusUnavailable)
        # After a cursor other than 0, the first commit's seq and prev hash are not known.
        servicer.on["Subscribe"] = lambda req, ctx: iter([three, four][req.after_commit - 2 :])
        got, error = delivered(c, project="p", after_commit=2)
        assert got == [3, 4] and isinstance(error, fiscus.FiscusUnavailable)
