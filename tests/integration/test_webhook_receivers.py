"""The webhook adapter against receivers nobody here wrote: PHP (hash_hmac) and Node
(standardwebhooks), on the real broker, with every answer a receiver can give.

Each test publishes a few revisions of a few licences (keys), counts the 2xx answers per event
id in the receiver's own log, and checks that every key's events were accepted in the order
they were published.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest

from adapters.webhook import Signer
from bus.config import BusSettings
from bus.errors import BusError
from bus.monitor.snapshot import state_document
from bus.monitor.watch import LagMonitor
from bus.testing import start_group_at_end, wait_until
from bus.testing.cli import run_bus
from bus.testing.ingress import ingress_server, new_key
from bus.tracking.attempts import attempt_summaries
from tests.integration.webhook_world import (
    IZIN,
    Receiver,
    WebhookWorld,
    attempts,
    fetch_value,
    licence,
    publish,
    running_webhook,
)

pytestmark = pytest.mark.integration

KINDS = ["php", "node"]
#: How long the receiver is down in `test_receiver_down_loses_nothing`: the issue's minute
#: (BUS_TEST_RECEIVER_DOWN_S shortens it while working on the test).
DOWN_S = float(os.environ.get("BUS_TEST_RECEIVER_DOWN_S", "60"))


def revisions(prefix: str, keys: int, each: int) -> list:
    """`each` revisions of `keys` licences, interleaved: k0 r0, k1 r0, …, k0 r1, …"""
    return [licence(f"{prefix}/{k}", r) for r in range(each) for k in range(keys)]


def assert_once_in_order(hook: Receiver, ids: list[str], published: list) -> None:
    """Every event accepted exactly once, and each key's events accepted in publish order."""
    accepted = hook.accepted(ids)
    assert {i: accepted[i] for i in ids} == dict.fromkeys(ids, 1)
    order: dict[str, list[str]] = {}
    for key, event_id in hook.accepted_keys_in_order(ids):
        order.setdefault(key, []).append(event_id)
    expected: dict[str, list[str]] = {}
    for item, event_id in zip(published, ids, strict=True):
        expected.setdefault(item.nomor_izin, []).append(event_id)
    assert order == expected


async def delivered(hook: Receiver, ids: list[str]) -> bool:
    return set(hook.accepted(ids)) == set(ids)


@pytest.fixture
def world(
    tmp_path: Path,
    bus_settings: BusSettings,
    database: str,
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
) -> WebhookWorld:
    return WebhookWorld(bus_settings, database, unique, tmp_path, monkeypatch)


