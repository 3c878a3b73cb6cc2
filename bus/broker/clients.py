"""aiokafka clients built from `BusSettings`, so every component connects the same way."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from bus.config import BusSettings
from bus.errors import BrokerUnavailableError


def unreachable(settings: BusSettings, exc: BaseException) -> BrokerUnavailableError:
    """The error every component raises when the cluster cannot be reached."""
    return BrokerUnavailableError(f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}")


@contextlib.asynccontextmanager
async def admin_session(settings: BusSettings) -> AsyncIterator[AIOKafkaAdminClient]:
    """A connected admin client for the block; a failure to connect is `BrokerUnavailableError`."""
    client = admin(settings)
    try:
        await client.start()
    except KafkaError as exc:
        await client.close()
        raise unreachable(settings, exc) from exc
    try:
        yield client
    finally:
        await client.close()


def producer(settings: BusSettings, **overrides: Any) -> AIOKafkaProducer:
    """A producer with the bus's durability defaults (`acks=all`, idempotence if enabled)."""
    acks: int | str = (
        settings.producer_acks if settings.producer_acks == "all" else int(settings.producer_acks)
    )
    options: dict[str, Any] = {
        **settings.kafka_common(),
        "client_id": f"{settings.client_id}-producer",
        "acks": acks,
        "enable_idempotence": settings.producer_idempotence,
        "linger_ms": settings.producer_linger_ms,
        "max_batch_size": settings.producer_max_batch_bytes,
        "compression_type": None
        if settings.producer_compression == "none"
        else settings.producer_compression,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


def consumer(
    settings: BusSettings, *topics: str, group_id: str | None, **overrides: Any
) -> AIOKafkaConsumer:
    """A consumer that never auto-commits: the bus commits after the effect is durable."""
    options: dict[str, Any] = {
        **settings.kafka_common(),
        "client_id": f"{settings.client_id}-consumer",
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": settings.consumer_auto_offset_reset,
        "session_timeout_ms": settings.consumer_session_timeout_ms,
        "heartbeat_interval_ms": settings.consumer_heartbeat_interval_ms,
        "max_poll_records": settings.consumer_max_records,
        "fetch_max_wait_ms": settings.consumer_fetch_max_wait_ms,
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


def admin(settings: BusSettings, **overrides: Any) -> AIOKafkaAdminClient:
    """An admin client for topic and ACL management."""
    options: dict[str, Any] = {
        **settings.kafka_common(),
        "client_id": f"{settings.client_id}-admin",
    }
    options.update(overrides)
    return AIOKafkaAdminClient(**options)
