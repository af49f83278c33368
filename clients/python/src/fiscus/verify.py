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

Without a pin this cannot prove that the head is the one every other reader sees: a server that
rewrote a chain *and* its head and balances consistently passes steps 1–4. With ``pin`` (the
daemon's checkpoint verifier key) the head is the one a checkpoint signed by that key proves, kept
consistent with the last checkpoint accepted (``state``): see :func:`verify_project`.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import grpc

from fiscus.checkpoint import (
    NOTE_BYTES_MAX,
    Checkpoint,
    CheckpointError,
    HeadProof,
    Verifier,
    open_checkpoint,
    verify_consistency,
)
from fiscus.client import AsyncClient, Client
from fiscus.errors import CheckpointRefused, CheckpointsUnavailable, FiscusError, VerificationFailed
from fiscus.model import Balances, CurrencyBalance, Heads, ProjectHead, RawRecord, RestrictedBalance
from fiscus.postings import ProjectBooks
from fiscus.record import RecordError, StoredRecord, decode_record, genesis_hash, is_completed, record_hash
from fiscus.v1 import audit_pb2

SPONSOR = "sponsor"
"""The sponsor-wide chain: it holds only ``PeriodClosed`` and has no balances."""
BALANCE_ATTEMPTS = 3
"""With a pin, how many times the head proof and the balances are read until the balances are of
the proven head (a commit between the two reads moves the head on); then the difference is a
verification failure."""


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
    checkpoint: Checkpoint | None = None
    """With a pin: the checkpoint, signed by the pinned key, under which the head was proven."""
    balances_seq: int = 0
    """The seq the ``balances`` are at (every event up to it): always ``head_seq``; the server's own
    balances, checked at the seq they state, may be of an earlier seq when unpinned."""


def _hex(h: bytes) -> str:
    return h[:8].hex()


def verify_records(
    project: str, raw: list[RawRecord], heads: Heads, balances: Balances | None
) -> tuple[list[StoredRecord], int, bytes, list[CurrencyBalance]]:
    """Steps 1–4 of the module's docstring on records already fetched; returns the decoded records,
    the verified head seq and hash, and the recomputed balances at that head (the server's
    balances are checked at the seq they state, which may be earlier)."""

    def fail(seq: int, problem: str) -> VerificationFailed:
        return VerificationFailed(project, seq, problem)

    stored: list[StoredRecord] = []
    prev = genesis_hash(project)
    books = ProjectBooks(project)
    at_balance: list[CurrencyBalance] | None = [] if balances is not None and balances.head_seq == 0 else None
    head = heads.of(project)
    at_head: list[CurrencyBalance] = []
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
        if head is not None and head.seq == due:
            at_head = books.balances()

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
        local = at_head
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


def _of_project(project: str, balances: Balances | None) -> Balances | None:
    """The server's balances, which must be ``project``'s."""
    if balances is not None and balances.project != project:
        raise VerificationFailed(project, 0, f"the server's balances are of project {balances.project!r}")
    return balances


def _at_head(project: str, head: ProjectHead, balances: Balances | None) -> bool:
    return balances is None or balances.head_seq == head.seq


def _not_at_head(project: str, head: ProjectHead, balances: Balances | None) -> VerificationFailed:
    seq = balances.head_seq if balances is not None else 0
    return VerificationFailed(
        project,
        head.seq,
        f"the server's balances are as of seq {seq}, but the head the checkpoint proves is seq {head.seq} "
        f"(asked {BALANCE_ATTEMPTS} times): balances of another head are not verified",
    )


def _no_checkpoints(err: FiscusError, pin: str) -> FiscusError:
    """What a failed ``GetHeadProof`` means for a pinned verification: a server without the
    transparency log (``UNIMPLEMENTED``) cannot be checked against a pin; anything else is the
    call's own error."""
    if err.status == grpc.StatusCode.UNIMPLEMENTED:
        return CheckpointsUnavailable(
            f"a pin ({pin[:24]}…) was given, but the server serves no signed checkpoint to check it "
            "against (Audit.GetHeadProof is not implemented there); verify without a pin, which "
            "checks the chain, its head and balances but not that every reader sees the same head",
            err.status,
        )
    return err


def _refused(project: str, problem: str) -> CheckpointRefused:
    return CheckpointRefused(project, 0, problem)


def read_state(state: Path, pin: Verifier, project: str = "") -> Checkpoint | None:
    """The checkpoint kept in the state file ``state`` (``None`` when the file does not exist yet);
    it must open with the pinned key. Raises :class:`~fiscus.CheckpointRefused` when it does not,
    and when the file is empty (or only white space): a file that exists was made to keep a
    checkpoint, and one emptied (truncated, or a write lost in a crash) must not silently turn the
    check against an older or forked log off. Removing it is the way to start again."""
    try:
        kind = os.lstat(state).st_mode
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(kind):
        # the file is replaced by a rename once the check passes: a link, device or pipe would be
        what = "a symbolic link" if stat.S_ISLNK(kind) else "a folder" if stat.S_ISDIR(kind) else "a device or a pipe"
        raise _refused(project, f"state file {state}: is {what}, not a regular file: give the path of the file itself")
    try:
        with state.open("rb") as f:
            data = f.read(NOTE_BYTES_MAX + 1)
    except FileNotFoundError:
        return None
    if len(data) > NOTE_BYTES_MAX:
        raise _refused(project, f"state file {state}: over {NOTE_BYTES_MAX} bytes")
    if not data.strip():
        raise _refused(
            project,
            f"state file {state}: empty, it keeps no checkpoint (was it truncated, or its write lost?); "
            "it is not taken as a first use, which would accept any checkpoint of the pinned key: "
            "remove the file to start again from the server's next checkpoint",
        )
    try:
        return open_checkpoint(data.decode(), pin)
    except (UnicodeDecodeError, CheckpointError) as e:
        raise _refused(project, f"state file {state}: its checkpoint does not open with the pinned key: {e}") from None


def write_state(state: Path, note: str) -> None:
    """Keeps ``note`` (a checkpoint accepted) in ``state``: a new file (mode 0600) made beside it
    under a name no one else can have chosen (``tempfile.mkstemp``: created exclusively, so a link
    or file planted at any name is never written through), flushed and synced, then renamed over
    ``state`` (:func:`read_state` refused a link or anything but a regular file there first), and
    the folder synced. A crash
    leaves the old checkpoint or the new one, never an empty or partial file."""
    folder = state.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{state.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(note.encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, state)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    try:
        dir_fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # a folder that cannot be opened (not on POSIX) is not synced; the file is
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _head_proof(r: audit_pb2.GetHeadProofResponse) -> HeadProof:
    return HeadProof(r.project, r.seq, bytes(r.hash), r.map_index, list(r.map_proof), bytes(r.leaf), list(r.log_proof))


def _opened(project: str, pin: Verifier, previous: Checkpoint | None, note: str) -> Checkpoint:
    """Step 5 and the first half of step 6 of :func:`verify_project`: the server's checkpoint
    opens with the pin and is not older than the kept one."""
    try:
        checkpoint = open_checkpoint(note, pin)
    except CheckpointError as e:
        raise _refused(project, f"the server's checkpoint is refused: {e}") from None
    if previous is not None and checkpoint.size < previous.size:
        raise _refused(
            project,
            f"the server's checkpoint of size {checkpoint.size} is older than the one kept (size "
            f"{previous.size}): a log never goes back",
        )
    return checkpoint


def _extends(
    project: str, previous: Checkpoint, checkpoint: Checkpoint, answer: audit_pb2.GetConsistencyProofResponse | None
) -> None:
    """Step 6: ``checkpoint`` extends ``previous`` (``answer`` is the consistency proof between
    them, asked for when the new one is larger)."""
    proof: list[bytes] = []
    if answer is not None:
        if (answer.old_size, answer.new_size) != (previous.size, checkpoint.size):
            raise _refused(
                project, f"the server sent a consistency proof for sizes {answer.old_size}..{answer.new_size}"
            )
        proof = list(answer.proof)
    try:
        verify_consistency(previous.size, checkpoint.size, previous.root, checkpoint.root, proof)
    except CheckpointError as e:
        raise _refused(
            project, f"checkpoint {checkpoint.size} is not consistent with checkpoint {previous.size} kept before: {e}"
        ) from None


def _proven_head(project: str, answer: audit_pb2.GetHeadProofResponse, checkpoint: Checkpoint) -> ProjectHead:
    """Step 7: the head the checkpoint proves the project's latest."""
    try:
        seq, head_hash = _head_proof(answer).verify(project, checkpoint)
    except CheckpointError as e:
        raise VerificationFailed(project, answer.seq, f"the head proof is refused: {e}") from None
    return ProjectHead(project, seq, head_hash)


def _consistency_request(previous: Checkpoint | None, checkpoint: Checkpoint) -> audit_pb2.GetConsistencyProofRequest | None:
    if previous is None or checkpoint.size <= previous.size:
        return None
    return audit_pb2.GetConsistencyProofRequest(old_size=previous.size, new_size=checkpoint.size)


def verify_project(
    client: Client, project: str, *, pin: str | None = None, state: str | os.PathLike[str] | None = None
) -> VerifiedProject:
    """Verifies ``project``'s chain, head and balances as the module's docstring says.

    With ``pin``, the daemon's checkpoint verifier key (``fiscusd key show``: C2SP signed-note
    ``name+keyid+base64``), the head is the one the log proves instead of the server's word:

    5. the server's checkpoint (``Audit.GetHeadProof``) is signed by the pinned key;
    6. when ``state`` names a file holding a checkpoint accepted before, the new one is not older,
       not another root for the same size, and extends it (``Audit.GetConsistencyProof``, RFC 9162);
    7. the project's head is proven the latest under it (the checkpoint's last log leaf and the
       chain's leaf in that leaf's project-heads map, ``docs/FORMAT.md`` section 8);

    8. the server's balances are of that head (its ``GetBalance`` answers ``head_seq`` equal to
       the proven seq; read again, at most :data:`BALANCE_ATTEMPTS` times, when a commit moved the
       head between the two reads), else :class:`~fiscus.VerificationFailed` naming both seqs;

    then steps 1–4 run against that head, and only then is the checkpoint written to ``state``.
    ``VerifiedProject.balances`` are the balances at ``head_seq`` (``balances_seq``), recomputed
    from the verified records.
    ``VerifiedProject.checkpoint`` is the checkpoint verified against.

    Raises :class:`~fiscus.VerificationFailed` (project, seq, problem) when anything differs, its
    subclass :class:`~fiscus.CheckpointRefused` when the checkpoint is not the pinned key's or does
    not extend the kept one, :class:`~fiscus.CheckpointsUnavailable` when the server has no
    transparency log, ``ValueError`` (:class:`fiscus.checkpoint.CheckpointError`) for a malformed
    pin, and the client's exceptions when a call fails.
    """
    if pin is None:
        heads = client.head(project)
        balances = _of_project(project, client.balance(project)) if project != SPONSOR else None
        raw = list(client.export_chain(project))
        stored, seq, head_hash, local = verify_records(project, raw, heads, balances)
        return VerifiedProject(project, stored, seq, head_hash, local, False, balances_seq=seq)
    verifier = Verifier.parse(pin)
    kept = Path(state) if state is not None else None
    previous = read_state(kept, verifier, project) if kept is not None else None
    # The proof, then the balances, which must be of the proven head; then the export, which reads
    # at or after them.
    for _ in range(BALANCE_ATTEMPTS):
        try:
            answer = client._call(client._audit.GetHeadProof, audit_pb2.GetHeadProofRequest(project=project))
        except FiscusError as e:
            raise _no_checkpoints(e, pin) from None
        checkpoint = _opened(project, verifier, previous, answer.checkpoint)
        if previous is not None:
            request = _consistency_request(previous, checkpoint)
            proof = client._call(client._audit.GetConsistencyProof, request) if request is not None else None
            _extends(project, previous, checkpoint, proof)
        head = _proven_head(project, answer, checkpoint)
        balances = _of_project(project, client.balance(project)) if project != SPONSOR else None
        if _at_head(project, head, balances):
            break
    else:
        raise _not_at_head(project, head, balances)
    raw = list(client.export_chain(project))
    heads = Heads(0, b"", [head])
    stored, seq, head_hash, local = verify_records(project, raw, heads, balances)
    if kept is not None:
        write_state(kept, checkpoint.note)
    return VerifiedProject(project, stored, seq, head_hash, local, True, checkpoint, balances_seq=seq)


async def verify_project_async(
    client: AsyncClient, project: str, *, pin: str | None = None, state: str | os.PathLike[str] | None = None
) -> VerifiedProject:
    """:func:`verify_project` with an :class:`~fiscus.AsyncClient`."""
    if pin is None:
        heads = await client.head(project)
        balances = _of_project(project, await client.balance(project)) if project != SPONSOR else None
        raw = [r async for r in client.export_chain(project)]
        stored, seq, head_hash, local = verify_records(project, raw, heads, balances)
        return VerifiedProject(project, stored, seq, head_hash, local, False, balances_seq=seq)
    verifier = Verifier.parse(pin)
    kept = Path(state) if state is not None else None
    previous = read_state(kept, verifier, project) if kept is not None else None
    for _ in range(BALANCE_ATTEMPTS):
        try:
            answer = await client._call(client._audit.GetHeadProof, audit_pb2.GetHeadProofRequest(project=project))
        except FiscusError as e:
            raise _no_checkpoints(e, pin) from None
        checkpoint = _opened(project, verifier, previous, answer.checkpoint)
        if previous is not None:
            request = _consistency_request(previous, checkpoint)
            proof = await client._call(client._audit.GetConsistencyProof, request) if request is not None else None
            _extends(project, previous, checkpoint, proof)
        head = _proven_head(project, answer, checkpoint)
        balances = _of_project(project, await client.balance(project)) if project != SPONSOR else None
        if _at_head(project, head, balances):
            break
    else:
        raise _not_at_head(project, head, balances)
    raw = [r async for r in client.export_chain(project)]
    stored, seq, head_hash, local = verify_records(project, raw, Heads(0, b"", [head]), balances)
    if kept is not None:
        write_state(kept, checkpoint.note)
    return VerifiedProject(project, stored, seq, head_hash, local, True, checkpoint, balances_seq=seq)