@pytest.mark.parametrize("kind", KINDS)
async def test_500_then_200_delivers_once_in_key_order_and_tampering_is_rejected(
    kind: str, world: WebhookWorld
) -> None:
    group = world.group
    async with world.receiver(kind) as hook:
        hook.plan([{"status": 500}, {"status": 500}])
        catalog = world.catalog(hook)
        async with running_webhook(world.settings, catalog, group, world.database):
            # One event alone first, so that both 500s are its answers.
            first_item = licence(f"503/WH/{world.unique}/first", 0)
            positions: dict[str, tuple[str, int, int]] = {}
            [first] = await publish(world.settings, [first_item], positions)
            await wait_until(lambda: delivered(hook, [first]), timeout=60, message="first")
            items = [first_item, *revisions(f"503/WH/{world.unique}", keys=3, each=3)]
            ids = [first, *await publish(world.settings, items[1:])]
            await wait_until(lambda: delivered(hook, ids), timeout=60, message="all accepted")
        assert_once_in_order(hook, ids, items)
        log = [e for e in hook.log() if e["id"] in set(ids)]
        assert [(e["id"], e["status"]) for e in log[:3]] == [
            (first, 500),
            (first, 500),
            (first, 200),
        ]
        assert all(e["verified"] for e in log)
        # Only what bapenda.sipd's agreement grants: never the applicant's name (personal).
        granted = set(catalog.granted_fields("bapenda.sipd", "id.go.riau.dpmptsp.izin.terbit"))
        assert all(set(e["fields"]) == granted for e in log)
        assert "nama_pemohon" not in granted
        # The event that got the two 500s was delivered on its third attempt, per the log.
        rows = await attempts(world.database, group, first)
        assert [r["status"] for r in rows] == [500, 500, 200]
        assert all(r["next_try_at"] is not None for r in rows[:2])
        conn = await __import__("asyncpg").connect(world.database)
        try:
            summary = (await attempt_summaries(conn, first))[group]
        finally:
            await conn.close()
        assert summary.startswith("delivered on attempt 3 at ")
        # `bus trace` says the same, from the attempt log in the bus database.
        topic, partition, offset = positions[first]
        traced = await run_bus(
            world.settings, "trace", first, "--topic", topic, "--partition", str(partition),
            "--offset", str(offset), "--group", group, "--json", database_dsn=world.database,
        )  # fmt: skip
        assert traced.returncode == 0, traced.stderr
        by_group = {d["group"]: d for d in json.loads(traced.stdout)["deliveries"]}
        assert by_group[group]["state"] == "delivered"
        assert by_group[group]["detail"].startswith("delivered on attempt 3 at ")
        # A tampered delivery is refused by the receiver's own verifier.
        body = b'{"nomor_izin": "503/TAMPERED"}'
        headers = Signer.from_secrets(hook.secret).headers("tampered-1", body)
        async with httpx.AsyncClient() as client:
            genuine = await client.post(hook.url, content=body, headers=headers)
            forged = await client.post(
                hook.url, content=body.replace(b"503", b"999"), headers=headers
            )
        assert (genuine.status_code, forged.status_code) == (200, 401)


@pytest.mark.parametrize("kind", KINDS)
async def test_429_waits_for_retry_after(kind: str, world: WebhookWorld) -> None:
    group = world.group
    async with world.receiver(kind) as hook:
        hook.plan([{"status": 429, "retry_after": 2}])
        catalog = world.catalog(hook)
        async with running_webhook(world.settings, catalog, group, world.database):
            items = revisions(f"503/WH/{world.unique}", keys=2, each=2)
            ids = await publish(world.settings, items)
            await wait_until(lambda: delivered(hook, ids), timeout=60, message="all accepted")
        assert_once_in_order(hook, ids, items)
        limited = next(e for e in hook.log() if e["status"] == 429)
        # While its key waits, the other key goes on: both its events are in before the retry.
        log = [e for e in hook.log() if e["id"] in set(ids)]
        retried_at = next(
            i for i, e in enumerate(log) if e["id"] == limited["id"] and e["status"] == 200
        )
        others = [i for i, e in enumerate(log) if e["key"] != limited["key"] and e["status"] == 200]
        assert len(others) == 2
        assert max(others) < retried_at
        rows = await attempts(world.database, group, limited["id"])
        assert [r["status"] for r in rows] == [429, 200]
        # Retry-After: 2 was honoured, although the first retry topic waits only 0.3 s.
        assert (rows[1]["at"] - rows[0]["at"]).total_seconds() >= 2.0


@pytest.mark.parametrize("kind", KINDS)
async def test_a_hanging_receiver_times_out_and_is_retried(kind: str, world: WebhookWorld) -> None:
    group = world.group
    async with world.receiver(kind) as hook:
        hook.plan([{"hang": 10}])
        catalog = world.catalog(hook)
        # The receiver hangs 10 s; a 1 s read timeout (15 s by default) gives the same
        # behaviour, a timed-out attempt retried later, without waiting the 10 s out.
        async with running_webhook(
            world.settings, catalog, group, world.database, read_timeout_s="1"
        ):
            items = revisions(f"503/WH/{world.unique}", keys=2, each=2)
            ids = await publish(world.settings, items)
            await wait_until(lambda: delivered(hook, ids), timeout=60, message="all accepted")
        assert_once_in_order(hook, ids, items)
        hung = next(e["id"] for e in hook.log() if e["status"] == "hang")
        rows = await attempts(world.database, group, hung)
        assert [r["status"] for r in rows] == [None, 200]
        assert rows[0]["outcome"].startswith("timeout")


