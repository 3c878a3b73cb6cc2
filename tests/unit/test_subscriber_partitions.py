"""A subscriber's handling of one partition's batch, without a broker.

The broker-facing parts (fetching, committing, rebalancing, the real retry and dead-letter
sends) are proven in tests/integration; here a batch of records built by the publisher is
handed to the subscriber as a fetch would, and the routing of failures stops at the send.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata
from prometheus_client import REGISTRY
from pydantic import ValidationError

from bus.catalog import Catalog
from bus.config import BusSettings
from bus.envelope import Envelope
from bus.errors import FieldError, PermanentError
from bus.logging import event_context
from bus.publish import build_record
from bus.reliability.naming import dlq_topic, retry_topic
from bus.reliability.policy import RetryPolicy
from bus.reliability.routing import FailureRouter
from bus.subscribe import Duplicate, Subscriber
from bus.testing import as_granted, wait_until
from bus.tracing import current_traceparent, handled_event, trace_id_of
from schemas import IzinTerbit

Record = ConsumerRecord[bytes, bytes]
EVENT = IzinTerbit.event_type()
SYSTEM = "bapenda.sipd"
TP = TopicPartition(EVENT.topic, 3)


class SentRouter(FailureRouter):
    """The real routing decisions; the send is recorded instead of produced."""

    def __init__(self, group: str, policy: RetryPolicy, fail: bool = False) -> None:
        # No `super().__init__`: it makes a producer, and nothing is produced here.
        self.group, self.policy = group, policy
        self.sent: list[tuple[str, bytes | None]] = []
        self.fail = fail

    async def send(
        self,
        topic: str,
        *,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes | None]],
    ) -> None:
        if self.fail:
            raise ConnectionError("broker refused the send")
        self.sent.append((topic, value))


class CommitLog:
    """Stands in for a lane: records what would be committed."""

    def __init__(self) -> None:
        self.commits: list[dict[TopicPartition, int]] = []

    async def commit(self, offsets: Mapping[TopicPartition, OffsetAndMetadata]) -> None:
        self.commits.append({tp: meta.offset for tp, meta in offsets.items()})


def _records(
    catalog: Catalog, count: int, first_offset: int = 100, keys: Sequence[str] = ()
) -> list[Record]:
    """`count` records from `first_offset` on; record n's key ends in `keys[n]` (else in n)."""
    source = catalog.system("dpmptsp.sicantik")
    records = []
    for n in range(count):
        suffix = keys[n] if keys else str(n)
        data = {**IzinTerbit.example, "nomor_izin": f"{IzinTerbit.example['nomor_izin']}-{suffix}"}
        out = build_record(EVENT, source, data)
        value, key = out.value or b"", out.key or b""
        position = (TP.topic, TP.partition, first_offset + n, 0, 0)
        records.append(
            ConsumerRecord(*position, key, value, None, len(key), len(value), out.headers)
        )
    return records


def _subscriber(
    catalog: Catalog, group: str, *, attempts: int = 1, router_fails: bool = False, **kw: Any
) -> tuple[Subscriber, SentRouter]:
    policy = RetryPolicy(attempts=attempts, initial_backoff_s=0.0, topic_delays_s=(1.0,))
    subscriber = Subscriber(SYSTEM, group, catalog=catalog, retry=policy, **kw)
    router = SentRouter(subscriber.group, policy, fail=router_fails)
    subscriber._router = router
    return subscriber, router


def _consumed(group: str, outcome: str) -> float:
    labels = {"group": group, "topic": EVENT.topic, "outcome": outcome}
    return REGISTRY.get_sample_value("bus_events_consumed_total", labels) or 0.0


def _handler_runs(group: str) -> float:
    labels = {"group": group, "topic": EVENT.topic}
    return REGISTRY.get_sample_value("bus_handler_duration_seconds_count", labels) or 0.0


async def _process(subscriber: Subscriber, records: list[Record], lane: Any = None) -> int | None:
    return await subscriber._process_partition(lane or CommitLog(), TP, records)


