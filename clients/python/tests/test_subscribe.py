"""A commit whose events pass one message's budget comes in parts (``continues``): ``subscribe``
gives it once, whole, and resumes after a dropped stream from the last commit it gave whole."""

from __future__ import annotations

import asyncio
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


def recorded(seq: int) -> event_pb2.RecordedEvent:
    closed = event_pb2.Event(event_id=f"e{seq}", project="p", effective_date="2026-01-01", project_closed=event_pb2.ProjectClosed())
    return event_pb2.RecordedEvent(project="p", seq=seq, commit=seq, actor="a", hash=bytes([seq]) * 32, event=closed)


def parts(commit: int, prev: bytes, seqs: list[list[int]]) -> list[ledger_pb2.SubscribeResponse]:
    """Commit ``commit`` (after ``prev``) in one message per list of seqs, with a valid hash."""
    events = [recorded(s) for part in seqs for s in part]
    h = commit_hash(prev, commit, [e.hash for e in events])
    return [
        ledger_pb2.SubscribeResponse(
            commit=commit,
            commit_hash=h,
            prev_commit_hash=prev,
            recorded_at_us=1,
            events=[recorded(s) for s in part],
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
    cases = [
        (one + one, "commit 1 came after commit 1"),
        ([two[0], one[0]], "a part of commit 2 is followed by commit 1"),
        ([two[0], ledger_pb2.SubscribeResponse(commit=3)], "followed by commit 3"),
        ([two[1]], "do not recompute its commit hash"),
    ]
    with client(address) as c:
        for messages, problem in cases:
            servicer.on["Subscribe"] = lambda req, ctx: iter(messages)
            with pytest.raises(fiscus.FiscusError, match=problem):
                for _ in c.subscribe(resume_for=1):
                    pass
