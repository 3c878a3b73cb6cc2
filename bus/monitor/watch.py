"""`LagMonitor`: scans the cluster on an interval and keeps the latest picture for the dashboard.

    monitor = LagMonitor(settings, catalog)
    await monitor.start()                 # scans every BUS_MONITOR_SCAN_INTERVAL_S
    state = monitor.state                 # MonitorState: lag report, history, dead letters
    async for state in monitor.updates(): ...   # one per scan (server-sent events)

Each scan is one batched lag scan of every known group; one pass over the offsets of the
catalog's topics and the dead-letter topics; a read of the newest record's timestamp where a
catalog topic grew, and of the newest records where a dead-letter topic grew; a read of each
ingress's answer counters (`BUS_MONITOR_INGRESS_URLS`); and, with `BUS_DATABASE_DSN`, the
webhook endpoint states and the replay audit. Publish and consume rates come from the growth
of log end offsets and committed offsets over `RATE_WINDOW_S`: what the broker saw, whichever
path published or consumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import asyncpg

from bus.catalog import Catalog
from bus.config import BusSettings
from bus.database import create_pool
from bus.dlq.reader import DeadLetter, is_dead_letter_topic, read_dead_letters
from bus.errors import BusError
from bus.lag import LagHistory, LagReport, LagScanner, active_only, candidate_groups, rules_from
from bus.logging import get_logger
from bus.monitor import audit
from bus.monitor.ingress_answers import IngressAnswers, IngressWatch
from bus.monitor.window import CounterWindow
from bus.reliability.naming import DLQ_PREFIX, RETRY_PREFIX, group_of_dlq
from bus.tracking.webhook_endpoints import EndpointState, read_endpoints

log = get_logger("bus.monitor")

#: Newest dead letters kept per dead-letter topic for the dashboard.
RECENT_DEAD_LETTERS = 20
#: Longest a scan waits to read the newest dead letters.
DEAD_LETTER_READ_TIMEOUT_S = 10.0
#: Publish, consume and ingress counts are over this many seconds.
RATE_WINDOW_S = 300.0
#: Replays of the audit shown on the dashboard.
RECENT_REPLAYS = 10


@dataclass(frozen=True)
class Flow:
    """Events over the rate window, and per second (None until two scans were seen)."""

    events: int
    per_s: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "events": self.events,
            "per_s": None if self.per_s is None else round(self.per_s, 3),
        }


def _flows(window: CounterWindow[Any]) -> dict[Any, Flow]:
    return {k: Flow(int(window.increase(k)), window.rate(k)) for k in window.series()}


@dataclass(frozen=True)
class DeadLetterCount:
    """How many events sit in one group's dead-letter topic."""

    group: str
    topic: str
    messages: int


@dataclass(frozen=True)
class MonitorState:
    """Everything the dashboard and `/metrics` show, as of one scan."""

    report: LagReport
    history: dict[str, list[tuple[float, int]]]
    dead_letters: tuple[DeadLetterCount, ...] = ()
    recent_dead_letters: tuple[DeadLetter, ...] = ()
    error: str | None = None
    sequence: int = 0
    published: dict[str, Flow] = field(default_factory=dict)  # per topic
    consumed: dict[tuple[str, str], Flow] = field(default_factory=dict)  # per (group, topic)
    newest_event_ms: dict[str, int] = field(default_factory=dict)  # per topic
    ingress: IngressAnswers | None = None  # None: no BUS_MONITOR_INGRESS_URLS
    webhooks: tuple[EndpointState, ...] | None = None  # None: no database
    replays: tuple[audit.Replay, ...] | None = None  # None: no database
    database_error: str | None = None  # error class only


