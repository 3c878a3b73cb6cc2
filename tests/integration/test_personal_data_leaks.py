"""Every leak path of issue 13, tried on the real broker: a handler error quoting a resident's
NIK and name reaches no log, header, CLI output, dashboard or delivery status in clear, and the
dead letter keeps only what the group was granted, as long as the source topic keeps events.
"""

from __future__ import annotations

import io
import json
import os

import asyncpg
import httpx
import orjson
import pytest

from adapters.postgres_sink import postgres_sink
from bus.broker import clients
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.dlq import DeadLetter, read_dead_letters, replay
from bus.errors import PermanentError
from bus.publish import Publisher
from bus.reliability import RetryPolicy, dlq_topic
from bus.subscribe import Subscriber
from bus.subscribe.adapter import AdapterOptions
from bus.testing import wait_until
from bus.testing.cli import bus_output
from bus.testing.monitor import monitor_server
from bus.testing.personal_data import nik_of
from bus.testing.subscribers import running
from bus.topics.observe import observe
from bus.tracking import DeliveryState, PublishedEvent, trace_event
from schemas import PendudukPindah

pytestmark = pytest.mark.integration

EVENT = PendudukPindah.event_type()
NAME = "Rahmat Hidayat"
PHONE = "0812-6677-8899"


async def dead_letters_of(settings: BusSettings, group: str, event_id: str) -> list[DeadLetter]:
    """The dead letters of `event_id` in `group`'s dead-letter topic, read to its end."""
    return [
        d for d in await read_dead_letters(settings, [dlq_topic(group)]) if d.event_id == event_id
    ]


async def wait_for_dead_letter(settings: BusSettings, group: str, event_id: str) -> DeadLetter:
    """`event_id`'s one dead letter in `group`, once it is there."""

    async def arrived() -> bool:
        return bool(await dead_letters_of(settings, group, event_id))

    await wait_until(arrived, timeout=30, interval=0.5, message=f"{event_id} dead-lettered")
    [letter] = await dead_letters_of(settings, group, event_id)
    return letter


