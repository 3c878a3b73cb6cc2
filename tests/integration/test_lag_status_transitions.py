"""Status transitions against a real broker: OK → WARNING → STALL, then STOP → OK → REWIND.

The scans are driven by hand (no monitor loop) so each phase is exactly the commits it needs;
the window is 3 commits and STOP needs 1 s of silence instead of a minute.
"""

from __future__ import annotations

import time

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from bus.broker import clients
from bus.config import BusSettings
from bus.lag import LagHistory, LagScanner, Status, StatusRules
from bus.testing import wait_until
from tests.integration.test_lag import create_topic, produce

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

            # Catching up: lag 6, 4, 2.
            seen = []
            for offset in (4, 6, 8):
                await commit(member, tp, offset)
                seen.append(await status())
            assert seen == [Status.OK, Status.OK, Status.OK]

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


async def test_a_consumer_that_is_gone_is_stop_then_ok_then_rewind(
    bus_settings: BusSettings, unique: str
) -> None:
    # A consumer that left its group. Tansu keeps departed members listed (it neither honours
    # LeaveGroup nor expires sessions, measured), so the group here commits without ever
    # joining, as `bus dlq replay` or an operator's offset reset does; on Kafka a consumer
    # that stopped leaves the group at once and looks the same.
    topic, group = f"lag.gone.{unique}", f"lag-gone-{unique}"
    tp = TopicPartition(topic, 0)
    await create_topic(bus_settings, topic, 1)
    await produce(bus_settings, topic, [19])
    history = LagHistory(RULES)
    operator: AIOKafkaConsumer = clients.consumer(bus_settings, group_id=group)
    await operator.start()
    try:
        operator.assign([tp])
        async with LagScanner(bus_settings) as scanner:

            async def status() -> Status:
                return history.update(await scanner.scan([group])).group(group).status

            for offset in (3, 6, 11):
                await commit(operator, tp, offset)
                assert await status() is Status.OK
            last_commit = time.monotonic()

            async def stopped() -> bool:
                return await status() is Status.STOP

            await wait_until(stopped, timeout=20, message="the group is STOP")
            assert time.monotonic() - last_commit > RULES.stop_after_s

            # Restarted and caught up.
            await commit(operator, tp, 19)
            assert await status() is Status.OK
            # Someone resets the offsets to replay: REWIND, with the lag back.
            await commit(operator, tp, 5)
            assert await status() is Status.REWIND
            assert history.totals(group)[-1][1] == 14
    finally:
        await operator.stop()
