"""`bus trace`: one event delivered to one group and dead-lettered in another.

The DLQ record is produced by the real reliability path (a handler raising `PermanentError`);
the event's position comes from the publication log in a fresh PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bus import publication_log
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.envelope import Envelope
from bus.errors import EventNotFoundError, PermanentError
from bus.logging import event_context
from bus.publish import Publisher
from bus.subscribe import Subscriber
from bus.testing import start_group_at_end, wait_until
from bus.tracing import trace_id_of
from bus.tracking import DeliveryState, find_publication, trace_event
from schemas.dpmptsp import IzinTerbit
from tests.conftest import running

pytestmark = pytest.mark.integration

IZIN = "id.go.riau.dpmptsp.izin.terbit"


async def test_trace_shows_delivered_dead_lettered_and_pending_groups(
    bus_settings: BusSettings, catalog: Catalog, dpmptsp: Publisher, database: str, unique: str
) -> None:
    delivered_group, failing_group = f"bapenda.sipd.{unique}", f"dlhk.simlhk.{unique}"
    bapenda = Subscriber("bapenda.sipd", delivered_group, catalog=catalog, settings=bus_settings)
    dlhk = Subscriber("dlhk.simlhk", failing_group, catalog=catalog, settings=bus_settings)
    seen: list[tuple[str, str | None]] = []

    @bapenda.handler(IzinTerbit)
    async def register_taxpayer(izin: IzinTerbit, envelope: Envelope) -> None:
        # The trace id of the publisher's traceparent is in the adapter's log context.
        seen.append((envelope.id, event_context().get("trace_id")))

    @dlhk.handler(IzinTerbit)
    async def schedule_inspection(izin: IzinTerbit, envelope: Envelope) -> None:
        raise PermanentError("inspection calendar rejects kode_wilayah 14.99")

    for group in (delivered_group, failing_group):
        await start_group_at_end(bus_settings, group, [catalog.event_type(IZIN).topic])
    async with running(bapenda), running(dlhk):
        record = dpmptsp.prepare(IzinTerbit.model_validate(catalog.event_type(IZIN).example))
        delivery = await (await dpmptsp.send_record(record))
        conn = await asyncpg.connect(database)
        try:
            await publication_log.ensure_schema(conn)
            await publication_log.record_publications(
                conn,
                [
                    publication_log.Publication.of(
                        record, delivery, source_system="dpmptsp.sicantik", via="sdk"
                    )
                ],
            )
        finally:
            await conn.close()
        event_id = record.envelope.id
        settings = bus_settings.model_copy(update={"database_dsn": database})
        event = await find_publication(database, event_id)

        async def settled() -> bool:
            report = await trace_event(
                event, settings=settings, catalog=catalog, groups=[delivered_group, failing_group]
            )
            states = {d.group: d.state for d in report.deliveries}
            return (
                states.get(delivered_group) is DeliveryState.DELIVERED
                and states.get(failing_group) is DeliveryState.DEAD_LETTERED
            )

        await wait_until(settled, timeout=30, message="delivered to bapenda, DLQ for dlhk")

    # The groups start at the end of the topic, but Tansu's end offset can trail by one produce
    # batch, so an earlier test's last events may come through too.
    mine = [entry for entry in seen if entry[0] == event_id]
    assert mine == [(event_id, trace_id_of(record.envelope.traceparent))]
    assert mine[0][1] is not None

    env = {
        **os.environ,
        "BUS_BOOTSTRAP_SERVERS": bus_settings.bootstrap_servers,
        "BUS_DATABASE_DSN": database,
    }
    bus = str(Path(sys.executable).with_name("bus"))
    args = ["trace", event_id, "--group", delivered_group, "--group", failing_group, "--json"]
    process = await asyncio.create_subprocess_exec(
        bus, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    document = json.loads(stdout)

    assert document["event_id"] == event_id
    assert (document["topic"], document["partition"], document["offset"]) == (
        delivery.topic,
        delivery.partition,
        delivery.offset,
    )
    by_group = {d["group"]: d for d in document["deliveries"]}
    assert by_group[delivered_group]["state"] == "delivered"
    assert by_group[delivered_group]["system"] == "bapenda.sipd"
    assert by_group[failing_group]["state"] == "dead-lettered"
    assert "PermanentError" in by_group[failing_group]["detail"]
    # Satu Data has an agreement but no group consumed the topic yet: pending, not forgotten.
    assert by_group["diskominfotik.satudata"]["state"] == "pending"
    assert document["delivered"] >= 1
    assert "dead-lettered" in document["summary"]
    assert document["summary"].startswith(f"{document['delivered']} of {document['subscribers']}")

    # The same answer from the event's position, without the publication log.
    position = ["--topic", delivery.topic, "--partition", str(delivery.partition)]
    position += ["--offset", str(delivery.offset), "--group", failing_group, "--json"]
    process = await asyncio.create_subprocess_exec(
        bus, "trace", event_id, *position,
        env={**env, "BUS_DATABASE_DSN": ""}, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0
    by_group = {d["group"]: d for d in json.loads(stdout)["deliveries"]}
    assert by_group[failing_group]["state"] == "dead-lettered"


async def test_an_event_missing_from_the_publication_log_is_a_clear_error(database: str) -> None:
    with pytest.raises(EventNotFoundError, match="not in the publication log"):
        await find_publication(database, "no-such-event")


async def test_the_ingress_serves_deliveries_to_the_publishing_system_only(
    bus_settings: BusSettings, catalog: Catalog, database: str, unique: str
) -> None:
    from tests.integration.test_ingress import ingress_server, new_key

    _, publisher_token = await new_key(database, "dpmptsp.sicantik")
    _, other_token = await new_key(database, "bapenda.sipd")
    data = {**catalog.event_type(IZIN).example, "nomor_izin": f"503/TRACE/{unique}"}
    async with (
        ingress_server(bus_settings, catalog, database) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as http,
    ):
        accepted = await http.post(
            f"/v1/events/{IZIN}", json=data, headers={"Authorization": f"Bearer {publisher_token}"}
        )
        assert accepted.status_code == 202, accepted.text
        event_id = accepted.json()["id"]
        url = f"/v1/events/{event_id}/deliveries"

        mine = await http.get(url, headers={"Authorization": f"Bearer {publisher_token}"})
        theirs = await http.get(url, headers={"Authorization": f"Bearer {other_token}"})
        anonymous = await http.get(url)
        unknown = await http.get(
            "/v1/events/no-such-id/deliveries",
            headers={"Authorization": f"Bearer {publisher_token}"},
        )

    assert mine.status_code == 200, mine.text
    report = mine.json()
    assert report["event_id"] == event_id
    assert report["source_system"] == "dpmptsp.sicantik"
    systems = {d["system"] for d in report["deliveries"]}
    assert systems == {"bapenda.sipd", "dlhk.simlhk", "diskominfotik.satudata"}
    # Nobody consumes in this test: every subscribing group is still pending.
    assert {d["state"] for d in report["deliveries"]} == {"pending"}
    n = report["subscribers"]
    assert report["summary"] == f"0 of {n} delivered, {n} pending"
    assert theirs.status_code == 404  # another agency cannot even learn the event exists
    assert anonymous.status_code == 401
    assert unknown.status_code == 404


async def test_w3c_trace_context_flows_from_the_publishers_span_to_the_adapters_span(
    bus_settings: BusSettings, catalog: Catalog, dpmptsp: Publisher, unique: str
) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = trace.get_tracer_provider()
    installed = not isinstance(provider, TracerProvider)
    if installed:
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        await _trace_one_event(catalog, bus_settings, dpmptsp, exporter, unique)
    finally:
        exporter.shutdown()  # later tests' spans are not kept in memory
        if installed:
            # The rest of the session runs without an SDK again, as OpenTelemetry's own test
            # utilities (`reset_trace_globals`) do: the SDK provider is set once per process.
            from opentelemetry.util._once import Once

            trace._TRACER_PROVIDER_SET_ONCE = Once()
            trace._TRACER_PROVIDER = None


async def _trace_one_event(
    catalog: Catalog,
    bus_settings: BusSettings,
    dpmptsp: Publisher,
    exporter: InMemorySpanExporter,
    unique: str,
) -> None:
    from opentelemetry import trace

    group = f"bapenda.sipd.otel-{unique}"
    subscriber = Subscriber("bapenda.sipd", group, catalog=catalog, settings=bus_settings)
    # The new group reads the topic from the start: earlier tests' events come through too.
    inside: dict[str, trace.SpanContext] = {}

    @subscriber.handler(IzinTerbit)
    async def on_izin(izin: IzinTerbit, envelope: Envelope) -> None:
        inside[envelope.id] = trace.get_current_span().get_span_context()

    async with running(subscriber):
        with trace.get_tracer("opd-test").start_as_current_span("POST /perizinan") as request:
            delivery = await dpmptsp.publish(catalog.event_type(IZIN).example, event_type=IZIN)
        await wait_until(
            lambda: delivery.event_id in inside, message="the adapter handled the event"
        )

    (span,) = [
        s
        for s in exporter.get_finished_spans()
        if s.kind is trace.SpanKind.CONSUMER
        and (s.attributes or {}).get("messaging.consumer.group.name") == group
        and (s.attributes or {}).get("messaging.message.id") == delivery.event_id
    ]
    caller = request.get_span_context()
    assert span.context.trace_id == caller.trace_id  # one trace from HTTP request to adapter
    assert span.parent is not None and span.parent.span_id == caller.span_id
    assert (
        inside[delivery.event_id].span_id == span.context.span_id
    )  # the handler ran inside that span
    assert span.attributes["messaging.destination.name"] == catalog.event_type(IZIN).topic
