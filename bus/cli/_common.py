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
    from pydantic import ValidationError

    try:
        loaded = BusSettings()
    except ValidationError as exc:  # one line per setting, never the value (it may be a secret)
        for problem in exc.errors(include_input=False):
            where = (
                "BUS_" + "_".join(str(p) for p in problem["loc"]).upper()
                if problem["loc"]
                else "settings"
            )
            err.print(f"[bold red]error:[/] {where}: {problem['msg']}", highlight=False)
        raise typer.Exit(1) from None
    configure_logging(loaded.log_format, loaded.log_level)
    return loaded


def admin_settings() -> BusSettings:
    """Settings of a command that administers the cluster: the admin principal's credentials."""
    return settings().as_admin()


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
