"""pytest plugin (`-p bus.testing.plugin`, registered as `opd_bus`): real services as fixtures.

OPD developers get the same fixtures this project tests itself with:

- `kafka`: a session-wide `KafkaService`: Apache Kafka where installed (`make kafka`), else
  testcontainers or the embedded Tansu broker (see `bus.testing.services`);
- `bus_settings`: `BusSettings` pointing at it, with production settings on Apache Kafka and
  what `bus.broker.local.client_settings` says a broker of another kind needs;
- `catalog`: the catalog from `BUS_CATALOG_MODULE` (default `schemas`);
- `postgres_dsn`: a session-wide PostgreSQL DSN; `database`: a fresh database per test;
- `unique`: a short unique suffix for group ids and scratch topics.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from bus.catalog import Catalog, load_catalog
from bus.config import BusSettings
from bus.testing.services import KafkaService, kafka_service, planned_broker, postgres_service


def pytest_configure(config: pytest.Config) -> None:
    """Commands the tests start ignore the settings file of a `bus dev` running meanwhile."""
    os.environ.setdefault("BUS_DEV_SETTINGS", "0")


def pytest_report_header(config: pytest.Config) -> str:
    """Name the broker every integration test runs on, e.g. `apache-kafka 4.4.0 (KRaft, 1 node)`."""
    return f"broker: {planned_broker()}"


@pytest.fixture(scope="session")
def kafka() -> Iterator[KafkaService]:
    """A running Kafka-compatible broker for the whole test session."""
    with kafka_service() as service:
        yield service


@pytest.fixture(scope="session")
def bus_settings(kafka: KafkaService) -> BusSettings:
    """Settings pointing at the session's broker."""
    return BusSettings(
        _env_file=None,  # a running `bus dev` must not leak into the tests
        **kafka.client_settings(),
        # How long an empty poll waits before the subscriber checks for stop: test speed only.
        consumer_fetch_timeout_ms=50,
    )


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """The catalog under test."""
    return load_catalog(BusSettings().catalog_module)


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A PostgreSQL server for the whole session."""
    with postgres_service() as dsn:
        yield dsn


@pytest.fixture
async def database(postgres_dsn: str) -> AsyncIterator[str]:
    """A fresh, empty database per test; yields its DSN."""
    async with scratch_database(postgres_dsn) as dsn:
        yield dsn


@contextlib.asynccontextmanager
async def scratch_database(server_dsn: str, prefix: str = "t") -> AsyncIterator[str]:
    """Create an empty database on `server_dsn` for the block, then drop it; yields its DSN."""
    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield _with_database(server_dsn, name)
    finally:
        admin = await asyncpg.connect(server_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
def unique() -> str:
    """A short unique suffix for consumer groups and scratch topics."""
    return uuid.uuid4().hex[:10]


def _with_database(dsn: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))
