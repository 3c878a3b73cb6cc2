"""Outbox rows the relay must refuse: marked failed with a reason, never published, never
holding back the rows around them, which are published exactly once."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY

from bus.catalog import Catalog
from bus.config import BusSettings
from bus.outbox import OutboxRelay, add_event, ensure_schema
from bus.testing import count_by_ce_id, end_offsets, read_to_end

pytestmark = pytest.mark.integration

IZIN = "id.go.riau.dpmptsp.izin.terbit"
TOPIC = "dpmptsp.izin.terbit.v1"
SOURCE = "/riau/dpmptsp/sicantik"

_INSERT = """
INSERT INTO bus_outbox (event_id, event_type, source_system, source, dataschema, topic, key,
                        data, event_time)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""


def izin(catalog: Catalog, key: str) -> dict[str, Any]:
    return {**catalog.event_type(IZIN).example, "nomor_izin": key}


async def insert_row(conn: asyncpg.Connection[Any], catalog: Catalog, **changes: Any) -> str:
    """A hand-written outbox row (as the docs allow), valid unless `changes` break it."""
    key = changes.pop("key", f"503/HAND/{uuid.uuid4().hex[:8]}")
    data_key = changes.pop("data_key", key)
    row: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "event_type": IZIN,
        "source_system": "dpmptsp.sicantik",
        "source": SOURCE,
        "dataschema": catalog.event_type(IZIN).dataschema,
        "topic": TOPIC,
        "key": key,
        "data": json.dumps(izin(catalog, data_key)),
        "event_time": datetime.now(UTC),
    }
    row.update(changes)
    await conn.execute(_INSERT, *row.values())
    return str(row["event_id"])


async def relay_rounds(relay: OutboxRelay, rounds: int) -> int:
    """Run `rounds` relay rounds one after the other; the rows sent in all of them."""
    sent = 0
    await relay.sender.start()
    try:
        for _ in range(rounds):
            sent += (await relay.relay_once())[0]
    finally:
        await relay.sender.stop()
        await relay.close()
    return sent


def refused_count(reason: str) -> float:
    return REGISTRY.get_sample_value("bus_outbox_refused_total", {"reason": reason}) or 0.0


async def test_a_refused_row_is_marked_failed_and_the_others_go_out_exactly_once(
    database: str, catalog: Catalog, bus_settings: BusSettings
) -> None:
    """The reproduction of issue 14: one refused row in a round made its neighbours go out
    once per round, forever, and the rows after it never."""
    start = await end_offsets(bus_settings, TOPIC)
    conn: asyncpg.Connection[Any] = await asyncpg.connect(database)
    try:
        await ensure_schema(conn)
        before = [await add_event(conn, IZIN, izin(catalog, f"503/R/{i}")) for i in range(3)]
        refused = await insert_row(conn, catalog, topic="dpmptsp.izin.tidak-ada.v1")
        after = [await add_event(conn, IZIN, izin(catalog, f"503/R/{i}")) for i in range(3, 7)]
        counted = refused_count("wrong_topic")
        sent = await relay_rounds(OutboxRelay(database, settings=bus_settings), rounds=3)
        rows = {
            r["event_id"]: r
            for r in await conn.fetch(
                "SELECT event_id, sent_at, failed_at, last_error FROM bus_outbox"
            )
        }
    finally:
        await conn.close()

    copies = count_by_ce_id(await read_to_end(bus_settings, start))
    assert {event_id: copies[(SOURCE, event_id)] for event_id in before + after} == {
        event_id: 1 for event_id in before + after
    }
    assert copies[(SOURCE, refused)] == 0
    mine = {(SOURCE, event_id) for event_id in [*before, refused, *after]}
    assert sum(n for identity, n in copies.items() if identity in mine) == 7
    assert sent == 7
    assert all(rows[e]["sent_at"] is not None for e in before + after)
    assert rows[refused]["sent_at"] is None
    assert rows[refused]["failed_at"] is not None
    assert "dpmptsp.izin.tidak-ada.v1" in rows[refused]["last_error"]
    assert TOPIC in rows[refused]["last_error"]
    assert refused_count("wrong_topic") - counted == 1


@pytest.mark.parametrize(
    ("changes", "reason", "says"),
    [
        ({"event_type": "id.go.riau.dpmptsp.izin.hilang"}, "unknown_event_type", "izin.hilang"),
        ({"source_system": "bkd.simpeg", "source": "/riau/bkd/simpeg"}, "not_owner", "bkd.simpeg"),
        ({"source": "/riau/bkd/simpeg"}, "wrong_source", "/riau/bkd/simpeg"),
        ({"source_system": "tidak.ada"}, "unknown_system", "tidak.ada"),
        ({"dataschema": "urn:opd-bus:schema:x:v9"}, "wrong_dataschema", "urn:opd-bus:schema:x:v9"),
        ({"data": json.dumps({"nomor_izin": "503/X/1", "nib": "12"})}, "invalid_data", "nib"),
        ({"data_key": "503/NOT/THE/KEY"}, "wrong_key", "nomor_izin"),
    ],
)
async def test_the_relay_validates_every_row_against_the_catalog(
    *,
    database: str,
    catalog: Catalog,
    bus_settings: BusSettings,
    changes: dict[str, Any],
    reason: str,
    says: str,
) -> None:
    start = await end_offsets(bus_settings, TOPIC)
    conn: asyncpg.Connection[Any] = await asyncpg.connect(database)
    try:
        await ensure_schema(conn)
        key = "503/VALID/00001"
        bad = await insert_row(conn, catalog, key=key, **changes)
        good = await insert_row(conn, catalog, key=key)  # same key, after the refused row
        counted = refused_count(reason)
        relay = OutboxRelay(database, settings=bus_settings)
        sent = await relay_rounds(relay, rounds=1)
        bad_row = await conn.fetchrow(
            "SELECT sent_at, failed_at, last_error FROM bus_outbox WHERE event_id = $1", bad
        )
        assert await relay.pending() == 0
    finally:
        await conn.close()
    assert sent == 1
    assert bad_row is not None
    assert bad_row["sent_at"] is None and bad_row["failed_at"] is not None
    assert says in bad_row["last_error"]
    assert refused_count(reason) - counted == 1
    copies = count_by_ce_id(await read_to_end(bus_settings, start))
    assert copies[(SOURCE, bad)] == 0
    assert copies[(SOURCE, good)] == 1


async def test_bus_outbox_failed_lists_refused_rows(
    database: str, catalog: Catalog, bus_settings: BusSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from bus.cli import app

    conn: asyncpg.Connection[Any] = await asyncpg.connect(database)
    try:
        await ensure_schema(conn)
        bad = await insert_row(conn, catalog, source_system="bkd.simpeg", source="/riau/bkd/simpeg")
        await insert_row(conn, catalog)
        await relay_rounds(OutboxRelay(database, settings=bus_settings), rounds=1)
    finally:
        await conn.close()
    monkeypatch.setenv("BUS_BOOTSTRAP_SERVERS", bus_settings.bootstrap_servers)
    monkeypatch.setenv("COLUMNS", "400")
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["outbox", "failed", "--dsn", database]
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if bad in line]
    assert len(lines) == 1
    assert "does not own" in lines[0]
    assert "1 refused row(s)" in result.output
