"""The PostgreSQL sink: typed table from the schema, newest event wins, history, no doubles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from adapters.postgres_sink import SinkTable, column_type
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.publish import Publisher
from bus.subscribe import Subscriber
from bus.testing import wait_until
from schemas import IzinTerbit
from tests.integration.sink_world import (
    IZIN,
    SYSTEM,
    TABLE,
    entities,
    izin,
    sink,
    start_group_at_end,
)

pytestmark = pytest.mark.integration


def test_table_columns_follow_the_granted_schema(catalog: Catalog) -> None:
    view = Subscriber(SYSTEM, catalog=catalog).view_of(IzinTerbit)
    table = SinkTable.derive(catalog.event_type(IZIN), view)

    assert table.name == TABLE
    assert table.key == "nomor_izin"
    assert dict(table.columns) == {
        "nomor_izin": "text",
        "nib": "text",
        "jenis_izin": "text",
        "kbli": "text",
        "nama_usaha": "text",
        # nama_pemohon is personal data not granted to bapenda.sipd: no column for it
        "kode_wilayah": "text",
        "nilai_investasi": "bigint",
        "tanggal_terbit": "date",
        "berlaku_sampai": "date",
        "issued_at": "timestamptz",
    }
    assert column_type(list[str]) == "jsonb"
    assert column_type(bool | None) == "boolean"


async def test_newest_event_time_wins_and_redelivery_changes_nothing(
    dpmptsp: Publisher, bus_settings: BusSettings, catalog: Catalog, database: str, unique: str
) -> None:
    group = f"sink-{unique}"
    prefix = f"503/NEW/{unique}"
    await start_group_at_end(bus_settings, group)
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    key = f"{prefix}/00000"
    async with sink(bus_settings, catalog, group, database) as subscriber:
        # The newer version arrives first, the older one late: the table keeps the newer.
        newer = await dpmptsp.publish(izin(key, nilai_investasi=2), time=t0 + timedelta(hours=1))
        await dpmptsp.publish(izin(key, nilai_investasi=1), time=t0)
        # The same event (same id) delivered again, e.g. by a producer retry or a replay.
        again = izin(key, nilai_investasi=3)
        first = await dpmptsp.publish(again, id=f"dup-{unique}", time=t0 + timedelta(hours=2))
        await dpmptsp.publish(again, id=f"dup-{unique}", time=t0 + timedelta(hours=2))
        other = await dpmptsp.publish(izin(f"{prefix}/00001"), time=t0)
        await wait_until(
            lambda: subscriber.stats.handled >= 5, timeout=30, message="5 events handled"
        )

    connection = await asyncpg.connect(database)
    try:
        rows = await connection.fetch(
            f"SELECT nomor_izin, nilai_investasi, _event_id FROM {TABLE} "
            "WHERE nomor_izin LIKE $1 ORDER BY 1",
            prefix + "/%",
        )
        history = await connection.fetch(
            f"SELECT _event_id FROM {TABLE}_history WHERE entity_key = $1", key
        )
        inbox = await connection.fetchval(
            "SELECT count(*) FROM bus_inbox WHERE consumer_group = $1", group
        )
        columns = await connection.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = $1", TABLE
        )
    finally:
        await connection.close()
    assert [tuple(r) for r in rows] == [
        (key, 3, first.event_id),
        (f"{prefix}/00001", 750000000, other.event_id),
    ]
    assert newer.event_id in {r[0] for r in history}
    assert len(history) == 3  # three distinct events of that entity, the duplicate once
    assert inbox == 4
    assert subscriber.stats.duplicates == 1
    assert "nama_pemohon" not in {c[0] for c in columns}
    assert await entities(database, prefix) == 2
