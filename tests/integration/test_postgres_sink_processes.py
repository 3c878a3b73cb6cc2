"""The sink as operators run it (`bus adapter run postgres-sink`), killed, stopped, scaled out.

Each test runs real sink processes against the session's broker and a fresh database, with a
short session timeout (3 s) so a killed member leaves the group quickly; each counts what the
table holds for its own entities only.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from bus.config import BusSettings
from bus.publish import Publisher
from bus.testing import KafkaService, wait_until
from tests.integration.sink_world import (
    SinkProcess,
    committed_total,
    database_now,
    effects,
    entities,
    group_members,
    history,
    inbox_duplicates,
    inbox_rows,
    izins,
    start_group_at_end,
    stopped_stats,
    with_effect_log,
)

pytestmark = pytest.mark.integration

EVENTS = 5_000


async def publish(publisher: Publisher, prefix: str, start: int, stop: int) -> None:
    """Publish the licences `start`…`stop - 1` of `prefix`, 500 per pipelined batch."""
    events = izins(prefix, stop)[start:]
    for i in range(0, len(events), 500):
        await publisher.publish_batch(events[i : i + 500])


async def some_but_not_all(database: str, prefix: str, total: int) -> int:
    """Wait until the table holds a tenth of the entities or more, and return how many."""
    seen = 0

    async def started() -> bool:
        nonlocal seen
        seen = await entities(database, prefix)
        return seen >= total // 10

    await wait_until(started, timeout=60, interval=0.01, message="first rows in the table")
    assert seen < total, "the sink finished before it could be interrupted"
    return seen


async def all_there(database: str, prefix: str, total: int) -> None:
    """Wait until the table holds every entity."""

    async def complete() -> bool:
        return await entities(database, prefix) >= total

    await wait_until(complete, timeout=120, interval=0.1, message=f"{total} entities")


async def test_sigkill_mid_stream_then_restart_loses_and_doubles_nothing(
    dpmptsp: Publisher, bus_settings: BusSettings, database: str, unique: str, tmp_path: Path
) -> None:
    group, prefix = f"crash-{unique}", f"503/CRS/{unique}"
    await start_group_at_end(bus_settings, group)
    await with_effect_log(database)
    first = SinkProcess(bus_settings, group, database, tmp_path / "first.log")
    second: SinkProcess | None = None
    try:
        await publish(dpmptsp, prefix, 0, EVENTS)
        await some_but_not_all(database, prefix, EVENTS)
        first.signal(signal.SIGKILL)
        assert await asyncio.to_thread(first.wait) == -signal.SIGKILL
        at_kill = await entities(database, prefix)
        assert 0 < at_kill < EVENTS
        # Effects the killed sink tried are logged before this; one whose COMMIT the kill
        # interrupted may become visible only after, but is still logged before this.
        restart_at = await database_now(database)

        second = SinkProcess(bus_settings, group, database, tmp_path / "second.log")
        await all_there(database, prefix, EVENTS)
        second.signal(signal.SIGTERM)
        assert await asyncio.to_thread(second.wait) == 0
    finally:
        first.stop()
        if second is not None:
            second.stop()

    assert await entities(database, prefix) == EVENTS
    assert await history(database, prefix) == (EVENTS, EVENTS)
    assert await inbox_rows(database, group) == EVENTS
    # Counted apart from the primary keys: every event's effect was committed exactly once ...
    assert await effects(database, prefix) == (EVENTS, EVENTS, 1)
    # ... although the restart re-read what the killed sink had applied but not committed:
    # redeliveries happened, and the inbox absorbed each of them.
    [restarted] = stopped_stats(second.log())
    absorbed = await inbox_duplicates(database, group)
    assert absorbed > 0, "the kill left nothing to redeliver; the test proved nothing"
    assert restarted["duplicates"] == absorbed
    # What the killed sink committed (by the effect log) and what the restart applied add up.
    killed_effects = (await effects(database, prefix, before=restart_at))[0]
    assert 0 < killed_effects < EVENTS
    assert restarted["handled"] - restarted["duplicates"] == EVENTS - killed_effects
    assert restarted["dead_lettered"] == 0


async def test_second_instance_joining_mid_stream_changes_no_count(
    dpmptsp: Publisher, bus_settings: BusSettings, database: str, unique: str, tmp_path: Path
) -> None:
    group, prefix = f"scale-{unique}", f"503/SCL/{unique}"
    await start_group_at_end(bus_settings, group)
    await with_effect_log(database)
    first = SinkProcess(bus_settings, group, database, tmp_path / "first.log")
    second: SinkProcess | None = None
    try:
        await publish(dpmptsp, prefix, 0, 3_000)
        await some_but_not_all(database, prefix, EVENTS)
        second = SinkProcess(bus_settings, group, database, tmp_path / "second.log")

        async def both_members() -> bool:
            return await group_members(bus_settings, group) == 2

        await wait_until(both_members, timeout=60, interval=0.2, message="two group members")
        await publish(dpmptsp, prefix, 3_000, EVENTS)
        await all_there(database, prefix, EVENTS)
        for sink in (first, second):
            sink.signal(signal.SIGTERM)
        assert [await asyncio.to_thread(s.wait) for s in (first, second)] == [0, 0]
    finally:
        first.stop()
        if second is not None:
            second.stop()

    assert await entities(database, prefix) == EVENTS
    assert await history(database, prefix) == (EVENTS, EVENTS)
    assert await inbox_rows(database, group) == EVENTS
    assert await effects(database, prefix) == (EVENTS, EVENTS, 1)
    [a], [b] = stopped_stats(first.log()), stopped_stats(second.log())
    assert a["handled"] > 0 and b["handled"] > 0  # both members did part of the work
    applied = a["handled"] - a["duplicates"] + b["handled"] - b["duplicates"]
    assert applied == EVENTS
    assert a["duplicates"] + b["duplicates"] == await inbox_duplicates(database, group)


async def test_sigterm_finishes_in_flight_commits_and_leaves(  # noqa: PLR0917 - fixtures
    dpmptsp: Publisher,
    bus_settings: BusSettings,
    kafka: KafkaService,
    database: str,
    unique: str,
    tmp_path: Path,
) -> None:
    events = 3_000
    group, prefix = f"term-{unique}", f"503/TRM/{unique}"
    start = await start_group_at_end(bus_settings, group)
    first = SinkProcess(bus_settings, group, database, tmp_path / "first.log")
    second: SinkProcess | None = None
    try:
        await publish(dpmptsp, prefix, 0, events)
        await some_but_not_all(database, prefix, events)
        first.signal(signal.SIGTERM)
        assert await asyncio.to_thread(first.wait) == 0
        at_exit = await entities(database, prefix)
        # Everything applied was committed, nothing committed was left unapplied ...
        assert await committed_total(bus_settings, group) - sum(start.values()) == at_exit
        # ... and the member left the group instead of waiting out its session. (aiokafka
        # sends LeaveGroup only for generations above 0, and Tansu numbers the first one 0.)
        if not kafka.is_tansu:
            assert await group_members(bus_settings, group) == 0

        second = SinkProcess(bus_settings, group, database, tmp_path / "second.log")
        await all_there(database, prefix, events)
        second.signal(signal.SIGTERM)
        assert await asyncio.to_thread(second.wait) == 0
    finally:
        first.stop()
        if second is not None:
            second.stop()

    assert 0 < at_exit < events
    assert await entities(database, prefix) == events
    assert await history(database, prefix) == (events, events)
    assert await inbox_rows(database, group) == events
    [stopped] = stopped_stats(first.log())
    assert stopped["handled"] == at_exit
    [restarted] = stopped_stats(second.log())
    assert (restarted["handled"], restarted["duplicates"]) == (events - at_exit, 0)
