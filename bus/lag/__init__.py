"""Consumer lag: scans batched per broker (`LagScanner`), `LagReport`, Burrow-style status."""

from bus.lag.groups import active_only, candidate_groups
from bus.lag.history import LagHistory, rules_from
from bus.lag.report import GroupLag, LagReport, Member, PartitionLag
from bus.lag.scan import LagScanner
from bus.lag.status import Commit, CommitWindow, Status, StatusRules, evaluate_partition, worst

__all__ = [
    "Commit",
    "CommitWindow",
    "GroupLag",
    "LagHistory",
    "LagReport",
    "LagScanner",
    "Member",
    "PartitionLag",
    "Status",
    "StatusRules",
    "active_only",
    "candidate_groups",
    "evaluate_partition",
    "rules_from",
    "worst",
]
