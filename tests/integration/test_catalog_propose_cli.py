"""`bus catalog propose` and `bus catalog waive` as the GCIO runs them: the real console script."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bus.testing.cli import bus_catalog
from tests.integration.catalog_world import ROOT, SHIPPED_LOCK, proposal

pytestmark = pytest.mark.integration

EXAMPLES = ROOT / "examples" / "proposals"
PINDAH = "id.go.riau.disdukcapil.penduduk.pindah"
COPY = "id.go.riau.dinsos.warga.pindah"

# Dinas Sosial publishes its own copy of residents' moves, under its own field names: the first
# row of the overlap table's renamed copies, in a catalog module as a pull request has it.
RENAMED_COPY = f"""
import sys

sys.path.insert(0, {str(ROOT)!r})

import schemas
from bus.catalog import Catalog, System
from tests.overlap_table import WargaPindahDinsos

catalog = Catalog(
    systems=[*schemas.catalog.systems, System(id="dinsos.siks", opd="Dinas Sosial", name="SIKS")],
    event_types=[*(et.data for et in schemas.catalog.event_types), WargaPindahDinsos],
    subscriptions=schemas.catalog.subscriptions,
)
"""


def test_propose_prints_the_advice_for_the_welfare_system() -> None:
    result = bus_catalog("propose", str(EXAMPLES / "dinsos-siks.toml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 of 8 needed items already published" in result.stdout
    assert "kabupaten_tujuan" in result.stdout
    assert "disdukcapil.penduduk.pindah" in result.stdout
    assert "desil_kesejahteraan: Household welfare decile" in result.stdout


def test_propose_json_and_both_report_formats(tmp_path: Path) -> None:
    as_json = bus_catalog("propose", "--json", str(EXAMPLES / "bappeda-dashboard.toml"))
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert len(document["new"]) == 6
    assert [o["similar_to"] for o in document["overlaps"]] == ["id.go.riau.dpmptsp.izin.terbit"]

    for name in ("advice.html", "advice.md"):
        report = tmp_path / name
        written = bus_catalog(
            "propose", str(EXAMPLES / "bappeda-dashboard.toml"), "--report", str(report)
        )
        assert written.returncode == 0, written.stderr
        assert f"wrote {report}" in written.stdout
        text = report.read_text(encoding="utf-8")
        assert "Reuse advice: Dashboard Perencanaan" in text
        assert "id.go.riau.bappeda.investasi.tercatat" in text
    assert (tmp_path / "advice.html").read_text().startswith("<!DOCTYPE html>")
    assert (tmp_path / "advice.md").read_text().startswith("# Reuse advice")

    refused = bus_catalog(
        "propose", str(EXAMPLES / "dinsos-siks.toml"), "--report", str(tmp_path / "x.pdf")
    )
    assert refused.returncode == 2
    assert "must end in .html or .md" in refused.stderr


def test_propose_reports_a_bad_file_in_one_readable_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    text = (EXAMPLES / "dinsos-siks.toml").read_text().replace('"Alamat"', '"Adress"')
    bad.write_text(text)
    result = bus_catalog("propose", str(bad))
    assert result.returncode == 1
    assert "needs[4].semantic_type: unknown semantic type 'Adress'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_renamed_copy_fails_the_check_until_the_gcio_waives_it(tmp_path: Path) -> None:
    module = proposal(tmp_path, "renamed_copy_catalog", RENAMED_COPY, footer=False)
    lock = tmp_path / "catalog.lock.json"
    shutil.copy(SHIPPED_LOCK, lock)

    refused = bus_catalog("check", "--lock", str(lock), module=module, path=tmp_path)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"error {COPY} overlap" in refused.stdout
    assert "alamat_baru ~ alamat_tujuan" in refused.stdout
    assert "kab_kota_tujuan ~ kode_wilayah_tujuan" in refused.stdout
    assert f"subscribe to {PINDAH} v1 (owner disdukcapil.siak)" in refused.stdout

    unknown = bus_catalog(
        "waive", COPY, "id.go.riau.x.y.z", "--reason", "r", "--approver", "a",
        "--lock", str(lock), module=module, path=tmp_path,
    )  # fmt: skip
    assert unknown.returncode == 1
    assert "id.go.riau.x.y.z is not an event type of the catalog" in unknown.stderr

    waived = bus_catalog(
        "waive", COPY, PINDAH,
        "--reason", "Pilot until SIKS subscribes to Disdukcapil (ND 045/2026)",
        "--approver", "Kepala Diskominfotik",
        "--lock", str(lock), module=module, path=tmp_path,
    )  # fmt: skip
    assert waived.returncode == 0, waived.stdout + waived.stderr
    [recorded] = json.loads(lock.read_text())["waivers"].values()
    assert recorded["approver"] == "Kepala Diskominfotik"
    assert recorded["event_type"] == COPY

    passed = bus_catalog("check", "--lock", str(lock), module=module, path=tmp_path)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert f"warning {COPY} overlap-waived" in passed.stdout
    assert "by Kepala Diskominfotik: Pilot until SIKS subscribes" in passed.stdout
