"""The transparency log as ``docs/FORMAT.md`` section 8 writes it, checked without trusting the
server: C2SP ``signed-note`` verifier keys and signatures (Ed25519), C2SP ``tlog-checkpoint``
bodies, RFC 9162 inclusion and consistency proofs over RFC 6962 hashing (SHA-256, leaf prefix
0x00, node prefix 0x01), the 81-byte log leaf and the project-heads map leaf.

Every function here is pure: it takes bytes and text the server sent and raises
:class:`CheckpointError` (a ``ValueError``) saying what does not hold. :mod:`fiscus.verify` puts
them together for ``verify_project(..., pin=...)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

NOTE_BYTES_MAX = 64 * 1024
"""Most bytes of a signed note (a checkpoint with its cosignatures) read from a server or a file."""
PROOF_HASHES_MAX = 128
"""Most hashes in one proof: a tree of 2**64 leaves needs at most 64 (128 for a consistency proof)."""
LOG_LEAF_BYTES = 81
"""A log leaf: 0x01, commit (u64 BE), commit hash (32), map size (u64 BE), map root (32)."""
LOG_FORMAT = 1
"""The log format byte that leads a log leaf and a map leaf."""
_ED25519 = 0x01
"""The signed-note signature type of Ed25519."""
_DASH = "\u2014 "
"""How a signature line of a signed note begins: an em dash and a space."""


class CheckpointError(ValueError):
    """A verifier key, a signed note, a checkpoint or a proof does not hold; the message says why."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: ``SHA-256(0x00 ‖ data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: ``SHA-256(0x01 ‖ left ‖ right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _is_key_name(name: str) -> bool:
    """A signed-note key name: non-empty, no space or ``+``, no control character."""
    return bool(name) and all(c not in " +" and c.isprintable() for c in name)


