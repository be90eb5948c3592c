"""Many JSON answers as one --format, --fields or --jq output: fleet runs and events.

A fleet run (`--each`, `batch`) has one answer per input line, and `events`
one object per event; with a view they make one output, in order, as they
come: jq's lines and JSON Lines line by line, TSV and CSV under one header,
json as one array of the answers. A table needs every row to size its
columns, so it is written at the end (its cells are kept, not the answers).
The columns of TSV, CSV and a table are chosen once: the --fields given, or
by the first answer with rows (table.py's rules).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from maascurl.show.fields import (
    Column,
    Listing,
    View,
    choose_columns,
    field_path,
    find_listing,
    is_number,
    row_keys,
    row_value,
)
from maascurl.show.table import (
    cells,
    csv_text,
    jsonl_text,
    lay_out,
    naming,
    rebuilt,
    table_width,
    tsv_text,
    warn_missing,
)
from maascurl.show.terminal import stdout_is_terminal, use_color
from maascurl.termsafe import safe_line


class ViewStream:
    """Answers in (add), the bytes to write out; close gives what is left."""

    def __init__(self, view: View) -> None:
        self.view = view
        self.columns: list[Column] | None = None
        self.started = False  # a first line (a header, a '[') has been written
        self.held: list[list[str]] = []  # a table's cells, until close
        self.present: list[bool] = []  # per table column: has a value
        self.numbers: list[bool] = []  # per table column: every value is a number
        self.keyed = Listing([])  # the first answer's rows: keyed by ID or not

    def add(self, data: Any, resource: str | None = None) -> bytes:
        """One parsed answer; RESOURCE is what its path lists (for default columns)."""
        view = self.view
        if view.jq is not None:
            from maascurl.show.jq import jq_text

            return jq_text(view.jq, data=data).encode("utf-8")
        listing = find_listing(data)
        if view.format == "json":
            return self._json_item(data, listing, resource)
        if view.format == "jsonl" and view.fields is None:
            return jsonl_text(listing, None).encode("utf-8")
        columns = self._columns(listing, resource)
        if view.format == "jsonl":
            return jsonl_text(listing, columns).encode("utf-8")
        if view.format == "table":
            self._hold(listing, columns)
            return b""
        header = not self.started and view.header_row and bool(columns)
        self.started = self.started or bool(columns)
        if view.format == "tsv":
            return tsv_text(listing, columns, header).encode("utf-8")
        if not columns:
            return b""
        text = csv_text(listing, columns, header=header, crlf=view.crlf, formula_safe=view.csv_safe)
        return text.encode("utf-8")

    def close(self) -> bytes:
        """What is left to write: the end of a JSON array, or the whole table."""
        view = self.view
        if view.jq is not None:
            return b""
        if view.format == "json":
            return b"]\n" if self.started else b"[]\n"
        if view.format != "table" or not self.columns:
            return b""
        labels = [safe_line(column.label) for column in self.columns]
        body = [
            [text if text.isprintable() else safe_line(text) for text in row] for row in self.held
        ]
        right = [p and n for p, n in zip(self.present, self.numbers, strict=True)]
        keep = [naming(column, self.keyed) for column in self.columns]
        if not any(keep):
            keep[0] = True  # the first column stands for the row's name
        color = stdout_is_terminal() and use_color(sys.stdout)
        return lay_out(labels, body, right, keep, table_width(), color).encode("utf-8")

    def _json_item(self, data: Any, listing: Listing, resource: str | None) -> bytes:
        if self.view.fields is not None:
            data = rebuilt(data, listing, choose_columns(self.view, listing, resource))
        lead = "," if self.started else "["
        self.started = True
        return (lead + json.dumps(data, ensure_ascii=False, separators=(",", ":"))).encode()

    def _columns(self, listing: Listing, resource: str | None) -> list[Column]:
        if self.columns is None and (listing.rows or self.view.fields is not None):
            # One object is one row here like any other, never field/value columns.
            rows = Listing(listing.rows, listing.keys, wrapped_key=listing.wrapped_key)
            self.columns = choose_columns(self.view, rows, resource)
            self.keyed = rows
            if self.view.fields is not None:
                paths = [field_path(name, resource) for name in self.view.fields]
                warn_missing(paths, listing, "--fields")
            self.present = [False] * len(self.columns)
            self.numbers = [True] * len(self.columns)
        return self.columns or []

    def _hold(self, listing: Listing, columns: list[Column]) -> None:
        """A table's rows as cells, and per column whether it is all numbers (right-aligned)."""
        for row, key in zip(listing.rows, row_keys(listing), strict=True):
            for i, column in enumerate(columns):
                value = row_value(row, key, column.path)
                if value is not None:
                    self.present[i] = True
                    self.numbers[i] = self.numbers[i] and is_number(value)
        self.held.extend(cells(listing, columns))
