"""Kafka plumbing: client construction, the embedded broker, topic creation."""
