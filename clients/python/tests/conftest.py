"""Fixtures: the real ``fiscusd`` started on a loopback port picked at run time, with a fresh store
and one token per role, and a TCP proxy that can cut a connection at a chosen moment.

The daemon binary is ``$FISCUSD`` when set; otherwise the fixture runs ``cargo build -p
fiscus-daemon`` (quick when nothing changed) and takes ``target/debug/fiscusd`` of the workspace
(or of ``$CARGO_TARGET_DIR``).
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

import fiscus

REPO = Path(__file__).resolve().parents[3]
START_DEADLINE_S = 30.0
STOP_DEADLINE_S = 30.0
OWN_PROJECT = "conf-a"
"""The project the ``project`` token belongs to."""

_built: list[Path] = []


def fiscusd_binary() -> Path:
    """The daemon to test, built once per test session when ``$FISCUSD`` is not set."""
    given = os.environ.get("FISCUSD")
    if given:
        return Path(given)
    if not _built:
        cargo = subprocess.run(
            ["cargo", "build", "-q", "-p", "fiscus-daemon"], cwd=REPO, capture_output=True, text=True, check=False
        )
        if cargo.returncode != 0:
            pytest.fail(f"cargo build -p fiscus-daemon failed:\n{cargo.stderr}")
        target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
        _built.append(target / "debug" / "fiscusd")
    return _built[0]


@dataclass
class Tokens:
    """One token per role; the names are the actors recorded."""

    admin: str
    accountant: str
    accountant2: str
    auditor: str
    project: str


class Daemon:
    """A running ``fiscusd`` on 127.0.0.1 with its own store, tokens file and log."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.data = workdir / "data"
        self.tokens_file = workdir / "tokens.toml"
        self.log = workdir / "fiscusd.log"
        self.bin = fiscusd_binary()
        self.tokens = Tokens(
            admin=self._add_token("admin", "admin:root"),
            accountant=self._add_token("accountant", "accountant:alice"),
            accountant2=self._add_token("accountant", "accountant:bob"),
            auditor=self._add_token("auditor", "auditor:ann"),
            project=self._add_token(f"project:{OWN_PROJECT}", "organiser:olga"),
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.extra_args: list[str | Path] = []

    def _add_token(self, role: str, name: str) -> str:
        out = subprocess.run(
            [self.bin, "token", "add", "--tokens", self.tokens_file, "--role", role, "--name", name],
            capture_output=True,
            check=True,
        )
        return out.stdout.decode().strip()

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Starts it (on the port it had before, after a stop) and waits for its listening line."""
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    self.bin,
                    *("--data", self.data, "--create", "--tokens", self.tokens_file, "--listen", f"127.0.0.1:{self.port}"),
                    *self.extra_args,
                ],
                stdout=subprocess.PIPE,
                stderr=log,
            )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + START_DEADLINE_S
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.proc.stdout], [], [], max(left, 0))
            if not ready:
                self.kill()
                pytest.fail(f"fiscusd did not start within {START_DEADLINE_S} s; log: {self.log.read_text()}")
            chunk = os.read(self.proc.stdout.fileno(), 1)
            if not chunk:
                pytest.fail(f"fiscusd exited before listening; log: {self.log.read_text()}")
            line += chunk
        text = line.decode().strip()
        assert text.startswith("fiscusd listening on "), text
        self.port = int(text.rsplit(":", 1)[1])

    def stop(self) -> None:
        """SIGTERM, then waits for it to exit (the calls in flight are answered first)."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail("fiscusd did not stop within its deadline after SIGTERM")
        self.proc = None

    def kill(self) -> None:
        """SIGKILL."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def restart(self) -> None:
        """Stops it and starts it again on the same port and store."""
        self.stop()
        self.start()

    def client(self, token: str | None = None, **kw: object) -> fiscus.Client:
        """A client with ``token`` (the accountant's by default)."""
        return fiscus.Client(self.address, token or self.tokens.accountant, **kw)  # type: ignore[arg-type]

    def admin(self) -> fiscus.Client:
        """A client with the admin token."""
        return self.client(self.tokens.admin)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    """A fresh ``fiscusd`` for one test; stopped (SIGTERM) afterwards."""
    d = Daemon(tmp_path)
    d.start()
    try:
        yield d
    finally:
        if d.proc is not None and d.proc.poll() is None:
            d.stop()
        else:
            d.kill()


class CuttingProxy:
    """A loopback TCP proxy to ``upstream``. Once armed, it waits for a client→server chunk holding
    ``request_marker``, then drops the connection (both sides) at the first server→client chunk
    holding ``answer_marker``: the server has answered, the client never hears it. It cuts once."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.request_marker: bytes | None = None
        self.answer_marker: bytes | None = None
        self.request_seen = False
        self.cuts = 0
        self.closed = False
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, request_marker: bytes, answer_marker: bytes) -> None:
        """Cut the next answer holding ``answer_marker`` to a request holding ``request_marker``."""
        with self._lock:
            self.request_marker, self.answer_marker, self.request_seen = request_marker, answer_marker, False

    def close(self) -> None:
        """Stops accepting."""
        self.closed = True
        self.listener.close()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, to_server: bool) -> None:
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                with self._lock:
                    if to_server and self.request_marker and self.request_marker in chunk:
                        self.request_seen = True
                    if (
                        not to_server
                        and self.request_seen
                        and self.answer_marker is not None
                        and self.answer_marker in chunk
                    ):
                        self.cuts += 1
                        self.request_marker = self.answer_marker = None
                        self.request_seen = False
                        raise ConnectionAbortedError("cut")
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()


@pytest.fixture
def proxy(daemon: Daemon) -> Iterator[CuttingProxy]:
    """A :class:`CuttingProxy` in front of the test's daemon."""
    p = CuttingProxy(daemon.address)
    yield p
    p.close()


# ----- small builders for tests ---------------------------------------------------------------

DAY = date(2026, 3, 2)


def usd(text: str) -> fiscus.Money:
    """``Money(Decimal(text), "USD")``."""
    return fiscus.Money(Decimal(text), "USD")


def open_project(
    client: fiscus.Client, project: str, currency: str = "USD", fee_bps: int = 800, limit: str = "5000"
) -> fiscus.Committed:
    """Opens a conference project dated 2026-01-05."""
    return client.open_project(
        project,
        name=project.title(),
        kind=fiscus.ProjectKind.CONFERENCE,
        fee_bps=fee_bps,
        currency=currency,
        advance_limit=Decimal(limit),
        effective_date=date(2026, 1, 5),
    )


def contribution(
    event_id: str, project: str, amount: fiscus.Money, fund: fiscus.Fund = fiscus.UNRESTRICTED, **kw: object
) -> fiscus.Event:
    """A sponsorship contribution from Acme Corp on :data:`DAY`."""
    kind = fiscus.ContributionReceived(amount, "Acme Corp", fiscus.ContributionSource.SPONSORSHIP, fund)
    return fiscus.Event(event_id, project, DAY, kind, **kw)  # type: ignore[arg-type]
