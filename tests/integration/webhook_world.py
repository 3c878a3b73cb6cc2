"""What the webhook tests share: real PHP and Node receivers on loopback, and a push delivery.

A receiver is a process nobody here wrote the verifier of: PHP's built-in server verifying with
`hash_hmac`, or Node verifying with the npm `standardwebhooks` package (`make peers` installs
both). It answers as its `plan.json` says, one step per verified request and then 200, and
logs every request to `log.jsonl`; the tests count those lines per event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from adapters.webhook import new_secret, webhook
from bus.broker import clients
from bus.catalog import Catalog, Delivery, load_catalog
from bus.config import BusSettings
from bus.publish.record import build_record
from bus.subscribe import Subscriber
from bus.subscribe.adapter import AdapterOptions
from bus.testing import start_group_at_end, wait_until
from bus.testing.subscribers import running
from schemas import IzinTerbit

RECEIVERS = Path(__file__).resolve().parent.parent / "receivers"
IZIN = "id.go.riau.dpmptsp.izin.terbit"
SYSTEM = "bapenda.sipd"


def free_port() -> int:
    """A TCP port on loopback nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Receiver:
    """One receiver process (`php` or `node`) on a loopback port, with its plan and log."""

    kind: str
    directory: Path
    secret: str
    port: int
    process: subprocess.Popen[bytes] | None = None
    #: When `stop()` last stopped the process (`time.monotonic()`), None while it runs.
    stopped_at: float | None = None

    @property
    def url(self) -> str:
        """Where the adapter delivers."""
        return f"http://127.0.0.1:{self.port}/webhook"

    def plan(self, steps: list[dict[str, Any]]) -> None:
        """Answer the next verified requests with these steps, then 200."""
        (self.directory / "plan.json").write_text(json.dumps(steps))

    async def start(self) -> None:
        """Start the process and wait until it accepts connections."""
        env = {
            **os.environ,
            "WEBHOOK_SECRET": self.secret,
            "RECEIVER_DIR": str(self.directory),
            "RECEIVER_KEY_FIELD": "nomor_izin",
            "PORT": str(self.port),
            # The built-in server handles one request at a time unless told otherwise; a
            # hanging request must not hold up the next attempt.
            "PHP_CLI_SERVER_WORKERS": "4",
        }
        if self.kind == "php":
            command = ["php", "-S", f"127.0.0.1:{self.port}", str(RECEIVERS / "php/receiver.php")]
        else:
            command = ["node", str(RECEIVERS / "node/receiver.js")]
        self.process = subprocess.Popen(  # noqa: ASYNC220 - returns at once
            command,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        await wait_until(self._listening, timeout=15, message=f"{self.kind} receiver listening")
        self.stopped_at = None

    async def _listening(self) -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return False
        writer.close()
        return True

    def stop(self) -> None:
        """Stop the process (and PHP's workers) at once."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            self.stopped_at = time.monotonic()
        self.process = None

    def log(self) -> list[dict[str, Any]]:
        """Every request the receiver logged, in order."""
        path = self.directory / "log.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def accepted(self, ids: list[str]) -> Counter[str]:
        """How many 2xx answers each of `ids` got."""
        wanted = set(ids)
        return Counter(
            e["id"]
            for e in self.log()
            if e["id"] in wanted and isinstance(e["status"], int) and 200 <= e["status"] < 300
        )

    def accepted_keys_in_order(self, ids: list[str]) -> list[tuple[str, str]]:
        """(key, event id) of every 2xx answer to one of `ids`, in the order answered."""
        wanted = set(ids)
        return [
            (e["key"], e["id"])
            for e in self.log()
            if e["id"] in wanted and isinstance(e["status"], int) and 200 <= e["status"] < 300
        ]


@dataclass
class WebhookWorld:
    """One test's broker settings, database, unique group and scratch folder."""

    settings: BusSettings
    database: str
    unique: str
    tmp: Path
    monkeypatch: pytest.MonkeyPatch

    @property
    def group(self) -> str:
        """The test's push delivery group."""
        return f"bapenda.sipd.wh-{self.unique}"

    @property
    def secret_variable(self) -> str:
        """The environment variable the delivery's secret reference names."""
        return f"BUS_TEST_WEBHOOK_SECRET_{self.unique.upper()}"

    @contextlib.asynccontextmanager
    async def receiver(self, kind: str, *, rotating: bool = False) -> AsyncIterator[Receiver]:
        """A started receiver whose secret the delivery's reference resolves to (`rotating`:
        the bus also holds an old secret the receiver no longer knows)."""
        directory = self.tmp / kind
        directory.mkdir(parents=True, exist_ok=True)
        started = Receiver(kind, directory, new_secret(), free_port())
        secrets = f"{new_secret()} {started.secret}" if rotating else started.secret
        self.monkeypatch.setenv(self.secret_variable, secrets)
        await started.start()
        try:
            yield started
        finally:
            started.stop()

    def catalog(self, hook: Receiver, **changes: Any) -> Catalog:
        """The catalog with this test's push delivery to `hook`."""
        return push_catalog(self.group, hook.url, self.secret_variable, **changes)


def push_catalog(group: str, endpoint: str, secret_variable: str, **changes: Any) -> Catalog:
    """The project's catalog plus one push delivery of licences to bapenda.sipd at `endpoint`."""
    base = load_catalog("schemas")
    delivery = Delivery(
        system=SYSTEM,
        event_type=IZIN,
        group=group,
        mode="push",
        endpoint=endpoint,
        secret=f"env:{secret_variable}",
        allow_networks=("127.0.0.0/8",),
    )
    return base.with_deliveries([replace(delivery, **changes)])


@contextlib.asynccontextmanager
async def running_webhook(
    settings: BusSettings,
    catalog: Catalog,
    group: str,
    dsn: str,
    *,
    at_end: bool = True,
    **options: str,
) -> AsyncIterator[Subscriber]:
    """The webhook adapter of `group` (a new group starts at the end of the topic), running."""
    event_type = catalog.event_type(IZIN)
    if at_end:
        await start_group_at_end(settings, group, [event_type.topic])
    adapter = AdapterOptions(
        event_type=event_type,
        group=group,
        settings=settings,
        catalog=catalog,
        dsn=dsn,
        extra={
            "first_retry_s": "0.3",
            "retry_factor": "2",
            "circuit_cooldown_s": "1",
            **options,
        },
    )
    async with webhook(adapter) as subscriber, running(subscriber):
        yield subscriber


def licence(nomor: str, revision: int) -> IzinTerbit:
    """The catalog's example licence, with another number; `revision` changes its name."""
    return IzinTerbit.model_validate(
        {**IzinTerbit.example, "nomor_izin": nomor, "nama_usaha": f"CV Revisi {revision}"}
    )


async def publish(
    settings: BusSettings,
    licences: list[IzinTerbit],
    positions: dict[str, tuple[str, int, int]] | None = None,
) -> list[str]:
    """Publish the licences in order, each acknowledged before the next; their event ids
    (and, into `positions`, each one's topic, partition and offset)."""
    catalog = load_catalog("schemas")
    event_type = catalog.event_type(IZIN)
    source = catalog.system(event_type.owner)
    producer = clients.producer(settings)
    await producer.start()
    ids = []
    try:
        for item in licences:
            record = build_record(event_type, source, item)
            meta = await producer.send_and_wait(
                event_type.topic, record.value, key=record.key, headers=record.headers
            )
            ids.append(record.id)
            if positions is not None:
                positions[record.id] = (event_type.topic, meta.partition, meta.offset)
    finally:
        await producer.stop()
    return ids


async def attempts(dsn: str, group: str, event_id: str) -> list[asyncpg.Record]:
    """The attempt log's rows of one event, oldest first."""
    conn = await asyncpg.connect(dsn)
    try:
        return list(
            await conn.fetch(
                "SELECT attempt, at, status, outcome, next_try_at FROM bus_http_attempts "
                "WHERE consumer_group = $1 AND event_id = $2 ORDER BY attempt",
                group,
                event_id,
            )
        )
    finally:
        await conn.close()


async def fetch_value(dsn: str, query: str, *args: Any) -> Any:
    """One value of one query on `dsn`."""
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()