@pytest.mark.parametrize("kind", KINDS)
async def test_410_disables_the_endpoint(kind: str, world: WebhookWorld) -> None:
    group = world.group
    async with world.receiver(kind) as hook:
        hook.plan([{"status": 410}])
        catalog = world.catalog(hook)
        async with running_webhook(world.settings, catalog, group, world.database) as subscriber:
            dead = (
                "SELECT count(*) FROM bus_http_deliveries WHERE consumer_group = $1 "
                "AND event_id = ANY($2) AND state = 'dead-lettered'"
            )

            async def all_dead(ids: list[str]) -> bool:
                return await fetch_value(world.database, dead, group, ids) == len(ids)

            # The first event alone gets the 410; the ones after it are never sent.
            first = await publish(world.settings, [licence(f"503/WH/{world.unique}/gone", 0)])
            await wait_until(lambda: all_dead(first), timeout=60, message="410 recorded")
            later = await publish(
                world.settings, revisions(f"503/WH/{world.unique}", keys=3, each=1)
            )
            ids = first + later
            await wait_until(lambda: all_dead(ids), timeout=60, message="all dead-lettered")
            await wait_until(
                lambda: subscriber.stats.dead_lettered >= len(ids), message="in the DLQ"
            )
        requests = [e for e in hook.log() if e["id"] in set(ids)]
        assert [e["status"] for e in requests] == [410]
        state = await fetch_value(
            world.database,
            "SELECT state FROM bus_webhook_endpoints WHERE consumer_group = $1",
            group,
        )
        assert state == "disabled"
        with pytest.raises(BusError, match="enable=true"):
            async with running_webhook(
                world.settings, catalog, group, world.database, at_end=False
            ):
                pass


@pytest.mark.parametrize("kind", KINDS)
async def test_receiver_down_loses_nothing_and_doubles_nothing(
    kind: str, world: WebhookWorld
) -> None:
    group = world.group
    async with world.receiver(kind) as hook:
        catalog = world.catalog(hook)
        async with running_webhook(
            world.settings, catalog, group, world.database, circuit_threshold="3"
        ):
            warmup = await publish(world.settings, [licence(f"503/WH/{world.unique}/warm", 0)])
            await wait_until(lambda: delivered(hook, warmup), timeout=60, message="warm-up")
            hook.stop()
            items = revisions(f"503/WH/{world.unique}", keys=3, each=3)
            ids = await publish(world.settings, items)
            circuit = "SELECT state FROM bus_webhook_endpoints WHERE consumer_group = $1"

            async def circuit_is(state: str) -> bool:
                return await fetch_value(world.database, circuit, group) == state

            await wait_until(lambda: circuit_is("open"), timeout=60, message="circuit open")
            # `bus lag` names the endpoint held back, besides the group's lag.
            lag = await run_bus(
                world.settings, "lag", "--group", group, database_dsn=world.database, columns=200
            )
            assert lag.returncode == 0, lag.stderr
            assert "circuit open" in lag.stdout or "circuit half_open" in lag.stdout
            # … and so does the dashboard's document.
            monitor = LagMonitor(
                world.settings.model_copy(update={"database_dsn": world.database}), groups=[group]
            )
            await monitor.start()
            try:
                document = state_document(await monitor.refresh(), None)
            finally:
                await monitor.stop()
            [entry] = [w for w in document["webhooks"] if w["group"] == group]
            assert entry["state"] in ("open", "half_open")
            assert entry["consecutive_failures"] >= 3
            await wait_until(
                lambda: _down_long_enough(hook), timeout=DOWN_S + 60, interval=0.5,
                message=f"receiver down for {DOWN_S} s",
            )  # fmt: skip
            assert hook.accepted(ids) == {}
            await hook.start()
            await wait_until(lambda: delivered(hook, ids), timeout=120, message="all accepted")
            await wait_until(lambda: circuit_is("closed"), timeout=30, message="circuit closed")
        assert_once_in_order(hook, ids, items)
        failed = await fetch_value(
            world.database,
            "SELECT count(*) FROM bus_http_attempts WHERE consumer_group = $1 AND status IS NULL",
            group,
        )
        assert failed >= 3  # the attempts that opened the circuit


