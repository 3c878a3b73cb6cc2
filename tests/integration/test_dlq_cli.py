"""`bus dlq list|show|replay` as an operator runs them: replay applies each dead letter once."""

from __future__ import annotations

import asyncpg
import orjson
import pytest

from bus import testing
from bus.broker import clients
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.envelope import Envelope
from bus.errors import PermanentError
from bus.monitor import LagMonitor
from bus.publish import Publisher
from bus.reliability import Inbox, RetryPolicy, dlq_topic, replay_group, retry_topic
from bus.reliability.failure import first_failure, with_failure
from bus.subscribe import Duplicate, Subscriber
from bus.testing import record_counts, wait_until
from bus.testing.cli import bus_output
from bus.testing.subscribers import running
from bus.testing.topics import create_topic
from schemas import IzinTerbit
from tests.integration.sink_world import SYSTEM, izin, start_group_at_end

pytestmark = pytest.mark.integration


async def committed(settings: BusSettings, group: str, topic: str) -> dict[int, int]:
    """The committed offsets of `group` on each partition of `topic`."""
    offsets = await testing.committed_offsets(settings, group, topic)
    return {tp.partition: offset for tp, offset in offsets.items()}


async def test_replay_applies_each_dead_letter_once(
    dpmptsp: Publisher, bus_settings: BusSettings, catalog: Catalog, database: str, unique: str
) -> None:
    group = f"replay-{unique}"
    prefix = f"503/RPL/{unique}"
    broken = {f"{prefix}/{n:05d}" for n in (1, 4, 7)}
    cause = {"fixed": False}
    await start_group_at_end(bus_settings, group)
    pool = await asyncpg.create_pool(database)
    inbox = Inbox(pool, group)
    await inbox.ensure_table()
    await pool.execute("CREATE TABLE wajib_pajak (nomor_izin text, event_id text)")
    subscriber = Subscriber(
        SYSTEM,
        group=group,
        catalog=catalog,
        settings=bus_settings,
        retry=RetryPolicy(attempts=1, topic_delays_s=(60.0,)),
    )

    @subscriber.handler(IzinTerbit)
    async def register_taxpayer(data: IzinTerbit, envelope: Envelope) -> object:
        if data.nomor_izin in broken and not cause["fixed"]:
            raise PermanentError(f"KBLI {data.kbli} missing from the tax object table")
        async with inbox.transaction(envelope) as tx:
            if tx.duplicate:
                return Duplicate
            await tx.connection.execute(
                "INSERT INTO wajib_pajak VALUES ($1, $2)", data.nomor_izin, envelope.id
            )
        return None

    async def applied() -> list[tuple[str, str]]:
        rows = await pool.fetch(
            "SELECT nomor_izin, event_id FROM wajib_pajak WHERE nomor_izin LIKE $1 ORDER BY 1",
            prefix + "/%",
        )
        return [(r[0], r[1]) for r in rows]

    try:
        async with running(subscriber):
            deliveries = await dpmptsp.publish_batch([izin(f"{prefix}/{n:05d}") for n in range(10)])
            ids = {f"{prefix}/{n:05d}": d.event_id for n, d in enumerate(deliveries)}

            async def failed_as_planned() -> bool:
                return subscriber.stats.dead_lettered == 3 and len(await applied()) == 7

            await wait_until(failed_as_planned, timeout=30, message="7 applied, 3 dead letters")

            listed = orjson.loads(
                await bus_output(bus_settings, "dlq", "list", "--group", group, "--json")
            )
            assert sorted(e["event_id"] for e in listed) == sorted(ids[k] for k in broken)
            assert {e["error_class"] for e in listed} == {"bus.errors.PermanentError"}
            assert {e["original_topic"] for e in listed} == {IzinTerbit.event_type().topic}

            table = await bus_output(bus_settings, "dlq", "list", "--group", group)
            assert "3 dead letter(s)" in table
            other = await bus_output(
                bus_settings, "dlq", "list", "--group", group, "--topic", "bkd.asn.mutasi.v1"
            )
            assert "0 dead letter(s)" in other

            shown = orjson.loads(
                await bus_output(bus_settings, "dlq", "show", listed[0]["position"], "--json")
            )
            assert shown["headers"]["ce_id"] == listed[0]["event_id"]
            for header in ("dlq_original_offset", "dlq_group", "dlq_attempts"):
                assert header in shown["headers"]
            # The applicant's name is personal data the group was never granted: the dead
            # letter does not hold it at all, and nothing prints it.
            assert "nama_pemohon" not in shown["data"]
            assert shown["data"]["nomor_izin"] in {f"{prefix}/{n:05d}" for n in (1, 4, 7)}
            assert "Siti Aminah" not in orjson.dumps(shown).decode()

            cause["fixed"] = True
            dry = await bus_output(bus_settings, "dlq", "replay", "--group", group, "--dry-run")
            assert f"would replay 3 dead letter(s) to {retry_topic(group, 1)}" in dry
            assert (await record_counts(bus_settings, retry_topic(group, 1)))[
                retry_topic(group, 1)
            ] == 0

            first = await bus_output(bus_settings, "dlq", "replay", "--group", group)
            assert "replayed 3 dead letter(s)" in first

            async def all_applied() -> bool:
                return len(await applied()) == 10

            await wait_until(all_applied, timeout=30, message="10 applied")

            second = await bus_output(bus_settings, "dlq", "replay", "--group", group)
            assert "replayed 0 dead letter(s)" in second
            # The replay cursor stands past every dead letter. (The retry topic's end offset is
            # not checked: the replay pipelines its sends, and on Tansu the end offset of a
            # multi-record batch is its base offset + 1.)
            cursor = await committed(bus_settings, replay_group(group), dlq_topic(group))
            assert sum(cursor.values()) == 3
            assert await record_counts(bus_settings, dlq_topic(group)) == {dlq_topic(group): 3}

        # Each event applied exactly once, under its original event id; the subscriber saw the
        # 10 published events and the 3 replayed ones, nothing else.
        assert await applied() == sorted(ids.items())
        assert subscriber.stats.dead_lettered == 3
        assert subscriber.stats.received == 13
    finally:
        await pool.close()


