"""The AsyncAPI 3.0.0 document generated from the shipped catalog."""

from __future__ import annotations

import json
from typing import Any

import pytest
from faststream.specification.asyncapi.v3_0_0.schema import ApplicationSchema

from bus.catalog import Catalog
from bus.config import BusSettings
from bus.governance.asyncapi import asyncapi_document


@pytest.fixture(scope="module")
def document(catalog: Catalog) -> dict[str, Any]:
    settings = BusSettings(bootstrap_servers="kafka-1.riau.go.id:9093,kafka-2.riau.go.id:9093")
    # Round trip through JSON: the document must be plain JSON, nothing Python-only inside.
    return dict(json.loads(json.dumps(asyncapi_document(catalog, settings))))


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    target: Any = document
    for part in ref[2:].split("/"):
        target = target[part.replace("~1", "/").replace("~0", "~")]
    return target


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for item in node for r in refs(item)]
    return []


def test_version_info_and_servers(document: dict[str, Any]) -> None:
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"]
    assert document["info"]["version"]
    assert [s["host"] for s in document["servers"].values()] == [
        "kafka-1.riau.go.id:9093",
        "kafka-2.riau.go.id:9093",
    ]
    assert {s["protocol"] for s in document["servers"].values()} == {"kafka"}


def test_one_channel_per_event_type_addressed_by_topic(
    document: dict[str, Any], catalog: Catalog
) -> None:
    channels = document["channels"]
    assert len(channels) == len(catalog.event_types) == 7
    assert {c["address"] for c in channels.values()} == {et.topic for et in catalog.event_types}
    izin = channels["dpmptsp.izin.terbit.v1"]
    assert izin["x-owner"] == "dpmptsp.sicantik"
    assert izin["x-subscribers"] == ["bapenda.sipd", "dlhk.simlhk", "diskominfotik.satudata"]
    assert izin["bindings"]["kafka"]["partitions"] == 3


def test_every_message_payload_is_the_model_schema(
    document: dict[str, Any], catalog: Catalog
) -> None:
    messages = document["components"]["messages"]
    assert len(messages) == len(catalog.event_types)
    for et in catalog.event_types:
        [ref] = [m["$ref"] for m in document["channels"][et.topic]["messages"].values()]
        message = resolve(document, ref)
        required = [name for name, f in et.data.model_fields.items() if f.is_required()]
        assert message["payload"]["required"] == required
        assert set(message["payload"]["properties"]) == set(et.data.model_fields)
        assert message["payload"]["additionalProperties"] is False
        assert message["name"] == et.type
        assert message["x-owner"] == et.owner
        assert message["x-opd"] == catalog.system(et.owner).opd
        assert message["x-personal-data"] == sorted(et.personal_fields)
        assert message["examples"][0]["payload"] == et.example


def test_personal_data_and_agreements_are_visible(document: dict[str, Any]) -> None:
    izin = document["components"]["messages"]["IzinTerbitV1"]
    assert izin["x-personal-data"] == ["nama_pemohon"]
    satudata = next(s for s in izin["x-subscribers"] if s["system"] == "diskominfotik.satudata")
    assert satudata["fields"] == sorted(
        ["jenis_izin", "kbli", "kode_wilayah", "tanggal_terbit", "nilai_investasi"]
    )
    assert (
        "nama_pemohon"
        not in next(s for s in izin["x-subscribers"] if s["system"] == "bapenda.sipd")["fields"]
    )


def test_headers_are_the_cloudevents_headers(document: dict[str, Any]) -> None:
    message = document["components"]["messages"]["PendudukPindahV1"]
    headers = resolve(document, message["headers"]["$ref"])
    assert set(headers["required"]) == {"ce_specversion", "ce_id", "ce_source", "ce_type"}
    assert {"ce_time", "ce_dataschema", "ce_correlationid", "traceparent"} <= set(
        headers["properties"]
    )
    example = message["examples"][0]["headers"]
    assert example["ce_source"] == "/riau/disdukcapil/siak"
    assert (
        example["ce_dataschema"] == "urn:opd-bus:schema:id.go.riau.disdukcapil.penduduk.pindah:v1"
    )


def test_operations_send_by_owner_receive_per_agreement(
    document: dict[str, Any], catalog: Catalog
) -> None:
    operations = document["operations"].values()
    sends = [op for op in operations if op["action"] == "send"]
    receives = [op for op in operations if op["action"] == "receive"]
    assert sorted(op["x-owner"] for op in sends) == sorted(et.owner for et in catalog.event_types)
    assert len(receives) == len(catalog.subscriptions) == 13
    assert {
        (op["x-subscriber"], resolve(document, op["channel"]["$ref"])["address"]) for op in receives
    } == {(s.system, catalog.event_type(s.event_type).topic) for s in catalog.subscriptions}
    for op in receives:
        assert op["x-purpose"]
        assert op["x-legal-basis"]


def test_every_reference_resolves_inside_the_document(document: dict[str, Any]) -> None:
    found = refs(document)
    assert any(r.startswith("#/components/schemas/") for r in found)  # $defs were moved
    assert not any(r.startswith("#/$defs/") for r in found)
    for ref in found:
        resolve(document, ref)
    kode = document["components"]["schemas"]["KodeWilayah"]
    assert "14.71" in kode["enum"]


def test_faststream_reads_the_document(document: dict[str, Any]) -> None:
    # FastStream's AsyncAPI 3.0.0 model requires a server `pathname` that the specification
    # leaves optional, so the servers are left out of this parse.
    parsed = ApplicationSchema.model_validate({**document, "servers": None})
    assert len(parsed.channels) == 7
    assert len(parsed.operations) == 7 + 13
