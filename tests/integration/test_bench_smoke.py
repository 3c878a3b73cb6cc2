"""`python -m bench --tiny` runs every benchmark's code path and writes every key.

Benchmarks are not tests: nothing here asserts a speed. This only proves that `make bench`
works end to end (its own broker and PostgreSQL, every benchmark, the results file), on the
broker `--broker auto` chooses: Apache Kafka wherever `make kafka` installed it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.results import REQUIRED_KEYS
from bus.broker.local import choose_broker

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_tiny_bench_writes_every_key(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    expected = choose_broker("auto")
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--tiny", "--broker", "auto", "--output", str(output)],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads(output.read_text())

    assert [key for key in REQUIRED_KEYS if key not in results] == []
    assert results["mode"] == "tiny"
    notes = results["notes"]
    # Every benchmark either produced its figure or says why not (a part not built yet).
    for key, benchmark in [
        ("publish_ratio", "publish"),
        ("consume_ratio", "consume"),
        ("e2e_p99_ms", "latency"),
        ("lag_scan_s", "lag"),
        ("ingress_eps", "ingress"),
        ("outbox_eps", "outbox"),
        ("webhook_eps", "webhook"),
        ("pull_eps", "webhook"),
        ("pdp_report_s", "pdp"),
    ]:
        if results[key] is None:
            assert notes.get(benchmark, "").startswith("pending"), (benchmark, notes)
        else:
            assert results[key] > 0, (key, results[key])
    # The SDK paths and their raw baselines always run: they exist since the foundation.
    for key in (
        "publish_ratio",
        "consume_ratio",
        "raw_publish_eps",
        "raw_consume_eps",
        "librdkafka_publish_eps",
        "librdkafka_consume_eps",
    ):
        assert results[key] > 0
    assert results["e2e_p50_ms"] <= results["e2e_p99_ms"]
    assert [point["partitions"] for point in results["lag_scan_curve"]] == [10]
    assert results["event_bytes"] > 50
    assert results["machine"]["nproc"] >= 1
    # The results name the broker the run used: the one `auto` chose, its version, one node.
    broker = results["broker"]
    assert broker["kind"] == expected.kind
    if expected.installation is not None:
        assert broker["version"] == expected.installation.version
    assert broker["nodes"] == 1
