"""docker-compose.yml, checked as data: the brokers' security is the one tested on Apache Kafka
(bus.broker.secure_cluster), PostgreSQL is closed to the host, and no secret is in the file.

No Docker engine runs here, so each node's start script is run with bash against fake secret
files, and the server.properties it writes is compared with the tested secure properties.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from bus.broker.secure_cluster import secure_broker_properties
from bus.cli.certs import SECRET_FILES

COMPOSE = Path(__file__).parents[2] / "docker-compose.yml"
KAFKA_NODES = ("kafka-1", "kafka-2", "kafka-3")


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return document


def node_properties(service: dict[str, Any], secrets: Path) -> dict[str, str]:
    """The server.properties the node's start script writes, with these secret files."""
    script = service["command"][0].replace("$$", "$")  # compose's escape of `$`
    script = script.replace("/run/secrets/", f"{secrets}/").replace(
        "props=/tmp/server.properties", f"props={secrets}/server.properties"
    )
    script = script.split("/opt/kafka/bin/kafka-storage.sh")[0]  # no Kafka here
    subprocess.run(
        ["bash", "-c", script],
        env={"PATH": "/usr/bin:/bin", **service["environment"]},
        check=True,
        timeout=10,
    )
    lines = (secrets / "server.properties").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_every_node_runs_the_tested_secure_configuration(tmp_path: Path) -> None:
    for name, value in {
        "kafka_admin_password": "admin-secret",
        "broker_keystore_password": "keystore-secret",
        "opd_bus_password": "x",
    }.items():
        (tmp_path / name).write_text(value + "\n")
    services = compose()["services"]
    tested = secure_broker_properties(
        keystore=Path("/run/secrets/broker_keystore"),
        key_password="keystore-secret",
        truststore=Path("/run/secrets/ca_certificate"),
        admin_password="admin-secret",
    )

    for node in KAFKA_NODES:
        properties = node_properties(services[node], tmp_path)
        node_id = services[node]["environment"]["NODE_ID"]
        port = services[node]["environment"]["EXTERNAL_PORT"]

        assert properties["node.id"] == node_id
        assert properties["listener.security.protocol.map"] == (
            "CONTROLLER:SSL,INTERNAL:SASL_SSL,EXTERNAL:SASL_SSL"
        )
        assert properties["advertised.listeners"] == (
            f"INTERNAL://kafka-{node_id}:19093,EXTERNAL://localhost:{port}"
        )
        # The tested settings, under compose's listener name (INTERNAL, not SASL_SSL).
        for name, value in tested.items():
            key = name.replace("listener.name.sasl_ssl.", "listener.name.internal.")
            found = properties[key].replace(str(tmp_path), "/run/secrets")
            assert found == value, key
        assert properties["allow.everyone.if.no.acl.found"] == "false"
        assert properties["ssl.principal.mapping.rules"] == "RULE:^CN=([^,]+)$/$1/,DEFAULT"
        assert properties["min.insync.replicas"] == "2"
        assert properties["unclean.leader.election.enable"] == "false"


def test_postgres_is_closed_to_the_host_and_its_password_is_a_secret() -> None:
    postgres = compose()["services"]["postgres"]

    assert "ports" not in postgres
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert "POSTGRES_PASSWORD" not in postgres["environment"]


def test_no_secret_is_written_in_the_file_and_bus_certs_makes_every_secret_file() -> None:
    document = compose()
    for name, service in document["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if re.search("PASSWORD|SECRET|KEY", key) and not key.endswith("_FILE"):
                raise AssertionError(f"{name}: {key}={value} holds a secret in the file")
    files = {Path(secret["file"]).name for secret in document["secrets"].values()}
    assert files == {*SECRET_FILES, "ca.crt", "broker.p12"}
