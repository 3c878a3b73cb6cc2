"""publish_ratio: the SDK's pipelined publishing against a raw aiokafka producer.

The raw aiokafka producer and the SDK's come from `bus.broker.clients.producer` with the same
settings (linger, batch size, acks=all, idempotence as the broker allows); librdkafka's
producer gets the same settings (`bench.librdkafka.producer_config`). The raw producers send
bytes prepared beforehand: the same values, keys and headers the SDK builds. The SDK starts
from plain dicts, as an OPD application hands them over, so its time includes validation, the
envelope, the key and serialisation. Sends are pipelined (`send` + `flush`), never awaited
one by one.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from bench.catalog import PUBLISHER, PublishEvent, catalog, payloads
from bench.environment import Sizes
from bench.librdkafka import Publishing, Send
from bench.measure import Comparison, compare
from bus.broker import clients
from bus.config import BusSettings
from bus.publish import Publisher

EVENT_TYPE = PublishEvent.event_type()


async def run(settings: BusSettings, sizes: Sizes) -> Comparison:
    """Interleaved rounds of aiokafka, librdkafka and SDK publishing of the same events."""
    data = payloads(sizes.publish_events)
    async with Publisher(PUBLISHER, catalog=catalog, settings=settings) as publisher:
        producer = clients.producer(settings)
        await producer.start()
        librdkafka = Publishing(settings)
        try:
            # Warm every path up (metadata, connections, first batches) outside the timing.
            await _raw_round(producer, publisher, data[:200])
            await _librdkafka_round(librdkafka, publisher, data[:200])
            await _sdk_round(publisher, data[:200])
            return await compare(
                sizes.throughput_rounds,
                {
                    "aiokafka": lambda: _raw_round(producer, publisher, data),
                    "librdkafka": lambda: _librdkafka_round(librdkafka, publisher, data),
                    "sdk": lambda: _sdk_round(publisher, data),
                },
            )
        finally:
            librdkafka.close()
            await producer.stop()


def _prepared(publisher: Publisher, data: list[dict[str, Any]]) -> list[Send]:
    # The raw producers' bytes are built by the SDK before the clock starts, and dropped when
    # the round ends, so that neither path's garbage collections scan the other's objects.
    records = [publisher.prepare(item, event_type=EVENT_TYPE.type) for item in data]
    return [(r.topic, r.value, r.key, list(r.headers)) for r in records]


async def _librdkafka_round(
    librdkafka: Publishing, publisher: Publisher, data: list[dict[str, Any]]
) -> float:
    sends = _prepared(publisher, data)
    gc.collect()
    return librdkafka.round(sends)


async def _raw_round(producer: Any, publisher: Publisher, data: list[dict[str, Any]]) -> float:
    sends = _prepared(publisher, data)
    gc.collect()
    started = time.perf_counter()
    for topic, value, key, headers in sends:
        await producer.send(topic, value=value, key=key, headers=headers)
    await producer.flush()
    return len(sends) / (time.perf_counter() - started)


async def _sdk_round(publisher: Publisher, data: list[dict[str, Any]]) -> float:
    event_type = EVENT_TYPE.type
    gc.collect()
    started = time.perf_counter()
    for item in data:
        await publisher.send(item, event_type=event_type)
    await publisher.flush()
    return len(data) / (time.perf_counter() - started)
