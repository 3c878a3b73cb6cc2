"""The CloudEvents binary-mode envelope: headers out, headers in, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bus.envelope import Envelope
from bus.errors import EnvelopeError

WHEN = datetime(2026, 11, 22, 8, 30, 15, 123456, tzinfo=UTC)


def envelope(**changes: object) -> Envelope:
    fields: dict[str, object] = {
        "source": "/riau/dpmptsp/sicantik",
        "type": "id.go.riau.dpmptsp.izin.terbit",
        "dataschema": "urn:opd-bus:schema:id.go.riau.dpmptsp.izin.terbit:v1",
        "time": WHEN,
        "correlation_id": "corr-1",
    }
    fields.update(changes)
    return Envelope.new(**fields)  # type: ignore[arg-type]


def test_headers_round_trip_every_attribute() -> None:
    sent = envelope()
    sent.extensions["kodewilayah"] = "1471"
    headers = sent.to_headers()
    received = Envelope.from_headers(headers, topic="t", partition=2, offset=7, key=b"k")
    assert received == Envelope(
        sent.id,
        sent.source,
        sent.type,
        WHEN,
        sent.dataschema,
        "corr-1",
        sent.traceparent,
        extensions={"kodewilayah": "1471"},
        topic="t",
        partition=2,
        offset=7,
        key=b"k",
    )
    assert dict(headers)["ce_time"] == b"2026-11-22T08:30:15.123456Z"


def test_a_new_envelope_is_its_own_correlation_and_starts_a_trace() -> None:
    sent = envelope(correlation_id=None)
    assert sent.correlation_id == sent.id
    assert sent.traceparent is not None and sent.traceparent.startswith("00-")
    assert len(sent.id) == 36 and sent.id[14] == "4"


def test_headers_from_other_clients_are_accepted() -> None:
    # A minimal binary-mode event: no time, no content-type, unknown non-ce headers ignored.
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"x-1"),
        ("ce_source", b"/elsewhere"),
        ("ce_type", b"t"),
        ("ce_datacontenttype", b"application/json; charset=utf-8"),
        ("x-custom", b"\xff\xfe"),
        ("ce_partnerid", b"42"),
    ]
    received = Envelope.from_headers(headers)
    assert (received.id, received.source, received.type) == ("x-1", "/elsewhere", "t")
    assert received.extensions == {"partnerid": "42"}
    assert received.correlation_id is None and received.traceparent is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ce_id": None}, "missing CloudEvents header(s): ce_id"),
        ({"ce_source": b""}, "missing CloudEvents header(s): ce_source"),
        ({"ce_specversion": b"0.3"}, "ce_specversion '0.3' is not 1.0"),
        ({"content-type": b"application/avro"}, "content-type 'application/avro' is not"),
        ({"ce_time": b"yesterday"}, "ce_time 'yesterday' is not an RFC 3339 timestamp"),
        ({"ce_type": b"\xff"}, "header is not UTF-8"),
    ],
)
def test_bad_headers_are_refused_naming_the_header(
    change: dict[str, bytes | None], message: str
) -> None:
    headers = [(name, change.get(name, value)) for name, value in envelope().to_headers()]
    with pytest.raises(EnvelopeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Envelope.from_headers(headers)


def test_missing_headers_are_all_named() -> None:
    with pytest.raises(EnvelopeError, match="ce_specversion, ce_id, ce_source, ce_type"):
        Envelope.from_headers([("content-type", b"application/json")])
