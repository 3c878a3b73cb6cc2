"""Personal data never reaches a log line in clear, whichever order modules are imported in;
lines logged while an event is handled carry its ids."""

from __future__ import annotations

import io
import json

import structlog

from bus.envelope import Envelope
from bus.logging import add_event_ids, configure_logging, event_context, get_logger, mask
from bus.tracing import handling, trace_id_of


def _lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


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


def test_nested_personal_fields_are_masked(json_lines: io.StringIO) -> None:
    get_logger("bus.test").info("event", data={"nama_lengkap": "Rahmat Hidayat", "x": 1})
    line = json.loads(json_lines.getvalue())
    assert line["data"] == {"nama_lengkap": mask("Rahmat Hidayat"), "x": 1}


def test_lines_logged_while_handling_carry_the_events_ids(json_lines: io.StringIO) -> None:
    envelope = Envelope.new(
        source="/riau/disdukcapil/siak", type="id.go.riau.test", correlation_id="pindah-42"
    )
    log = get_logger("adapter")
    log.info("before")
    with handling(envelope):
        log.info("applied", nik="1471021205900003")
        log.info("own id wins", event_id="given")
    log.info("after")

    before, applied, own, after = _lines(json_lines)
    ids = {
        "event_id": envelope.id,
        "correlation_id": "pindah-42",
        "trace_id": trace_id_of(envelope.traceparent),
    }
    assert {key: applied[key] for key in ids} == ids
    assert applied["nik"] == mask("1471021205900003")  # redaction still applies
    assert "1471021205900003" not in json_lines.getvalue()
    assert own["event_id"] == "given" and own["correlation_id"] == "pindah-42"
    assert not ids.keys() & (before.keys() | after.keys())


def test_event_context_is_what_lines_get() -> None:
    envelope = Envelope.new(source="/riau/test", type="id.go.riau.test")
    assert event_context() == {}
    with handling(envelope):
        context = event_context()
        assert context == add_event_ids(None, "info", {})
    assert context["event_id"] == envelope.id
    assert context["trace_id"] == trace_id_of(envelope.traceparent)
