"""Topics from the catalog: plan the difference with the broker, then apply it.

plan = await plan_topics(catalog.event_types, settings)   # `bus topics plan`
await apply_plan(plan, settings)                          # `bus topics apply`
"""

from bus.topics.apply import AppliedChanges, apply_plan, consumers_by_topic, plan_topics
from bus.topics.observe import observe
from bus.topics.plan import (
    ClusterState,
    ConfigChange,
    ObservedTopic,
    PartitionChange,
    TopicPlan,
    TopicSpec,
    desired_topics,
    diff,
)

__all__ = [
    "AppliedChanges",
    "ClusterState",
    "ConfigChange",
    "ObservedTopic",
    "PartitionChange",
    "TopicPlan",
    "TopicSpec",
    "apply_plan",
    "consumers_by_topic",
    "desired_topics",
    "diff",
    "observe",
    "plan_topics",
]
