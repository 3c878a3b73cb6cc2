"""The second baseline: confluent-kafka (librdkafka, C) producing and consuming the same bytes.

Its producer and consumer get the settings the aiokafka clients get from `BusSettings`
(acks, idempotence, linger, batch size, compression; group session, fetch wait, batch size),
so the three clients differ only in the client. librdkafka does its network work on its own
threads; `produce()`, `flush()`, `consume()` and `commit()` are called directly from the
benchmark's event loop, which has nothing else to do while a librdkafka round runs.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer
from pydantic import BaseModel

from bus.config import BusSettings

#: Longest one round may take before the benchmark fails instead of hanging.
TIMEOUT_S = 120.0


def producer_config(settings: BusSettings) -> dict[str, Any]:
    """librdkafka producer properties equivalent to `bus.broker.clients.producer(settings)`."""
    return {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": f"{settings.client_id}-librdkafka-producer",
        "acks": settings.producer_acks,
        "enable.idempotence": settings.producer_idempotence,
        "linger.ms": settings.producer_linger_ms,
        "batch.size": settings.producer_max_batch_bytes,
        "compression.type": settings.producer_compression,
        # Room for a whole round in the local queue (the aiokafka producer buffers it too).
        "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576,
        # One callback per failed record only: counting successes would cost a Python call
        # per record that the aiokafka baseline does not make.
        "delivery.report.only.error": True,
    }


def consumer_config(settings: BusSettings, group_id: str) -> dict[str, Any]:
    """librdkafka consumer properties equivalent to `bus.broker.clients.consumer(settings)`."""
    return {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": f"{settings.client_id}-librdkafka-consumer",
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": settings.consumer_auto_offset_reset,
        "session.timeout.ms": settings.consumer_session_timeout_ms,
        "heartbeat.interval.ms": settings.consumer_heartbeat_interval_ms,
        "fetch.wait.max.ms": settings.consumer_fetch_max_wait_ms,
    }


Send = tuple[str, bytes, bytes | None, list[tuple[str, bytes]]]


class Publishing:
    """One librdkafka producer, connected once, that times rounds of ready-made records."""

    def __init__(self, settings: BusSettings) -> None:
        self.failed: list[str] = []
        self.producer = Producer(
            {**producer_config(settings), "on_delivery": self._delivered, "error_cb": self._error}
        )

    def _delivered(self, error: KafkaError | None, message: Any) -> None:
        if error is not None:
            self.failed.append(str(error))

    def _error(self, error: KafkaError) -> None:
        if error.fatal():
            self.failed.append(str(error))

    def round(self, sends: list[Send]) -> float:
        """Produce every record, flush, and return records per second."""
        produce = self.producer.produce
        poll = self.producer.poll
        started = time.perf_counter()
        for topic, value, key, headers in sends:
            try:
                produce(topic, value, key, headers=headers)
            except BufferError:  # the local queue is full: serve callbacks, then try again
                poll(0.01)
                produce(topic, value, key, headers=headers)
        left = self.producer.flush(TIMEOUT_S)
        elapsed = time.perf_counter() - started
        if left or self.failed:
            raise RuntimeError(f"librdkafka: {left} records unsent, failures: {self.failed[:3]}")
        return len(sends) / elapsed

    def close(self) -> None:
        """Deliver what is left."""
        self.producer.flush(TIMEOUT_S)


def consume_round(settings: BusSettings, topic: str, count: int, model: type[BaseModel]) -> float:
    """Read `count` records with a fresh group, validate each, commit per batch; records/s.

    The same loop as the raw aiokafka one: batches of `consumer_max_records`, the same
    pydantic model's `model_validate_json` on every value, a synchronous commit per batch.
    """
    consumer = Consumer(consumer_config(settings, f"bench.consume.rd.{uuid.uuid4().hex[:8]}"))
    consumer.subscribe([topic])
    try:
        seen = 0
        started = 0.0
        elapsed = 0.0
        deadline = time.monotonic() + TIMEOUT_S
        timeout_s = settings.consumer_fetch_timeout_ms / 1000
        while seen < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"librdkafka consumer read {seen} of {count} events")
            batch = consumer.consume(settings.consumer_max_records, timeout_s)
            if not batch:
                continue
            if not started:
                started = time.perf_counter()
            for message in batch:
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise RuntimeError(f"librdkafka consumer: {error}")
                model.model_validate_json(message.value() or b"")
                seen += 1
            if seen >= count:
                elapsed = time.perf_counter() - started
            consumer.commit(asynchronous=False)
        return count / elapsed
    finally:
        consumer.close()
