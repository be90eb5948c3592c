"""Options and help texts shared by the commands, each defined once.

A command takes its options from here as decorators (request_options,
format_options, fleet_options, wait_options, and the single ones they are
made of), so that one option reads the same in every command's --help: a
copy that drifts is how `upload-image --help` once went stale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from maascurl.cli.complete import complete_fields, complete_profiles
from maascurl.errors import MaascurlError

F = TypeVar("F", bound=Callable[..., Any])
Decorator = Callable[[Any], Any]

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
a=b). For a v3/ PATH (MAAS's v3 API) the ITEMs of a POST, PUT or PATCH build a
JSON body: name=value a string, name:=JSON any JSON value (vid:=42,
ids:='[1,2]'), name=@FILE a file's text, name:=@FILE a file's JSON."""

FORMAT_HELP = """\
--format table (-t), tsv and csv show an object a row: default columns for
common resources, or the --fields given; json and jsonl keep only the --fields
given. TSV has no header unless --header-row, and escapes backslash, tab,
newline and carriage return as \\\\, \\t, \\n and \\r (as jq's @tsv). CSV has one
unless --no-header-row, ends its lines in LF (CRLF with --crlf), and holds the
server's text exactly; a spreadsheet opening it may run a cell such as
=HYPERLINK(...) as a formula, so --csv-safe starts such cells with '. --jq EXPR
runs jq's EXPR on the answer instead (strings raw, other values as JSON, one a
line). With -o FILE, what they make goes to FILE.

\b
Instead of the jq recipe
  maas $PROFILE machines read | jq -r '(["hostname","system_id","status"]
    | (., map(length*"-"))), (.[] | [.hostname, .system_id, .status_name])
    | @tsv' | column -t
write
  maascurl get machines -t --fields hostname,system_id,status_name"""

FLEET_HELP = """\
With --each FILE (- for stdin) the request is sent once per non-empty line,
with placeholders in PATH, the ITEMs and -o filled from the line: {} is the
whole line, {1}, {2}... its tab-separated fields; on a line that is a JSON
object, {key} is that key's value and {a.b} a nested one (\\{ is a literal
brace). Every line (1 MiB at most) is checked before the first request goes
out. Lines on the same object (same server, same path or one under it) are
sent in input order, each after the one before it finished; other lines
overlap (-j). Bodies are printed as JSON Lines in input order (--format, -t,
--fields and --jq shape them as for one answer, all lines together), or
written to -o 'out/{}.json' (directories are created); each failure is one
stderr line naming its input line, and the exit status is that of the first
failed line. Ctrl-C sends nothing more and waits for the requests in flight (a
second one stops waiting); --offline prints every request."""

SEE_ALSO_HELP = """\
See also: `maascurl describe PATH [OP]` for the server's own help on a path and
its operations (with the maascurl command line), and `man maascurl` for the
whole manual."""

WAIT_TIMEOUT_HELP = (
    "How long to wait before giving up with exit 7 (default by action: 30m for deploy, "
    "commission, test, rescue_mode and release, 10m for abort and exit_rescue_mode, 5m for "
    "power_on/power_off, 60m for an image import, 30m for the racks' sync of an uploaded "
    "boot image). --timeout bounds each HTTP request instead."
)
INTERVAL_HELP = "Time between polls (default 5s), growing gently to 4x while nothing changes."

# The parsed options that make up each of the values the work layer takes (values.py).
OUTPUT_OPTIONS = ("output", "include", "pretty", "pager", "keep_error_body")
FORMAT_OPTIONS = (
    "format_",
    "table",
    "fields",
    "sort",
    "header_row",
    "crlf",
    "json_",
    "jq",
    "csv_safe",
)
FORMATS = ["json", "jsonl", "table", "tsv", "csv"]
TRANSPORT_OPTIONS = (
    "insecure",
    "cacert",
    "timeout",
    "max_time",
    "retries",
    "retry_max_wait",
    "follow_any",
)
FLEET_OPTIONS = ("jobs", "report", "fail_fast")


def apply(func: F, options: Sequence[Decorator]) -> F:
    """FUNC with OPTIONS, in their order in --help."""
    for option in reversed(options):
        func = option(func)
    return func


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


# --- single options ------------------------------------------------------------

profile_option = click.option(
    "-p",
    "--profile",
    metavar="NAME",
    shell_complete=complete_profiles,
    help="Profile to use (default: $MAASCURL_PROFILE, $MAAS_API_URL, the default profile).",
)
progress_option = click.option(
    "--progress/--no-progress",
    default=True,
    help="Draw a progress bar on stderr for long transfers when it is a terminal.",
)
verbose_option = click.option(
    "-v", "--verbose", is_flag=True, help="Print request and response headers to stderr."
)
pretty_option = click.option(
    "--pretty/--no-pretty",
    default=None,
    help="Pretty-print JSON (default: only on a terminal). NO_COLOR turns colour off.",
)
timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    # tests/test_upload.py checks these numbers against wire/client.py's DEFAULT_TIMEOUT.
    help="Bound connecting (with the TLS handshake) and each read, not the whole "
    "transfer (default: 5 s connect, 300 s read).",
)


