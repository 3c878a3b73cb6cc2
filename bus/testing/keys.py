"""Pick record keys by the partition Kafka puts them on, to fill one partition on purpose.

keys = keys_on_partition("503/KEY/ab12", partition=0, partitions=3, count=20)
# every key's events land on partition 0 of a 3-partition topic: one partition, many keys
"""

from __future__ import annotations

from bus.publish.partitioner import partition_for

__all__ = ["keys_on_partition"]


def keys_on_partition(prefix: str, *, partition: int, partitions: int, count: int) -> list[str]:
    """`count` keys `prefix/0000`, `prefix/0001`, … (skipping others) that land on `partition`."""
    ids = tuple(range(partitions))
    if partition not in ids:
        raise ValueError(f"partition {partition} is not one of the topic's {partitions}")
    keys: list[str] = []
    candidate = 0
    while len(keys) < count:
        key = f"{prefix}/{candidate:04d}"
        if partition_for(key.encode(), ids) == partition:
            keys.append(key)
        candidate += 1
    return keys
