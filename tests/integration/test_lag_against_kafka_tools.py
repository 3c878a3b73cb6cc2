"""A peer's tool as the judge: Kafka's own `kafka-consumer-groups --describe` and `bus lag --json`
must agree on the current offset, the log end offset and the lag of every partition."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from bus.broker.apache_kafka import find
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.envelope import Envelope
from bus.publish import Publisher
from bus.subscribe import Subscriber
from bus.testing import KafkaService, start_group_at_end, wait_until
from bus.testing.cli import run_bus
from bus.testing.subscribers import running
from schemas import IzinTerbit

pytestmark = pytest.mark.integration

TOPIC = IzinTerbit.event_type().topic
GROUPS_TOOL = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"
#: (current offset, log end offset, lag) per (topic, partition).
Offsets = dict[tuple[str, int], tuple[int, int, int]]


async def kafka_says(kafka: KafkaService, group: str) -> Offsets:
    """The three numbers per partition, as Kafka's own tool prints them."""
    installation, reason = find()
    assert installation is not None, reason
    command = installation.tool(
        GROUPS_TOOL, "--bootstrap-server", kafka.bootstrap_servers, "--describe", "--group", group
    )
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    rows = {}
    for line in out.decode().splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[0] == group and fields[2].isdigit():
            rows[(fields[1], int(fields[2]))] = (int(fields[3]), int(fields[4]), int(fields[5]))
    return rows


async def bus_says(settings: BusSettings, group: str) -> Offsets:
    """The same three numbers from `bus lag --json`."""
    result = await run_bus(settings, "lag", "--json", "--group", group)
    assert result.returncode == 0, result.stderr
    [entry] = [g for g in orjson.loads(result.stdout)["groups"] if g["group"] == group]
    return {
        (p["topic"], p["partition"]): (p["committed"], p["end"], p["lag"])
        for p in entry["partitions"]
    }


def licences(prefix: str, count: int) -> list[IzinTerbit]:
    example = IzinTerbit.example
    return [
        IzinTerbit.model_validate({**example, "nomor_izin": f"{prefix}/{i}"}) for i in range(count)
    ]


async def test_bus_lag_agrees_with_kafka_consumer_groups(
    kafka: KafkaService,
    bus_settings: BusSettings,
    catalog: Catalog,
    dpmptsp: Publisher,
    unique: str,
) -> None:
    assert kafka.kind == "apache-kafka", "the judge is Apache Kafka's own tool"
    group = f"judge-{unique}"
    await start_group_at_end(bus_settings, group, [TOPIC])
    handled: list[str] = []
    subscriber = Subscriber("bapenda.sipd", group, catalog=catalog, settings=bus_settings)

    @subscriber.handler(IzinTerbit)
    async def take(event: IzinTerbit, envelope: Envelope) -> None:
        handled.append(envelope.id)

    async with running(subscriber):
        await dpmptsp.publish_batch(licences(f"503/JDG/{unique}/a", 30))
        await wait_until(lambda: len(handled) == 30, message="the group consumed 30 events")
    # The group has stopped; 17 more events wait for it.
    await dpmptsp.publish_batch(licences(f"503/JDG/{unique}/b", 17))

    theirs = await kafka_says(kafka, group)
    ours = await bus_says(bus_settings, group)
    assert ours == theirs
    assert len(ours) == 3
    assert sum(lag for _, _, lag in ours.values()) == 17