async def test_records_are_handled_in_order_and_counted_once_per_batch(
    catalog: Catalog, unique: str
) -> None:
    subscriber, router = _subscriber(catalog, f"g.order.{unique}")
    records = _records(catalog, 5)
    seen: list[tuple[int | None, dict[str, str | None], str | None]] = []

    @subscriber.handler(IzinTerbit)
    async def on_izin(izin: IzinTerbit, envelope: Envelope) -> Any:
        seen.append((envelope.offset, event_context(), current_traceparent()))
        return Duplicate if envelope.offset == 102 else None

    assert await _process(subscriber, records) == 105
    assert [offset for offset, _, _ in seen] == [100, 101, 102, 103, 104]
    # While handling, log lines get the event's ids and publishes continue its trace.
    envelopes = [Envelope.from_headers(r.headers) for r in records]
    assert [context for _, context, _ in seen] == [
        {
            "event_id": e.id,
            "correlation_id": e.correlation_id,
            "trace_id": trace_id_of(e.traceparent),
        }
        for e in envelopes
    ]
    assert [traceparent for _, _, traceparent in seen] == [e.traceparent for e in envelopes]
    assert handled_event.get() is None  # nothing leaks out of the batch
    stats = subscriber.stats
    assert (stats.received, stats.handled, stats.duplicates, stats.failed) == (5, 5, 1, 0)
    assert _consumed(subscriber.group, "handled") == 5
    assert _handler_runs(subscriber.group) == 5
    assert router.sent == []


async def test_invalid_records_go_to_the_dlq_and_the_rest_is_handled(
    catalog: Catalog, unique: str
) -> None:
    refused: list[tuple[int, str, list[FieldError]]] = []
    subscriber, router = _subscriber(
        catalog,
        f"g.invalid.{unique}",
        on_invalid=lambda record, reason, errors: refused.append((record.offset, reason, errors)),
    )
    records = _records(catalog, 4)
    records[1] = replace(records[1], value=b'{"nomor_izin": 42}')
    records[2] = replace(records[2], headers=[("ce_id", b"only-an-id")])
    handled: list[int | None] = []

    @subscriber.handler(IzinTerbit)
    async def on_izin(envelope: Envelope) -> None:
        handled.append(envelope.offset)

    assert await _process(subscriber, records) == 104
    assert handled == [100, 103]
    # Dead letters keep only what the group's agreement grants: never nama_pemohon.
    assert router.sent == [
        (dlq_topic(subscriber.group), as_granted(catalog, SYSTEM, EVENT.type, r.value))
        for r in records[1:3]
    ]
    (schema_offset, schema_reason, schema_errors), (envelope_offset, envelope_reason, _) = refused
    assert schema_offset == 101 and any(e.path == "nomor_izin" for e in schema_errors)
    assert envelope_offset == 102 and "ce_source" in envelope_reason
    assert IzinTerbit.event_type().type in schema_reason
    stats = subscriber.stats
    assert (stats.received, stats.handled, stats.invalid, stats.dead_lettered) == (4, 2, 2, 2)
    assert _consumed(subscriber.group, "invalid") == 2
    assert _consumed(subscriber.group, "handled") == 2


async def test_a_failing_handler_is_attempted_again_then_moved_to_the_retry_topic(
    catalog: Catalog, unique: str
) -> None:
    subscriber, router = _subscriber(catalog, f"g.retry.{unique}", attempts=3)
    records = _records(catalog, 3)
    attempts: dict[int | None, int] = {}
    ids_when_failing: list[str | None] = []

    @subscriber.handler(IzinTerbit)
    async def on_izin(envelope: Envelope) -> None:
        attempts[envelope.offset] = attempts.get(envelope.offset, 0) + 1
        ids_when_failing.append(event_context().get("event_id"))
        if envelope.offset == 100 and attempts[100] < 2:
            raise TimeoutError("sink busy")  # succeeds on its second attempt
        if envelope.offset == 101:
            raise TimeoutError("sink down")  # never succeeds

    assert await _process(subscriber, records) == 103
    assert attempts == {100: 2, 101: 3, 102: 1}
    assert router.sent == [
        (
            retry_topic(subscriber.group, 1),
            as_granted(catalog, SYSTEM, EVENT.type, records[1].value),
        )
    ]
    # Every attempt ran with the event's ids in the log context.
    ids = [Envelope.from_headers(r.headers).id for r in records]
    assert ids_when_failing == [ids[0]] * 2 + [ids[1]] * 3 + [ids[2]]
    stats = subscriber.stats
    assert (stats.handled, stats.failed, stats.retried, stats.dead_lettered) == (2, 1, 1, 0)
    assert _consumed(subscriber.group, "handled") == 2
    assert _consumed(subscriber.group, "failed") == 1
    assert _handler_runs(subscriber.group) == 3


