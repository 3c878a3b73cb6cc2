"""`bus monitor` against a real broker: /metrics parsed as Prometheus text, live JSON over SSE."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bus.broker import clients
from bus.broker.embedded import free_port
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.envelope import Envelope
from bus.monitor import serve
from bus.publish import Publisher
from bus.subscribe import Subscriber
from bus.testing import wait_until
from schemas.dpmptsp import IzinTerbit
from tests.conftest import running
from tests.integration.test_lag import consume_and_commit, create_topic, produce

pytestmark = pytest.mark.integration

IZIN = "id.go.riau.dpmptsp.izin.terbit"


@contextlib.asynccontextmanager
async def monitor_running(
    settings: BusSettings, catalog: Catalog, groups: list[str], interval_s: float = 0.25
) -> AsyncIterator[str]:
    """`bus monitor` on a free port in this event loop; yields its base URL."""
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(
            settings,
            catalog,
            stop,
            host="127.0.0.1",
            port=port,
            groups=groups,
            interval_s=interval_s,
        )
    )
    base = f"http://127.0.0.1:{port}"

    async def healthy() -> bool:
        try:
            async with httpx.AsyncClient() as http:
                return (await http.get(f"{base}/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        await wait_until(healthy, timeout=20, message="monitor answers /healthz")
        yield base
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def dead_letter(settings: BusSettings, group: str, event_id: str, topic: str) -> None:
    """A dead letter as the reliability path writes it: original headers plus `dlq_*`."""
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    envelope = Envelope.new(source="/riau/dpmptsp/sicantik", type=IZIN, id=event_id)
    headers = [
        *envelope.to_headers(),
        ("dlq_original_topic", topic.encode()),
        ("dlq_original_partition", b"0"),
        ("dlq_original_offset", b"0"),
        ("dlq_group", group.encode()),
        ("dlq_error_class", b"ConnectionRefusedError"),
        ("dlq_error_message", b"target database refused the connection"),
        ("dlq_attempts", b"4"),
        ("dlq_first_failure_at", now.encode()),
        ("dlq_last_failure_at", now.encode()),
    ]
    producer = clients.producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(f"bus.dlq.{group}", b"{}", key=b"k", headers=headers)
    finally:
        await producer.stop()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus exposition, keyed by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_are_valid_prometheus_text_with_lag_status_dlq_and_sdk_counters(
    bus_settings: BusSettings, catalog: Catalog, dpmptsp: Publisher, unique: str
) -> None:
    topic, group = f"mon.lag.{unique}", f"mon-lag-{unique}"
    await create_topic(bus_settings, topic, 2)
    await produce(bus_settings, topic, [5, 3])
    await consume_and_commit(bus_settings, topic, group, [2, 3])
    await create_topic(bus_settings, f"bus.dlq.{group}", 1)
    await dead_letter(bus_settings, group, f"evt-{unique}", topic)

    # SDK counters and the handler histogram of this process.
    sdk_group = f"bapenda.sipd.mon-{unique}"
    subscriber = Subscriber("bapenda.sipd", sdk_group, catalog=catalog, settings=bus_settings)
    # A new group reads the topic from the start: earlier tests' events are handled too.
    handled: list[str] = []

    @subscriber.handler(IzinTerbit)
    async def on_izin(izin: IzinTerbit, envelope: Envelope) -> None:
        handled.append(envelope.id)

    async with running(subscriber):
        delivery = await dpmptsp.publish(catalog.event_type(IZIN).example, event_type=IZIN)
        await wait_until(lambda: delivery.event_id in handled, message="the event was handled")

    async with monitor_running(bus_settings, catalog, [group]) as base, httpx.AsyncClient() as http:

        async def scanned() -> bool:
            state = (await http.get(f"{base}/api/state")).json()
            return any(g["group"] == group for g in state["groups"]) and bool(
                state["dead_letters"]["topics"]
            )

        await wait_until(scanned, timeout=20, message="monitor scanned the group")
        response = await http.get(f"{base}/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    lag = "bus_consumer_lag_messages"
    assert found[(lag, (("group", group), ("partition", "0"), ("topic", topic)))] == 3
    assert found[(lag, (("group", group), ("partition", "1"), ("topic", topic)))] == 0
    age = found[
        ("bus_consumer_lag_seconds", (("group", group), ("partition", "0"), ("topic", topic)))
    ]
    assert age > 0
    # The group read and left while 3 events wait: STOP (5), as `bus lag` says.
    assert found[("bus_consumer_group_status", (("group", group),))] == 5
    assert found[("bus_topic_end_offset", (("partition", "0"), ("topic", topic)))] == 5
    dlq = ("bus_dlq_messages", (("group", group), ("topic", f"bus.dlq.{group}")))
    assert found[dlq] == 1

    published = [
        value
        for (name, labels), value in found.items()
        if name == "bus_events_published_total" and ("system", "dpmptsp.sicantik") in labels
    ]
    assert sum(published) >= 1
    izin_topic = catalog.event_type(IZIN).topic
    consumed = (
        "bus_events_consumed_total",
        (("group", sdk_group), ("outcome", "handled"), ("topic", izin_topic)),
    )
    assert found[consumed] == len(handled)
    histogram_count = (
        "bus_handler_duration_seconds_count",
        (("group", sdk_group), ("topic", izin_topic)),
    )
    assert found[histogram_count] == len(handled)


async def test_state_streams_live_over_server_sent_events(
    bus_settings: BusSettings, catalog: Catalog, unique: str
) -> None:
    topic, group = f"mon.sse.{unique}", f"mon-sse-{unique}"
    await create_topic(bus_settings, topic, 1)
    await produce(bus_settings, topic, [4])
    await consume_and_commit(bus_settings, topic, group, [1])

    async with (
        monitor_running(bus_settings, catalog, [group]) as base,
        httpx.AsyncClient(timeout=20) as http,
        http.stream("GET", f"{base}/api/events") as stream,
    ):
        assert stream.headers["content-type"].startswith("text/event-stream")
        documents = []
        async for line in stream.aiter_lines():
            if line.startswith("data: "):
                documents.append(json.loads(line.removeprefix("data: ")))
            if len(documents) == 2:
                break

    first, second = documents
    assert second["sequence"] > first["sequence"]  # a new scan arrived without asking
    (entry,) = [g for g in second["groups"] if g["group"] == group]
    assert entry["lag"] == 3
    # The group read and left while 3 events wait: STOP, as `bus lag` says.
    assert entry["status"] == "STOP"
    assert entry["partitions"][0]["status"] == "STOP"
    assert len(entry["history"]) >= 1
    sharing = second["catalog"]["sharing"]
    assert {"from": "DPMPTSP", "to": "Bapenda", "event_types": ["izin", "nib"]} in sharing


async def test_dashboard_and_its_assets_are_served(
    bus_settings: BusSettings, catalog: Catalog
) -> None:
    async with monitor_running(bus_settings, catalog, []) as base, httpx.AsyncClient() as http:
        page = await http.get(f"{base}/")
        script = await http.get(f"{base}/static/dashboard.js")
        style = await http.get(f"{base}/static/dashboard.css")
        missing = await http.get(f"{base}/static/../app.py")
    assert page.status_code == 200 and '<table id="groups">' in page.text
    assert script.status_code == 200 and "EventSource" in script.text
    assert style.status_code == 200
    assert missing.status_code == 404
