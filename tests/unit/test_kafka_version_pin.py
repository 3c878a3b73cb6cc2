"""The project pins one Apache Kafka version: the pom `make kafka` resolves, and production's."""

from __future__ import annotations

import re
from pathlib import Path

from bus.broker.apache_kafka import pinned_version

ROOT = Path(__file__).resolve().parents[2]


def test_docker_compose_runs_the_version_the_tests_run_on() -> None:
    compose = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    images = set(re.findall(r"image:\s*apache/kafka:(\S+)", compose))
    assert images == {pinned_version()}


def test_the_pin_is_a_kafka_4_release() -> None:
    assert re.fullmatch(r"4\.\d+\.\d+", pinned_version())