async def test_a_permanent_error_goes_to_the_dlq_after_one_attempt(
    catalog: Catalog, unique: str
) -> None:
    subscriber, router = _subscriber(catalog, f"g.permanent.{unique}", attempts=3)
    calls = 0

    @subscriber.handler(IzinTerbit)
    async def on_izin(izin: IzinTerbit) -> None:
        nonlocal calls
        calls += 1
        raise PermanentError("kode_wilayah 14.99 does not exist")

    records = _records(catalog, 1)
    assert await _process(subscriber, records) == 101
    assert calls == 1
    assert router.sent == [
        (dlq_topic(subscriber.group), as_granted(catalog, SYSTEM, EVENT.type, records[0].value))
    ]
    assert b"Siti Aminah" in records[0].value and b"Siti Aminah" not in (router.sent[0][1] or b"")
    assert (subscriber.stats.failed, subscriber.stats.dead_lettered) == (1, 1)


async def test_stop_finishes_the_record_in_hand_and_starts_no_other(
    catalog: Catalog, unique: str
) -> None:
    subscriber, _ = _subscriber(catalog, f"g.stop.{unique}")
    handled: list[int | None] = []

    @subscriber.handler(IzinTerbit)
    async def on_izin(envelope: Envelope) -> None:
        handled.append(envelope.offset)
        if envelope.offset == 101:
            await subscriber.stop()

    assert await _process(subscriber, _records(catalog, 4)) == 102
    assert handled == [100, 101]
    assert (subscriber.stats.received, subscriber.stats.handled) == (2, 2)
    assert _consumed(subscriber.group, "handled") == 2


async def test_a_refused_move_commits_what_was_finished_and_stops(
    catalog: Catalog, unique: str
) -> None:
    subscriber, _ = _subscriber(catalog, f"g.refused.{unique}", router_fails=True)
    lane = CommitLog()

    @subscriber.handler(IzinTerbit)
    async def on_izin(envelope: Envelope) -> None:
        if envelope.offset == 102:
            raise PermanentError("cannot apply")

    with pytest.raises(ConnectionError):
        await _process(subscriber, _records(catalog, 4), lane)
    assert lane.commits == [{TP: 102}]  # 100 and 101 finished; 102 was not moved
    assert (subscriber.stats.received, subscriber.stats.handled) == (3, 2)
    assert _consumed(subscriber.group, "handled") == 2
    assert handled_event.get() is None


def _counts(subscriber: Subscriber) -> tuple[int, int, int, float, float]:
    """(received, handled, failed) of the stats; handled events and handler runs of the metrics."""
    stats, group = subscriber.stats, subscriber.group
    return (
        stats.received,
        stats.handled,
        stats.failed,
        _consumed(group, "handled"),
        _handler_runs(group),
    )


def _key(izin: IzinTerbit) -> str:
    """The key suffix `_records` gave the event."""
    return izin.nomor_izin.rsplit("-", 1)[1]


