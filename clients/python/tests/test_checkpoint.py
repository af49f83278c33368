"""The log checks of :mod:`fiscus.checkpoint` against ``docs/FORMAT.md`` section 8's vectors (the
signed checkpoint, the log leaves and roots, each chain's head proof), and RFC 6962 proofs made
here by the RFC's own recursive definitions (MTH, PATH, SUBPROOF) for every size up to 7."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from fiscus.checkpoint import (
    CheckpointError,
    HeadProof,
    LogLeaf,
    Verifier,
    leaf_hash,
    node_hash,
    open_checkpoint,
    verify_consistency,
    verify_inclusion,
)

FORMAT_MD = Path(__file__).resolve().parents[3] / "docs" / "FORMAT.md"


def log_vectors() -> tuple[dict[str, str], str]:
    text = FORMAT_MD.read_text()
    (block,) = re.findall(r"```fiscus-log-vectors\n(.*?)```", text, re.S)
    (note,) = re.findall(r"```fiscus-log-checkpoint\n(.*?)```", text, re.S)
    out: dict[str, str] = {}
    for line in block.splitlines():
        if line and not line.startswith("#"):
            label, value = line.split(": ", 1)
            out[label] = value
    return out, note


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1: the Merkle Tree Hash of leaf data."""
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 section 2.1.1: the audit path of leaf ``m``."""
    if len(leaves) == 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    """RFC 6962 section 2.1.2: SUBPROOF(m, D[n], b)."""
    n = len(leaves)
    if m == n:
        return [] if whole else [mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return subproof(m, leaves[:k], whole) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


def test_the_signed_checkpoint_and_head_proofs_of_format_md_verify() -> None:
    v, note = log_vectors()
    pin = Verifier.parse(v["verifier-key"])
    assert str(pin) == v["verifier-key"]
    cp = open_checkpoint(note, pin)
    assert (cp.origin, cp.size, cp.root.hex()) == ("sponsor.example/ledger", 7, v["log-root 7"])
    leaves = [bytes.fromhex(v[f"log-leaf {c}"]) for c in range(1, 8)]
    for n in range(1, 8):
        assert mth(leaves[:n]).hex() == v[f"log-root {n}"]
    last = LogLeaf.parse(leaves[6])
    assert last.commit == 7 and last.to_bytes() == leaves[6]
    for chain in ["rustconf-2026", "pyweek-2026", "sponsor"]:
        data = bytes.fromhex(v[f"map-leaf {chain}"])
        seq, head = int.from_bytes(data[-40:-32], "big"), data[-32:]
        proof = HeadProof(
            chain,
            seq,
            head,
            int(v[f"map-index {chain}"]),
            [bytes.fromhex(h) for h in v[f"map-proof {chain}"].split()],
            leaves[6],
            [bytes.fromhex(h) for h in v[f"log-proof {chain}"].split()],
        )
        assert proof.verify(chain, cp) == (seq, head)
        with pytest.raises(CheckpointError, match="not 'other'"):
            proof.verify("other", cp)
        older = HeadProof(chain, seq, head, proof.map_index, proof.map_proof, leaves[5], proof.log_proof)
        with pytest.raises(CheckpointError, match="not the checkpoint's last"):
            older.verify(chain, cp)
        stale = HeadProof(chain, seq - 1 if seq > 1 else seq + 1, head, proof.map_index, proof.map_proof,
                          leaves[6], proof.log_proof)
        with pytest.raises(CheckpointError, match="map proof"):
            stale.verify(chain, cp)


def test_every_inclusion_and_consistency_proof_up_to_seven_leaves() -> None:
    v, _ = log_vectors()
    leaves = [bytes.fromhex(v[f"log-leaf {c}"]) for c in range(1, 8)]
    for n in range(1, 8):
        root = mth(leaves[:n])
        for m in range(n):
            verify_inclusion("proof", leaf_hash(leaves[m]), m, n, path(m, leaves[:n]), root)
            with pytest.raises(CheckpointError):
                verify_inclusion("proof", leaf_hash(leaves[m]), (m + 1) % n, n, path(m, leaves[:n]), root) if n > 1 \
                    else verify_inclusion("proof", leaf_hash(leaves[m]), m, n, [root], root)
        for m in range(1, n + 1):
            proof = subproof(m, leaves[:n], True)
            verify_consistency(m, n, mth(leaves[:m]), root, proof)
            if m < n:
                with pytest.raises(CheckpointError):
                    verify_consistency(m, n, leaf_hash(b"another history"), root, proof)
                with pytest.raises(CheckpointError):
                    verify_consistency(n, m, root, mth(leaves[:m]), proof)


def test_forged_notes_and_keys_are_refused() -> None:
    v, note = log_vectors()
    pin = Verifier.parse(v["verifier-key"])
    name, key_id, key = v["verifier-key"].split("+", 2)
    with pytest.raises(CheckpointError, match="key id does not match"):
        Verifier.parse(f"{name}+00000000+{key}")
    with pytest.raises(CheckpointError, match="name\\+keyid\\+base64"):
        Verifier.parse("just-a-name")
    body, sig = note.split("\n\n")
    # Another root under the same signature.
    forged = body.replace(body.split("\n")[2], base64.b64encode(b"\x07" * 32).decode()) + "\n\n" + sig
    with pytest.raises(CheckpointError, match="does not verify"):
        open_checkpoint(forged, pin)
    # Signed by nobody the pin names: only a line of another key.
    other = note.replace("— sponsor.example/ledger ", "— witness.example ")
    with pytest.raises(CheckpointError, match="not signed by the pinned key"):
        open_checkpoint(other, pin)
    with pytest.raises(CheckpointError, match="no blank line"):
        open_checkpoint(body + "\n", pin)
