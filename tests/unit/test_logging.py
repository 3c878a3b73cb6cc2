"""Personal data never reaches a log line in clear, whichever order modules are imported in."""

from __future__ import annotations

import io
import json

import structlog

from bus.logging import configure_logging, get_logger, mask


def test_logger_created_before_configuration_still_redacts() -> None:
    early = get_logger("bus.early")  # as a module-level logger is, at import time
    configure_logging("json", "INFO")
    buffer = io.StringIO()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=buffer))
    try:
        early.info("resident moved", nik="1471021205900003", kode_wilayah="14.71")
    finally:
        configure_logging("console", "INFO")
    line = json.loads(buffer.getvalue())
    assert line["nik"] == mask("1471021205900003")
    assert "1471021205900003" not in buffer.getvalue()
    assert line["kode_wilayah"] == "14.71"
    assert line["component"] == "bus.early"


def test_nested_personal_fields_are_masked() -> None:
    configure_logging("json", "INFO")
    buffer = io.StringIO()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=buffer))
    try:
        get_logger("bus.test").info("event", data={"nama_lengkap": "Rahmat Hidayat", "x": 1})
    finally:
        configure_logging("console", "INFO")
    line = json.loads(buffer.getvalue())
    assert line["data"] == {"nama_lengkap": mask("Rahmat Hidayat"), "x": 1}
