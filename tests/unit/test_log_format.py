"""One format per process: libraries' log records and Python warnings look like the bus's own."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest

from bus.logging import configure_logging, get_logger

CLOCK = r"\d\d:\d\d:\d\d (?:[A-Z]{2,5}|[+-]\d{2}(?:\d{2})?)"
WARNING = "/x/platformdirs/api.py:441: RuntimeDirWarning: XDG_RUNTIME_DIR is not set\n  return x\n"


@pytest.fixture(autouse=True)
def console_again() -> Iterator[None]:
    yield
    configure_logging("console", "INFO")


def test_console_lines_share_one_labelled_clock(capsys: pytest.CaptureFixture[str]) -> None:
    assert configure_logging("auto", "INFO", auto="console") == "console"
    get_logger("bus.test").info("subscriber started", group="g")
    logging.getLogger("aiokafka.consumer").warning("Heartbeat failed for group g")
    logging.getLogger("py.warnings").warning(WARNING)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3, lines  # the warning's source line is dropped
    assert all(re.match(rf"^{CLOCK} \[", line) for line in lines), lines
    assert "logger=aiokafka.consumer" in lines[1] or "[aiokafka.consumer]" in lines[1]
    assert "RuntimeDirWarning: XDG_RUNTIME_DIR is not set" in lines[2]


def test_json_lines_only_with_utc_timestamps(capsys: pytest.CaptureFixture[str]) -> None:
    assert configure_logging("json", "INFO") == "json"
    get_logger("bus.test").info("subscriber started", group="g")
    logging.getLogger("aiokafka.consumer").warning("Heartbeat failed for group g")
    logging.getLogger("py.warnings").warning(WARNING)
    documents = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [d["event"] for d in documents] == [
        "subscriber started",
        "Heartbeat failed for group g",
        "/x/platformdirs/api.py:441: RuntimeDirWarning: XDG_RUNTIME_DIR is not set",
    ]
    assert all(d["timestamp"].endswith("Z") for d in documents)
    assert documents[1]["logger"] == "aiokafka.consumer"
