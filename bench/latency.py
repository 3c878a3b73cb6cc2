"""e2e_p50_ms / e2e_p99_ms: publish-to-handler latency at a steady rate (1,000 events/s).

A paced publisher sends events with `Publisher.send` (pipelined, as an application would) on
a fixed schedule; a `Subscriber` in the same process records, per event, the handler's wall
clock minus the envelope's `time` (stamped when the event was prepared, just before sending).
Both run in one process on one clock, so there is no clock skew in the figure. Latency
includes the producer's linger, the broker round trip, the consumer's fetch and the SDK's
decode and validation.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from dataclasses import dataclass

from aiokafka.structs import OffsetAndMetadata

from bench.catalog import PUBLISHER, SUBSCRIBER, LatencyEvent, catalog, payloads
from bench.environment import Sizes
from bench.measure import finish
from bus.broker import clients
from bus.config import BusSettings
from bus.envelope import Envelope
from bus.publish import Publisher
from bus.subscribe import Subscriber

EVENT_TYPE = LatencyEvent.event_type()


@dataclass(frozen=True)
class Latency:
    """Publish-to-handler latency percentiles in milliseconds, and what was measured."""

    p50_ms: float
    p99_ms: float
    max_ms: float
    events: int
    rate: int


async def run(settings: BusSettings, sizes: Sizes) -> Latency:
    """Publish at `sizes.latency_rate` events/s for `sizes.latency_seconds`; measure each event."""
    total = int(sizes.latency_rate * sizes.latency_seconds)
    latencies: list[float] = []
    finished = asyncio.Event()
    group = f"bench.latency.{uuid.uuid4().hex[:8]}"
    # The topic holds earlier runs' events: the new group starts at the log end instead of
    # reading them all while the first events of this run are measured.
    await _start_at_log_end(settings, group)
    subscriber = Subscriber(SUBSCRIBER, group, catalog=catalog, settings=settings)

    run_started = time.time()

    @subscriber.handler(LatencyEvent)
    async def measure(event: LatencyEvent, envelope: Envelope) -> None:
        sent_at = envelope.time.timestamp()
        if sent_at < run_started:
            return  # an earlier run's event: the new group reads the topic from the start
        latencies.append(time.time() - sent_at)
        if len(latencies) >= total:
            finished.set()

    await subscriber.start()
    task = asyncio.create_task(subscriber.run())
    try:
        await asyncio.wait_for(subscriber.assigned.wait(), 30)
        async with Publisher(PUBLISHER, catalog=catalog, settings=settings) as publisher:
            await _paced(publisher, total, sizes.latency_rate)
            await finish(finished, task, limit_s=30)
    finally:
        await subscriber.stop()
        await task
    ms = sorted(value * 1000 for value in latencies)
    return Latency(
        p50_ms=statistics.median(ms),
        p99_ms=ms[min(len(ms) - 1, int(len(ms) * 0.99))],
        max_ms=ms[-1],
        events=len(ms),
        rate=sizes.latency_rate,
    )


async def run_raw(settings: BusSettings, sizes: Sizes) -> Latency:
    """The same measurement with a raw aiokafka producer and `getmany` consumer, for context.

    Same settings (linger, fetch wait, batch sizes), same topic and rate; the producer sends
    ready-made bytes with its send time in a header, the consumer validates each value with
    the same pydantic model, records the latency and commits per batch. What the SDK adds to
    latency is the difference between the two.
    """
    total = int(sizes.latency_rate * sizes.latency_seconds)
    values = [
        EVENT_TYPE.data.model_validate(item).model_dump_json().encode() for item in payloads(total)
    ]
    latencies: list[float] = []
    consumer = clients.consumer(
        settings, EVENT_TYPE.topic, group_id=f"bench.latency.raw.{uuid.uuid4().hex[:8]}"
    )
    producer = clients.producer(settings)
    await asyncio.gather(consumer.start(), producer.start())
    try:
        # Start from the log end: the SDK's run left its events on the topic.
        deadline = time.monotonic() + 30
        while not consumer.assignment():
            if time.monotonic() > deadline:
                raise TimeoutError("the raw consumer got no partitions within 30 s")
            await consumer.getmany(timeout_ms=100)
        await consumer.seek_to_end()
        for tp in consumer.assignment():
            await consumer.position(tp)

        async def consume() -> None:
            model = EVENT_TYPE.data
            while len(latencies) < total:
                batch = await consumer.getmany(
                    timeout_ms=settings.consumer_fetch_timeout_ms,
                    max_records=settings.consumer_max_records,
                )
                for records in batch.values():
                    for record in records:
                        model.model_validate_json(record.value or b"")
                        stamp = dict(record.headers).get("sent_at")
                        if stamp is None:
                            # One of the SDK run's events: a broker may report a log end
                            # that trails the last produce batch, so the seek can land early.
                            continue
                        latencies.append(time.time() - float(stamp))
                if batch:
                    await consumer.commit()

        reading = asyncio.create_task(consume())
        started = time.perf_counter()
        sent = 0
        while sent < total:
            due = min(total, int((time.perf_counter() - started) * sizes.latency_rate) + 1)
            while sent < due:
                stamp = repr(time.time()).encode()
                await producer.send(EVENT_TYPE.topic, values[sent], headers=[("sent_at", stamp)])
                sent += 1
            await asyncio.sleep(0.001)
        await producer.flush()
        await asyncio.wait_for(reading, 30)
    finally:
        await asyncio.gather(consumer.stop(), producer.stop())
    ms = sorted(value * 1000 for value in latencies)
    return Latency(
        p50_ms=statistics.median(ms),
        p99_ms=ms[min(len(ms) - 1, int(len(ms) * 0.99))],
        max_ms=ms[-1],
        events=len(ms),
        rate=sizes.latency_rate,
    )


async def _start_at_log_end(settings: BusSettings, group: str) -> None:
    """Commit the latency topic's end offsets for `group`, which has never run."""
    consumer = clients.consumer(settings, group_id=group)
    await consumer.start()
    try:
        partitions = await clients.topic_partitions(consumer, EVENT_TYPE.topic)
        ends = await consumer.end_offsets(partitions)
        consumer.assign(partitions)
        await consumer.commit({tp: OffsetAndMetadata(end, "") for tp, end in ends.items()})
    finally:
        await consumer.stop()


async def _paced(publisher: Publisher, total: int, rate: int) -> None:
    """Send `total` events on a fixed schedule of `rate` per second (catching up, never bursting
    ahead), each stamped at the moment it is prepared."""
    data = payloads(total)
    event_type = EVENT_TYPE.type
    started = time.perf_counter()
    sent = 0
    while sent < total:
        due = min(total, int((time.perf_counter() - started) * rate) + 1)
        while sent < due:
            await publisher.send(data[sent], event_type=event_type)
            sent += 1
        await asyncio.sleep(0.001)
    await publisher.flush()
