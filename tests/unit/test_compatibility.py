"""Compatibility verdicts of schema changes under each mode, on pydantic-generated JSON Schemas.

Each row is one change from the same base model; the columns are the expected verdicts under
BACKWARD (new reads old), FORWARD (old reads new), FULL and NONE, and for a break, the rule and
JSON path the checker must name. Models are closed (`extra="forbid"`), as event models are.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, create_model

from bus.errors import CatalogError
from bus.governance.compatibility import (
    CompatibilityMode,
    check_compatibility,
    check_evolution,
    parse_mode,
)

OK, BREAK = "ok", "break"


class Status(StrEnum):
    BARU = "baru"
    TERBIT = "terbit"


class StatusPlus(StrEnum):
    BARU = "baru"
    TERBIT = "terbit"
    DICABUT = "dicabut"


class StatusMinus(StrEnum):
    BARU = "baru"


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Alamat(Closed):
    jalan: str
    kota: str


class AlamatPlus(Closed):
    jalan: str
    kota: str
    kode_pos: str | None = None


class AlamatMinus(Closed):
    jalan: str


BASE: dict[str, Any] = {
    "nomor": (str, Field(max_length=64)),
    "jumlah": (int, ...),
    "nilai": (float, ...),
    "status": (Status, ...),
    "catatan": (str | None, None),
    "tanggal": (date, ...),
    "alamat": (Alamat, ...),
    "daftar": (list[int], ...),
}


def schema(**changes: Any) -> dict[str, Any]:
    """JSON Schema of the base model with fields replaced (a value of None removes the field)."""
    fields = {**BASE, **changes}
    fields = {name: spec for name, spec in fields.items() if spec is not None}
    model = create_model("Data", __base__=Closed, **fields)
    return model.model_json_schema()


def with_required_default() -> dict[str, Any]:
    """The base schema plus a field that is required and has a default (pydantic never emits
    this shape, other producers of JSON Schema do; Confluent treats it as compatible)."""
    raw = copy.deepcopy(schema())
    raw["properties"]["sumber"] = {"type": "string", "default": "sicantik"}
    raw["required"].append("sumber")
    return raw


@dataclass(frozen=True)
class Change:
    name: str
    new: dict[str, Any]
    backward: str
    forward: str
    full: str
    none: str
    rule_backward: tuple[str, str] | None = None  # (rule, path) expected when BACKWARD breaks
    rule_forward: tuple[str, str] | None = None  # (rule, path) expected when FORWARD breaks


# One row per change; the verdict columns stay on one line for reading the table.
# fmt: off
CHANGES = [
    Change(
        "add optional field",
        schema(keterangan=(str | None, None)),
        OK, BREAK, BREAK, OK,
        rule_forward=("field-added", "$.keterangan"),
    ),
    Change(
        "add required field without default",
        schema(keterangan=(str, ...)),
        BREAK, BREAK, BREAK, OK,
        rule_backward=("required-field-added", "$.keterangan"),
        rule_forward=("field-added", "$.keterangan"),
    ),
    Change(
        "add field with default (pydantic: not required)",
        schema(keterangan=(str, "-")),
        OK, BREAK, BREAK, OK,
        rule_forward=("field-added", "$.keterangan"),
    ),
    Change(
        "add required field with default",
        with_required_default(),
        OK, BREAK, BREAK, OK,
        rule_forward=("field-added", "$.sumber"),
    ),
    Change(
        "remove optional field",
        schema(catatan=None),
        BREAK, OK, BREAK, OK,
        rule_backward=("field-removed", "$.catatan"),
    ),
    Change(
        "remove required field",
        schema(jumlah=None),
        BREAK, BREAK, BREAK, OK,
        rule_backward=("field-removed", "$.jumlah"),
        rule_forward=("required-field-removed", "$.jumlah"),
    ),
    Change(
        "rename field",
        schema(nomor=None, nomor_izin=(str, Field(max_length=64))),
        BREAK, BREAK, BREAK, OK,
        rule_backward=("field-removed", "$.nomor"),
        rule_forward=("required-field-removed", "$.nomor"),
    ),
    Change(
        "widen integer to number",
        schema(jumlah=(float, ...)),
        OK, BREAK, BREAK, OK,
        rule_forward=("type-widened", "$.jumlah"),
    ),
    Change(
        "narrow number to integer",
        schema(nilai=(int, ...)),
        BREAK, OK, BREAK, OK,
        rule_backward=("type-narrowed", "$.nilai"),
    ),
    Change(
        "add enum value",
        schema(status=(StatusPlus, ...)),
        OK, BREAK, BREAK, OK,
        rule_forward=("enum-value-added", "$.status"),
    ),
    Change(
        "remove enum value",
        schema(status=(StatusMinus, ...)),
        BREAK, OK, BREAK, OK,
        rule_backward=("enum-value-removed", "$.status"),
    ),
    Change(
        "tighten maxLength",
        schema(nomor=(str, Field(max_length=32))),
        BREAK, OK, BREAK, OK,
        rule_backward=("constraint-tightened", "$.nomor"),
    ),
    Change(
        "loosen maxLength",
        schema(nomor=(str, Field(max_length=128))),
        OK, BREAK, BREAK, OK,
        rule_forward=("constraint-loosened", "$.nomor"),
    ),
    Change(
        "add pattern",
        schema(nomor=(str, Field(max_length=64, pattern=r"^\d+$"))),
        BREAK, OK, BREAK, OK,
        rule_backward=("constraint-tightened", "$.nomor"),
    ),
    Change(
        "change format date to date-time",
        schema(tanggal=(datetime, ...)),
        BREAK, BREAK, BREAK, OK,
        rule_backward=("constraint-changed", "$.tanggal"),
        rule_forward=("constraint-changed", "$.tanggal"),
    ),
    Change(
        "make field nullable",
        schema(jumlah=(int | None, ...)),
        OK, BREAK, BREAK, OK,
        rule_forward=("nullable-added", "$.jumlah"),
    ),
    Change(
        "remove nullable",
        schema(catatan=(str, "")),
        BREAK, OK, BREAK, OK,
        rule_backward=("nullable-removed", "$.catatan"),
    ),
    Change(
        "change type string to integer",
        schema(nomor=(int, ...)),
        BREAK, BREAK, BREAK, OK,
        rule_backward=("type-changed", "$.nomor"),
        rule_forward=("type-changed", "$.nomor"),
    ),
    Change(
        "add minimum",
        schema(jumlah=(int, Field(ge=0))),
        BREAK, OK, BREAK, OK,
        rule_backward=("constraint-tightened", "$.jumlah"),
    ),
    Change(
        "nested object: optional field added",
        schema(alamat=(AlamatPlus, ...)),
        OK, BREAK, BREAK, OK,
        rule_forward=("field-added", "$.alamat.kode_pos"),
    ),
    Change(
        "nested object: required field removed",
        schema(alamat=(AlamatMinus, ...)),
        BREAK, BREAK, BREAK, OK,
        rule_backward=("field-removed", "$.alamat.kota"),
        rule_forward=("required-field-removed", "$.alamat.kota"),
    ),
    Change(
        "array item type changed",
        schema(daftar=(list[str], ...)),
        BREAK, BREAK, BREAK, OK,
        rule_backward=("type-changed", "$.daftar[*]"),
        rule_forward=("type-changed", "$.daftar[*]"),
    ),
    Change(
        "array item type widened",
        schema(daftar=(list[float], ...)),
        OK, BREAK, BREAK, OK,
        rule_forward=("type-widened", "$.daftar[*]"),
    ),
    Change(
        "add minItems",
        schema(daftar=(list[int], Field(min_length=1))),
        BREAK, OK, BREAK, OK,
        rule_backward=("constraint-tightened", "$.daftar"),
    ),
    Change(
        "optional field made required",
        schema(catatan=(str | None, ...)),
        BREAK, OK, BREAK, OK,
        rule_backward=("field-made-required", "$.catatan"),
    ),
    Change(
        "required field made optional",
        schema(jumlah=(int, 0)),
        OK, BREAK, BREAK, OK,
        rule_forward=("field-made-optional", "$.jumlah"),
    ),
    Change(
        "description changed only",
        schema(jumlah=(int, Field(description="How many, counted by the OPD."))),
        OK, OK, OK, OK,
    ),
]
# fmt: on


def verdict(old: dict[str, Any], new: dict[str, Any], mode: CompatibilityMode) -> str:
    return OK if not check_compatibility(old, new, mode) else BREAK


def test_the_table_is_large_enough() -> None:
    assert len(CHANGES) >= 20
    assert len({c.name for c in CHANGES}) == len(CHANGES)


@pytest.mark.parametrize("change", CHANGES, ids=[c.name for c in CHANGES])
def test_verdict_under_each_mode(change: Change) -> None:
    old = schema()
    got = {
        "BACKWARD": verdict(old, change.new, CompatibilityMode.BACKWARD),
        "FORWARD": verdict(old, change.new, CompatibilityMode.FORWARD),
        "FULL": verdict(old, change.new, CompatibilityMode.FULL),
        "NONE": verdict(old, change.new, CompatibilityMode.NONE),
    }
    expected = {
        "BACKWARD": change.backward,
        "FORWARD": change.forward,
        "FULL": change.full,
        "NONE": change.none,
    }
    assert got == expected


@pytest.mark.parametrize("change", CHANGES, ids=[c.name for c in CHANGES])
def test_a_break_names_its_rule_and_path(change: Change) -> None:
    old = schema()
    for mode, expected in (
        (CompatibilityMode.BACKWARD, change.rule_backward),
        (CompatibilityMode.FORWARD, change.rule_forward),
    ):
        found = {(i.rule, i.path) for i in check_compatibility(old, change.new, mode)}
        if expected is None:
            assert found == set()
        else:
            assert expected in found, f"{mode}: {found}"


def test_messages_explain_the_change_from_old_to_new() -> None:
    [removed] = check_compatibility(schema(), schema(catatan=None), CompatibilityMode.BACKWARD)
    assert removed.direction == "backward"
    assert "'catatan' removed" in removed.message
    assert "closed model" in removed.message
    [narrowed] = check_compatibility(
        schema(), schema(nomor=(str, Field(max_length=32))), CompatibilityMode.BACKWARD
    )
    assert narrowed.message == "maxLength tightened from 64 to 32"


def test_full_reports_each_reason_once() -> None:
    found = check_compatibility(schema(), schema(nomor=(int, ...)), CompatibilityMode.FULL)
    assert [(i.rule, i.path) for i in found] == [("type-changed", "$.nomor")]


def test_identical_schemas_are_compatible_in_every_mode() -> None:
    for mode in CompatibilityMode:
        assert check_compatibility(schema(), schema(), mode) == []


def test_refs_into_defs_are_resolved() -> None:
    old, new = schema(), schema(status=(StatusMinus, ...))
    assert old["properties"]["status"] == {"$ref": "#/$defs/Status"}
    [found] = check_compatibility(old, new, CompatibilityMode.BACKWARD)
    assert "'terbit'" in found.message


# Transitive modes --------------------------------------------------------------------------


def test_transitive_checks_every_approved_revision() -> None:
    # Revision 2 changed `nomor` to an integer while the type was under NONE; revision 3 only
    # adds an optional field, so it follows revision 2, but data written under revision 1
    # (a string `nomor`) cannot be read with it.
    rev1 = schema()
    rev2 = schema(nomor=(int, ...))
    rev3 = schema(nomor=(int, ...), keterangan=(str | None, None))
    assert check_evolution([rev1, rev2], rev3, CompatibilityMode.BACKWARD) == []
    found = check_evolution([rev1, rev2], rev3, CompatibilityMode.BACKWARD_TRANSITIVE)
    assert [(index, i.rule, i.path) for index, i in found] == [(0, "type-changed", "$.nomor")]


def test_transitive_catches_a_default_dropped_after_a_field_was_added() -> None:
    # Adding a required field with a default is backward compatible, and so is dropping the
    # default later (revision 2 data always has the field); revision 1 data never had it.
    rev1 = schema()
    rev2 = with_required_default()
    rev3 = copy.deepcopy(rev2)
    del rev3["properties"]["sumber"]["default"]
    assert check_evolution([rev1, rev2], rev3, CompatibilityMode.BACKWARD) == []
    found = check_evolution([rev1, rev2], rev3, CompatibilityMode.BACKWARD_TRANSITIVE)
    assert [(index, i.rule, i.path) for index, i in found] == [
        (0, "required-field-added", "$.sumber")
    ]
    assert check_evolution([rev1, rev2], rev3, CompatibilityMode.FULL) == []
    found_full = check_evolution([rev1, rev2], rev3, CompatibilityMode.FULL_TRANSITIVE)
    assert {(index, i.rule) for index, i in found_full} == {
        (0, "required-field-added"),  # backward: revision 1 data lacks `sumber`
        (0, "field-added"),  # forward: revision 1 (closed) rejects data carrying `sumber`
    }


def test_forward_transitive_checks_every_approved_revision() -> None:
    # Revisions 1 and 2 cap `nomor` at 64 and 128 characters; under FORWARD each new schema
    # must be readable by older ones. 100 characters is fine for revision 2, not revision 1.
    rev1 = schema()
    rev2 = schema(nomor=(str, Field(max_length=128)))
    rev3 = schema(nomor=(str, Field(max_length=100)))
    assert check_evolution([rev1, rev2], rev3, CompatibilityMode.FORWARD) == []
    found = check_evolution([rev1, rev2], rev3, CompatibilityMode.FORWARD_TRANSITIVE)
    assert [(index, i.rule, i.path) for index, i in found] == [
        (0, "constraint-loosened", "$.nomor")
    ]


def test_none_checks_nothing_even_transitively() -> None:
    assert check_evolution([schema()], schema(nomor=(int, ...)), CompatibilityMode.NONE) == []


# Modes -------------------------------------------------------------------------------------


def test_modes_are_the_confluent_names() -> None:
    assert {m.value for m in CompatibilityMode} == {
        "BACKWARD",
        "BACKWARD_TRANSITIVE",
        "FORWARD",
        "FORWARD_TRANSITIVE",
        "FULL",
        "FULL_TRANSITIVE",
        "NONE",
    }
    assert CompatibilityMode.FULL_TRANSITIVE.backward
    assert CompatibilityMode.FULL_TRANSITIVE.forward
    assert CompatibilityMode.FULL_TRANSITIVE.transitive
    assert not CompatibilityMode.BACKWARD.forward


def test_an_unknown_mode_is_refused_with_the_valid_names() -> None:
    with pytest.raises(CatalogError, match="BACKWARD_TRANSITIVE"):
        parse_mode("BACKWARDS")
