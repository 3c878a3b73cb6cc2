"""`LagReport`: what one lag scan saw, per consumer group, topic and partition.

Its `to_dict()` is the document `bus lag --json` prints:
`{"groups": [{"group", "status", "detail", "state", "lag", "lag_seconds", "members":
[{"member_id", "client_id", "host", "partitions": [{"topic", "partition"}]}], "partitions":
[{"topic", "partition", "committed", "end", "lag", "lag_seconds", "status"}]}]}`.
A scan's statuses are UNKNOWN (ERROR if its offsets could not be read) until `LagHistory`
evaluates them.
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
    status: Status = Status.UNKNOWN

    def to_dict(self) -> dict[str, Any]:
        """The partition's entry in `bus lag --json`."""
        return {
            "topic": self.topic,
            "partition": self.partition,
            "committed": self.committed,
            "end": self.end,
            "lag": self.lag,
            "lag_seconds": round(self.lag_seconds, 3),
            "status": self.status.value,
        }


@dataclass(frozen=True, slots=True)
class Member:
    """A live member of a consumer group and the partitions assigned to it."""

    member_id: str
    client_id: str
    host: str
    assignment: tuple[tuple[str, int], ...] = ()

    @property
    def label(self) -> str:
        """`member-id on host`, saying so when the broker did not report the host."""
        host = self.host.removeprefix("/") or "an unreported host"
        return f"{self.member_id or '(no member id)'} on {host}"

    def to_dict(self) -> dict[str, Any]:
        """The member's entry in `bus lag --json`."""
        return {
            "member_id": self.member_id,
            "client_id": self.client_id,
            "host": self.host,
            "partitions": [{"topic": t, "partition": p} for t, p in self.assignment],
        }


@dataclass(frozen=True)
class GroupLag:
    """A consumer group's lag over every partition it consumes, and its status."""

    group: str
    partitions: tuple[PartitionLag, ...]
    members: tuple[Member, ...] = ()
    state: str = ""
    error: str | None = None
    status: Status = Status.UNKNOWN
    #: Why the status is what it is, when the numbers alone do not say (UNKNOWN, STOP, ERROR).
    detail: str = ""

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

    def with_statuses(self, statuses: dict[tuple[str, int], Status], detail: str = "") -> GroupLag:
        """This group with partition statuses set and its own status the worst of them.

        A group with no partition to judge (it never committed and holds no assignment) is
        UNKNOWN, not OK: nothing was assessed.
        """
        # A scan of thousands of partitions calls this once per group, mostly with every
        # partition OK: a partition keeps its row unless its status changes.
        partitions = tuple(
            p
            if (status := statuses.get((p.topic, p.partition), Status.UNKNOWN)) is p.status
            else replace(p, status=status)
            for p in self.partitions
        )
        if self.error:
            status, detail = Status.ERROR, self.error
        elif not partitions:
            status = Status.UNKNOWN
            detail = "no committed offsets and no assigned partitions: nothing to assess"
        else:
            status = worst(p.status for p in partitions)
        return replace(self, partitions=partitions, status=status, detail=detail)

    def to_dict(self) -> dict[str, Any]:
        """The group's entry in `bus lag --json`."""
        return {
            "group": self.group,
            "status": self.status.value,
            "detail": self.detail,
            "state": self.state,
            "lag": self.lag,
            "lag_seconds": round(self.lag_seconds, 3),
            "members": [m.to_dict() for m in self.members],
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
