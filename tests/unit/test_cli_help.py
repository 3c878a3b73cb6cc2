"""Every help screen reads as plain words: no `<bool>`-style type labels, defaults shown."""

from __future__ import annotations

import re

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from bus.cli import app


def command_paths() -> list[list[str]]:
    """Every command and group of `bus`, as the words that name it."""
    found: list[list[str]] = [[]]

    def walk(group: TyperGroup, prefix: list[str]) -> None:
        for name, command in group.commands.items():
            found.append([*prefix, name])
            if isinstance(command, TyperGroup):
                walk(command, [*prefix, name])

    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    walk(root, [])
    return found


def help_of(*words: str) -> str:
    result = CliRunner().invoke(app, [*words, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("words", command_paths(), ids=lambda w: " ".join(w) or "bus")
def test_no_help_screen_labels_options_with_python_types(words: list[str]) -> None:
    text = help_of(*words)
    options = text.split("Options:", 1)[-1]
    assert not re.search(r"<(bool|str|int|float|list\[str\]|float range|int range)>", options), text
    assert "--help  " in options or "--help\n" in options


def test_monitor_help_says_what_each_option_does_and_its_default() -> None:
    text = " ".join(help_of("monitor").split())
    assert "--host HOST Address the dashboard listens on. [env var: BUS_MONITOR_HOST; " in text
    assert "default: 127.0.0.1]" in text
    assert "[env var: BUS_MONITOR_PORT; default: 8081]" in text
    assert "default: 5.0; x>=0.1]" in text
    assert " ." not in text  # nothing swallowed before a full stop


def test_bracketed_help_text_is_kept() -> None:
    text = " ".join(help_of("catalog", "check").split())
    assert "[default: catalog.lock.json beside it]" in text


def test_a_choice_shows_its_values() -> None:
    assert "--broker auto|kafka|tansu " in help_of("dev")
