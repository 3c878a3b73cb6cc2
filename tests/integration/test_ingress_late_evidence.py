"""An acknowledged event is answered 202 even when its publication-log row cannot be written
then; the row is written later. A 503 there made a retrying client publish the event twice."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from bus.catalog import Catalog
from bus.config import BusSettings
from bus.testing import end_offsets, read_to_end, wait_until
from tests.integration.test_ingress import IZIN, TOPIC, ingress_server, izin, new_key

pytestmark = pytest.mark.integration

REFUSE_LOG_INSERTS = """
CREATE FUNCTION refuse_log() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'disk full'; END $$;
CREATE TRIGGER refuse_log BEFORE INSERT ON bus_publication_log
    FOR EACH ROW EXECUTE FUNCTION refuse_log();
"""


async def post_until_accepted(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], **headers: str
) -> list[int]:
    """What a careful PHP client does: retry on 503 (up to 3 times); the statuses it saw."""
    statuses = []
    for _ in range(3):
        response = await client.post(f"{url}/v1/events/{IZIN}", json=body, headers=headers)
        statuses.append(response.status_code)
        if response.status_code != 503:
            break
    return statuses


async def copies_of(settings: BusSettings, start: Any, nomor: str) -> int:
    records = await read_to_end(settings, start)
    return sum(1 for r in records if orjson.loads(r.value)["nomor_izin"] == nomor)


async def test_a_failed_log_insert_after_the_ack_never_doubles_the_event(
    database: str, bus_settings: BusSettings, catalog: Catalog, unique: str
) -> None:
    _, token = await new_key(database, "dpmptsp.sicantik")
    auth = {"Authorization": f"Bearer {token}"}
    start = await end_offsets(bus_settings, TOPIC)
    conn: asyncpg.Connection[Any] = await asyncpg.connect(database)
    try:
        async with ingress_server(bus_settings, catalog, database) as url:
            await conn.execute(REFUSE_LOG_INSERTS)
            async with httpx.AsyncClient(timeout=30) as client:
                plain = await post_until_accepted(
                    client, url, izin(catalog, f"503/LATE/{unique}/1"), **auth
                )
                keyed = [
                    await post_until_accepted(
                        client,
                        url,
                        izin(catalog, f"503/LATE/{unique}/2"),
                        **auth,
                        **{"Idempotency-Key": f"late-{unique}"},
                    )
                    for _ in range(2)
                ]
                assert await conn.fetchval("SELECT count(*) FROM bus_publication_log") == 0
                await conn.execute("DROP TRIGGER refuse_log ON bus_publication_log")

                async def logged() -> bool:
                    return await conn.fetchval("SELECT count(*) FROM bus_publication_log") == 2

                await wait_until(logged, timeout=20, message="both log rows written later")
    finally:
        await conn.close()
    assert plain == [202]
    assert keyed == [[202], [202]]
    assert await copies_of(bus_settings, start, f"503/LATE/{unique}/1") == 1
    assert await copies_of(bus_settings, start, f"503/LATE/{unique}/2") == 1
