"""HTTP pull on the real broker: at least once, per-key order, visibility timeout, only the
caller's own subscription and only its granted fields."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest

from bus.catalog import Catalog, Delivery, load_catalog
from bus.config import BusSettings
from bus.testing import assert_problem, start_group_at_end, wait_until
from bus.testing.ingress import ingress_server, new_key
from tests.integration.webhook_world import IZIN, licence, publish

pytestmark = pytest.mark.integration

SYSTEM = "dlhk.simlhk"


def pull_catalog(group: str, visibility_timeout_s: float) -> Catalog:
    """The project's catalog plus one pull delivery of licences to dlhk.simlhk."""
    base = load_catalog("schemas")
    delivery = Delivery(system=SYSTEM, event_type=IZIN, group=group, mode="pull")
    return base.with_deliveries([replace(delivery, visibility_timeout_s=visibility_timeout_s)])


async def test_pull_delivers_every_event_once_in_key_order_and_again_after_the_timeout(
    bus_settings: BusSettings, database: str, unique: str
) -> None:
    group = f"{SYSTEM}.pull-{unique}"
    catalog = pull_catalog(group, visibility_timeout_s=2.0)
    await start_group_at_end(bus_settings, group, [catalog.event_type(IZIN).topic])
    _, token = await new_key(database, SYSTEM)
    _, other = await new_key(database, "bapenda.sipd")
    events_url = f"/v1/subscriptions/{group}/events"
    async with (
        ingress_server(bus_settings, catalog, database) as url,
        httpx.AsyncClient(base_url=url, timeout=40) as client,
    ):
        mine = {"Authorization": f"Bearer {token}"}
        assert_problem(await client.get(events_url), 401, "/problems/unauthorized")
        refused = await client.get(events_url, headers={"Authorization": f"Bearer {other}"})
        assert_problem(refused, 403, "/problems/not-your-subscription")
        unknown = await client.get(f"/v1/subscriptions/{SYSTEM}.nope/events", headers=mine)
        assert_problem(unknown, 404, "/problems/unknown-subscription")
        no_cursor = await client.post(f"/v1/subscriptions/{group}/ack", json={}, headers=mine)
        assert_problem(no_cursor, 422, "/problems/invalid-data")

        items = [licence(f"503/PULL/{unique}/{k}", r) for r in range(3) for k in range(3)]
        ids = await publish(bus_settings, items)
        wanted = set(ids)

        # A batch fetched and not acknowledged comes back after the visibility timeout.
        first = (await client.get(events_url, params={"max": 100, "wait": 10}, headers=mine)).json()
        unacked = [e["id"] for e in first["events"] if e["id"] in wanted]
        assert unacked

        seen_again: set[str] = set()

        async def redelivered() -> bool:
            again = await client.get(events_url, params={"max": 100, "wait": 1}, headers=mine)
            seen_again.update(e["id"] for e in again.json()["events"])
            return set(unacked) <= seen_again

        await wait_until(redelivered, timeout=30, message="unacknowledged events delivered again")
        stale = await client.post(
            f"/v1/subscriptions/{group}/ack", json={"cursor": first["cursor"]}, headers=mine
        )
        assert_problem(stale, 409, "/problems/stale-cursor")

        # Fetch and acknowledge until every event arrived; nothing comes twice once acked.
        received: list[dict[str, Any]] = []
        batch: dict[str, Any] = {"events": [], "cursor": None}
        while True:
            received += [e for e in batch["events"] if e["id"] in wanted]
            if batch["cursor"]:
                acked = await client.post(
                    f"/v1/subscriptions/{group}/ack", json={"cursor": batch["cursor"]}, headers=mine
                )
                assert acked.status_code == 200, acked.text
            if {e["id"] for e in received} == wanted:
                break
            fetched = await client.get(events_url, params={"max": 4, "wait": 5}, headers=mine)
            batch = fetched.json()
            assert batch["events"] or batch["cursor"] is None
        assert sorted(e["id"] for e in received) == sorted(ids)
        by_key: dict[str, list[str]] = {}
        for event in received:
            by_key.setdefault(event["data"]["nomor_izin"], []).append(event["id"])
        expected: dict[str, list[str]] = {}
        for item, event_id in zip(items, ids, strict=True):
            expected.setdefault(item.nomor_izin, []).append(event_id)
        assert by_key == expected
        granted = catalog.granted_fields(SYSTEM, IZIN)
        assert all(set(e["data"]) == granted for e in received)
        assert "nama_pemohon" not in granted
        empty = await client.get(events_url, params={"wait": 0.5}, headers=mine)
        assert [e for e in empty.json()["events"] if e["id"] in wanted] == []
