"""The dashboard in real headless Chromium: a stopped group shows STOP, updates arrive live.

Needs Debian's `chromium` (`make browser` installs it); Playwright drives it, and never
downloads a browser of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from playwright.async_api import Browser, Route, async_playwright
from pydantic import SecretStr

from bus.broker import clients
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.dlq import read_dead_letters
from bus.monitor.snapshot import state_document
from bus.reliability.naming import dlq_topic, retry_topic
from bus.testing.ingress import ingress_server, new_key
from bus.testing.monitor import monitor_server
from bus.testing.offsets import start_group_at_end
from bus.testing.services import KafkaService
from bus.testing.topics import consume_and_commit, create_topic, dead_letter, produce
from bus.tracking import webhook_endpoints
from tests.integration.ingress_world import IZIN

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"


def screenshot_path(tmp_path: Path) -> Path:
    """Where the screenshot goes: docs/ only when asked, so a test run leaves the tree clean."""
    return (
        DOCS_SCREENSHOT
        if os.environ.get("BUS_UPDATE_SCREENSHOTS") == "1"
        else tmp_path / "dashboard.png"
    )


@contextlib.asynccontextmanager
async def keeping_up(
    settings: BusSettings, topic: str, group: str
) -> AsyncIterator[AIOKafkaConsumer]:
    """A live member of `group` consuming `topic` and committing after every batch."""
    consumer = clients.consumer(settings, topic, group_id=group)
    await consumer.start()
    caught_up = asyncio.Event()

    async def consume() -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=100)
            if batch:
                await consumer.commit()
            elif consumer.assignment():
                caught_up.set()

    task = asyncio.create_task(consume())
    try:
        await asyncio.wait_for(caught_up.wait(), 30)
        yield consumer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield browser
        finally:
            await browser.close()


async def test_a_stopped_group_is_shown_as_stop_and_the_page_updates_live(
    bus_settings: BusSettings, catalog: Catalog, browser: Browser, unique: str, tmp_path: Path
) -> None:
    topic = f"izin.mirror.{unique}"
    stopped, healthy = f"dlhk.simlhk.{unique}", f"bapenda.sipd.{unique}"
    await create_topic(bus_settings, topic, 2)
    await produce(bus_settings, topic, [6, 4])
    # The stopped group read a little and left (no members): nobody commits while events wait.
    await consume_and_commit(bus_settings, topic, stopped, [2, 1])
    await create_topic(bus_settings, f"bus.dlq.{healthy}", 1)
    await dead_letter(bus_settings, healthy, f"evt-{unique}", topic)

    # STOP after 1 s without a commit (and longer than the window's span) instead of 60 s.
    settings = bus_settings.model_copy(update={"lag_stop_after_s": 1.0})
    async with (
        keeping_up(bus_settings, topic, healthy),
        monitor_server(settings, catalog, [stopped, healthy]) as base,
    ):
        page = await browser.new_page(viewport={"width": 1360, "height": 900})
        await page.goto(base)

        row = page.locator(f'tr[data-group="{stopped}"]')
        await row.and_(page.locator('[data-status="STOP"]')).wait_for(timeout=20_000)
        assert await row.locator(".status").inner_text() == "STOP"
        assert await row.locator(".lag").inner_text() == "7"
        ok_row = page.locator(f'tr[data-group="{healthy}"]')
        assert await ok_row.locator(".status").inner_text() == "OK"
        assert await ok_row.locator(".lag").inner_text() == "0"
        assert await page.locator(f'tr[data-dlq-group="{healthy}"]').count() == 1
        assert await page.locator("#sharing-map .node").count() == len(
            {s.opd for s in catalog.systems}
        )

        # Live: the scan sequence moves on with no reload of the page.
        taken = page.locator("#taken-at")
        before = int(await taken.get_attribute("data-sequence") or 0)
        await page.wait_for_function(
            f"Number(document.querySelector('#taken-at').dataset.sequence) > {before + 2}",
            timeout=20_000,
        )
        assert page.url.rstrip("/") == base
        assert await page.evaluate("performance.getEntriesByType('navigation').length") == 1

        # Events keep arriving for the stopped group: its lag trend climbs, still live.
        for _ in range(3):
            await produce(bus_settings, topic, [1, 0])
            before = int(await taken.get_attribute("data-sequence") or 0)
            await page.wait_for_function(
                f"Number(document.querySelector('#taken-at').dataset.sequence) > {before + 1}",
                timeout=20_000,
            )
        assert await row.locator(".lag").inner_text() == "10"
        assert await row.locator(".status").inner_text() == "STOP"
        await page.wait_for_function(
            f"document.querySelector('tr[data-group=\"{healthy}\"] .lag').textContent === '0'",
            timeout=20_000,
        )
        assert await ok_row.locator(".status").inner_text() == "OK"

        screenshot = screenshot_path(tmp_path)
        await page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.read_bytes().startswith(b"\x89PNG")
    assert screenshot.stat().st_size > 10_000


DOCS = Path(__file__).resolve().parents[2] / "docs"
TOKEN = "monitor-token-for-tests-only"
LABEL_OVERLAPS = """() => {
  const boxes = [...document.querySelectorAll('#sharing-map .link-label, #sharing-map .node')]
    .map((node) => [node.getAttribute('data-link') || node.getAttribute('data-opd'),
                    node.getBoundingClientRect()]);
  const clashes = [];
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const [a, p] = boxes[i], [b, q] = boxes[j];
    if (p.left < q.right && q.left < p.right && p.top < q.bottom && q.top < p.bottom) {
      clashes.push(`${a} / ${b}`);
    }
  }
  return clashes;
}"""


def story_shot(tmp_path: Path, name: str) -> Path:
    """docs/dashboard-<name>.png when BUS_UPDATE_SCREENSHOTS=1, else a scratch file."""
    if os.environ.get("BUS_UPDATE_SCREENSHOTS") == "1":
        return DOCS / f"dashboard-{name}.png"
    return tmp_path / f"dashboard-{name}.png"


async def count_answers(http: httpx.AsyncClient, url: str, key: str, catalog: Catalog) -> None:
    """Three accepted events, two refused as invalid, one refused for a made-up key."""
    example = catalog.event_type(IZIN).example
    for n in range(3):
        answer = await http.post(
            f"{url}/v1/events/{IZIN}",
            json={**example, "nomor_izin": f"503/DPMPTSP/{n}"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert answer.status_code == 202, answer.text
    for _ in range(2):
        answer = await http.post(
            f"{url}/v1/events/{IZIN}", json={}, headers={"Authorization": f"Bearer {key}"}
        )
        assert answer.status_code == 422
    answer = await http.post(
        f"{url}/v1/events/{IZIN}", json=example, headers={"Authorization": "Bearer made-up"}
    )
    assert answer.status_code == 401


async def test_an_operator_finds_a_stalled_group_and_replays_its_dead_letters(  # noqa: PLR0917 - fixtures
    bus_settings: BusSettings,
    catalog: Catalog,
    browser: Browser,
    database: str,
    kafka: KafkaService,
    unique: str,
    tmp_path: Path,
) -> None:
    izin_topic = catalog.event_type(IZIN).topic
    scratch, stalled = f"izin.stalled.{unique}", f"dlhk.simlhk.{unique}"
    reader = f"bapenda.sipd.{unique}"
    await create_topic(bus_settings, scratch, 1)
    await produce(bus_settings, scratch, [5])
    await consume_and_commit(bus_settings, scratch, stalled, [2])  # then it stopped
    await create_topic(bus_settings, dlq_topic(stalled), 1)
    letters = [f"evt-{unique}-{n}" for n in range(3)]
    for event_id in letters:
        await dead_letter(bus_settings, stalled, event_id, scratch)
    await start_group_at_end(bus_settings, reader, [izin_topic])
    _, key = await new_key(database, "dpmptsp.sicantik")

    settings = bus_settings.model_copy(update={"lag_stop_after_s": 1.0, "database_dsn": database})
    async with (
        ingress_server(bus_settings, catalog, database) as ingress_url,
        keeping_up(bus_settings, izin_topic, reader) as member,
    ):
        watched = settings.model_copy(
            update={
                "monitor_token": SecretStr(TOKEN),
                "monitor_ingress_urls": [ingress_url],
            }
        )
        async with (
            monitor_server(watched, catalog, [stalled, reader]) as base,
            httpx.AsyncClient(timeout=20) as http,
        ):
            context = await browser.new_context(
                viewport={"width": 1360, "height": 900},
                http_credentials={"username": "rina", "password": TOKEN},
            )
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(base)
            assert await page.locator("#operator").inner_text() == "signed in as rina"

            # The scan saw the ingress and the reading group before anything below happened.
            await page.locator('#ingress-classes [data-class="2xx"]').wait_for(timeout=20_000)
            await page.locator(f'#throughput [data-consumer="{reader}"]').wait_for(timeout=20_000)
            await count_answers(http, ingress_url, key, catalog)

            # Ingress answers by status class, read from the ingress's own /metrics.
            ok = page.locator('#ingress-classes [data-class="2xx"] .value')
            await page.wait_for_function(
                "document.querySelector('#ingress-classes [data-class=\"4xx\"] .value')"
                ".textContent === '3'",
                timeout=20_000,
            )
            assert await ok.inner_text() == "3"
            assert (
                await page.locator('#ingress-classes [data-class="5xx"] .value').inner_text() == "0"
            )

            # Publish and consume rates of the event type, from the broker's offsets.
            row = page.locator(f'#throughput tr[data-event-type="{IZIN}"]')
            consumer = row.locator(f'[data-consumer="{reader}"]')
            await page.wait_for_function(
                f"document.querySelector('#throughput [data-consumer=\"{reader}\"]')"
                f".textContent.startsWith('{reader}: 3 ')",
                timeout=20_000,
            )
            assert await row.locator(".published").inner_text() == "3"
            assert "/min" in await consumer.inner_text()

            # The publisher's health: its newest event and its refused share at the ingress.
            publisher = page.locator('#publishers tr[data-system="dpmptsp.sicantik"]')
            assert (await publisher.locator(".last-event").inner_text()).endswith(" ago")
            assert await publisher.locator(".published").inner_text() == "3"
            assert await publisher.locator(".refused").inner_text() == "2"
            assert await publisher.locator(".error-rate").inner_text() == "40 %"

            # Real member ids and hosts.
            reading = page.locator(f'tr[data-group="{reader}"]')
            member_id = member._coordinator.member_id
            shown = reading.locator(f'.member[data-member-id="{member_id}"]')
            assert await shown.locator(".member-id").inner_text() == member_id
            where = await shown.locator(".member-where").inner_text()
            if kafka.is_tansu:  # Tansu reports no client id, host or assignment
                assert where == "no client id on host not reported"
            else:
                assert where.startswith(f"{member._client._client_id} on /127.0.0.1 · ")

            # Webhook endpoints: a real empty state, then the state an adapter reports.
            assert (
                await page.locator("#webhooks-empty").inner_text()
                == "No webhook endpoints: no subscription delivers by webhook yet."
            )
            await report_webhook(database, reader)
            endpoint = page.locator(f'#webhooks tr[data-endpoint="{reader}.webhook"]')
            await endpoint.wait_for(timeout=20_000)
            assert await endpoint.locator(".badge").inner_text() == "circuit open"
            assert await page.locator("#webhooks-empty").is_hidden()

            # The sharing map's labels touch neither each other nor the nodes.
            assert await page.evaluate(LABEL_OVERLAPS) == []

            # 1. The stalled group stands out.
            stalled_row = page.locator(f'tr[data-group="{stalled}"]')
            await stalled_row.and_(page.locator('[data-status="STOP"]')).wait_for(timeout=20_000)
            await page.screenshot(path=str(story_shot(tmp_path, "1-stalled-group")))

            # 2. Its dead letters, three of them.
            await page.locator(f'button[data-show-group="{stalled}"]').click()
            chosen = page.locator("#group-letters-table tbody tr")
            await chosen.nth(2).wait_for()
            assert await chosen.count() == 3
            await chosen.nth(0).locator("input").check()
            await chosen.nth(1).locator("input").check()
            assert await page.locator("#replay-selected").inner_text() == "Replay selected (2)"
            await page.locator("#dead-letters").screenshot(
                path=str(story_shot(tmp_path, "2-dead-letters"))
            )

            # A cancelled confirmation replays nothing.
            await page.locator("#replay-selected").click()
            await page.locator("#replay-cancel").click()
            assert await page.locator("#replay-result").is_hidden()

            # A replay that cannot be sent says why, and leaves no audit row.
            await page.locator("#replay-selected").click()
            await page.locator("#replay-confirm").click()
            failed = page.locator("#replay-result.failed")
            await failed.wait_for()
            assert (await failed.inner_text()).startswith(
                f"Nothing replayed: {retry_topic(stalled, 1)} does not exist: "
            )
            await create_topic(bus_settings, retry_topic(stalled, 1), 1)

            # 3. Confirm, 4. replayed and recorded.
            await page.locator("#replay-selected").click()
            question = page.locator("#replay-question")
            assert await question.inner_text() == (
                f"Replay 2 dead letters of {stalled} to {retry_topic(stalled, 1)}?"
            )
            await page.screenshot(path=str(story_shot(tmp_path, "3-confirm")))
            await page.locator("#replay-confirm").click()
            result = page.locator("#replay-result:not(.failed)")
            await result.wait_for()
            assert (await result.inner_text()).startswith(
                f"2 dead letters of {stalled} replayed to {retry_topic(stalled, 1)}, "
                "recorded as rina at "
            )
            replay_row = page.locator("#replays tbody tr").first
            assert await replay_row.locator(".who").inner_text() == "rina"
            # The group's list says which were replayed, by whom and when (UTC).
            marked = chosen.locator(".replayed")
            await marked.nth(1).wait_for()
            assert await marked.count() == 2
            assert re.fullmatch(
                r"by rina, \d\d:\d\d:\d\d UTC",
                await marked.first.inner_text(),
            )
            await page.locator("#dead-letters").screenshot(
                path=str(story_shot(tmp_path, "4-replayed"))
            )

            # One more, from its own row.
            await chosen.nth(2).locator(".replay-one").click()
            await page.locator("#replay-confirm").click()
            await page.wait_for_function(
                "document.querySelector('#replay-result').textContent.startsWith('1 dead letter ')"
            )
            assert errors == []
            await context.close()

    replayed = await read_dead_letters(bus_settings, [retry_topic(stalled, 1)])
    assert sorted(r.event_id for r in replayed) == sorted(letters)
    assert len(replayed) == 3
    conn = await asyncpg.connect(database)
    try:
        rows = await conn.fetch(
            "SELECT operator, consumer_group, positions, event_ids, replayed_at "
            "FROM bus_monitor_replays ORDER BY id"
        )
    finally:
        await conn.close()
    assert [(r["operator"], r["consumer_group"], len(r["positions"])) for r in rows] == [
        ("rina", stalled, 2),
        ("rina", stalled, 1),
    ]
    assert sorted(e for r in rows for e in r["event_ids"]) == sorted(letters)
    assert all(r["replayed_at"] is not None for r in rows)
    shots = [story_shot(tmp_path, n) for n in ("1-stalled-group", "2-dead-letters", "3-confirm")]
    assert all(shot.read_bytes().startswith(b"\x89PNG") for shot in shots)


async def report_webhook(database: str, group: str) -> None:
    """An endpoint state as the webhook adapter reports it."""
    conn = await asyncpg.connect(database)
    try:
        await webhook_endpoints.ensure_schema(conn)
        await webhook_endpoints.report_endpoint(
            conn,
            webhook_endpoints.EndpointState(
                endpoint=f"{group}.webhook",
                group=group,
                system="bapenda.sipd",
                state="open",
                consecutive_failures=5,
                last_status=503,
                last_error_class="HTTPStatusError",
            ),
        )
    finally:
        await conn.close()


async def test_empty_states_say_so_in_text_and_the_first_render_leaves_connecting(
    bus_settings: BusSettings, catalog: Catalog, browser: Browser
) -> None:
    empty = {
        **state_document(None, catalog),
        "viewer": {"operator": None, "can_replay": False, "replay_hint": "sign in"},
        "webhooks": [],
        "replays": [],
        "throughput": {"window_s": 300, "event_types": []},
    }
    async with monitor_server(bus_settings, catalog, []) as base:
        page = await browser.new_page(viewport={"width": 1360, "height": 900})

        async def empty_state(route: Route) -> None:
            await route.fulfill(json=empty)

        async def no_stream(route: Route) -> None:
            await route.fulfill(status=204)

        await page.route("**/api/state", empty_state)
        await page.route("**/api/events", no_stream)
        await page.goto(base)
        await page.wait_for_function(
            "document.querySelector('#connection-text').textContent !== 'connecting…'"
        )
        assert await page.locator("#taken-at").inner_text() == "waiting for the first scan"
        expected = {
            "#groups-empty": "No consumer group has committed yet.",
            "#dlq-empty": "No dead letters: every event was delivered or is still being retried.",
            "#dlq-recent-empty": "No dead letter has arrived since the monitor started.",
            "#replays-empty": "No replay yet.",
            "#webhooks-empty": "No webhook endpoints: no subscription delivers by webhook yet.",
            "#ingress-empty": (
                "No ingress to read: set BUS_MONITOR_INGRESS_URLS to the ingress base URLs."
            ),
            "#throughput-empty": "The catalog has no event types.",
        }
        for selector, text in expected.items():
            assert await page.locator(selector).is_visible(), selector
            assert (await page.locator(selector).inner_text()).strip() == text
        for table in ("#groups", "#dlq-topics", "#dlq-recent", "#replays", "#webhooks"):
            assert await page.locator(table).is_hidden(), table
        # Text and an SVG tick, no emoji that a machine without an emoji font draws as a box.
        assert await page.locator("#dlq-empty svg.tick").count() == 1
        text = await page.locator("body").inner_text()
        assert not re.search(r"[\U0001F300-\U0001FAFF\u2600-\u27BF]", text)
