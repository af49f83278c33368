"""Both clients over TLS, trusting the daemon's CA given as ``tls=<PEM bytes>``."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import OWN_PROJECT, Daemon, open_project
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import fiscus


def _certificates(directory: Path) -> bytes:
    """Writes ``cert.pem`` and ``key.pem`` for 127.0.0.1 and localhost, signed by a fresh CA, and
    returns the CA certificate (PEM)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fiscus test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def tls_daemon(tmp_path: Path) -> Iterator[tuple[Daemon, bytes]]:
    d = Daemon(tmp_path)
    ca = _certificates(tmp_path)
    d.extra_args = ["--tls-cert", tmp_path / "cert.pem", "--tls-key", tmp_path / "key.pem"]
    d.start()
    yield d, ca
    d.stop()


def test_both_clients_speak_tls_to_the_daemon(tls_daemon: tuple[Daemon, bytes]) -> None:
    daemon, ca = tls_daemon
    with fiscus.Client(daemon.address, daemon.tokens.admin, tls=ca) as admin:
        open_project(admin, OWN_PROJECT)
    with fiscus.Client(f"https://localhost:{daemon.port}", daemon.tokens.auditor, tls=ca) as auditor:
        assert fiscus.verify_project(auditor, OWN_PROJECT).head_seq == 1

    async def over_aio() -> int:
        async with fiscus.AsyncClient(daemon.address, daemon.tokens.auditor, tls=ca) as client:
            return (await client.head(OWN_PROJECT)).commit

    assert asyncio.run(over_aio()) == 1

    with fiscus.Client(daemon.address, daemon.tokens.auditor, tls=False, retries=0, timeout=5) as plain:
        with pytest.raises(fiscus.FiscusUnavailable):
            plain.head(OWN_PROJECT)
