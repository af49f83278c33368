"""``verify_project(..., pin=KEY, state=FILE)`` against a real ``fiscusd``: the head is proven under
a checkpoint signed by the pinned key and kept consistent with the last one accepted; and, served
by a fake server from the real daemon's answers, forgeries that must be caught: a checkpoint
signed by another key, a valid signature over another root, a head proof for a stale seq, an older
checkpoint replayed as newer, another root for a kept size, a consistency proof that does not hold.
"""

from __future__ import annotations

import asyncio
import os
import base64
import hashlib
import subprocess
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from conftest import OWN_PROJECT, Daemon, contribution, open_project, usd
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import fiscus
from fiscus.checkpoint import Verifier
from fiscus.v1 import audit_pb2, audit_pb2_grpc, ledger_pb2, ledger_pb2_grpc


def verifier_key(daemon: Daemon) -> str:
    """``fiscusd key show`` on the daemon's data folder."""
    out = subprocess.run([daemon.bin, "key", "show", "--data", daemon.data], capture_output=True, check=True)
    return out.stdout.decode().strip()


def signer(name: str, key: Ed25519PrivateKey) -> tuple[str, bytes]:
    """The verifier key string of ``key`` under ``name``, and its key id."""
    public = key.public_key().public_bytes_raw()
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]
    encoded = base64.b64encode(b"\x01" + public).decode()
    return f"{name}+{key_id.hex()}+{encoded}", key_id


def sign(body: str, name: str, key: Ed25519PrivateKey) -> str:
    """A signed note of ``body`` with one Ed25519 signature line by ``key`` named ``name``."""
    _, key_id = signer(name, key)
    sig = base64.b64encode(key_id + key.sign(body.encode())).decode()
    return f"{body}\n\u2014 {name} {sig}\n"


def daemon_key(daemon: Daemon) -> Ed25519PrivateKey:
    """The daemon's own log key (``log.key`` in its data folder, Go's ``PRIVATE+KEY+name+id+b64``):
    what a server that turned bad could sign with."""
    text = (daemon.data / "log.key").read_text().strip()
    seed = base64.b64decode(text.split("+", 4)[4])[1:]
    return Ed25519PrivateKey.from_private_bytes(seed)


def with_root(note: str, root: bytes) -> str:
    """The body of ``note`` with another root (its signature lines dropped)."""
    origin, size, _ = note.split("\n\n")[0].split("\n")
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def grow(daemon: Daemon, n: int, tag: str) -> None:
    with daemon.admin() as a:
        for i in range(n):
            a.record(contribution(f"{tag}-{i}", OWN_PROJECT, usd("10.00")))


def test_a_pinned_verification_proves_the_head_and_keeps_the_checkpoint(daemon: Daemon, tmp_path: Path) -> None:
    with daemon.admin() as a:
        open_project(a, OWN_PROJECT)
        open_project(a, "conf-b")
    grow(daemon, 3, "a")
    key = verifier_key(daemon)
    state = tmp_path / "checkpoint"
    with daemon.client(daemon.tokens.project) as own:
        first = fiscus.verify_project(own, OWN_PROJECT, pin=key, state=state)
        assert first.checkpoint_proven and first.checkpoint is not None
        assert first.head_seq == 4 and first.checkpoint.size >= 5
        assert state.read_text() == first.checkpoint.note
        grow(daemon, 2, "b")
        second = fiscus.verify_project(own, OWN_PROJECT, pin=key, state=state)
        assert second.head_seq == 6 and second.checkpoint is not None
        assert second.checkpoint.size > first.checkpoint.size, "checked consistent with the kept one"
        assert state.read_text() == second.checkpoint.note
        # The same checkpoint again is fine; a project token proves only its own head.
        assert fiscus.verify_project(own, OWN_PROJECT, pin=key, state=state).head_seq == 6
        with pytest.raises(fiscus.FiscusPermissionDenied):
            fiscus.verify_project(own, "conf-b", pin=key)
    with daemon.client(daemon.tokens.auditor) as auditor:
        assert fiscus.verify_project(auditor, "conf-b", pin=key).head_seq == 1


