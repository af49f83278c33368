"""Generates the gRPC stubs in ``src/fiscus/v1/`` from the contract, ``proto/fiscus/v1/*.proto``.

They are generated, never committed: ``setup.py`` runs this whenever the package is built or
installed from the repository, and ``.ci/test.d/20-python.sh`` before every test run, so a change
of a ``.proto`` file reaches the Python package without anyone regenerating by hand.

Usage, from anywhere: ``python clients/python/generate_stubs.py [OUT_DIR]`` (default: ``src``).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO_ROOT = HERE.parent.parent / "proto"
PROTOS = sorted(p.relative_to(PROTO_ROOT).as_posix() for p in (PROTO_ROOT / "fiscus" / "v1").glob("*.proto"))


def generate(out: Path) -> list[Path]:
    """Writes the stubs under ``out/fiscus/v1`` and returns the files written, sorted."""
    from grpc_tools import protoc  # a test dependency, not a runtime one

    target = out / "fiscus" / "v1"
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*_pb2*"):
        old.unlink()
    # protoc-gen-mypy and protoc-gen-mypy_grpc (mypy-protobuf) sit beside this Python.
    env_path = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    os.environ["PATH"] = env_path
    if shutil.which("protoc-gen-mypy") is None:
        raise SystemExit("protoc-gen-mypy not found: install mypy-protobuf (the package's test extra) first")
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *PROTOS,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("grpc_tools.protoc failed")
    return sorted(target.glob("*_pb2*"))


if __name__ == "__main__":
    written = generate(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "src")
    for path in written:
        print(path)
