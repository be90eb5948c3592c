"""The request commands: `get`, `post`, `put` and `delete` PATH [ITEM...].

One request goes through jobs/call.py's perform; with --each, one per input
line through jobs/fleet.py. What is built on one call is composed here, as
perform's steps: a big boot-image create is sent in chunks (jobs/upload.py),
and with --wait the request is waited for (jobs/wait.py; a boot image: its
racks' sync, jobs/racksync.py).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import click

from maascurl.cli.complete import complete_items, complete_path
from maascurl.cli.options import (
    CONTEXT_SETTINGS,
    FLEET_HELP,
    FORMAT_HELP,
    ITEM_HELP,
    SEE_ALSO_HELP,
    WAIT_FLAG_HELP,
    SectionedCommand,
    fleet_options,
    format_options,
    if_match_option,
    page_options,
    request_options,
    wait_options,
)
from maascurl.cli.values import (
    fleet_settings,
    refuse_sort,
    refuse_with_fleet,
    refuse_without_each,
    take_fleet,
    take_output,
    take_transport,
    take_wait,
)
from maascurl.errors import EXIT_CODES_HELP, note

if TYPE_CHECKING:
    from maascurl.jobs.call import CallOptions, Checked, Session, Step
    from maascurl.jobs.fleet import FleetOptions
    from maascurl.jobs.upload import AfterUpload, ImageUpload
    from maascurl.jobs.wait import WaitOptions


def method_command(method: str) -> click.Command:
    @click.command(
        name=method.lower(),
        cls=SectionedCommand,
        context_settings=CONTEXT_SETTINGS,
        epilog=f"{ITEM_HELP}\n\n{FORMAT_HELP}\n\n{FLEET_HELP}\n\n{EXIT_CODES_HELP}\n\n"
        f"{SEE_ALSO_HELP}",
        short_help=f"Send a {method} request.",
    )
    @click.argument("path", shell_complete=complete_path)
    @click.argument("items", nargs=-1, shell_complete=complete_items)
    @request_options
    @format_options
    @click.option(
        "--each",
        type=click.Path(dir_okay=False, allow_dash=True),
        metavar="FILE",
        help="Send the request once per line of FILE (- for stdin), filling {} placeholders.",
    )
    @fleet_options
    def command(path: str, items: tuple[str, ...], each: str | None, **options: Any) -> int:
        from maascurl.jobs.call import CallOptions, perform

        given = take_fleet(options)
        if each is None:
            refuse_without_each(given)
        else:
            refuse_with_fleet(options, "--each")
        paginate, extra = take_pages(options, path, items, each)
        auto_etag = take_if_match(options, path, each)
        output = take_output(options, formats=True)
        transport = take_transport(options)
        wait = take_wait(options)
        call_options = CallOptions(output=output, transport=transport, **options)
        if each is not None:
            fleet = fleet_settings(given)
            return _each(method, path, [*items, *extra], each, call_options, fleet, wait)
        perform(method, path, [*items, *extra], call_options, steps(wait, paginate, auto_etag))
        return 0

    command.help = (
        f"Send a {method} request to PATH on the profile's MAAS server.\n\n"
        "PATH is relative to the API root (machines, machines/abc123, /MAAS/api/2.0/machines/) "
        "or a full URL on the profile's server; the trailing slash MAAS needs is added. "
        "A PATH under v3/ (v3/zones, /MAAS/a/v3/zones) goes to MAAS's v3 API, with the "
        "token of a password login."
    )
    return command


def _each(
    method: str,
    path: str,
    items: list[str],
    each: str,
    options: CallOptions,
    fleet: FleetOptions,
    wait: WaitOptions | None,
) -> int:
    """--each FILE: the request once per line (jobs/fleet.py), waited for with --wait."""
    refuse_sort(options, "--each")
    if wait is not None:
        from maascurl.jobs.fleetwait import run_each_waiting

        return run_each_waiting(method, path, items, each, options, fleet, wait)
    from maascurl.jobs.fleet import run_each

    return run_each(method, path, items, each, options, fleet)


# --- what one call may turn into (jobs/call.py's Step) ----------------------------


def steps(wait: WaitOptions | None, paginate: bool = False, auto_etag: bool = False) -> list[Step]:
    """--if-match auto reads the ETag first; a big boot-image upload goes in chunks; with
    --wait, the call is waited for; with --paginate, a v3 list is followed through its pages."""
    found: list[Step] = [_current_etag] if auto_etag else []
    found.append(partial(_chunked_upload, wait))
    if wait is not None:
        found.append(partial(_waiting, wait))
    if paginate:
        found.append(_paginating)
    return found


def take_pages(
    options: dict[str, Any], path: str, items: tuple[str, ...], each: str | None
) -> tuple[bool, list[str]]:
    """--paginate, and --page-size as the item size==N: for the v3 API's lists only."""
    from maascurl.wire.request import is_v3_path

    paginate, size = options.pop("paginate", False), options.pop("page_size", None)
    if not (paginate or size is not None):
        return False, []
    flag = "--paginate" if paginate else "--page-size"
    if not is_v3_path(path):
        raise click.UsageError(
            f"{flag} is for the v3 API's lists (v3/PATH); the 2.0 API answers whole lists"
        )
    if paginate and each is not None:
        raise click.UsageError("--paginate cannot be used with --each")
    if paginate and options.get("include"):
        raise click.UsageError("--paginate writes one list: -i cannot show the headers of each "
                               "page (-v shows them on stderr)")  # fmt: skip
    if size is not None and any(item.partition("=")[0] == "size" for item in items):
        raise click.UsageError("give either --page-size or a size item, not both")
    return paginate, [f"size=={size}"] if size is not None else []


