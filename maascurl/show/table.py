"""Writing a JSON response as json, jsonl, a table, TSV or CSV (--format, --fields, --sort).

The body is parsed once with the json module. TSV and CSV are written
without rich. A table is rich's (header in bold, a rule, no wrapped rows,
long cells cut with an ellipsis); rich renders its header, rule and first
row, and the other rows are laid out here the same way rich would, because
rich renders a cell at ~40 us and a 1,000-machine table has 11,000 of them.
tests/test_table.py checks that the two layouts are the same.
"""

from __future__ import annotations

import csv
import gc
import io
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

from maascurl.errors import AnswerTooLarge, MaascurlError, note, warn
from maascurl.show.fields import (
    KEY_COLUMN,
    Column,
    Listing,
    cell,
    choose_columns,
    field_path,
    find_listing,
    is_number,
    missing_fields,
    resource_of,
    row_keys,
    row_value,
    selected,
    sort_listing,
)
from maascurl.show.terminal import pager_stream, stdout_is_terminal, use_color
from maascurl.termsafe import safe, safe_line

if TYPE_CHECKING:
    from maascurl.show.fields import View
    from maascurl.show.terminal import OutputOptions
    from maascurl.wire._httpx import httpx

GAP = "  "  # between table columns: the cell's right padding and the box's divider
MIN_WIDTH = 1
MIN_CUT = 10  # cells a column that is cut keeps at least (its ellipsis included)
DEFAULT_WIDTH = 80
# The body is read whole and parsed for --format, --fields and --sort (about ten
# thousand machines); past it a one-line error: a bigger listing goes through `-o` and jq.
TABLE_LIMIT = 128 * 1024 * 1024
# Columns that say which row is which: never cut, never left out.
IDENTITY = frozenset({"hostname", "name", "system_id", "id", "fqdn", "username", "filename", "ip"})
# Values that mean nothing cut short, each (or each of a comma-joined list) whole or not at
# all: MAC and IP addresses, CIDRs, UUIDs, timestamps. A column of them is left out rather
# than cut, as is a column of numbers.
_ATOMIC = (
    r"^(?:[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}"  # MAC
    r"|\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?"  # IPv4, CIDR
    r"|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:/\d{1,3})?"  # IPv6, CIDR
    r"|[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}"  # UUID
    r"|\d{4}-\d{2}-\d{2}[T ][0-9:.]+(?:Z|[+-][0-9:]+)?"  # ISO 8601
    r"|(?:[A-Z][a-z]{2}, )?\d{1,2} [A-Z][a-z]{2}\.? \d{4} [0-9:]+(?: [+-]\d{4}| GMT)?"
    r")$"
)


def _where(response: httpx.Response) -> str:
    url = response.request.url
    return f"{url.scheme}://{url.netloc.decode('ascii')}{url.path}"


class Shown(NamedTuple):
    """A view's text, and how a terminal takes it."""

    text: str
    color_json: bool = False  # pretty-print and colour it (jsoncolor) on a terminal
    rendered: bool = False  # a table: its cells are safe already, its colours must stay


def view_of(response: httpx.Response, options: OutputOptions, terminal: bool) -> Shown:
    """The response as OPTIONS.view says, laid out for a TERMINAL or for a pipe or file."""
    from maascurl.wire.bounded import read_body

    view = options.view
    assert view is not None
    try:
        body = read_body(response, TABLE_LIMIT, _where(response))
    except AnswerTooLarge as exc:
        hint = (
            "--format, --fields, --sort and --jq hold the body whole; save it with -o FILE "
            "and no format instead"
        )
        raise AnswerTooLarge(f"{exc}: {hint}") from None
    if view.jq is not None:
        from maascurl.show.jq import jq_text

        return Shown(jq_text(view.jq, body=body.decode("utf-8", errors="replace")))
    data = parse_body(body)
    url = response.request.url
    resource = resource_of(url.path, url.params.get("op"))
    pretty = terminal if options.pretty is None else options.pretty
    # A table in a file is whole; on a terminal or in a pipe it fits $COLUMNS, if set.
    width = None if options.output not in (None, "-") else table_width()
    return render(data, view, resource, terminal=terminal, pretty=pretty, width=width)


