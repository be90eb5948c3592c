"""Where output goes: the options that choose it, the terminal, colour and the pager.

Shared by output.py (bodies as they came) and table.py (--format views), so
that neither imports the other for them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from maascurl.show.fields import View

DEFAULT_PAGER = "less -FRX"


@dataclass
class OutputOptions:
    output: str | None = None
    include: bool = False
    pretty: bool | None = None  # None: pretty on a terminal only
    pager: bool | None = None  # None: page on a terminal when a pager is set
    keep_error_body: bool = False  # write an error's body as a success's would be
    view: View | None = None  # --format, --fields, --sort: see table.py
    formatted: bool = False  # a format option was given (--format json makes no view)


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def use_color(stream: IO[str]) -> bool:
    return stream.isatty() and not os.environ.get("NO_COLOR")


@contextmanager
def pager_stream(enabled: bool | None) -> Iterator[TextIO]:
    """Yield stdout, or the stdin of a pager when writing to a terminal."""
    command = pager_command() if enabled is not False and stdout_is_terminal() else None
    if not command:
        yield sys.stdout
        sys.stdout.flush()
        return
    import subprocess

    env = dict(os.environ)
    env.setdefault("LESS", "FRX")
    process = subprocess.Popen(command, shell=True, stdin=subprocess.PIPE, env=env)
    assert process.stdin is not None
    import io

    stream = io.TextIOWrapper(process.stdin, encoding="utf-8", errors="replace")
    try:
        yield stream
        stream.close()
    except BrokenPipeError:
        pass  # the user quit the pager
    finally:
        with suppress(BrokenPipeError):
            stream.close()
        process.wait()


def pager_command() -> str | None:
    """The pager to use, or None; a pager that is not installed means none."""
    import shlex
    import shutil

    command = os.environ.get("MAASCURL_PAGER", os.environ.get("PAGER", DEFAULT_PAGER)).strip()
    try:
        program = shlex.split(command)[0] if command else ""
    except ValueError:
        return None
    if program in ("", "cat") or shutil.which(program) is None:
        return None
    return command
