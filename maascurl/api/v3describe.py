"""`describe v3/...`: help drawn from the v3 API's OpenAPI document.

As api/describe.py does for the 2.0 API: the ``*_data`` functions return
plain dicts (printed as JSON with --json), ``render_plain`` makes stable text
for pipes and ``render_rich`` panels and tables for a terminal, the
server's text going in as rich Text, never as markup.

    describe v3              every path, its methods and a summary
    describe v3/zones        its operations by method
    describe v3/zones post   one operation: parameters, body fields, what it answers
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from maascurl.api.describe import DescribeError
from maascurl.api.openapi import V3_PREFIX, Field, Operation, Path_, V3Description

if TYPE_CHECKING:
    from rich.console import RenderableType

_ORDER = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _relative(path: str) -> str:
    for lead in (V3_PREFIX, "/v3/", "v3/"):
        if path.startswith(lead):
            return path[len(lead) :]
    return "" if path.strip("/") == "v3" else path


def _path(desc: V3Description, path: str) -> Path_:
    relative = _relative(path)
    match = desc.match(relative)
    if match is not None:
        return match.path
    message = f"unknown v3 path: {path}"
    guess = desc.suggest_path(relative)
    if guess is not None:
        message += f" (did you mean v3/{guess}?)"
    raise DescribeError(message)


def _field(f: Field) -> dict[str, Any]:
    return {
        "name": f.name,
        "in": f.where,
        "required": f.required,
        "type": f.type,
        "choices": list(f.enum),
        "default": f.default,
        "summary": f.summary,
    }


def index_data(desc: V3Description) -> list[dict[str, Any]]:
    rows = []
    for p in desc.paths:
        methods = sorted(p.methods, key=_ORDER.index)
        rows.append({"path": "v3/" + p.template, "methods": methods, "summary": p.summary})
    return rows


def path_data(desc: V3Description, path: str) -> dict[str, Any]:
    found = _path(desc, path)
    return {
        "path": "v3/" + found.template,
        "url": V3_PREFIX + found.template,
        "operations": {
            op.method: {"operation": op.op_id, "summary": op.summary}
            for op in sorted(found.operations, key=lambda op: _ORDER.index(op.method))
        },
    }


def op_data(desc: V3Description, path: str, method: str) -> dict[str, Any]:
    found = _path(desc, path)
    operation = found.operation(method)
    if operation is None:
        methods = ", ".join(m.lower() for m in sorted(found.methods, key=_ORDER.index))
        raise DescribeError(f"v3/{found.template} has no {method.upper()}; its methods: {methods}")
    return _op(found, operation)


def _op(path: Path_, op: Operation) -> dict[str, Any]:
    return {
        "method": op.method,
        "url": V3_PREFIX + path.template,
        "path": "v3/" + path.template,
        "operation": op.op_id,
        "summary": op.summary,
        "doc": op.doc,
        "authenticated": op.secured,
        "paged": op.paged,
        "if_match": op.if_match,
        "params": [_field(f) for f in op.params if f.where != "header" or f.name != "if-match"],
        "body": None if op.body is None else [_field(f) for f in op.body],
        "answer": op.answer,
        "answer_fields": [_field(f) for f in op.answer_fields],
    }


def describe_data(desc: V3Description, path: str, method: str | None = None) -> Any:
    """Index, path or operation data, depending on what is given."""
    if not _relative(path):
        return index_data(desc)
    if method is None:
        return path_data(desc, path)
    return op_data(desc, path, method.upper())


# --------------------------------------------------------------- rendering


def _table(rows: list[list[str]], indent: str = "") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return [
        (
            indent + "  ".join([c.ljust(w) for c, w in zip(row, widths, strict=False)] + [row[-1]])
        ).rstrip()
        for row in rows
    ]


def _kind(f: dict[str, Any]) -> str:
    kind = str(f["type"] or "")
    if f["choices"]:
        kind = "|".join(f["choices"])
    return kind


def _field_rows(fields: list[dict[str, Any]], *, where: bool) -> list[list[str]]:
    rows = []
    for f in fields:
        required = "required" if f["required"] else ""
        name = f["name"] + (f" ({f['in']})" if where and f["in"] != "query" else "")
        default = f" (default {f['default']})" if f["default"] is not None else ""
        rows.append([name, required, _kind(f), f["summary"] + default])
    return rows


def render_plain(data: Any) -> str:
    if isinstance(data, list):
        rows = [[row["path"], " ".join(row["methods"]), row["summary"]] for row in data]
        lines = _table(rows) if rows else []
    elif "operations" in data:
        rows = [[m, o["operation"], o["summary"]] for m, o in data["operations"].items()]
        lines = [data["path"], "", *_table(rows, indent="  ")] if rows else [data["path"]]
    else:
        lines = _plain_op(data)
    return "\n".join(lines) + "\n"


def _plain_op(data: dict[str, Any]) -> list[str]:
    lines = [f"{data['method']} {data['url']}", data["summary"]]
    if data["doc"]:
        lines += ["", data["doc"]]
    notes = []
    if data["paged"]:
        notes.append("answers a page: {items, total, next} (--paginate follows it)")
    if data["if_match"]:
        notes.append("takes If-Match (--if-match ETAG, or auto)")
    if not data["authenticated"]:
        notes.append("needs no token")
    if notes:
        lines += ["", *(f"Note: {note}." for note in notes)]
    if data["params"]:
        lines += ["", "Parameters:", *_table(_field_rows(data["params"], where=True), "  ")]
    if data["body"]:
        lines += ["", "JSON body (name=text, name:=JSON):"]
        lines += _table(_field_rows(data["body"], where=False), "  ")
    if data["answer_fields"]:
        what = (
            f"Answer ({data['answer']}, each item):"
            if data["paged"]
            else f"Answer ({data['answer']}):"
        )
        lines += ["", what, *_table(_field_rows(data["answer_fields"], where=False), "  ")]
    return lines


def render_rich(data: Any) -> RenderableType:
    """Tables and panels for a terminal; server text goes in as Text, never as markup."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    if isinstance(data, list):
        index = Table("Path", "Methods", "Summary", box=None, header_style="bold")
        for row in data:
            index.add_row(Text(row["path"], style="cyan"), Text(" ".join(row["methods"])),
                          Text(row["summary"]))  # fmt: skip
        return index
    if "operations" in data:
        ops = Table("Method", "Operation", "Summary", box=None, header_style="bold")
        for method, op in data["operations"].items():
            ops.add_row(Text(method, style="bold"), Text(op["operation"], style="green"),
                        Text(op["summary"]))  # fmt: skip
        return Panel(ops, title=Text(data["path"], style="bold cyan"), title_align="left")
    parts: list[RenderableType] = [Text(data["summary"], style="bold")]
    if data["doc"]:
        parts.append(Text(data["doc"]))

    def table(title: str, fields: list[dict[str, Any]], where: bool) -> None:
        grid = Table(title, "", "Type", "Summary", box=None, header_style="bold")
        for name, required, kind, summary in _field_rows(fields, where=where):
            grid.add_row(Text(name, style="cyan"), Text(required, style="bold red"), Text(kind),
                         Text(summary))  # fmt: skip
        parts.extend([Text(""), grid])

    if data["params"]:
        table("Parameter", data["params"], True)
    if data["body"]:
        table("JSON body", data["body"], False)
    if data["answer_fields"]:
        table(f"Answer ({data['answer']})", data["answer_fields"], False)
    title = Text(f"{data['method']} {data['url']}", style="bold cyan")
    return Panel(Group(*parts), title=title, title_align="left")
