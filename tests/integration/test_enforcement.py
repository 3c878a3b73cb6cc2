"""The SDK enforces the catalog on a real broker: ownership, agreements, granted fields.

- a system that does not own an event type cannot publish it, and nothing reaches the topic;
- a system without a data-sharing agreement cannot register a handler (so never starts);
- an authorised subscriber's handler receives only the granted fields.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiokafka import TopicPartition

from bus.broker import clients
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.envelope import Envelope
from bus.errors import NoAgreementError, NotOwnerError
from bus.publish import Publisher
from bus.subscribe import Subscriber
from bus.testing import wait_until
from bus.testing.subscribers import running
from schemas import HotspotTerdeteksi, IzinTerbit, PendudukPindah

pytestmark = pytest.mark.integration


async def test_non_owner_cannot_publish_and_nothing_is_sent(
    dpmptsp: Publisher, bus_settings: BusSettings, catalog: Catalog, unique: str
) -> None:
    nomor = f"503/IU/{unique}"
    izin = IzinTerbit.model_validate({**IzinTerbit.example, "nomor_izin": nomor})

    async with Publisher("bapenda.sipd", catalog=catalog, settings=bus_settings) as bapenda:
        with pytest.raises(NotOwnerError) as refused:
            await bapenda.publish(izin)
        with pytest.raises(NotOwnerError):
            await bapenda.send(izin)
    assert str(refused.value) == (
        "system 'bapenda.sipd' may not publish id.go.riau.dpmptsp.izin.terbit: it is owned by "
        "'dpmptsp.sicantik'; only the owning system publishes an event type"
    )

    # The owner then publishes the same key: it lands on the same partition, and reading that
    # partition up to the owner's record finds only the owner's record with this key.
    marker = await dpmptsp.publish(izin)
    records_with_key = await read_keys(bus_settings, marker.topic, marker.partition, marker.offset)
    assert records_with_key.count(nomor.encode()) == 1


async def test_subscriber_without_agreement_fails_at_registration(
    bus_settings: BusSettings, catalog: Catalog, unique: str
) -> None:
    subscriber = Subscriber(
        "dinkes.sikda", group=f"enforce-{unique}", catalog=catalog, settings=bus_settings
    )

    with pytest.raises(NoAgreementError) as refused:

        @subscriber.handler(IzinTerbit)
        async def on_izin(izin: IzinTerbit) -> None:
            raise AssertionError("never registered, never called")

    assert "'dinkes.sikda' has no data-sharing agreement for id.go.riau.dpmptsp.izin.terbit" in str(
        refused.value
    )
    assert subscriber.topics == []  # nothing to consume: start() refuses a handler-less group


async def test_authorised_subscribers_see_only_granted_fields(
    dpmptsp: Publisher, bus_settings: BusSettings, catalog: Catalog, unique: str
) -> None:
    seen: dict[str, Any] = {}
    sipd = Subscriber(
        "bapenda.sipd", group=f"grants-sipd-{unique}", catalog=catalog, settings=bus_settings
    )
    sikda = Subscriber(
        "dinkes.sikda", group=f"grants-sikda-{unique}", catalog=catalog, settings=bus_settings
    )

    @sipd.handler(IzinTerbit)
    async def on_izin(izin: IzinTerbit, envelope: Envelope) -> None:
        if envelope.key == f"503/IU/{unique}".encode():
            seen["izin"] = izin

    @sikda.handler(PendudukPindah)
    async def on_pindah(pindah: PendudukPindah, envelope: Envelope) -> None:
        if envelope.correlation_id == f"pindah-{unique}":
            seen["pindah"] = pindah

    @sikda.handler(HotspotTerdeteksi)
    async def on_hotspot(hotspot: HotspotTerdeteksi) -> None:
        if hotspot.hotspot_id.endswith(unique):
            seen["hotspot"] = hotspot

    izin = IzinTerbit.model_validate({**IzinTerbit.example, "nomor_izin": f"503/IU/{unique}"})
    pindah = PendudukPindah.model_validate(PendudukPindah.example)
    hotspot = HotspotTerdeteksi.model_validate(
        {**HotspotTerdeteksi.example, "hotspot_id": f"VIIRS-{unique}"}
    )
    async with (
        running(sipd),
        running(sikda),
        Publisher("disdukcapil.siak", catalog=catalog, settings=bus_settings) as siak,
        Publisher("bpbd.sipongi", catalog=catalog, settings=bus_settings) as sipongi,
    ):
        await dpmptsp.publish(izin)
        await siak.publish(pindah, correlation_id=f"pindah-{unique}")
        await sipongi.publish(hotspot)
        await wait_until(lambda: len(seen) == 3, timeout=30, message="three events handled")

    # bapenda.sipd: the default grant, every field except the applicant's name.
    assert type(seen["izin"]).__name__ == "IzinTerbitView"
    assert seen["izin"].model_dump() == izin.model_dump(exclude={"nama_pemohon"})
    with pytest.raises(AttributeError):
        _ = seen["izin"].nama_pemohon
    # dinkes.sikda: exactly the four fields of its agreement (NIK is granted explicitly).
    assert seen["pindah"].model_dump(mode="json") == {
        "nik": "1471021205900003",
        "kode_wilayah_asal": "14.71.02",
        "kode_wilayah_tujuan": "14.08",
        "tanggal_pindah": "2026-11-01",
    }
    for personal in ("nama_lengkap", "alamat_tujuan"):
        assert not hasattr(seen["pindah"], personal)
    # A type without personal data is granted whole: the handler gets the class itself.
    assert seen["hotspot"] == hotspot


async def read_keys(
    settings: BusSettings, topic: str, partition: int, last_offset: int
) -> list[bytes | None]:
    """Keys of one partition's records from the beginning up to `last_offset`."""
    consumer = clients.consumer(settings, group_id=None)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        keys: list[bytes | None] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            for record in batch.get(tp, []):
                keys.append(record.key)
                if record.offset >= last_offset:
                    return keys
        raise AssertionError(f"offset {last_offset} of {topic}[{partition}] not read in 30 s")
    finally:
        await consumer.stop()
