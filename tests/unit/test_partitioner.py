"""The bus's murmur2 partitioner puts every key where aiokafka's (and Java's) would."""

from __future__ import annotations

from typing import Any

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from bus.publish.partitioner import KeyPartitioner, murmur2, partition_for


@given(st.binary(max_size=64))
def test_murmur2_equals_aiokafka_for_any_key(key: bytes) -> None:
    assert murmur2(key) == aiokafka_murmur2(key)


@given(st.integers(min_value=0, max_value=40).flatmap(lambda n: st.binary(min_size=n, max_size=n)))
def test_murmur2_equals_aiokafka_for_every_length_and_tail(key: bytes) -> None:
    assert murmur2(key) == aiokafka_murmur2(key)


def test_murmur2_known_values_of_the_java_client() -> None:
    # From Kafka's own UtilsTest.testMurmur2 (as signed Java ints).
    cases = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536}
    for key, java in cases.items():
        assert murmur2(key) == java & 0xFFFFFFFF


@given(key=st.binary(max_size=48), count=st.integers(min_value=1, max_value=300))
def test_partition_equals_aiokafka_default_partitioner(key: bytes, count: int) -> None:
    partitions = tuple(range(count))
    assert partition_for(key, partitions) == DefaultPartitioner()(
        key, list(partitions), list(partitions)
    )


class Cluster:
    """The part of aiokafka's ClusterMetadata the partitioner reads."""

    def __init__(self, topics: dict[str, set[int]]) -> None:
        self.topics = topics
        self.listeners: list[Any] = []

    def add_listener(self, listener: Any) -> None:
        self.listeners.append(listener)

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return self.topics.get(topic)

    def refreshed(self) -> None:
        for listener in self.listeners:
            listener(self)


def test_partitions_are_read_again_after_a_metadata_update() -> None:
    cluster = Cluster({"t": {2, 0, 1}})
    partitioner = KeyPartitioner(cluster)
    assert partitioner.partitions("t") == (0, 1, 2)
    assert partitioner.partition("unknown", b"k") is None
    keys = (f"k{i}".encode() for i in range(100))
    key = next(k for k in keys if partition_for(k, tuple(range(6))) >= 3)
    assert partitioner.partition("t", key) == partition_for(key, (0, 1, 2))
    cluster.topics["t"] = set(range(6))
    assert partitioner.partition("t", key) == partition_for(key, (0, 1, 2))  # cached
    cluster.refreshed()
    assert partitioner.partition("t", key) == partition_for(key, tuple(range(6)))
    assert partitioner.partition("t", key) >= 3
