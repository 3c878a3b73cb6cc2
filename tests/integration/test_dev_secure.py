"""`bus dev --broker kafka --secure`: production's security on one machine, the demo unchanged.

The command runs as a real subprocess in a folder of its own. Its credentials file lets a
plain Kafka client connect as a system: Satu Data is refused the licence topic, DPMPTSP may
read what it owns... and nothing without credentials gets in. Ctrl-C removes the file.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError

from bus.broker import clients
from bus.broker.embedded import free_port
from bus.broker.secure_cluster import settings_from_credentials
from bus.testing import wait_until

pytestmark = pytest.mark.integration

BUS = Path(sys.executable).with_name("bus")
RECEIVED = re.compile(r"(\S+)\s+← izin terbit")


async def test_secure_dev_cluster_runs_the_demo_and_writes_credentials(tmp_path: Path) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        str(BUS), "dev", "--broker", "kafka", "--secure", "--port", str(port), "--rate", "5",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL, cwd=tmp_path, start_new_session=True,
        env={
            **os.environ, "COLUMNS": "200", "TERM": "dumb",
            "BUS_INGRESS_PORT": str(free_port()), "BUS_MONITOR_PORT": str(free_port()),
        },
    )  # fmt: skip
    lines: list[str] = []

    async def read_output() -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            lines.append(raw.decode(errors="replace").rstrip())

    reader = asyncio.create_task(read_output())
    credentials_file = tmp_path / ".bus" / "dev" / "credentials.json"
    try:
        await wait_until(
            lambda: len({m[1] for line in lines if (m := RECEIVED.search(line))}) >= 2,
            timeout=150,
            message="demo events received by two subscriber systems over SASL_SSL",
        )
        credentials: dict[str, Any] = json.loads(credentials_file.read_text())
        assert oct(credentials_file.stat().st_mode & 0o777) == "0o600"
        assert credentials["security_protocol"] == "SASL_SSL"
        assert await asyncio.to_thread(Path(credentials["ssl_cafile"]).is_file)
        assert credentials["bootstrap_servers"] == f"127.0.0.1:{port}"
        assert {"dpmptsp.sicantik", "diskominfotik.satudata", "opd-bus"} <= set(
            credentials["systems"]
        )

        # A client with Satu Data's credentials is refused the licence topic itself.
        satu_data = settings_from_credentials(credentials, "diskominfotik.satudata")
        consumer = clients.consumer(
            satu_data, "dpmptsp.izin.terbit.v1", group_id="diskominfotik.satudata.probe"
        )
        with pytest.raises(TopicAuthorizationFailedError):
            await consumer.start()
            await asyncio.wait_for(consumer.getone(), 20)
        await clients.stop_consumer(consumer)

        # A client without credentials does not get in at all.
        anonymous = AIOKafkaConsumer(
            "dpmptsp.izin.terbit.v1", bootstrap_servers=credentials["bootstrap_servers"],
            request_timeout_ms=5000,
        )  # fmt: skip
        with pytest.raises(KafkaError):
            await anonymous.start()
        await anonymous.stop()

        os.killpg(process.pid, signal.SIGINT)
        code = await asyncio.wait_for(process.wait(), 30)
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
        await asyncio.wait_for(reader, 10)

    output = "\n".join(lines[-40:])
    assert code == 0, output
    assert "Traceback" not in "\n".join(lines), output
    assert not credentials_file.exists()
    # No password reached the output.
    for user in credentials["systems"].values():
        assert user["password"] not in "\n".join(lines)
