"""Replaying dead letters: back onto their group's path, with their original event id, once.

    report = await replay(settings, "bapenda.sipd.izin")

Each dead letter of `bus.dlq.<group>` is sent to the group's first retry topic
`bus.retry.<group>.1` with `retry_not_before` = now, its original key, value and CloudEvents
headers (so the same `ce_id`: the group's inbox still recognises an event it already applied).
The group's retry lane delivers it to the handler again; if it fails again it takes the retry
path once more and, in the end, comes back to the DLQ.

The replay cursor is the committed offset of the consumer group `bus.dlq-replay.<group>` on the
DLQ: it is committed only after every replayed record was acknowledged, so running `replay`
again replays only dead letters that arrived since. With `original_topic`, only that topic's
dead letters are replayed; the cursor then stops at the first one left behind, so a later
replay of everything sends the skipped ones (and may resend some already replayed, which the
inbox absorbs).

`replay_selected(settings, group, positions)` replays chosen dead letters (the dashboard's
selection) the same way, and leaves the cursor where it is: a later full replay may send them
again, which the group's inbox absorbs.

Dead letters older than the DLQ's retention are gone before they could be replayed: when the
cursor is behind the first offset the DLQ still holds, the report says how many expired
(`expired`), the replay logs it as a warning, and the cursor moves past them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata, RecordMetadata

from bus.broker import clients
from bus.config import BusSettings
from bus.dlq.reader import DeadLetter, read_dead_letters
from bus.errors import BusError
from bus.logging import get_logger
from bus.reliability.failure import REPLAYED_AT, rfc3339, with_failure
from bus.reliability.naming import dlq_topic, replay_group, retry_topic

log = get_logger("bus.dlq")


@dataclass
class ReplayReport:
    """What a replay did (or, with `dry_run`, would do)."""

    group: str
    target: str
    replayed: list[DeadLetter] = field(default_factory=list)
    skipped: int = 0
    #: Dead letters deleted by the DLQ's retention before any replay reached them.
    expired: int = 0
    dry_run: bool = False


def expired_letters(
    cursor: Mapping[TopicPartition, int], firsts: Mapping[TopicPartition, int]
) -> dict[TopicPartition, int]:
    """Per partition, how many dead letters between the cursor and the first one left expired."""
    return {
        tp: first - cursor.get(tp, 0) for tp, first in firsts.items() if first > cursor.get(tp, 0)
    }


async def replay(
    settings: BusSettings,
    group: str,
    *,
    original_topic: str | None = None,
    dry_run: bool = False,
    on_planned: Callable[[int], None] | None = None,
    on_replayed: Callable[[DeadLetter], None] | None = None,
) -> ReplayReport:
    """Replay `group`'s dead letters not replayed before; see the module docstring."""
    source = dlq_topic(group)
    target = retry_topic(group, 1)
    report = ReplayReport(group=group, target=target, dry_run=dry_run)
    cursor = clients.consumer(settings, group_id=replay_group(group))
    await cursor.start()
    try:
        tps = await clients.topic_partitions(cursor, source)
        if not tps:
            raise BusError(f"{source} does not exist: group {group!r} has no dead-letter topic")
        cursor.assign(tps)
        start = {tp: (await cursor.committed(tp)) or 0 for tp in tps}
        expired = expired_letters(start, await cursor.beginning_offsets(tps))
        report.expired = sum(expired.values())
        if report.expired:
            log.warning(
                "dead letters expired before replay",
                group=group,
                topic=source,
                expired=report.expired,
                reason="older than the dead-letter topic's retention (BUS_DLQ_RETENTION_MS)",
            )
        letters = await read_dead_letters(settings, [source], start=start, consumer=cursor)
        chosen: list[DeadLetter] = []
        # Past the expired ones, so that the next replay does not count them again.
        commit: dict[TopicPartition, int] = {tp: start[tp] + n for tp, n in expired.items()}
        blocked: set[TopicPartition] = set()
        for letter in letters:
            tp = TopicPartition(letter.topic, letter.partition)
            if original_topic is not None and letter.failure.original_topic != original_topic:
                report.skipped += 1
                blocked.add(tp)
                continue
            chosen.append(letter)
            if tp not in blocked:
                commit[tp] = letter.offset + 1
        if on_planned is not None:
            on_planned(len(chosen))
        if dry_run:
            report.replayed = chosen
            return report
        await _send(settings, target, chosen, on_replayed)
        report.replayed = chosen
        if commit:
            await cursor.commit({tp: OffsetAndMetadata(o, "") for tp, o in commit.items()})
        log.info(
            "dead letters replayed",
            group=group,
            target=target,
            replayed=len(chosen),
            skipped=report.skipped,
            expired=report.expired,
        )
        return report
    finally:
        await cursor.stop()


