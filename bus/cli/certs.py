"""`bus certs`: the CA, the brokers' keystore and the secrets a production cluster starts with."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import typer

from bus.cli import _common

#: Secret files `docker compose` mounts; made once, never overwritten.
SECRET_FILES = (
    "broker-keystore-password",
    "kafka-admin-password",
    "opd-bus-password",
    "postgres-password",
)


def certs(
    out: Annotated[Path, typer.Option(help="Folder to write to (created, owner-only).")] = Path(
        "secrets"
    ),
    host: Annotated[
        list[str] | None,
        typer.Option(
            "--host",
            help="A name or address clients use for the brokers (repeat); default: kafka-1, "
            "kafka-2, kafka-3, localhost, 127.0.0.1.",
        ),
    ] = None,
    days: Annotated[int, typer.Option(min=1, help="Validity of the broker certificate.")] = 730,
) -> None:
    """Make the CA (once), the brokers' PKCS#12 keystore for these hosts, and the secrets."""
    from bus.broker.certificates import CertificateAuthority
    from bus.broker.secure_cluster import BROKER_PRINCIPAL

    hosts = host or ["kafka-1", "kafka-2", "kafka-3", "localhost", "127.0.0.1"]
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o700)
    for name in SECRET_FILES:
        path = out / name
        if not path.exists():
            _write_private(path, secrets.token_urlsafe(32))
    if (out / "ca.crt").exists() and (out / "ca.key").exists():
        ca = CertificateAuthority.load(out)
        made = "kept"
    else:
        ca = CertificateAuthority.create("OPD Bus CA")
        ca.write_ca(out)
        made = "made"
    password = (out / "broker-keystore-password").read_text(encoding="utf-8").strip()
    broker = ca.issue(BROKER_PRINCIPAL, hosts=hosts, days=days)
    keystore = out / "broker.p12"
    keystore.write_bytes(broker.keystore_pkcs12(password.encode(), [ca.certificate]))
    keystore.chmod(0o600)
    _common.out.print(
        f"CA {made}: {out / 'ca.crt'} (give it to every client; keep {out / 'ca.key'} offline)\n"
        f"Broker keystore: {keystore} for {', '.join(hosts)}, valid {days} days\n"
        f"Secrets: {', '.join(str(out / n) for n in SECRET_FILES)} (made once, owner-only)",
        highlight=False,
        markup=False,
    )


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text + "\n", encoding="utf-8")
