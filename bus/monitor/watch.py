"""`LagMonitor`: scans the cluster on an interval and keeps the latest picture for the dashboard.

    monitor = LagMonitor(settings, catalog)
    await monitor.start()                 # scans every BUS_MONITOR_SCAN_INTERVAL_S
    state = monitor.state                 # MonitorState: lag report, history, dead letters
    async for state in monitor.updates(): ...   # one per scan (server-sent events)

Each scan is one batched lag scan of every known group, one pass over the dead-letter topics'
offsets and, when a dead-letter topic grew, a read of its newest records.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from bus.catalog import Catalog
from bus.config import BusSettings
from bus.dlq.reader import DeadLetter, is_dead_letter_topic, read_dead_letters
from bus.lag import LagHistory, LagReport, LagScanner, active_only, candidate_groups, rules_from
from bus.logging import get_logger
from bus.reliability.naming import DLQ_PREFIX, RETRY_PREFIX, group_of_dlq

log = get_logger("bus.monitor")

#: Newest dead letters kept per dead-letter topic for the dashboard.
RECENT_DEAD_LETTERS = 20
#: Longest a scan waits to read the newest dead letters.
DEAD_LETTER_READ_TIMEOUT_S = 10.0


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

    async def start(self) -> None:
        """Connect and start scanning in the background."""
        await self._scanner.start()
        self._task = asyncio.create_task(self._loop(), name="bus-monitor-scan")

    async def stop(self) -> None:
        """Stop scanning and disconnect."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._scanner.close()

    async def _loop(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.refresh()
            except Exception as exc:  # a broker hiccup must not kill the dashboard
                log.warning("monitor scan failed", error=repr(exc))
                await self._publish(self._failed(repr(exc)))
            await asyncio.sleep(max(0.0, self.interval_s - (time.monotonic() - started)))

    async def refresh(self) -> MonitorState:
        """Scan once now and publish the result to `state` and `updates()`."""
        names = await candidate_groups(self._scanner, self.catalog, self.groups)
        names = [n for n in names if not n.startswith((DLQ_PREFIX, RETRY_PREFIX))]
        report = self.history.update(
            active_only(await self._scanner.scan(names), self.groups + self.settings.monitor_groups)
        )
        ranges = await self._scanner.log_ranges(is_dead_letter_topic)
        counts: dict[str, int] = {}
        grown: dict[tuple[str, int], tuple[int, int]] = {}
        for (topic, partition), (start, end) in ranges.items():
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
        )
        await self._publish(state)
        assert self.state is not None
        return self.state

    def _failed(self, error: str) -> MonitorState:
        if self.state is None:
            return MonitorState(LagReport(time.time(), ()), {}, error=error)
        previous = self.state
        return MonitorState(
            previous.report,
            previous.history,
            previous.dead_letters,
            previous.recent_dead_letters,
            error=error,
        )

    async def _publish(self, state: MonitorState) -> None:
        self._sequence += 1
        self.state = MonitorState(
            state.report,
            state.history,
            state.dead_letters,
            state.recent_dead_letters,
            state.error,
            self._sequence,
        )
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
