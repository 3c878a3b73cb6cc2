"""What every command shares: settings, the catalog, consoles, `BusError` as exit 1."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import typer
from rich.console import Console
from rich.markup import escape

from bus.catalog import Catalog, load_catalog
from bus.config import BusSettings
from bus.errors import BusError
from bus.logging import configure_logging, register_personal_keys

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def settings() -> BusSettings:
    """Settings from the environment, with logging configured from them."""
    loaded = BusSettings()
    configure_logging(loaded.log_format, loaded.log_level)
    return loaded


def catalog(loaded: BusSettings) -> Catalog:
    """The catalog named by the settings; personal-data fields are registered for log masking."""
    with bus_errors():
        found = load_catalog(loaded.catalog_module)
    register_personal_keys(found.personal_field_names)
    return found


@contextlib.contextmanager
def bus_errors() -> Iterator[None]:
    """Print a `BusError` as one readable line and exit 1 instead of a traceback."""
    try:
        yield
    except BusError as exc:
        # Escaped: a message quotes ids and values as given, and `[x]` in one is not markup.
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None


def write_json(document: object) -> None:
    """Print JSON to stdout, unadorned, for other programs to read."""
    import orjson

    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
