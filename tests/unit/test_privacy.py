"""Personal data never reaches a log line or an error message in clear, on any path, and its
masks cannot be reversed without the key."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
import structlog
from pydantic import SecretStr
from typer.testing import CliRunner

from bus.catalog import Catalog
from bus.cli import app
from bus.config import BusSettings
from bus.errors import ConfigurationError
from bus.logging import configure_logging, ensure_redaction, get_logger
from bus.privacy import current_keys, mask, personal_values, redact, redact_text, use_keys
from bus.privacy.keys import make_run_keys
from bus.reliability.failure import error_message
from schemas import IzinTerbit

NIK = "1471021205900003"
NO_KK = "1471020101090012"
PHONE = "0812-6677-8899"


def test_masks_are_keyed_so_a_nik_cannot_be_found_by_trying_every_nik() -> None:
    use_keys(BusSettings(pdp_mask_key=SecretStr("k1" * 16), pdp_pseudonym_key=SecretStr("p")))
    first = mask(NIK)
    assert first == mask(NIK)  # still correlates
    assert hashlib.sha256(NIK.encode()).hexdigest()[:12] not in first  # the old, unkeyed mask
    use_keys(BusSettings(pdp_mask_key=SecretStr("k2" * 16), pdp_pseudonym_key=SecretStr("p")))
    assert mask(NIK) != first


def test_production_refuses_to_start_without_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="BUS_PDP_MASK_KEY"):
        use_keys(BusSettings(env="production"))
    key_file = tmp_path / "mask.key"
    key_file.write_text("from-a-file\n")
    keys = use_keys(
        BusSettings(
            env="production",
            pdp_mask_key_file=key_file,
            pdp_pseudonym_key=SecretStr("pseudonyms"),
        )
    )
    assert keys.mask == b"from-a-file" and not keys.ephemeral


def test_production_cli_refuses_to_start() -> None:
    result = CliRunner().invoke(app, ["catalog", "list", "--json"], env={"BUS_ENV": "production"})
    assert result.exit_code == 1
    assert "BUS_PDP_MASK_KEY" in result.output
    assert '"systems"' not in result.output


def test_bus_dev_makes_keys_for_its_run_unless_configured_or_in_production() -> None:
    environ: dict[str, str] = {"BUS_PDP_PSEUDONYM_KEY_FILE": "/run/secrets/p"}
    assert make_run_keys(environ) == ["BUS_PDP_MASK_KEY"]
    assert len(environ["BUS_PDP_MASK_KEY"]) == 64
    assert make_run_keys({"BUS_ENV": "production"}) == []


def test_development_without_keys_masks_with_keys_of_its_own() -> None:
    keys = use_keys(BusSettings())
    assert keys.ephemeral and current_keys() is keys
    assert mask(NIK) == mask(NIK)


def test_nik_kk_and_phone_shaped_values_are_redacted_at_any_depth() -> None:
    document = {
        "event": f"NIK {NIK} is not registered",
        "rows": [{"data": {"pemohon": [{"id": NO_KK}]}}, ("call", PHONE)],
        "spaced": "1471 0212 0590 0003",
        "mail": "write to siti.aminah@gmail.com today",
        "as_number": int(NIK),
        "kept": {"nomor_izin": "503/DPMPTSP/IU/2026/00123", "nilai": 750000000, "kbli": "47111"},
    }
    redacted = redact(document)
    text = json.dumps(redacted)
    for secret in (NIK, NO_KK, PHONE, "1471 0212 0590 0003", "siti.aminah@gmail.com"):
        assert secret not in text
    assert redacted["event"] == f"NIK {mask(NIK)} is not registered"
    assert redacted["as_number"] == mask(int(NIK))
    assert redacted["kept"] == document["kept"]  # what is not personal stays readable


def test_personal_keys_are_masked_whatever_their_value(catalog: Catalog) -> None:
    redacted = redact({"a": [{"nama_pemohon": "Siti Aminah", "alamat_usaha": "Jl. Merdeka 12"}]})
    assert redacted == {
        "a": [{"nama_pemohon": mask("Siti Aminah"), "alamat_usaha": mask("Jl. Merdeka 12")}]
    }
    model = IzinTerbit.model_validate(IzinTerbit.example)
    assert "Siti Aminah" not in json.dumps(redact({"izin": model}))


def test_the_handled_events_values_are_masked_in_free_text() -> None:
    with personal_values(["Siti Aminah"]):
        assert redact_text("applicant Siti Aminah unknown") == (
            f"applicant {mask('Siti Aminah')} unknown"
        )
    assert redact_text("applicant Siti Aminah unknown") == "applicant Siti Aminah unknown"


def test_error_messages_that_cross_agencies_are_redacted() -> None:
    message = error_message(ValueError(f"NIK {NIK} is not registered; call {PHONE}"))
    assert NIK not in message and PHONE not in message
    assert message.startswith("NIK <redacted:")


def test_readme_code_logs_no_personal_field_in_clear(
    json_lines: io.StringIO, catalog: Catalog
) -> None:
    # As a README reader's adapter would: fields of the event logged by name, nested, in
    # an f-string, and an exception carrying the NIK, with the bus's logging.
    log = get_logger("adapter")
    izin = IzinTerbit.model_validate(IzinTerbit.example)
    log.info("izin", nama_pemohon=izin.nama_pemohon, data={"alamat_usaha": "Jl. Merdeka 12"})
    log.info(f"resident {NIK} moved", nested={"list": [{"nik": NIK}]})
    try:
        raise ValueError(f"NIK {NIK} is not registered")
    except ValueError:
        log.exception("handler failed")
    text = json_lines.getvalue()
    for secret in (NIK, "Siti Aminah", "Jl. Merdeka 12"):
        assert secret not in text
    assert len(text.splitlines()) == 3
    assert "Traceback" in text  # the traceback is still there, redacted


def test_an_application_with_its_own_structlog_chain_gets_redaction() -> None:
    buffer = io.StringIO()
    structlog.configure(
        processors=[structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(file=buffer),
    )
    try:
        ensure_redaction()
        get_logger("app").info("moved", nik=NIK, note=f"kk {NO_KK}")
    finally:
        configure_logging("console", "INFO")
    assert NIK not in buffer.getvalue() and NO_KK not in buffer.getvalue()


def test_an_application_that_never_configured_structlog_gets_the_bus_logging(
    capsys: pytest.CaptureFixture[str],
) -> None:
    structlog.reset_defaults()
    try:
        ensure_redaction("json")
        get_logger("app").info("moved", nik=NIK)
    finally:
        configure_logging("console", "INFO")
    written = capsys.readouterr().err
    assert '"nik": "<redacted:' in written and NIK not in written
