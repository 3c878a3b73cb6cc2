"""Burrow-style consumer status: a pure evaluator over a sliding window of commits per partition.

    window = [Commit(offset=10, lag=5, at=0.0), Commit(offset=10, lag=9, at=5.0), ...]
    evaluate_partition(window, lag=9, now=12.0, rules=StatusRules())   # -> Status.STALL

`bus lag`, `bus lag --watch`, the dashboard and `/metrics` all take their statuses from here
(through `LagHistory`), so one consumer has one status wherever an operator looks. For a
partition whose current lag is above zero, in order of precedence:

1. STOP: nobody is consuming. Either the group has no members (a consumer that stopped leaves
   its group) and its offset did not move at the last scan, or the time since the last commit
   is longer than the window's span (first to last commit) and longer than
   `rules.stop_after_s` (LinkedIn Burrow's rule, `core/internal/evaluator/caching.go`).
2. REWIND: an offset in the window is lower than the one before it (a reset moved it back).
   Burrow skips this check when the lag was zero somewhere in the window; a reset is news to an
   operator even then, so here it comes first.
3. UNKNOWN: fewer than `rules.min_commits` scans of a live group: one scan cannot tell a
   consumer that moves from one that is stuck. Never OK for want of evidence.
4. If the lag was zero at some commit in the window, the consumer caught up recently: OK.
5. STALL: every commit in the window has the same offset: committing, but not moving.
6. WARNING: the lag never decreased from one commit to the next: falling behind.

A partition with zero lag is always OK. ERROR means the offsets could not be read or make no
sense (a committed offset beyond the log end). Unlike Burrow, the group's status is its worst
partition's status, so STOP, STALL and REWIND stay visible instead of being folded into ERR.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    """A consumer's health, from best to worst."""

    OK = "OK"
    UNKNOWN = "UNKNOWN"
    WARNING = "WARNING"
    REWIND = "REWIND"
    STALL = "STALL"
    STOP = "STOP"
    ERROR = "ERROR"

    @property
    def severity(self) -> int:
        """0 for OK up to 6 for ERROR: the value of the `bus_consumer_group_status` gauge."""
        return _SEVERITY[self]


_SEVERITY = {status: rank for rank, status in enumerate(Status)}


@dataclass(frozen=True, slots=True)
class Commit:
    """One observed commit of a partition: its offset, the lag then, and when (epoch seconds)."""

    offset: int
    lag: int
    at: float


@dataclass(frozen=True)
class StatusRules:
    """Thresholds of the evaluator (settings `BUS_LAG_WINDOW`, `BUS_LAG_STOP_AFTER_S`)."""

    window: int = 10
    min_commits: int = 3
    stop_after_s: float = 60.0


def evaluate_partition(
    window: Sequence[Commit],
    lag: int,
    now: float,
    rules: StatusRules | None = None,
    *,
    members: bool = True,
) -> Status:
    """The status of one partition from its window of commits, its current lag, and whether
    its group has members."""
    rules = rules or StatusRules()
    if lag <= 0:
        return Status.OK
    if not members and not _moved_at_last_scan(window, now):
        return Status.STOP
    if not window:
        return Status.UNKNOWN
    first, last = window[0], window[-1]
    idle = now - last.at
    if idle > (last.at - first.at) and idle > rules.stop_after_s:
        return Status.STOP
    if _rewound(window):
        return Status.REWIND
    if len(window) < rules.min_commits:
        return Status.UNKNOWN
    if any(commit.lag == 0 for commit in window):
        return Status.OK
    if all(commit.offset == first.offset for commit in window):
        return Status.STALL
    if all(later.lag >= earlier.lag for earlier, later in _pairs(window)):
        return Status.WARNING
    return Status.OK


def worst(statuses: Iterable[Status]) -> Status:
    """The most severe of `statuses` (OK when there are none)."""
    return max(statuses, key=lambda status: status.severity, default=Status.OK)


def _moved_at_last_scan(window: Sequence[Commit], now: float) -> bool:
    """True if the scan at `now` saw the offset move: a group without members that still
    commits (`assign()` and commit, as `bus dlq replay` does) is consuming. Such a group is
    STOP at any scan that finds its offset where it was while events wait."""
    if len(window) < 2:
        return False
    return window[-1].at >= now and window[-1].offset != window[-2].offset


def _rewound(window: Sequence[Commit]) -> bool:
    return any(later.offset < earlier.offset for earlier, later in _pairs(window))


def _pairs(window: Sequence[Commit]) -> Iterable[tuple[Commit, Commit]]:
    return itertools.pairwise(window)


@dataclass
class CommitWindow:
    """The last `size` commits of one partition, fed by successive lag scans.

    Kafka's OffsetFetch does not say when an offset was committed, so scans stand in for the
    commit log Burrow reads: an observation is a commit when the offset moved, or when the group
    still has live members (a running consumer that is not moving is STALL, not STOP). An offset
    that stays put with nobody in the group adds nothing, so time since the last commit grows
    until the partition is STOP.
    """

    size: int
    commits: deque[Commit] = field(default_factory=deque)

    def observe(self, offset: int, lag: int, at: float, *, alive: bool) -> None:
        """Record one scan of this partition."""
        last = self.commits[-1] if self.commits else None
        if last is not None and last.offset == offset and not alive:
            return
        self.commits.append(Commit(offset, lag, at))
        while len(self.commits) > self.size:
            self.commits.popleft()
