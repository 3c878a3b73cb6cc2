"""Fixtures of this project's tests; real services and test helpers come from `bus.testing`."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator

import pytest
import structlog

from bus.catalog import Catalog
from bus.config import BusSettings
from bus.logging import configure_logging
from bus.publish import Publisher


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