def take_if_match(options: dict[str, Any], path: str, each: str | None) -> bool:
    """--if-match ETAG as the header If-Match (a -H value); True for --if-match auto."""
    from maascurl.wire.request import is_v3_path

    etag = options.pop("if_match", None)
    if etag is None:
        return False
    if not is_v3_path(path):
        raise click.UsageError("--if-match is for the v3 API's objects (v3/PATH)")
    if any(h.partition(":")[0].strip().lower() == "if-match" for h in options["headers"]):
        raise click.UsageError("give either --if-match or an If-Match header, not both")
    if etag == "auto":
        if each is not None:
            raise click.UsageError("--if-match auto cannot be used with --each; give the ETag")
        return True
    if not etag.strip() or any(c in etag for c in "\r\n\0"):
        raise click.UsageError(f"--if-match {etag!r} is not an ETag")
    options["headers"] = (*options["headers"], f"If-Match: {etag}")
    return False


def _current_etag(call: Checked) -> bool:
    """--if-match auto: the object's current ETag, read with a GET, goes as If-Match."""
    if call.options.offline:
        note("sent for real, --if-match auto first reads the object's ETag with a GET")
        return False
    from maascurl.api.openapi import V3Description
    from maascurl.jobs.v3 import current_etag

    desc = call.description if isinstance(call.description, V3Description) else None
    etag = current_etag(call.session(), call.spec, call.target, desc, call.lazy.plain)
    call.spec.headers.append(("If-Match", etag))
    return False  # the request itself goes on as any other


def _paginating(call: Checked) -> bool:
    """--paginate: every page of a v3 list, written as one list (jobs/pages.py)."""
    if call.options.offline:
        note("sent for real, --paginate follows each page's next to the last")
        return False
    from maascurl.jobs.pages import paginate

    paginate(call)
    return True


def _chunked_upload(wait: WaitOptions | None, call: Checked) -> bool:
    """A big boot-resource create goes the way `upload-image` sends it (jobs/upload.py)."""
    spec = call.spec
    if spec.method != "POST" or not spec.files:
        return False  # the common case decides without importing upload.py
    from maascurl.jobs.upload import chunked_job, upload_image

    job = chunked_job(spec, call.target.api_root)
    if job is None:
        return False
    if call.options.offline:
        note("sent for real, this upload goes in chunks, as `maascurl upload-image` sends it")
        return False
    upload_image(job, call.options, call.target, then=racks_synced(job, wait))
    return True


def racks_synced(job: ImageUpload, wait: WaitOptions | None) -> AfterUpload | None:
    """--wait after an upload: until the rack controllers hold the image (jobs/racksync.py)."""
    if wait is None:
        return None

    def then(session: Session) -> None:
        from maascurl.jobs.racksync import wait_for_racks

        wait_for_racks(session, job.name, job.architecture, wait)

    return then


def _waiting(wait: WaitOptions, call: Checked) -> bool:
    """--wait: send, then poll until what the request started has ended (jobs/wait.py)."""
    if call.options.offline:
        return False
    from maascurl.jobs.wait import image_create, send_and_wait

    if image_create(call.spec, call.spec.url[len(call.target.api_root) :]):
        from maascurl.jobs.racksync import create_and_wait

        create_and_wait(call.spec, call.session(), call.options, wait)  # the racks' sync
    else:
        send_and_wait(call.spec, call.session(), call.options, wait)
    return True


# Only GET reads the v3 API's lists: --paginate and --page-size are offered on get alone.
get = page_options(method_command("GET"))
# Only a POST starts something worth waiting for: --wait is offered on post alone.
post = wait_options(method_command("POST"), flag=WAIT_FLAG_HELP)
# --if-match: what changes or deletes one object of the v3 API.
put = if_match_option(method_command("PUT"))
# The 2.0 API takes no PATCH: it is for the v3 API's PATHs only (wire/request.py says so).
patch = if_match_option(method_command("PATCH"))
delete = if_match_option(method_command("DELETE"))
