"""The FastStream bridge, in memory with `TestKafkaBroker`: handler logic without a broker."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from faststream.kafka import KafkaBroker, TestKafkaBroker

from bus.catalog import Catalog
from bus.envelope import Envelope
from bus.errors import FieldError, NoAgreementError, NotOwnerError
from bus.faststream import catalog_subscriber, publish_event
from bus.logging import event_context
from bus.tracing import current_traceparent, trace_id_of
from schemas import IzinTerbit, PkbDibayar

TOPIC = "dpmptsp.izin.terbit.v1"


def izin(**changes: Any) -> IzinTerbit:
    return IzinTerbit.model_validate({**IzinTerbit.example, **changes})


def ce_headers(type_: str = "id.go.riau.dpmptsp.izin.terbit") -> dict[str, str]:
    return {
        name: value.decode()
        for name, value in Envelope.new(source="/riau/dpmptsp/sicantik", type=type_).to_headers()
    }


async def test_valid_event_reaches_the_handler_with_its_envelope(catalog: Catalog) -> None:
    broker = KafkaBroker()
    received: list[tuple[Any, Envelope, ConsumerRecord[bytes, bytes]]] = []
    route = catalog_subscriber(broker, "bapenda.sipd", IzinTerbit, catalog=catalog)

    @route
    async def on_izin(
        data: IzinTerbit, envelope: Envelope, record: ConsumerRecord[bytes, bytes]
    ) -> None:
        received.append((data, envelope, record))

    sent = izin(nomor_izin="503/FS/0001")
    async with TestKafkaBroker(broker) as test_broker:
        envelope = await publish_event(
            test_broker, "dpmptsp.sicantik", sent, catalog=catalog, correlation_id="corr-1"
        )
        route.subscriber.mock.assert_called_once()  # FastStream's own call recorder saw it

    [(data, got, record)] = received
    assert got.id == envelope.id
    assert (got.source, got.type) == ("/riau/dpmptsp/sicantik", "id.go.riau.dpmptsp.izin.terbit")
    assert got.correlation_id == "corr-1"
    assert (got.topic, got.key) == (TOPIC, b"503/FS/0001")
    assert record.key == b"503/FS/0001"
    # Bapenda's agreement does not grant the applicant's name (personal data).
    expected = sent.model_dump()
    del expected["nama_pemohon"]
    assert data.model_dump() == expected
    assert not hasattr(data, "nama_pemohon")
    assert (route.stats.received, route.stats.handled, route.stats.invalid) == (1, 1, 0)


async def test_the_handler_runs_in_the_events_log_and_trace_context(catalog: Catalog) -> None:
    broker = KafkaBroker()
    seen: list[tuple[dict[str, str | None], str | None, Envelope]] = []
    route = catalog_subscriber(broker, "bapenda.sipd", IzinTerbit, catalog=catalog)

    @route
    async def on_izin(data: IzinTerbit, envelope: Envelope) -> None:
        seen.append((event_context(), current_traceparent(), envelope))

    async with TestKafkaBroker(broker) as test_broker:
        await publish_event(test_broker, "dpmptsp.sicantik", izin(), catalog=catalog)

    [(context, traceparent, envelope)] = seen
    assert context == {
        "event_id": envelope.id,
        "correlation_id": envelope.correlation_id,
        "trace_id": trace_id_of(envelope.traceparent),
    }
    # An event the handler publishes continues the handled event's trace.
    assert traceparent == envelope.traceparent
    assert event_context() == {}


@pytest.mark.parametrize(
    ("value", "headers", "reason"),
    [
        (b'{"nomor_izin": "503/', ce_headers(), "is not valid JSON"),
        (izin(nib="9120301234567").model_dump_json().replace("9120301234567", "912030123456"),
         ce_headers(), "nib: must be 13 digits"),
        (izin().model_dump_json(), {"content-type": "application/json"},
         "missing CloudEvents header(s): ce_specversion, ce_id, ce_source, ce_type"),
        (izin().model_dump_json(), ce_headers("id.go.riau.dpmptsp.nib.terbit"),
         "does not belong on topic"),
    ],
    ids=["bad-json", "wrong-field", "no-envelope", "wrong-type"],
)  # fmt: skip
async def test_invalid_record_is_counted_and_never_reaches_the_handler(
    catalog: Catalog, value: bytes | str, headers: dict[str, str], reason: str
) -> None:
    broker = KafkaBroker()
    handled: list[Any] = []
    refused: list[tuple[str, list[FieldError]]] = []
    route = catalog_subscriber(
        broker,
        "dlhk.simlhk",
        IzinTerbit,
        catalog=catalog,
        on_invalid=lambda record, why, errors: refused.append((why, errors)),
    )

    @route
    async def on_izin(data: IzinTerbit) -> None:
        handled.append(data)

    async with TestKafkaBroker(broker) as test_broker:
        raw = value.encode() if isinstance(value, str) else value
        await test_broker.publish(raw, TOPIC, key=b"503/FS/0002", headers=headers)
        # The consumer goes on: the next valid event is handled.
        await publish_event(test_broker, "dpmptsp.sicantik", izin(), catalog=catalog)

    assert len(handled) == 1
    assert route.stats.invalid == 1 and route.stats.handled == 1
    [(why, errors)] = refused
    assert reason in why
    if "nib" in reason:
        assert [e.path for e in errors] == ["nib"]


def test_registration_requires_an_agreement(catalog: Catalog) -> None:
    with pytest.raises(NoAgreementError, match=r"dinkes\.sikda"):
        catalog_subscriber(KafkaBroker(), "dinkes.sikda", IzinTerbit, catalog=catalog)


async def test_publish_event_enforces_ownership(catalog: Catalog) -> None:
    broker = KafkaBroker()
    async with TestKafkaBroker(broker) as test_broker:
        with pytest.raises(NotOwnerError):
            await publish_event(
                test_broker,
                "dpmptsp.sicantik",
                PkbDibayar.model_validate(PkbDibayar.example),
                catalog=catalog,
            )


async def test_failing_handler_is_counted_and_raises(catalog: Catalog) -> None:
    broker = KafkaBroker()
    route = catalog_subscriber(broker, "bapenda.sipd", IzinTerbit, catalog=catalog)

    @route
    async def on_izin(data: IzinTerbit) -> None:
        raise RuntimeError("tax register is down")

    async with TestKafkaBroker(broker) as test_broker:
        with pytest.raises(RuntimeError, match="tax register is down"):
            await publish_event(test_broker, "dpmptsp.sicantik", izin(), catalog=catalog)

    assert (route.stats.failed, route.stats.handled) == (1, 0)
