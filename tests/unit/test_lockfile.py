"""The lock file records approved revisions; the check compares the catalog against it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import ConfigDict, Field

from bus.catalog import Catalog, EventData, Subscription, System, personal
from bus.errors import LockFileError
from bus.governance.check import check_catalog
from bus.governance.lockfile import (
    LockFile,
    canonical_schema,
    default_lock_path,
    read_lock,
    schema_hash,
    write_lock,
)

TYPE = "id.go.riau.dpmptsp.contoh.terbit"
EXAMPLE: dict[str, Any] = {"nomor": "C-0001", "jumlah": 1, "pemohon": "Siti", "catatan": None}


class Contoh(EventData, type=TYPE, version=1, owner="dpmptsp.sicantik", key="nomor"):
    """The approved revision 1."""

    nomor: str = Field(max_length=64)
    jumlah: int
    pemohon: str = personal()
    catatan: str | None = None
    example: ClassVar[dict[str, Any]] = EXAMPLE


class ContohFieldAdded(EventData, type=TYPE, version=1, owner="dpmptsp.sicantik", key="nomor"):
    """Compatible: an optional field added."""

    nomor: str = Field(max_length=64)
    jumlah: int
    pemohon: str = personal()
    catatan: str | None = None
    lampiran: str | None = None
    example: ClassVar[dict[str, Any]] = EXAMPLE


class ContohReordered(EventData, type=TYPE, version=1, owner="dpmptsp.sicantik", key="nomor"):
    """The approved revision 1."""

    model_config = ConfigDict(title="Contoh")  # the same class, its fields in another order

    jumlah: int
    nomor: str = Field(max_length=64)
    pemohon: str = personal()
    catatan: str | None = None
    example: ClassVar[dict[str, Any]] = EXAMPLE


class ContohFieldRemoved(EventData, type=TYPE, version=1, owner="dpmptsp.sicantik", key="nomor"):
    """Breaking under BACKWARD: `catatan` removed from a closed model."""

    nomor: str = Field(max_length=64)
    jumlah: int
    pemohon: str = personal()
    example: ClassVar[dict[str, Any]] = {k: v for k, v in EXAMPLE.items() if k != "catatan"}


class ContohOwnerChanged(EventData, type=TYPE, version=1, owner="bapenda.sipd", key="nomor"):
    """The approved revision 1."""

    nomor: str = Field(max_length=64)
    jumlah: int
    pemohon: str = personal()
    catatan: str | None = None
    example: ClassVar[dict[str, Any]] = EXAMPLE


class ContohKeyChanged(EventData, type=TYPE, version=1, owner="dpmptsp.sicantik", key="pemohon"):
    """The approved revision 1."""

    nomor: str = Field(max_length=64)
    jumlah: int
    pemohon: str = personal()
    catatan: str | None = None
    example: ClassVar[dict[str, Any]] = EXAMPLE


class ContohPersonalChanged(EventData, type=TYPE, version=1, owner="dpmptsp.sicantik", key="nomor"):
    """`pemohon` no longer personal data, `catatan` now is."""

    nomor: str = Field(max_length=64)
    jumlah: int
    pemohon: str
    catatan: str | None = personal(None)
    example: ClassVar[dict[str, Any]] = EXAMPLE


class ContohFewerPartitions(
    EventData,
    type=TYPE,
    version=1,
    owner="dpmptsp.sicantik",
    key="nomor",
    topic={"partitions": 1},
):
    """The approved revision 1."""

    nomor: str = Field(max_length=64)
    jumlah: int
    pemohon: str = personal()
    catatan: str | None = None
    example: ClassVar[dict[str, Any]] = EXAMPLE


class ContohMorePartitions(
    EventData,
    type=TYPE,
    version=1,
    owner="dpmptsp.sicantik",
    key="nomor",
    topic={"partitions": 12},
):
    """The approved revision 1."""

    nomor: str = Field(max_length=64)
    jumlah: int
    pemohon: str = personal()
    catatan: str | None = None
    example: ClassVar[dict[str, Any]] = EXAMPLE


class ContohV2(EventData, type=TYPE, version=2, owner="dpmptsp.sicantik", key="nomor"):
    """A new major version: a new topic, a new lineage."""

    nomor: int
    example: ClassVar[dict[str, Any]] = {"nomor": 1}


class ContohNone(
    EventData,
    type=TYPE,
    version=1,
    owner="dpmptsp.sicantik",
    key="nomor",
    compatibility="NONE",
):
    """Breaking change under NONE: allowed."""

    nomor: int
    jumlah: int
    pemohon: str = personal()
    example: ClassVar[dict[str, Any]] = {"nomor": 1, "jumlah": 1, "pemohon": "Siti"}


class ContohNoneOwnerChanged(
    EventData, type=TYPE, version=1, owner="bapenda.sipd", key="nomor", compatibility="NONE"
):
    """NONE waives schema checks, not governance ones."""

    nomor: str = Field(max_length=64)
    jumlah: int
    pemohon: str = personal()
    catatan: str | None = None
    example: ClassVar[dict[str, Any]] = EXAMPLE


class ContohBadMode(
    EventData, type=TYPE, version=1, owner="dpmptsp.sicantik", key="nomor", compatibility="SOME"
):
    """The approved revision 1."""

    nomor: str = Field(max_length=64)
    jumlah: int
    pemohon: str = personal()
    catatan: str | None = None
    example: ClassVar[dict[str, Any]] = EXAMPLE


class Lain(
    EventData, type="id.go.riau.bpbd.lain.terjadi", version=1, owner="bpbd.sipongi", key="id"
):
    """Another owner's event type."""

    id: str
    kejadian: str
    example: ClassVar[dict[str, Any]] = {"id": "x", "kejadian": "banjir"}