async def test_one_reader_lists_the_dashboard_and_the_cli_the_same_dead_letters(
    bus_settings: BusSettings, catalog: Catalog, unique: str
) -> None:
    """`bus dlq list`, the dashboard and `bus trace` read dead letters with one reader: a record
    whose `dlq_*` headers another tool wrote badly is listed, not a crash of one of them."""
    group = f"dlq-one-{unique}"
    topic = dlq_topic(group)
    await create_topic(bus_settings, topic, 2)
    good = with_failure(
        [("ce_id", f"good-{unique}".encode()), ("ce_type", b"id.go.riau.dpmptsp.izin.terbit")],
        first_failure("t", 0, 7, group=group, error=PermanentError("no"), attempts=2),
    )
    bad = [
        ("ce_id", f"bad-{unique}".encode()),
        ("dlq_original_topic", b"t"),
        ("dlq_group", group.encode()),
        ("dlq_attempts", b"three"),
    ]
    producer = clients.producer(bus_settings)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"{}", headers=good, partition=0)
        await producer.send_and_wait(topic, b"{}", headers=bad, partition=1)
    finally:
        await producer.stop()

    listed = orjson.loads(await bus_output(bus_settings, "dlq", "list", "--group", group, "--json"))
    monitor = LagMonitor(bus_settings, catalog, groups=[], interval_s=60)
    await monitor.start()
    try:
        await wait_until(lambda: monitor.state is not None, message="the monitor scanned once")
        state = monitor.state
        assert state is not None
    finally:
        await monitor.stop()
    shown = [d.summary() for d in state.recent_dead_letters if d.topic == topic]

    by_id = {e["event_id"]: e for e in listed}
    assert sorted(by_id) == [f"bad-{unique}", f"good-{unique}"]
    assert by_id[f"good-{unique}"]["position"] == f"{topic}:0:0"
    assert (by_id[f"good-{unique}"]["attempts"], by_id[f"good-{unique}"]["group"]) == (2, group)
    assert by_id[f"bad-{unique}"]["position"] == f"{topic}:1:0"
    assert by_id[f"bad-{unique}"]["group"] == group
    # The dashboard shows the very same documents.
    assert sorted(shown, key=lambda e: e["position"]) == sorted(listed, key=lambda e: e["position"])
