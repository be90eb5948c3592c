"""Progress bars for long transfers, drawn on stderr when it is a terminal.

A bar appears only for a transfer of at least MIN_BYTES (or, when the total
is unknown, once that much has gone by), only when stderr is a terminal and
`--no-progress` was not given. rich is imported only when a bar is really
drawn, so scripts, pipes and short requests never pay for it. stdout is
never touched.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any

MIN_BYTES = 8 * 1024 * 1024

# Set by the command line for each command (--no-progress turns it off).
enabled = True


def allowed() -> bool:
    """Whether anything may be drawn on stderr: a bar, or a live view of waiting."""
    return enabled and _stderr_is_terminal()


def wanted(total: int | None) -> bool:
    if not allowed():
        return False
    return total is None or total >= MIN_BYTES


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


class Bar:
    """One bar: `with Bar("uploading x", total) as bar: bar.advance(n)`.

    Does nothing at all (and imports nothing) when no bar is wanted. With an
    unknown TOTAL the bar starts only once MIN_BYTES have gone by.
    """

    def __init__(self, label: str, total: int | None, completed: int = 0) -> None:
        self.label = label
        self.total = total
        self.completed = completed
        self._show = wanted(total)
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> Bar:
        if self._show and self.total is not None:
            self._start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def advance(self, count: int) -> None:
        self.completed += count
        if self._progress is None:
            if not self._show or self.completed < MIN_BYTES:
                return
            self._start()
        self._progress.update(self._task, completed=self.completed)

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        from maascurl.termsafe import safe_line

        console = Console(file=sys.stderr)
        self._progress = Progress(
            TextColumn("{task.fields[label]}", markup=False),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            redirect_stdout=False,  # stdout is the user's data, never the bar's
        )
        # The label may hold a file name: shown as plain text (markup=False
        # above), its control characters made visible.
        self._task = self._progress.add_task(
            "", total=self.total, completed=self.completed, label=safe_line(self.label)
        )
        self._progress.start()


def track(chunks: Iterable[bytes], label: str, total: int | None) -> Iterator[bytes]:
    """Yield CHUNKS unchanged, drawing a bar of their progress when one is wanted."""
    if not wanted(total):
        yield from chunks
        return
    with Bar(label, total) as bar:
        for chunk in chunks:
            yield chunk
            bar.advance(len(chunk))


class TrackedBody:
    """A request body drawn as a bar while it is sent; iterable again for retries."""

    def __init__(self, body: Iterable[bytes], label: str, total: int) -> None:
        self.body = body
        self.label = label
        self.total = total

    def __iter__(self) -> Iterator[bytes]:
        return track(self.body, self.label, self.total)


def tracked(body: Iterable[bytes], label: str, total: int) -> Iterable[bytes]:
    """BODY, drawn as a bar while it is sent when one is wanted (wire/client.py's Tracker)."""
    return TrackedBody(body, label, total) if wanted(total) else body
