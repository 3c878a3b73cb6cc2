"""Lag against a real broker: exact messages behind per partition and in total, and its age."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest

from bus.config import BusSettings
from bus.lag import LagHistory, LagScanner, Status
from bus.testing import wait_until
from bus.testing.cli import first_documents, run_bus
from bus.testing.topics import consume_and_commit, create_topic, produce

pytestmark = pytest.mark.integration

PARTITIONS = 3
PRODUCED = [7, 5, 4]  # N per partition
CONSUMED = [3, 5, 1]  # M per partition


@pytest.fixture
async def scanner(bus_settings: BusSettings) -> AsyncIterator[LagScanner]:
    async with LagScanner(bus_settings) as scanner:
        yield scanner


async def test_lag_is_produced_minus_committed_per_partition_and_in_total(
    bus_settings: BusSettings, scanner: LagScanner, unique: str
) -> None:
    topic, group = f"lag.exact.{unique}", f"lag-exact-{unique}"
    await create_topic(bus_settings, topic, PARTITIONS)
    await produce(bus_settings, topic, PRODUCED)
    await consume_and_commit(bus_settings, topic, group, CONSUMED)

    report = await scanner.scan([group])

    found = report.group(group)
    rows = {p.partition: p for p in found.partitions}
    assert sorted(rows) == list(range(PARTITIONS))
    for partition in range(PARTITIONS):
        row = rows[partition]
        assert row.topic == topic
        assert row.end == PRODUCED[partition]
        assert row.committed == CONSUMED[partition]
        assert row.lag == PRODUCED[partition] - CONSUMED[partition]
    assert found.lag == sum(PRODUCED) - sum(CONSUMED) == 7
    # Partition 1 is fully consumed: no unconsumed event, so no age.
    assert rows[1].lag_seconds == 0.0
    assert rows[0].lag_seconds > 0.0

    document = report.to_dict()
    assert list(document) == ["groups"]
    entry = document["groups"][0]
    assert list(entry) == [
        "group",
        "status",
        "detail",
        "state",
        "lag",
        "lag_seconds",
        "members",
        "partitions",
    ]
    assert entry["lag"] == 7
    # A scan alone judges nothing: statuses come from `LagHistory`.
    assert entry["status"] == "UNKNOWN"
    assert list(entry["partitions"][0]) == [
        "topic",
        "partition",
        "committed",
        "end",
        "lag",
        "lag_seconds",
        "status",
    ]


async def test_lag_seconds_grows_while_the_group_is_idle(
    bus_settings: BusSettings, scanner: LagScanner, unique: str
) -> None:
    topic, group = f"lag.age.{unique}", f"lag-age-{unique}"
    await create_topic(bus_settings, topic, 1)
    await produce(bus_settings, topic, [4])
    await consume_and_commit(bus_settings, topic, group, [1])

    first = (await scanner.scan([group])).group(group)
    assert first.lag == 3
    started = time.monotonic()
    await wait_until(lambda: time.monotonic() - started > 0.3, message="time passes")
    second = (await scanner.scan([group])).group(group)

    assert second.lag == 3
    assert second.lag_seconds > first.lag_seconds
    assert second.lag_seconds - first.lag_seconds >= 0.25


async def test_a_group_that_never_consumed_anything_is_unknown_not_ok(
    bus_settings: BusSettings, scanner: LagScanner, unique: str
) -> None:
    report = LagHistory().update(await scanner.scan([f"nobody-{unique}"]))
    nobody = report.group(f"nobody-{unique}")
    assert (nobody.partitions, nobody.members) == ((), ())
    assert (nobody.status, nobody.detail) == (
        Status.UNKNOWN,
        "no committed offsets and no assigned partitions: nothing to assess",
    )


async def test_bus_lag_json_prints_the_documented_shape(
    bus_settings: BusSettings, unique: str
) -> None:
    topic, group = f"lag.cli.{unique}", f"lag-cli-{unique}"
    await create_topic(bus_settings, topic, 2)
    await produce(bus_settings, topic, [3, 2])
    await consume_and_commit(bus_settings, topic, group, [1, 2])

    result = await run_bus(bus_settings, "lag", "--group", group, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    (entry,) = document["groups"]
    assert entry["group"] == group
    # The group read and left: nobody consumes while 2 events wait. Never OK.
    assert (entry["status"], entry["detail"]) == ("STOP", "no member consumes while events wait")
    assert entry["members"] == []
    assert entry["lag"] == 2
    assert [(p["partition"], p["committed"], p["end"], p["lag"]) for p in entry["partitions"]] == [
        (0, 1, 3, 2),
        (1, 2, 2, 0),
    ]


async def test_bus_lag_watch_prints_a_new_scan_on_every_interval(
    bus_settings: BusSettings, unique: str
) -> None:
    topic, group = f"lag.watch.{unique}", f"lag-watch-{unique}"
    await create_topic(bus_settings, topic, 1)
    await produce(bus_settings, topic, [3])
    await consume_and_commit(bus_settings, topic, group, [1])

    documents = await first_documents(
        bus_settings, "lag", "--group", group, "--watch", "--json", "--interval", "0.2", count=2
    )

    for document in documents:
        (entry,) = document["groups"]
        assert entry["group"] == group
        assert entry["lag"] == 2
