"""Create the catalog's topics on a cluster; sized down to the cluster when it is smaller.

`bus dev` and the test fixtures only need the missing topics created; `bus topics plan|apply`
(package `bus.topics`) is the full reconciliation, and this shares its plan.
"""

from __future__ import annotations

from collections.abc import Iterable

from bus.catalog import EventType
from bus.config import BusSettings
from bus.topics import TopicPlan, apply_plan, plan_topics


async def ensure_topics(event_types: Iterable[EventType], settings: BusSettings) -> list[str]:
    """Create every missing topic of `event_types`; return the names created."""
    plan = await plan_topics(event_types, settings, read_configs=False)
    if not plan.create:
        return []
    changes = await apply_plan(
        TopicPlan(brokers=plan.brokers, create=plan.create, desired=plan.desired), settings
    )
    return changes.created
