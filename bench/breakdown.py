"""Per-event CPU cost of each step of the publish and consume paths, without a broker.

Each step runs over the same ~120-byte events in a tight loop (best of `repeat` passes), so
the figures say where an SDK event's time goes, next to the one step the raw baselines also
do (`model_validate_json` on the consume side). They are CPU costs on this machine, not
throughput: the broker round trips are in the ratios.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiokafka.structs import ConsumerRecord, TopicPartition

from bench.catalog import PUBLISHER, SUBSCRIBER, ConsumeEvent, PublishEvent, catalog, payloads
from bus.config import BusSettings
from bus.envelope import Envelope
from bus.publish import build_record
from bus.subscribe import Subscriber, decode, validate


def _best_us(step: Callable[[], Any], count: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - started)
    return round(best / count * 1e6, 2)


async def run(count: int, repeat: int = 3) -> dict[str, dict[str, float]]:
    """Microseconds per event for each step, publish side and consume side."""
    settings = BusSettings(_env_file=None, bootstrap_servers="127.0.0.1:9")  # type: ignore[call-arg]
    data = payloads(count)
    publish_type = PublishEvent.event_type()
    consume_type = ConsumeEvent.event_type()
    source = catalog.system(PUBLISHER)
    models = [publish_type.data.model_validate(item) for item in data]
    envelopes = [Envelope.new(source=source.source, type=publish_type.type) for _ in range(count)]
    publish = {
        "validate_dict": lambda: [publish_type.data.model_validate(item) for item in data],
        "serialize_json": lambda: [m.__pydantic_serializer__.to_json(m) for m in models],
        "envelope_new": lambda: [
            Envelope.new(source=source.source, type=publish_type.type) for _ in range(count)
        ],
        "envelope_to_headers": lambda: [e.to_headers() for e in envelopes],
        "build_record": lambda: [build_record(publish_type, source, item) for item in data],
    }
    records = [build_record(consume_type, source, item) for item in data]
    consumed = [
        ConsumerRecord(
            r.topic, i % 6, i, 0, 0, r.key, r.value, None, len(r.key), len(r.value), r.headers
        )
        for i, r in enumerate(records)
    ]
    subscriber = Subscriber(SUBSCRIBER, "bench.breakdown", catalog=catalog, settings=settings)

    @subscriber.handler(ConsumeEvent)
    async def nothing(event: ConsumeEvent, envelope: Envelope) -> None:
        """A handler that does nothing, so only the SDK's own work is measured."""

    consume = {
        "raw_validate_json": lambda: [
            consume_type.data.model_validate_json(r.value or b"") for r in consumed
        ],
        "decode_envelope": lambda: [decode(r, consume_type) for r in consumed],
        "validate_record": lambda: [validate(r, consume_type) for r in consumed],
    }
    results = {
        "publish": {name: _best_us(step, count, repeat) for name, step in publish.items()},
        "consume": {name: _best_us(step, count, repeat) for name, step in consume.items()},
    }
    # The subscriber's whole path, minus fetching: batches shaped like `getmany`'s (1,000
    # records over the topic's 6 partitions) through the same per-batch code the consume loop
    # runs, with a lane that only notes the commit (decode, validate, log and trace context,
    # handler call, metrics, offsets).
    batches = _getmany_batches(consumed, size=1000)
    lane = _CommitNoted()
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for batch in batches:
            await subscriber._process_batch(lane, batch)  # type: ignore[arg-type]
        best = min(best, time.perf_counter() - started)
    results["consume"]["subscriber_per_record"] = round(best / count * 1e6, 2)
    return results


class _CommitNoted:
    """Stands in for a consumer lane: the subscriber's commit is noted, not sent."""

    def __init__(self) -> None:
        self.commits = 0

    async def commit(self, offsets: object) -> None:
        self.commits += 1


def _getmany_batches(
    records: list[ConsumerRecord[bytes, bytes]], *, size: int
) -> list[dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]]:
    """`records` cut into batches of `size`, grouped by partition as getmany returns them."""
    batches = []
    for start in range(0, len(records), size):
        batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = {}
        for record in records[start : start + size]:
            batch.setdefault(TopicPartition(record.topic, record.partition), []).append(record)
        batches.append(batch)
    return batches
