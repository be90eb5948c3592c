"""MAAS's event log, like tail and tail -f: `maascurl events [-f] [NAME=VALUE...]`.

How MAAS pages its events (EventsHandler.query in src/maasserver/api/events.py):
- without `after` or `before`: the newest `limit` events, newest first;
- with `before=ID`: the newest `limit` events older than ID, newest first;
- with `after=ID`: the OLDEST `limit` events newer than ID, returned newest
  first; `next_uri` is the same query with `after` set to the newest id of
  the page (or unchanged when the page is empty);
- `limit` defaults to 100 and may not exceed 1000; `after` with `before` is a
  400; `level` is a minimum (INFO by default), except AUDIT, which selects
  audit events only.
So following is: read the newest page once, then ask for `after=` the newest
id seen, print that page oldest first, and ask again at once while pages come
back full. Event ids only grow, so every event is printed once and in order.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

from maascurl.errors import MaascurlError, UsageError, note
from maascurl.termsafe import safe, safe_line

if TYPE_CHECKING:
    from maascurl.jobs.call import CallOptions, Session
    from maascurl.show.fields import View
    from maascurl.show.terminal import OutputOptions
    from maascurl.wire.request import RequestSpec

PAGE = 1000  # MAAS's MAX_EVENT_LOG_COUNT
PAGE_LIMIT = 16 * 1024 * 1024  # one page of events read whole; past it a one-line error
DEFAULT_INTERVAL = 2.0
MANAGED = ("op", "limit", "after", "before")  # set by this command, not by the user
LEVEL_STYLES = {"ERROR": "31", "CRITICAL": "1;31", "WARNING": "33", "AUDIT": "36", "DEBUG": "2"}


def run_events(
    filters: list[str], lines: int, follow: bool, interval: float, options: CallOptions
) -> None:
    """Print the newest LINES events matching FILTERS, then (with FOLLOW) each new one."""
    from maascurl.jobs.call import Session
    from maascurl.show.fields import view_of_many

    base, target = _base_spec(filters, options)
    view = view_of_many(options.output.view, options.output.formatted)
    if view is not None and not follow:
        printer: Printer = ViewPrinter(options.output, view)
    elif view is not None:
        printer = StreamPrinter(view)
    else:
        printer = Printer()
    with Session(target, options) as session:
        try:
            page = _page(session, base, [("limit", str(max(lines, 1)))])
            newest = max((_event_id(event) for event in page), default=0)
            printer.write(sorted(page, key=_event_id) if lines else [])  # -n 0: only new ones
            if follow:
                _follow(session, base, newest, interval, printer)
        except KeyboardInterrupt:
            if not follow:
                raise
            # Ctrl-C is how following ends: success.
        finally:
            printer.close()


def _base_spec(filters: list[str], options: CallOptions) -> tuple[RequestSpec, Any]:
    from maascurl.api.apidesc import load_cached
    from maascurl.jobs.call import check_against_description
    from maascurl.profiles.target import resolve_target
    from maascurl.wire.request import build_request, parse_item

    for text in filters:
        item = parse_item(text)
        if item.separator not in ("=", "==") or item.name in MANAGED:
            managed = ", ".join(MANAGED)
            raise UsageError(
                f"expected a filter NAME=VALUE ({managed} are set by events): {text!r}"
            )
    target = resolve_target(options.profile, "events", anonymous=options.anonymous)
    desc = load_cached(target.api_root)
    spec = build_request("GET", target.api_root, "events", ["op=query", *filters], desc)
    if desc is not None:
        check_against_description(spec, desc, target.api_root, "events")
    return spec, target


def _page(session: Session, base: RequestSpec, extra: list[tuple[str, str]]) -> list[Any]:
    from dataclasses import replace

    from maascurl.jobs.wait import parse_json

    spec = replace(base, query=[*base.query, *extra])
    answer = parse_json(session.read(spec, PAGE_LIMIT).content, "events")
    events = answer.get("events") if isinstance(answer, dict) else None
    if not isinstance(events, list):
        raise MaascurlError("events: the answer has no list of events")
    page = [event for event in events if isinstance(event, dict) and "id" in event]
    for event in page:
        found = event["id"]
        if not isinstance(found, int) or isinstance(found, bool):
            shown = repr(found)[:40] if isinstance(found, (str, float)) else type(found).__name__
            raise MaascurlError(f"events: an event's id is not a number: {safe_line(shown)}")
    return page


def _event_id(event: dict[str, Any]) -> int:
    return int(event["id"])  # checked by _page


def _follow(
    session: Session, base: RequestSpec, newest: int, interval: float, printer: Printer
) -> None:
    from maascurl.jobs.wait import Pacer, transient

    pacer = Pacer(interval)
    troubled = False
    while True:
        time.sleep(pacer.next())
        pacer.reset()  # a log should feel live: no backing off
        while True:
            try:
                page = _page(session, base, [("after", str(newest)), ("limit", str(PAGE))])
            except MaascurlError as error:
                if not transient(error):
                    raise
                if not troubled:
                    note(f"events: {error}; still following")
                troubled = True
                break
            troubled = False
            fresh = sorted((e for e in page if _event_id(e) > newest), key=_event_id)
            printer.write(fresh)
            newest = max([newest, *map(_event_id, fresh)])
            if len(page) < PAGE or not fresh:
                # Caught up. A full page means more are waiting, unless it brought nothing
                # newer (a server that ignores `after`): then only the next poll asks again.
                break


class Printer:
    """JSON Lines to a pipe; one readable line per event on a terminal."""

    def __init__(self) -> None:
        from maascurl.show.terminal import use_color

        self.terminal = sys.stdout.isatty()
        self.color = use_color(sys.stdout)

    def write(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            if self.terminal:
                sys.stdout.write(self.line(event) + "\n")
            else:
                sys.stdout.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")))
                sys.stdout.write("\n")
        sys.stdout.flush()

    def line(self, event: dict[str, Any]) -> str:
        def text(name: str) -> str:
            value = event.get(name)
            return safe_line(
                value if isinstance(value, str) else "" if value is None else str(value)
            )

        level = text("level")
        shown = f"{level:<8}"
        if self.color and level in LEVEL_STYLES:
            shown = f"\x1b[{LEVEL_STYLES[level]}m{shown}\x1b[0m"
        what = text("type")
        if text("description"):
            what = f"{what}: {text('description')}" if what else text("description")
        return f"{text('created')}  {shown} {text('hostname') or '-'}  {what}"

    def close(self) -> None:
        """Whatever is left to print once the last page is in."""


class ViewPrinter(Printer):
    """--format, -t, --fields, --sort or --jq on the events of one read (no -f)."""

    def __init__(self, output: OutputOptions, view: View) -> None:
        self.output = output
        self.view = view

    def write(self, events: list[dict[str, Any]]) -> None:
        from maascurl.show.table import emit, render

        view = self.view
        if view.jq is not None:  # one event at a time, as the JSON Lines piped
            from maascurl.show.jq import jq_text

            emit("".join(jq_text(view.jq, data=event) for event in events), self.output)
            return
        terminal = sys.stdout.isatty()
        pretty = terminal if self.output.pretty is None else self.output.pretty
        shown = render(events, view, "events", terminal=terminal, pretty=pretty, width=_width())
        emit(shown.text, self.output, color_json=shown.color_json, rendered=shown.rendered)


class StreamPrinter(Printer):
    """--format, --fields or --jq while following: each page as it comes (show/stream.py)."""

    def __init__(self, view: View) -> None:
        from maascurl.show.stream import ViewStream

        self.stream = ViewStream(view)
        self.jq = view.jq
        self.terminal = sys.stdout.isatty()

    def write(self, events: list[dict[str, Any]]) -> None:
        if self.jq is not None:
            for event in events:  # one event at a time, as the JSON Lines piped
                self._out(self.stream.add(event))
        elif events:
            self._out(self.stream.add(events, "events"))

    def close(self) -> None:
        self._out(self.stream.close())

    def _out(self, data: bytes) -> None:
        if data and self.terminal:  # the server's text, its controls made visible
            text = data.decode("utf-8", errors="replace")
            data = "\r\n".join(safe(part) for part in text.split("\r\n")).encode("utf-8")
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


def _width() -> int | None:
    from maascurl.show.table import table_width

    return table_width()