def _down_long_enough(hook: Receiver) -> bool:
    assert hook.stopped_at is not None
    return time.monotonic() - hook.stopped_at >= DOWN_S


@pytest.mark.parametrize("kind", KINDS)
async def test_structured_mode_during_a_rotation_shows_in_the_delivery_status_api(
    kind: str, world: WebhookWorld
) -> None:
    group = world.group
    async with world.receiver(kind, rotating=True) as hook:
        hook.plan([{"status": 503, "retry_after": 1}])
        catalog = world.catalog(hook, content_mode="structured")
        owner = catalog.event_type(IZIN).owner
        _, token = await new_key(world.database, owner)
        async with (
            running_webhook(world.settings, catalog, group, world.database),
            ingress_server(world.settings, catalog, world.database) as url,
            httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}) as api,
        ):
            item = licence(f"503/WH/{world.unique}/ce", 0)
            published = await api.post(f"/v1/events/{IZIN}", json=item.model_dump(mode="json"))
            assert published.status_code == 202, published.text
            event_id = published.json()["id"]
            await wait_until(lambda: delivered(hook, [event_id]), timeout=60, message="accepted")

            async def reported() -> bool:
                status = (await api.get(f"/v1/events/{event_id}/deliveries")).json()
                mine = [d for d in status["deliveries"] if d["group"] == group]
                return bool(mine) and mine[0]["detail"].startswith("delivered on attempt 2 at ")

            await wait_until(reported, timeout=30, message="delivery-status API says attempt 2")
        # Signed with the old and the new secret; the receiver knows only the new one.
        log = [e for e in hook.log() if e["id"] == event_id]
        assert [(e["status"], e["verified"]) for e in log] == [(503, True), (200, True)]
        entry = log[-1]
        assert (entry["key"], entry["type"]) == (item.nomor_izin, IZIN)
        assert set(entry["fields"]) == catalog.granted_fields("bapenda.sipd", IZIN)


@pytest.mark.parametrize(
    ("kind", "deepest"),
    # PHP's built-in server closes every connection after its answer (no keep-alive), so the
    # client never pipelines to it; Node keeps connections alive and takes four at once.
    [("php", 1), ("node", 4)],
)
async def test_pipelined_requests_are_each_verified_once_in_key_order(
    kind: str, deepest: int, world: WebhookWorld
) -> None:
    """One connection, up to four requests in flight on it: every one accepted once, in order."""
    async with world.receiver(kind) as hook:
        catalog = world.catalog(hook)
        # Published before the adapter starts, so that its first fetch holds every partition.
        await start_group_at_end(world.settings, world.group, [catalog.event_type(IZIN).topic])
        items = revisions(f"503/PL/{world.unique}", keys=6, each=5)
        ids = await publish(world.settings, items)
        async with running_webhook(
            world.settings, catalog, world.group, world.database, at_end=False,
            max_connections="1", pipeline_depth="4",
        ) as subscriber:  # fmt: skip
            await wait_until(lambda: delivered(hook, ids), timeout=60, message="all accepted")
            assert subscriber.webhook.client.deepest == deepest  # type: ignore[attr-defined]
        assert_once_in_order(hook, ids, items)
        assert all(e["verified"] for e in hook.log() if e["id"] in set(ids))
