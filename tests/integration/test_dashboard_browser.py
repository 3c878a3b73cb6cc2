"""The dashboard in real headless Chromium: a stopped group shows STOP, updates arrive live.

Needs Debian's `chromium` (`make browser` installs it); Playwright drives it, and never
downloads a browser of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from bus.broker import clients
from bus.catalog import Catalog
from bus.config import BusSettings
from tests.integration.test_lag import consume_and_commit, create_topic, produce
from tests.integration.test_monitor import dead_letter, monitor_running

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
async def keeping_up(settings: BusSettings, topic: str, group: str) -> AsyncIterator[None]:
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
        yield
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
        monitor_running(settings, catalog, [stopped, healthy]) as base,
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
