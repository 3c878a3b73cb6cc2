"""Grant topics: a partial agreement's consumer reads a topic that holds only its fields.

The projector copies each licence to Satu Data's grant topic with the five aggregate fields
of its agreement; a subscriber reading grant topics gets them, and a raw Kafka client on the
grant topic finds no other field. (On a cluster with ACLs, tests/integration/
test_secure_kafka.py shows Satu Data cannot read the source topic at all.)
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition

from bus.catalog import Catalog
from bus.config import BusSettings
from bus.envelope import Envelope
from bus.projection import grant_topic
from bus.projection.projector import Projector
from bus.publish import Publisher
from bus.subscribe import Subscriber
from bus.testing import read_to_end, wait_until
from bus.testing.subscribers import running
from schemas import IzinTerbit

pytestmark = pytest.mark.integration

SATU_DATA = "diskominfotik.satudata"
GRANTED = {"jenis_izin", "kbli", "kode_wilayah", "tanggal_terbit", "nilai_investasi"}


async def test_satu_data_reads_only_its_granted_fields_from_its_grant_topic(
    dpmptsp: Publisher, bus_settings: BusSettings, catalog: Catalog, unique: str
) -> None:
    settings = bus_settings.model_copy(update={"grant_topics": True})
    izin = IzinTerbit.model_validate({**IzinTerbit.example, "nomor_izin": f"503/GT/{unique}"})
    seen: list[Any] = []
    satu_data = Subscriber(
        SATU_DATA, group=f"{SATU_DATA}.grants-{unique}", catalog=catalog, settings=settings
    )

    @satu_data.handler(IzinTerbit)
    async def on_izin(view: IzinTerbit, envelope: Envelope) -> None:
        if envelope.key == izin.nomor_izin.encode():
            seen.append((view, envelope))

    topic = grant_topic(SATU_DATA, "dpmptsp.izin.terbit.v1")
    assert satu_data.topics == [topic]
    stop = asyncio.Event()
    async with Projector(settings, catalog) as projector:
        running_projector = asyncio.create_task(projector.run(stop))
        try:
            async with running(satu_data):
                delivery = await dpmptsp.publish(izin)
                await wait_until(lambda: bool(seen), timeout=30, message="Satu Data handled it")
        finally:
            stop.set()
            await running_projector

    view, envelope = seen[0]
    assert view.model_dump(mode="json") == izin.model_dump(mode="json", include=GRANTED)
    assert (envelope.id, envelope.source) == (delivery.event_id, "/riau/dpmptsp/sicantik")
    # A raw client on the grant topic, at the same partition: the value holds the five fields.
    raw = await read_value(settings, topic, delivery.partition, izin.nomor_izin.encode())
    assert set(raw) == GRANTED
    assert "nama_pemohon" not in raw and "nib" not in raw


async def read_value(
    settings: BusSettings, topic: str, partition: int, key: bytes
) -> dict[str, Any]:
    """The JSON value of the record with `key` in one partition of `topic`."""
    records = await read_to_end(settings, {TopicPartition(topic, partition): 0})
    found = [record for record in records if record.key == key]
    assert len(found) == 1, f"{len(found)} records with key {key!r} in {topic}[{partition}]"
    value: dict[str, Any] = orjson.loads(found[0].value)
    return value
