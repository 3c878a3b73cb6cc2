"""`bus certs`: a CA kept across runs, a broker keystore for the given hosts, owner-only secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12


def run_certs(out: Path, *hosts: str) -> subprocess.CompletedProcess[str]:
    args = [str(Path(sys.executable).with_name("bus")), "certs", "--out", str(out)]
    for host in hosts:
        args += ["--host", host]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def test_certs_makes_a_keystore_for_the_hosts_and_keeps_the_ca(tmp_path: Path) -> None:
    out = tmp_path / "secrets"

    first = run_certs(out, "kafka-1", "10.0.0.5")
    ca_before = (out / "ca.crt").read_bytes()
    passwords_before = (out / "kafka-admin-password").read_text()
    second = run_certs(out, "kafka-1", "kafka-2")

    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert (out / "ca.crt").read_bytes() == ca_before  # the CA is made once
    assert (out / "kafka-admin-password").read_text() == passwords_before
    password = (out / "broker-keystore-password").read_text().strip().encode()
    key, certificate, chain = pkcs12.load_key_and_certificates(
        (out / "broker.p12").read_bytes(), password
    )
    assert key is not None and certificate is not None
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["kafka-1", "kafka-2"]
    assert [c.subject for c in chain] == [x509.load_pem_x509_certificate(ca_before).subject]
    for name in ("ca.key", "broker.p12", "kafka-admin-password", "postgres-password"):
        assert oct(os.stat(out / name).st_mode & 0o777) == "0o600", name
    assert password.decode() not in first.stdout + second.stdout
