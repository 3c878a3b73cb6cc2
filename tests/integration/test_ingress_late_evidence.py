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
from bus.testing.ingress import ingress_server, new_key
from tests.integration.ingress_world import IZIN, TOPIC, izin

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


async def test_a_retry_after_a_dead_attempt_does_not_publish_it_again(
    database: str, bus_settings: BusSettings, catalog: Catalog, unique: str
) -> None:
    """An ingress killed after the broker's ack but before completing the idempotency record:
    the client's retry finds the event on the topic and gets it, not a second copy."""
    from bus.ingress import idempotency
    from bus.publish import RecordSender, build_record

    _, token = await new_key(database, "dpmptsp.sicantik")
    key = f"dead-{unique}"
    body = orjson.dumps(izin(catalog, f"503/DEAD/{unique}"))
    start = await end_offsets(bus_settings, TOPIC)
    async with ingress_server(bus_settings, catalog, database) as url:
        # What the dead attempt did: remember the key and its event id, publish, then die.
        record = build_record(catalog.event_type(IZIN), catalog.system("dpmptsp.sicantik"), body)
        conn: asyncpg.Connection[Any] = await asyncpg.connect(database)
        try:
            fingerprint = idempotency.request_sha256("POST", f"/v1/events/{IZIN}", body)
            await idempotency.remember(conn, "dpmptsp.sicantik", key, fingerprint, [record.id])
        finally:
            await conn.close()
        sender = RecordSender(bus_settings)
        await sender.start()
        try:
            delivery = await (await sender.send_record(record))
        finally:
            await sender.stop()

        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(
                f"{url}/v1/events/{IZIN}",
                content=body,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Idempotency-Key": key,
                    "Content-Type": "application/json",
                },
            )
    assert response.status_code == 202, response.text
    assert response.json() == {
        "id": record.id,
        "topic": TOPIC,
        "partition": delivery.partition,
        "offset": delivery.offset,
    }
    assert await copies_of(bus_settings, start, f"503/DEAD/{unique}") == 1
