"""Writing the items of a v3 list that came in pages (`--paginate`) as one list.

The pages come as an iterator of item lists (jobs/pages.py), one page held
at a time: JSON to a pipe or a file, JSON Lines, TSV and CSV are written as
the pages come, so memory stays flat however many items there are. A
table, `--sort` and pretty JSON on a terminal need every item first, and
gather them. Items are written as compact JSON, as MAAS writes them.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from maascurl.show.fields import (
    Column,
    Listing,
    View,
    choose_columns,
    selected,
    sort_listing,
)
from maascurl.show.terminal import OutputOptions, pager_stream, stdout_is_terminal, use_color

Page = list[Any]


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def write_pages(pages: Iterator[Page], options: OutputOptions) -> None:
    """Every page's items as one list, where and as OPTIONS say.

    Nothing is written before the first page came: an error there leaves stdout empty.
    """
    first = next(pages, None)
    pages = _chain(first, pages) if first is not None else iter(())
    view = options.view
    if options.output and options.output != "-":
        _save(pages, options.output)
    elif view is None:
        pretty = stdout_is_terminal() if options.pretty is None else options.pretty
        if pretty and options.output != "-":
            _show_pretty([item for page in pages for item in page], options)
        else:
            _stream(_json_list(pages, None), options)
    elif (
        view.sort is not None
        or view.format == "table"
        or (view.format == "json" and stdout_is_terminal())
    ):
        _gathered(pages, options, view)
    else:
        _stream(_view_chunks(pages, view), options)


def _json_list(pages: Iterable[Page], columns: list[Column] | None) -> Iterator[str]:
    """`[item,item,...]` and a newline, a page at a time."""
    yield "["
    first = True
    for page in pages:
        parts = [_compact(selected(i, None, columns) if columns else i) for i in page]
        if parts:
            yield ("" if first else ",") + ",".join(parts)
            first = False
    yield "]\n"


def _view_chunks(pages: Iterator[Page], view: View) -> Iterator[str]:
    """jsonl, tsv, csv and json with --fields, a page at a time; the columns are chosen
    from the first page (the same for all, as for one listing)."""
    first = next(pages, [])
    columns = choose_columns(view, Listing(first), None)
    rest = _chain(first, pages)
    if view.format == "json":
        yield from _json_list(rest, columns)
        return
    if view.format in ("tsv", "csv") and not columns:
        return
    if view.format == "csv" or (view.format == "tsv" and view.header):
        yield _header(columns, view.format)
    for page in rest:
        yield _rows(page, columns, view.format)


def _chain(first: Page, rest: Iterator[Page]) -> Iterator[Page]:
    yield first
    yield from rest


def _header(columns: list[Column], kind: str) -> str:
    from maascurl.show.table import tsv_escape

    names = [column.path or column.label for column in columns]
    if kind == "tsv":
        return "\t".join(tsv_escape(name) for name in names) + "\n"
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(names)
    return out.getvalue()


def _rows(page: Page, columns: list[Column], kind: str) -> str:
    from maascurl.show.table import cells, tsv_escape

    listing = Listing(page)
    if kind == "jsonl":
        rows = (selected(row, None, columns) if columns else row for row in page)
        return "".join(_compact(row) + "\n" for row in rows)
    if kind == "tsv":
        lines = ("\t".join(tsv_escape(text) for text in row) for row in cells(listing, columns))
        return "".join(line + "\n" for line in lines)
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(cells(listing, columns))
    return out.getvalue()


def _gathered(pages: Iterator[Page], options: OutputOptions, view: View) -> None:
    """Every item first: a table, --sort, or JSON with --fields on a terminal."""
    from maascurl.show.table import csv_text, emit, emit_table, json_text, jsonl_text, tsv_text

    listing = Listing([item for page in pages for item in page])
    if view.sort:
        sort_listing(listing, view.sort)
    if view.format in ("json", "jsonl") and view.fields is None:
        columns = None
    else:
        columns = choose_columns(view, listing, None)
    if view.format == "json":
        pretty = stdout_is_terminal() if options.pretty is None else options.pretty
        text = json_text(listing.rows, listing, columns, pretty and not stdout_is_terminal())
        emit(text, options, color_json=pretty and stdout_is_terminal())
    elif view.format == "jsonl":
        emit(jsonl_text(listing, columns), options)
    elif view.format == "tsv":
        emit(tsv_text(listing, columns or [], view.header), options)
    elif view.format == "csv":
        emit(csv_text(listing, columns or []), options)
    else:
        emit_table(listing, columns or [], options)


def _stream(chunks: Iterable[str], options: OutputOptions) -> None:
    """Text as it comes: to a pipe or file as UTF-8; to a terminal, control characters
    made visible, through the pager."""
    if not stdout_is_terminal() or options.output == "-":
        sys.stdout.flush()
        out = sys.stdout.buffer
        for chunk in chunks:
            out.write(chunk.encode("utf-8"))
        out.flush()
        return
    from maascurl.termsafe import safe

    with pager_stream(options.pager) as stream:
        for chunk in chunks:
            stream.write(safe(chunk))


def _show_pretty(items: list[Any], options: OutputOptions) -> None:
    from maascurl.show.jsoncolor import write_json

    body = _compact(items).encode("utf-8")
    with pager_stream(options.pager) as out:
        if not write_json(body, out, color=use_color(sys.stdout)):
            out.write(body.decode("utf-8") + "\n")


def _save(pages: Iterator[Page], path: str) -> None:
    """-o FILE: the list written whole, or nothing (a temporary file renamed into place)."""
    from maascurl.show.output import save_chunks

    save_chunks((chunk.encode("utf-8") for chunk in _json_list(pages, None)), path)
