"""`bus dev`'s own lines: one clock with its zone, no colour inside numbers, JSON when asked."""

from __future__ import annotations

import io
import json
import re

import pytest
from rich.console import Console

from bus.catalog import Catalog
from bus.dev.console import DevConsole
from bus.dev.demo import say_published
from bus.publish import Delivery

IZIN = "id.go.riau.dpmptsp.izin.terbit"
PINDAH = "id.go.riau.disdukcapil.penduduk.pindah"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def terminal() -> Console:
    """A colour terminal, as `make dev` has, writing to a buffer."""
    return Console(file=io.StringIO(), force_terminal=True, color_system="truecolor", width=200)


def delivery(event_id: str = "0b1c2d3e-0000-4000-8000-000000000001") -> Delivery:
    return Delivery(event_id=event_id, topic="dpmptsp.izin.terbit.v1", partition=2, offset=41)


def test_a_published_line_starts_with_the_labelled_clock_and_keeps_numbers_whole(
    terminal: Console, catalog: Catalog
) -> None:
    say_published(
        DevConsole("console", terminal),
        catalog.event_type(IZIN),
        b"503/DPMPTSP/IU/2026/00123",
        delivery(),
        via="ingress",
    )
    raw = terminal.file.getvalue()  # type: ignore[attr-defined]
    # No colour codes inside the licence number or the position: rich highlighting is off.
    assert "503/DPMPTSP/IU/2026/00123" in raw
    assert "dpmptsp.izin.terbit.v1[2]@41" in raw
    plain = ANSI.sub("", raw)
    assert re.match(
        r"^\d\d:\d\d:\d\d \S+ dpmptsp\.sicantik\s+→ published izin terbit "
        r"503/DPMPTSP/IU/2026/00123 via the ingress  dpmptsp\.izin\.terbit\.v1\[2\]@41$",
        plain.strip(),
    ), plain


def test_a_personal_key_is_not_shown(terminal: Console, catalog: Catalog) -> None:
    pindah = catalog.event_type(PINDAH)
    assert pindah.key in pindah.personal_fields  # the NIK
    say_published(DevConsole("console", terminal), pindah, b"1471021205900003", delivery())
    assert "1471021205900003" not in terminal.file.getvalue()  # type: ignore[attr-defined]


def test_in_json_every_line_is_a_log_event_and_nothing_is_printed(
    terminal: Console, catalog: Catalog, json_lines: io.StringIO
) -> None:
    console = DevConsole("json", terminal)
    say_published(console, catalog.event_type(IZIN), b"503/DPMPTSP/IU/2026/00123", delivery())
    console.say("dev.stopped", "[bold]stopped[/]", details=["not in JSON"])
    assert terminal.file.getvalue() == ""  # type: ignore[attr-defined]
    published, stopped = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    assert published["event"] == "demo.published"
    assert (published["key"], published["partition"], published["offset"]) == (
        "503/DPMPTSP/IU/2026/00123",
        2,
        41,
    )
    assert published["timestamp"].endswith("Z")
    assert stopped["event"] == "dev.stopped"
