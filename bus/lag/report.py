"""`LagReport`: what one lag scan saw, per consumer group, topic and partition.

Its `to_dict()` is the document `bus lag --json` prints:
`{"groups": [{"group", "status", "lag", "lag_seconds", "partitions": [{"topic", "partition",
"committed", "end", "lag", "lag_seconds"}]}]}`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from bus.lag.status import Status, worst


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """One partition as a group sees it; `committed` is None when the group never committed."""

    topic: str
    partition: int
    committed: int | None
    end: int
    lag: int
    lag_seconds: float
    status: Status = Status.OK

    def to_dict(self) -> dict[str, Any]:
        """The partition's entry in `bus lag --json`."""
        return {
            "topic": self.topic,
            "partition": self.partition,
            "committed": self.committed,
            "end": self.end,
            "lag": self.lag,
            "lag_seconds": round(self.lag_seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class Member:
    """A live member of a consumer group and the partitions assigned to it."""

    member_id: str
    client_id: str
    host: str
    assignment: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class GroupLag:
    """A consumer group's lag over every partition it consumes, and its status."""

    group: str
    partitions: tuple[PartitionLag, ...]
    members: tuple[Member, ...] = ()
    state: str = ""
    error: str | None = None
    status: Status = Status.OK

    @property
    def lag(self) -> int:
        """Events not yet consumed, over all partitions."""
        return sum(p.lag for p in self.partitions)

    @property
    def lag_seconds(self) -> float:
        """Age of the oldest unconsumed event of the group, in seconds."""
        return max((p.lag_seconds for p in self.partitions), default=0.0)

    @property
    def topics(self) -> tuple[str, ...]:
        """Topics the group consumes, sorted."""
        return tuple(sorted({p.topic for p in self.partitions}))

    def with_statuses(self, statuses: dict[tuple[str, int], Status]) -> GroupLag:
        """This group with partition statuses set and its own status the worst of them."""
        # A scan of thousands of partitions calls this once per group, mostly with every
        # partition OK: a partition keeps its row unless its status changes.
        partitions = tuple(
            p
            if (status := statuses.get((p.topic, p.partition), Status.OK)) is p.status
            else replace(p, status=status)
            for p in self.partitions
        )
        status = Status.ERROR if self.error else worst(p.status for p in partitions)
        return replace(self, partitions=partitions, status=status)

    def to_dict(self) -> dict[str, Any]:
        """The group's entry in `bus lag --json`."""
        return {
            "group": self.group,
            "status": self.status.value,
            "lag": self.lag,
            "lag_seconds": round(self.lag_seconds, 3),
            "partitions": [p.to_dict() for p in self.partitions],
        }


@dataclass(frozen=True)
class LagReport:
    """Every scanned group at one moment (`taken_at`, epoch seconds), plus the log end offsets."""

    taken_at: float
    groups: tuple[GroupLag, ...]
    end_offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    def group(self, name: str) -> GroupLag:
        """The scanned group called `name` (KeyError if it was not scanned)."""
        for group in self.groups:
            if group.group == name:
                return group
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The document printed by `bus lag --json`."""
        return {"groups": [g.to_dict() for g in self.groups]}
