"""Events the webhook adapter cannot put on the wire: dead-lettered with a reason, nothing sent,
and the events after them not held back."""

from __future__ import annotations

import pytest

from adapters.webhook import new_secret
from bus.broker import clients
from bus.catalog import load_catalog
from bus.config import BusSettings
from bus.dlq import read_dead_letters
from bus.publish.record import build_record
from bus.reliability import dlq_topic
from bus.testing import wait_until
from bus.testing.http_receiver import Request, ok, serving
from tests.integration.webhook_world import (
    IZIN,
    attempts,
    fetch_value,
    licence,
    publish,
    push_catalog,
    running_webhook,
)

pytestmark = pytest.mark.integration


async def test_an_event_id_http_cannot_carry_is_dead_lettered_and_its_key_goes_on(
    bus_settings: BusSettings, database: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`webhook-id` is the event id as it is (Standard Webhooks): a non-ASCII one cannot be
    sent. It goes to the dead-letter topic with the reason; the next event of its key is sent."""

    async def accept(request: Request) -> bytes:
        return ok()

    variable = f"BUS_TEST_WEBHOOK_SECRET_{unique.upper()}"
    monkeypatch.setenv(variable, new_secret())
    group = f"bapenda.sipd.refusal-{unique}"
    odd_id = f"izin-{unique}-ñ"
    item = licence(f"503/ODD/{unique}", 0)
    async with serving(accept) as server:
        catalog = push_catalog(group, server.url("/webhook"), variable)
        async with running_webhook(bus_settings, catalog, group, database):
            await _publish_with_id(bus_settings, item, odd_id)
            [after] = await publish(bus_settings, [licence(f"503/ODD/{unique}", 1)])

            async def after_sent() -> bool:
                return any(after in r.head for r in server.requests)

            await wait_until(after_sent, timeout=30, message="the next event of the key sent")
        letters = [
            d
            for d in await read_dead_letters(bus_settings, [dlq_topic(group)])
            if d.event_id == odd_id
        ]
    assert len(letters) == 1
    assert "webhook-id" in letters[0].failure.error_message
    assert letters[0].failure.error_class == "bus.errors.PermanentError"
    assert len(server.requests) == 1  # only the next event: the odd one was never sent
    assert await attempts(database, group, odd_id) == []
    state = await fetch_value(
        database,
        "SELECT state FROM bus_http_deliveries WHERE consumer_group = $1 AND event_id = $2",
        group,
        odd_id,
    )
    assert state == "dead-lettered"


async def _publish_with_id(settings: BusSettings, item: object, event_id: str) -> None:
    """Publish `item` as its owner would, but with `event_id` as its CloudEvents id."""
    catalog = load_catalog("schemas")
    event_type = catalog.event_type(IZIN)
    record = build_record(event_type, catalog.system(event_type.owner), item)  # type: ignore[arg-type]
    headers = [(k, event_id.encode() if k == "ce_id" else v) for k, v in record.headers]
    producer = clients.producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(
            event_type.topic, record.value, key=record.key, headers=headers
        )
    finally:
        await producer.stop()
