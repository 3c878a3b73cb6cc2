"""What the catalog command tests share: this checkout's shipped lock, and proposals that change
its IzinTerbit as an OPD's pull request to `schemas/` would.

Each proposal is a small module written to a temporary directory; `bus.testing.cli.bus_catalog`
checks it as CI does. The shipped catalog and its lock are this repository's own, so these stay
beside the tests rather than in `bus.testing`.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_LOCK = ROOT / "schemas" / "catalog.lock.json"
IZIN = "id.go.riau.dpmptsp.izin.terbit"

# The shipped catalog with IzinTerbit replaced by the class defined above this footer.
_FOOTER = """
import schemas
from bus.catalog import Catalog

catalog = Catalog(
    systems=schemas.catalog.systems,
    event_types=[
        IzinTerbit if et.data is schemas.IzinTerbit else et.data
        for et in schemas.catalog.event_types
    ],
    subscriptions=schemas.catalog.subscriptions,
)
"""


def proposal(tmp_path: Path, name: str, source: str, *, footer: bool = True) -> str:
    """Write catalog module `name` from `source` into `tmp_path`; its name for `bus_catalog`.

    With `footer`, `source` defines an `IzinTerbit` that replaces the shipped one.
    """
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source) + (_FOOTER if footer else ""))
    return name
