"""What `bus dev` tells the person running it, in the process's one log format.

    console = DevConsole("console")
    console.say("demo.published", "[cyan]dpmptsp.sicantik[/] → published …", topic=…)

On `console` each thing that happened is one line starting with the same clock structlog's
console lines use (`09:13:01 WIB`), with any details indented below it. On `json` it is a
structlog event with the same facts as fields, so a file of `bus dev` output is either all
lines for people or all JSON, never both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console

from bus.logging import LogFormat, get_logger, local_time

__all__ = ["DevConsole"]

log = get_logger("bus.dev")


class DevConsole:
    """Prints `bus dev`'s lines for people, or logs them as events when the format is JSON."""

    def __init__(self, fmt: LogFormat, console: Console | None = None) -> None:
        self.format = fmt
        # highlight off: rich would colour the digits inside licence numbers and ids.
        self._console = console or Console(soft_wrap=True, highlight=False)

    def say(self, event: str, text: str, *, details: Sequence[str] = (), **fields: Any) -> None:
        """One thing that happened: `text` (rich markup) and plain `details`, or JSON `fields`."""
        if self.format == "json":
            log.info(event, **fields)
            return
        self._console.print(f"[dim]{local_time()}[/] {text}", highlight=False)
        for detail in details:
            self._console.print(f"  {detail}", highlight=False, markup=False)
