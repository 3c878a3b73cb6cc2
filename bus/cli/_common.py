"""What every command shares: settings, the catalog, consoles, `BusError` as exit 1."""

from __future__ import annotations

import contextlib
import shlex
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.padding import Padding
from rich.table import Column, Table

from bus.catalog import Catalog, load_catalog
from bus.config import BusSettings
from bus.errors import BusError
from bus.logging import configure_logging, get_logger
from bus.privacy import use_keys

# highlight off: rich's automatic highlighting colours the digits inside licence numbers,
# NIBs and ids, and the same value looks different from one line to the next.
out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)


#: Long-running commands (servers, relays) announce themselves here, in the process's one
#: log format, so a JSON log stream never starts with a line for people.
log = get_logger("bus.cli")


def settings() -> BusSettings:
    """Settings from the environment, with logging and the personal-data keys set from them."""
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
    with bus_errors():
        use_keys(loaded)  # in production, no process starts without its keys
    return loaded


def admin_settings() -> BusSettings:
    """Settings of a command that administers the cluster: the admin principal's credentials."""
    return settings().as_admin()


def catalog(loaded: BusSettings) -> Catalog:
    """The catalog named by the settings (building it registers its personal fields for masking)."""
    with bus_errors():
        return load_catalog(loaded.catalog_module)


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


@dataclass
class Listing:
    """Rows for people, where the identifiers they copy are never wrapped, folded or cut.

        listing = Listing("Event types", ("type", "topic", "purpose"), identifiers=2)
        listing.add("id.go.riau.dpmptsp.izin.terbit", "dpmptsp.izin.terbit.v1", "…")
        listing.print()

    The first `identifiers` columns are identifiers. When the table fits the console with
    them whole (the other columns wrap), it is a table; otherwise each row is a block with the
    identifiers on lines of their own, however narrow the terminal.
    """

    title: str
    headers: tuple[str, ...]
    identifiers: int = 1
    rows: list[tuple[str, ...]] = field(default_factory=list)

    def add(self, *cells: str) -> None:
        """Append one row, a cell per header."""
        self.rows.append(cells)

    def print(self, console: Console | None = None) -> None:
        """Print as a table if it fits, else as one block per row."""
        console = console or out
        table = self.table()
        # Measured without the console's limit, which would clamp the minimum to it.
        unlimited = console.options.update(max_width=10_000)
        if Measurement.get(console, unlimited, table).minimum <= console.width:
            console.print(table)
            return
        console.print(f"[italic]{escape(self.title)}[/]")
        width = max(len(h) for h in self.headers[1:]) if len(self.headers) > 1 else 0
        for first, *rest in self.rows:
            console.print(f"[bold]{escape(first)}[/]", soft_wrap=True)
            for i, (header, cell) in enumerate(zip(self.headers[1:], rest, strict=True), 1):
                if not cell:
                    continue
                if i < self.identifiers:  # on one line, however long: never wrapped
                    console.print(f"  {header:<{width}}  {escape(cell)}", soft_wrap=True)
                    continue
                line = Table.grid(padding=(0, 2))
                line.add_column(width=width, no_wrap=True)
                line.add_column(overflow="fold")
                line.add_row(header, cell)
                console.print(Padding(line, (0, 0, 0, 2), expand=False))

    def table(self) -> Table:
        """The rows as a rich table: identifier columns unwrapped, the others wrapping."""
        columns = [
            Column(header, no_wrap=True, overflow="ignore")
            if i < self.identifiers
            else Column(header, overflow="fold")
            for i, header in enumerate(self.headers)
        ]
        table = Table(*columns, title=self.title)
        for row in self.rows:
            table.add_row(*row)
        return table


def write_json(document: object) -> None:
    """Print JSON to stdout, unadorned, for other programs to read."""
    import orjson

    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