body_option = click.option(
    "--body",
    metavar="FILE",
    help="Send FILE (- for stdin) as the body itself, with the Content-Type "
    "of a header item (default application/octet-stream); no fields or files.",
)


def _refuse_data(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> None:
    if value:
        raise click.UsageError(DATA_HELP, ctx)


DATA_HELP = (
    "maascurl sends fields as name=value items (maascurl post machines/ID op=deploy "
    "distro_series=noble); use --body FILE for a raw body"
)
# curl's -d and its kin: never sent, only explained (hidden from --help, in the man page).
data_option = click.option(
    "-d",
    "--data",
    "--data-raw",
    "--data-binary",
    "--data-urlencode",
    "data",
    multiple=True,
    hidden=True,
    expose_value=False,
    callback=_refuse_data,
    help="curl's: refused with how maascurl sends fields and bodies.",
)

# kubectl's -o: output formats, not file names. -o ./json writes a file of that name.
KUBECTL_OUTPUT = {
    "json": "--format json",
    "jsonl": "--format jsonl",
    "yaml": "--format json (maascurl writes no YAML)",
    "yml": "--format json (maascurl writes no YAML)",
    "wide": "-t",
    "table": "-t",
    "tsv": "--format tsv",
    "csv": "--format csv",
    "name": "--format tsv --fields hostname",
}
KUBECTL_TEMPLATES = {
    "jsonpath": "--jq EXPR",
    "jsonpath-as-json": "--jq EXPR",
    "jsonpath-file": "--jq EXPR",
    "go-template": "--jq EXPR",
    "go-template-file": "--jq EXPR",
    "template": "--jq EXPR",
    "custom-columns": "-t --fields A,B,...",
}


def _checked_output(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse -o json and its kin (kubectl's output formats) rather than write a file so named."""
    if value is None:
        return value
    hint = KUBECTL_OUTPUT.get(value)
    if hint is None and "=" in value:
        hint = KUBECTL_TEMPLATES.get(value.split("=", 1)[0])
    if hint is None:
        return value
    kind = value.split("=", 1)[0]
    raise click.UsageError(
        f"-o {value} would write a file named {value!r}: for kubectl's -o {kind}, use {hint}; "
        f"-o ./{value} writes that file",
        ctx,
    )


output_option = click.option(
    "-o",
    "--output",
    metavar="FILE",
    callback=_checked_output,
    help="Write the body (or what --format, -t, --fields or --jq make of it) to FILE, "
    "complete or not at all (-: stdout, raw).",
)


def json_options(func: F) -> F:
    """--json and --format json|text for the commands that print their own data
    (describe, profile list, profile show): the spellings the request commands take."""
    return apply(
        func,
        [
            click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts."),
            click.option(
                "--format",
                "format_",
                type=click.Choice(["text", "json"]),
                help="text (default) or json (as --json).",
            ),
        ],
    )


def wants_json(as_json: bool, format_: str | None) -> bool:
    if as_json and format_ == "text":
        raise click.UsageError("--json asks for JSON but --format says text")
    return as_json or format_ == "json"


def tls_options(func: F) -> F:
    return apply(
        func,
        [
            click.option(
                "-k", "--insecure", is_flag=True, help="Do not verify the server's TLS certificate."
            ),
            click.option(
                "--cacert",
                type=click.Path(exists=True, dir_okay=False),
                help="Verify the server's TLS certificate with this CA file.",
            ),
        ],
    )


def retry_options(func: F) -> F:
    return apply(
        func,
        [
            click.option(
                "--retries",
                type=click.IntRange(min=0),
                metavar="N",
                default=3,
                show_default=True,
                help="Retries of answers with Retry-After (503, 409, 429), of GET/DELETE "
                "connects, and of an upload's chunk whose connection broke.",
            ),
            click.option(
                "--retry-max-wait",
                type=click.FloatRange(min=0),
                default=30.0,
                show_default=True,
                metavar="SECONDS",
                help="Longest wait between retries, whatever Retry-After says.",
            ),
        ],
    )


# --- the options of the request commands ----------------------------------------


def request_options(func: F) -> F:
    return apply(
        func,
        [
            click.option("--anonymous", is_flag=True, help="Send the request unsigned."),
            click.option(
                "-H",
                "--header",
                "headers",
                multiple=True,
                metavar="'NAME: VALUE'",
                help="Send this request header (repeatable), as curl -H; the value may hold "
                "any character.",
            ),
            body_option,
            data_option,
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
                help="Send as typed: no check of op and fields against the API description, "
                "PATH exactly as typed (no slash added, no CLI name mapped), fleet lines in any "
                "order.",
            ),
            click.option("-q", "--quiet", is_flag=True, help="Print no warnings or notes."),
            output_option,
            click.option(
                "-i",
                "--include",
                is_flag=True,
                help="Print the status line, headers and body on stdout, for errors too.",
            ),
            verbose_option,
            click.option(
                "--offline",
                "--dry-run",
                "offline",
                is_flag=True,
                help="Print the request that would be sent; send nothing.",
            ),
            pretty_option,
            click.option(
                "--pager/--no-pager",
                default=None,
                help="Page terminal output with $MAASCURL_PAGER, $PAGER or 'less -FRX'.",
            ),
            timeout_option,
            click.option(
                "--max-time",
                type=click.FloatRange(min=0, min_open=True),
                metavar="SECONDS",
                help="Bound the whole transfer, retries and redirects included (default: none).",
            ),
            retry_options,
            click.option(
                "--follow-any",
                is_flag=True,
                help="Follow redirects to another origin too (without credentials or your "
                "headers).",
            ),
            tls_options,
            profile_option,
            progress_option,
        ],
    )


def format_options(func: F) -> F:
    """--format, -t, --json, --fields, --sort, --header-row, --crlf, --jq: see show/fields.py,
    show/table.py and show/jq.py."""
    return apply(
        func,
        [
            click.option(
                "--format",
                "format_",
                type=click.Choice(FORMATS),
                help="json (default), jsonl (an object a line), table, tsv or csv (the server's "
                "text exactly: a spreadsheet may run cells such as =HYPERLINK(...) as formulas; "
                "see --csv-safe).",
            ),
            click.option("-t", "table", is_flag=True, help="Show a table (--format table)."),
            click.option("--json", "json_", is_flag=True, help="JSON (--format json)."),
            click.option(
                "--fields",
                metavar="A,B,...",
                multiple=True,
                shell_complete=complete_fields,
                help="Fields to show; dotted paths reach inside (zone.name, interface_set.0.name); "
                "a default column's header means the values shown under it (status).",
            ),
            click.option(
                "--sort",
                metavar="FIELD,...",
                multiple=True,
                shell_complete=complete_fields,
                help="Order objects by FIELD, then the next (-FIELD: descending): numbers and "
                "sizes as numbers, dates as dates, text in natural order (node-2 before node-10).",
            ),
            click.option(
                "--header-row/--no-header-row",
                "header_row",
                default=None,
                help="Start TSV with a line of column names (CSV has one unless --no-header-row).",
            ),
            click.option(
                "--crlf", is_flag=True, help="End CSV lines with CRLF (RFC 4180) instead of LF."
            ),
            click.option(
                "--csv-safe",
                is_flag=True,
                help="With --format csv, start each cell that begins with =, +, -, @, tab or "
                "CR with ' so that a spreadsheet shows it as text, never runs it as a formula "
                "(JSON numbers are left alone).",
            ),
            click.option(
                "--jq",
                metavar="EXPR",
                help="Filter the JSON answer with jq's EXPR (as gh api --jq): each result a "
                "line, strings raw, other values as JSON.",
            ),
        ],
    )


def fleet_options(func: F) -> F:
    """-j, --report, --fail-fast: for --each and batch (jobs/fleet.py)."""
    return apply(
        func,
        [
            click.option(
                "-j",
                "--jobs",
                type=click.IntRange(1, 20),  # httpx keeps up to 20 idle connections per pool
                metavar="N",
                help="Requests in flight at once (default 4: a MAAS region serves the API from a "
                "few worker processes, 4 by default, and the rest of its users need them too). "
                "Lines on the same object go in input order whatever N.",
            ),
            click.option(
                "--report",
                type=click.Path(dir_okay=False, writable=True),
                metavar="FILE",
                help="Write one JSON object per input line to FILE: line, method, URL, outcome, "
                "status, seconds, error (never a key).",
            ),
            click.option(
                "--fail-fast",
                is_flag=True,
                help="Send nothing more after the first failed request.",
            ),
        ],
    )


def page_options(command: F) -> F:
    """--paginate and --page-size, for GET of the v3 API's lists (jobs/pages.py).

    COMMAND may be a Command already made, as for wait_options.
    """
    options = [
        click.option(
            "--paginate",
            is_flag=True,
            help="v3 lists: follow each page's next to the end and write all the items as one "
            "list (JSON, or --format); without it a page is written as MAAS sent it.",
        ),
        click.option(
            "--page-size",
            type=click.IntRange(1, 1000),
            metavar="N",
            help="v3 lists: N items a page (size=N; MAAS's default 20, at most 1000).",
        ),
    ]
    if not isinstance(command, click.Command):
        return apply(command, options)
    for option in options:
        command = option(command)
    return command


def if_match_option(command: F) -> F:
    """--if-match, for PUT and DELETE of the v3 API's objects (a Command already made)."""
    option = click.option(
        "--if-match",
        metavar="ETAG",
        help="v3: send If-Match: ETAG, so that MAAS changes or deletes the object only while "
        "it is as it was read (412 otherwise); auto reads its current ETag first (a GET).",
    )
    result: F = option(command)
    return result


WAIT_FLAG_HELP = (
    "After an action that starts something (deploy, commission, release, "
    "abort, test, rescue_mode, exit_rescue_mode, power_on, power_off; "
    "boot-resources op=import; a boot-resources upload: until the rack controllers "
    "have synced it), poll until it ends; exit 8 if MAAS ended it in a failure state. "
    "On a terminal it ends in one line (hostname, status, power); piped, or with -o, "
    "--format or --jq, with the final object. With --each, every machine is waited for "
    "at once, with one listing per poll round."
)
BATCH_WAIT_FLAG_HELP = (
    "After each line's action that starts something (deploy, commission, release, "
    "abort, test, rescue_mode, exit_rescue_mode, power_on, power_off; "
    "boot-resources op=import), poll until it ends; every machine is waited for at "
    "once, with one listing per poll round. On a terminal the run ends in its summary; "
    "piped, with each line's final object."
)


def wait_options(
    command: F, *, flag: str | None = None, timeout_help: str = WAIT_TIMEOUT_HELP
) -> F:
    """--wait-timeout and --interval; with FLAG (its help), the --wait flag itself first.

    COMMAND may be a function still to be decorated or a Command already
    made (Click appends to its params, in order).
    """
    options = [
        click.option("--wait-timeout", type=Duration(), metavar="DURATION", help=timeout_help),
        click.option("--interval", type=Duration(), metavar="DURATION", help=INTERVAL_HELP),
    ]
    if flag is not None:
        options.insert(0, click.option("--wait", is_flag=True, help=flag))
    if not isinstance(command, click.Command):
        return apply(command, options)
    for option in options:
        command = option(command)
    return command


# --- --help in sections ------------------------------------------------------------

# Each shared option's section in --help, by its parameter's name; a command's own
# options (and -h) come first, under "Options".
SECTIONS = {
    "Request": ("profile", "headers", "body", "anonymous", "no_check", "offline"),
    "Output": (
        "output",
        "include",
        "keep_error_body",
        "pretty",
        "pager",
        "verbose",
        "quiet",
        "progress",
    ),
    "Formats": (
        "format_",
        "table",
        "json_",
        "fields",
        "sort",
        "jq",
        "header_row",
        "crlf",
        "csv_safe",
    ),
    "Fleet (--each)": ("each", "jobs", "report", "fail_fast"),
    "v3 API": ("paginate", "page_size", "if_match"),
    "Waiting": ("wait", "wait_timeout", "interval"),
    "Connection": (
        "timeout",
        "max_time",
        "retries",
        "retry_max_wait",
        "follow_any",
        "insecure",
        "cacert",
    ),
}
_SECTION_OF = {name: title for title, names in SECTIONS.items() for name in names}


class SectionedCommand(click.Command):
    """A command whose --help lists its options in SECTIONS (Click's own help sections).

    OWN names options that belong under "Options" whatever SECTIONS says (events'
    --interval is its own); FLEET_TITLE renames the fleet section (`batch` is all fleet).
    """

    def __init__(
        self, *args: Any, own: Sequence[str] = (), fleet_title: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.own = tuple(own)
        self.fleet_title = fleet_title

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        grouped: dict[str, list[tuple[int, tuple[str, str]]]] = {"Options": []}
        grouped.update({title: [] for title in SECTIONS})
        for order, param in enumerate(self.get_params(ctx)):
            record = param.get_help_record(ctx) if isinstance(param, click.Option) else None
            if record is None:
                continue
            title = None if param.name in self.own else _SECTION_OF.get(param.name or "")
            if title is not None:  # in the order SECTIONS gives
                order = SECTIONS[title].index(param.name or "")
            grouped[title or "Options"].append((order, record))
        for title, rows in grouped.items():
            if rows:
                if title == "Fleet (--each)" and self.fleet_title:
                    title = self.fleet_title
                with formatter.section(title):
                    formatter.write_dl([record for _, record in sorted(rows)])
