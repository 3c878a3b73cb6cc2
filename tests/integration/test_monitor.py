"""`bus monitor` against a real broker: /metrics parsed as Prometheus text, live JSON over SSE."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from bus.broker.embedded import free_port
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.envelope import Envelope
from bus.errors import BusError
from bus.monitor import serve
from bus.publish import Publisher
from bus.reliability.naming import dlq_topic, retry_topic
from bus.subscribe import Subscriber
from bus.testing import wait_until
from bus.testing.monitor import monitor_server
from bus.testing.subscribers import running
from bus.testing.topics import consume_and_commit, create_topic, dead_letter, produce
from schemas.dpmptsp import IzinTerbit

pytestmark = pytest.mark.integration

IZIN = "id.go.riau.dpmptsp.izin.terbit"


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

    izin_topic = catalog.event_type(IZIN).topic
    # The counter is the process's: other tests published before this one.
    published_before = (
        REGISTRY.get_sample_value(
            "bus_events_published_total",
            {"system": "dpmptsp.sicantik", "event_type": IZIN, "topic": izin_topic},
        )
        or 0.0
    )
    async with running(subscriber):
        delivery = await dpmptsp.publish(catalog.event_type(IZIN).example, event_type=IZIN)
        await wait_until(lambda: delivery.event_id in handled, message="the event was handled")

    async with monitor_server(bus_settings, catalog, [group]) as base, httpx.AsyncClient() as http:

        async def scanned() -> bool:
            # A scan that saw the group, its dead letter, and the age of its oldest unconsumed
            # event (a scan right after the topics were made may not read that time yet).
            state = (await http.get(f"{base}/api/state")).json()
            return any(
                g["group"] == group and g["lag_seconds"] > 0 for g in state["groups"]
            ) and bool(state["dead_letters"]["topics"])

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

    published = (
        "bus_events_published_total",
        (("event_type", IZIN), ("system", "dpmptsp.sicantik"), ("topic", izin_topic)),
    )
    assert found[published] == published_before + 1
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
        monitor_server(bus_settings, catalog, [group]) as base,
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
    (earlier,) = [g for g in first["groups"] if g["group"] == group]
    (entry,) = [g for g in second["groups"] if g["group"] == group]
    assert entry["lag"] == 3
    # The group read and left while 3 events wait: STOP, as `bus lag` says.
    assert entry["status"] == "STOP"
    assert entry["partitions"][0]["status"] == "STOP"
    assert len(entry["history"]) == len(earlier["history"]) + 1  # one sample per scan
    sharing = second["catalog"]["sharing"]
    assert {"from": "DPMPTSP", "to": "Bapenda", "event_types": ["izin", "nib"]} in sharing


async def test_dashboard_and_its_assets_are_served(
    bus_settings: BusSettings, catalog: Catalog
) -> None:
    async with monitor_server(bus_settings, catalog, []) as base, httpx.AsyncClient() as http:
        page = await http.get(f"{base}/")
        script = await http.get(f"{base}/static/dashboard.js")
        style = await http.get(f"{base}/static/dashboard.css")
        missing = await http.get(f"{base}/static/../app.py")
    assert page.status_code == 200 and '<table id="groups">' in page.text
    assert script.status_code == 200 and "EventSource" in script.text
    assert style.status_code == 200
    assert missing.status_code == 404


TOKEN = "monitor-token-for-tests-only"
NIK = "1471010101900001"


async def test_the_monitor_needs_its_token_and_answers_only_its_own_host_names(
    bus_settings: BusSettings, catalog: Catalog, database: str, unique: str
) -> None:
    group = f"mon-auth-{unique}"
    await create_topic(bus_settings, dlq_topic(group), 1)
    # A message that quotes the data that failed: it must not reach any page.
    await dead_letter(
        bus_settings, group, f"evt-{unique}", "t", f"duplicate key (nik)=({NIK}) already exists"
    )
    settings = bus_settings.model_copy(
        update={"monitor_token": SecretStr(TOKEN), "database_dsn": database}
    )
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    async with monitor_server(settings, catalog, [group]) as base, httpx.AsyncClient() as http:
        port = base.rsplit(":", 1)[1]
        guarded = [
            "/",
            "/static/dashboard.js",
            "/metrics",
            "/api/state",
            "/api/events",
            f"/api/dead-letters/{group}",
        ]
        for path in guarded:
            refused = await http.get(f"{base}{path}")
            assert refused.status_code == 401, path
            assert refused.headers["www-authenticate"].startswith('Basic realm="OPD Bus monitor"')
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["status"] == 401
        for wrong in ({"Authorization": "Bearer nope"}, {"Authorization": "Basic !!!"}):
            assert (await http.get(f"{base}/api/state", headers=wrong)).status_code == 401
        assert (await http.get(f"{base}/api/state", auth=("rina", "nope"))).status_code == 401
        assert (await http.get(f"{base}/healthz")).status_code == 200

        assert (await http.get(f"{base}/", headers=bearer)).status_code == 200
        assert (await http.get(f"{base}/metrics", auth=("prometheus", TOKEN))).status_code == 200
        state = await http.get(f"{base}/api/state", auth=("rina", TOKEN))
        assert state.status_code == 200
        assert state.json()["viewer"] == {
            "operator": "rina",
            "can_replay": True,
            "replay_hint": None,
        }

        # DNS rebinding: the right token but someone else's host name.
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example"):
            for path in ("/", "/api/state", "/healthz"):
                misdirected = await http.get(f"{base}{path}", headers={**bearer, "Host": host})
                assert misdirected.status_code == 421, (host, path)
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost"):
            answered = await http.get(f"{base}/api/state", headers={**bearer, "Host": host})
            assert answered.status_code == 200, host

        # Writes: only from this page's origin, only as JSON, only valid requests.
        replay = f"{base}/api/dead-letters/replay"
        body = {"group": group, "positions": [f"{dlq_topic(group)}:0:0"]}
        cross_site = await http.post(
            replay, json=body, headers={**bearer, "Origin": "http://evil.example"}
        )
        assert cross_site.status_code == 403
        form = await http.post(replay, content=b"group=x", headers=bearer)
        assert form.status_code == 415
        invalid = await http.post(replay, json={"group": "", "positions": []}, headers=bearer)
        assert invalid.status_code == 422
        assert [e["path"] for e in invalid.json()["errors"]] == ["group", "positions"]
        foreign = await http.post(
            replay, json={"group": group, "positions": ["bus.dlq.other:0:0"]}, headers=bearer
        )
        assert foreign.status_code == 409
        assert "is not a dead letter of group" in foreign.json()["detail"]

        # Error classes only: the message quoting a NIK is on no page.
        await wait_until(
            lambda: _has_recent(http, base, bearer, f"evt-{unique}"),
            timeout=20,
            message="the dead letter was scanned",
        )
        listing = await http.get(f"{base}/api/dead-letters/{group}", headers=bearer)
        (letter,) = listing.json()["dead_letters"]
        assert letter["error_class"] == "ConnectionRefusedError"
        for page in (listing, await http.get(f"{base}/api/state", headers=bearer)):
            assert NIK not in page.text
            assert "error_message" not in page.text

        no_retry_topic = await http.post(replay, json=body, headers=bearer)
        assert no_retry_topic.status_code == 409
        assert no_retry_topic.json()["detail"].startswith(
            f"{retry_topic(group, 1)} does not exist: the group's subscriber creates"
        )
        await create_topic(bus_settings, retry_topic(group, 1), 1)
        done = await http.post(replay, json=body, headers={**bearer, "Origin": base})
        assert done.status_code == 200
        assert done.json()["audit"]["operator"] == "token"
        assert done.json()["audit"]["event_ids"] == [f"evt-{unique}"]


async def _has_recent(
    http: httpx.AsyncClient, base: str, headers: dict[str, str], id_: str
) -> bool:
    state = (await http.get(f"{base}/api/state", headers=headers)).json()
    return any(d["event_id"] == id_ for d in state["dead_letters"]["recent"])


async def test_without_a_token_the_monitor_is_read_only_and_replay_asks_for_a_sign_in(
    bus_settings: BusSettings, catalog: Catalog
) -> None:
    async with monitor_server(bus_settings, catalog, []) as base, httpx.AsyncClient() as http:
        assert (await http.get(f"{base}/api/state")).json()["viewer"]["can_replay"] is False
        refused = await http.post(
            f"{base}/api/dead-letters/replay", json={"group": "g", "positions": ["bus.dlq.g:0:0"]}
        )
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "replaying needs a sign-in: start the monitor with BUS_MONITOR_TOKEN"
    )


async def test_a_monitor_without_a_token_off_loopback_refuses_to_start(
    bus_settings: BusSettings, catalog: Catalog
) -> None:
    stop = asyncio.Event()
    for settings, host in (
        (bus_settings, "127.0.0.1"),  # no dev mode
        (bus_settings.model_copy(update={"monitor_open_on_loopback": True}), "0.0.0.0"),
    ):
        with pytest.raises(BusError, match="the monitor needs a token: set BUS_MONITOR_TOKEN"):
            await serve(settings, catalog, stop, host=host, port=free_port())


async def test_an_unreachable_database_is_one_clear_error_at_start(
    bus_settings: BusSettings, catalog: Catalog
) -> None:
    settings = bus_settings.model_copy(
        update={
            "monitor_token": SecretStr(TOKEN),
            "database_dsn": f"postgresql://bus@127.0.0.1:{free_port()}/bus",
        }
    )
    with pytest.raises(BusError) as refused:
        await serve(settings, catalog, asyncio.Event(), host="127.0.0.1", port=free_port())
    assert str(refused.value) == (
        "the monitor cannot use the bus database (BUS_DATABASE_DSN): ConnectionRefusedError"
    )
