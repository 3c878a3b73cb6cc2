"""`bus ingress` as a real process: serves on BUS_INGRESS_PORT, publishes, stops on SIGTERM."""

from __future__ import annotations

import httpx
import pytest

from bus.catalog import Catalog
from bus.config import BusSettings
from bus.testing.ingress import ingress_process, new_key
from tests.integration.ingress_world import IZIN

pytestmark = pytest.mark.integration


async def test_bus_ingress_serves_until_sigterm(
    database: str, bus_settings: BusSettings, catalog: Catalog
) -> None:
    _, token = await new_key(database, "dpmptsp.sicantik")
    async with (
        ingress_process(bus_settings, database) as ingress,
        httpx.AsyncClient(base_url=ingress.url, timeout=30) as http,
    ):
        response = await http.post(
            f"/v1/events/{IZIN}",
            json=catalog.event_type(IZIN).example,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 202, response.text
    assert ingress.returncode == 0
    logs = ingress.stderr
    assert response.json()["id"] in logs  # the request log names the event id
    assert "Siti Aminah" not in logs  # and never the data