@dataclass(frozen=True)
class Verifier:
    """A C2SP signed-note Ed25519 verifier key, ``name+keyid+base64(0x01 ‖ public key)`` (as
    ``fiscusd key show`` prints it); the key id is the first 4 bytes of
    ``SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)``."""

    name: str
    key_id: bytes
    public_key: bytes

    @staticmethod
    def parse(text: str) -> Verifier:
        """Parses a verifier key; raises :class:`CheckpointError` naming what is wrong."""
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise CheckpointError(f"a verifier key is name+keyid+base64, not {text[:40]!r}")
        name, key_id_hex, key_b64 = parts
        if not _is_key_name(name):
            raise CheckpointError(f"verifier key name {name!r}: non-empty, no space, no '+'")
        try:
            key_id = bytes.fromhex(key_id_hex)
            key = base64.b64decode(key_b64, validate=True)
        except (ValueError, binascii.Error):
            raise CheckpointError("verifier key: the key id is not hex or the key is not base64") from None
        if len(key_id) != 4 or len(key_id_hex) != 8:
            raise CheckpointError("verifier key: the key id is not 8 hex digits")
        if len(key) != 33 or key[0] != _ED25519:
            raise CheckpointError("verifier key: not an Ed25519 key (type 0x01 and 32 bytes)")
        if hashlib.sha256(name.encode() + b"\n" + key).digest()[:4] != key_id:
            raise CheckpointError("verifier key: its key id does not match its name and key")
        return Verifier(name, key_id, key[1:])

    def __str__(self) -> str:
        key = base64.b64encode(bytes([_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{key}"


@dataclass(frozen=True)
class Checkpoint:
    """A C2SP tlog-checkpoint whose signature by the pinned key was checked: its ``origin``, tree
    ``size`` (the last commit number), ``root`` (32 bytes) and the whole signed ``note`` text."""

    origin: str
    size: int
    root: bytes
    note: str


def open_checkpoint(note: str, pin: Verifier) -> Checkpoint:
    """Opens a signed checkpoint: a C2SP signed note (body, blank line, signature lines) with an
    Ed25519 signature by ``pin`` over the body, whose body is a tlog-checkpoint of the log named by
    the pin (origin line, decimal tree size, base64 root, no extension line). Signatures by other
    keys (witnesses' cosignatures) are ignored. Raises :class:`CheckpointError`."""
    if len(note.encode()) > NOTE_BYTES_MAX:
        raise CheckpointError(f"the signed note is over {NOTE_BYTES_MAX} bytes")
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise CheckpointError("not a signed note: no blank line between the body and its signatures")
    body, sigs = note[: split + 1], note[split + 2 :]
    signed = False
    for line in sigs[:-1].split("\n"):
        if not line.startswith(_DASH):
            raise CheckpointError(f"a signature line does not begin with an em dash: {line[:40]!r}")
        fields = line[len(_DASH) :].split(" ")
        if len(fields) != 2:
            raise CheckpointError(f"a signature line is '— name signature': {line[:40]!r}")
        name, sig_b64 = fields
        try:
            sig = base64.b64decode(sig_b64, validate=True)
        except (ValueError, binascii.Error):
            raise CheckpointError(f"the signature of {name!r} is not base64") from None
        if len(sig) < 5:
            raise CheckpointError(f"the signature of {name!r} is too short")
        if name != pin.name or sig[:4] != pin.key_id:
            continue  # another key's: a witness's cosignature, or a key not pinned
        if len(sig) != 4 + 64:
            raise CheckpointError("the pinned key's signature is not 64 bytes")
        try:
            Ed25519PublicKey.from_public_bytes(pin.public_key).verify(sig[4:], body.encode())
        except InvalidSignature:
            raise CheckpointError(f"the signature by the pinned key {pin.name} does not verify") from None
        signed = True
    if not signed:
        raise CheckpointError(f"the checkpoint is not signed by the pinned key {pin.name}+{pin.key_id.hex()}")
    lines = body.split("\n")
    if len(lines) != 4:
        raise CheckpointError("a checkpoint body is three lines: origin, tree size, root (no extension lines)")
    origin, size_text, root_b64 = lines[:3]
    if origin != pin.name:
        raise CheckpointError(f"the checkpoint's origin {origin!r} is not the pinned log {pin.name!r}")
    if not size_text.isascii() or not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise CheckpointError(f"the checkpoint's tree size {size_text[:24]!r} is not a decimal number")
    size = int(size_text)
    if size >= 1 << 64:
        raise CheckpointError("the checkpoint's tree size is over 2**64 - 1")
    try:
        root = base64.b64decode(root_b64, validate=True)
    except (ValueError, binascii.Error):
        raise CheckpointError("the checkpoint's root is not base64") from None
    if len(root) != 32:
        raise CheckpointError(f"the checkpoint's root is {len(root)} bytes, not 32")
    return Checkpoint(origin, size, root, note)


def _check_hashes(what: str, proof: Sequence[bytes]) -> None:
    if len(proof) > PROOF_HASHES_MAX:
        raise CheckpointError(f"the {what} has {len(proof)} hashes, over {PROOF_HASHES_MAX}")
    for i, h in enumerate(proof):
        if len(h) != 32:
            raise CheckpointError(f"{what}[{i}] is {len(h)} bytes, not 32")


def verify_inclusion(what: str, leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """RFC 9162 section 2.1.3.2: ``leaf`` (a leaf hash) is at ``index`` in the tree of ``size``
    leaves whose root is ``root``. Raises :class:`CheckpointError` naming ``what``."""
    _check_hashes(what, proof)
    if index >= size:
        raise CheckpointError(f"the {what} is for index {index}, outside a tree of {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise CheckpointError(f"the {what} is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0 or r != root:
        raise CheckpointError(f"the {what} does not lead to the root")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """RFC 9162 section 2.1.4.2: the tree of ``new_size`` leaves (root ``new_root``) extends the
    tree of ``old_size`` leaves (root ``old_root``). Raises :class:`CheckpointError`."""
    _check_hashes("consistency proof", proof)
    if old_size > new_size:
        raise CheckpointError(f"size {new_size} is older than size {old_size}")
    if old_size == new_size:
        if proof or old_root != new_root:
            raise CheckpointError(f"two different roots for size {old_size}: the log forked")
        return
    if old_size == 0:
        if proof:
            raise CheckpointError("a consistency proof from the empty tree has no hash")
        return
    if not proof:
        raise CheckpointError("the consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise CheckpointError("the consistency proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0 or fr != old_root or sr != new_root:
        raise CheckpointError(f"the consistency proof from size {old_size} to {new_size} does not hold")


@dataclass(frozen=True)
class LogLeaf:
    """A commit's log leaf (``docs/FORMAT.md`` section 8): the commit number, its commit hash, and
    the project-heads map's size and root after it."""

    commit: int
    commit_hash: bytes
    map_size: int
    map_root: bytes

    @staticmethod
    def parse(data: bytes) -> LogLeaf:
        """Parses the 81 bytes; raises :class:`CheckpointError`."""
        if len(data) != LOG_LEAF_BYTES:
            raise CheckpointError(f"a log leaf is {LOG_LEAF_BYTES} bytes, not {len(data)}")
        if data[0] != LOG_FORMAT:
            raise CheckpointError(f"unknown log leaf format {data[0]}")
        return LogLeaf(
            int.from_bytes(data[1:9], "big"), data[9:41], int.from_bytes(data[41:49], "big"), data[49:81]
        )

    def to_bytes(self) -> bytes:
        """The 81 bytes."""
        return (
            bytes([LOG_FORMAT])
            + self.commit.to_bytes(8, "big")
            + self.commit_hash
            + self.map_size.to_bytes(8, "big")
            + self.map_root
        )


def map_leaf_data(chain: str, seq: int, record_hash: bytes) -> bytes:
    """A chain's leaf in the project-heads map: ``0x01 ‖ u8 length ‖ chain id ‖ seq (u64 BE) ‖
    record hash (32)``."""
    name = chain.encode()
    if not 0 < len(name) < 256 or len(record_hash) != 32 or not 0 <= seq < 1 << 64:
        raise CheckpointError(f"no map leaf for chain {chain[:40]!r} at seq {seq}")
    return bytes([LOG_FORMAT, len(name)]) + name + seq.to_bytes(8, "big") + record_hash


@dataclass(frozen=True)
class HeadProof:
    """A chain's proof of its latest head, as ``Audit.GetHeadProof`` answers it."""

    chain: str
    seq: int
    hash: bytes
    map_index: int
    map_proof: list[bytes]
    leaf: bytes
    log_proof: list[bytes]

    def verify(self, chain: str, checkpoint: Checkpoint) -> tuple[int, bytes]:
        """Checks that this proves ``chain``'s latest head under ``checkpoint`` (opened with the
        pinned key): the log leaf is the checkpoint's last (commit = tree size, so the head is the
        latest, not an older one), it is in the checkpoint's tree, and the chain's map leaf
        ``(chain, seq, hash)`` is under that leaf's map root. Answers the proven ``(seq, hash)``."""
        if self.chain != chain:
            raise CheckpointError(f"the proof is for chain {self.chain!r}, not {chain!r}")
        leaf = LogLeaf.parse(self.leaf)
        if checkpoint.size == 0 or leaf.commit != checkpoint.size:
            raise CheckpointError(
                f"the proof's log leaf is commit {leaf.commit}, not the checkpoint's last ({checkpoint.size}): "
                "it does not prove the latest head"
            )
        verify_inclusion(
            "log inclusion proof", leaf_hash(self.leaf), checkpoint.size - 1, checkpoint.size, self.log_proof,
            checkpoint.root,
        )
        map_leaf = leaf_hash(map_leaf_data(chain, self.seq, self.hash))
        verify_inclusion("map proof", map_leaf, self.map_index, leaf.map_size, self.map_proof, leaf.map_root)
        return self.seq, self.hash
