"""Where Apache Kafka is found: KAFKA_HOME first, then what `make kafka` resolved."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus.broker.apache_kafka import find, pinned_version
from bus.broker.local import choose_broker
from bus.errors import BrokerUnavailableError


def distribution(root: Path, version: str) -> Path:
    libs = root / "libs"
    libs.mkdir(parents=True)
    (libs / f"kafka_2.13-{version}.jar").write_bytes(b"")
    return root


def test_kafka_home_is_used_when_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = distribution(tmp_path / "kafka_2.13-4.3.1", "4.3.1")
    monkeypatch.setenv("KAFKA_HOME", str(home))
    installation, reason = find()
    assert installation is not None, reason
    assert (installation.version, installation.libs) == ("4.3.1", home / "libs")
    assert reason == "KAFKA_HOME is set"


def test_kafka_home_without_jars_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_HOME", str(tmp_path))
    installation, reason = find()
    assert installation is None
    assert f"KAFKA_HOME={tmp_path} holds no libs/kafka_2.13-<version>.jar" == reason


def test_the_pinned_version_under_bus_kafka_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KAFKA_HOME", raising=False)
    monkeypatch.setenv("BUS_KAFKA_DIR", str(tmp_path))
    assert find()[0] is None
    assert "make kafka" in find()[1]
    with pytest.raises(BrokerUnavailableError, match="--broker kafka: Apache Kafka"):
        choose_broker("kafka")
    assert choose_broker("auto").kind == "tansu"
    distribution(tmp_path / pinned_version(), pinned_version())
    installation, _ = find()
    assert installation is not None and installation.version == pinned_version()
    assert choose_broker("auto").kind == "apache-kafka"


def test_without_java_there_is_no_kafka(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    installation, reason = find()
    assert installation is None
    assert reason.startswith("no Java found")


def test_secure_dev_refuses_tansu_by_name() -> None:
    from bus.broker.local import secure_broker_choice

    with pytest.raises(BrokerUnavailableError, match="Tansu has no authorizer"):
        secure_broker_choice("tansu")
