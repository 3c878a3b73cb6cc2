"""The topic plan as a pure diff: clamping, drift, unknown configs, delete candidates."""

from __future__ import annotations

from bus.catalog import Catalog
from bus.topics import ClusterState, ObservedTopic, desired_topics, diff


def test_replication_and_min_isr_are_clamped_to_the_cluster(catalog: Catalog) -> None:
    one = {spec.name: spec for spec in desired_topics(catalog.event_types, brokers=1)}
    three = {spec.name: spec for spec in desired_topics(catalog.event_types, brokers=3)}

    izin = "dpmptsp.izin.terbit.v1"
    assert (one[izin].replication_factor, one[izin].configs["min.insync.replicas"]) == (1, "1")
    assert (three[izin].replication_factor, three[izin].configs["min.insync.replicas"]) == (3, "2")
    assert list(one) == sorted(one)


def test_matching_cluster_gives_an_empty_plan(catalog: Catalog) -> None:
    desired = desired_topics(catalog.event_types, brokers=1)
    cluster = ClusterState(
        brokers=1,
        topics={
            spec.name: ObservedTopic(spec.name, spec.partitions, 1, dict(spec.configs))
            for spec in desired
        },
    )

    assert diff(desired, cluster, managed_opds={"dpmptsp"}).empty


def test_every_kind_of_difference(catalog: Catalog) -> None:
    desired = desired_topics(catalog.event_types, brokers=1)
    wanted = {spec.name: spec for spec in desired}
    topics = {
        spec.name: ObservedTopic(spec.name, spec.partitions, 1, dict(spec.configs))
        for spec in desired
    }
    del topics["bkd.asn.mutasi.v1"]  # missing: create
    topics["dpmptsp.izin.terbit.v1"] = ObservedTopic(  # fewer partitions, other retention
        "dpmptsp.izin.terbit.v1",
        2,
        1,
        {**wanted["dpmptsp.izin.terbit.v1"].configs, "retention.ms": "1000"},
    )
    topics["disdukcapil.penduduk.pindah.v1"] = ObservedTopic(  # more partitions: shrink
        "disdukcapil.penduduk.pindah.v1",
        12,
        1,
        dict(wanted["disdukcapil.penduduk.pindah.v1"].configs),
    )
    topics["bpkad.sp2d.terbit.v1"] = ObservedTopic("bpkad.sp2d.terbit.v1", 3, 1, None)  # unknown
    topics["dpmptsp.izin.terbit.v0"] = ObservedTopic("dpmptsp.izin.terbit.v0", 3, 1, {})
    topics["other.team.topic.v1"] = ObservedTopic("other.team.topic.v1", 1, 1, {})
    topics["bus.dlq.bapenda.sipd"] = ObservedTopic("bus.dlq.bapenda.sipd", 1, 1, {})

    plan = diff(
        desired,
        ClusterState(brokers=1, topics=topics, configs_unknown_reason="no DescribeConfigs"),
        managed_opds={et.opd for et in catalog.event_types},
    )

    assert [spec.name for spec in plan.create] == ["bkd.asn.mutasi.v1"]
    assert [c.to_dict() for c in plan.add_partitions] == [
        {"topic": "dpmptsp.izin.terbit.v1", "current": 2, "wanted": 3}
    ]
    assert [c.to_dict() for c in plan.alter_configs] == [
        {
            "topic": "dpmptsp.izin.terbit.v1",
            "config": "retention.ms",
            "current": "1000",
            "wanted": "604800000",
        }
    ]
    assert [c.to_dict() for c in plan.shrink] == [
        {"topic": "disdukcapil.penduduk.pindah.v1", "current": 12, "wanted": 6}
    ]
    assert "--allow-delete" in plan.errors[0]
    # Only topics named like catalog topics, under an OPD the catalog manages.
    assert plan.delete == ("dpmptsp.izin.terbit.v0",)
    assert plan.configs_unknown == ("bpkad.sp2d.terbit.v1",)
    assert plan.configs_unknown_reason == "no DescribeConfigs"
    assert not plan.empty


def test_replication_drift_is_a_note_not_an_action(catalog: Catalog) -> None:
    desired = desired_topics(catalog.event_types[:1], brokers=3)
    (spec,) = desired
    cluster = ClusterState(
        brokers=3,
        topics={spec.name: ObservedTopic(spec.name, spec.partitions, 1, dict(spec.configs))},
    )

    plan = diff(desired, cluster)

    assert plan.empty
    assert plan.notes == (
        f"{spec.name}: replication factor is 1, the catalog wants 3; change it with a partition "
        "reassignment (kafka-reassign-partitions), `bus topics apply` does not",
    )


def test_retry_and_dead_letter_topics_grow_with_their_source(catalog: Catalog) -> None:
    from bus.topics import consumers_by_topic

    desired = desired_topics(catalog.event_types, brokers=1)
    wanted = {spec.name: spec for spec in desired}
    izin = "dpmptsp.izin.terbit.v1"
    topics = {
        spec.name: ObservedTopic(spec.name, spec.partitions, 1, dict(spec.configs))
        for spec in desired
    }
    topics[izin] = ObservedTopic(izin, 1, 1, dict(wanted[izin].configs))
    consumers = consumers_by_topic(catalog)
    subscriber = consumers[izin][0]
    size = max(wanted[t].partitions for t, systems in consumers.items() if subscriber in systems)
    failure = {
        f"bus.retry.{subscriber}.izin.1": 1,  # a group named after its system: grown
        f"bus.dlq.{subscriber}": 1,
        f"bus.dlq.{subscriber}.izin": size,  # already as large: unchanged
        "bus.dlq.another.system": 1,  # not a consumer of a catalog topic: unchanged
        "bus.retry.odd": 1,  # no stage: not a retry topic
    }
    for name, partitions in failure.items():
        topics[name] = ObservedTopic(name, partitions, 1, None)

    plan = diff(desired, ClusterState(brokers=1, topics=topics), consumers=consumers)

    assert [c.to_dict() for c in plan.add_partitions] == [
        {"topic": izin, "current": 1, "wanted": wanted[izin].partitions}
    ]
    assert [c.to_dict() for c in plan.failure_partitions] == [
        {"topic": f"bus.dlq.{subscriber}", "current": 1, "wanted": size},
        {"topic": f"bus.retry.{subscriber}.izin.1", "current": 1, "wanted": size},
    ]
    (warning,) = plan.warnings
    assert izin in warning and "out of order" in warning and "--allow-add-partitions" in warning
    assert not plan.empty
