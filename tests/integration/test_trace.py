"""`bus trace`: one event delivered to one group and dead-lettered in another.

The DLQ record is produced by the real reliability path (a handler raising `PermanentError`);
the event's position comes from the publication log in a fresh PostgreSQL database.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from aiokafka import TopicPartition
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bus import publication_log
from bus.broker import clients
from bus.broker.reading import IncompleteReadError
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.dlq import read_dead_letters
from bus.envelope import Envelope
from bus.errors import EventNotFoundError, EventTraceError, PermanentError
from bus.logging import event_context
from bus.publish import Delivery, Publisher
from bus.reliability.failure import first_failure, with_failure
from bus.reliability.naming import dlq_topic, retry_consumer_group, retry_topic
from bus.subscribe import Subscriber
from bus.testing import assert_problem, start_group_at_end, wait_until
from bus.testing.cli import run_bus
from bus.testing.ingress import ingress_server, new_key
from bus.testing.subscribers import running
from bus.testing.topics import create_topic, produce
from bus.tracing import trace_id_of
from bus.tracking import DeliveryState, find_publication, locate, search_topics, trace_event
from schemas.dpmptsp import IzinTerbit

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

    args = ["trace", event_id, "--group", delivered_group, "--group", failing_group, "--json"]
    result = await run_bus(bus_settings, *args, database_dsn=database)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)

    assert document["event_id"] == event_id
    assert document["located_by"] == "publication log"
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
    # Groups of earlier tests on the shared broker are listed too: the counts are checked
    # against the rows. A system counts once, in the state of its least advanced group.
    found: dict[str, set[str]] = {}
    for d in document["deliveries"]:
        found.setdefault(d["system"], set()).add(d["state"])
    order = ("dead-lettered", "pending", "unknown")
    states = {s: next((o for o in order if o in f), "delivered") for s, f in found.items()}
    assert document["systems"] == states
    assert (document["subscribers"], document["groups"]) == (
        len(states),
        len(document["deliveries"]),
    )
    counts = list(states.values())
    assert document["delivered"] == counts.count("delivered")
    expected = f"{counts.count('delivered')} of {len(counts)} delivered"
    for state in order:
        if counts.count(state):
            expected += f", {counts.count(state)} {state}"
    assert document["summary"] == expected

    # The same answer from the event's position, without the publication log.
    position = ["--topic", delivery.topic, "--partition", str(delivery.partition)]
    position += ["--offset", str(delivery.offset), "--group", failing_group, "--json"]
    result = await run_bus(bus_settings, "trace", event_id, *position)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["located_by"] == (
        f"record at {delivery.topic}[{delivery.partition}]@{delivery.offset}, id checked"
    )
    by_group = {d["group"]: d for d in document["deliveries"]}
    assert by_group[failing_group]["state"] == "dead-lettered"


async def test_an_event_missing_from_the_publication_log_is_a_clear_error(database: str) -> None:
    with pytest.raises(EventNotFoundError, match="not in the publication log"):
        await find_publication(database, "no-such-event")


async def test_the_ingress_serves_deliveries_to_the_publishing_system_only(
    bus_settings: BusSettings, catalog: Catalog, database: str, unique: str
) -> None:
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
    # Systems are counted as systems, however many groups each has on the shared broker.
    assert report["subscribers"] == 3
    assert report["systems"] == dict.fromkeys(systems, "pending")
    assert report["groups"] == len(report["deliveries"]) >= 3
    assert report["summary"] == "0 of 3 delivered, 3 pending"
    # Another agency cannot even learn the event exists: the same answer as an unknown id.
    not_theirs = assert_problem(theirs, 404, "/problems/event-not-found")
    assert not_theirs["detail"] == "bapenda.sipd published no event with this id through the bus"
    assert_problem(anonymous, 401, "/problems/unauthorized")
    assert_problem(unknown, 404, "/problems/event-not-found")


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


# --- Answers `bus trace` must never make up -----------------------------------------------------


async def publish_izin(publisher: Publisher, catalog: Catalog, unique: str) -> Delivery:
    """One licence published through the SDK, which writes no publication log."""
    data = {**catalog.event_type(IZIN).example, "nomor_izin": f"503/TRC/{unique}"}
    return await publisher.publish(data, event_type=IZIN)


async def test_a_made_up_id_at_a_real_position_is_refused_not_traced(
    bus_settings: BusSettings, catalog: Catalog, dpmptsp: Publisher, unique: str
) -> None:
    delivery = await publish_izin(dpmptsp, catalog, unique)
    where = f"{delivery.topic}[{delivery.partition}]@{delivery.offset}"
    position = ["--topic", delivery.topic, "--partition", str(delivery.partition)]

    made_up = await run_bus(
        bus_settings, "trace", "made-up-id", *position, "--offset", str(delivery.offset)
    )

    assert made_up.returncode == 1
    assert made_up.stdout == ""
    assert (
        f"error: the record at {where} is event {delivery.event_id!r}, not 'made-up-id': "
        "check the id and the position" in made_up.stderr
    )
    # The real id, whole or as the 8 characters the demo prints, is traced at that position.
    for given in (delivery.event_id, delivery.event_id[:8]):
        real = await run_bus(
            bus_settings, "trace", given, *position, "--offset", str(delivery.offset), "--json"
        )
        assert real.returncode == 0, real.stderr
        document = json.loads(real.stdout)
        assert document["event_id"] == delivery.event_id
        assert document["located_by"] == f"record at {where}, id checked"


async def test_an_offset_past_the_end_is_said_to_be_past_the_end(
    bus_settings: BusSettings, catalog: Catalog, dpmptsp: Publisher, unique: str
) -> None:
    delivery = await publish_izin(dpmptsp, catalog, unique)
    far = delivery.offset + 100_000

    result = await run_bus(
        bus_settings, "trace", delivery.event_id, "--topic", delivery.topic,
        "--partition", str(delivery.partition), "--offset", str(far),
    )  # fmt: skip

    assert result.returncode == 1
    assert result.stdout == ""
    assert (
        f"error: offset {far} is past the end of {delivery.topic}[{delivery.partition}]: its "
        f"end offset is {delivery.offset + 1}, so no event is at that offset" in result.stderr
    )
    assert "to go" not in result.stderr


async def test_an_event_published_with_the_sdk_is_traced_by_the_short_id_the_demo_prints(
    bus_settings: BusSettings, catalog: Catalog, dpmptsp: Publisher, unique: str
) -> None:
    topic = catalog.event_type(IZIN).topic
    group = f"bapenda.sipd.sdk-{unique}"
    subscriber = Subscriber("bapenda.sipd", group, catalog=catalog, settings=bus_settings)
    handled: list[str] = []

    @subscriber.handler(IzinTerbit)
    async def register_taxpayer(izin: IzinTerbit, envelope: Envelope) -> None:
        handled.append(envelope.id)

    await start_group_at_end(bus_settings, group, [topic])
    async with running(subscriber):
        delivery = await publish_izin(dpmptsp, catalog, unique)
        event = await locate(delivery.event_id, settings=bus_settings, catalog=catalog)

        async def delivered() -> bool:
            report = await trace_event(
                event, settings=bus_settings, catalog=catalog, groups=[group]
            )
            return {d.group: d.state for d in report.deliveries}[group] is DeliveryState.DELIVERED

        await wait_until(delivered, timeout=30, message="the subscriber committed past it")

    # As an operator runs it after `make dev`: the short id, no database setting, no position.
    result = await run_bus(bus_settings, "trace", delivery.event_id[:8], "--group", group, "--json")

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["event_id"] == delivery.event_id
    assert (document["topic"], document["partition"], document["offset"]) == (
        delivery.topic,
        delivery.partition,
        delivery.offset,
    )
    topics = sorted({et.topic for et in catalog.event_types})
    assert document["located_by"] == f"search of {', '.join(topics)}"
    assert document["source_system"] == "dpmptsp.sicantik"
    by_group = {d["group"]: d["state"] for d in document["deliveries"]}
    assert by_group[group] == "delivered"
    assert handled.count(delivery.event_id) == 1


async def test_without_a_database_setting_the_answer_names_it(
    bus_settings: BusSettings, catalog: Catalog
) -> None:
    topic = catalog.event_type(IZIN).topic

    result = await run_bus(bus_settings, "trace", "no-such-event", "--topic", topic)

    assert result.returncode == 1
    assert result.stdout == ""
    assert (
        "error: event 'no-such-event' is not looked up: BUS_DATABASE_DSN is not set, so there "
        f"is no publication log, nor on {topic} (" in result.stderr
    )
    assert "records read to their end offsets)" in result.stderr


async def test_a_short_id_in_the_publication_log_must_name_one_event(
    database: str, unique: str
) -> None:
    prefix = f"{unique}0000"
    conn = await asyncpg.connect(database)
    try:
        await publication_log.ensure_schema(conn)
        await publication_log.record_publications(
            conn,
            [
                publication_log.Publication(
                    f"{prefix}-{n}", IZIN, "dpmptsp.sicantik", "t", 0, n, "0" * 64, "ingress"
                )
                for n in (1, 2)
            ],
        )
    finally:
        await conn.close()

    second = await find_publication(database, f"{prefix}-2")
    assert (second.event_id, second.offset) == (f"{prefix}-2", 2)
    assert (await find_publication(database, f"{prefix}-1")).offset == 1
    with pytest.raises(EventTraceError) as refused:
        await find_publication(database, prefix)
    assert str(refused.value) == (
        f"2 events in the publication log have an id starting with {prefix!r} "
        f"({prefix}-1, {prefix}-2): give more of the id"
    )


async def test_a_dead_letter_read_that_cannot_finish_is_unknown_never_delivered(
    bus_settings: BusSettings, catalog: Catalog, dpmptsp: Publisher, unique: str
) -> None:
    group = f"bapenda.sipd.slow-{unique}"
    delivery = await publish_izin(dpmptsp, catalog, unique)
    # The group committed past the event; its dead-letter topic holds another event's record.
    await start_group_at_end(bus_settings, group, [delivery.topic])
    dead_letters = dlq_topic(group)
    await create_topic(bus_settings, dead_letters, 1)
    await produce(bus_settings, dead_letters, [1])
    event = await locate(delivery.event_id, settings=bus_settings, catalog=catalog)

    complete = await trace_event(event, settings=bus_settings, catalog=catalog, groups=[group])
    cut_short = await trace_event(
        event, settings=bus_settings, catalog=catalog, groups=[group], timeout_s=1e-9
    )

    (read,) = [d for d in complete.deliveries if d.group == group]
    assert (read.state, read.detail) == (DeliveryState.DELIVERED, "")
    (unread,) = [d for d in cut_short.deliveries if d.group == group]
    assert unread.state is DeliveryState.UNKNOWN
    assert unread.detail == (
        f"its failure records were not all read: could not read {dead_letters}[0] "
        "(at offset 0 of 1) to the end in 1e-09 s"
    )
    assert "unknown" not in complete.summary
    with pytest.raises(IncompleteReadError) as incomplete:
        await read_dead_letters(bus_settings, [dead_letters], timeout_s=1e-9)
    assert incomplete.value.unread == {TopicPartition(dead_letters, 0): (0, 1)}
    assert incomplete.value.partial == []
    assert [d.offset for d in await read_dead_letters(bus_settings, [dead_letters])] == [0]


async def test_a_replayed_dead_letter_is_decided_by_the_newer_retry_record(
    bus_settings: BusSettings, catalog: Catalog, dpmptsp: Publisher, unique: str
) -> None:
    group = f"bapenda.sipd.replayed-{unique}"
    delivery = await publish_izin(dpmptsp, catalog, unique)
    await start_group_at_end(bus_settings, group, [delivery.topic])
    dead_letters, retries = dlq_topic(group), retry_topic(group, 1)
    for topic in (dead_letters, retries):
        await create_topic(bus_settings, topic, 1)
    failed_at = datetime.now(UTC) - timedelta(seconds=10)
    failure = first_failure(
        delivery.topic, delivery.partition, delivery.offset, group=group,
        error=ConnectionError("sink down"), attempts=3,
    )  # fmt: skip
    headers = with_failure([("ce_id", delivery.event_id.encode())], failure)
    producer = clients.producer(bus_settings)
    await producer.start()
    try:
        # Dead-lettered first; `bus dlq replay` later sent it to the first retry topic.
        stamp = int(failed_at.timestamp() * 1000)
        await producer.send_and_wait(dead_letters, b"{}", headers=headers, timestamp_ms=stamp)
        replayed = await producer.send_and_wait(
            retries, b"{}", headers=headers, timestamp_ms=stamp + 5000
        )
    finally:
        await producer.stop()
    event = await locate(delivery.event_id, settings=bus_settings, catalog=catalog)

    async def state() -> tuple[DeliveryState, str]:
        report = await trace_event(event, settings=bus_settings, catalog=catalog, groups=[group])
        (mine,) = [d for d in report.deliveries if d.group == group]
        return mine.state, mine.detail

    waiting = await state()
    await start_group_at_end(bus_settings, retry_consumer_group(group), [retries])
    handled = await state()

    assert waiting == (
        DeliveryState.PENDING,
        f"waiting in {retries} after ConnectionError: sink down",
    )
    assert replayed.offset == 0
    assert handled == (DeliveryState.DELIVERED, "after 3 failed attempt(s)")


async def test_a_search_that_cannot_finish_says_unknown_never_not_found(
    bus_settings: BusSettings, catalog: Catalog, dpmptsp: Publisher, unique: str
) -> None:
    delivery = await publish_izin(dpmptsp, catalog, unique)  # the topic is not empty

    with pytest.raises(EventTraceError) as cut_short:
        await search_topics(
            bus_settings, catalog, "no-such-event", [delivery.topic], timeout_s=1e-9
        )

    message = str(cut_short.value)
    assert message.startswith(
        "unknown: event 'no-such-event' is not in the publication log, and could not read "
        f"{delivery.topic}["
    )
    assert message.endswith(
        "(0 records read, none of them the event); give its position with --topic, "
        "--partition and --offset"
    )
    assert not isinstance(cut_short.value, EventNotFoundError)
