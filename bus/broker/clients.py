"""aiokafka clients built from `BusSettings`, so every component connects the same way."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from bus.broker.tls import ssl_context
from bus.config import BusSettings
from bus.errors import BrokerUnavailableError, SecuritySettingsError
from bus.logging import get_logger

log = get_logger("bus.broker")


def unreachable(settings: BusSettings, exc: BaseException) -> BrokerUnavailableError:
    """The error every component raises when the cluster cannot be reached."""
    hint = ""
    if settings.security_protocol != "PLAINTEXT":
        # aiokafka reports a refused TLS handshake or SASL login as "Unable to bootstrap".
        who = f"user {settings.sasl_username!r}" if settings.sasl_username else "the client"
        hint = (
            f" ({settings.security_protocol}: if the brokers answer, they refused {who}; "
            "check BUS_SASL_USERNAME and its password, BUS_SSL_CAFILE and BUS_SSL_CERTFILE)"
        )
    return BrokerUnavailableError(
        f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}{hint}"
    )


def connection(settings: BusSettings) -> dict[str, Any]:
    """Connection keyword arguments shared by every aiokafka client: address, TLS, SASL."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
        "request_timeout_ms": settings.request_timeout_ms,
        "ssl_context": ssl_context(settings),
    }
    if settings.security_protocol.startswith("SASL_"):
        if not (settings.sasl_mechanism and settings.sasl_username and settings.sasl_password):
            raise SecuritySettingsError(
                f"BUS_SECURITY_PROTOCOL={settings.security_protocol} needs BUS_SASL_MECHANISM, "
                "BUS_SASL_USERNAME and BUS_SASL_PASSWORD (or BUS_SASL_PASSWORD_FILE)"
            )
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    return options


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


async def start_producer(client: AIOKafkaProducer, settings: BusSettings) -> None:
    """Start `client`; a failure is `BrokerUnavailableError` saying what really went wrong."""
    # An idempotent producer's start waits for a producer id (InitProducerId), and aiokafka
    # asks for one for ever while the cluster cannot give it (e.g. too few in-sync replicas
    # of its transaction state): bounded here, like every other wait on the cluster.
    limit_s = settings.request_timeout_ms / 1000
    try:
        await asyncio.wait_for(client.start(), limit_s)
    except (KafkaError, TimeoutError) as exc:
        with contextlib.suppress(Exception):
            await stop_producer(client)
        if settings.producer_idempotence and await _cluster_answers(settings):
            what = (
                f"did not complete it within {limit_s:g} s (BUS_REQUEST_TIMEOUT_MS); are enough "
                "of its nodes up for min.insync.replicas?"
                if isinstance(exc, TimeoutError)
                else f"refused it: {exc}. Use a broker that supports it (Apache Kafka does), or "
                "set BUS_PRODUCER_IDEMPOTENCE=false and accept that a producer retry can write "
                "an event twice"
            )
            raise BrokerUnavailableError(
                f"Kafka at {settings.bootstrap_servers} answers, but the idempotent producer's "
                f"handshake (InitProducerId) failed: the cluster {what}"
            ) from exc
        raise unreachable(settings, exc) from exc


async def stop_producer(client: AIOKafkaProducer, timeout_s: float = 5.0) -> None:
    """Stop `client` within `timeout_s`, dropping batches the cluster never acknowledged."""
    # aiokafka's stop() first waits for every buffered batch to be delivered, and an idempotent
    # producer retries those for ever while the cluster is down: stop() would hang for the whole
    # outage. The bus has already settled (failed) every such batch by its delivery deadline,
    # so after `timeout_s` the sender task and the connections are closed as stop() would.
    try:
        await asyncio.wait_for(client.stop(), timeout_s)
    except TimeoutError:
        log.warning("producer.stopped_with_unacknowledged_batches", timeout_s=timeout_s)
        await client._sender.close()
        await client.client.close()


async def _cluster_answers(settings: BusSettings) -> bool:
    """True if the cluster answers a metadata request: it is reachable."""
    from aiokafka.client import AIOKafkaClient

    client = AIOKafkaClient(**{**connection(settings), "request_timeout_ms": 5000})
    try:
        await client.bootstrap()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        await client.close()


async def topic_partitions(consumer: AIOKafkaConsumer, *topics: str) -> list[TopicPartition]:
    """Every partition of `topics`, from fresh cluster metadata (sorted per topic)."""
    # A consumer caches metadata only for what it subscribed to, and its public `topics()`
    # returns names without updating that cache: ask the cluster and read the answer itself.
    cluster = await consumer._client.fetch_all_metadata()
    return [
        TopicPartition(topic, partition)
        for topic in topics
        for partition in sorted(cluster.partitions_for_topic(topic) or ())
    ]


async def stop_consumer(consumer: AIOKafkaConsumer) -> None:
    """Stop `consumer`, even right after `start()`."""
    # aiokafka 0.14: a consumer without a group stopped before its coordinator task first ran
    # raises CancelledError from stop(); one pass of the event loop lets the task start.
    await asyncio.sleep(0)
    await consumer.stop()


def producer(settings: BusSettings, **overrides: Any) -> AIOKafkaProducer:
    """A producer with the bus's durability defaults (`acks=all`, idempotence if enabled)."""
    acks: int | str = (
        settings.producer_acks if settings.producer_acks == "all" else int(settings.producer_acks)
    )
    options: dict[str, Any] = {
        **connection(settings),
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
        **connection(settings),
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
        **connection(settings),
        "client_id": f"{settings.client_id}-admin",
    }
    options.update(overrides)
    return AIOKafkaAdminClient(**options)