def render(
    data: Any,
    view: View,
    resource: str | None,
    *,
    terminal: bool = False,
    pretty: bool = False,
    width: int | None = None,
) -> Shown:
    """DATA (one parsed answer) as VIEW says, WIDTH wide for a table: as text."""
    listing = find_listing(data)
    if view.sort:
        keys = [field_path(key.lstrip("-"), resource) for key in view.sort]
        warn_missing(keys, listing, "--sort")
        sort_listing(listing, view.sort, resource)
    if view.format in ("json", "jsonl") and view.fields is None:
        columns = None
    else:
        columns = choose_columns(view, listing, resource)
        if view.fields is not None:
            warn_missing([field_path(name, resource) for name in view.fields], listing, "--fields")
    if view.format == "json":
        # On a terminal jsoncolor pretty-prints (and colours) the compact text.
        text = json_text(data, listing, columns, pretty and not terminal)
        return Shown(text, color_json=pretty and terminal)
    if view.format == "jsonl":
        return Shown(jsonl_text(listing, columns))
    assert columns is not None
    if view.format == "tsv":
        return Shown(tsv_text(listing, columns, view.header_row))
    if view.format == "csv":
        text = csv_text(
            listing, columns, header=view.header_row, crlf=view.crlf, formula_safe=view.csv_safe
        )
        return Shown(text)
    color = terminal and use_color(sys.stdout)
    return Shown(table_text(listing, columns, width, color), rendered=True)


def parse_body(body: bytes) -> Any:
    # Collecting garbage while a large body's objects are created only walks them again.
    gc.disable()
    try:
        return json.loads(body)
    except ValueError:
        message = "the response is not JSON; --format, --fields and --sort need JSON"
        raise MaascurlError(message) from None
    except RecursionError:  # a hostile server's nesting, not a bug of ours
        raise MaascurlError("the response's JSON is nested too deeply to tabulate") from None
    finally:
        gc.enable()


def warn_missing(paths: Sequence[str], listing: Listing, option: str) -> None:
    for path in missing_fields(paths, listing):
        warn(f"{option}: no object in the response has a field {path.split('.')[0]!r}")


# --------------------------------------------------------------- json and jsonl


def rebuilt(data: Any, listing: Listing, columns: Sequence[Column] | None) -> Any:
    """DATA in its own shape, its rows in the listing's order, reduced to COLUMNS."""
    keys = row_keys(listing)
    rows = [
        selected(row, key, columns) if columns is not None else row
        for row, key in zip(listing.rows, keys, strict=True)
    ]
    if listing.single:
        return rows[0]
    if listing.keys is not None:
        if columns is not None:
            rows = [{k: v for k, v in row.items() if k != KEY_COLUMN} for row in rows]
        return dict(zip(listing.keys, rows, strict=True))
    if listing.wrapped_key is not None:
        return {k: rows if k == listing.wrapped_key else v for k, v in data.items()}
    return rows


def json_text(data: Any, listing: Listing, columns: Sequence[Column] | None, pretty: bool) -> str:
    value = rebuilt(data, listing, columns)
    if pretty:
        return json.dumps(value, ensure_ascii=False, indent=2) + "\n"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n"


