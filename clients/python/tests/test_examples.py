"""The examples of ``examples/`` run against a real daemon as a user would run them."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from conftest import Daemon, open_project

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(daemon: Daemon, token: str, *args: str, timeout: float = 60) -> str:
    env = dict(os.environ, FISCUS_SERVER=daemon.address, FISCUS_TOKEN=token)
    done = subprocess.run(
        [sys.executable, *args], cwd=EXAMPLES, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_bank_csv_month_is_recorded_once_however_often_it_runs(daemon: Daemon) -> None:
    with daemon.admin() as admin:
        open_project(admin, "rustconf-2026", fee_bps=0)
    first = run(daemon, daemon.tokens.accountant, "bank_csv.py", "--project", "rustconf-2026", "bank-2026-03.csv")
    assert "4 recorded, 0 already recorded, 1 debits left out" in first
    again = run(daemon, daemon.tokens.accountant, "bank_csv.py", "--project", "rustconf-2026", "bank-2026-03.csv")
    assert "0 recorded, 4 already recorded, 1 debits left out" in again
    with daemon.client() as client:
        b = client.balance("rustconf-2026").in_currency("USD")
        assert b is not None and b.balance == Decimal("9396.25")
        assert len(list(client.events("rustconf-2026"))) == 5


def test_every_projects_available_balance_is_printed(daemon: Daemon) -> None:
    with daemon.admin() as admin:
        open_project(admin, "rustconf-2026", fee_bps=0)
        open_project(admin, "pyweek-2026", currency="EUR")
    run(daemon, daemon.tokens.accountant, "bank_csv.py", "--project", "rustconf-2026", "bank-2026-03.csv")
    out = run(daemon, daemon.tokens.auditor, "balances.py")
    lines = out.splitlines()
    assert lines[0].split() == ["project", "currency", "balance", "available", "restricted"]
    assert lines[1].split() == ["pyweek-2026", "EUR", "0", "0", "0"]
    assert lines[2].split() == ["rustconf-2026", "USD", "9396.25", "9396.25", "0"]


def test_follow_prints_commits_live(daemon: Daemon) -> None:
    with daemon.admin() as admin:
        open_project(admin, "rustconf-2026", fee_bps=0)
    env = dict(os.environ, FISCUS_SERVER=daemon.address, FISCUS_TOKEN=daemon.tokens.auditor)
    follower = subprocess.Popen(
        [sys.executable, "follow.py", "--count", "4"],
        cwd=EXAMPLES,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stdout is not None
        assert follower.stdout.readline().strip() == "following commits after 1"
        run(daemon, daemon.tokens.accountant, "bank_csv.py", "--project", "rustconf-2026", "bank-2026-03.csv")
        out, err = follower.communicate(timeout=60)
    finally:
        follower.kill()
    assert follower.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) == 4
    assert "rustconf-2026#2 2026-03-02 ContributionReceived 5000.00 USD (bank-TX-20260302-0001" in lines[0]
    assert "by accountant:alice" in lines[3]
