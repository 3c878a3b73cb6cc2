"""`bus catalog check | lock | asyncapi` as CI and the GCIO run them: the real console script.

Each proposed catalog is a small module written to a temporary directory and named with
`BUS_CATALOG_MODULE`, exactly as an OPD's pull request would change `schemas/`
(`tests/integration/catalog_world.py`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bus.testing.cli import bus_catalog
from tests.integration.catalog_world import IZIN, SHIPPED_LOCK, proposal

pytestmark = pytest.mark.integration

# An optional field added: BACKWARD compatible for a closed model.
COMPATIBLE = '''
from schemas import IzinTerbit as Approved


class IzinTerbit(
    Approved,
    type="id.go.riau.dpmptsp.izin.terbit",
    version=1,
    owner="dpmptsp.sicantik",
    key="nomor_izin",
    topic={"partitions": 3},
):
    """Izin terbit: a business license was issued to a registered business (NIB)."""

    catatan: str | None = None
'''

# `berlaku_sampai` removed: old data carrying it is rejected by the closed model.
BREAKING = '''
from datetime import date, datetime
from typing import Any, ClassVar

from pydantic import Field

from bus.catalog import EventData, personal
from schemas import IzinTerbit as Approved
from schemas.dpmptsp import JenisIzin
from schemas.types import KBLI, NIB, KodeWilayah


class IzinTerbit(
    EventData,
    type="id.go.riau.dpmptsp.izin.terbit",
    version=1,
    owner="dpmptsp.sicantik",
    key="nomor_izin",
    topic={"partitions": 3},
):
    """Izin terbit: a business license was issued to a registered business (NIB)."""

    nomor_izin: str = Field(
        min_length=5, max_length=64, description="License number as printed on the license."
    )
    nib: NIB
    jenis_izin: JenisIzin
    kbli: KBLI
    nama_usaha: str = Field(min_length=1, max_length=200, description="Registered business name.")
    nama_pemohon: str = personal(
        min_length=1, max_length=200, description="Applicant's name (personal data)."
    )
    kode_wilayah: KodeWilayah = Field(description="Regency or city where the business operates.")
    nilai_investasi: int = Field(ge=0, description="Declared investment value in Rupiah.")
    tanggal_terbit: date
    issued_at: datetime = Field(description="When the license was signed, with time zone.")

    example: ClassVar[dict[str, Any]] = {
        k: v for k, v in Approved.example.items() if k != "berlaku_sampai"
    }
'''

# A subscription to an event type nobody declared: Catalog() refuses to build.
INCONSISTENT = """
import schemas
from bus.catalog import Catalog, Subscription

