"""The commands of longer work: `wait`, `events`, `batch` and `upload-image`.

Each hands its values to the work layer (jobs/wait.py, jobs/events.py,
jobs/fleet.py and jobs/fleetwait.py, jobs/upload.py) and imports it only
when it runs.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import click

from maascurl.cli.complete import (
    complete_architectures,
    complete_condition,
    complete_event_filters,
    complete_filetypes,
    complete_path,
)
from maascurl.cli.options import (
    BATCH_WAIT_FLAG_HELP,
    CONTEXT_SETTINGS,
    FORMAT_HELP,
    ITEM_HELP,
    Duration,
    SectionedCommand,
    fleet_options,
    format_options,
    pretty_option,
    profile_option,
    progress_option,
    request_options,
    retry_options,
    timeout_option,
    tls_options,
    verbose_option,
    wait_options,
)
from maascurl.cli.values import (
    fleet_settings,
    refuse_sort,
    set_progress,
    take_fleet,
    take_formats,
    take_output,
    take_transport,
    take_wait,
)
from maascurl.errors import EXIT_CODES_HELP

WAIT_TIMEOUT_HELP = (
    "How long to wait before giving up with exit 7 (default 30m). --timeout bounds each "
    "HTTP request instead."
)


@click.command(
    cls=SectionedCommand,
    context_settings=CONTEXT_SETTINGS,
    epilog=f"{FORMAT_HELP}\n\n{EXIT_CODES_HELP}",
)
@click.argument("path", shell_complete=complete_path)
@click.argument(
    "conditions",
    nargs=-1,
    required=True,
    metavar="FIELD=VALUE[,VALUE]...",
    shell_complete=complete_condition,
)
@click.option(
    "--fail-on",
    multiple=True,
    metavar="FIELD=VALUE[,VALUE]",
    shell_complete=complete_condition,
    help="A state that means failure: stop waiting and exit 8 (repeatable).",
)
@partial(wait_options, timeout_help=WAIT_TIMEOUT_HELP)
@request_options
@format_options
def wait(path: str, conditions: tuple[str, ...], fail_on: tuple[str, ...], **options: Any) -> None:
    """Poll GET PATH until every FIELD has one of its VALUEs.

    \b
      maascurl wait machines/abc123 status_name=Deployed --fail-on status_name='Failed deployment'
      maascurl wait machines/abc123 power_state=on
      maascurl wait machines/abc123 boot_interface.link_connected=true

    FIELD may be dotted to reach a nested value; true, false and null match
    JSON's. On a terminal the wait ends in one line (hostname, status, power);
    piped, or with -o, --format or --jq, with the final object. Transient
    failures of a poll (refused, timed out, 5xx) are tolerated until
    --wait-timeout; a 4xx ends the wait.
    """
    from maascurl.jobs.call import CallOptions
    from maascurl.jobs.wait import run_wait

    settings = take_wait(options, wanted=True)
    assert settings is not None
    transport = take_transport(options)
    output = take_output(options, formats=True)
    call = CallOptions(output=output, transport=transport, **options)
    run_wait(path, conditions, fail_on, call, settings)


# wait sends GETs only: it has no body to send.
wait.params = [param for param in wait.params if param.name != "body"]


@click.command(
    cls=SectionedCommand,
    own=("interval",),
    context_settings=CONTEXT_SETTINGS,
    epilog=f"{FORMAT_HELP}\n\n{EXIT_CODES_HELP}",
    short_help="Print MAAS's event log; -f follows it like tail -f.",
)
@click.argument(
    "filters", nargs=-1, metavar="[NAME=VALUE]...", shell_complete=complete_event_filters
)
@click.option(
    "-f", "--follow", is_flag=True, help="Keep printing new events as they happen, until Ctrl-C."
)
@click.option(
    "-n",
    "--lines",
    type=click.IntRange(0, 1000),
    default=10,
    show_default=True,
    metavar="N",
    help="Print the newest N events first (MAAS gives at most 1000).",
)
@click.option(
    "--interval",
    type=Duration(),
    default=2.0,
    metavar="DURATION",
    help="Time between polls with --follow (default 2s).",
)
@format_options
@verbose_option
@tls_options
@profile_option
def events(
    filters: tuple[str, ...],
    follow: bool,
    lines: int,
    interval: float,
    verbose: bool,
    insecure: bool,
    cacert: str | None,
    profile: str | None,
    **formats: Any,
) -> None:
    """Print MAAS's event log, oldest first; with -f, follow it like tail -f.

    \b
      maascurl events level=AUDIT -f
      maascurl events id=abc123 level=DEBUG -n 50
      maascurl events hostname=web-01 -f | jq -r .description
      maascurl events -n 100 -t

    NAME=VALUE filters are those of `events op=query` (hostname, id, mac_address,
    zone, agent_name, owner, level: INFO by default, AUDIT for audit events
    only); repeat one to match any of its values. Piped, each event is one line
    of JSON (JSON Lines); on a terminal, one readable line; --format, -t,
    --fields and --jq shape them as for a request's answer (a table needs every
    row first: not with -f). Each event is printed once, in order. Ctrl-C ends
    following with exit status 0.
    """
    from maascurl.jobs.call import CallOptions
    from maascurl.jobs.events import run_events
    from maascurl.show.terminal import OutputOptions
    from maascurl.wire.settings import Transport

    output = take_formats(formats, OutputOptions())
    view = output.view
    if follow and view is not None and (view.format == "table" or view.sort is not None):
        shown = "-t" if view.format == "table" else "--sort"
        raise click.UsageError(
            f"{shown} needs every event first; with -f use --format tsv or jsonl"
        )
    options = CallOptions(
        profile=profile,
        verbose=verbose,
        transport=Transport(insecure=insecure, cacert=cacert),
        output=output,
    )
    run_events(list(filters), lines, follow, interval, options)


BATCH_HELP = """\
Each line is METHOD PATH [ITEM...] [-p PROFILE], quoted as in a shell; blank
lines and # comments are skipped. Every line is checked before the first
request goes out, so one bad line sends nothing (and every bad line is named).
Lines on the same object (same server, same path or one under it) are sent in
input order, each after the one before it finished; other lines overlap (-j).
Bodies are printed as JSON Lines in input order (--format, -t, --fields and
--jq shape them as for one answer, all lines together), each failure as one
stderr line naming its input line; the exit status is that of the first failed
line. On a terminal with no FILE, a note says the lines are read from stdin
(end them with Ctrl-D)."""


@click.command(
    cls=SectionedCommand,
    fleet_title="Fleet",
    context_settings=CONTEXT_SETTINGS,
    epilog=f"{BATCH_HELP}\n\n{ITEM_HELP}\n\n{EXIT_CODES_HELP}",
    short_help="Send the requests listed in FILE.",
)
@click.argument(
    "file", default="-", type=click.Path(dir_okay=False, allow_dash=True), required=False
)
@request_options
@format_options
@fleet_options
def batch(file: str, **options: Any) -> int:
    """Send the requests listed in FILE (default: stdin), several at a time.

    \b
      # releases.txt
      post machines/abc123 op=release comment='end of run'
      post machines/def456 op=release -p lab   # another region
      put  machines/abc123 description='spare'
    """
    from maascurl.jobs.call import CallOptions
    from maascurl.show.terminal import OutputOptions

    fleet = fleet_settings(take_fleet(options))
    transport = take_transport(options)
    wait = take_wait(options)
    output = take_formats(options, OutputOptions())
    call_options = CallOptions(output=output, transport=transport, **options)
    refuse_sort(call_options, "batch")
    if wait is not None:
        from maascurl.jobs.fleetwait import run_batch_waiting

        return run_batch_waiting(file, call_options, fleet, wait)
    from maascurl.jobs.fleet import run_batch

    return run_batch(file, call_options, fleet)


# Options that shape one answer or carry one body: a batch line is a whole
# request and every answer a line of the output, so batch does not take them.
_NOT_FOR_BATCH = ("output", "include", "pretty", "pager", "body", "keep_error_body")
batch.params = [param for param in batch.params if param.name not in _NOT_FOR_BATCH]
wait_options(batch, flag=BATCH_WAIT_FLAG_HELP)  # its POST lines may start something


UPLOAD_WAIT_HELP = (
    "After the upload, poll the rack controllers until every connected one has "
    "synced the image (default --wait-timeout 30m); exit 7 naming the racks still "
    "behind when it runs out."
)
UPLOAD_TIMEOUT_HELP = (
    "How long to wait for the racks' sync before giving up with exit 7 (default 30m). "
    "--timeout bounds each HTTP request instead."
)


@click.command(
    "upload-image",
    cls=SectionedCommand,
    context_settings=CONTEXT_SETTINGS,
    epilog=EXIT_CODES_HELP,
    short_help="Upload a boot image in resumable chunks.",
)
@click.argument("name")
@click.argument("architecture", shell_complete=complete_architectures)
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--title", metavar="TEXT", help="The image's title in MAAS.")
@click.option(
    "--filetype",
    metavar="TYPE",
    shell_complete=complete_filetypes,
    help="tgz, tbz, txz, ddtgz, ddtbz, ddtxz, ddtar, ddbz2, ddgz, ddxz or ddraw "
    "(default: from FILE's name, e.g. .tar.gz is tgz, .dd.gz is ddgz).",
)
@click.option(
    "--base-image", metavar="OS/SERIES", help="What a custom image is built on (e.g. ubuntu/noble)."
)
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1024),
    default=4 * 1024 * 1024,
    show_default=True,
    metavar="BYTES",
    help="Bytes per upload request (4 MiB, as MAAS's own CLI sends).",
)
@pretty_option
@timeout_option
@retry_options
@tls_options
@profile_option
@progress_option
def upload_image(
    name: str,
    architecture: str,
    file: str,
    title: str | None,
    filetype: str | None,
    base_image: str | None,
    chunk_size: int,
    pretty: bool | None,
    progress: bool,
    profile: str | None,
    **transport: Any,
) -> None:
    """Upload FILE as boot image NAME for ARCHITECTURE, in resumable chunks.

    \b
      maascurl upload-image custom/rhel9 amd64/generic rhel9.tar.gz --base-image rhel/9
      maascurl upload-image windows/win2022 amd64/generic win2022.dd.gz

    FILE is hashed (sha256), the resource is created without its content, and the
    content is sent in signed chunks, so no request runs into MAAS's 300 s window.
    Run the same command again after an interruption: with MAAS up to 3.4 it goes
    on where the server's copy ends (3.5 and later cannot tell, so it starts over).
    The finished resource is printed as JSON. With --wait it is printed once every
    connected rack controller reports the image synced (MAAS 3.5 and later serve
    images from the regions, so their racks report synced at once).
    """
    from maascurl.cli.requests import racks_synced
    from maascurl.jobs.call import CallOptions
    from maascurl.jobs.upload import FILETYPES, ImageUpload, checked_filetype
    from maascurl.jobs.upload import upload_image as run_upload
    from maascurl.show.terminal import OutputOptions
    from maascurl.wire.settings import Transport

    set_progress(progress)
    wait = take_wait(transport)
    if filetype is not None and filetype not in FILETYPES:
        raise click.BadParameter(f"use one of {', '.join(FILETYPES)}", param_hint="--filetype")
    job = ImageUpload(
        name,
        architecture,
        file,
        title=title,
        filetype=checked_filetype(file, filetype),
        base_image=base_image,
        chunk_size=chunk_size,
    )
    options = CallOptions(
        profile=profile,
        transport=Transport(**transport),
        output=OutputOptions(pretty=pretty, pager=False),
    )
    run_upload(job, options, then=racks_synced(job, wait))


# --wait, --wait-timeout and --interval
wait_options(upload_image, flag=UPLOAD_WAIT_HELP, timeout_help=UPLOAD_TIMEOUT_HELP)
