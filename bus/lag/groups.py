"""Which consumer groups to watch: the brokers' list, the catalog's subscribers, the settings.

ListGroups is the natural source, but it lists only groups a broker knows right now (and some
Kafka-compatible brokers list none; see the broker table in docs/ARCHITECTURE.md), so the
catalog's subscribing systems (whose default group is their system id), `BUS_MONITOR_GROUPS`
and groups named on the command line are watched too.
"""

from __future__ import annotations

from collections.abc import Iterable

from bus.catalog import Catalog
from bus.lag.report import LagReport
from bus.lag.scan import LagScanner
from bus.reliability.naming import RETRY_PREFIX


async def candidate_groups(
    scanner: LagScanner, catalog: Catalog | None, extra: Iterable[str] = ()
) -> list[str]:
    """Every group that may exist: listed by the brokers, from the catalog, or named."""
    # Retry groups read delayed topics: their lag is by design, so they are watched only when
    # named (`--group bus.retry.<group>`).
    found = {g for g in await scanner.list_groups() if not g.startswith(RETRY_PREFIX)}
    found.update(scanner.settings.monitor_groups)
    found.update(extra)
    if catalog is not None:
        found.update(sub.system for sub in catalog.subscriptions)
    return sorted(found)


def active_only(report: LagReport, keep: Iterable[str] = ()) -> LagReport:
    """`report` without the candidate groups that never committed and have no members."""
    named = set(keep)
    groups = tuple(
        g for g in report.groups if g.partitions or g.members or g.error or g.group in named
    )
    return LagReport(report.taken_at, groups, report.end_offsets)
