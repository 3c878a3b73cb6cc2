"""The CloudEvents envelope survives a trip through a real broker, every header intact."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer

from bus.catalog import Catalog
from bus.config import BusSettings
from bus.envelope import Envelope
from bus.publish import Publisher
from bus.subscribe import Subscriber
from bus.testing import wait_until
from bus.testing.subscribers import running
from schemas import IzinTerbit

pytestmark = pytest.mark.integration


async def test_headers_key_and_data_round_trip(
    dpmptsp: Publisher, bus_settings: BusSettings, unique: str
) -> None:
    izin = IzinTerbit.model_validate({**IzinTerbit.example, "nomor_izin": f"503/IU/{unique}"})
    delivery = await dpmptsp.publish(izin, correlation_id=f"corr-{unique}")

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bus_settings.bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        from aiokafka import TopicPartition

        tp = TopicPartition(delivery.topic, delivery.partition)
        consumer.assign([tp])
        consumer.seek(tp, delivery.offset)
        record = await consumer.getone()
    finally:
        await consumer.stop()

    headers = {name: value.decode() for name, value in record.headers}
    assert record.key == f"503/IU/{unique}".encode()
    assert IzinTerbit.model_validate_json(record.value) == izin
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_id"] == delivery.event_id
    assert headers["ce_source"] == "/riau/dpmptsp/sicantik"
    assert headers["ce_type"] == "id.go.riau.dpmptsp.izin.terbit"
    assert headers["ce_dataschema"] == "urn:opd-bus:schema:id.go.riau.dpmptsp.izin.terbit:v1"
    assert headers["content-type"] == "application/json"
    assert headers["ce_correlationid"] == f"corr-{unique}"
    assert abs(datetime.fromisoformat(headers["ce_time"]) - datetime.now(UTC)).total_seconds() < 60
    version, trace_id, span_id, flags = headers["traceparent"].split("-")
    assert (version, len(trace_id), len(span_id), flags) == ("00", 32, 16, "01")


async def test_subscriber_receives_data_and_envelope(
    dpmptsp: Publisher, bus_settings: BusSettings, catalog: Catalog, unique: str
) -> None:
    received: list[tuple[IzinTerbit, Envelope]] = []
    subscriber = Subscriber(
        "bapenda.sipd", group=f"roundtrip-{unique}", catalog=catalog, settings=bus_settings
    )

    @subscriber.handler(IzinTerbit)
    async def on_izin(izin: IzinTerbit, envelope: Envelope) -> None:
        if izin.nomor_izin.endswith(unique):
            received.append((izin, envelope))

    sent = IzinTerbit.model_validate({**IzinTerbit.example, "nomor_izin": f"503/IU/{unique}"})
    async with running(subscriber):
        delivery = await dpmptsp.publish(sent)
        await wait_until(lambda: len(received) == 1, message="event received")

    izin, envelope = received[0]
    # bapenda.sipd's agreement grants every field but the applicant's name (personal data).
    assert izin.model_dump() == sent.model_dump(exclude={"nama_pemohon"})
    assert envelope.id == delivery.event_id
    assert envelope.type == "id.go.riau.dpmptsp.izin.terbit"
    assert (envelope.topic, envelope.partition, envelope.offset) == (
        delivery.topic,
        delivery.partition,
        delivery.offset,
    )
    assert envelope.key == sent.nomor_izin.encode()
