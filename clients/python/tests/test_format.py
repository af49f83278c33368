"""The record reader against the test vectors of ``docs/FORMAT.md``: every record decodes strictly
and hashes to its stated hash, every genesis, commit hash and head is re-derived, and bytes that
break a rule of the page are refused."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

import fiscus
from fiscus.record import RecordError, commit_hash, decode_record, genesis_hash, record_hash

FORMAT_MD = Path(__file__).resolve().parents[3] / "docs" / "FORMAT.md"


def vectors() -> dict[str, str]:
    text = FORMAT_MD.read_text()
    blocks = re.findall(r"```fiscus-vectors\n(.*?)```", text, re.S)
    out: dict[str, str] = {}
    for block in blocks:
        for line in block.splitlines():
            if line and not line.startswith("#"):
                label, value = line.split(": ", 1)
                out[label] = value
    assert out, "FORMAT.md has its vector blocks"
    return out


def test_every_vector_of_format_md_is_rederived() -> None:
    v = vectors()
    projects = [k.split(" ", 1)[1] for k in v if k.startswith("genesis ")]
    assert projects == ["rustconf-2026", "pyweek-2026", "sponsor"]
    for p in projects:
        assert genesis_hash(p).hex() == v[f"genesis {p}"]
    heads: dict[str, tuple[int, bytes]] = {}
    for label, value in v.items():
        if not label.startswith("record "):
            continue
        _, project, seq_text = label.split(" ")
        stored = bytes.fromhex(value)
        rec = decode_record(stored)
        assert (rec.project, rec.seq) == (project, int(seq_text))
        assert rec.hash.hex() == record_hash(stored).hex() == v[f"record-hash {project} {seq_text}"]
        prev = heads[project][1] if project in heads else genesis_hash(project)
        assert rec.prev == prev, label
        heads[project] = (rec.seq, rec.hash)
    for p, (seq, h) in heads.items():
        assert v[f"head {p}"] == f"{seq} {h.hex()}"
        assert v[f"head-value {p}"] == seq.to_bytes(8, "big").hex() + h.hex()
    prev_commit = bytes(32)
    n = 1
    while f"commit {n}" in v:
        listed = [item.split("/") for item in v[f"commit-records {n}"].split(" ")]
        hashes = [bytes.fromhex(v[f"record-hash {p} {s}"]) for p, s in listed]
        prev_commit = commit_hash(prev_commit, n, hashes)
        assert prev_commit.hex() == v[f"commit {n}"]
        n += 1
    assert v["commit-head"] == f"{n - 1} {prev_commit.hex()}"


def test_the_vectors_decode_to_the_events_format_md_describes() -> None:
    v = vectors()
    contribution = decode_record(bytes.fromhex(v["record rustconf-2026 2"]))
    assert contribution.actor == "accountant:alice" and contribution.recorded_at_us == 1767690000123456
    assert contribution.event == fiscus.Event(
        "rc-sp-0001",
        "rustconf-2026",
        date(2026, 1, 6),
        fiscus.ContributionReceived(
            fiscus.Money(Decimal("12500.5"), "USD"),
            "Ferris Industries",
            fiscus.ContributionSource.SPONSORSHIP,
            fee_bps=700,
        ),
        "Gold sponsorship",
        "SO-2026-001",
    )
    reversal = decode_record(bytes.fromhex(v["record rustconf-2026 4"])).event.kind
    assert isinstance(reversal, fiscus.EventReversed) and isinstance(reversal.target, fiscus.ExpensePaid)
    restricted = decode_record(bytes.fromhex(v["record pyweek-2026 2"])).event.kind
    assert isinstance(restricted, fiscus.ContributionReceived) and restricted.fund == fiscus.Fund("sprints")
    closed = decode_record(bytes.fromhex(v["record sponsor 1"])).event.kind
    assert closed == fiscus.PeriodClosed(date(2025, 12, 31))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda b: b[:-1], "needed"),  # truncated
        (lambda b: b + b"\x00", "follow the event"),  # trailing byte
        (lambda b: b"\x02" + b[1:], "format version"),
        (lambda b: b.replace(b"\x02\x20", b"\xfb\x02\x00\x20", 1), "shortest form"),  # seq 2 as fb 02 00
        (lambda b: b.replace(b"USD", b"XYZ"), "unknown currency"),
        (lambda b: b.replace(bytes.fromhex("fc9ad0030001"), bytes.fromhex("fc0426260002")), "not normalised"),
        (lambda b: b.replace(bytes.fromhex("fc0a253501"), bytes.fromhex("fc24253501"), 1), "calendar date"),
        (lambda b: b[:-4] + b"\x02" + b[-3:], "option tag"),  # fee_bps tag 2
    ],
    ids=["truncated", "trailing", "version", "long-varint", "currency", "decimal", "date", "option"],
)
def test_bytes_that_break_a_rule_are_refused(change: object, problem: str) -> None:
    stored = bytes.fromhex(vectors()["record rustconf-2026 2"])
    broken = change(stored)  # type: ignore[operator]
    assert broken != stored
    with pytest.raises(RecordError, match=problem):
        decode_record(broken)
