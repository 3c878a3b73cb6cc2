"""`bus dev --secure`: the dev cluster the way production runs, and its credentials file.

    async with secure_broker(options, catalog, console) as cluster:
        cluster.settings_for("bapenda.sipd", settings)      # connect as a system

`.bus/dev/credentials.json` (owner-only, removed at exit) holds the bootstrap, the CA file and
a username and password per system id: tests, commands in other terminals and any Kafka client
connect as a given system with it. The bus's own services run as `opd-bus`, `bus` admin
commands as `admin`; `.bus/dev/bus.env` points other terminals at both through password files.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bus.acl.principals import SERVICE_USER
from bus.broker.local import choose_broker
from bus.broker.secure_cluster import ADMIN_USER, SecureCluster
from bus.catalog import Catalog
from bus.config import DEV_SETTINGS_FILE
from bus.dev.console import DevConsole

__all__ = ["CREDENTIALS_FILE", "secure_broker", "service_settings"]

CREDENTIALS_FILE = Path(DEV_SETTINGS_FILE).with_name("credentials.json")


@contextlib.asynccontextmanager
async def secure_broker(
    host: str, port: int, nodes: int, catalog: Catalog, console: DevConsole
) -> AsyncIterator[SecureCluster]:
    """Start a secure Apache Kafka cluster with the catalog's users and ACLs, for the block."""
    choice = choose_broker("kafka")
    workdir = (CREDENTIALS_FILE.parent / "secure").resolve()
    # Fresh every time: formatted storage would keep the previous run's SCRAM passwords.
    shutil.rmtree(workdir, ignore_errors=True)
    cluster = SecureCluster(
        catalog, workdir, nodes=nodes, host=host, port=port, installation=choice.installation
    )
    await asyncio.to_thread(cluster.start)
    try:
        cluster.write_credentials(CREDENTIALS_FILE)
        for user in (ADMIN_USER, SERVICE_USER):
            _write_private(_password_file(user), cluster.passwords[user])
        console.say(
            "dev.broker",
            f"[bold]broker[/] Apache Kafka {cluster.kafka.version}, SASL_SSL at "
            f"{cluster.bootstrap_servers}: StandardAuthorizer, a SCRAM user per system, the "
            f"catalog's ACLs; CA {cluster.cafile}",
            details=[f"credentials per system in {CREDENTIALS_FILE} (owner-only, removed at exit)"],
            kind="apache-kafka",
            version=cluster.kafka.version,
            bootstrap_servers=cluster.bootstrap_servers,
            secure=True,
        )
        yield cluster
    finally:
        for path in (CREDENTIALS_FILE, _password_file(ADMIN_USER), _password_file(SERVICE_USER)):
            with contextlib.suppress(OSError):
                path.unlink()
        await asyncio.to_thread(cluster.stop)
        shutil.rmtree(workdir, ignore_errors=True)


def service_settings(cluster: SecureCluster) -> dict[str, Any]:
    """`BusSettings` of the bus's own services (`opd-bus`) and admin commands (`admin`)."""
    return {
        **cluster.client_settings(SERVICE_USER),
        "sasl_password_file": _password_file(SERVICE_USER).resolve(),
        "admin_sasl_password_file": _password_file(ADMIN_USER).resolve(),
    }


def _password_file(user: str) -> Path:
    return CREDENTIALS_FILE.with_name(f"{user}.password")


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text + "\n")