SYSTEMS = [
    System(id="dpmptsp.sicantik", opd="DPMPTSP", name="SiCantik"),
    System(id="bapenda.sipd", opd="Bapenda", name="SIPD"),
    System(id="bpbd.sipongi", opd="BPBD", name="SiPongi"),
]
AGREEMENT = Subscription(system="bapenda.sipd", event_type=TYPE, purpose="Register taxpayers.")


def catalog_of(*types: type[EventData], subscriptions: tuple[Subscription, ...] = ()) -> Catalog:
    return Catalog(systems=SYSTEMS, event_types=types, subscriptions=subscriptions)


APPROVED = LockFile().approve(catalog_of(Contoh, Lain, subscriptions=(AGREEMENT,)))


def rules(catalog: Catalog, lock: LockFile = APPROVED) -> dict[str, set[str]]:
    report = check_catalog(catalog, lock)
    return {
        "errors": {f.rule for f in report.errors},
        "warnings": {f.rule for f in report.warnings},
    }


# The file ----------------------------------------------------------------------------------


def test_the_lock_records_owner_key_personal_fields_topic_and_every_revision() -> None:
    entry = APPROVED.to_dict()["event_types"][TYPE]["v1"]
    assert entry["owner"] == "dpmptsp.sicantik"
    assert entry["key"] == "nomor"
    assert entry["personal_fields"] == ["pemohon"]
    assert entry["topic"] == "dpmptsp.contoh.terbit.v1"
    assert entry["compatibility"] == "BACKWARD"
    assert entry["topic_settings"]["partitions"] == 3
    [revision] = entry["revisions"]
    assert revision["revision"] == 1
    assert revision["sha256"] == schema_hash(Contoh.event_type().json_schema())
    assert revision["schema"]["properties"]["pemohon"]["x-personal-data"] is True


def test_the_file_is_deterministic_sorted_and_round_trips() -> None:
    text = APPROVED.to_json()
    again = LockFile().approve(catalog_of(Contoh, Lain, subscriptions=(AGREEMENT,))).to_json()
    assert text == again
    assert text.endswith("}\n")
    document = json.loads(text)
    assert text == json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert LockFile.from_dict(document) == LockFile.from_dict(json.loads(again))
    assert LockFile.from_dict(document).to_json() == text


