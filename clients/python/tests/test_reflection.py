"""Discovery with stock tools: Python's grpcio-reflection client (reflection v1alpha) lists the
services and resolves every method, the health service answers SERVING, and the script of
``daemon/README.md`` runs as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import grpc
from conftest import OWN_PROJECT, Daemon, contribution, open_project, usd
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

DAEMON_README = Path(__file__).resolve().parents[3] / "daemon" / "README.md"


def test_the_stock_reflection_client_lists_and_resolves_every_service(daemon: Daemon) -> None:
    with grpc.insecure_channel(daemon.address) as channel:
        reflection = ProtoReflectionDescriptorDatabase(channel)
        services = set(reflection.get_services())
        assert {"fiscus.v1.Ledger", "fiscus.v1.Audit", "grpc.health.v1.Health"} <= services
        pool = DescriptorPool(reflection)
        ledger = pool.FindServiceByName("fiscus.v1.Ledger")
        assert {"OpenProject", "RecordCommit", "GetBalance", "Subscribe"} <= {m.name for m in ledger.methods}
        audit = pool.FindServiceByName("fiscus.v1.Audit")
        assert {"GetHead", "Verify", "ExportChain"} <= {m.name for m in audit.methods}
        money = pool.FindMessageTypeByName("fiscus.v1.Money")
        assert [f.name for f in money.fields] == ["amount", "currency"]

        health = health_pb2_grpc.HealthStub(channel)
        for service in ["", "fiscus.v1.Ledger", "fiscus.v1.Audit"]:
            # types-grpcio-health-checking declares no methods on HealthStub.
            answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)  # type: ignore[attr-defined]
            assert answer.status == health_pb2.HealthCheckResponse.SERVING, service


def test_the_daemon_readme_discovery_script_runs_as_written(daemon: Daemon, tmp_path: Path) -> None:
    with daemon.admin() as admin:
        open_project(admin, OWN_PROJECT)
        admin.record(contribution("c-1", OWN_PROJECT, usd("100.00")))
    blocks = re.findall(r"```python\n(# discover\.py\n.*?)```", DAEMON_README.read_text(), re.S)
    assert len(blocks) == 1, "daemon/README.md has the discover.py block"
    script = tmp_path / "discover.py"
    script.write_text(blocks[0])
    # As the README runs it: the token in FISCUS_TOKEN, never on the command line.
    run = subprocess.run(
        [sys.executable, script, daemon.address, OWN_PROJECT],
        env={**os.environ, "FISCUS_TOKEN": daemon.tokens.auditor},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "fiscus.v1.Ledger" in out and "fiscus.v1.Audit" in out
    assert "fiscus.v1.Ledger/RecordCommit(RecordCommitRequest) -> RecordCommitResponse" in out
    assert "health: SERVING" in out
    answer = json.loads(out[out.index("{") :])
    assert answer["project"] == OWN_PROJECT and answer["balances"][0]["balance"] == "92.00"
