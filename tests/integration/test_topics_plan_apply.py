"""`bus topics plan|apply` on the real broker: create, idempotence, partitions, configs, deletes.

Each test declares a scratch catalog whose OPD prefix is unique (`t<hex>`), so its topics never
collide with the shipped catalog's or another test's, and no other topic is a delete candidate.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest
from aiokafka.admin import NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from bus.broker import clients
from bus.broker.topics import ensure_topics
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.errors import BrokerLimitationError, TopicChangeRefusedError
from bus.reliability import dlq_topic, ensure_failure_topics, retry_topic
from bus.testing.services import KafkaService
from bus.testing.topics import scratch_catalog
from bus.topics import apply_plan, plan_topics

pytestmark = pytest.mark.integration

DAY_MS = 24 * 3600 * 1000


async def applied(catalog: Catalog, settings: BusSettings) -> None:
    """Create `catalog`'s topics, as a first `bus topics apply` does."""
    await apply_plan(await plan_topics(catalog.event_types, settings), settings)


async def broker_shape(settings: BusSettings, topic: str) -> tuple[int, dict[str, str]]:
    """Partition count and config entries of `topic`, read straight from the broker."""
    admin = clients.admin(settings)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
        (response,) = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)]
        )
    finally:
        await admin.close()
    (resource,) = response.resources
    return len(described["partitions"]), {entry[0]: entry[1] for entry in resource[4]}


async def test_create_then_a_second_apply_is_a_no_op(
    bus_settings: BusSettings, unique: str
) -> None:
    opd = f"t{unique}"
    catalog = scratch_catalog(opd)

    plan = await plan_topics(catalog.event_types, bus_settings)

    replication = min(3, plan.brokers)
    assert [spec.to_dict() for spec in plan.create] == [
        {
            "topic": f"{opd}.izin.terbit.v1",
            "event_type": f"id.go.riau.{opd}.izin.terbit",
            "partitions": 2,
            "replication_factor": replication,
            "configs": {
                "retention.ms": str(7 * DAY_MS),
                "cleanup.policy": "delete",
                "min.insync.replicas": str(min(2, replication)),
            },
        },
        {
            "topic": f"{opd}.nib.terbit.v1",
            "event_type": f"id.go.riau.{opd}.nib.terbit",
            "partitions": 1,
            "replication_factor": replication,
            "configs": {
                "retention.ms": str(7 * DAY_MS),
                "cleanup.policy": "compact",
                "min.insync.replicas": str(min(2, replication)),
            },
        },
    ]
    assert not (plan.add_partitions or plan.alter_configs or plan.shrink or plan.delete)

    changes = await apply_plan(plan, bus_settings)

    assert changes.created == [f"{opd}.izin.terbit.v1", f"{opd}.nib.terbit.v1"]
    partitions, configs = await broker_shape(bus_settings, f"{opd}.nib.terbit.v1")
    assert partitions == 1
    assert configs["cleanup.policy"] == "compact"
    assert configs["retention.ms"] == str(7 * DAY_MS)

    again = await plan_topics(catalog.event_types, bus_settings)
    assert again.empty, again.to_dict()
    assert again.configs_unknown == ()  # the configs were read and compared, not skipped
    assert (await apply_plan(again, bus_settings)).nothing
    # ensure_topics (bus dev, the test session) shares the plan: nothing left to create.
    assert await ensure_topics(catalog.event_types, bus_settings) == []


async def test_more_partitions_are_planned_and_added_only_when_allowed(
    bus_settings: BusSettings, kafka: KafkaService, unique: str
) -> None:
    opd = f"t{unique}"
    await apply_plan(
        await plan_topics(scratch_catalog(opd).event_types, bus_settings), bus_settings
    )
    # The consumer's failure topics, sized like the izin topic (2), as a subscriber makes them.
    group = f"{opd}.app.izin"
    await ensure_failure_topics(group, [f"{opd}.izin.terbit.v1"], 1, bus_settings)
    grown = scratch_catalog(opd, izin_partitions=4)
    consumers = {f"{opd}.izin.terbit.v1": [f"{opd}.app"]}

    plan = await plan_topics(grown.event_types, bus_settings, consumers=consumers)

    assert [change.to_dict() for change in plan.add_partitions] == [
        {"topic": f"{opd}.izin.terbit.v1", "current": 2, "wanted": 4}
    ]
    assert [change.to_dict() for change in plan.failure_partitions] == [
        {"topic": dlq_topic(group), "current": 2, "wanted": 4},
        {"topic": retry_topic(group, 1), "current": 2, "wanted": 4},
    ]
    assert not (plan.create or plan.alter_configs or plan.shrink or plan.delete)
    with pytest.raises(TopicChangeRefusedError) as refused:
        await apply_plan(plan, bus_settings)
    assert "out of order" in str(refused.value)
    assert "--allow-add-partitions" in str(refused.value)
    assert (await broker_shape(bus_settings, f"{opd}.izin.terbit.v1"))[0] == 2
    if kafka.is_tansu:
        # Tansu 0.6 does not advertise CreatePartitions: apply must say so, not crash.
        with pytest.raises(BrokerLimitationError) as limited:
            await apply_plan(plan, bus_settings, allow_add_partitions=True)
        message = str(limited.value)
        assert "CreatePartitions" in message
        assert f"{opd}.izin.terbit.v1 2 → 4" in message
        assert (await broker_shape(bus_settings, f"{opd}.izin.terbit.v1"))[0] == 2
    else:
        changes = await apply_plan(plan, bus_settings, allow_add_partitions=True)
        assert changes.partitions_added == sorted(
            [f"{opd}.izin.terbit.v1", dlq_topic(group), retry_topic(group, 1)]
        )
        for topic in (f"{opd}.izin.terbit.v1", dlq_topic(group), retry_topic(group, 1)):
            assert (await broker_shape(bus_settings, topic))[0] == 4
        assert (await plan_topics(grown.event_types, bus_settings, consumers=consumers)).empty


