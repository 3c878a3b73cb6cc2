"""Integration tests share one broker; the catalog's topics are created once for all of them."""

from __future__ import annotations

import pytest

from bus.catalog import Catalog
from bus.config import BusSettings


@pytest.fixture(scope="session", autouse=True)
async def catalog_topics(bus_settings: BusSettings, catalog: Catalog) -> None:
    """Create the catalog's topics once per session, as `bus dev` and `bus topics apply` do.

    Autouse here, not in tests/conftest.py, so unit tests run without starting a broker.
    """
    from bus.broker.topics import ensure_topics

    await ensure_topics(catalog.event_types, bus_settings)
