"""Records built from a per-(event type, source) template: same headers as `Envelope.to_headers`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bus.catalog import load_catalog
from bus.envelope import Envelope, format_time, time_now_header
from bus.errors import SchemaValidationError
from bus.publish import OutgoingRecord, build_record
from bus.publish.record import record_template

IZIN = "id.go.riau.dpmptsp.izin.terbit"
catalog = load_catalog("schemas")
event_type = catalog.event_type(IZIN)
source = catalog.system(event_type.owner)


def test_headers_are_those_of_the_envelope_with_the_same_values() -> None:
    record = build_record(event_type, source, event_type.example, correlation_id="corr-1")
    envelope = Envelope.from_headers(record.headers)
    assert record.headers == envelope.to_headers()
    assert [name for name, _ in record.headers] == [
        "ce_specversion",
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_time",
        "content-type",
        "ce_dataschema",
        "ce_correlationid",
        "traceparent",
    ]
    assert (envelope.id, envelope.source, envelope.type) == (record.id, source.source, IZIN)
    assert envelope.dataschema == event_type.dataschema
    assert envelope.correlation_id == "corr-1"
    assert record.type == IZIN and record.system == source.id
    assert record.topic == event_type.topic
    assert record.key == event_type.key_of(event_type.data.model_validate(event_type.example))


def test_a_new_event_is_its_own_correlation_and_starts_a_trace() -> None:
    first = build_record(event_type, source, event_type.example)
    second = build_record(event_type, source, event_type.example)
    assert first.id != second.id
    assert len(first.id) == 36 and first.id[14] == "4" and first.id[19] in "89ab"
    assert first.envelope.correlation_id == first.id
    assert first.envelope.traceparent is not None
    assert first.envelope.traceparent.startswith("00-") and first.envelope.traceparent.endswith(
        "-01"
    )
    assert first.envelope.traceparent != second.envelope.traceparent


def test_given_id_time_and_trace_are_kept() -> None:
    when = datetime(2026, 11, 22, 8, 30, 15, tzinfo=timezone(timedelta(hours=7)))
    traceparent = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    record = build_record(
        event_type, source, event_type.example, id="e-1", time=when, traceparent=traceparent
    )
    headers = dict(record.headers)
    assert headers["ce_id"] == b"e-1" and headers["ce_correlationid"] == b"e-1"
    assert headers["ce_time"] == b"2026-11-22T08:30:15.000000+07:00"
    assert headers["traceparent"] == traceparent.encode()
    assert record.envelope.time == when
    assert record.headers == Envelope.from_headers(record.headers).to_headers()


def test_the_time_now_is_utc_with_six_fractional_digits() -> None:
    before = datetime.now(UTC)
    stamped = time_now_header()
    after = datetime.now(UTC)
    assert len(stamped) == len(b"2026-11-22T08:30:15.123456Z") and stamped.endswith(b"Z")
    parsed = datetime.fromisoformat(stamped.decode())
    assert before - timedelta(milliseconds=1) <= parsed <= after + timedelta(milliseconds=1)
    assert format_time(parsed).encode() == stamped


def test_whole_seconds_keep_their_fraction() -> None:
    assert format_time(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00.000000Z"
    assert format_time(datetime(2026, 1, 1)) == "2026-01-01T00:00:00.000000Z"  # naive is UTC


def test_every_kind_of_data_gives_the_same_value_and_key() -> None:
    model = event_type.data.model_validate(event_type.example)
    values = {
        build_record(event_type, source, data).value
        for data in (event_type.example, model, model.model_dump_json())
    }
    assert len(values) == 1


def test_bad_data_names_the_field() -> None:
    bad = {**event_type.example, "kode_wilayah": 14}
    with pytest.raises(SchemaValidationError) as raised:
        build_record(event_type, source, bad)
    assert "kode_wilayah" in str(raised.value)


def test_templates_are_kept_per_event_type_and_source() -> None:
    assert record_template(event_type, source) is record_template(event_type, source)


def test_a_record_built_from_an_envelope_keeps_it() -> None:
    envelope = Envelope.new(source="/riau/x/y", type="t", dataschema="urn:x")
    record = OutgoingRecord(envelope=envelope, topic="x.t.v1", key=b"k", value=b"{}", headers=[])
    assert record.envelope is envelope and record.id == envelope.id and record.type == "t"
    assert record.system is None
    with pytest.raises(TypeError):
        OutgoingRecord(None, "x.t.v1", b"k", b"{}", [])
