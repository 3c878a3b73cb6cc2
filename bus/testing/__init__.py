"""Testing support: real services, readiness waits, and a pytest plugin (`bus.testing.plugin`)."""

from bus.testing.offsets import start_group_at_end
from bus.testing.services import KafkaService, kafka_service, postgres_service
from bus.testing.waiting import wait_until

__all__ = ["KafkaService", "kafka_service", "postgres_service", "start_group_at_end", "wait_until"]
