"""A real Apache Kafka (KRaft) cluster on loopback, started and stopped by the bus itself.

    with KafkaCluster(nodes=3) as cluster:
        print(cluster.bootstrap_servers)          # 127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3
        cluster.nodes[0].kill()                   # SIGKILL one node ...
        cluster.nodes[0].start()                  # ... and bring it back on the same port and data

Every node is a combined broker and controller up to three nodes (the controller quorum has one
voter below three nodes, three from three on); further nodes are brokers only. Each node has its
own data directory, its own log file (`node-<id>.log`, printed when it fails) and a bounded heap,
so that three nodes and the test suite fit in memory. Storage is formatted once, when the cluster
first starts; a restarted node keeps its data.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from bus.broker.apache_kafka.installation import KafkaInstallation, find
from bus.broker.process import detach_and_die_with_parent, free_port, port_open, terminate
from bus.errors import BrokerUnavailableError

__all__ = ["KafkaCluster", "KafkaNode"]

_LOG4J = Path(__file__).with_name("log4j2.properties")


class KafkaNode:
    """One Kafka process of a cluster: start, stop (SIGTERM), kill (SIGKILL), restart."""

    def __init__(self, cluster: KafkaCluster, node_id: int, port: int, controller: bool) -> None:
        self.cluster = cluster
        self.node_id = node_id
        self.port = port
        self.controller_port = free_port(cluster.host) if controller else None
        self.data_dir = cluster.workdir / f"node-{node_id}"
        self.log_path = cluster.workdir / f"node-{node_id}.log"
        self.config_path = cluster.workdir / f"node-{node_id}.properties"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """`host:port` of this node's client listener."""
        return f"{self.cluster.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The process id while the node runs."""
        return self._process.pid if self.running and self._process else None

    @property
    def running(self) -> bool:
        """True while the node's process is alive."""
        return self._process is not None and self._process.poll() is None

    def properties(self) -> dict[str, str]:
        """This node's `server.properties`: the cluster's shape, then the caller's overrides."""
        cluster = self.cluster
        roles = "broker,controller" if self.controller_port else "broker"
        client = cluster.listener
        listeners = f"{client}://{self.address}"
        if self.controller_port:
            listeners += f",CONTROLLER://{cluster.host}:{self.controller_port}"
        size = len(cluster.nodes)
        return {
            "process.roles": roles,
            "node.id": str(self.node_id),
            "controller.quorum.voters": cluster.voters(),
            "controller.listener.names": "CONTROLLER",
            "listeners": listeners,
            "advertised.listeners": f"{client}://{self.address}",
            "listener.security.protocol.map": (
                f"{client}:{client},CONTROLLER:{cluster.controller_protocol}"
            ),
            "inter.broker.listener.name": client,
            "log.dirs": str(self.data_dir),
            # Production-like: topics come from the catalog (`bus topics apply`), never from a
            # typo in a client; internal topics are replicated as far as the cluster allows.
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            "default.replication.factor": str(min(3, size)),
            "min.insync.replicas": str(min(2, size)),
            "offsets.topic.replication.factor": str(min(3, size)),
            "transaction.state.log.replication.factor": str(min(3, size)),
            "transaction.state.log.min.isr": str(min(2, size)),
            # Dev and test speed, not semantics: fewer offsets partitions to create on the first
            # group join, and no 3 s wait for more members before a new group's first rebalance.
            "offsets.topic.num.partitions": "12",
            "group.initial.rebalance.delay.ms": "0",
            **cluster.overrides,
        }

    def format(self) -> None:
        """Write this node's config and format its KRaft storage (once per data directory)."""
        self.config_path.write_text(
            "".join(f"{key}={value}\n" for key, value in self.properties().items()),
            encoding="utf-8",
        )
        if (self.data_dir / "meta.properties").exists():
            return
        installation = self.cluster.installation
        result = subprocess.run(
            [
                installation.java,
                "-cp",
                installation.classpath,
                f"-Dlog4j2.configurationFile={_LOG4J}",
                "kafka.tools.StorageTool",
                "format",
                # One argument: an id starting with "-" (1 in 64) would read as an option.
                f"--cluster-id={self.cluster.cluster_id}",
                "--config",
                str(self.config_path),
                "--ignore-formatted",
                *self.cluster.format_args,
            ],
            capture_output=True,
            check=False,
            timeout=120,
        )
        if result.returncode != 0:
            raise BrokerUnavailableError(
                f"formatting Kafka node {self.node_id}'s storage failed: "
                f"{result.stderr.decode(errors='replace')[-2000:]}"
            )

    def start(self) -> KafkaNode:
        """Start the node's process; use `KafkaCluster.wait_ready` to wait for the cluster."""
        if self.running:
            return self
        if port_open(self.cluster.host, self.port):
            raise BrokerUnavailableError(
                f"port {self.port} on {self.cluster.host} is already in use; choose another "
                "with --port"
            )
        self.format()
        installation = self.cluster.installation
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                [
                    installation.java,
                    f"-Xmx{self.cluster.heap}",
                    "-Xms128m",
                    "-XX:+UseG1GC",
                    "-XX:MaxGCPauseMillis=20",
                    "-XX:+ExitOnOutOfMemoryError",
                    "-Djava.awt.headless=true",
                    f"-Dlog4j2.configurationFile={_LOG4J}",
                    "-cp",
                    installation.classpath,
                    "kafka.Kafka",
                    str(self.config_path),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # SIGKILL, not SIGTERM, when its parent dies: a node of a cluster that lost its
                # quorum waits for ever in a controlled shutdown, and would outlive the tests.
                preexec_fn=functools.partial(detach_and_die_with_parent, signal.SIGKILL),  # noqa: PLW1509
            )
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the node: SIGTERM (a controlled shutdown), then SIGKILL after `timeout_s`."""
        process, self._process = self._process, None
        if process is not None:
            terminate(process, timeout_s)

    def detach(self) -> subprocess.Popen[bytes] | None:
        """Forget the process and hand it to the caller (who stops it)."""
        process, self._process = self._process, None
        return process

    def kill(self) -> None:
        """SIGKILL the node, as a crash would."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(30)

    def exit_code(self) -> int | None:
        """The exit code if the process has ended on its own, else None."""
        return None if self._process is None else self._process.poll()

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the node's log, for an error message."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class KafkaCluster:
    """An Apache Kafka cluster of `nodes` KRaft nodes on free loopback ports."""

    def __init__(
        self,
        nodes: int = 1,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        workdir: Path | None = None,
        heap: str = "512m",
        installation: KafkaInstallation | None = None,
        overrides: Mapping[str, str] | None = None,
        startup_timeout_s: float = 90.0,
        listener: str = "PLAINTEXT",
        controller_protocol: str = "PLAINTEXT",
        format_args: Sequence[str] = (),
        client_options: Mapping[str, object] | None = None,
    ) -> None:
        """`listener` names the client (and inter-broker) listener and its security protocol
        (SSL, SASL_SSL, ...), `controller_protocol` the controller listener's; their settings
        go in `overrides`. `format_args` are added to `kafka-storage format` (`--add-scram`);
        `client_options` (TLS context, SASL user) let the readiness check connect."""
        if nodes < 1:
            raise ValueError("a cluster has at least one node")
        if installation is None:
            installation, reason = find()
            if installation is None:
                raise BrokerUnavailableError(f"cannot start Apache Kafka: {reason}")
        self.installation = installation
        self.host = host
        self.heap = heap
        self.overrides = dict(overrides or {})
        self.listener = listener
        self.controller_protocol = controller_protocol
        self.format_args = list(format_args)
        self.client_options = dict(client_options or {})
        self.startup_timeout_s = startup_timeout_s
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="opd-bus-kafka-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        voters = 1 if nodes < 3 else 3
        self.nodes: list[KafkaNode] = []
        for index in range(nodes):
            client_port = port if index == 0 and port else free_port(host)
            self.nodes.append(KafkaNode(self, index + 1, client_port, index < voters))

    @property
    def version(self) -> str:
        """The Apache Kafka version running."""
        return self.installation.version

    @property
    def bootstrap_servers(self) -> str:
        """Every node's client address, comma separated."""
        return ",".join(node.address for node in self.nodes)

    def voters(self) -> str:
        """`controller.quorum.voters`: the static KRaft quorum."""
        return ",".join(
            f"{node.node_id}@{self.host}:{node.controller_port}"
            for node in self.nodes
            if node.controller_port
        )

    def node(self, node_id: int) -> KafkaNode:
        """The node with this id."""
        return next(node for node in self.nodes if node.node_id == node_id)

    def start(self) -> KafkaCluster:
        """Start every node and wait until Metadata lists all of them."""
        try:
            for node in self.nodes:
                node.start()
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout_s: float | None = None) -> None:
        """Wait until every running node accepts connections and lists them all in Metadata."""
        running = [node for node in self.nodes if node.running]
        limit = timeout_s or self.startup_timeout_s
        deadline = time.monotonic() + limit
        while True:
            for node in self.nodes:
                if node.exit_code() is not None:
                    raise BrokerUnavailableError(
                        f"Kafka node {node.node_id} exited with code {node.exit_code()} at "
                        f"start; its log is {node.log_path}:\n{node.log_tail()}"
                    )
            # Ask each node itself: a restarted node is ready when it answers, not when the
            # others still list it from before it went down.
            if all(port_open(self.host, node.port) for node in running) and all(
                asyncio.run(_listed_nodes(node.address, self.client_options)) >= len(running)
                for node in running
            ):
                return
            if time.monotonic() > deadline:
                logs = ", ".join(str(node.log_path) for node in self.nodes)
                raise BrokerUnavailableError(
                    f"Apache Kafka did not list {len(running)} node(s) within {limit:.0f} s; "
                    f"node logs: {logs}"
                )
            time.sleep(0.2)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop every node (SIGTERM to all at once, then SIGKILL); remove a temporary workdir."""
        # All at once: stopped one by one, the last controllers lose their quorum and wait for it
        # until the deadline instead of shutting down.
        processes = [node.detach() for node in self.nodes]
        for process in processes:
            if process is not None and process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + timeout_s
        for process in processes:
            if process is not None:
                terminate(process, max(0.1, deadline - time.monotonic()))
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> KafkaCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


async def _listed_nodes(bootstrap_servers: str, options: Mapping[str, object]) -> int:
    """How many brokers the cluster's Metadata lists right now (0 if it does not answer)."""
    from aiokafka.client import AIOKafkaClient
    from aiokafka.errors import KafkaError

    client = AIOKafkaClient(
        **{**options, "bootstrap_servers": bootstrap_servers, "request_timeout_ms": 5000}
    )
    try:
        await client.bootstrap()
        return len(client.cluster.brokers())
    except (KafkaError, OSError):
        return 0
    finally:
        await client.close()