def test_the_async_client_verifies_under_a_pin_too(daemon: Daemon, tmp_path: Path) -> None:
    with daemon.admin() as a:
        open_project(a, OWN_PROJECT)
    grow(daemon, 2, "a")
    key = verifier_key(daemon)
    state = tmp_path / "checkpoint"

    async def run() -> tuple[fiscus.VerifiedProject, fiscus.VerifiedProject]:
        async with fiscus.AsyncClient(daemon.address, daemon.tokens.auditor) as client:
            first = await fiscus.verify_project_async(client, OWN_PROJECT, pin=key, state=state)
            grow(daemon, 1, "b")
            return first, await fiscus.verify_project_async(client, OWN_PROJECT, pin=key, state=state)

    first, second = asyncio.run(run())
    assert first.head_seq == 3 and second.head_seq == 4
    assert first.checkpoint is not None and second.checkpoint is not None
    assert second.checkpoint.size == first.checkpoint.size + 1
    assert state.read_text() == second.checkpoint.note


def planted(folder: Path) -> tuple[Path, Path]:
    """A state path in ``folder`` with links planted at the names a writer could guess (``state.tmp``
    and the like) to a victim file (mode 0644, another user's file in a shared folder)."""
    victim = folder / "victim"
    victim.write_text("the victim's own data\n")
    victim.chmod(0o644)
    state = folder / "state"
    for name in ("state.tmp", ".state.tmp", "state~", "state.new"):
        (folder / name).symlink_to(victim)
    return state, victim


def assert_kept_safely(folder: Path, state: Path, victim: Path, note: str) -> None:
    assert victim.read_text() == "the victim's own data\n", "nothing is written through a planted link"
    assert not state.is_symlink() and state.read_text() == note
    assert state.stat().st_mode & 0o777 == 0o600, oct(state.stat().st_mode)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [".state.tmp", "state", "state.new", "state.tmp", "state~", "victim"]
    ), "no temporary file is left behind"


def test_the_state_file_is_written_without_following_a_planted_link(daemon: Daemon, tmp_path: Path) -> None:
    with daemon.admin() as a:
        open_project(a, OWN_PROJECT)
    key = verifier_key(daemon)
    sync_dir, async_dir = tmp_path / "sync", tmp_path / "async"
    sync_dir.mkdir()
    async_dir.mkdir()
    state, victim = planted(sync_dir)
    with daemon.client(daemon.tokens.auditor) as auditor:
        first = fiscus.verify_project(auditor, OWN_PROJECT, pin=key, state=state)
        assert first.checkpoint is not None
        assert_kept_safely(sync_dir, state, victim, first.checkpoint.note)
        grow(daemon, 1, "a")
        second = fiscus.verify_project(auditor, OWN_PROJECT, pin=key, state=state)
        assert second.checkpoint is not None and second.head_seq == 2
        assert_kept_safely(sync_dir, state, victim, second.checkpoint.note)

    state, victim = planted(async_dir)

    async def run() -> fiscus.VerifiedProject:
        async with fiscus.AsyncClient(daemon.address, daemon.tokens.auditor) as client:
            return await fiscus.verify_project_async(client, OWN_PROJECT, pin=key, state=state)

    third = asyncio.run(run())
    assert third.checkpoint is not None
    assert_kept_safely(async_dir, state, victim, third.checkpoint.note)


def test_an_empty_state_file_is_refused_not_taken_for_a_first_use(daemon: Daemon, tmp_path: Path) -> None:
    with daemon.admin() as a:
        open_project(a, OWN_PROJECT)
    key = verifier_key(daemon)
    state = tmp_path / "state"
    for content in ("", "\n  \n"):
        state.write_text(content)
        with daemon.client(daemon.tokens.auditor) as auditor:
            with pytest.raises(fiscus.CheckpointRefused, match=r"state file .*: empty, it keeps no checkpoint") as e:
                fiscus.verify_project(auditor, OWN_PROJECT, pin=key, state=state)
        assert "remove the file" in str(e.value)

        async def run() -> None:
            async with fiscus.AsyncClient(daemon.address, daemon.tokens.auditor) as client:
                await fiscus.verify_project_async(client, OWN_PROJECT, pin=key, state=state)

        with pytest.raises(fiscus.CheckpointRefused, match="empty, it keeps no checkpoint"):
            asyncio.run(run())
        assert state.read_text() == content, "a refused state file is left as it was"
    state.unlink()
    with daemon.client(daemon.tokens.auditor) as auditor:
        assert fiscus.verify_project(auditor, OWN_PROJECT, pin=key, state=state).head_seq == 1
    assert state.read_text().startswith(key.split("+")[0] + "\n"), "once removed, it is a first use"


