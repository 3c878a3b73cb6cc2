"""consume_ratio: the SDK `Subscriber` against a raw aiokafka `getmany` loop, same topic.

The topic is filled once; every round reads all of it with a fresh consumer group. The raw
loops (aiokafka, and librdkafka's `consume` in `bench.librdkafka`) do what a careful
hand-written consumer does: batches of the same size, `model_validate_json` of every value with
the same pydantic model, and one commit per batch.
The SDK does that plus its own work: the CloudEvents envelope from the headers, the handler's
arguments, per-partition ordering and its statistics. Both clocks run from the first record
seen to the last record handled, so the (untimed) group join does not count.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from bench.catalog import PUBLISHER, SUBSCRIBER, ConsumeEvent, catalog, payloads
from bench.environment import Sizes
from bench.librdkafka import consume_round
from bench.measure import Comparison, compare, finish
from bus.broker import clients
from bus.config import BusSettings
from bus.envelope import Envelope
from bus.publish import Publisher
from bus.subscribe import Subscriber

EVENT_TYPE = ConsumeEvent.event_type()
#: Longest one round may take before the benchmark fails instead of hanging.
TIMEOUT_S = 120.0
#: The I/O wait of an I/O-bound handler (a webhook's request and database write, roughly).
IO_WAIT_S = 0.001
#: Keys of one partition handled at once in the I/O-bound comparison.
KEY_CONCURRENCY = 16


async def run(settings: BusSettings, sizes: Sizes) -> Comparison:
    """Fill the topic with `sizes.consume_events` events, then interleave each client's rounds."""
    count = sizes.consume_events
    await fill(settings, count)

    async def librdkafka() -> float:
        return consume_round(settings, EVENT_TYPE.topic, count, EVENT_TYPE.data)

    return await compare(
        sizes.throughput_rounds,
        {
            "aiokafka": lambda: _raw_round(settings, count),
            "librdkafka": librdkafka,
            "sdk": lambda: _sdk_round(settings, count),
        },
    )


async def io_bound(settings: BusSettings, sizes: Sizes) -> dict[str, object]:
    """The SDK with a handler that waits `IO_WAIT_S` per event: keys of a partition one after
    another (`key_concurrency=1`) against `KEY_CONCURRENCY` at once, rounds interleaved."""
    count = max(100, sizes.consume_events // 5)  # sequential rounds take ~1 ms per event
    result = await compare(
        sizes.rounds,
        {
            "sequential": lambda: _sdk_round(settings, count, io_wait_s=IO_WAIT_S),
            "keys": lambda: _sdk_round(
                settings, count, io_wait_s=IO_WAIT_S, key_concurrency=KEY_CONCURRENCY
            ),
        },
    )
    return {
        "events_per_round": count,
        "io_wait_ms": IO_WAIT_S * 1000,
        "partitions": EVENT_TYPE.topic_settings.partitions,
        "key_concurrency": KEY_CONCURRENCY,
        "sequential_eps": round(result.median("sequential")),
        "keys_eps": round(result.median("keys")),
        "keys_to_sequential": round(result.median("keys") / result.median("sequential"), 2),
    }


async def fill(settings: BusSettings, count: int) -> None:
    """Publish `count` events to the consume topic through the SDK (so they carry envelopes)."""
    async with Publisher(PUBLISHER, catalog=catalog, settings=settings) as publisher:
        for item in payloads(count):
            await publisher.send(item, event_type=EVENT_TYPE.type)
        await publisher.flush()


def _group() -> str:
    return f"bench.consume.{uuid.uuid4().hex[:8]}"


async def _raw_round(settings: BusSettings, count: int) -> float:
    consumer = clients.consumer(settings, EVENT_TYPE.topic, group_id=_group())
    model = EVENT_TYPE.data
    await consumer.start()
    try:
        seen = 0
        started = 0.0
        deadline = time.monotonic() + TIMEOUT_S
        while seen < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"raw consumer read {seen} of {count} events")
            batch = await consumer.getmany(
                timeout_ms=settings.consumer_fetch_timeout_ms,
                max_records=settings.consumer_max_records,
            )
            if not batch:
                continue
            if not started:
                started = time.perf_counter()
            for records in batch.values():
                for record in records:
                    model.model_validate_json(record.value or b"")
                    seen += 1
            if seen >= count:
                elapsed = time.perf_counter() - started
            await consumer.commit()
        return count / elapsed
    finally:
        await consumer.stop()


async def _sdk_round(
    settings: BusSettings, count: int, *, io_wait_s: float = 0.0, key_concurrency: int = 1
) -> float:
    subscriber = Subscriber(
        SUBSCRIBER, _group(), catalog=catalog, settings=settings, key_concurrency=key_concurrency
    )
    handled = 0
    started = 0.0
    finished = asyncio.Event()
    elapsed = 0.0

    @subscriber.handler(ConsumeEvent)
    async def count_event(event: ConsumeEvent, envelope: Envelope) -> None:
        nonlocal handled, started, elapsed
        if not started:
            started = time.perf_counter()
        if io_wait_s:
            await asyncio.sleep(io_wait_s)
        handled += 1
        if handled == count:
            elapsed = time.perf_counter() - started
            finished.set()

    await subscriber.start()
    task = asyncio.create_task(subscriber.run())
    try:
        await finish(finished, task, limit_s=TIMEOUT_S)
    finally:
        await subscriber.stop()
        await task
    return count / elapsed
