"""``verify_project``: check a project's raw chain locally, without trusting the server.

It reads the project's head (``Audit.GetHead``), its balances (``Ledger.GetBalance``) and its raw
records (``Audit.ExportChain``), then, following ``docs/FORMAT.md`` (hashes, links, seq, strict
decoding) and ``docs/POSTINGS.md`` (postings, balances) and nothing else:

1. every record's hash is recomputed from its bytes (the hash the server states must match);
2. records run seq 1, 2, 3 … with no gap, each decodes strictly, names the project, links to the
   previous record's hash (the genesis hash for seq 1), and has its completed fields;
3. the head the server states is the verified chain's record at that seq;
4. the balances recomputed from the verified events at the balances' head seq equal the server's.

The first failure raises :class:`~fiscus.VerificationFailed` naming the project and the seq.

What this cannot prove yet: that the head is the one every other reader sees. A server that
rewrote a chain *and* its head and balances consistently passes steps 1–4; signed checkpoints and
inclusion proofs close that gap, and ``pin`` is where they plug in (see :func:`verify_project`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import grpc

from fiscus.client import AsyncClient, Client
from fiscus.errors import CheckpointsUnavailable, FiscusError, FiscusUnavailable, VerificationFailed, from_rpc_error
from fiscus.model import Balances, CurrencyBalance, Heads, RawRecord, RestrictedBalance
from fiscus.postings import ProjectBooks
from fiscus.record import RecordError, StoredRecord, decode_record, genesis_hash, is_completed, record_hash

SPONSOR = "sponsor"
"""The sponsor-wide chain: it holds only ``PeriodClosed`` and has no balances."""
_CHECKPOINT_METHOD = "/fiscus.v1.Audit/GetCheckpoint"


@dataclass(frozen=True)
class VerifiedProject:
    """What a verification established: the verified head and the balances the verified events add
    up to (equal to the server's), and the decoded records."""

    project: str
    records: list[StoredRecord]
    head_seq: int
    head_hash: bytes
    balances: list[CurrencyBalance]
    checkpoint_proven: bool


def _hex(h: bytes) -> str:
    return h[:8].hex()


def verify_records(
    project: str, raw: list[RawRecord], heads: Heads, balances: Balances | None
) -> tuple[list[StoredRecord], int, bytes, list[CurrencyBalance]]:
    """Steps 1–4 of the module's docstring on records already fetched; returns the decoded records,
    the verified head seq and hash, and the recomputed balances at the balances' head seq."""

    def fail(seq: int, problem: str) -> VerificationFailed:
        return VerificationFailed(project, seq, problem)

    stored: list[StoredRecord] = []
    prev = genesis_hash(project)
    books = ProjectBooks(project)
    at_balance: list[CurrencyBalance] | None = [] if balances is not None and balances.head_seq == 0 else None
    for i, r in enumerate(raw):
        due = i + 1
        if r.seq != due:
            raise fail(due, f"the server sent seq {r.seq} where seq {due} was due (a record is missing or moved)")
        if record_hash(r.bytes) != r.hash:
            raise fail(due, "the hash the server states is not the hash of the record's bytes")
        try:
            rec = decode_record(r.bytes)
        except RecordError as e:
            raise fail(due, f"the record does not decode: {e}") from None
        if rec.project != project:
            raise fail(due, f"the record names project {rec.project!r}")
        if rec.seq != due:
            raise fail(due, f"the record's own seq is {rec.seq}")
        if rec.prev != prev:
            problem = f"prev {_hex(rec.prev)} is not the hash of the previous record {_hex(prev)}"
            if due > 1:
                problem += f": record {due - 1} or {due} is not as it was recorded"
            raise fail(due, problem)
        if not is_completed(rec.event.kind):
            raise fail(due, "a field the ledger completes is missing")
        books.apply(due, rec.event.kind)
        stored.append(rec)
        prev = rec.hash
        if balances is not None and balances.head_seq == due:
            at_balance = books.balances()

    head = heads.of(project)
    if head is None:
        raise fail(0, "the server states no head for the project")
    if head.seq > len(stored):
        raise fail(head.seq, f"the server's head is seq {head.seq}, but the chain it sent ends at {len(stored)}")
    verified_hash = stored[head.seq - 1].hash if head.seq > 0 else genesis_hash(project)
    if head.seq == 0 or verified_hash != head.hash:
        raise fail(head.seq, f"the server's head hash {_hex(head.hash)} is not the verified {_hex(verified_hash)}")

    local: list[CurrencyBalance] = []
    if balances is not None:
        if at_balance is None:
            raise fail(
                balances.head_seq,
                f"the server's balances are as of seq {balances.head_seq}, but its chain ends at {len(stored)}",
            )
        _compare(project, balances.head_seq, balances.balances, at_balance)
        local = at_balance
    return stored, head.seq, verified_hash, local


def _compare(project: str, seq: int, server: list[CurrencyBalance], local: list[CurrencyBalance]) -> None:
    """Every figure of every currency equal; a currency or fund missing on one side counts as zero."""
    zero = Decimal(0)
    ours = {b.currency: b for b in local}
    theirs = {b.currency: b for b in server}
    for currency in sorted(set(ours) | set(theirs)):
        a, b = ours.get(currency), theirs.get(currency)
        for name in ("balance", "available", "held", "pledged", "advances_outstanding", "fees_to_date"):
            x = getattr(a, name) if a else zero
            y = getattr(b, name) if b else zero
            if x != y:
                raise VerificationFailed(
                    project, seq, f"{currency} {name}: the server states {y}, the verified events add up to {x}"
                )
        funds_a = {r.purpose: r for r in (a.restricted if a else [])}
        funds_b = {r.purpose: r for r in (b.restricted if b else [])}
        empty = RestrictedBalance("", zero, zero)
        for purpose in sorted(set(funds_a) | set(funds_b)):
            ra, rb = funds_a.get(purpose, empty), funds_b.get(purpose, empty)
            if (ra.balance, ra.available) != (rb.balance, rb.available):
                raise VerificationFailed(
                    project,
                    seq,
                    f"{currency} restricted:{purpose}: the server states {rb.balance} (available {rb.available}), "
                    f"the verified events add up to {ra.balance} (available {ra.available})",
                )


_NOT_YET = (
    "the server serves signed checkpoints, but this version of the fiscus package cannot verify "
    "them yet; upgrade the package, or verify without a pin"
)


def _no_checkpoints(err: FiscusError, pin: str) -> Exception:
    """What a failed ``GetCheckpoint`` probe means for a pinned verification."""
    if err.status == grpc.StatusCode.UNIMPLEMENTED:
        return CheckpointsUnavailable(
            f"a pin ({pin[:24]}…) was given, but the server serves no signed checkpoint to check it "
            "against (Audit.GetCheckpoint is not implemented there); verify without a pin, which "
            "checks the chain, its head and balances but not that every reader sees the same head",
            err.status,
        )
    if isinstance(err, FiscusUnavailable):
        return err
    # The method exists (it refused this empty probe): the server has checkpoints.
    return NotImplementedError(_NOT_YET)


def _check_pin(client: Client, pin: str) -> bool:
    call = client._channel.unary_unary(
        _CHECKPOINT_METHOD, request_serializer=lambda b: b, response_deserializer=lambda b: b
    )
    try:
        call(b"", metadata=client._metadata, timeout=client.timeout)
    except grpc.RpcError as e:
        raise _no_checkpoints(from_rpc_error(e), pin) from None
    raise NotImplementedError(_NOT_YET)


async def _check_pin_async(client: AsyncClient, pin: str) -> bool:
    call = client._channel.unary_unary(
        _CHECKPOINT_METHOD, request_serializer=lambda b: b, response_deserializer=lambda b: b
    )
    try:
        await call(b"", metadata=client._metadata, timeout=client.timeout)
    except grpc.RpcError as e:
        raise _no_checkpoints(from_rpc_error(e), pin) from None
    raise NotImplementedError(_NOT_YET)


def verify_project(client: Client, project: str, *, pin: str | None = None) -> VerifiedProject:
    """Verifies ``project``'s chain, head and balances as the module's docstring says.

    ``pin`` is the daemon's checkpoint verifier key (a C2SP signed-note verifier key) once the
    server signs checkpoints; with a pin the head must also be proven inside a checkpoint signed
    by that key. Until the server serves checkpoints, giving a pin raises
    :class:`~fiscus.CheckpointsUnavailable` (a ``NotImplementedError``) instead of pretending.

    Raises :class:`~fiscus.VerificationFailed` (project, seq, problem) when anything differs, and
    the client's exceptions when a call fails.
    """
    proven = _check_pin(client, pin) if pin is not None else False
    heads = client.head(project)
    balances = client.balance(project) if project != SPONSOR else None
    raw = list(client.export_chain(project))
    stored, seq, head_hash, local = verify_records(project, raw, heads, balances)
    return VerifiedProject(project, stored, seq, head_hash, local, proven)


async def verify_project_async(client: AsyncClient, project: str, *, pin: str | None = None) -> VerifiedProject:
    """:func:`verify_project` with an :class:`~fiscus.AsyncClient`."""
    proven = await _check_pin_async(client, pin) if pin is not None else False
    heads = await client.head(project)
    balances = await client.balance(project) if project != SPONSOR else None
    raw = [r async for r in client.export_chain(project)]
    stored, seq, head_hash, local = verify_records(project, raw, heads, balances)
    return VerifiedProject(project, stored, seq, head_hash, local, proven)
