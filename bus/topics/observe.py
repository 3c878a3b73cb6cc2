"""Reading the broker: its size, its topics' partitions and replication, their configs.

Configs are read with DescribeConfigs; a broker that does not implement it, or refuses it for
a topic, leaves those topics' configs unknown (`None`) with the reason, instead of failing the
plan: partitions can still be compared.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from bus.logging import get_logger
from bus.topics.plan import ClusterState, ObservedTopic

log = get_logger("bus.topics")


async def observe(
    admin: AIOKafkaAdminClient,
    *,
    only: Collection[str] | None = None,
    prefixes: Collection[str] = (),
    read_configs: bool = True,
    config_names: Collection[str] = ("retention.ms", "cleanup.policy", "min.insync.replicas"),
) -> ClusterState:
    """Every topic name, and the topics named in `only` (or all) with partitions and configs.

    Topics whose name starts with one of `prefixes` are described as well (configs only for
    those in `only`).
    """
    cluster = await admin.describe_cluster()
    brokers = max(1, len(cluster.get("brokers") or ()))
    listed = frozenset(name for name in await admin.list_topics() if not name.startswith("__"))
    # Only the topics that matter are described: a large cluster has thousands of others.
    names = sorted(
        listed
        if only is None
        else (listed & set(only)) | {n for n in listed if n.startswith(tuple(prefixes))}
    )
    described = await admin.describe_topics(names) if names else []
    shapes: dict[str, tuple[int, int]] = {}
    for topic in described:
        if topic.get("error_code", 0) != 0 or topic.get("is_internal"):
            continue
        partitions = topic.get("partitions") or []
        replication = max((len(p.get("replicas") or ()) for p in partitions), default=0)
        shapes[topic["topic"]] = (len(partitions), replication)
    configs: Mapping[str, Mapping[str, str] | None] = {}
    reason = None
    if read_configs and shapes:
        configured = sorted(shapes if only is None else set(shapes) & set(only))
        configs, reason = await _read_configs(admin, configured, set(config_names))
    topics = {
        name: ObservedTopic(name, partitions, replication, configs.get(name))
        for name, (partitions, replication) in shapes.items()
    }
    return ClusterState(brokers=brokers, topics=topics, configs_unknown_reason=reason, names=listed)


async def _read_configs(
    admin: AIOKafkaAdminClient, names: list[str], wanted: set[str]
) -> tuple[dict[str, Mapping[str, str] | None], str | None]:
    # Every entry is asked for and filtered here: not every Kafka-compatible broker answers a
    # DescribeConfigs that names its keys, and the answer is small either way.
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    try:
        responses = await admin.describe_configs(resources)
    except KafkaError as exc:
        reason = f"the broker did not answer DescribeConfigs ({exc}); config drift is unknown"
        log.warning("topic configs unknown", reason=reason)
        return dict.fromkeys(names), reason
    found: dict[str, Mapping[str, str] | None] = {}
    reasons = []
    for response in responses:
        for error_code, error_message, _type, name, entries, *_ in response.resources:
            if error_code != 0:
                found[name] = None
                reasons.append(f"{name}: {error_message or f'Kafka error code {error_code}'}")
                continue
            # Entry layout: (name, value, read_only, source or is_default, sensitive, ...).
            found[name] = {
                entry[0]: entry[1]
                for entry in entries
                if entry[0] in wanted and entry[1] is not None
            }
    if reasons:
        return found, f"DescribeConfigs refused: {'; '.join(reasons)}"
    return found, None
