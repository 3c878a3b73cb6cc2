"""Testing support: real services, readiness waits, and a pytest plugin (`bus.testing.plugin`)."""

from bus.testing.effects import effect_counts, install_effect_log
from bus.testing.grants import as_granted
from bus.testing.keys import keys_on_partition
from bus.testing.offsets import start_group_at_end
from bus.testing.problems import assert_problem
from bus.testing.records import (
    ce_identity,
    committed_offsets,
    count_by_ce_id,
    end_offsets,
    header,
    lost_and_doubled,
    read_to_end,
    record_counts,
)
from bus.testing.services import (
    KafkaService,
    kafka_cluster,
    kafka_service,
    own_broker,
    postgres_service,
    settings_environment,
)
from bus.testing.waiting import wait_until, wait_until_serving

__all__ = [
    "KafkaService",
    "as_granted",
    "assert_problem",
    "ce_identity",
    "committed_offsets",
    "count_by_ce_id",
    "effect_counts",
    "end_offsets",
    "header",
    "install_effect_log",
    "kafka_cluster",
    "kafka_service",
    "keys_on_partition",
    "lost_and_doubled",
    "own_broker",
    "postgres_service",
    "read_to_end",
    "record_counts",
    "settings_environment",
    "start_group_at_end",
    "wait_until",
    "wait_until_serving",
]
