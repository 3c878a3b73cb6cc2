"""Testing support: real services, readiness waits, and a pytest plugin (`bus.testing.plugin`)."""

from bus.testing.services import KafkaService, kafka_service, postgres_service
from bus.testing.waiting import wait_until

__all__ = ["KafkaService", "kafka_service", "postgres_service", "wait_until"]
