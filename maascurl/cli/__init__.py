"""The command line: a thin Click layer over call.py, login.py and describe.py.

Only click is imported at start-up; each command imports what it needs when
it runs, so `--help`, `--version` and TAB completion stay fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.shell_completion import CompletionItem

from maascurl import __version__
from maascurl.errors import EXIT_CODES_HELP, EXIT_INTERRUPTED, EXIT_USAGE, MaascurlError, note

if TYPE_CHECKING:
    from maascurl.jobs.call import Checked, Session, Step
    from maascurl.jobs.fleet import FleetOptions
    from maascurl.jobs.upload import AfterUpload, ImageUpload
    from maascurl.jobs.wait import WaitOptions
    from maascurl.wire.settings import Transport

F = TypeVar("F", bound=Callable[..., Any])

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

ITEM_HELP = """\
ITEM is one of: name=value (query parameter for GET and DELETE, form field for
POST and PUT; op=NAME always goes first in the query string), name=@FILE (the
file's content as that value: what key, comment, user_data and most MAAS
parameters want; name=\\@x is the literal @x), name==value (always a query
parameter), name@=FILE or name@FILE (a file part, for the few parameters that
want one: scripts' script, files' file, boot-sources' keyring_data,
boot-resources' content) and Header:value (no '=' in the value; use -H for
that). FILE may be - for stdin and starts with ~ for home. The earliest
separator in an ITEM wins, and a backslash escapes one (a\\=b=c has the name
a=b)."""

FORMAT_HELP = """\
--format table (-t), tsv and csv show an object a row: default columns for
common resources, or the --fields given; json and jsonl keep only the --fields
given. TSV has no header unless --header, and escapes backslash, tab, newline
and carriage return as \\\\, \\t, \\n and \\r (as jq's @tsv).

\b
Instead of the jq recipe
  maas $PROFILE machines read | jq -r '(["hostname","system_id","status"]
    | (., map(length*"-"))), (.[] | [.hostname, .system_id, .status_name])
    | @tsv' | column -t
