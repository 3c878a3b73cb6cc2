"""The reuse advisor on the two shipped example proposals, and the proposal file's errors."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

import schemas
from bus.governance.advice_report import advice_html, advice_markdown, advice_tables
from bus.governance.advisor import Advice, advise
from bus.governance.proposal import ProposalError, parse_proposal, read_proposal

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "proposals"
PINDAH = "id.go.riau.disdukcapil.penduduk.pindah"
IZIN = "id.go.riau.dpmptsp.izin.terbit"


def advice_for(name: str) -> Advice:
    return advise(read_proposal(EXAMPLES / name), schemas.catalog)


def test_the_welfare_system_is_served_by_residents_moves() -> None:
    advice = advice_for("dinsos-siks.toml")
    served = {a.need.name: (a.source.event_type, a.source.field) for a in advice.served}
    assert served == {
        "nik": (PINDAH, "nik"),
        "nama_penerima": (PINDAH, "nama_lengkap"),
        "kabupaten_asal": (PINDAH, "kode_wilayah_asal"),
        "kabupaten_tujuan": (PINDAH, "kode_wilayah_tujuan"),
        "alamat_baru": (PINDAH, "alamat_tujuan"),
        "tgl_pindah": (PINDAH, "tanggal_pindah"),
        "jumlah_anggota_keluarga": (PINDAH, "jumlah_anggota_keluarga"),
    }
    assert [i.name for i in advice.new_items] == ["desil_kesejahteraan"]

    [request] = advice.agreements
    assert request.event_type == PINDAH
    assert request.owner == "disdukcapil.siak"
    assert request.owner_opd == "Disdukcapil"
    assert request.system == "dinsos.siks"
    assert set(request.fields) == set(served_field for _, served_field in served.values())
    assert set(request.personal_fields) == {"nik", "nama_lengkap", "alamat_tujuan"}
    assert request.legal_basis.startswith("UU 13/2011")
    assert any(e.startswith("dinkes.sikda:") for e in request.existing)
    assert advice.overlaps == ()  # bansos.disalurkan copies nobody
    assert advice.summary.startswith("7 of 8 needed items already published")


def test_the_planning_dashboard_is_mostly_new_and_one_event_would_copy_licenses() -> None:
    advice = advice_for("bappeda-dashboard.toml")
    assert [i.name for i in advice.new_items] == [
        "kode_indikator",
        "target_indikator",
        "capaian_indikator",
        "persentase_penduduk_miskin",
        "panjang_jalan_mantap",
        "realisasi_belanja",
    ]
    [investment] = advice.served
    assert investment.source is not None
    assert (investment.source.event_type, investment.source.field) == (IZIN, "nilai_investasi")

    [overlap] = advice.overlaps
    assert overlap.pair == ("id.go.riau.bappeda.investasi.tercatat", IZIN)
    assert overlap.score >= advice.threshold
    assert ("no_izin", "nomor_izin") in overlap.similarity.shared
    assert ("nama_perusahaan", "nama_usaha") in overlap.similarity.shared
    assert overlap.similarity.unmatched == ("tanggal_izin",)


def test_the_json_answer_names_sources_agreements_new_data_and_overlaps() -> None:
    document = advice_for("dinsos-siks.toml").to_dict()
    assert document["system"]["id"] == "dinsos.siks"
    [kab] = [n for n in document["needs"] if n["need"] == "kabupaten_tujuan"]
    assert kab["semantic_type"] == "KodeWilayah"
    assert kab["served_by"]["field"] == "kode_wilayah_tujuan"
    assert kab["served_by"]["owner"] == "disdukcapil.siak"
    assert document["new"] == [
        {
            "need": "desil_kesejahteraan",
            "description": "Household welfare decile in the social welfare register (DTKS)",
        }
    ]
    assert document["agreements"][0]["purpose"].startswith("Keep social-assistance")
    assert document["overlaps"] == []


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.external += [v or "" for k, v in attrs if k in ("src", "href")]


def test_the_html_report_is_one_self_contained_page() -> None:
    page = advice_html(advice_for("bappeda-dashboard.toml"))
    parsed = _Collect()
    parsed.feed(page)
    assert parsed.external == []  # no stylesheet, script, font or image to fetch
    assert "script" not in parsed.tags
    assert parsed.tags.count("table") == 2  # the needs, and the overlap's fields
    assert "<h2>4. Overlaps the proposed events would create</h2>" in page
    assert "no_izin</td><td>nomor_izin</td>" in page


def test_report_text_is_escaped() -> None:
    text = (EXAMPLES / "dinsos-siks.toml").read_text()
    text = text.replace('name = "desil_kesejahteraan"', 'name = "desil_<b>|x"')
    advice = advise(parse_proposal(text), schemas.catalog)
    assert "desil_&lt;b&gt;|x" in advice_html(advice)
    assert "desil_<b>\\|x" in advice_markdown(advice)


def test_the_markdown_report_has_every_section() -> None:
    text = advice_markdown(advice_for("dinsos-siks.toml"))
    headings = re.findall(r"^#+ (.*)$", text, flags=re.MULTILINE)
    assert headings == [
        "Reuse advice: SIKS Riau: social welfare information system",
        "1. Data the system needs",
        "2. Agreements to request instead of collecting the data again",
        "3. Genuinely new data",
        "4. Overlaps the proposed events would create",
    ]
    assert "| kabupaten_tujuan | KodeWilayah | " + PINDAH + " | kode_wilayah_tujuan |" in text
    assert "No overlap: id.go.riau.dinsos.bansos.disalurkan." in text


def test_the_terminal_form_has_the_same_tables() -> None:
    parts = advice_tables(advice_for("dinsos-siks.toml"))
    tables = [p for p in parts if not isinstance(p, str)]
    assert [t.title for t in tables] == ["1. Data the system needs"]
    assert tables[0].row_count == 8


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('semantic_type = "Alamat"', 'semantic_type = "Adress"'), "needs[4].semantic_type: "),
        (('semantic_type = "Alamat"', 'semantic_type = "Adress"'), "unknown semantic type"),
        (('key = "nomor_kks"', 'key = "kks"'), "publishes[0]: key 'kks' is not one of"),
        (('type = "date"', 'type = "tanggal"'), "needs[5].type: type 'tanggal' is not one of"),
        (('opd = "Dinas Sosial"', 'opd = "Dinas Sosial"\nbudget = 1'), "system.budget: "),
        (("[system]", "[system"), "is not valid TOML"),
    ],
)
def test_a_bad_proposal_names_the_place_and_the_reason(
    change: tuple[str, str], message: str
) -> None:
    text = (EXAMPLES / "dinsos-siks.toml").read_text()
    assert change[0] in text
    with pytest.raises(ProposalError) as raised:
        parse_proposal(text.replace(*change, 1), source="dinsos.toml")
    assert message in str(raised.value)
    assert "dinsos.toml" in str(raised.value)


def test_a_missing_proposal_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ProposalError, match=r"cannot read proposal .*nothing\.toml"):
        read_proposal(tmp_path / "nothing.toml")


@pytest.mark.parametrize("name", ["dinsos-siks", "bappeda-dashboard"])
def test_the_committed_example_reports_are_what_propose_writes(name: str) -> None:
    committed = (EXAMPLES / f"{name}.report.md").read_text(encoding="utf-8")
    assert committed == advice_markdown(advice_for(f"{name}.toml")), (
        f"run `bus catalog propose examples/proposals/{name}.toml "
        f"--report examples/proposals/{name}.report.md` and commit the result"
    )
