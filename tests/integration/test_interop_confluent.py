"""Interoperability with a client nobody here wrote: confluent-kafka (librdkafka).

An OPD whose system is written in Java, Go or .NET uses a librdkafka-style client, not this SDK;
the envelope must survive the trip both ways. confluent-kafka is synchronous, so its poll loops
run in a thread, each with a deadline.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from bus.catalog import Catalog
from bus.config import BusSettings
from bus.envelope import Envelope
from bus.publish import Publisher
from bus.subscribe import Subscriber
from bus.testing import KafkaService, wait_until
from bus.testing.subscribers import running
from schemas import IzinTerbit

pytestmark = pytest.mark.integration


def read_one(kafka: KafkaService, topic: str, partition: int, offset: int) -> Message:
    """The record at `topic[partition]@offset`, read by a librdkafka consumer within 20 s."""
    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap_servers,
            "group.id": f"interop-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.assign([TopicPartition(topic, partition, offset)])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error() is not None:
                if message.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise RuntimeError(f"confluent-kafka consumer: {message.error()}")
            return message
        raise TimeoutError(f"no record at {topic}[{partition}]@{offset} within 20 s")
    finally:
        consumer.close()


async def test_confluent_consumer_reads_sdk_event_with_headers_intact(
    dpmptsp: Publisher, kafka: KafkaService, unique: str
) -> None:
    izin = IzinTerbit.model_validate({**IzinTerbit.example, "nomor_izin": f"503/CFK/{unique}"})
    outgoing = dpmptsp.prepare(izin, correlation_id=f"corr-{unique}")
    delivery = await (await dpmptsp.send_record(outgoing))

    message = await asyncio.to_thread(
        read_one, kafka, delivery.topic, delivery.partition, delivery.offset
    )

    assert message.key() == izin.nomor_izin.encode()
    assert message.value() == outgoing.value
    assert IzinTerbit.model_validate_json(message.value()) == izin
    # Every header, in order and byte for byte, as the SDK wrote it.
    assert message.headers() == outgoing.headers
    headers = dict(message.headers())
    assert headers["ce_id"].decode() == delivery.event_id
    assert headers["ce_type"] == b"id.go.riau.dpmptsp.izin.terbit"
    assert headers["ce_correlationid"] == f"corr-{unique}".encode()
    assert Envelope.from_headers(message.headers()) == outgoing.envelope


def produce_cloudevent(
    kafka: KafkaService, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
) -> tuple[int, int]:
    """Produce one record with librdkafka and return its (partition, offset)."""
    # librdkafka hashes keys with CRC32 by default; murmur2 is what Java clients and aiokafka
    # use, so an OPD mixing clients must choose it to keep one entity on one partition.
    producer = Producer({"bootstrap.servers": kafka.bootstrap_servers, "acks": "all",
                         "partitioner": "murmur2_random"})  # fmt: skip
    delivered: list[Message] = []

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            raise RuntimeError(f"confluent-kafka producer: {error}")
        delivered.append(message)

    producer.produce(topic, value=value, key=key, headers=headers, on_delivery=on_delivery)
    if producer.flush(20) != 0 or not delivered:
        raise TimeoutError("confluent-kafka producer did not get an acknowledgement in 20 s")
    return delivered[0].partition(), delivered[0].offset()


async def test_sdk_subscriber_accepts_confluent_produced_cloudevent(
    kafka: KafkaService, bus_settings: BusSettings, catalog: Catalog, unique: str
) -> None:
    nomor = f"503/CFK/{unique}"
    data = {**IzinTerbit.example, "nomor_izin": nomor}
    event_id = str(uuid.uuid4())
    # What a non-Python OPD system writes by hand, following the CloudEvents Kafka binding.
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", event_id.encode()),
        ("ce_source", b"/riau/dpmptsp/sicantik"),
        ("ce_type", b"id.go.riau.dpmptsp.izin.terbit"),
        ("ce_time", b"2026-11-02T02:15:00Z"),
        ("ce_dataschema", b"urn:opd-bus:schema:id.go.riau.dpmptsp.izin.terbit:v1"),
        ("content-type", b"application/json; charset=utf-8"),
        ("ce_correlationid", f"corr-{unique}".encode()),
    ]
    received: list[tuple[IzinTerbit, Envelope]] = []
    subscriber = Subscriber(
        "bapenda.sipd", group=f"interop-{unique}", catalog=catalog, settings=bus_settings
    )

    @subscriber.handler(IzinTerbit)
    async def on_izin(izin: IzinTerbit, envelope: Envelope) -> None:
        if izin.nomor_izin == nomor:
            received.append((izin, envelope))

    async with running(subscriber):
        partition, offset = await asyncio.to_thread(
            produce_cloudevent,
            kafka,
            IzinTerbit.event_type().topic,
            nomor.encode(),
            IzinTerbit.model_validate(data).model_dump_json().encode(),
            headers,
        )
        await wait_until(lambda: len(received) == 1, message="confluent-produced event handled")

    izin, envelope = received[0]
    # Bapenda's agreement does not grant the applicant's name (personal data): it is absent.
    full = IzinTerbit.model_validate(data).model_dump()
    assert izin.model_dump() == {k: v for k, v in full.items() if k != "nama_pemohon"}
    assert (envelope.id, envelope.source, envelope.type) == (
        event_id,
        "/riau/dpmptsp/sicantik",
        "id.go.riau.dpmptsp.izin.terbit",
    )
    assert envelope.correlation_id == f"corr-{unique}"
    assert envelope.time.isoformat() == "2026-11-02T02:15:00+00:00"
    assert (envelope.partition, envelope.offset, envelope.key) == (
        partition,
        offset,
        nomor.encode(),
    )
    # The key lands where the SDK's own producer would put it (murmur2, as in Java clients).
    from aiokafka.partitioner import DefaultPartitioner

    assert partition == DefaultPartitioner()(nomor.encode(), [0, 1, 2], [])