def test_a_compatible_change_becomes_a_new_revision_and_keeps_the_old_one() -> None:
    relocked = APPROVED.approve(catalog_of(ContohFieldAdded, Lain))
    entry = relocked.event_types[(TYPE, 1)]
    assert [r.revision for r in entry.revisions] == [1, 2]
    assert entry.revisions[0] == APPROVED.event_types[(TYPE, 1)].revisions[0]
    assert "lampiran" in entry.latest.schema["properties"]
    assert relocked.approve(catalog_of(ContohFieldAdded, Lain)) == relocked


def test_reordering_fields_is_not_a_new_revision() -> None:
    assert Contoh.event_type().json_schema() != ContohReordered.event_type().json_schema()
    assert schema_hash(Contoh.event_type().json_schema()) == schema_hash(
        ContohReordered.event_type().json_schema()
    )
    relocked = APPROVED.approve(catalog_of(ContohReordered, Lain))
    assert len(relocked.event_types[(TYPE, 1)].revisions) == 1


def test_a_forced_revision_is_a_baseline_for_transitive_checks() -> None:
    forced = APPROVED.approve(catalog_of(ContohFieldRemoved, Lain), baselines={TYPE})
    entry = forced.event_types[(TYPE, 1)]
    assert [r.baseline for r in entry.revisions] == [False, True]
    assert entry.lineage == (entry.revisions[1],)
    assert forced.to_dict()["event_types"][TYPE]["v1"]["revisions"][1]["baseline"] is True


def test_dropped_types_and_agreements_leave_the_lock() -> None:
    relocked = APPROVED.approve(catalog_of(Contoh))
    assert list(relocked.event_types) == [(TYPE, 1)]
    assert relocked.subscriptions == {}


def test_read_and_write(tmp_path: Path) -> None:
    path = tmp_path / "catalog.lock.json"
    assert read_lock(path) is None
    assert write_lock(APPROVED, path) is True
    assert write_lock(APPROVED, path) is False
    assert read_lock(path) == APPROVED


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not JSON"),
        ('{"format": 2}', "format 2 is not 1"),
        ('{"format": 1, "event_types": {"t": {"v1": {"owner": "x"}}}}', "missing key"),
        ("[]", "not a JSON object"),
    ],
)
def test_a_malformed_lock_file_is_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "catalog.lock.json"
    path.write_text(content)
    with pytest.raises(LockFileError, match=message):
        read_lock(path)


def test_a_hand_edited_schema_is_detected() -> None:
    document = json.loads(APPROVED.to_json())
    revision = document["event_types"][TYPE]["v1"]["revisions"][0]
    revision["schema"]["properties"]["nomor"]["maxLength"] = 10
    tampered = LockFile.from_dict(document)
    [problem] = tampered.integrity_problems()
    assert "edited by hand" in problem
    assert "lock-tampered" in rules(catalog_of(Contoh, Lain), tampered)["errors"]


def test_canonical_schema_sorts_required_only() -> None:
    schema = {
        "required": ["b", "a"],
        "enum": ["z", "y"],
        "properties": {"o": {"required": ["d", "c"]}},
    }
    assert canonical_schema(schema) == {
        "required": ["a", "b"],
        "enum": ["z", "y"],
        "properties": {"o": {"required": ["c", "d"]}},
    }


def test_the_default_lock_path_is_next_to_the_catalog_module() -> None:
    path = default_lock_path("schemas")
    assert path.name == "catalog.lock.json"
    assert path.parent.name == "schemas"
    assert path.exists()


# Checking against the lock -----------------------------------------------------------------


def test_the_approved_catalog_passes_without_findings() -> None:
    report = check_catalog(catalog_of(Contoh, Lain, subscriptions=(AGREEMENT,)), APPROVED)
    assert report.findings == []


def test_the_shipped_catalog_passes_against_the_committed_lock() -> None:
    from schemas import catalog

    lock = read_lock(default_lock_path("schemas"))
    report = check_catalog(catalog, lock)
    assert report.ok, [str(f) for f in report.errors]


