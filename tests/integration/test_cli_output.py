"""What the CLI prints is copyable: identifiers whole at 80 and 160 columns, errors that list
the valid choices."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import pytest

from bus.broker import clients
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.errors import PermanentError
from bus.ingress.keys import create_key, ensure_schema
from bus.publish import build_record
from bus.reliability import dlq_topic
from bus.reliability.failure import first_failure, with_failure
from bus.reliability.topics import ensure_failure_topics
from bus.testing.cli import run_bus

pytestmark = pytest.mark.integration

WIDTHS = [80, 160]


def lines_of(text: str) -> list[str]:
    return text.splitlines()


def whole_on_a_line(identifier: str, text: str) -> bool:
    """`identifier` appears unbroken on one line, not cut by … nor folded onto the next."""
    return any(
        re.search(rf"(?<![\w.:-]){re.escape(identifier)}(?![\w.-])", line)
        for line in lines_of(text)
    )


@pytest.mark.parametrize("columns", WIDTHS)
async def test_catalog_list_never_cuts_an_identifier(
    columns: int, bus_settings: BusSettings, catalog: Catalog
) -> None:
    result = await run_bus(bus_settings, "catalog", "list", columns=columns)
    assert result.returncode == 0, result.stderr
    identifiers = [s.id for s in catalog.systems]
    identifiers += [x for et in catalog.event_types for x in (et.type, et.topic, et.owner)]
    assert [i for i in identifiers if not whole_on_a_line(i, result.stdout)] == []
    assert "…" not in result.stdout
    assert max(len(line) for line in lines_of(result.stdout)) <= columns


async def test_keys_list_never_cuts_a_system_id(
    database: str, bus_settings: BusSettings, catalog: Catalog
) -> None:
    conn: asyncpg.Connection[Any] = await asyncpg.connect(database)
    try:
        await ensure_schema(conn)
        issued = [
            await create_key(conn, s.id, description="kunci produksi untuk sistem " + s.name)
            for s in catalog.systems
        ]
    finally:
        await conn.close()
    for columns in WIDTHS:
        result = await run_bus(bus_settings, "keys", "list", columns=columns, database_dsn=database)
        assert result.returncode == 0, result.stderr
        identifiers = [k.key_id for k in issued] + [k.system_id for k in issued]
        missing = [i for i in identifiers if not whole_on_a_line(i, result.stdout)]
        assert missing == [], f"at {columns} columns:\n{result.stdout}"
        assert "…" not in result.stdout


async def test_an_unknown_system_lists_the_valid_ones(
    bus_settings: BusSettings, catalog: Catalog
) -> None:
    result = await run_bus(
        bus_settings, "keys", "create", "--system", "dpmptsp.sicantk", database_dsn="postgresql://x"
    )
    assert result.returncode == 1
    message = " ".join(result.stderr.split())
    assert "unknown system 'dpmptsp.sicantk'" in message
    assert "the catalog's systems are: " + ", ".join(sorted(s.id for s in catalog.systems)) in (
        message
    )


async def test_dlq_list_positions_are_whole_and_work_in_dlq_show(
    bus_settings: BusSettings, catalog: Catalog, unique: str
) -> None:
    # A long but ordinary group name: positions in `bus dlq list` are as long as this.
    group = f"diskominfotik.satudata.statistik-perizinan-harian.{unique}"
    izin = catalog.event_type("id.go.riau.dpmptsp.izin.terbit")
    await ensure_failure_topics(group, [izin.topic], 1, bus_settings)
    record = build_record(izin, catalog.system(izin.owner), izin.example)
    failure = first_failure(
        izin.topic, 0, 7, group=group, error=PermanentError("kbli tidak dikenal"), attempts=1
    )
    producer = clients.producer(bus_settings)
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            dlq_topic(group),
            value=record.value,
            key=record.key,
            headers=with_failure(record.headers, failure),
        )
    finally:
        await producer.stop()
    position = f"{dlq_topic(group)}:{sent.partition}:{sent.offset}"

    for columns in WIDTHS:
        listed = await run_bus(bus_settings, "dlq", "list", "--group", group, columns=columns)
        assert listed.returncode == 0, listed.stderr
        assert whole_on_a_line(position, listed.stdout), f"at {columns}:\n{listed.stdout}"
        assert whole_on_a_line(record.envelope.id, listed.stdout), listed.stdout
        assert "…" not in listed.stdout

    # The position, as copied from the list, is what `bus dlq show` takes.
    shown = await run_bus(bus_settings, "dlq", "show", position, "--group", group, "--json")
    assert shown.returncode == 0, shown.stderr
    assert f'"position": "{position}"' in shown.stdout
    as_table = await run_bus(bus_settings, "dlq", "show", position, "--group", group, columns=80)
    assert as_table.returncode == 0, as_table.stderr
    assert "…" not in as_table.stdout  # long values fold onto the next line, never cut
    assert "".join(as_table.stdout.split()).count(record.envelope.id) >= 1

    unknown = await run_bus(bus_settings, "dlq", "list", "--topic", "no.such.topic", columns=200)
    assert unknown.returncode == 1
    message = " ".join(unknown.stderr.split())
    assert "unknown topic 'no.such.topic'" in message
    assert "unknown event type" not in message
    assert (
        "the catalog's topics are: " + ", ".join(sorted(et.topic for et in catalog.event_types))
        in message
    )
