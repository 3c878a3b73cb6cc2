"""Status transitions against a real broker: UNKNOWN → OK → WARNING → STALL, then STOP → OK →
REWIND, and `bus lag`, `bus lag --watch` and the dashboard agreeing on a consumer that stopped.

The scans are driven by hand (no monitor loop) so each phase is exactly the commits it needs;
the window is 3 commits and STOP needs 1 s of silence instead of a minute.

The tests hold on Apache Kafka. Where Tansu differs they say so: it keeps a departed member
listed (it neither honours LeaveGroup nor expires sessions, measured) and reports neither the
client id, the host nor the assignment of a member.
"""

from __future__ import annotations

import json

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from bus.broker import clients
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.lag import LagHistory, LagScanner, Status, StatusRules
from bus.monitor import LagMonitor
from bus.testing import KafkaService, wait_until
from bus.testing.cli import first_documents, run_bus
from bus.testing.topics import create_topic, produce

pytestmark = pytest.mark.integration

RULES = StatusRules(window=3, min_commits=3, stop_after_s=1.0)


async def commit(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> None:
    """Commit `offset` for the consumer's group."""
    await consumer.commit({tp: OffsetAndMetadata(offset, "")})


async def test_a_live_consumer_goes_ok_warning_stall(
    bus_settings: BusSettings, unique: str
) -> None:
    topic, group = f"lag.walk.{unique}", f"lag-walk-{unique}"
    tp = TopicPartition(topic, 0)
    await create_topic(bus_settings, topic, 1)
    await produce(bus_settings, topic, [10])
    history = LagHistory(RULES)
    member: AIOKafkaConsumer = clients.consumer(bus_settings, topic, group_id=group)
    await member.start()
    try:
        await wait_until(lambda: bool(member.assignment()), message="member joined")
        async with LagScanner(bus_settings) as scanner:

            async def status() -> Status:
                return history.update(await scanner.scan([group])).group(group).status

            # Catching up: lag 6, 4, 2; two scans cannot tell moving from stuck.
            seen = []
            for offset in (4, 6, 8):
                await commit(member, tp, offset)
                seen.append(await status())
            assert seen == [Status.UNKNOWN, Status.UNKNOWN, Status.OK]

            # Falling behind: three events arrive for every one consumed; lag 4, 6, 8.
            seen = []
            for offset in (9, 10, 11):
                await produce(bus_settings, topic, [3])
                await commit(member, tp, offset)
                seen.append(await status())
            # The window (lag 2, 4, 6) grew at every commit from the second one on.
            assert seen == [Status.OK, Status.WARNING, Status.WARNING]

            # Alive but stuck: the member stays in the group and its offset does not move.
            stuck = [await status() for _ in range(3)]
            assert stuck == [Status.WARNING, Status.STALL, Status.STALL]
            assert (await scanner.scan([group])).group(group).members
    finally:
        await member.stop()


async def test_a_consumer_that_stops_is_stop_then_ok_then_rewind(
    bus_settings: BusSettings, kafka: KafkaService, unique: str
) -> None:
    topic, group = f"lag.gone.{unique}", f"lag-gone-{unique}"
    tp = TopicPartition(topic, 0)
    await create_topic(bus_settings, topic, 1)
    await produce(bus_settings, topic, [19])
    history = LagHistory(RULES)
    member: AIOKafkaConsumer = clients.consumer(bus_settings, topic, group_id=group)
    await member.start()
    async with LagScanner(bus_settings) as scanner:

        async def status() -> Status:
            return history.update(await scanner.scan([group])).group(group).status

        try:
            await wait_until(lambda: bool(member.assignment()), message="member joined")
            seen = []
            for offset in (3, 6, 11):
                await commit(member, tp, offset)
                seen.append(await status())
            assert seen == [Status.UNKNOWN, Status.UNKNOWN, Status.OK]
        finally:
            await member.stop()  # Kafka: LeaveGroup, the group is empty at once

        if kafka.is_tansu:
            # Tansu still lists the departed member: a live group whose offset does not move,
            # STALL once the window is full of the same offset.
            async def stalled() -> bool:
                return await status() is Status.STALL

            await wait_until(stalled, timeout=20, message="the group is STALL")
        else:
            assert await status() is Status.STOP  # at the first scan, no waiting for a timeout

        restarted: AIOKafkaConsumer = clients.consumer(bus_settings, topic, group_id=group)
        await restarted.start()
        try:
            await wait_until(lambda: bool(restarted.assignment()), message="member rejoined")
            # Restarted and caught up.
            await commit(restarted, tp, 19)
            assert await status() is Status.OK
            # It is told to replay from offset 5: REWIND, with the lag back.
            await commit(restarted, tp, 5)
            assert await status() is Status.REWIND
            assert history.totals(group)[-1][1] == 14
        finally:
            await restarted.stop()


async def test_bus_lag_and_the_dashboard_agree_on_a_consumer_that_stopped(
    bus_settings: BusSettings, kafka: KafkaService, catalog: Catalog, unique: str
) -> None:
    topic, group = f"lag.agree.{unique}", f"lag-agree-{unique}"
    tp = TopicPartition(topic, 0)
    await create_topic(bus_settings, topic, 1)
    await produce(bus_settings, topic, [10])
    member: AIOKafkaConsumer = clients.consumer(bus_settings, topic, group_id=group)
    await member.start()
    try:
        await wait_until(lambda: bool(member.assignment()), message="member joined")
        await commit(member, tp, 4)
    finally:
        await member.stop()
    # Kafka: the group is empty and 6 events wait: STOP from the first scan. Tansu lists the
    # departed member: one scan cannot judge it (UNKNOWN), a window of scans finds it STALL.
    settings = bus_settings.model_copy(update={"lag_window": 3, "lag_min_commits": 3})

    once = await run_bus(settings, "lag", "--group", group, "--json")
    assert once.returncode == 0, once.stderr
    (entry,) = json.loads(once.stdout)["groups"]
    assert (entry["lag"], entry["status"]) == (6, "UNKNOWN" if kafka.is_tansu else "STOP")

    watched = await watch_statuses(settings, group, scans=4)
    monitor = LagMonitor(settings, catalog, groups=[group], interval_s=0.2)
    await monitor.start()
    try:

        def scanned_enough() -> bool:
            return monitor.state is not None and monitor.state.sequence >= 4

        await wait_until(scanned_enough, timeout=30, message="the monitor scanned 4 times")
        assert monitor.state is not None
        dashboard = monitor.state.report.group(group).status.value
    finally:
        await monitor.stop()

    expected = "STALL" if kafka.is_tansu else "STOP"
    assert watched[-1] == dashboard == expected
    assert "OK" not in watched


async def watch_statuses(settings: BusSettings, group: str, scans: int) -> list[str]:
    """The group's status in each of the first `scans` documents of `bus lag --watch --json`."""
    documents = await first_documents(
        settings, "lag", "--group", group, "--watch", "--json", "--interval", "0.2", count=scans
    )
    return [document["groups"][0]["status"] for document in documents]


async def test_bus_lag_names_each_member_and_its_host(
    bus_settings: BusSettings, kafka: KafkaService, unique: str
) -> None:
    topic, group = f"lag.members.{unique}", f"lag-members-{unique}"
    await create_topic(bus_settings, topic, 2)
    await produce(bus_settings, topic, [3, 2])
    member: AIOKafkaConsumer = clients.consumer(bus_settings, topic, group_id=group)
    await member.start()
    try:
        await wait_until(lambda: bool(member.assignment()), message="member joined")
        member_id = member._coordinator.member_id
        as_json = await run_bus(bus_settings, "lag", "--group", group, "--json")
        as_table = await run_bus(bus_settings, "lag", "--group", group, columns=400)
    finally:
        await member.stop()

    assert as_json.returncode == 0, as_json.stderr
    (entry,) = json.loads(as_json.stdout)["groups"]
    if kafka.is_tansu:  # Tansu reports the member id only
        expected = {"member_id": member_id, "client_id": "", "host": "", "partitions": []}
        label = f"{member_id} on an unreported host"
    else:
        expected = {
            "member_id": member_id,
            "client_id": f"{bus_settings.client_id}-consumer",
            "host": "/127.0.0.1",
            "partitions": [{"topic": topic, "partition": 0}, {"topic": topic, "partition": 1}],
        }
        label = f"{member_id} on 127.0.0.1"
    assert entry["members"] == [expected]
    assert as_table.returncode == 0, as_table.stderr
    assert label in as_table.stdout
    assert "@" not in as_table.stdout