@dataclass
class Answers:
    """What the fake server answers: the real daemon's answers, changed by a test."""

    balance: ledger_pb2.GetBalanceResponse
    records: list[audit_pb2.RawRecord]
    head_proof: audit_pb2.GetHeadProofResponse
    consistency: dict[tuple[int, int], audit_pb2.GetConsistencyProofResponse] = field(default_factory=dict)


class FakeServer(audit_pb2_grpc.AuditServicer, ledger_pb2_grpc.LedgerServicer):
    def __init__(self, answers: Answers) -> None:
        self.answers = answers

    def GetBalance(self, request: Any, context: Any) -> ledger_pb2.GetBalanceResponse:
        return self.answers.balance

    def ExportChain(self, request: Any, context: Any) -> Iterator[audit_pb2.ExportChainResponse]:
        yield audit_pb2.ExportChainResponse(head_seq=len(self.answers.records), records=self.answers.records)

    def GetHeadProof(self, request: Any, context: Any) -> audit_pb2.GetHeadProofResponse:
        return self.answers.head_proof

    def GetConsistencyProof(self, request: Any, context: Any) -> audit_pb2.GetConsistencyProofResponse:
        return self.answers.consistency[(request.old_size, request.new_size)]


def real_answers(daemon: Daemon, old_size: int = 0) -> Answers:
    with grpc.insecure_channel(daemon.address) as channel:
        auth = (("authorization", f"Bearer {daemon.tokens.auditor}"),)
        audit = audit_pb2_grpc.AuditStub(channel)
        ledger = ledger_pb2_grpc.LedgerStub(channel)
        balance = ledger.GetBalance(ledger_pb2.GetBalanceRequest(project=OWN_PROJECT), metadata=auth)
        proof = audit.GetHeadProof(audit_pb2.GetHeadProofRequest(project=OWN_PROJECT), metadata=auth)
        records = [
            r
            for m in audit.ExportChain(audit_pb2.ExportChainRequest(project=OWN_PROJECT), metadata=auth)
            for r in m.records
        ]
        answers = Answers(balance, records, proof)
        if old_size:
            size = int(proof.checkpoint.split("\n")[1])
            request = audit_pb2.GetConsistencyProofRequest(old_size=old_size, new_size=size)
            answers.consistency[(old_size, size)] = audit.GetConsistencyProof(request, metadata=auth)
        return answers