catalog = Catalog(
    systems=schemas.catalog.systems,
    event_types=[et.data for et in schemas.catalog.event_types],
    subscriptions=[
        *schemas.catalog.subscriptions,
        Subscription(system="bapenda.sipd", event_type="id.go.riau.x.y.z", purpose="Nothing."),
    ],
)
"""


def test_the_shipped_catalog_passes_as_ci_runs_it() -> None:
    result = bus_catalog("check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "catalog OK" in result.stdout
    assert "7 event types" in result.stdout

    result = bus_catalog("check", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout) == {"ok": True, "errors": [], "warnings": []}


def test_a_breaking_change_fails_with_type_path_and_reason(tmp_path: Path) -> None:
    module = proposal(tmp_path, "breaking_catalog", BREAKING)
    result = bus_catalog(
        "check", "--json", "--lock", str(SHIPPED_LOCK), module=module, path=tmp_path
    )
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False
    [error] = [e for e in report["errors"] if e["path"] == "$.berlaku_sampai"]
    assert error["event_type"] == IZIN
    assert error["rule"] == "field-removed"
    assert "'berlaku_sampai' removed" in error["message"]
    assert set(error) == {"event_type", "path", "rule", "message"}

    readable = bus_catalog("check", "--lock", str(SHIPPED_LOCK), module=module, path=tmp_path)
    assert readable.returncode == 1
    assert "error" in readable.stdout
    assert f"{IZIN} $.berlaku_sampai" in readable.stdout
    assert "field-removed" in readable.stdout


def test_an_inconsistent_catalog_is_reported_not_raised(tmp_path: Path) -> None:
    module = proposal(tmp_path, "inconsistent_catalog", INCONSISTENT, footer=False)
    result = bus_catalog(
        "check", "--json", "--lock", str(SHIPPED_LOCK), module=module, path=tmp_path
    )
    assert result.returncode == 1
    [error] = json.loads(result.stdout)["errors"]
    assert error["rule"] == "catalog-inconsistent"
    assert "id.go.riau.x.y.z" in error["message"]
    assert "Traceback" not in result.stderr


def test_lock_records_an_approved_compatible_change(tmp_path: Path) -> None:
    module = proposal(tmp_path, "compatible_catalog", COMPATIBLE)
    lock = tmp_path / "catalog.lock.json"  # the default: next to the catalog module
    shutil.copy(SHIPPED_LOCK, lock)

    result = bus_catalog("check", "--json", module=module, path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert [(w["event_type"], w["rule"]) for w in report["warnings"]] == [
        (IZIN, "not-approved-revision")
    ]
    assert bus_catalog("check", "--strict", module=module, path=tmp_path).returncode == 1

    result = bus_catalog("lock", module=module, path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    revisions = json.loads(lock.read_text())["event_types"][IZIN]["v1"]["revisions"]
    assert [r["revision"] for r in revisions] == [1, 2]
    assert "catatan" in revisions[1]["schema"]["properties"]
    assert "catatan" not in revisions[0]["schema"]["properties"]

    after = bus_catalog("check", "--json", module=module, path=tmp_path)
    assert json.loads(after.stdout) == {"ok": True, "errors": [], "warnings": []}
    again = bus_catalog("lock", module=module, path=tmp_path)
    assert again.returncode == 0
    assert "already up to date" in again.stdout


def test_lock_refuses_a_failing_catalog_unless_forced(tmp_path: Path) -> None:
    module = proposal(tmp_path, "breaking_lock_catalog", BREAKING)
    lock = tmp_path / "catalog.lock.json"
    shutil.copy(SHIPPED_LOCK, lock)
    before = lock.read_bytes()

    refused = bus_catalog("lock", module=module, path=tmp_path)
    assert refused.returncode == 1
    assert "refusing to lock" in refused.stderr
    assert lock.read_bytes() == before

    forced = bus_catalog("lock", "--force", module=module, path=tmp_path)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "forced" in forced.stdout
    revisions = json.loads(lock.read_text())["event_types"][IZIN]["v1"]["revisions"]
    assert revisions[-1]["baseline"] is True
    assert bus_catalog("check", module=module, path=tmp_path).returncode == 0


def test_the_committed_lock_is_what_lock_would_write(tmp_path: Path) -> None:
    lock = tmp_path / "catalog.lock.json"
    shutil.copy(SHIPPED_LOCK, lock)
    result = bus_catalog("lock", "--lock", str(lock))
    assert result.returncode == 0
    assert "already up to date" in result.stdout, "run `bus catalog lock` and commit the result"


def test_asyncapi_to_stdout_and_to_a_file(tmp_path: Path) -> None:
    printed = bus_catalog("asyncapi")
    assert printed.returncode == 0, printed.stderr
    document = json.loads(printed.stdout)
    assert document["asyncapi"] == "3.0.0"
    assert len(document["channels"]) == 7

    output = tmp_path / "asyncapi.json"
    written = bus_catalog("asyncapi", "--output", str(output))
    assert written.returncode == 0
    assert json.loads(output.read_text()) == document


def test_list_still_lists() -> None:
    result = bus_catalog("list", "--json")
    assert result.returncode == 0
    assert len(json.loads(result.stdout)["event_types"]) == 7
