"""A command's parsed options turned into the values the work layer takes.

Each `take_*` pops its options out of a command's keyword arguments, so that
what remains goes to CallOptions as it is. The modules behind each value
(wire/settings.py, jobs/fleet.py, jobs/wait.py) are imported only when the
value is made: a plain call never imports the fleet's.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from maascurl.cli.options import FLEET_OPTIONS, FORMAT_OPTIONS, OUTPUT_OPTIONS, TRANSPORT_OPTIONS

if TYPE_CHECKING:
    from maascurl.jobs.call import CallOptions
    from maascurl.jobs.fleet import FleetOptions
    from maascurl.jobs.wait import WaitOptions
    from maascurl.show.terminal import OutputOptions
    from maascurl.wire.settings import Transport


def take_transport(options: dict[str, Any]) -> Transport:
    """A request command's connection options out of OPTIONS; --no-progress and -q set."""
    from maascurl.wire.settings import Transport

    set_progress(options.pop("progress"))
    if options["quiet"]:
        from maascurl.errors import be_quiet

        be_quiet()
    return Transport(**{name: options.pop(name) for name in TRANSPORT_OPTIONS})


def set_progress(show: bool) -> None:
    if show and "maascurl.show.progress" not in sys.modules:
        return  # not loaded yet: its default (on) holds, and nothing is imported
    from maascurl.show import progress

    progress.enabled = show


def take_output(options: dict[str, Any], *, formats: bool = False) -> OutputOptions:
    """Where and how the answer is written; with FORMATS, the --format view too."""
    from maascurl.show.terminal import OutputOptions

    output = OutputOptions(**{name: options.pop(name) for name in OUTPUT_OPTIONS})
    if formats:
        take_formats(options, output)
    return output


def take_formats(options: dict[str, Any], output: OutputOptions) -> OutputOptions:
    """--format, -t, --json, --fields, --sort, --jq... out of OPTIONS, into OUTPUT's view."""
    from maascurl.show.fields import make_view

    given = [options.pop(name) for name in FORMAT_OPTIONS]
    output.view = make_view(*given)
    output.formatted = any(value not in (None, False, ()) for value in given)
    return output


def take_fleet(options: dict[str, Any]) -> dict[str, Any]:
    """-j, --report and --fail-fast as given, out of OPTIONS (see fleet_settings)."""
    return {name: options.pop(name) for name in FLEET_OPTIONS}


def fleet_settings(given: dict[str, Any]) -> FleetOptions:
    """The fleet's options: only a fleet run (--each, batch) imports jobs/fleet.py."""
    from maascurl.jobs.fleet import DEFAULT_JOBS, FleetOptions

    jobs = given["jobs"]
    return FleetOptions(
        jobs=jobs if jobs is not None else DEFAULT_JOBS,
        report=given["report"],
        fail_fast=given["fail_fast"],
    )


def refuse_without_each(given: dict[str, Any]) -> None:
    flags = {"jobs": "-j/--jobs", "report": "--report", "fail_fast": "--fail-fast"}
    for name, flag in flags.items():
        if given.get(name):
            raise click.UsageError(f"{flag} needs --each")


def refuse_with_fleet(options: dict[str, Any], what: str) -> None:
    # A fleet run writes compact JSON Lines and never pages: --no-pretty and
    # --no-pager hold anyway, the options that ask for more do not apply.
    shown = {
        "include": "-i/--include",
        "pretty": "--pretty",
        "pager": "--pager",
        "keep_error_body": "--keep-error-body",
    }
    for name, flag in shown.items():
        if options.get(name):
            raise click.UsageError(f"{flag} cannot be used with {what}")


def refuse_sort(options: CallOptions, what: str) -> None:
    """--sort orders one answer's objects; a fleet's lines come in input order."""
    view = options.output.view
    if view is not None and view.sort is not None:
        raise click.UsageError(
            f"--sort cannot be used with {what}: lines are written in input order as they "
            "come (sort one answer, or pipe the output to sort)"
        )


def take_wait(options: dict[str, Any], wanted: bool | None = None) -> WaitOptions | None:
    """Pop the wait options; a WaitOptions when --wait was given (or WANTED says so)."""
    flag = options.pop("wait", False)
    timeout, interval = options.pop("wait_timeout", None), options.pop("interval", None)
    if not (flag if wanted is None else wanted):
        if timeout is not None or interval is not None:
            raise click.UsageError("--wait-timeout and --interval need --wait")
        return None
    from maascurl.jobs.wait import DEFAULT_INTERVAL, WaitOptions

    return WaitOptions(timeout=timeout, interval=interval or DEFAULT_INTERVAL)