def assert_clean(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text, f"{secret!r} leaked"


async def test_a_handler_error_quoting_a_nik_leaks_nowhere_and_replay_still_works(
    bus_settings: BusSettings, catalog: Catalog, unique: str, json_lines: io.StringIO
) -> None:
    nik = nik_of(unique)
    system = "dinkes.sikda"  # granted nik and the regions, not the name or the address
    group = f"{system}.pdp-{unique}"
    subscriber = Subscriber(
        system,
        group=group,
        catalog=catalog,
        settings=bus_settings,
        retry=RetryPolicy(attempts=1, topic_delays_s=(60.0,)),
    )
    state = {"registered": False}
    handled: list[object] = []

    @subscriber.handler(PendudukPindah)
    async def move_registration(pindah: PendudukPindah) -> None:
        if pindah.nik != nik:
            return  # other tests' residents on the same topic
        if not state["registered"]:
            # What a real handler writes: the person's identifiers in the message.
            raise PermanentError(f"NIK {pindah.nik} ({NAME}, hp {PHONE}) is not registered")
        handled.append(pindah)

    data = PendudukPindah.model_validate(
        {**PendudukPindah.example, "nik": nik, "nama_lengkap": NAME}
    )
    async with (
        Publisher("disdukcapil.siak", catalog=catalog, settings=bus_settings) as disdukcapil,
        running(subscriber),
    ):
        delivery = await disdukcapil.publish(data)

        # 1. The dead letter: headers redacted, value minimised to the group's grant.
        letter = await wait_for_dead_letter(bus_settings, group, delivery.event_id)
        assert_clean(repr(letter.headers), nik, NAME, PHONE)
        assert letter.failure.error_class == "bus.errors.PermanentError"
        assert letter.failure.error_message.startswith("NIK <redacted:")
        kept = orjson.loads(letter.value or b"")
        assert set(kept) == catalog.granted_fields(system, EVENT.type)
        assert "nama_lengkap" not in kept and "alamat_tujuan" not in kept

        # 2. `bus dlq list`, as an operator of another agency runs it.
        listed = await bus_output(bus_settings, "dlq", "list", "--group", group, "--json")
        assert delivery.event_id in listed
        assert_clean(listed, nik, NAME, PHONE)
        shown = await bus_output(
            bus_settings, "dlq", "show", delivery.event_id, "--group", group, "--json"
        )
        assert_clean(shown, nik, NAME, PHONE)

        # 3. The publisher's delivery status (GET /v1/events/{id}/deliveries is this report).
        report = await trace_event(
            PublishedEvent(
                delivery.event_id,
                EVENT.type,
                "disdukcapil.siak",
                delivery.topic,
                delivery.partition,
                delivery.offset,
            ),
            settings=bus_settings,
            catalog=catalog,
            groups=[group],
        )
        [mine] = [d for d in report.deliveries if d.group == group]
        assert mine.state is DeliveryState.DEAD_LETTERED
        assert mine.detail.startswith("bus.errors.PermanentError: NIK <redacted:")
        assert_clean(json.dumps(report.to_dict()), nik, NAME, PHONE)

        # 4. The monitor's unauthenticated /api/state.
        async with monitor_server(bus_settings, catalog, [group]) as base:

            async def dashboard_shows_it() -> bool:
                async with httpx.AsyncClient() as http:
                    body = (await http.get(f"{base}/api/state")).text
                return delivery.event_id in body

            await wait_until(
                dashboard_shows_it, timeout=30, interval=0.25, message="on the dashboard"
            )
            async with httpx.AsyncClient() as http:
                assert_clean((await http.get(f"{base}/api/state")).text, nik, NAME, PHONE)

        # 5. Dead letters are kept as long as the source topic keeps events, not longer.
        admin = clients.admin(bus_settings)
        await admin.start()
        try:
            observed = await observe(admin, only=[dlq_topic(group)])
        finally:
            await admin.close()
        configs = observed.topics[dlq_topic(group)].configs or {}
        assert configs.get("retention.ms") == str(EVENT.topic_settings.retention_ms)

        # 6. Replay still works: the minimised dead letter is delivered as the group's view.
        state["registered"] = True
        await replay(bus_settings, group)
        await wait_until(lambda: len(handled) == 1, timeout=30, message="replayed and handled")
        assert handled[0].nik == nik  # type: ignore[attr-defined]  # granted in clear to Dinkes
        assert set(type(handled[0]).model_fields) == catalog.granted_fields(system, EVENT.type)

    # 7. This process's own log: the full story, redacted too.
    lines = json_lines.getvalue()
    assert "handler failed" in lines
    assert_clean(lines, nik, NAME, PHONE)
    assert os.environ.get("BUS_ENV") != "production"


async def test_an_asyncpg_error_quoting_the_row_is_redacted_in_the_dead_letter(
    bus_settings: BusSettings, catalog: Catalog, database: str, unique: str
) -> None:
    nik = nik_of(unique)
    group = f"dinkes.sikda.sink-{unique}"
    table = f"pindah_{unique}"
    options = AdapterOptions(
        event_type=EVENT,
        group=group,
        settings=bus_settings.model_copy(
            update={"retry_attempts": 1, "retry_topic_delays_s": (0.1,)}
        ),
        catalog=catalog,
        system="dinkes.sikda",
        dsn=database,
        extra={"table": table},
    )
    data = PendudukPindah.model_validate({**PendudukPindah.example, "nik": nik})
    async with postgres_sink(options) as subscriber:
        connection = await asyncpg.connect(database)
        try:
            # A rule of the OPD's own database that the event breaks: PostgreSQL's error
            # quotes the whole row, NIK included ("DETAIL: Failing row contains (...)").
            await connection.execute(
                f"ALTER TABLE {table} ADD CONSTRAINT stays_out_of_siak CHECK (nik <> '{nik}')"
            )
        finally:
            await connection.close()
        async with (
            Publisher("disdukcapil.siak", catalog=catalog, settings=bus_settings) as disdukcapil,
            running(subscriber),
        ):
            delivery = await disdukcapil.publish(data)

            letter = await wait_for_dead_letter(bus_settings, group, delivery.event_id)
    assert letter.failure.error_class == "asyncpg.exceptions.CheckViolationError"
    assert "Failing row contains" in letter.failure.error_message
    assert_clean(repr(letter.headers), nik)
    assert_clean(letter.value.decode() if letter.value else "", "Rahmat Hidayat")


async def test_a_receivers_reason_phrase_quoting_a_nik_is_masked_in_the_attempt_log(
    bus_settings: BusSettings, database: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A receiver's answer is foreign text: a NIK in it is masked in the attempt log, which
    `bus trace` and the delivery-status API read."""
    from adapters.webhook import new_secret
    from bus.testing.cli import run_bus
    from bus.testing.http_receiver import Request, ok, serving
    from tests.integration.webhook_world import (
        attempts,
        licence,
        publish,
        push_catalog,
        running_webhook,
    )

    nik = nik_of(unique)

    async def refuse(request: Request) -> bytes:
        return ok(422, f"NIK {nik} unknown here")

    variable = f"BUS_TEST_WEBHOOK_SECRET_{unique.upper()}"
    monkeypatch.setenv(variable, new_secret())
    group = f"bapenda.sipd.leak-{unique}"
    async with serving(refuse) as server:
        catalog = push_catalog(group, server.url("/webhook"), variable)
        async with running_webhook(bus_settings, catalog, group, database):
            [event_id] = await publish(bus_settings, [licence(f"503/LEAK/{unique}", 0)])

            async def answered() -> bool:
                return bool(await attempts(database, group, event_id))

            await wait_until(answered, timeout=30, message="first attempt recorded")
        [first, *_] = await attempts(database, group, event_id)
    assert first["status"] == 422
    assert nik not in first["outcome"]
    assert first["outcome"].startswith("NIK ") and first["outcome"].endswith(" unknown here")
    traced = await run_bus(
        bus_settings, "trace", event_id, "--group", group, "--json", database_dsn=database
    )
    assert traced.returncode == 0, traced.stderr
    assert nik not in traced.stdout + traced.stderr
