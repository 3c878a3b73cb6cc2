"""Names of the topics and consumer groups the reliability path owns, derived from the group.

    retry_topic("bapenda.sipd", 1)  -> "bus.retry.bapenda.sipd.1"
    dlq_topic("bapenda.sipd")       -> "bus.dlq.bapenda.sipd"
    replay_group("bapenda.sipd")    -> "bus.dlq-replay.bapenda.sipd"

Every consumer group has its own retry and dead-letter topics, so one group's failures never
reach another group (each agency replays its own dead letters).
"""

from __future__ import annotations

RETRY_PREFIX = "bus.retry."
DLQ_PREFIX = "bus.dlq."
REPLAY_GROUP_PREFIX = "bus.dlq-replay."


def retry_topic(group: str, stage: int) -> str:
    """The retry topic of `group` for stage `stage` (1-based)."""
    if stage < 1:
        raise ValueError(f"retry stages start at 1, got {stage}")
    return f"{RETRY_PREFIX}{group}.{stage}"


def retry_topics(group: str, stages: int) -> list[str]:
    """Every retry topic of `group`, stage 1 first."""
    return [retry_topic(group, n) for n in range(1, stages + 1)]


def retry_consumer_group(group: str) -> str:
    """The consumer group that reads `group`'s retry topics (kept apart from its source lag)."""
    return f"{RETRY_PREFIX}{group}"


def dlq_topic(group: str) -> str:
    """The dead-letter topic of `group`."""
    return f"{DLQ_PREFIX}{group}"


def replay_group(group: str) -> str:
    """The consumer group whose committed offsets are the replay cursor of `group`'s DLQ."""
    return f"{REPLAY_GROUP_PREFIX}{group}"


def retry_stage(topic: str) -> int:
    """The stage of a retry topic (`bus.retry.<group>.<n>` → n); 0 for any other topic."""
    if not topic.startswith(RETRY_PREFIX):
        return 0
    _, _, stage = topic.rpartition(".")
    return int(stage) if stage.isdigit() else 0


def group_of_dlq(topic: str) -> str:
    """The consumer group a dead-letter topic belongs to (`bus.dlq.<group>` → group)."""
    if not topic.startswith(DLQ_PREFIX):
        raise ValueError(f"{topic!r} is not a dead-letter topic")
    return topic.removeprefix(DLQ_PREFIX)


def group_of_failure_topic(topic: str) -> str | None:
    """The group a retry or dead-letter topic belongs to; None for any other topic."""
    if topic.startswith(DLQ_PREFIX):
        return topic.removeprefix(DLQ_PREFIX) or None
    if retry_stage(topic):
        return topic.removeprefix(RETRY_PREFIX).rpartition(".")[0] or None
    return None
