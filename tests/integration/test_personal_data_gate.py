"""`bus catalog check` refuses personal data that is not marked `personal()`, as CI runs it.

The proposal a new user tried (issue 13): `nik_pemohon` added to IzinTerbit with a NIK's
pattern and no mark passed the check with rc=0, and two agencies with the default grant would
have received NIKs. It must fail, name the field and say how to fix it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import schemas.types  # noqa: F401 - declares the semantic types
from bus.catalog.meaning import meaning_named
from bus.governance.personal_data import personal_data_reason
from bus.testing.cli import bus_catalog
from tests.integration.catalog_world import IZIN, SHIPPED_LOCK, proposal

pytestmark = pytest.mark.integration

_NEW_FIELD = '''
from pydantic import Field

from schemas import IzinTerbit as Approved


class IzinTerbit(
    Approved,
    type="id.go.riau.dpmptsp.izin.terbit",
    version=1,
    owner="dpmptsp.sicantik",
    key="nomor_izin",
    topic={{"partitions": 3}},
):
    """Izin terbit: a business license was issued to a registered business (NIB)."""

    {field}
'''


def test_the_unmarked_nik_pemohon_of_the_issue_fails_the_gate(tmp_path: Path) -> None:
    field = 'nik_pemohon: str = Field(default="1471021205900003", pattern=r"^\\d{16}$")'
    module = proposal(tmp_path, "nik_catalog", _NEW_FIELD.format(field=field))
    result = bus_catalog(
        "check", "--json", "--lock", str(SHIPPED_LOCK), module=module, path=tmp_path
    )
    assert result.returncode == 1, result.stdout + result.stderr
    [error] = json.loads(result.stdout)["errors"]
    assert (error["event_type"], error["path"], error["rule"]) == (
        IZIN,
        "$.nik_pemohon",
        "personal-data-not-marked",
    )
    assert "nik_pemohon: ... = personal(...)" in error["message"]
    assert "bus catalog waive-personal" in error["message"]

    readable = bus_catalog("check", "--lock", str(SHIPPED_LOCK), module=module, path=tmp_path)
    assert readable.returncode == 1
    assert f"{IZIN} $.nik_pemohon" in readable.stdout


def test_marked_personal_the_same_field_passes(tmp_path: Path) -> None:
    field = 'nik_pemohon: str | None = personal(default=None, pattern=r"^\\d{16}$")'
    source = _NEW_FIELD.format(field=field).replace(
        "from pydantic import Field", "from bus.catalog import personal"
    )
    module = proposal(tmp_path, "marked_catalog", source)
    result = bus_catalog(
        "check", "--json", "--lock", str(SHIPPED_LOCK), module=module, path=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_reviewed_waiver_is_recorded_in_the_lock_file(tmp_path: Path) -> None:
    field = 'email_layanan: str = Field(default="layanan@dpmptsp.riau.go.id")'
    module = proposal(tmp_path, "waived_catalog", _NEW_FIELD.format(field=field))
    lock = tmp_path / "catalog.lock.json"
    shutil.copy(SHIPPED_LOCK, lock)
    assert bus_catalog("check", module=module, path=tmp_path).returncode == 1

    reason = "The office's service mailbox, the same in every event; no person's address."
    waived = bus_catalog(
        "waive-personal",
        IZIN,
        "email_layanan",
        "--reason",
        reason,
        "--approver",
        "GCIO review 2026-12-02",
        module=module,
        path=tmp_path,
    )
    assert waived.returncode == 0, waived.stdout + waived.stderr
    stored = json.loads(lock.read_text())["personal_data_waivers"][IZIN]["email_layanan"]
    assert stored["reason"] == reason and stored["approver"] == "GCIO review 2026-12-02"
    assert stored["approved_on"]  # the day it was recorded
    result = bus_catalog("check", "--json", module=module, path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("name", "schema", "personal"),
    [
        ("nik", {"type": "string"}, True),
        ("no_kk", {"type": "string"}, True),
        ("nama_ibu_kandung", {"type": "string"}, True),
        ("alamat_domisili", {"type": "string"}, True),
        ("tgl_lahir", {"type": "string"}, True),
        ("no_hp", {"type": "string"}, True),
        ("email_pemohon", {"type": "string"}, True),
        ("pemilik", {"description": "Nomor Induk Kependudukan: the 16-digit ..."}, True),
        ("kepala_keluarga", {"description": "Nomor Kartu Keluarga: the 16-digit ..."}, True),
        ("kode_x", {"type": "string", "pattern": "^\\d{16}$"}, True),
        ("kode_y", {"anyOf": [{"type": "string", "pattern": "^\\d{16}$"}, {"type": "null"}]}, True),
        ("nama_usaha", {"type": "string"}, False),
        ("alamat_kantor", {"type": "string"}, False),
        ("nib", {"type": "string", "pattern": "^\\d{13}$"}, False),
        ("kode_wilayah", {"type": "string"}, False),
    ],
)
def test_what_looks_personal(name: str, schema: dict[str, object], personal: bool) -> None:
    assert (personal_data_reason(name, schema) is not None) is personal


def test_a_semantic_type_about_a_person_is_personal_whatever_the_name() -> None:
    pemilik = personal_data_reason("pemilik", {"type": "string"}, meaning_named("NamaOrang"))
    assert pemilik == "its type is NamaOrang, a person's name"
    assert personal_data_reason("usaha", {"type": "string"}, meaning_named("NamaUsaha")) is None