async def test_keys_of_a_partition_are_handled_concurrently_each_in_order(
    catalog: Catalog, unique: str
) -> None:
    keys = "ABCABCABCD"
    subscriber, router = _subscriber(catalog, f"g.keys.{unique}", key_concurrency=2)
    seen: list[tuple[str, int | None]] = []
    in_flight = most_in_flight = 0

    @subscriber.handler(IzinTerbit)
    async def on_izin(izin: IzinTerbit, envelope: Envelope) -> None:
        nonlocal in_flight, most_in_flight
        in_flight += 1
        most_in_flight = max(most_in_flight, in_flight)
        await asyncio.sleep(0)  # an I/O wait: another key's record may run meanwhile
        assert handled_event.get() == envelope
        seen.append((_key(izin), envelope.offset))
        in_flight -= 1

    assert await _process(subscriber, _records(catalog, len(keys), keys=keys)) == 110
    for key in "ABCD":
        expected = [100 + n for n, k in enumerate(keys) if k == key]
        assert [offset for k, offset in seen if k == key] == expected
    assert len(seen) == len(keys)
    assert most_in_flight == 2
    assert handled_event.get() is None
    # Counted as the sequential path counts: once per record, in stats and in metrics.
    assert _counts(subscriber) == (10, 10, 0, 10, 10)
    assert router.sent == []


async def test_stop_with_keys_commits_up_to_the_first_unfinished_record(
    catalog: Catalog, unique: str
) -> None:
    keys = "ABCBCABC"  # A's record 100 is in hand when the subscriber stops
    release = asyncio.Event()
    started: list[int | None] = []
    finished: list[int | None] = []

    async def hold_record_100(envelope: Envelope) -> None:
        started.append(envelope.offset)
        await (release.wait() if envelope.offset == 100 else asyncio.sleep(0))
        finished.append(envelope.offset)

    subscriber, _ = _subscriber(catalog, f"g.keys.stop.{unique}", key_concurrency=4)
    subscriber.handler(IzinTerbit)(hold_record_100)
    processing = asyncio.create_task(_process(subscriber, _records(catalog, 8, keys=keys)))
    await wait_until(lambda: len(finished) == 6, timeout=5, message="every B and C finished")
    await subscriber.stop()
    release.set()
    # A's record in hand finished, its next one (105) never started: commit up to 105.
    assert await processing == 105
    assert sorted(started) == sorted(finished) == [100, 101, 102, 103, 104, 106, 107]
    assert _counts(subscriber) == (7, 7, 0, 7, 7)


async def test_a_refused_move_with_keys_finishes_the_other_keys_record_in_hand_and_stops(
    catalog: Catalog, unique: str
) -> None:
    keys = "ABACBA"
    subscriber, router = _subscriber(
        catalog, f"g.keys.refused.{unique}", router_fails=True, key_concurrency=3
    )
    lane = CommitLog()
    b_started, refused = asyncio.Event(), asyncio.Event()
    finished: list[int | None] = []
    original_send = router.send

    async def send(topic: str, **record: Any) -> None:
        refused.set()  # B's record in hand may finish now, after A's failure
        await original_send(topic, **record)

    router.send = send  # type: ignore[method-assign]

    @subscriber.handler(IzinTerbit)
    async def on_izin(envelope: Envelope) -> None:
        if envelope.offset == 101:
            b_started.set()
            await refused.wait()
        if envelope.offset == 102:
            await b_started.wait()
            raise PermanentError("cannot apply")
        finished.append(envelope.offset)

    with pytest.raises(ConnectionError):
        await _process(subscriber, _records(catalog, 6, keys=keys), lane)
    # 102 (A) was not moved: A's 105 never started, B's 104 neither; C's 103 finished.
    assert sorted(finished) == [100, 101, 103]
    assert lane.commits == [{TP: 102}]
    assert _counts(subscriber) == (4, 3, 1, 3, 3)  # the refused run never finished
    assert handled_event.get() is None


async def test_key_concurrency_below_one_is_refused(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match="key_concurrency must be at least 1"):
        Subscriber(SYSTEM, catalog=catalog, key_concurrency=0)
    monkeypatch.setenv("BUS_CONSUMER_KEY_CONCURRENCY", "0")
    with pytest.raises(ValidationError) as refused:
        BusSettings()
    assert [(e["loc"], e["type"]) for e in refused.value.errors()] == [
        (("consumer_key_concurrency",), "greater_than_equal")
    ]
    assert "consumer_key_concurrency" in str(refused.value)
    monkeypatch.setenv("BUS_CONSUMER_KEY_CONCURRENCY", "8")
    assert Subscriber(SYSTEM, catalog=catalog).key_concurrency == 8
    assert Subscriber(SYSTEM, catalog=catalog, key_concurrency=1).key_concurrency == 1
