"""What the reliability and sink tests share: events, a group starting "now", the sink in this
process and in its own.

Every test uses its own consumer group and its own database, and names its entities with a
unique prefix; tables are counted by that prefix, so events other tests published on the same
topic in the same session never change a test's numbers.
"""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import TopicPartition

from adapters.postgres_sink import postgres_sink
from bus import testing
from bus.broker import clients
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.subscribe import Subscriber
from bus.subscribe.adapter import AdapterOptions
from bus.testing.cli import BUS, bus_environment
from bus.testing.subscribers import running
from schemas import IzinTerbit

IZIN = "id.go.riau.dpmptsp.izin.terbit"
TOPIC = IzinTerbit.event_type().topic
TABLE = TOPIC.replace(".", "_")
SYSTEM = "bapenda.sipd"


def izin(nomor: str, **changes: Any) -> IzinTerbit:
    """The catalog's example licence with another number and the given changes."""
    return IzinTerbit.model_validate({**IzinTerbit.example, "nomor_izin": nomor, **changes})


def izins(prefix: str, count: int) -> list[IzinTerbit]:
    """`count` licences of distinct entities `prefix/00000`, `prefix/00001`, …"""
    return [izin(f"{prefix}/{n:05d}") for n in range(count)]


async def start_group_at_end(
    settings: BusSettings, group: str, topic: str = TOPIC
) -> dict[TopicPartition, int]:
    """Commit, for `group`, the end offset of each partition of `topic`; returns them."""
    return await testing.start_group_at_end(settings, group, [topic])


@contextlib.asynccontextmanager
async def sink(
    settings: BusSettings, catalog: Catalog, group: str, dsn: str
) -> AsyncIterator[Subscriber]:
    """The postgres-sink adapter running in this process."""
    options = AdapterOptions(
        event_type=catalog.event_type(IZIN),
        group=group,
        settings=settings,
        catalog=catalog,
        system=SYSTEM,
        dsn=dsn,
    )
    async with postgres_sink(options) as subscriber, running(subscriber):
        yield subscriber


async def entities(dsn: str, prefix: str) -> int:
    """Rows of the sink table whose key starts with `prefix` (0 before the table exists)."""
    connection = await asyncpg.connect(dsn)
    try:
        exists = await connection.fetchval("SELECT to_regclass($1)", TABLE)
        if exists is None:
            return 0
        count: int = await connection.fetchval(
            f"SELECT count(*) FROM {TABLE} WHERE nomor_izin LIKE $1", prefix + "/%"
        )
        return count
    finally:
        await connection.close()


async def history(dsn: str, prefix: str) -> tuple[int, int]:
    """(rows, distinct event ids) of the history table for `prefix`."""
    connection = await asyncpg.connect(dsn)
    try:
        row = await connection.fetchrow(
            f"SELECT count(*), count(DISTINCT _event_id) FROM {TABLE}_history "
            "WHERE entity_key LIKE $1",
            prefix + "/%",
        )
        assert row is not None
        return int(row[0]), int(row[1])
    finally:
        await connection.close()


async def with_effect_log(dsn: str) -> None:
    """Create the sink's tables as the sink would, and log every history insert it tries."""
    from adapters.postgres_sink import SinkTable
    from bus.catalog import load_catalog
    from bus.subscribe.grants import granted_view
    from bus.testing import install_effect_log

    catalog = load_catalog()
    table = SinkTable.derive(catalog.event_type(IZIN), granted_view(catalog, SYSTEM, IZIN))
    async with asyncpg.create_pool(dsn, min_size=1, max_size=1) as pool:
        for statement in table.ddl():
            await pool.execute(statement)
        await install_effect_log(pool, f"{TABLE}_history", "_event_id")


async def effects(dsn: str, prefix: str, before: datetime | None = None) -> tuple[int, int, int]:
    """(committed effects, distinct events, most effects of one event) for `prefix`'s events,
    only those tried before `before` (a database clock reading) if given."""
    from bus.testing import effect_counts

    async with asyncpg.create_pool(dsn, min_size=1, max_size=1) as pool:
        ids = {
            r[0]
            for r in await pool.fetch(
                f"SELECT _event_id FROM {TABLE}_history WHERE entity_key LIKE $1", prefix + "/%"
            )
        }
        counts = await effect_counts(pool, f"{TABLE}_history", before=before)
    mine = [n for event_id, n in counts.items() if event_id in ids]
    return sum(mine), len(mine), max(mine, default=0)


async def database_now(dsn: str) -> datetime:
    """The database server's clock now (effect log times are on it)."""
    connection = await asyncpg.connect(dsn)
    try:
        moment: datetime = await connection.fetchval("SELECT clock_timestamp()")
        return moment
    finally:
        await connection.close()


async def inbox_duplicates(dsn: str, group: str) -> int:
    """Redeliveries the group's inbox absorbed (counted apart from its primary key)."""
    connection = await asyncpg.connect(dsn)
    try:
        count: int = await connection.fetchval(
            "SELECT coalesce(sum(duplicates), 0) FROM bus_inbox WHERE consumer_group = $1", group
        )
        return count
    finally:
        await connection.close()


async def inbox_rows(dsn: str, group: str) -> int:
    """Events the group's inbox has recorded as applied."""
    connection = await asyncpg.connect(dsn)
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM bus_inbox WHERE consumer_group = $1", group
        )
        return count
    finally:
        await connection.close()


class SinkProcess:
    """`bus adapter run postgres-sink …` as a child process, as an operator would run it."""

    def __init__(
        self, settings: BusSettings, group: str, dsn: str, log_path: Path, **env: str
    ) -> None:
        self.log_path = log_path
        environment = {
            **bus_environment(settings),
            "BUS_CONSUMER_FETCH_TIMEOUT_MS": "50",
            "BUS_LOG_FORMAT": "console",
            **env,
        }
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [
                BUS,
                "adapter",
                "run",
                "postgres-sink",
                "--event-type",
                IZIN,
                "--group",
                group,
                "--system",
                SYSTEM,
                "--dsn",
                dsn,
            ],
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def signal(self, signum: signal.Signals) -> None:
        """Send `signum` to the sink."""
        self.process.send_signal(signum)

    def wait(self, timeout: float = 30) -> int:
        """Wait for the sink to exit; its exit code."""
        try:
            return self.process.wait(timeout)
        finally:
            self._log.close()

    def stop(self) -> None:
        """Make sure the process is gone (test teardown)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log.close()

    def log(self) -> str:
        """Everything the sink wrote so far."""
        return self.log_path.read_text(errors="replace")


async def group_members(settings: BusSettings, group: str) -> int:
    """How many members the consumer group has right now."""
    admin = clients.admin(settings)
    await admin.start()
    try:
        responses = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    return sum(len(g[5]) for response in responses for g in response.groups)


async def committed_total(settings: BusSettings, group: str, topic: str = TOPIC) -> int:
    """Sum of `group`'s committed offsets on `topic`."""
    return sum((await testing.committed_offsets(settings, group, topic)).values())


def stopped_stats(log: str) -> list[dict[str, int]]:
    """The counters of every "subscriber stopped" line of a sink's log (key=value pairs)."""
    stats = []
    for line in log.splitlines():
        if "subscriber stopped" in line:
            pairs = re.findall(r"(\w+)=(\d+)\b", line)
            stats.append({key: int(value) for key, value in pairs})
    return stats
