"""What stderr shows while maascurl waits.

At a terminal: a live view drawn with rich (one object: its host name, state,
time so far and MAAS's newest event text, which MAAS keeps in
`status_message`; many: the count in each state and the slowest ones). Not at
a terminal: one plain line per state change, nothing else. Server text (host
names, states, messages) goes through termsafe and into rich only as Text.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

from maascurl.errors import is_quiet
from maascurl.termsafe import safe_line

if TYPE_CHECKING:
    from rich.console import RenderableType

SLOWEST = 5  # machines named in the fleet view


class Seen(Protocol):
    """What was last seen of a waited-for object (jobs/wait.py's Observation)."""

    @property
    def state(self) -> str: ...

    @property
    def message(self) -> str: ...


class Watch(Protocol):
    """What a view reads of a waited-for object: jobs/wait.py's Watch, a floor above
    this one, which hands its watches in."""

    @property
    def where(self) -> str: ...

    @property
    def hostname(self) -> str: ...

    @property
    def seen(self) -> Seen | None: ...

    @property
    def error(self) -> Exception | None: ...

    @property
    def finished(self) -> bool: ...

    @property
    def started(self) -> float: ...

    @property
    def changed_at(self) -> float: ...

    def elapsed(self, now: float) -> float: ...


class View(Protocol):
    def changed(self, watch: Watch) -> None: ...

    def trouble(self, where: str, text: str) -> None: ...

    def recovered(self, where: str) -> None: ...

    def sleep(self, seconds: float) -> None: ...


def clock(seconds: float) -> str:
    """Elapsed time as m:ss or h:mm:ss."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def name_of(watch: Watch) -> str:
    host = watch.hostname
    where = safe_line(watch.where)  # may hold the server's text (a rack's system_id)
    return f"{where} ({safe_line(host)})" if host else where


class PlainView:
    """One line on stderr per state change, and one per outage of the server."""

    def __init__(self) -> None:
        self.shown: dict[int, str] = {}
        self.troubled: set[str] = set()
        self.lock = threading.Lock()

    def changed(self, watch: Watch) -> None:
        if watch.seen is None or self.shown.get(id(watch)) == watch.seen.state:
            return
        self.shown[id(watch)] = watch.seen.state
        elapsed = clock(watch.elapsed(time.monotonic()))
        self._say(f"{name_of(watch)}: {safe_line(watch.seen.state)} [{elapsed}]")

    def trouble(self, where: str, text: str) -> None:
        with self.lock:
            if where in self.troubled:
                return
            self.troubled.add(where)
        self._say(f"{safe_line(where)}: {safe_line(text)}; still waiting")

    def recovered(self, where: str) -> None:
        with self.lock:
            self.troubled.discard(where)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def _say(self, line: str) -> None:
        if is_quiet():
            return
        with self.lock:
            print(f"maascurl: {line}", file=sys.stderr, flush=True)


class DrawnView(PlainView):
    """A view drawn from the watches themselves with rich: no line per state change,
    the newest trouble with the server under the drawing."""

    def __init__(self, watches: Sequence[Watch]) -> None:
        super().__init__()
        self.watches = watches  # a fleet's list grows while it is drawn
        self.trouble_text = ""

    def changed(self, watch: Watch) -> None:
        pass  # render() shows the states

    def trouble(self, where: str, text: str) -> None:
        self.trouble_text = f"{safe_line(where)}: {safe_line(text)}; still waiting"

    def recovered(self, where: str) -> None:
        self.trouble_text = ""

    def render(self) -> RenderableType:
        return render_fleet(list(self.watches), self.trouble_text, time.monotonic())


class LiveView(DrawnView):
    """A rich Live display on stderr, redrawn a few times a second."""

    def __init__(self, watches: Sequence[Watch]) -> None:
        super().__init__(watches)
        from rich.console import Console
        from rich.live import Live

        self.console = Console(stderr=True)
        self.live = Live(
            _Renderable(self), console=self.console, refresh_per_second=4, transient=True
        )

    def __enter__(self) -> LiveView:
        self.live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.live.stop()
        if len(self.watches) == 1:
            watch = self.watches[0]
            if watch.seen is not None and watch.error is None:
                PlainView.changed(self, watch)

    def render(self) -> RenderableType:
        if len(self.watches) == 1:
            return render_one(self.watches[0], self.trouble_text, time.monotonic())
        return super().render()


class _Renderable:
    def __init__(self, view: DrawnView) -> None:
        self.view = view

    def __rich__(self) -> RenderableType:
        return self.view.render()


def render_one(watch: Watch, trouble: str, now: float) -> RenderableType:
    from rich.console import Group
    from rich.spinner import Spinner
    from rich.text import Text

    line = Text()
    host = watch.hostname
    line.append(safe_line(host or watch.where), style="bold")
    line.append("  ")
    state = watch.seen.state if watch.seen else "…"
    line.append(safe_line(state), style="cyan")
    line.append(f"  {clock(watch.elapsed(now))}", style="dim")
    if watch.seen and watch.seen.message:
        line.append("  " + safe_line(watch.seen.message))
    parts: list[RenderableType] = [Spinner("dots", text=line)]
    if trouble:
        parts.append(Text(trouble, style="yellow"))
    return Group(*parts)


def render_fleet(watches: Sequence[Watch], trouble: str, now: float) -> RenderableType:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    counts = Counter(_fleet_state(w) for w in watches)
    finished = sum(1 for w in watches if w.finished)
    head = Text(f"{finished}/{len(watches)} finished  ", style="bold")
    for state, count in counts.most_common():
        head.append(f"{safe_line(state)}: {count}  ")
    head.append(clock(max((w.elapsed(now) for w in watches), default=0.0)), style="dim")
    slowest = sorted((w for w in watches if not w.finished), key=lambda w: w.changed_at)
    table = Table(box=None, show_header=False, padding=(0, 1))
    for watch in slowest[:SLOWEST]:
        table.add_row(
            Text(name_of(watch)),
            Text(safe_line(watch.seen.state if watch.seen else "…"), style="cyan"),
            Text(f"{clock(now - (watch.changed_at or watch.started))} in state", style="dim"),
            Text(safe_line(watch.seen.message if watch.seen else "")),
        )
    parts: list[RenderableType] = [head, table]
    if trouble:
        parts.append(Text(trouble, style="yellow"))
    return Group(*parts)


class FleetView(DrawnView):
    """--each --wait at a terminal: drawn under the fleet's progress bar, no lines."""


def _fleet_state(watch: Watch) -> str:
    if watch.seen is None:
        return "timed out" if watch.finished else "starting"
    return watch.seen.state


def live_wanted() -> bool:
    """A live view only on a terminal, and not after --no-progress."""
    from maascurl.show import progress

    return progress.allowed()


@contextmanager
def open_view(watches: Sequence[Watch]) -> Iterator[View]:
    if not live_wanted():
        yield PlainView()
        return
    with LiveView(watches) as view:
        yield view