def jsonl_text(listing: Listing, columns: Sequence[Column] | None) -> str:
    """One compact object per line; a keyed dict's key goes into each line as "key"."""
    keys = row_keys(listing)
    lines = []
    for row, key in zip(listing.rows, keys, strict=True):
        if columns is not None:
            row = selected(row, key, columns)
        elif key is not None:
            row = {"key": key, **row}
        lines.append(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
    return "".join(line + "\n" for line in lines)


# --------------------------------------------------------------- tsv and csv


def cells(listing: Listing, columns: Sequence[Column]) -> Iterator[list[str]]:
    keys = row_keys(listing)
    paths = [column.path for column in columns]
    for row, key in zip(listing.rows, keys, strict=True):
        yield [cell(row_value(row, key, path)) for path in paths]


def tsv_escape(text: str) -> str:
    """Backslash, tab, newline and carriage return as \\\\, \\t, \\n and \\r (as jq's @tsv)."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t")
        text = text.replace("\n", "\\n").replace("\r", "\\r")
    return text


def tsv_text(listing: Listing, columns: Sequence[Column], header: bool) -> str:
    lines = (
        ["\t".join(tsv_escape(c.name or c.path or c.label) for c in columns)]
        if header and columns
        else []
    )
    lines += ["\t".join([tsv_escape(text) for text in row]) for row in cells(listing, columns)]
    return "".join(line + "\n" for line in lines)


# What makes a spreadsheet read a cell as a formula (OWASP's list for CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(
    listing: Listing,
    columns: Sequence[Column],
    *,
    header: bool = True,
    crlf: bool = False,
    formula_safe: bool = False,
) -> str:
    """Fields with commas, quotes or line breaks quoted (RFC 4180); lines end in LF, as jq's
    @csv and mlr write them, or with CRLF (--crlf).

    The cells are the server's text, exactly. With FORMULA_SAFE (--csv-safe)
    a cell that a spreadsheet would run as a formula (`=HYPERLINK(...)`) gets
    a leading ' so that it shows as text; JSON numbers (-5) are left as they are.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n" if crlf else "\n")
    if not columns:
        return ""
    if header:
        writer.writerow([column.name or column.path or column.label for column in columns])
    writer.writerows(_formula_safe(listing, columns) if formula_safe else cells(listing, columns))
    return out.getvalue()


def _formula_safe(listing: Listing, columns: Sequence[Column]) -> Iterator[list[str]]:
    keys = row_keys(listing)
    paths = [column.path for column in columns]
    for row, key in zip(listing.rows, keys, strict=True):
        values = [row_value(row, key, path) for path in paths]
        yield [
            "'" + text if text.startswith(FORMULA_STARTS) and not is_number(value) else text
            for value, text in ((value, cell(value)) for value in values)
        ]


# --------------------------------------------------------------- table


def table_text(listing: Listing, columns: Sequence[Column], width: int | None, color: bool) -> str:
    """The rows as a table WIDTH wide (None: as wide as it is), in colour or not."""
    if not columns:
        return ""  # an empty answer of unknown kind: nothing to show
    paths = [column.path for column in columns]
    pairs = zip(listing.rows, row_keys(listing), strict=True)
    values = [[row_value(row, key, path) for path in paths] for row, key in pairs]
    if listing.single and listing.rows and isinstance(listing.rows[0], dict):
        labels = ["field", "value"]
        body = [
            [column.label, cell(value)] for column, value in zip(columns, values[0], strict=True)
        ]
        right = [False, False]
        keep = [True, False]
    else:
        labels = [column.label for column in columns]
        body = [[cell(value) for value in row] for row in values]
        right = [numeric(row[i] for row in values) for i in range(len(columns))]
        keep = [naming(column, listing) for column in columns]
        if not any(keep):
            keep[0] = True  # the first column stands for the row's name
    labels = [safe_line(label) for label in labels]
    # Most cells are printable already; only the others go through the regex.
    body = [[text if text.isprintable() else safe_line(text) for text in row] for row in body]
    return lay_out(labels, body, right, keep, width, color)


def lay_out(
    labels: list[str],
    body: list[list[str]],
    right: list[bool],
    keep: list[bool],
    width: int | None,
    color: bool,
) -> str:
    """Safe LABELS and BODY cells as a table WIDTH wide: names (KEEP) and numbers (RIGHT) are
    never cut, and columns that cannot fit are left out, with a note that says so."""
    natural = natural_widths(labels, body)
    whole = [k or r for k, r in zip(keep, right, strict=True)]  # names and numbers: never cut
    if width is not None and sum(natural) + len(GAP) * (len(natural) - 1) > width:
        whole = [w or atomic(row[i] for row in body) for i, w in enumerate(whole)]
    shown = columns_that_fit(natural, width, whole, keep)
    if len(shown) < len(labels):
        left_out = [labels[i] for i in range(len(labels)) if i not in shown]
        note(
            f"{len(left_out)} column{'s' * (len(left_out) > 1)} left out to fit {width} "
            f"columns: {', '.join(left_out)} (--fields chooses the columns)"
        )
        labels = [labels[i] for i in shown]
        right, whole = [right[i] for i in shown], [whole[i] for i in shown]
        body = [[row[i] for i in shown] for row in body]
    return render_table(labels, body, right, width, color, whole)


def atomic(cells: Iterable[str]) -> bool:
    """Whether every cell given holds values that mean nothing cut short (see _ATOMIC)."""
    import re

    seen = False
    for text in cells:
        if not text or re.match(_ATOMIC, text):  # "Wed, 04 Jan 2017 ..." has a comma too
            seen = seen or bool(text)
            continue
        if not all(re.match(_ATOMIC, value) for value in text.split(",")):
            return False
        seen = True
    return seen


def naming(column: Column, listing: Listing) -> bool:
    """Whether COLUMN names the row (hostname, system ID, id...): it is never cut nor left out."""
    if column.path == KEY_COLUMN:
        return listing.keys is not None
    return column.path in IDENTITY


def numeric(values: Iterable[Any]) -> bool:
    """A column whose values are all numbers (or missing) is right-aligned."""
    present = [value for value in values if value is not None]
    return bool(present) and all(is_number(value) for value in present)


def table_width() -> int | None:
    """The width to fit: $COLUMNS, else the terminal's; None (no limit) when piped.

    A terminal that does not know its size (0 columns) counts as 80 wide, as in rich.
    """
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if not sys.stdout.isatty():
        return None
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns or DEFAULT_WIDTH
    except (OSError, ValueError, AttributeError):
        return DEFAULT_WIDTH


def natural_widths(labels: Sequence[str], rows: Sequence[Sequence[str]]) -> list[int]:
    """Each column's width with nothing cut: its widest cell or label, in terminal cells."""
    from rich.cells import cell_len

    natural = [cell_len(label) for label in labels]
    for row in rows:
        for i, text in enumerate(row):
            n = len(text) if text.isascii() else cell_len(text)
            if n > natural[i]:
                natural[i] = n
    return natural


def columns_that_fit(
    natural: list[int], width: int | None, whole: list[bool], keep: list[bool]
) -> list[int]:
    """The columns to show at WIDTH: all of them, or without the last ones that can go.

    A column may be cut to MIN_CUT cells but a WHOLE one (a name, a number) not
    at all; when even that is too wide, columns are left out from the right,
    never one to KEEP (what names the row), as kubectl shows fewer columns than
    `-o wide`. What is kept may still be wider than WIDTH: names are not cut.
    """
    shown = list(range(len(natural)))
    if width is None:
        return shown

    def least(columns: list[int]) -> int:
        cells = sum(natural[i] if whole[i] else min(natural[i], MIN_CUT) for i in columns)
        return cells + len(GAP) * (len(columns) - 1)

    while least(shown) > width:
        can_go = [i for i in shown if not keep[i]]
        if not can_go:
            return shown
        shown.remove(can_go[-1])
    for i in range(len(natural)):  # a narrow column left out for a wide one comes back
        if i not in shown and least(sorted([*shown, i])) <= width:
            shown = sorted([*shown, i])
    return shown


def fit(widths: list[int], width: int | None, whole: Sequence[bool] | None = None) -> list[int]:
    """Narrow the widest columns first until the row fits WIDTH, as rich does.

    WHOLE columns (names, numbers) keep their width; the others share what is
    left. When that is not enough they are narrowed as far as needed, and the
    WHOLE ones still are not: the row is then wider than WIDTH.
    """
    if width is None or not widths:
        return widths
    room = width - len(GAP) * (len(widths) - 1)
    if sum(widths) <= room:
        return widths
    whole = whole or [False] * len(widths)
    cut = [i for i, w in enumerate(whole) if not w]
    if not cut:
        return widths
    rest = room - sum(w for w, keep in zip(widths, whole, strict=True) if keep)
    narrowed = _narrowed([widths[i] for i in cut], max(rest, len(cut) * MIN_WIDTH))
    fitted = list(widths)
    for i, w in zip(cut, narrowed, strict=True):
        fitted[i] = w
    return fitted


def _narrowed(widths: list[int], room: int) -> list[int]:
    low, high = MIN_WIDTH, max(widths)
    while low < high:  # the largest cap at which the capped columns still fit
        cap = (low + high + 1) // 2
        if sum(min(w, cap) for w in widths) <= room:
            low = cap
        else:
            high = cap - 1
    capped = [min(w, low) for w in widths]
    # Hand out what the cap left over, one cell each to the widest columns.
    spare = room - sum(capped)
    for i, w in enumerate(widths):
        if spare > 0 and w > low:
            capped[i] += 1
            spare -= 1
    return capped


def render_table(
    labels: Sequence[str],
    rows: Sequence[Sequence[str]],
    right: Sequence[bool],
    width: int | None,
    color: bool,
    whole: Sequence[bool] | None = None,
) -> str:
    """Header, rule and rows, each column as wide as its widest cell or what fits;
    WHOLE columns are never cut. No line ends in blanks."""
    widths = fit(natural_widths(labels, rows), width, whole)
    head = rich_head(labels, rows[:1], right, widths, color)
    lines = [head] + [layout_row(row, widths, right) for row in rows[1:]]
    return "".join(line + "\n" for line in lines)


def rich_head(
    labels: Sequence[str],
    first: Sequence[Sequence[str]],
    right: Sequence[bool],
    widths: Sequence[int],
    color: bool,
) -> str:
    """Header, rule and first row as rich renders them."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    for label, w, r in zip(labels, widths, right, strict=True):
        table.add_column(
            Text(label),
            width=w,
            no_wrap=True,
            overflow="ellipsis",
            justify="right" if r else "left",
        )
    for row in first:
        table.add_row(*(Text(text) for text in row))
    total = sum(widths) + len(GAP) * (len(widths) - 1)
    console = Console(
        file=io.StringIO(),
        width=total,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        highlight=False,
        markup=False,
        emoji=False,
        legacy_windows=False,
    )
    console.print(table)
    out = str(console.file.getvalue())  # type: ignore[attr-defined]
    return "\n".join(line.rstrip(" ") for line in out.rstrip("\n").split("\n"))


def layout_row(row: Sequence[str], widths: Sequence[int], right: Sequence[bool]) -> str:
    """One row as rich lays it out: cut with an ellipsis, padded to its column."""
    parts = []
    for text, w, r in zip(row, widths, right, strict=True):
        n = len(text) if text.isascii() else _cells(text)
        if n > w:
            text, n = _cut(text, w)
        pad = " " * (w - n)
        parts.append(pad + text if r else text + pad)
    return GAP.join(parts).rstrip(" ")


def _cells(text: str) -> int:
    from rich.cells import cell_len

    return cell_len(text)


def _cut(text: str, width: int) -> tuple[str, int]:
    if text.isascii():  # what rich's truncate gives, without its cost
        return text[: width - 1] + "…", width
    from rich.text import Text

    cut = Text(text)
    cut.truncate(width, overflow="ellipsis", pad=True)
    return cut.plain, _cells(cut.plain)


# --------------------------------------------------------------- where it goes


def emit(
    text: str, options: OutputOptions, color_json: bool = False, rendered: bool = False
) -> None:
    """TEXT to a pipe (or with -o -) as UTF-8 bytes, or to the terminal through the pager.

    On a terminal the server's text has its control characters made visible,
    unless it comes RENDERED (a table: its cells are safe already, and its
    own colour codes must stay).
    """
    if options.output == "-" or not stdout_is_terminal():
        sys.stdout.flush()
        sys.stdout.buffer.write(text.encode("utf-8"))
        sys.stdout.buffer.flush()
        return
    with pager_stream(options.pager) as out:
        if color_json:
            from maascurl.show.jsoncolor import write_json

            if write_json(text.encode("utf-8"), out, color=use_color(sys.stdout)):
                return
        write_text(out, text if rendered else visible_text(text))


def visible_text(text: str) -> str:
    """TEXT with the server's control characters made visible (termsafe.safe)."""
    # CSV with --crlf ends its lines with CRLF: those CRs are not the server's.
    return "\r\n".join(safe(part) for part in text.split("\r\n"))


def write_text(out: TextIO, text: str) -> None:
    out.write(text)
    out.flush()
