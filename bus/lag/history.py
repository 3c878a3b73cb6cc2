"""`LagHistory`: successive lag scans turned into Burrow-style statuses.

    history = LagHistory(StatusRules(window=10))
    report = history.update(await scanner.scan(groups))   # statuses set from the windows so far

One scan says how far behind a group is; only a window of scans says whether it is catching
up, stuck or gone. The history keeps a `CommitWindow` per group and partition and the last
few lag totals per group (for sparklines).
"""

from __future__ import annotations

from collections import deque

from bus.config import BusSettings
from bus.lag.report import LagReport
from bus.lag.status import CommitWindow, Status, StatusRules, evaluate_partition


def rules_from(settings: BusSettings) -> StatusRules:
    """The evaluator's thresholds from `BUS_LAG_*` settings."""
    return StatusRules(
        window=settings.lag_window,
        min_commits=settings.lag_min_commits,
        stop_after_s=settings.lag_stop_after_s,
    )


class LagHistory:
    """Commit windows of every partition of every group seen so far."""

    def __init__(self, rules: StatusRules | None = None, *, keep: int = 60) -> None:
        self.rules = rules or StatusRules()
        self._windows: dict[tuple[str, str, int], CommitWindow] = {}
        self._totals: dict[str, deque[tuple[float, int]]] = {}
        self._keep = keep

    def update(self, report: LagReport) -> LagReport:
        """Add `report` to the windows and return it with every status evaluated."""
        groups = []
        for group in report.groups:
            alive = bool(group.members)
            statuses: dict[tuple[str, int], Status] = {}
            scans = []
            for p in group.partitions:
                key = (group.group, p.topic, p.partition)
                window = self._windows.setdefault(key, CommitWindow(self.rules.window))
                if p.committed is not None:
                    window.observe(p.committed, p.lag, report.taken_at, alive=alive)
                statuses[(p.topic, p.partition)] = evaluate_partition(
                    list(window.commits), p.lag, report.taken_at, self.rules, members=alive
                )
                scans.append(len(window.commits))
            worst_status = max(statuses.values(), key=lambda s: s.severity, default=None)
            detail = self._detail(worst_status, alive=alive, scans=min(scans, default=0))
            evaluated = group.with_statuses(statuses, detail)
            groups.append(evaluated)
            totals = self._totals.setdefault(group.group, deque(maxlen=self._keep))
            totals.append((report.taken_at, evaluated.lag))
        return LagReport(report.taken_at, tuple(groups), report.end_offsets)

    def _detail(self, status: Status | None, *, alive: bool, scans: int) -> str:
        if status is Status.STOP and not alive:
            return "no member consumes while events wait"
        if status is Status.STOP:
            return f"no commit for over {self.rules.stop_after_s:g} s while events wait"
        if status is Status.UNKNOWN:
            return (
                f"{scans} scan(s) of its commits so far; telling moving from stuck takes "
                f"{self.rules.min_commits} (`bus lag --watch` or the dashboard)"
            )
        return ""

    def totals(self, group: str) -> list[tuple[float, int]]:
        """The group's total lag at each of the last scans: (epoch seconds, lag)."""
        return list(self._totals.get(group, ()))