def test_a_breaking_change_names_the_type_the_path_and_the_reason() -> None:
    report = check_catalog(catalog_of(ContohFieldRemoved, Lain), APPROVED)
    [error] = report.errors
    assert error.event_type == TYPE
    assert error.path == "$.catatan"
    assert error.rule == "field-removed"
    assert "'catatan' removed" in error.message
    assert "BACKWARD" in error.message
    assert "approved revision 1" in error.message


def test_a_compatible_change_awaits_approval_as_a_warning() -> None:
    found = rules(catalog_of(ContohFieldAdded, Lain))
    assert found["errors"] == set()
    assert "not-approved-revision" in found["warnings"]


def test_an_owner_change_is_a_governance_error() -> None:
    assert "owner-changed" in rules(catalog_of(ContohOwnerChanged, Lain))["errors"]


def test_a_key_change_is_an_error() -> None:
    assert "key-changed" in rules(catalog_of(ContohKeyChanged, Lain))["errors"]


def test_unmarking_personal_data_is_an_error_marking_it_a_warning() -> None:
    report = check_catalog(
        catalog_of(ContohPersonalChanged, Lain, subscriptions=(AGREEMENT,)), APPROVED
    )
    [unmarked] = [f for f in report.errors if f.rule == "personal-data-unmarked"]
    assert unmarked.path == "$.pemohon"
    [marked] = [f for f in report.warnings if f.rule == "personal-data-marked"]
    assert marked.path == "$.catatan"
    assert "bapenda.sipd" in marked.message  # its default grant loses the field


def test_partitions_cannot_shrink_and_growing_them_warns() -> None:
    assert "partitions-decreased" in rules(catalog_of(ContohFewerPartitions, Lain))["errors"]
    grown = rules(catalog_of(ContohMorePartitions, Lain))
    assert grown["errors"] == set()
    assert "partitions-increased" in grown["warnings"]


def test_a_new_major_version_is_a_new_lineage() -> None:
    found = rules(catalog_of(Contoh, ContohV2, Lain, subscriptions=(AGREEMENT,)))
    assert found == {"errors": set(), "warnings": {"new-major-version"}}


def test_removing_an_approved_event_type_is_an_error() -> None:
    report = check_catalog(catalog_of(Contoh, subscriptions=(AGREEMENT,)), APPROVED)
    [error] = report.errors
    assert (error.rule, error.event_type) == ("event-type-removed", "id.go.riau.bpbd.lain.terjadi")


def test_none_waives_schema_checks_but_not_governance() -> None:
    relaxed = rules(catalog_of(ContohNone, Lain))
    assert relaxed["errors"] == set()
    assert {"compatibility-changed", "not-approved-revision"} <= relaxed["warnings"]
    assert "owner-changed" in rules(catalog_of(ContohNoneOwnerChanged, Lain))["errors"]


def test_an_unknown_compatibility_mode_is_an_error() -> None:
    report = check_catalog(catalog_of(ContohBadMode, Lain), APPROVED)
    [error] = report.errors
    assert error.rule == "unknown-compatibility-mode"
    assert "FULL_TRANSITIVE" in error.message


def test_after_a_forced_lock_the_check_passes_again() -> None:
    forced = APPROVED.approve(catalog_of(ContohFieldRemoved, Lain), baselines={TYPE})
    assert check_catalog(catalog_of(ContohFieldRemoved, Lain), forced).ok


def test_agreement_changes_are_shown_to_the_reviewer() -> None:
    changed = Subscription(
        system="bapenda.sipd", event_type=TYPE, purpose="Register taxpayers.", fields=("nomor",)
    )
    found = rules(catalog_of(Contoh, Lain, subscriptions=(changed,)))
    assert found == {"errors": set(), "warnings": {"agreement-changed"}}
    revoked = rules(catalog_of(Contoh, Lain))
    assert revoked == {"errors": set(), "warnings": {"agreement-revoked"}}


def test_without_a_lock_file_everything_awaits_approval() -> None:
    report = check_catalog(catalog_of(Contoh, Lain, subscriptions=(AGREEMENT,)), None)
    assert report.ok
    assert {f.rule for f in report.warnings} == {
        "no-lock-file",
        "not-approved",
        "agreement-not-approved",
    }
