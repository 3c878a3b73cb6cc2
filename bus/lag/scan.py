"""The lag scan: committed offsets, log end offsets and record ages, batched per broker.

    async with LagScanner(settings) as scanner:
        report = await scanner.scan(["bapenda.sipd", "dlhk.simlhk"])

A scan never sends one request per partition. It sends one Metadata request; per group one
FindCoordinator (cached across scans) and one OffsetFetch naming every partition; one
DescribeGroups per coordinator; one ListOffsets (latest) per partition leader, plus one
(earliest) for partitions a group never committed; and one Fetch per leader, small, to read the
timestamp of the first unconsumed record of each lagging partition. So a 200-partition scan costs
about as many requests as a 2-partition one.

OffsetFetch is built from aiokafka's protocol classes and names its partitions explicitly
(aiokafka's admin `list_consumer_group_offsets` asks for "all topics", which not every
Kafka-compatible broker answers); explicit partitions work on every Kafka version since 0.8.2.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import KafkaError, for_code
from aiokafka.protocol.admin import (
    DescribeGroupsRequest,
    DescribeGroupsRequest_v0,
    DescribeGroupsRequest_v1,
    DescribeGroupsRequest_v2,
    ListGroupsRequest,
)
from aiokafka.protocol.commit import OffsetFetchRequest
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.protocol.metadata import MetadataRequest
from aiokafka.protocol.offset import OffsetRequest
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import TopicPartition

from bus.broker import clients
from bus.config import BusSettings
from bus.lag.report import GroupLag, LagReport, Member, PartitionLag
from bus.lag.status import Status
from bus.logging import get_logger

log = get_logger("bus.lag")

TP = tuple[str, int]

_LATEST = -1
_EARLIEST = -2
#: Bytes asked per partition when reading the first unconsumed record: enough for one batch.
_PEEK_BYTES = 64 * 1024
#: Longest a peek Fetch may wait; the records exist, so Kafka answers at once. A short wait
#: rather than none: a fetch that may not wait at all is allowed to answer empty.
_PEEK_WAIT_MS = 100


class _DescribeGroups(DescribeGroupsRequest):  # type: ignore[misc]
    """DescribeGroups at most v2: aiokafka 0.14 reads v3 replies with the v2 schema (its
    `DescribeGroupsRequest_v3.RESPONSE_TYPE`), which garbles every group after the first and
    closes the connection. v2 carries everything the scan needs (state, members, assignment).
    """


# Set after the class body: `Request.__init_subclass__` derives `_CLASSES` from the generic base.
_DescribeGroups._CLASSES = (
    DescribeGroupsRequest_v0,
    DescribeGroupsRequest_v1,
    DescribeGroupsRequest_v2,
)


class LagScanner:
    """Measures consumer groups' lag against the cluster in a bounded number of requests."""

    def __init__(self, settings: BusSettings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._clock = clock
        self._admin = clients.admin(settings)
        self._coordinators: dict[str, int] = {}
        self._started = False

    @property
    def client(self) -> Any:
        """The underlying `AIOKafkaClient` (every request of a scan goes through its `send`)."""
        return self._admin._client

    async def start(self) -> None:
        """Connect to the cluster; raises `BrokerUnavailableError` if it cannot be reached."""
        try:
            await self._admin.start()
        except KafkaError as exc:
            raise clients.unreachable(self.settings, exc) from exc
        self._started = True

    async def close(self) -> None:
        """Disconnect."""
        if self._started:
            await self._admin.close()
            self._started = False

    async def __aenter__(self) -> LagScanner:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # Public ---------------------------------------------------------------------------------

    async def list_groups(self) -> list[str]:
        """Consumer groups the brokers report (ListGroups, one request per broker).

        A broker knows only its current groups; callers add the groups they know of.
        """
        cluster = await self._metadata()
        found: set[str] = set()
        for broker in cluster.brokers():
            try:
                response = await self.client.send(broker.nodeId, ListGroupsRequest())
            except KafkaError as exc:
                log.warning("ListGroups failed", broker=broker.nodeId, error=repr(exc))
                continue
            if not response.error_code:
                found.update(group for group, *_ in response.groups)
        return sorted(found)

    async def scan(self, groups: Iterable[str], *, topic: str | None = None) -> LagReport:
        """Measure the lag of every group in `groups`, optionally on one topic only."""
        names = sorted(set(groups))
        now = self._clock()
        cluster = await self._metadata()
        topics = sorted(t for t in cluster.topics() if topic is None or t == topic)
        partitions_of = {t: sorted(cluster.partitions_for_topic(t) or ()) for t in topics}
        everything = [(t, p) for t in topics for p in partitions_of[t]]

        await self._find_coordinators(names)
        fetched = await asyncio.gather(*(self._committed(g, everything) for g in names))
        committed = dict(zip(names, fetched, strict=True))
        described = await self._describe(names)

        consumed: dict[str, list[TP]] = {}
        for group in names:
            offsets, _ = committed[group]
            members = described.get(group, ("", ()))[1]
            mine = {tp for tp, offset in offsets.items() if offset >= 0}
            mine |= {tp for m in members for tp in m.assignment if tp[0] in partitions_of}
            whole_topics = sorted({t for t, _ in mine})
            consumed[group] = [(t, p) for t in whole_topics for p in partitions_of[t]]

        needed = sorted({tp for tps in consumed.values() for tp in tps})
        never_committed = sorted(
            {tp for g, tps in consumed.items() for tp in tps if committed[g][0].get(tp, -1) < 0}
        )
        ends, starts = await asyncio.gather(
            self._list_offsets(cluster, needed, _LATEST),
            self._list_offsets(cluster, never_committed, _EARLIEST),
        )

        positions: dict[str, dict[TP, int]] = {}
        for group, tps in consumed.items():
            offsets = committed[group][0]
            positions[group] = {
                tp: offsets[tp] if offsets.get(tp, -1) >= 0 else starts.get(tp, 0) for tp in tps
            }
        lagging = {
            (tp, position)
            for by_tp in positions.values()
            for tp, position in by_tp.items()
            if tp in ends and ends[tp] > position
        }
        timestamps = await self._timestamps(cluster, lagging)

        report_groups = []
        for group in names:
            offsets, error = committed[group]
            state, members = described.get(group, ("", ()))
            rows = []
            for tp in consumed[group]:
                end = ends.get(tp)
                if end is None:
                    error = error or f"no log end offset for {tp[0]}[{tp[1]}]"
                    continue
                position = positions[group][tp]
                lag = max(0, end - position)
                stamp = timestamps.get((tp, position)) if lag else None
                age = max(0.0, now - stamp / 1000) if stamp is not None and stamp >= 0 else 0.0
                if offsets.get(tp, -1) > end:
                    error = error or f"committed offset beyond the log end on {tp[0]}[{tp[1]}]"
                rows.append(
                    PartitionLag(
                        topic=tp[0],
                        partition=tp[1],
                        committed=offsets[tp] if offsets.get(tp, -1) >= 0 else None,
                        end=end,
                        lag=lag,
                        lag_seconds=age,
                    )
                )
            report_groups.append(
                GroupLag(
                    group,
                    tuple(rows),
                    members,
                    state,
                    error,
                    # Not judged yet: statuses come from the evaluator (`LagHistory`).
                    Status.ERROR if error else Status.UNKNOWN,
                )
            )
        return LagReport(now, tuple(report_groups), {tp: ends[tp] for tp in needed if tp in ends})

    async def log_ranges(self, topic_filter: Callable[[str], bool]) -> dict[TP, tuple[int, int]]:
        """(start, end) offsets of every partition of the topics `topic_filter` accepts.

        One Metadata request and two ListOffsets per leader, for any number of partitions.
        """
        cluster = await self._metadata()
        tps = [
            (t, p)
            for t in sorted(cluster.topics())
            if topic_filter(t)
            for p in sorted(cluster.partitions_for_topic(t) or ())
        ]
        starts, ends = await asyncio.gather(
            self._list_offsets(cluster, tps, _EARLIEST), self._list_offsets(cluster, tps, _LATEST)
        )
        return {tp: (starts.get(tp, 0), ends[tp]) for tp in tps if tp in ends}

    async def newest_timestamps(self, ends: dict[TP, int]) -> dict[TP, int]:
        """Timestamp (ms) of the last record of each partition, given its log end offset.

        One Fetch per leader (the dashboard's "last event" of each publisher).
        """
        wanted = {(tp, end - 1) for tp, end in ends.items() if end > 0}
        if not wanted:
            return {}
        stamps = await self._timestamps(await self._metadata(), wanted)
        return {tp: stamp for (tp, _), stamp in stamps.items()}

    # Requests -------------------------------------------------------------------------------

    async def _metadata(self) -> ClusterMetadata:
        response = await self.client.send(self.client.get_random_node(), MetadataRequest(None))
        cluster = ClusterMetadata()
        cluster.update_metadata(response)
        return cluster

    async def _find_coordinators(self, groups: list[str]) -> None:
        missing = [g for g in groups if g not in self._coordinators]
        found = await asyncio.gather(
            *(self._admin.find_coordinator(g) for g in missing), return_exceptions=True
        )
        for group, node in zip(missing, found, strict=True):
            if isinstance(node, int):
                self._coordinators[group] = node

    async def _committed(
        self, group: str, partitions: list[TP]
    ) -> tuple[dict[TP, int], str | None]:
        """Committed offsets of `group` on `partitions`: ONE OffsetFetch to its coordinator."""
        node = self._coordinators.get(group)
        if node is None:
            return {}, "group coordinator not found"
        by_topic: dict[str, list[int]] = defaultdict(list)
        for t, p in partitions:
            by_topic[t].append(p)
        try:
            response = await self.client.send(
                node, OffsetFetchRequest(group, sorted(by_topic.items()))
            )
        except KafkaError as exc:
            self._coordinators.pop(group, None)
            return {}, f"OffsetFetch failed: {exc}"
        if getattr(response, "error_code", 0):
            self._coordinators.pop(group, None)
            return {}, f"OffsetFetch: {for_code(response.error_code).__name__}"
        offsets: dict[TP, int] = {}
        error = None
        for t, rows in response.topics:
            for partition, offset, _metadata, error_code in rows:
                if error_code:
                    error = f"OffsetFetch {t}[{partition}]: {for_code(error_code).__name__}"
                    continue
                offsets[(t, partition)] = offset
        return offsets, error

    async def _describe(self, groups: list[str]) -> dict[str, tuple[str, tuple[Member, ...]]]:
        """State and members of each group: ONE DescribeGroups per coordinator."""
        by_node: dict[int, list[str]] = defaultdict(list)
        for group in groups:
            if group in self._coordinators:
                by_node[self._coordinators[group]].append(group)
        responses = await asyncio.gather(
            *(self.client.send(node, _DescribeGroups(gs)) for node, gs in by_node.items()),
            return_exceptions=True,
        )
        described: dict[str, tuple[str, tuple[Member, ...]]] = {}
        for response in responses:
            if isinstance(response, BaseException):
                log.warning("DescribeGroups failed", error=repr(response))
                continue
            for entry in response.to_object()["groups"]:
                if entry["error_code"]:
                    continue
                members = tuple(_member(m) for m in entry["members"])
                described[entry["group"]] = (entry["state"], members)
        return described

    async def _list_offsets(
        self, cluster: ClusterMetadata, tps: list[TP], at: int
    ) -> dict[TP, int]:
        """Latest or earliest offsets of `tps`: ONE ListOffsets per partition leader."""
        if not tps:
            return {}
        by_leader = _by_leader(cluster, tps)
        requests = [
            self.client.send(
                leader,
                OffsetRequest(-1, 0, [(t, [(p, at) for p in ps]) for t, ps in topics.items()]),
            )
            for leader, topics in by_leader.items()
        ]
        offsets: dict[TP, int] = {}
        for response in await asyncio.gather(*requests):
            for t, rows in response.topics:
                for partition, error_code, *info in rows:
                    if error_code:
                        log.warning(
                            "ListOffsets error",
                            topic=t,
                            partition=partition,
                            error=for_code(error_code).__name__,
                        )
                        continue
                    if response.API_VERSION == 0:
                        if info[0]:
                            offsets[(t, partition)] = info[0][0]
                    else:
                        offsets[(t, partition)] = info[-1]
        return offsets

    async def _timestamps(
        self, cluster: ClusterMetadata, wanted: set[tuple[TP, int]]
    ) -> dict[tuple[TP, int], int]:
        """Timestamp (ms) of the record at each (partition, offset): ONE Fetch per leader.

        Two groups at different offsets of one partition need two fetches of it (a request
        names a partition once), so requests are sent in rounds: as many as the largest number
        of distinct offsets asked of one partition, never one per partition.
        """
        rounds: list[dict[TP, int]] = []
        for tp, offset in sorted(wanted):
            for batch in rounds:
                if tp not in batch:
                    batch[tp] = offset
                    break
            else:
                rounds.append({tp: offset})
        stamps: dict[tuple[TP, int], int] = {}
        for batch in rounds:
            by_leader = _by_leader(cluster, list(batch))
            requests = []
            for leader, topics in by_leader.items():
                request = FetchRequest(
                    _PEEK_WAIT_MS,
                    1,  # min bytes: every partition asked has a record at that offset
                    _PEEK_BYTES * sum(len(ps) for ps in topics.values()),
                    0,  # read uncommitted
                    [
                        (t, [(p, batch[(t, p)], _PEEK_BYTES) for p in ps])
                        for t, ps in topics.items()
                    ],
                )
                requests.append(self.client.send(leader, request))
            for response in await asyncio.gather(*requests, return_exceptions=True):
                if isinstance(response, BaseException):
                    log.warning("Fetch for record timestamps failed", error=repr(response))
                    continue
                for t, rows in response.topics:
                    for partition, error_code, _highwater, *data in rows:
                        asked = batch.get((t, partition))
                        if error_code or asked is None:
                            continue
                        stamp = _timestamp_at(data[-1], asked)
                        if stamp is not None:
                            stamps[((t, partition), asked)] = stamp
        return stamps


def _by_leader(cluster: ClusterMetadata, tps: list[TP]) -> dict[int, dict[str, list[int]]]:
    by_leader: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for t, p in tps:
        leader = cluster.leader_for_partition(TopicPartition(t, p))
        if leader is None or leader < 0:
            log.warning("partition has no leader", topic=t, partition=p)
            continue
        by_leader[leader][t].append(p)
    return by_leader


def _timestamp_at(raw: bytes | None, offset: int) -> int | None:
    """Timestamp of the first record at or after `offset` in a fetched record set."""
    if not raw:
        return None
    records = MemoryRecords(raw)
    while records.has_next():
        batch = records.next_batch()
        if batch is None:
            break
        for record in batch:
            if record.offset >= offset:
                stamp: int = record.timestamp
                return stamp
    return None


def _member(entry: dict[str, Any]) -> Member:
    assignment: tuple[tuple[str, int], ...] = ()
    raw = entry.get("member_assignment") or b""
    if raw:
        try:
            decoded = ConsumerProtocolMemberAssignment.decode(raw)
            assignment = tuple(
                (t, p) for t, partitions in decoded.assignment for p in sorted(partitions)
            )
        except Exception:  # an assignment in a protocol other than `consumer`
            assignment = ()
    return Member(
        member_id=entry.get("member_id", ""),
        client_id=entry.get("client_id", ""),
        host=entry.get("client_host", ""),
        assignment=assignment,
    )
