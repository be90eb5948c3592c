"""Help about the API, built from a server's API description.

The ``*_data`` functions return plain dicts (easy to print as JSON or test);
``render_plain`` turns them into stable text for pipes and ``render_rich`` into
rich renderables for a terminal.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from maascurl.api.apidesc import API_PREFIX, Action, ApiDescription, Match, Resource

if TYPE_CHECKING:
    from rich.console import RenderableType

_METHOD_ORDER = ("GET", "POST", "PUT", "DELETE")


class DescribeError(Exception):
    """An unknown path or operation; the message suggests what was probably meant."""


def _resolve(desc: ApiDescription, path: str) -> Match:
    m = desc.match(path)
    if m is not None:
        return m
    message = f"unknown API path: {path}"
    guess = desc.suggest_path(path)
    if guess is not None:
        message += f" (did you mean {guess}?)"
    raise DescribeError(message)


def _method_key(method: str) -> tuple[int, str]:
    return (_METHOD_ORDER.index(method) if method in _METHOD_ORDER else len(_METHOD_ORDER), method)


def index_data(desc: ApiDescription) -> list[dict[str, Any]]:
    """Every resource, as the path a user types and a one-line summary."""
    rows = [{"path": r.template, "summary": r.summary} for r in desc.served]
    return sorted(rows, key=lambda row: row["path"])


def resource_data(desc: ApiDescription, path: str) -> dict[str, Any]:
    """The operations of one resource, grouped by HTTP method."""
    res = _resolve(desc, path).resource
    operations: dict[str, list[dict[str, Any]]] = {}
    for method in sorted({a.method for a in res.actions}, key=_method_key):
        operations[method] = [
            {"op": a.op, "name": a.name, "summary": a.summary, "anonymous": a.anonymous}
            for a in res.actions_for(method)
        ]
    return {
        "path": res.template,
        "url": API_PREFIX + res.template,
        "summary": res.summary,
        "operations": operations,
    }


def _find_actions(actions: list[Action], op: str | None) -> list[Action]:
    if op is None:
        return [a for a in actions if a.op is None]
    return [a for a in actions if a.op == op or (a.restful and a.name == op)]


def _unknown_op(path: str, labels: list[str], op: str | None, method: str | None) -> str:
    where = f"{method} {path}" if method else path
    if op is None:
        return f"{where} has no restful action; operations: {', '.join(labels) or 'none'}"
    message = f"{where} has no operation {op!r}"
    guess = difflib.get_close_matches(op, labels, n=1)
    if guess:
        message += f" (did you mean {guess[0]!r}?)"
    return message + f"; operations: {', '.join(labels) or 'none'}"


def op_data(
    desc: ApiDescription, path: str, op: str | None, method: str | None = None
) -> dict[str, Any]:
    """One operation (or restful action such as "read") in full: the maascurl command,
    URL, parameters, doc.

    An op the resource lacks but one resource below it has (deploy: machines/ lacks
    it, machines/{system_id}/ has it) is described there, with a note that says so.
    """
    m = _resolve(desc, path)
    res = m.resource
    op = op if op is not None else m.op
    actions = res.actions_for(method) if method else list(res.actions)
    found = _find_actions(actions, op)
    typed: str | None = _typed_path(path, res)
    note = None
    if not found and op is not None:
        below = _below(desc, res, op, method)
        if len(below) == 1:
            res, found, typed = below[0], _find_actions(_actions(below[0], method), op), None
            note = f"{op} is not an operation of {m.resource.template}; it lives on {res.template}"
        elif below:
            where = ", ".join(r.template for r in below)
            raise DescribeError(
                f"{m.resource.template} has no operation {op!r}; it lives on {where}"
            )
    if not found:
        labels = sorted({a.label for a in actions})
        raise DescribeError(_unknown_op(res.template, labels, op, method and method.upper()))
    action = min(found, key=lambda a: _method_key(a.method))
    query = f"?op={action.op}" if action.op is not None else ""
    data = {
        "command": command_line(action, typed or res.template.rstrip("/")),
        "method": action.method,
        "url": API_PREFIX + res.template + query,
        "path": res.template,
        "op": action.op,
        "name": action.name,
        "anonymous": action.anonymous,
        "summary": action.summary,
        "params": [
            {"name": p.name, "required": p.required, "type": p.type, "summary": p.summary}
            for p in action.params
        ],
        "doc": action.doc,
    }
    if note is not None:
        data["note"] = note
    return data


def _actions(res: Resource, method: str | None) -> list[Action]:
    return res.actions_for(method) if method else list(res.actions)


def _below(desc: ApiDescription, res: Resource, op: str, method: str | None) -> list[Resource]:
    """The resources under RES (its items, their parts) that have OP: closest first."""
    found = [
        other
        for other in desc.resources
        if other.template != res.template
        and other.template.startswith(res.template.rstrip("/") + "/")
        and _find_actions(_actions(other, method), op)
    ]
    if not found:
        return []
    depth = min(other.template.count("/") for other in found)
    return [other for other in found if other.template.count("/") == depth]


def _typed_path(path: str, res: Resource) -> str:
    """PATH as the user typed it, for the command line (IDs kept, no op-NAME suffix)."""
    segments = [s for s in path.partition("?")[0].split("/") if s]
    prefix = [s for s in API_PREFIX.split("/") if s]
    if segments[: len(prefix)] == prefix:
        segments = segments[len(prefix) :]
    if segments and segments[-1].startswith("op-"):
        segments.pop()
    return "/".join(segments) or res.template.rstrip("/")


def command_line(action: Action, path: str) -> str:
    """The maascurl command for ACTION on PATH, with its required parameters."""
    words = ["maascurl", action.method.lower(), path]
    if action.op is not None:
        words.append(f"op={action.op}")
    words += [f"{p.name}={p.name.upper()}" for p in action.params if p.required]
    return " ".join(words)


def describe_data(
    desc: ApiDescription, path: str | None = None, op: str | None = None, method: str | None = None
) -> Any:
    """Index, resource or operation data, depending on what is given."""
    if not path:
        return index_data(desc)
    if op is None and method is None and _resolve(desc, path).op is None:
        return resource_data(desc, path)
    return op_data(desc, path, op, method)


# Rendering.


def _required_word(required: bool | None) -> str:
    return {True: "required", False: "optional", None: ""}[required]


def _op_word(row: dict[str, Any]) -> str:
    return str(row["op"]) if row["op"] is not None else f"{row['name']} (restful)"


def _description(data: dict[str, Any]) -> str:
    """The doc minus its first line (the summary) and its parameter list."""
    lines = str(data["doc"]).splitlines()
    kept: list[str] = []
    for line in lines[1:]:
        if line.lstrip().startswith((":param ", ":type ")):
            break
        kept.append(line.rstrip())
    return "\n".join(kept).strip()


def _reflow(text: str) -> str:
    """Join hard-wrapped prose lines so a terminal can wrap them; keep lists and indents."""
    paragraphs = []
    for para in text.split("\n\n"):
        lines = para.splitlines()
        prose = all(line[:1].isalpha() or line[:1] in "('\"`" for line in lines)
        paragraphs.append(" ".join(lines) if prose else para)
    return "\n\n".join(paragraphs)


def _table(rows: list[list[str]], indent: str = "") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    out = []
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)] + [row[-1]]
        out.append((indent + "  ".join(cells)).rstrip())
    return out


def _plain_index(data: list[dict[str, Any]]) -> list[str]:
    return _table([[row["path"], row["summary"]] for row in data]) if data else []


def _plain_resource(data: dict[str, Any]) -> list[str]:
    rows = [
        [method, _op_word(r), "anonymous" if r["anonymous"] else "", r["summary"]]
        for method, method_rows in data["operations"].items()
        for r in method_rows
    ]
    lines = [f"{data['path']}  {data['summary']}".rstrip()]
    return [*lines, "", *_table(rows, indent="  ")] if rows else lines


def _plain_op(data: dict[str, Any]) -> list[str]:
    lines = [f"Note: {data['note']}", ""] if data.get("note") else []
    lines += [data["command"], f"{data['method']} {data['url']}", data["summary"]]
    if data["anonymous"]:
        lines.append("Also allowed without credentials.")
    if data["params"]:
        lines += ["", "Parameters:"]
        lines += _table(
            [
                [p["name"], _required_word(p["required"]), p["type"], p["summary"]]
                for p in data["params"]
            ],
            indent="  ",
        )
    description = _description(data)
    if description:
        lines += ["", description]
    return lines


def render_plain(data: Any) -> str:
    """Stable, uncoloured text for any of the ``*_data`` results."""
    if isinstance(data, list):
        lines = _plain_index(data)
    elif "operations" in data:
        lines = _plain_resource(data)
    else:
        lines = _plain_op(data)
    return "\n".join(lines) + "\n"


def render_rich(data: Any) -> RenderableType:
    """Tables and panels for a terminal; server text goes in as Text, never as markup."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    if isinstance(data, list):
        index = Table("Path", "Summary", box=None, header_style="bold")
        for row in data:
            index.add_row(Text(row["path"], style="cyan"), Text(row["summary"]))
        return index
    if "operations" in data:
        ops = Table("Method", "Operation", "Summary", box=None, header_style="bold")
        for method, rows in data["operations"].items():
            for r in rows:
                label = Text(_op_word(r), style="green" if r["op"] else "dim")
                if r["anonymous"]:
                    label.append(" (anonymous)", style="yellow")
                ops.add_row(Text(method, style="bold"), label, Text(r["summary"]))
        title = Text(data["path"], style="bold cyan")
        return Panel(Group(Text(data["summary"]), Text(""), ops), title=title, title_align="left")
    parts: list[RenderableType] = []
    if data.get("note"):
        parts += [Text(f"Note: {data['note']}", style="yellow"), Text("")]
    parts += [Text(data["command"], style="green"), Text(data["summary"], style="bold")]
    if data["anonymous"]:
        parts.append(Text("Also allowed without credentials.", style="yellow"))
    if data["params"]:
        params = Table("Parameter", "", "Type", "Summary", box=None, header_style="bold")
        for p in data["params"]:
            style = "bold red" if p["required"] else "dim"
            params.add_row(
                Text(p["name"], style="cyan"),
                Text(_required_word(p["required"]), style=style),
                Text(p["type"]),
                Text(p["summary"]),
            )
        parts += [Text(""), params]
    description = _description(data)
    if description:
        parts += [Text(""), Text(_reflow(description))]
    title = Text(f"{data['method']} {data['url']}", style="bold cyan")
    return Panel(Group(*parts), title=title, title_align="left")


def visible(data: Any) -> Any:
    """DATA with control characters in every string made visible (termsafe)."""
    from maascurl.termsafe import safe

    if isinstance(data, str):
        return safe(data)
    if isinstance(data, list):
        return [visible(item) for item in data]
    if isinstance(data, dict):
        return {key: visible(value) for key, value in data.items()}
    return data