def served(answers: Answers, fake: FakeServer | None = None) -> tuple[grpc.Server, int]:
    """Serves ``fake`` (by default a :class:`FakeServer` of ``answers``) on a loopback port."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    if fake is None:
        fake = FakeServer(answers)  # type: ignore[abstract]  # answers what verify_project asks
    audit_pb2_grpc.add_AuditServicer_to_server(fake, server)
    ledger_pb2_grpc.add_LedgerServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


@pytest.fixture
def history(daemon: Daemon) -> tuple[Answers, Answers]:
    """The real answers at an older and a newer checkpoint (two more commits between them)."""
    with daemon.admin() as a:
        open_project(a, OWN_PROJECT)
    grow(daemon, 2, "a")
    old = real_answers(daemon)
    grow(daemon, 2, "b")
    old_size = int(old.head_proof.checkpoint.split("\n")[1])
    return old, real_answers(daemon, old_size)


def verify_served(answers: Answers, pin: str, state: Path | None = None) -> fiscus.VerifiedProject:
    server, port = served(answers)
    try:
        with fiscus.Client(f"127.0.0.1:{port}", "any", retries=0) as client:
            return fiscus.verify_project(client, OWN_PROJECT, pin=pin, state=state)
    finally:
        server.stop(None)


def test_the_real_answers_pass_through_the_fake_server(daemon: Daemon, history: tuple[Answers, Answers], tmp_path: Path) -> None:
    old, new = history
    key = verifier_key(daemon)
    state = tmp_path / "state"
    assert verify_served(old, key, state).head_seq == 3
    assert verify_served(new, key, state).head_seq == 5


def test_a_checkpoint_signed_by_another_key_is_refused(daemon: Daemon, history: tuple[Answers, Answers]) -> None:
    _, new = history
    key = verifier_key(daemon)
    name = Verifier.parse(key).name
    other = Ed25519PrivateKey.generate()
    body = new.head_proof.checkpoint.split("\n\n")[0] + "\n"
    new.head_proof.checkpoint = sign(body, name, other)
    with pytest.raises(fiscus.CheckpointRefused, match="not signed by the pinned key"):
        verify_served(new, key)
    # Pinning that other key instead is the user's choice: it then verifies (same body, same proofs).
    other_key, _ = signer(name, other)
    assert verify_served(new, other_key).head_seq == 5


def test_a_valid_signature_over_another_root_is_refused(daemon: Daemon, history: tuple[Answers, Answers]) -> None:
    _, new = history
    key = verifier_key(daemon)
    real_sig = new.head_proof.checkpoint.split("\n\n")[1]
    new.head_proof.checkpoint = with_root(new.head_proof.checkpoint, b"\x07" * 32) + "\n" + real_sig
    with pytest.raises(fiscus.CheckpointRefused, match="does not verify"):
        verify_served(new, key)


def test_a_head_proof_for_a_stale_seq_is_refused(daemon: Daemon, history: tuple[Answers, Answers]) -> None:
    old, new = history
    key = verifier_key(daemon)
    # The old head (seq 3) with its map proof, under the new checkpoint and its last leaf.
    stale = new.head_proof
    stale.seq, stale.hash = old.head_proof.seq, old.head_proof.hash
    del stale.map_proof[:]
    stale.map_proof.extend(old.head_proof.map_proof)
    with pytest.raises(fiscus.VerificationFailed, match="the head proof is refused") as failed:
        verify_served(new, key)
    assert failed.value.seq == 3
    # The old leaf (not the checkpoint's last) under the new checkpoint.
    fresh = real_answers(daemon)
    fresh.head_proof.leaf = old.head_proof.leaf
    with pytest.raises(fiscus.VerificationFailed, match="not the checkpoint's last"):
        verify_served(fresh, key)


def test_an_older_checkpoint_replayed_as_newer_is_refused(
    daemon: Daemon, history: tuple[Answers, Answers], tmp_path: Path
) -> None:
    old, new = history
    key = verifier_key(daemon)
    state = tmp_path / "state"
    verify_served(new, key, state)
    kept = state.read_text()
    with pytest.raises(fiscus.CheckpointRefused, match="older than the one kept"):
        verify_served(old, key, state)
    assert state.read_text() == kept, "a refused checkpoint is not kept"


def test_a_fork_and_a_broken_consistency_proof_are_refused(
    daemon: Daemon, history: tuple[Answers, Answers], tmp_path: Path
) -> None:
    old, new = history
    key = verifier_key(daemon)
    name = Verifier.parse(key).name
    state = tmp_path / "state"
    # A server that turned bad signs, with its own key, another root at the size the client kept.
    verify_served(old, key, state)
    forked = sign(with_root(old.head_proof.checkpoint, b"\x09" * 32), name, daemon_key(daemon))
    fork = real_answers(daemon)
    fork.head_proof = audit_pb2.GetHeadProofResponse()
    fork.head_proof.CopyFrom(old.head_proof)
    fork.head_proof.checkpoint = forked
    with pytest.raises(fiscus.CheckpointRefused, match="forked"):
        verify_served(fork, key, state)
    # A newer checkpoint whose consistency proof from the kept one does not hold.
    (proof,) = new.consistency.values()
    proof.proof[0] = b"\x00" * 32
    with pytest.raises(fiscus.CheckpointRefused, match="not consistent"):
        verify_served(new, key, state)


def test_a_server_without_the_log_cannot_be_checked_against_a_pin() -> None:
    def empty(request: bytes, context: Any) -> bytes:
        return b""

    def unimplemented(request: bytes, context: grpc.ServicerContext) -> bytes:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "no")

    ledger = grpc.method_handlers_generic_handler(
        "fiscus.v1.Ledger", {"GetBalance": grpc.unary_unary_rpc_method_handler(empty)}
    )
    audit = grpc.method_handlers_generic_handler(
        "fiscus.v1.Audit", {"GetHeadProof": grpc.unary_unary_rpc_method_handler(unimplemented)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((ledger, audit))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    other, _ = signer("localhost/fiscus", Ed25519PrivateKey.generate())
    try:
        with fiscus.Client(f"127.0.0.1:{port}", "any", retries=0) as client:
            with pytest.raises(fiscus.CheckpointsUnavailable, match="no signed checkpoint"):
                fiscus.verify_project(client, OWN_PROJECT, pin=other)
            with pytest.raises(ValueError, match="not an Ed25519 key"):
                fiscus.verify_project(client, OWN_PROJECT, pin="fiscus+0a1b2c3d+AAAA")
    finally:
        server.stop(None)


def test_balances_of_another_head_than_the_proven_one_are_refused(daemon: Daemon, history: tuple[Answers, Answers]) -> None:
    _, new = history
    key = verifier_key(daemon)
    honest_answer = new.balance
    # Everything passed through but GetBalance, which answers an old head with no balances.
    new.balance = ledger_pb2.GetBalanceResponse(project=OWN_PROJECT, head_seq=1, commit=honest_answer.commit)
    with pytest.raises(fiscus.VerificationFailed) as failed:
        verify_served(new, key)
    assert failed.value.seq == 5
    assert "balances are as of seq 1, but the head the checkpoint proves is seq 5" in str(failed.value)
    new.balance = honest_answer
    honest = verify_served(new, key)
    assert honest.head_seq == 5 and honest.balances_seq == 5 and honest.balances
    # Balances of another project are not this one's.
    other = ledger_pb2.GetBalanceResponse()
    other.CopyFrom(honest_balance := real_answers(daemon).balance)
    other.project = "conf-b"
    new.balance = other
    with pytest.raises(fiscus.VerificationFailed, match="balances are of project 'conf-b'"):
        verify_served(new, key)
    assert honest_balance.head_seq == 5


def test_a_head_that_moved_between_the_proof_and_the_balances_is_read_again(
    daemon: Daemon, history: tuple[Answers, Answers]
) -> None:
    old, new = history
    key = verifier_key(daemon)

    class Moving(FakeServer):
        """The first GetBalance answers a head one commit older than the proof's."""

        calls = 0

        def GetBalance(self, request: Any, context: Any) -> ledger_pb2.GetBalanceResponse:
            Moving.calls += 1
            return old.balance if Moving.calls == 1 else self.answers.balance

    server, port = served(new, Moving(new))  # type: ignore[abstract]  # answers what verify_project asks
    try:
        with fiscus.Client(f"127.0.0.1:{port}", "any", retries=0) as client:
            verified = fiscus.verify_project(client, OWN_PROJECT, pin=key)
    finally:
        server.stop(None)
    assert Moving.calls == 2 and verified.head_seq == 5 and verified.balances_seq == 5


def test_a_state_path_that_is_not_a_regular_file_is_refused(daemon: Daemon, tmp_path: Path) -> None:
    """A link (or a folder, a pipe, a device) at the state path itself is refused before anything is
    read or written: the state is put in place by a rename, which would replace it."""
    with daemon.admin() as a:
        open_project(a, OWN_PROJECT)
    key = verifier_key(daemon)
    victim = tmp_path / "victim"
    victim.write_text("the victim's own data\n")
    link = tmp_path / "state"
    link.symlink_to(victim)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with daemon.client(daemon.tokens.auditor) as auditor:
        for path, what in ((link, "a symbolic link"), (fifo, "a device or a pipe"), (tmp_path, "a folder")):
            with pytest.raises(fiscus.CheckpointRefused) as refused:
                fiscus.verify_project(auditor, OWN_PROJECT, pin=key, state=path)
            assert f"is {what}, not a regular file" in str(refused.value)
    assert link.is_symlink() and victim.read_text() == "the victim's own data\n"
