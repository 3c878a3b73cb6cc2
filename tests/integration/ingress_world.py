"""What the ingress tests share: the licence event they post, its topic, and a body of it.

The catalog's own event types, not test machinery: kept here rather than in `bus.testing`,
which OPD developers use with catalogs of their own.
"""

from __future__ import annotations

from typing import Any

from bus.catalog import Catalog

IZIN = "id.go.riau.dpmptsp.izin.terbit"
TOPIC = "dpmptsp.izin.terbit.v1"


def izin(catalog: Catalog, key: str, **changes: Any) -> dict[str, Any]:
    """The catalog's example licence as a JSON body, numbered `key`, with `changes`."""
    return {**catalog.event_type(IZIN).example, "nomor_izin": key, **changes}
