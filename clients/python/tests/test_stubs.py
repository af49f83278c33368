"""The committed stubs in ``src/fiscus/v1`` are exactly what ``generate_stubs.py`` makes from
``proto/fiscus/v1/*.proto`` with the pinned generators: a change of the contract without
regenerating them fails here."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_stubs_match_the_proto_files(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("generate_stubs", ROOT / "generate_stubs.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    sys.modules["generate_stubs"] = generator
    spec.loader.exec_module(generator)
    fresh = {p.name: p.read_bytes() for p in generator.generate(tmp_path)}
    committed = {p.name: p.read_bytes() for p in (ROOT / "src" / "fiscus" / "v1").iterdir() if p.is_file()}
    assert sorted(fresh) == sorted(committed)
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"stale stubs {stale}: run `python clients/python/generate_stubs.py`"