async def test_config_drift_is_altered_and_unmanaged_overrides_are_kept(
    bus_settings: BusSettings, unique: str
) -> None:
    opd = f"t{unique}"
    first = await plan_topics(scratch_catalog(opd).event_types, bus_settings)
    # An operator's own override on the topic, an entry the catalog does not manage.
    spec = first.desired[f"{opd}.izin.terbit.v1"]
    admin = clients.admin(bus_settings)
    await admin.start()
    try:
        configs = {**spec.configs, "segment.ms": "3600000"}
        await admin.create_topics(
            [NewTopic(spec.name, spec.partitions, spec.replication_factor, topic_configs=configs)]
        )
    finally:
        await admin.close()
    longer = scratch_catalog(opd, retention_ms=30 * DAY_MS)

    plan = await plan_topics(longer.event_types, bus_settings)

    assert [change.to_dict() for change in plan.alter_configs] == [
        {
            "topic": f"{opd}.izin.terbit.v1",
            "config": "retention.ms",
            "current": str(7 * DAY_MS),
            "wanted": str(30 * DAY_MS),
        }
    ]
    assert [s.name for s in plan.create] == [f"{opd}.nib.terbit.v1"]

    changes = await apply_plan(plan, bus_settings)

    assert changes.configs_altered == [f"{opd}.izin.terbit.v1"]
    _, configs_now = await broker_shape(bus_settings, f"{opd}.izin.terbit.v1")
    assert configs_now["retention.ms"] == str(30 * DAY_MS)
    assert configs_now["segment.ms"] == "3600000"  # IncrementalAlterConfigs set only one entry
    assert (await plan_topics(longer.event_types, bus_settings)).empty


async def test_shrink_and_delete_need_allow_delete(bus_settings: BusSettings, unique: str) -> None:
    opd = f"t{unique}"
    await apply_plan(
        await plan_topics(scratch_catalog(opd).event_types, bus_settings), bus_settings
    )
    # The new catalog wants 1 partition instead of 2 and no longer declares the NIB type.
    smaller = scratch_catalog(opd, izin_partitions=1, with_nib=False)

    plan = await plan_topics(smaller.event_types, bus_settings)

    assert [change.to_dict() for change in plan.shrink] == [
        {"topic": f"{opd}.izin.terbit.v1", "current": 2, "wanted": 1}
    ]
    assert plan.delete == (f"{opd}.nib.terbit.v1",)
    assert "--allow-delete" in plan.errors[0]
    with pytest.raises(TopicChangeRefusedError, match="Kafka cannot remove partitions"):
        await apply_plan(plan, bus_settings)
    assert (await broker_shape(bus_settings, f"{opd}.izin.terbit.v1"))[0] == 2

    changes = await apply_plan(plan, bus_settings, allow_delete=True)

    assert changes.recreated == [f"{opd}.izin.terbit.v1"]
    assert changes.deleted == [f"{opd}.nib.terbit.v1"]
    assert (await broker_shape(bus_settings, f"{opd}.izin.terbit.v1"))[0] == 1
    assert (await plan_topics(smaller.event_types, bus_settings)).empty


def test_cli_reports_the_broker_limitation_without_a_traceback(
    bus_settings: BusSettings, kafka: KafkaService, unique: str, tmp_path: Path
) -> None:
    opd = f"t{unique}"
    for name, partitions in (("small", 1), ("grown", 2)):
        (tmp_path / f"cat_{name}_{unique}.py").write_text(
            textwrap.dedent(
                f"""
                from bus.testing.topics import scratch_catalog
                catalog = scratch_catalog({opd!r}, izin_partitions={partitions})
                """
            )
        )

    def bus(module: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(tmp_path), os.getcwd()]),
            "BUS_BOOTSTRAP_SERVERS": bus_settings.bootstrap_servers,
            "BUS_CATALOG_MODULE": f"cat_{module}_{unique}",
        }
        command = [str(Path(sys.executable).parent / "bus"), *args]
        return subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=60, check=False
        )

    created = bus("small", "topics", "apply")
    assert created.returncode == 0, created.stderr
    assert f"+ create      {opd}.izin.terbit.v1  partitions=1" in created.stdout

    planned = bus("grown", "topics", "plan", "--json")
    assert planned.returncode == 0, planned.stderr
    assert orjson.loads(planned.stdout)["add_partitions"] == [
        {"topic": f"{opd}.izin.terbit.v1", "current": 1, "wanted": 2}
    ]

    refused = bus("grown", "topics", "apply")
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    assert "out of order" in refused.stderr
    assert "needs --allow-add-partitions" in refused.stdout

    applied = bus("grown", "topics", "apply", "--allow-add-partitions")
    if kafka.is_tansu:
        assert applied.returncode == 1
        assert "Traceback" not in applied.stderr
        assert "error: cannot add partitions" in applied.stderr
        assert "CreatePartitions" in applied.stderr
    else:
        assert applied.returncode == 0, applied.stderr
        assert f"added partitions to {opd}.izin.terbit.v1" in applied.stdout
