"""Writing the items of a v3 list that came in pages (`--paginate`) as one list.

The pages come as an iterator of item lists (jobs/pages.py), one page held
at a time: JSON to a pipe or a file, JSON Lines, TSV and CSV are written as
the pages come (to stdout, or into -o FILE), so memory stays flat however
many items there are. A table, `--sort`, `--jq` and pretty JSON on a
terminal need every item first, and gather them; they are then shown as one
answer of all the items would be (show/table.py). Items are written as
compact JSON, as MAAS writes them.
"""

from __future__ import annotations

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
)
from maascurl.show.terminal import OutputOptions, pager_stream, stdout_is_terminal, use_color

Page = list[Any]


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def write_pages(pages: Iterator[Page], options: OutputOptions) -> None:
    """Every page's items as one list, where and as OPTIONS say: to stdout, or into -o FILE
    (whole or not at all) in the format asked for.

    Nothing is written before the first page came: an error there leaves stdout empty.
    """
    first = next(pages, None)
    pages = _chain(first, pages) if first is not None else iter(())
    view = options.view
    to_file = options.output not in (None, "-")
    terminal = not to_file and options.output != "-" and stdout_is_terminal()
    if view is None:
        pretty = terminal if options.pretty is None else options.pretty
        if pretty and terminal:
            _show_pretty([item for page in pages for item in page], options)
        else:
            _write(_json_list(pages, None), options)
    elif (
        view.jq is not None
        or view.sort is not None
        or view.format == "table"
        or (view.format == "json" and terminal)
    ):
        _gathered(pages, options, view, terminal)
    else:
        _write(_view_chunks(pages, view), options)


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
    from the first page (the same for all, as for one listing), the header row is the
    first page's."""
    from maascurl.show.table import csv_text, jsonl_text, tsv_text

    first = next(pages, [])
    columns = choose_columns(view, Listing(first), None)
    rest = _chain(first, pages)
    if view.format == "json":
        yield from _json_list(rest, columns)
        return
    header = view.header_row
    for page in rest:
        listing = Listing(page)
        if view.format == "jsonl":
            yield jsonl_text(listing, columns if view.fields is not None else None)
        elif view.format == "tsv":
            yield tsv_text(listing, columns, header)
        else:
            yield csv_text(
                listing, columns, header=header, crlf=view.crlf, formula_safe=view.csv_safe
            )
        header = False


def _chain(first: Page, rest: Iterator[Page]) -> Iterator[Page]:
    yield first
    yield from rest


def _gathered(pages: Iterator[Page], options: OutputOptions, view: View, terminal: bool) -> None:
    """Every item first (--jq, a table, --sort, JSON on a terminal), shown as one answer
    of all the items would be (show/table.py)."""
    from maascurl.show.output import save_text
    from maascurl.show.table import emit, render, table_width

    items = [item for page in pages for item in page]
    if view.jq is not None:
        from maascurl.show.jq import jq_text

        text = jq_text(view.jq, data=items)
        shown_text, color_json, rendered = text, False, False
    else:
        pretty = terminal if options.pretty is None else options.pretty
        width = None if options.output not in (None, "-") else table_width()
        shown = render(items, view, None, terminal=terminal, pretty=pretty, width=width)
        shown_text, color_json, rendered = shown.text, shown.color_json, shown.rendered
    if options.output not in (None, "-"):
        save_text(shown_text, options.output)
    else:
        emit(shown_text, options, color_json=color_json, rendered=rendered)


def _write(chunks: Iterable[str], options: OutputOptions) -> None:
    """Text as it comes, into -o FILE (whole or not at all) or to stdout."""
    if options.output not in (None, "-"):
        from maascurl.show.output import save_chunks

        save_chunks((chunk.encode("utf-8") for chunk in chunks), options.output)
    else:
        _stream(chunks, options)


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
    from maascurl.show.table import visible_text

    with pager_stream(options.pager) as stream:
        for chunk in chunks:
            stream.write(visible_text(chunk))


def _show_pretty(items: list[Any], options: OutputOptions) -> None:
    from maascurl.show.jsoncolor import write_json

    body = _compact(items).encode("utf-8")
    with pager_stream(options.pager) as out:
        if not write_json(body, out, color=use_color(sys.stdout)):
            out.write(body.decode("utf-8") + "\n")
