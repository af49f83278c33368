"""Generates the gRPC stubs of ``src/fiscus/v1`` from ``proto/fiscus/v1/*.proto`` whenever the
package is built or installed from the repository (``pip install ./clients/python``, editable or
not), so they always match the contract. The generators (grpcio-tools, mypy-protobuf) are build
requirements in ``pyproject.toml``; everything else about the package is declared there."""

import sys
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate_stubs import PROTO_ROOT, generate  # noqa: E402

if PROTO_ROOT.is_dir():
    generate(HERE / "src")
elif not (HERE / "src" / "fiscus" / "v1" / "ledger_pb2.py").is_file():
    raise SystemExit(f"{PROTO_ROOT} is missing: build the package from a checkout of the repository")

setup()
