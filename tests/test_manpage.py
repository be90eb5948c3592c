"""The man page: valid roff, and every command and option of the CLI documented."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from maascurl.cli import cli

MAN_PAGE = Path(__file__).resolve().parent.parent / "man" / "maascurl.1"


def _plain(roff: str) -> str:
    """The roff source with escapes for hyphens and fonts undone."""
    return re.sub(r"\\f[BIRP]", "", roff.replace("\\-", "-").replace("\\&", ""))


def _commands(
    group: click.Group, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # loads each command's module (cli/__init__.py)
        command = group.get_command(ctx, name)
        assert command is not None
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


def _option_names(command: click.Command) -> set[str]:
    ctx = click.Context(command, info_name=command.name)
    names: set[str] = set()
    for param in command.get_params(ctx):
        if isinstance(param, click.Option):
            names.update(param.opts + param.secondary_opts)
    return names


def test_groff_renders_without_warnings() -> None:
    if shutil.which("groff") is None:
        pytest.skip("groff is not installed")
    proc = subprocess.run(
        ["groff", "-man", "-ww", "-Tutf8", str(MAN_PAGE)], capture_output=True, timeout=60
    )
    assert proc.returncode == 0
    assert proc.stderr.decode() == ""
    text = re.sub(rb".\x08", b"", proc.stdout).decode()  # undo overstriking (bold)
    assert "EXIT STATUS" in text and "--retry-max-wait SECONDS" in text


def test_every_command_has_a_section() -> None:
    headings = re.findall(r'^\.SS "?(.*?)"?$', _plain(MAN_PAGE.read_text()), re.MULTILINE)
    commands = [" ".join(path) for path, _ in _commands(cli)]
    assert "profile show" in commands and "completion" in commands
    missing = [
        name
        for name in commands
        if not any(re.search(rf"(^|[ ,]){name}\b", heading) for heading in headings)
    ]
    assert missing == [], f"commands without a COMMANDS subsection: {missing}"


def test_every_option_is_documented() -> None:
    text = _plain(MAN_PAGE.read_text())
    wanted = _option_names(cli)
    for _, command in _commands(cli):
        wanted |= _option_names(command)
    assert {"--retry-max-wait", "-k", "--no-pretty", "-V"} <= wanted
    missing = sorted(name for name in wanted if not re.search(rf"(?<![\w-]){name}(?![\w-])", text))
    assert missing == [], f"options missing from the man page: {missing}"


def test_sections() -> None:
    sections = re.findall(r'^\.SH "?(.*?)"?$', MAN_PAGE.read_text(), re.MULTILINE)
    for name in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "ITEMS", "OUTPUT", "FILES"):
        assert name in sections
    for name in ("ENVIRONMENT", "EXIT STATUS", "EXAMPLES", "SEE ALSO"):
        assert name in sections
