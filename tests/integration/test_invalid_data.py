"""Invalid data is refused at publish naming the field, and skipped (counted) when consuming."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from bus.catalog import Catalog
from bus.config import BusSettings
from bus.envelope import Envelope
from bus.errors import FieldError, SchemaValidationError
from bus.publish import Publisher
from bus.subscribe import Subscriber
from bus.testing import wait_until
from bus.testing.subscribers import running
from schemas import IzinTerbit
from tests.integration.sink_world import start_group_at_end

pytestmark = pytest.mark.integration

IZIN = "id.go.riau.dpmptsp.izin.terbit"


def izin_data(nomor: str, **changes: Any) -> dict[str, Any]:
    """The catalog's example licence with another number and the given changes."""
    return {**IzinTerbit.example, "nomor_izin": nomor, **changes}


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"nib": "912030123456"}, "nib"),  # 12 digits, a NIB has 13
        ({"kode_wilayah": "14.99"}, "kode_wilayah"),  # not a regency or city of Riau
        ({"catatan": "undeclared"}, "catatan"),  # the data model is closed
        ({"nilai_investasi": -1}, "nilai_investasi"),
    ],
)
async def test_publish_refuses_invalid_data_naming_the_field(
    dpmptsp: Publisher, unique: str, changes: dict[str, Any], path: str
) -> None:
    with pytest.raises(SchemaValidationError) as refused:
        await dpmptsp.publish(izin_data(f"503/BAD/{unique}", **changes), event_type=IZIN)

    assert [error.path for error in refused.value.errors] == [path]
    assert refused.value.event_type == IZIN
    assert path in str(refused.value)


async def test_refused_event_never_reaches_the_topic(
    dpmptsp: Publisher, bus_settings: BusSettings, unique: str
) -> None:
    key = f"503/BAD/{unique}"
    # Valid events with the refused event's key bracket the attempt on its partition; each is
    # acknowledged alone, so the two offsets are exact and nothing else can sit between them.
    before = await dpmptsp.publish(izin_data(key), event_type=IZIN)
    with pytest.raises(SchemaValidationError):
        await dpmptsp.publish(izin_data(key, nib="912030123456"), event_type=IZIN)
    after = await dpmptsp.publish(izin_data(key), event_type=IZIN)

    assert (after.topic, after.partition) == (before.topic, before.partition)
    assert after.offset == before.offset + 1
    consumer = AIOKafkaConsumer(bootstrap_servers=bus_settings.bootstrap_servers)
    await consumer.start()
    try:
        tp = TopicPartition(before.topic, before.partition)
        consumer.assign([tp])
        consumer.seek(tp, before.offset)
        records = [await consumer.getone(), await consumer.getone()]
    finally:
        await consumer.stop()
    ids = [dict(record.headers)["ce_id"].decode() for record in records]
    assert ids == [before.event_id, after.event_id]


async def test_malformed_records_on_the_topic_do_not_stop_the_subscriber(
    bus_settings: BusSettings, catalog: Catalog, unique: str
) -> None:
    key = f"503/RAW/{unique}".encode()
    topic = IzinTerbit.event_type().topic

    def headers(
        type_: str = IZIN, source: str = "/riau/dpmptsp/sicantik"
    ) -> list[tuple[str, bytes]]:
        return Envelope.new(source=source, type=type_).to_headers()

    def value(**changes: Any) -> bytes:
        return (
            IzinTerbit.model_validate(izin_data(key.decode()))
            .model_copy(update=changes)
            .model_dump_json()
            .encode()
        )

    # In partition order, all under one key: valid, four kinds of garbage, a tombstone, a
    # forgery, valid.
    records: list[tuple[str, bytes | None, list[tuple[str, bytes]]]] = [
        ("first", value(nilai_investasi=1), headers()),
        ("bad json", b'{"nomor_izin": "503/RAW', headers()),
        ("wrong field", value(nib="912030123456"), headers()),
        ("no ce_ headers", value(), [("content-type", b"application/json")]),
        ("wrong ce_type", value(), headers("id.go.riau.dpmptsp.nib.terbit")),
        ("no value", None, headers()),
        # Written with another system's (stolen or misused) credentials: not the owner's source.
        ("forged ce_source", value(), headers(source="/riau/bapenda/sipd")),
        ("last", value(nilai_investasi=2), headers()),
    ]
    handled: list[tuple[int, Envelope]] = []
    refused: list[tuple[int, str, list[FieldError]]] = []
    refused_anywhere = 0

    def on_invalid(
        record: ConsumerRecord[bytes, bytes], reason: str, errors: list[FieldError]
    ) -> None:
        nonlocal refused_anywhere
        refused_anywhere += 1
        if record.key == key:
            refused.append((record.offset, reason, errors))

    group = f"invalid-{unique}"
    # The group starts just past markers of its own: it reads this test's records only.
    await start_group_at_end(bus_settings, group)
    subscriber = Subscriber(
        "bapenda.sipd",
        group=group,
        catalog=catalog,
        settings=bus_settings,
        on_invalid=on_invalid,
    )

    @subscriber.handler(IzinTerbit)
    async def on_izin(izin: IzinTerbit, envelope: Envelope) -> None:
        if envelope.key == key:
            handled.append((izin.nilai_investasi, envelope))

    producer = AIOKafkaProducer(bootstrap_servers=bus_settings.bootstrap_servers)
    await producer.start()
    try:
        async with running(subscriber):
            offsets = []
            for _, record_value, record_headers in records:
                meta = await producer.send_and_wait(
                    topic, value=record_value, key=key, headers=record_headers
                )
                offsets.append(meta.offset)
            await wait_until(lambda: len(handled) == 2, message="both valid events handled")
    finally:
        await producer.stop()

    assert [(n, env.offset) for n, env in handled] == [(1, offsets[0]), (2, offsets[-1])]
    assert [offset for offset, _, _ in refused] == offsets[1:-1]
    reasons = {
        name: reason for (name, _, _), (_, reason, _) in zip(records[1:-1], refused, strict=True)
    }
    assert "is not valid JSON" in reasons["bad json"]
    assert (
        "missing CloudEvents header(s): ce_specversion, ce_id, ce_source, ce_type"
        in (reasons["no ce_ headers"])
    )
    assert "ce_type 'id.go.riau.dpmptsp.nib.terbit' does not belong" in reasons["wrong ce_type"]
    assert "record has no value" in reasons["no value"]
    assert reasons["forged ce_source"].endswith(
        "ce_source '/riau/bapenda/sipd' is not the owner of id.go.riau.dpmptsp.izin.terbit "
        "(/riau/dpmptsp/sicantik); only the owning system publishes it, so the record is "
        "refused as forged"
    )
    assert [e.path for e in refused[1][2]] == ["nib"]  # the wrong field is named
    # Every refusal is counted, and only this test's records were read.
    assert subscriber.stats.invalid == refused_anywhere == len(records) - 2
    assert subscriber.stats.failed == 0
