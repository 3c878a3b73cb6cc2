"""Shared test helpers; the real-service fixtures come from the `bus.testing.plugin` plugin."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Iterator

import pytest
import structlog

from bus.catalog import Catalog
from bus.config import BusSettings
from bus.logging import configure_logging
from bus.publish import Publisher
from bus.subscribe import Subscriber


@contextlib.asynccontextmanager
async def running(
    subscriber: Subscriber, deadline: float = 30.0, *, retries: bool = False
) -> AsyncIterator[Subscriber]:
    """Run `subscriber` in the background until the block ends; waits for its assignment (and,
    with `retries`, its retry topics' too). Fails if it stopped before the block ended."""
    await subscriber.start()
    task = asyncio.create_task(subscriber.run())
    try:
        await asyncio.wait_for(subscriber.assigned.wait(), deadline)
        if retries:
            await asyncio.wait_for(subscriber.retries_assigned.wait(), deadline)
        yield subscriber
        if task.done():  # only `stop()` ends `run()`, and the block did not call it
            task.result()  # the crash, with its own traceback
            raise AssertionError("the subscriber stopped before the block ended")
    finally:
        await subscriber.stop()
        await asyncio.wait_for(task, deadline)


@pytest.fixture
async def dpmptsp(bus_settings: BusSettings, catalog: Catalog) -> AsyncIterator[Publisher]:
    """A publisher for DPMPTSP's licensing system."""
    async with Publisher("dpmptsp.sicantik", catalog=catalog, settings=bus_settings) as publisher:
        yield publisher


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The bus's JSON log lines, written to a buffer instead of stderr."""
    configure_logging("json", "INFO")
    buffer = io.StringIO()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=buffer))
    try:
        yield buffer
    finally:
        configure_logging("console", "INFO")
