"""What every command shares: settings, the catalog, consoles, `BusError` as exit 1."""

from __future__ import annotations

import contextlib
import shlex
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from bus.catalog import Catalog, load_catalog
from bus.config import BusSettings
from bus.errors import BusError
from bus.logging import configure_logging, register_personal_keys

# highlight off: rich's automatic highlighting colours the digits inside licence numbers,
# NIBs and ids, and the same value looks different from one line to the next.
out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)


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


def bus_command() -> str:
    """How to run this installation's `bus` from the current directory, as a line to paste.

    `bus` when it is on PATH; otherwise its path (relative when under the current directory,
    such as `.venv/bin/bus` after `make install`), since a hint that fails with "command not
    found" helps nobody.
    """
    installed = Path(sys.argv[0]).resolve() if Path(sys.argv[0]).name == "bus" else None
    installed = installed or Path(sys.executable).with_name("bus")
    on_path = shutil.which("bus")
    if on_path is not None and Path(on_path).resolve() == installed.resolve():
        return "bus"
    try:
        return shlex.quote(str(installed.relative_to(Path.cwd().resolve())))
    except ValueError:
        return shlex.quote(str(installed))


def write_json(document: object) -> None:
    """Print JSON to stdout, unadorned, for other programs to read."""
    import orjson

    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