async def replay_selected(
    settings: BusSettings, group: str, positions: Iterable[str]
) -> ReplayReport:
    """Replay the dead letters of `group` at `positions` (`topic:partition:offset`), once each."""
    source = dlq_topic(group)
    wanted: dict[TopicPartition, set[int]] = {}
    for position in positions:
        topic, partition, offset = _position(position)
        if topic != source:
            raise BusError(f"{position!r} is not a dead letter of group {group!r} ({source})")
        wanted.setdefault(TopicPartition(topic, partition), set()).add(offset)
    report = ReplayReport(group=group, target=retry_topic(group, 1))
    if not wanted:
        return report
    start = {tp: min(offsets) for tp, offsets in wanted.items()}
    reader = clients.consumer(settings, group_id=None)
    await reader.start()
    try:
        # Sending to a missing topic would wait for it as long as the request timeout allows.
        if report.target not in await reader.topics():
            raise BusError(
                f"{report.target} does not exist: the group's subscriber creates its retry "
                "topics when it starts; start it once, then replay"
            )
        letters = await read_dead_letters(settings, [source], start=start, consumer=reader)
    finally:
        await reader.stop()
    chosen = [
        letter
        for letter in letters
        if letter.offset in wanted.get(TopicPartition(letter.topic, letter.partition), ())
    ]
    missing = sum(map(len, wanted.values())) - len(chosen)
    if missing:
        raise BusError(f"{missing} of the chosen dead letters are no longer in {source}")
    await _send(settings, report.target, chosen, None)
    report.replayed = chosen
    log.info("dead letters replayed", group=group, target=report.target, replayed=len(chosen))
    return report


def _position(position: str) -> tuple[str, int, int]:
    topic, _, rest = position.rpartition(":")
    topic, _, partition = topic.rpartition(":")
    if not (topic and partition.isdigit() and rest.isdigit()):
        raise BusError(f"{position!r} is not a dead-letter position (topic:partition:offset)")
    return topic, int(partition), int(rest)


async def _send(
    settings: BusSettings,
    target: str,
    letters: list[DeadLetter],
    on_replayed: Callable[[DeadLetter], None] | None,
) -> None:
    producer = clients.producer(settings, client_id=f"{settings.client_id}-dlq-replay")
    await clients.start_producer(producer, settings)
    try:
        now = datetime.now(UTC)
        acks: list[asyncio.Future[RecordMetadata]] = []
        for letter in letters:
            failure = replace(letter.failure, retry_not_before=now)
            headers = [
                *with_failure(letter.headers, failure),
                (REPLAYED_AT, rfc3339(now).encode()),
            ]
            ack = await producer.send(target, value=letter.value, key=letter.key, headers=headers)
            if on_replayed is not None:
                ack.add_done_callback(lambda done, letter=letter: on_replayed(letter))
            acks.append(ack)
        # Every replayed record is acknowledged before the cursor moves past it.
        await asyncio.gather(*acks)
    finally:
        await clients.stop_producer(producer)