write
  maascurl get machines -t --fields hostname,system_id,status_name"""


# --- completion callbacks (no httpx, no rich) --------------------------------


def _complete_profiles(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    from maascurl.profiles.config import load_config

    try:
        names = load_config().profiles
    except MaascurlError:
        return []
    return [name for name in sorted(names) if name.startswith(incomplete)]


def _completion_description(ctx: click.Context) -> Any:
    from maascurl.api.apidesc import load_cached
    from maascurl.profiles.config import select_profile

    try:
        profile = select_profile(ctx.params.get("profile"))
    except MaascurlError:
        return None
    return load_cached(profile.api_root)


def _complete_path(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    from maascurl.api.completion import complete_path

    found = complete_path(_completion_description(ctx), incomplete, _known_ids(ctx))
    # No space after "machines/": the user usually goes on typing the path.
    return [
        CompletionItem(value, help=text or None, type="nospace" if value.endswith("/") else "plain")
        for value, text in found
    ]


def _known_ids(ctx: click.Context) -> Callable[[str], list[tuple[str, str]]] | None:
    """IDs seen in listings that passed through (read from the cache, never fetched)."""
    from maascurl.api.listings import load_ids
    from maascurl.profiles.config import select_profile

    try:
        api_root = select_profile(ctx.params.get("profile")).api_root
    except MaascurlError:
        return None
    return lambda listing: load_ids(api_root, listing)


def _complete_items(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    from maascurl.api.completion import complete_item

    method = (ctx.command.name or "get").upper()
    path = ctx.params.get("path") or ""
    items = list(ctx.params.get("items") or ())
    found = complete_item(_completion_description(ctx), method, path, incomplete, items)
    return [
        CompletionItem(
            value, help=text or None, type="nospace" if value.endswith(("=", "/")) else "plain"
        )
        for value, text in found
    ]


def _complete_fields(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    from maascurl.show.fields import complete_fields, op_of

    # While an option's value is being typed Click has not parsed the
    # arguments yet: PATH and ITEMs are still in ctx.args.
    words = [ctx.params.get("path") or "", *(ctx.params.get("items") or ())]
    if not words[0] and ctx.args:
        words = list(ctx.args)
    path, op = words[0], op_of(words[1:])
    found = complete_fields(path, op, incomplete, many=param.name == "fields")
    return [CompletionItem(value) for value in found]


# --- the group ---------------------------------------------------------------


class MaascurlGroup(click.Group):
    """A group whose `main` turns every failure into one stderr line and an exit code.

    It also takes a command's options before the command (`maascurl -p prod get
    machines`, as curl users type) and methods in capitals (`maascurl GET machines`).
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, self._command_first(args))

    def _command_first(self, args: list[str]) -> list[str]:
        """Move options typed before the command to just after it."""
        own = {name for param in self.params for name in param.opts + param.secondary_opts}
        index = 0
        while index < len(args):
            arg = args[index]
            if arg == "--" or arg in own or not arg.startswith("-"):
                break
            index += 1 + self._takes_value(arg)
        if index >= len(args) or args[index] in own or args[index] == "--":
            return args
        name = args[index]
        if name.lower() in ("get", "post", "put", "delete"):
            name = name.lower()
        if index == 0:
            return [name, *args[1:]]
        return [name, *args[:index], *args[index + 1 :]]

    def _takes_value(self, arg: str) -> bool:
        if arg.startswith("--") and "=" in arg:
            return False
        command = self.commands.get("get")
        for param in command.params if command is not None else ():
            if isinstance(param, click.Option) and arg in param.opts + param.secondary_opts:
                return not param.is_flag
        # A cluster of short flags ("-ki"), or an unknown option Click will report.
        return len(arg) == 2 and arg in ("-p", "-o", "-H", "-m")

    def invoke(self, ctx: click.Context) -> Any:
        # Click's own main would turn a broken pipe into exit status 1.
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _quiet_broken_pipe()

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        if "_MAASCURL_COMPLETE" in os.environ:
            # A TAB press: use maascurl's own bash/zsh/fish glue (imports only click).
            import maascurl.cli.shellcomplete  # noqa: F401
        try:
            code = super().main(*args, **kwargs)
        except MaascurlError as exc:
            _fail(str(exc), exc.exit_code)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.format_message())
            sys.exit(EXIT_USAGE)
        except click.ClickException as exc:
            _fail(_click_message(exc), exc.exit_code)
        except (click.exceptions.Abort, KeyboardInterrupt):
            _fail("interrupted", EXIT_INTERRUPTED)
        except BrokenPipeError:
            _quiet_broken_pipe()
        except Exception as exc:  # a bug: report it without leaking secrets
            _internal_error(exc)
        sys.exit(code if isinstance(code, int) else 0)


def _click_message(exc: click.ClickException) -> str:
    if isinstance(exc, click.UsageError) and exc.ctx is not None:
        return f"{exc.format_message()} (see `{exc.ctx.command_path} --help`)"
    return exc.format_message()


@click.group(cls=MaascurlGroup, context_settings=CONTEXT_SETTINGS, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, "-V", "--version", prog_name="maascurl")
def cli() -> None:
    """Talk to a MAAS server's REST API from the shell.

    \b
      maascurl login prod http://maas.example:5240/MAAS    # asks for the key
      maascurl get machines op=list_allocated
      maascurl post machines/abc123 op=deploy distro_series=noble

    Options may also come before the method (maascurl -p prod GET machines).
    Run `maascurl METHOD --help` for the ITEM syntax.
    """


def profile_option(func: F) -> F:
    return click.option(
        "-p",
        "--profile",
        metavar="NAME",
        shell_complete=_complete_profiles,
        help="Profile to use (default: $MAASCURL_PROFILE, $MAAS_API_URL, the default profile).",
    )(func)


def tls_options(func: F) -> F:
    func = click.option(
        "--cacert",
        type=click.Path(exists=True, dir_okay=False),
        help="Verify the server's TLS certificate with this CA file.",
    )(func)
    return click.option(
        "-k", "--insecure", is_flag=True, help="Do not verify the server's TLS certificate."
    )(func)


def progress_option(func: F) -> F:
    return click.option(
        "--progress/--no-progress",
        default=True,
        help="Draw a progress bar on stderr for long transfers when it is a terminal.",
    )(func)


def _take_transport(options: dict[str, Any]) -> Transport:
    """A request command's connection options out of OPTIONS; --no-progress and -q set."""
    from maascurl.wire.settings import Transport

    _set_progress(options.pop("progress"))
    if options["quiet"]:
        from maascurl.errors import be_quiet

        be_quiet()
    return Transport(**{name: options.pop(name) for name in TRANSPORT_OPTIONS})


def _set_progress(show: bool) -> None:
    if show and "maascurl.show.progress" not in sys.modules:
        return  # not loaded yet: its default (on) holds, and nothing is imported
    from maascurl.show import progress

    progress.enabled = show


def request_options(func: F) -> F:
    options = [
        click.option("--anonymous", is_flag=True, help="Send the request unsigned."),
        click.option(
            "-H",
            "--request-header",
            "headers",
            multiple=True,
            metavar="'NAME: VALUE'",
            help="Send this header (repeatable); the value may hold any character.",
        ),
        click.option(
            "--body",
            metavar="FILE",
            help="Send FILE (- for stdin) as the body itself, with the Content-Type "
            "of a header item (default application/octet-stream); no fields or files.",
        ),
        click.option(
            "--keep-error-body",
            "--fail-with-body",
            "keep_error_body",
            is_flag=True,
            help="On an HTTP error, still write the body where -o (or stdout) says; "
            "the exit status stays the error's.",
        ),
        click.option(
            "--no-check",
            is_flag=True,
            help="Send without checking op and fields against the API description.",
        ),
        click.option("-q", "--quiet", is_flag=True, help="Print no warnings or notes."),
        click.option(
            "-o",
            "--output",
            metavar="FILE",
            help="Write the body to FILE, complete or not at all (-: stdout, raw).",
        ),
        click.option(
            "-i",
            "--include",
            is_flag=True,
            help="Print the status line, headers and body on stdout, for errors too.",
        ),
        click.option(
            "-v", "--verbose", is_flag=True, help="Print request and response headers to stderr."
        ),
        click.option(
            "--offline", is_flag=True, help="Print the request that would be sent; send nothing."
        ),
        click.option(
            "--pretty/--no-pretty",
            default=None,
            help="Pretty-print JSON (default: only on a terminal). NO_COLOR turns colour off.",
        ),
        click.option(
            "--pager/--no-pager",
            default=None,
            help="Page terminal output with $MAASCURL_PAGER, $PAGER or 'less -FRX'.",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0, min_open=True),
            metavar="SECONDS",
            help="Bound connecting (with the TLS handshake) and each read, not the whole "
            "transfer (default: 5 s, 300 s).",
        ),
        click.option(
            "--max-time",
            type=click.FloatRange(min=0, min_open=True),
            metavar="SECONDS",
            help="Bound the whole transfer, retries and redirects included (default: none).",
        ),
        click.option(
            "--retries",
            type=click.IntRange(min=0),
            metavar="N",
            default=3,
            show_default=True,
            help="Retries of answers with Retry-After (503, 409, 429), and of GET/DELETE connects.",
        ),
        click.option(
            "--retry-max-wait",
            type=click.FloatRange(min=0),
            default=30.0,
            show_default=True,
            metavar="SECONDS",
            help="Longest wait between retries, whatever Retry-After says.",
        ),
        click.option(
            "--follow-any",
            is_flag=True,
            help="Follow redirects to another origin too (without credentials or your headers).",
        ),
        tls_options,
        profile_option,
        progress_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def format_options(func: F) -> F:
    """--format, -t, --fields, --sort, --header: see fields.py and table.py."""
    options = [
        click.option(
            "--format",
            "format_",
            type=click.Choice(["json", "jsonl", "table", "tsv", "csv"]),
            help="json (default), jsonl (an object a line), table, tsv or csv.",
        ),
        click.option("-t", "table", is_flag=True, help="Show a table (--format table)."),
        click.option(
            "--fields",
            metavar="A,B,...",
            shell_complete=_complete_fields,
            help="Fields to show; dotted paths reach inside (zone.name, interface_set.0.name).",
        ),
        click.option(
            "--sort",
            metavar="FIELD",
            shell_complete=_complete_fields,
            help="Order objects by FIELD (-FIELD: descending); node-2 comes before node-10.",
        ),
        click.option("--header", is_flag=True, help="Start TSV with a header line."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


OUTPUT_OPTIONS = ("output", "include", "pretty", "pager", "keep_error_body")
FORMAT_OPTIONS = ("format_", "table", "fields", "sort", "header")
TRANSPORT_OPTIONS = (
    "insecure",
    "cacert",
    "timeout",
    "max_time",
    "retries",
    "retry_max_wait",
    "follow_any",
)


# --- fleet runs (maascurl/fleet.py) -------------------------------------------

FLEET_HELP = """\
With --each FILE (- for stdin) the request is sent once per non-empty line,
with placeholders in PATH, the ITEMs and -o filled from the line: {} is the
whole line, {1}, {2}... its tab-separated fields; on a line that is a JSON
object, {key} is that key's value and {a.b} a nested one (\\{ is a literal
brace). Every line is checked before the first request goes out. Bodies are
printed as JSON Lines in input order (or written to -o 'out/{}.json'), each
failure as one stderr line naming its input line; the exit status is that of
the first failed line. Ctrl-C sends nothing more and waits for the requests in
flight (a second one stops waiting); --offline prints every request."""


def fleet_options(func: F) -> F:
    options = [
        click.option(
            "-j",
            "--jobs",
            type=click.IntRange(1, 20),  # httpx keeps up to 20 idle connections per pool
            metavar="N",
            help="Requests in flight at once (default 4: a MAAS region serves the API from a "
            "few worker processes, 4 by default, and the rest of its users need them too).",
        ),
        click.option(
            "--report",
            type=click.Path(dir_okay=False, writable=True),
            metavar="FILE",
            help="Write one JSON object per input line to FILE: line, method, URL, outcome, "
            "status, seconds, error (never a key).",
        ),
        click.option(
            "--fail-fast", is_flag=True, help="Send nothing more after the first failed request."
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _fleet_settings(options: dict[str, Any]) -> FleetOptions:
    from maascurl.jobs.fleet import DEFAULT_JOBS, FleetOptions

    jobs = options.pop("jobs")
    return FleetOptions(
        jobs=jobs if jobs is not None else DEFAULT_JOBS,
        report=options.pop("report"),
        fail_fast=options.pop("fail_fast"),
    )


def _refuse_without_each(options: dict[str, Any]) -> None:
    given = {"jobs": "-j/--jobs", "report": "--report", "fail_fast": "--fail-fast"}
    for name, flag in given.items():
        if options.get(name):
            raise click.UsageError(f"{flag} needs --each")


def _refuse_with_fleet(options: dict[str, Any], what: str) -> None:
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


def _method_command(method: str) -> click.Command:
    @click.command(
        name=method.lower(),
        context_settings=CONTEXT_SETTINGS,
        epilog=f"{ITEM_HELP}\n\n{FORMAT_HELP}\n\n{FLEET_HELP}\n\n{EXIT_CODES_HELP}",
        short_help=f"Send a {method} request.",
    )
    @click.argument("path", shell_complete=_complete_path)
    @click.argument("items", nargs=-1, shell_complete=_complete_items)
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
        from maascurl.show.fields import make_view
        from maascurl.show.terminal import OutputOptions

        if each is None:
            _refuse_without_each(options)
        else:
            _refuse_with_fleet(options, "--each")
        fleet = _fleet_settings(options)
        output = OutputOptions(**{name: options.pop(name) for name in OUTPUT_OPTIONS})
        output.view = make_view(output.output, *(options.pop(name) for name in FORMAT_OPTIONS))
        transport = _take_transport(options)
        wait = _wait_settings(options)
        call_options = CallOptions(output=output, transport=transport, **options)
        if each is not None:
            from maascurl.jobs.fleet import run_each

            if output.view is not None:
                # A fleet run writes each body as one line of JSON Lines (pipe it to jq).
                raise click.UsageError(
                    "--format, -t, --fields and --sort cannot be used with --each"
                )
            if wait is not None:
                from maascurl.jobs.fleetwait import run_each_waiting

                return run_each_waiting(method, path, list(items), each, call_options, fleet, wait)
            return run_each(method, path, list(items), each, call_options, fleet)
        perform(method, path, list(items), call_options, _steps(wait))
        return 0

    command.help = (
        f"Send a {method} request to PATH on the profile's MAAS server.\n\n"
        "PATH is relative to the API root (machines, machines/abc123, /MAAS/api/2.0/machines/) "
        "or a full URL on the profile's server; the trailing slash MAAS needs is added."
    )
    return command


def _steps(wait: WaitOptions | None) -> list[Step]:
    """What one call of a request command may turn into: a chunked upload, a --wait."""
    steps: list[Step] = [partial(_chunked_upload, wait)]
    if wait is not None:
        steps.append(partial(_waiting, wait))
    return steps


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
    upload_image(job, call.options, call.target, then=_racks_synced(job, wait))
    return True


def _racks_synced(job: ImageUpload, wait: WaitOptions | None) -> AfterUpload | None:
    """--wait after an upload: until the racks hold the image (jobs/racksync.py)."""
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


for _method in ("GET", "POST", "PUT", "DELETE"):
    cli.add_command(_method_command(_method))


# --- waiting and following (wait.py, events.py) -------------------------------


class Duration(click.ParamType):  # type: ignore[type-arg]
    """90, 90s, 15m, 1h (seconds when no unit is given)."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float):
            return value
        from maascurl.jobs.wait import parse_duration

        try:
            return parse_duration(str(value))
        except MaascurlError:
            self.fail(f"{value!r} is not a duration (e.g. 90, 90s, 15m, 1h)", param, ctx)


WAIT_TIMEOUT_HELP = (
    "How long to wait before giving up with exit 7 (default by action: 30m for deploy, "
    "commission, test, rescue_mode and release, 10m for abort and exit_rescue_mode, 5m for "
    "power_on/power_off, 60m for an image import, 30m for the racks' sync of an uploaded "
    "boot image; 30m for `wait`). --timeout bounds each "
    "HTTP request instead."
)
INTERVAL_HELP = "Time between polls (default 5s), growing gently to 4x while nothing changes."


def wait_options(command: F, *, flag: bool = False) -> F:
    """--wait-timeout and --interval (and, on post, the --wait flag itself)."""
    options = [
        click.option("--wait-timeout", type=Duration(), metavar="DURATION", help=WAIT_TIMEOUT_HELP),
        click.option("--interval", type=Duration(), metavar="DURATION", help=INTERVAL_HELP),
    ]
    if flag:
        options.insert(
            0,
            click.option(
                "--wait",
                is_flag=True,
                help="After an action that starts something (deploy, commission, release, "
                "abort, test, rescue_mode, exit_rescue_mode, power_on, power_off; "
                "boot-resources op=import; a boot-resources upload: until the rack controllers "
                "have synced it), poll until it ends and write the final object; "
                "exit 8 if MAAS ended it in a failure state. With --each, every machine is "
                "waited for at once, with one listing per poll round.",
            ),
        )
    # A function's decorators run bottom-up; a Command's params are appended in order.
    for option in options if isinstance(command, click.Command) else reversed(options):
        command = option(command)
    return command


# Only a POST starts something worth waiting for: --wait is offered on post alone.
wait_options(cli.commands["post"], flag=True)


def _wait_settings(options: dict[str, Any], wanted: bool | None = None) -> Any:
    """Pop the wait options; a WaitOptions when --wait was given (or WANTED says so)."""
    flag = options.pop("wait", False)
    timeout, interval = options.pop("wait_timeout", None), options.pop("interval", None)
    if not (flag if wanted is None else wanted):
        if timeout is not None or interval is not None:
            raise click.UsageError("--wait-timeout and --interval need --wait")
        return None
    from maascurl.jobs.wait import DEFAULT_INTERVAL, WaitOptions

    return WaitOptions(timeout=timeout, interval=interval or DEFAULT_INTERVAL)


def _complete_condition(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    from maascurl.jobs.wait import complete_condition

    return [
        CompletionItem(value, type="nospace" if value.endswith(("=", ",")) else "plain")
        for value in complete_condition(incomplete)
    ]


@cli.command(context_settings=CONTEXT_SETTINGS, epilog=EXIT_CODES_HELP)
@click.argument("path", shell_complete=_complete_path)
@click.argument(
    "conditions",
    nargs=-1,
    required=True,
    metavar="FIELD=VALUE[,VALUE]...",
    shell_complete=_complete_condition,
)
@click.option(
    "--fail-on",
    multiple=True,
    metavar="FIELD=VALUE[,VALUE]",
    shell_complete=_complete_condition,
    help="A state that means failure: stop waiting and exit 8 (repeatable).",
)
@wait_options
@request_options
def wait(path: str, conditions: tuple[str, ...], fail_on: tuple[str, ...], **options: Any) -> None:
    """Poll GET PATH until every FIELD has one of its VALUEs.

    \b
      maascurl wait machines/abc123 status_name=Deployed --fail-on status_name='Failed deployment'
      maascurl wait machines/abc123 power_state=on
      maascurl wait machines/abc123 boot_interface.link_connected=true

    FIELD may be dotted to reach a nested value; true, false and null match
    JSON's. The final object goes to stdout. Transient failures of a poll
    (refused, timed out, 5xx) are tolerated until --wait-timeout; a 4xx ends
    the wait.
    """
    from maascurl.jobs.call import CallOptions
    from maascurl.jobs.wait import run_wait
    from maascurl.show.terminal import OutputOptions

    settings = _wait_settings(options, wanted=True)
    if options["body"] is not None:
        raise click.UsageError("--body cannot be used with wait: it sends GETs")
    transport = _take_transport(options)
    output = OutputOptions(**{name: options.pop(name) for name in OUTPUT_OPTIONS})
    call = CallOptions(output=output, transport=transport, **options)
    run_wait(path, conditions, fail_on, call, settings)


def _complete_event_filters(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    from maascurl.api.completion import complete_item

    items = ["op=query", *(ctx.params.get("filters") or ())]
    found = complete_item(_completion_description(ctx), "GET", "events", incomplete, items)
    managed = ("limit=", "after=", "before=")
    return [
        CompletionItem(value, help=text or None, type="nospace" if value.endswith("=") else "plain")
        for value, text in found
        if not value.startswith(managed)
    ]


@cli.command(context_settings=CONTEXT_SETTINGS, epilog=EXIT_CODES_HELP)
@click.argument(
    "filters", nargs=-1, metavar="[NAME=VALUE]...", shell_complete=_complete_event_filters
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
@click.option("-v", "--verbose", is_flag=True, help="Print request and response headers to stderr.")
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
) -> None:
    """Print MAAS's event log, oldest first; with -f, follow it like tail -f.

    \b
      maascurl events level=AUDIT -f
      maascurl events id=abc123 level=DEBUG -n 50
      maascurl events hostname=web-01 -f | jq -r .description

    NAME=VALUE filters are those of `events op=query` (hostname, id, mac_address,
    zone, agent_name, owner, level: INFO by default, AUDIT for audit events
    only); repeat one to match any of its values. Piped, each event is one line
    of JSON (JSON Lines); on a terminal, one readable line. Each event is
    printed once, in order. Ctrl-C ends following with exit status 0.
    """
    from maascurl.jobs.call import CallOptions
    from maascurl.jobs.events import run_events
    from maascurl.wire.settings import Transport

    options = CallOptions(
        profile=profile, verbose=verbose, transport=Transport(insecure=insecure, cacert=cacert)
    )
    run_events(list(filters), lines, follow, interval, options)


BATCH_HELP = """\
Each line is METHOD PATH [ITEM...] [-p PROFILE], quoted as in a shell; blank
lines and # comments are skipped. Every line is checked before the first
request goes out, so one bad line sends nothing. Bodies are printed as JSON
Lines in input order, each failure as one stderr line naming its input line;
the exit status is that of the first failed line."""


@cli.command(
    context_settings=CONTEXT_SETTINGS,
    epilog=f"{BATCH_HELP}\n\n{ITEM_HELP}\n\n{EXIT_CODES_HELP}",
    short_help="Send the requests listed in FILE.",
)
@click.argument(
    "file", default="-", type=click.Path(dir_okay=False, allow_dash=True), required=False
)
@request_options
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
    from maascurl.jobs.fleet import run_batch
    from maascurl.show.terminal import OutputOptions

    fleet = _fleet_settings(options)
    transport = _take_transport(options)
    wait = _wait_settings(options)
    call_options = CallOptions(output=OutputOptions(), transport=transport, **options)
    if wait is not None:
        from maascurl.jobs.fleetwait import run_batch_waiting

        return run_batch_waiting(file, call_options, fleet, wait)
    return run_batch(file, call_options, fleet)


# Options that shape one answer or carry one body: a batch line is a whole
# request and every answer a line of JSON Lines, so batch does not take them.
_NOT_FOR_BATCH = ("output", "include", "pretty", "pager", "body", "keep_error_body")
batch.params = [param for param in batch.params if param.name not in _NOT_FOR_BATCH]
wait_options(cli.commands["batch"], flag=True)  # its POST lines may start something


# --- boot-image uploads ------------------------------------------------------


def _complete_architectures(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[str]:
    from maascurl.jobs.upload import ARCHITECTURES

    return [arch for arch in ARCHITECTURES if arch.startswith(incomplete)]


def _complete_filetypes(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    from maascurl.jobs.upload import FILETYPES

    return [kind for kind in FILETYPES if kind.startswith(incomplete)]


@cli.command("upload-image", context_settings=CONTEXT_SETTINGS, epilog=EXIT_CODES_HELP)
@click.argument("name")
@click.argument("architecture", shell_complete=_complete_architectures)
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--title", metavar="TEXT", help="The image's title in MAAS.")
@click.option(
    "--filetype",
    metavar="TYPE",
    shell_complete=_complete_filetypes,
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
@click.option(
    "--pretty/--no-pretty",
    default=None,
    help="Pretty-print the resource (default: only on a terminal).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Bound connect and read of each request (default: 5 s connect, 300 s read).",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    metavar="N",
    default=3,
    show_default=True,
    help="Retries of each request, and of a chunk whose connection broke.",
)
@click.option(
    "--retry-max-wait",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="Longest wait between retries, whatever Retry-After says.",
)
@click.option(
    "--wait",
    is_flag=True,
    help="After the upload, poll the rack controllers until every connected one has "
    "synced the image (default --wait-timeout 30m); exit 7 naming the racks still "
    "behind when it runs out.",
)
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
    from maascurl.jobs.call import CallOptions
    from maascurl.jobs.upload import FILETYPES, ImageUpload, checked_filetype
    from maascurl.jobs.upload import upload_image as run_upload
    from maascurl.show.terminal import OutputOptions
    from maascurl.wire.settings import Transport

    _set_progress(progress)
    wait = _wait_settings(transport)
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
    run_upload(job, options, then=_racks_synced(job, wait))


wait_options(cli.commands["upload-image"])  # --wait-timeout and --interval, for --wait


# --- profiles ----------------------------------------------------------------


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("profile")
@click.argument("url")
@click.argument("api_key", required=False)
@click.option(
    "--no-check",
    is_flag=True,
    help="Save without contacting the server (no key check, no description).",
)
@click.option(
    "--api-key-command",
    metavar="COMMAND",
    help="Store a command whose output is the key (e.g. 'pass show maas/prod') instead of the key.",
)
@click.option(
    "--api-key-file",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Read the key from the first line of FILE (-: stdin).",
)
@click.option(
    "--timeout",
    "login_timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="Bound connecting and each read while logging in (key or password).",
)
@click.option(
    "--username",
    metavar="NAME",
    help="Log in with NAME's password instead of a key (MAAS hands out the key).",
)
@click.option(
    "--password",
    "password_source",
    metavar="-",
    help="With --username: read the password from stdin (else asked for, hidden).",
)
@tls_options
def login(
    profile: str,
    url: str,
    api_key: str | None,
    no_check: bool,
    api_key_command: str | None,
    api_key_file: str | None,
    login_timeout: float,
    username: str | None,
    password_source: str | None,
    insecure: bool,
    cacert: str | None,
) -> None:
    """Save PROFILE for the MAAS server at URL with API_KEY.

    API_KEY is consumer_key:token_key:token_secret. Leave it out to be asked for
    it (hidden), give '-' to read it from stdin, or use --api-key-file: a key in
    the command line itself is visible to other users (ps) and kept in shell
    history. The key is checked with the server and the server's API description
    is cached; --no-check contacts nothing.

    With --username NAME, maascurl asks for NAME's password (or reads it from stdin
    with --password -) and MAAS answers with NAME's API key, which is stored as if
    it had been given; the password is never stored.
    """
    if username is not None or password_source is not None:
        if api_key_file is not None:
            raise click.UsageError("--username logs in with a password; drop --api-key-file")
        _refuse_with_password(username, api_key, api_key_command, no_check)
        from maascurl.profiles.password import password_login

        password_login(
            profile, url, username or "", password_source, insecure, cacert, login_timeout
        )
        return
    from maascurl.profiles.login import login as do_login

    do_login(
        profile,
        url,
        api_key,
        no_check,
        api_key_command,
        insecure,
        cacert,
        api_key_file=api_key_file,
        timeout=login_timeout,
    )


def _refuse_with_password(
    username: str | None, api_key: str | None, api_key_command: str | None, no_check: bool
) -> None:
    if username is None:
        raise click.UsageError("--password goes with --username")
    clash = (api_key is not None and "API_KEY") or (api_key_command and "--api-key-command")
    if clash or no_check:
        raise click.UsageError(f"--username logs in with a password; drop {clash or '--no-check'}")


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("profile", shell_complete=_complete_profiles)
def logout(profile: str) -> None:
    """Forget PROFILE and its API key."""
    from maascurl.profiles.login import logout as do_logout

    do_logout(profile)


@cli.group(context_settings=CONTEXT_SETTINGS)
def profile() -> None:
    """List, show, choose and import profiles."""


@profile.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def profile_list(as_json: bool) -> None:
    """List profiles: name, URL and which one is the default."""
    from maascurl.profiles.login import list_profiles

    list_profiles(as_json)


@profile.command("show")
@click.argument("name", shell_complete=_complete_profiles)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def profile_show(name: str, as_json: bool) -> None:
    """Show a profile's settings (the API key redacted)."""
    from maascurl.profiles.login import show_profile

    show_profile(name, as_json)


@profile.command("default")
@click.argument("name", shell_complete=_complete_profiles)
def profile_default(name: str) -> None:
    """Make NAME the default profile."""
    from maascurl.profiles.login import set_default

    set_default(name)


@profile.command("import")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace profiles that have the same name.")
@click.option("--dry-run", is_flag=True, help="Say what would be imported; write nothing.")
def profile_import(file: str | None, force: bool, dry_run: bool) -> None:
    """Import the profiles of the official MAAS CLI or python-libmaas.

    FILE defaults to the first of ~/.maascli.db, ~/snap/maas/current/.maascli.db
    (the snap's CLI) and ~/.maas.db (python-libmaas) that exists. It is only read,
    never locked or changed. Each profile keeps its name, URL, key (or none:
    unsigned requests) and CA certificate, and its stored API description is
    cached, so TAB completion works at once. Existing names are skipped unless
    --force.
    """
    from maascurl.profiles.profile_import import import_profiles

    import_profiles(file, force, dry_run)


@cli.command(context_settings=CONTEXT_SETTINGS)
@profile_option
@click.option("--all", "all_profiles", is_flag=True, help="Refresh every profile.")
def refresh(profile: str | None, all_profiles: bool) -> None:
    """Fetch the server's API description again (used for help, checks and TAB)."""
    from maascurl.profiles.login import refresh as do_refresh

    do_refresh(profile, all_profiles)


def _complete_describe_op(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    desc = _completion_description(ctx)
    match = desc.match(ctx.params.get("path") or "") if desc is not None else None
    if match is None:
        return []
    from maascurl.termsafe import safe_line

    labels = {safe_line(action.label) for action in match.resource.actions}
    return sorted(label for label in labels if label.startswith(incomplete))


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("path", required=False, shell_complete=_complete_path)
@click.argument("op", required=False, shell_complete=_complete_describe_op)
@click.option(
    "-m",
    "--method",
    type=click.Choice(["get", "post", "put", "delete"], case_sensitive=False),
    help="Pick the method when an op name exists for more than one (e.g. read vs update).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@profile_option
def describe(
    path: str | None, op: str | None, method: str | None, as_json: bool, profile: str | None
) -> None:
    """Help from the server's own API description.

    \b
      maascurl describe                      # every resource, one line each
      maascurl describe machines             # its operations by method
      maascurl describe machines/abc deploy  # method, URL, parameters and full text
    """
    _show_description(profile, path, op, method, as_json)


def _show_description(
    profile_name: str | None, path: str | None, op: str | None, method: str | None, as_json: bool
) -> None:
    """`maascurl describe`: print help for the profile's server, fetching it if not cached."""
    import json
    import sys

    from maascurl.api.apidesc import load_cached
    from maascurl.api.describe import (
        DescribeError,
        describe_data,
        render_plain,
        render_rich,
        visible,
    )
    from maascurl.errors import MaascurlError, UsageError
    from maascurl.profiles.config import select_profile

    if op is not None and op.startswith("op="):
        op = op[3:]  # `describe machines op=allocate`, as the op is typed in a request
    profile = select_profile(profile_name)
    desc = load_cached(profile.api_root)
    if desc is None:
        from maascurl.profiles.login import fetch_profile_description

        print("maascurl: fetching the server's API description", file=sys.stderr)
        try:
            desc = fetch_profile_description(profile)
        except ValueError as exc:
            raise MaascurlError(f"cannot use the server's API description: {exc}") from None
    try:
        data = describe_data(desc, path, op, method.upper() if method else None)
    except DescribeError as exc:
        raise UsageError(str(exc)) from None
    if as_json:
        print(json.dumps(data, indent=2))
        return
    data = visible(data)  # the server's text, bound for a terminal or a pager
    if sys.stdout.isatty():
        from rich.console import Console

        Console().print(render_rich(data))
    else:
        sys.stdout.write(render_plain(data))


# --- shell completion --------------------------------------------------------


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the TAB completion script for SHELL (bash, zsh or fish).

    \b
    Install it once:
      bash: maascurl completion bash > ~/.local/share/bash-completion/completions/maascurl
            (without the bash-completion package, source that file from ~/.bashrc)
      zsh:  maascurl completion zsh > ~/.zfunc/_maascurl
            (~/.zshrc: fpath=(~/.zfunc $fpath) before autoload -U compinit && compinit)
      fish: maascurl completion fish > ~/.config/fish/completions/maascurl.fish
    """
    from maascurl.cli.shellcomplete import script

    click.echo(script(shell), nl=False)


# --- entry point -------------------------------------------------------------


def main() -> None:
    """The console script's entry point."""
    import atexit
    import gc

    # Whatever is alive at exit (httpx, click and their modules) dies with the
    # process anyway; freezing it keeps the interpreter's exit-time garbage
    # collections from walking it all, which saves 10-20 ms per run and TAB.
    atexit.register(gc.freeze)
    cli.main(prog_name="maascurl")


def _fail(message: str, code: int) -> None:
    from maascurl.errors import redact_secrets
    from maascurl.termsafe import safe_line

    message = safe_line(redact_secrets(message))
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_broken_pipe()
    print(f"maascurl: error: {message}", file=sys.stderr)
    sys.exit(code)


def _internal_error(exc: Exception) -> None:
    from maascurl.errors import redact_secrets

    if os.environ.get("MAASCURL_DEBUG"):
        import traceback

        sys.stderr.write(redact_secrets("".join(traceback.format_exception(exc))))
    message = redact_secrets(f"{type(exc).__name__}: {exc}")
    _fail(f"internal error: {message} (MAASCURL_DEBUG=1 shows a traceback)", 1)


def _quiet_broken_pipe() -> None:
    # The reader went away (`| head`): point stdout at /dev/null so the final
    # flush at exit cannot raise again, and leave quietly.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(0)