class LagMonitor:
    """Background scans of lag and dead letters, shared by the dashboard and `/metrics`."""

    def __init__(
        self,
        settings: BusSettings,
        catalog: Catalog | None = None,
        *,
        groups: Iterable[str] = (),
        interval_s: float | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.groups = list(groups)
        self.interval_s = interval_s or settings.monitor_scan_interval_s
        self.history = LagHistory(rules_from(settings))
        self.state: MonitorState | None = None
        self._scanner = LagScanner(settings)
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()
        self._sequence = 0
        self._dlq_ends: dict[tuple[str, int], int] = {}
        self._recent: dict[str, list[DeadLetter]] = {}
        self._topic_ends: dict[tuple[str, int], int] = {}
        self._newest: dict[str, int] = {}
        self._published = CounterWindow[str](RATE_WINDOW_S)
        self._consumed = CounterWindow[tuple[str, str]](RATE_WINDOW_S)
        urls = settings.monitor_ingress_urls
        self._ingress = IngressWatch(urls, window_s=RATE_WINDOW_S) if urls else None
        self.pool: asyncpg.Pool[Any] | None = None

    async def start(self) -> None:
        """Connect (to the database too, with BUS_DATABASE_DSN) and scan in the background."""
        await self._scanner.start()
        if self.settings.database_dsn:
            try:
                self.pool = await create_pool(self.settings.database_dsn, max_size=3)
                async with self.pool.acquire() as conn:
                    await audit.ensure_schema(conn)
            except (OSError, asyncpg.PostgresError) as exc:
                if self.pool is not None:
                    await self.pool.close()
                    self.pool = None
                await self._scanner.close()
                raise BusError(
                    "the monitor cannot use the bus database (BUS_DATABASE_DSN): "
                    f"{type(exc).__name__}"
                ) from None
        self._task = asyncio.create_task(self._loop(), name="bus-monitor-scan")

    async def stop(self) -> None:
        """Stop scanning and disconnect."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._scanner.close()
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    async def _loop(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.refresh()
            except Exception as exc:  # a broker hiccup must not kill the dashboard
                log.warning("monitor scan failed", error=repr(exc))
                await self._publish(self._failed(type(exc).__name__))
            await asyncio.sleep(max(0.0, self.interval_s - (time.monotonic() - started)))

    async def refresh(self) -> MonitorState:
        """Scan once now and publish the result to `state` and `updates()`."""
        names = await candidate_groups(self._scanner, self.catalog, self.groups)
        names = [n for n in names if not n.startswith((DLQ_PREFIX, RETRY_PREFIX))]
        report = self.history.update(
            active_only(await self._scanner.scan(names), self.groups + self.settings.monitor_groups)
        )
        catalog_topics = {et.topic for et in self.catalog.event_types} if self.catalog else set()
        ranges = await self._scanner.log_ranges(
            lambda t: is_dead_letter_topic(t) or t in catalog_topics
        )
        await self._observe_flows(
            report, {tp: r for tp, r in ranges.items() if tp[0] in catalog_topics}
        )
        counts: dict[str, int] = {}
        grown: dict[tuple[str, int], tuple[int, int]] = {}
        for (topic, partition), (start, end) in ranges.items():
            if topic in catalog_topics:
                continue
            counts[topic] = counts.get(topic, 0) + max(0, end - start)
            if self._dlq_ends.get((topic, partition)) != end:
                grown[(topic, partition)] = (start, end)
        if grown:
            # A read that cannot finish raises (the scan reports the error) and leaves the
            # ends unrecorded, so the next scan reads these partitions again.
            letters = await read_dead_letters(
                self.settings,
                {t for t, _ in grown},
                last=RECENT_DEAD_LETTERS,
                timeout_s=DEAD_LETTER_READ_TIMEOUT_S,
            )
            self._dlq_ends.update({tp: end for tp, (_, end) in grown.items()})
            for letter in letters:
                kept = self._recent.setdefault(letter.topic, [])
                if all(k.offset != letter.offset or k.partition != letter.partition for k in kept):
                    kept.append(letter)
                del kept[:-RECENT_DEAD_LETTERS]
        recent = sorted(
            (letter for kept in self._recent.values() for letter in kept),
            key=lambda d: d.failure.last_failure_at,
            reverse=True,
        )
        state = MonitorState(
            report=report,
            history={g.group: self.history.totals(g.group) for g in report.groups},
            dead_letters=tuple(
                DeadLetterCount(group_of_dlq(t), t, n) for t, n in sorted(counts.items())
            ),
            recent_dead_letters=tuple(recent[:RECENT_DEAD_LETTERS]),
            published=_flows(self._published),
            consumed=_flows(self._consumed),
            newest_event_ms=dict(self._newest),
            ingress=await self._ingress.scrape() if self._ingress is not None else None,
        )
        state = await self._with_database(state)
        await self._publish(state)
        assert self.state is not None
        return self.state

    async def _observe_flows(
        self, report: LagReport, ranges: dict[tuple[str, int], tuple[int, int]]
    ) -> None:
        """Feed the rate windows; read the newest record's time where a catalog topic grew."""
        ends: dict[str, int] = {}
        for (topic, _), (_, end) in ranges.items():
            ends[topic] = ends.get(topic, 0) + end
        self._published.observe(report.taken_at, ends)
        committed: dict[tuple[str, str], int] = {}
        for group in report.groups:
            for p in group.partitions:
                if p.committed is not None:
                    key = (group.group, p.topic)
                    committed[key] = committed.get(key, 0) + p.committed
        self._consumed.observe(report.taken_at, committed)
        moved = {tp: end for tp, (_, end) in ranges.items() if self._topic_ends.get(tp) != end}
        if moved:
            stamps = await self._scanner.newest_timestamps(moved)
            for (topic, _), stamp in stamps.items():
                self._newest[topic] = max(stamp, self._newest.get(topic, 0))
            self._topic_ends.update({tp: end for tp, end in moved.items()})

    async def _with_database(self, state: MonitorState) -> MonitorState:
        """`state` with the webhook endpoint states and the replay audit, if there is a database."""
        if self.pool is None:
            return state
        try:
            async with self.pool.acquire() as conn:
                webhooks = await read_endpoints(conn)
                replays = await audit.recent_replays(conn, RECENT_REPLAYS)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("monitor database read failed", error_class=type(exc).__name__)
            return replace(state, database_error=type(exc).__name__)
        return replace(state, webhooks=tuple(webhooks), replays=tuple(replays))

    async def changed(self) -> None:
        """Scan again now (after a replay), without waiting for the next interval."""
        await self.refresh()

    def _failed(self, error: str) -> MonitorState:
        if self.state is None:
            return MonitorState(LagReport(time.time(), ()), {}, error=error)
        return replace(self.state, error=error)

    async def _publish(self, state: MonitorState) -> None:
        self._sequence += 1
        self.state = replace(state, sequence=self._sequence)
        async with self._changed:
            self._changed.notify_all()

    async def updates(self) -> AsyncIterator[MonitorState]:
        """The current state, then every new one as scans finish."""
        seen = -1

        def fresh() -> bool:
            return self.state is not None and self.state.sequence != seen

        while True:
            async with self._changed:
                await self._changed.wait_for(fresh)
            assert self.state is not None
            seen = self.state.sequence
            yield self.state
