"""`bus catalog ...`: read the governed catalog."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from bus.cli import _common

catalog_app = typer.Typer(help="The governed catalog: systems, event types, agreements.")


@catalog_app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """List systems, event types and subscriptions."""
    loaded = _common.catalog(_common.settings())
    if as_json:
        _common.write_json(loaded.to_dict())
        return
    systems = Table("id", "OPD", "name", title="Systems")
    for system in loaded.systems:
        systems.add_row(system.id, system.opd, system.name)
    types = Table("type", "topic", "owner", "v", "key", "personal data", title="Event types")
    for et in loaded.event_types:
        types.add_row(
            et.type,
            et.topic,
            et.owner,
            str(et.version),
            et.key,
            ", ".join(sorted(et.personal_fields)),
        )
    subs = Table("system", "event type", "purpose", title="Subscriptions (data-sharing agreements)")
    for sub in loaded.subscriptions:
        subs.add_row(sub.system, sub.event_type, sub.purpose)
    for table in (systems, types, subs):
        _common.out.print(table)


@catalog_app.command("check")
def check() -> None:
    """Check the catalog; exit 1 with a readable report on any error."""
    loaded = _common.catalog(_common.settings())
    _common.out.print(
        f"catalog OK: {len(loaded.systems)} systems, {len(loaded.event_types)} event types, "
        f"{len(loaded.subscriptions)} subscriptions"
    )
