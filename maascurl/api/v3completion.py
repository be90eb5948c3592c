"""TAB candidates for v3 PATHs and their ITEMs, from the cached OpenAPI document.

As api/completion.py does for the 2.0 API: paths a segment at a time
(`v3/fa<TAB>` -> `v3/fabrics/`), a placeholder offered as its template
(`{fabric_id}`), a verb after a colon completed after the ID typed
(`v3/notifications/5<TAB>` -> `5:dismiss`); query parameters of a GET or
DELETE as `name=`; the JSON body's fields of a POST or PUT as `name=` for
text and `name:=` for other JSON types; a field's choices after `name=`;
and the fields of what a GET answers, for --fields and --sort. Stdlib only,
and imported only for a v3 PATH.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from maascurl.api.completion import Candidate, complete_file_value, short_help

if TYPE_CHECKING:
    from maascurl.api.openapi import Field, Operation, V3Description

V3_LEADS = ("/MAAS/a/v3/", "/v3/", "v3/")
_NAME = r"^([A-Za-z0-9_.\[\]-]+)(==|:=|=)"


def split_lead(incomplete: str) -> tuple[str, str] | None:
    """The `v3/` (or `/MAAS/a/v3/`) INCOMPLETE starts with, and the rest; None for a
    2.0 PATH."""
    for lead in V3_LEADS:
        if incomplete.startswith(lead):
            return lead, incomplete[len(lead) :]
    return None


def complete_v3_path(desc: V3Description | None, incomplete: str) -> list[Candidate]:
    """v3 paths continuing INCOMPLETE (which starts with `v3/`), one segment at a time."""
    split = split_lead(incomplete)
    if desc is None or split is None:
        return []
    lead, text = split
    partial = text.rpartition("/")[2]
    head = text[: len(text) - len(partial)]
    typed = [s for s in head.split("/") if s]
    found: dict[str, str] = {}
    for path in desc.paths:
        segments = [s for s in path.template.split("/") if s]
        if len(segments) <= len(typed) or not _prefix_fits(segments, typed):
            if segments == typed and not partial and head:
                found.setdefault(head, path.summary)  # the typed path is itself one
            continue
        nxt = segments[len(typed)]
        last = len(segments) == len(typed) + 1
        word = _next_word(nxt, partial)
        if word is None:
            continue
        candidate = head + word + ("" if last else "/")
        if last or candidate not in found:
            found[candidate] = path.summary if last else found.get(candidate, "")
    return sorted((lead + path, short_help(text)) for path, text in found.items())


def _segment_fits(template: str, typed: str) -> bool:
    if "{" not in template:
        return template == typed
    from maascurl.api.openapi import segment_pattern

    pattern = segment_pattern(template)[1]
    return pattern is not None and re.fullmatch(pattern, typed) is not None


def _prefix_fits(template: list[str], typed: list[str]) -> bool:
    return all(_segment_fits(t, s) for t, s in zip(template, typed, strict=False))


def _next_word(segment: str, partial: str) -> str | None:
    """What completes PARTIAL towards the template SEGMENT, or None."""
    if "{" not in segment:
        return segment if segment.startswith(partial) else None
    if segment.startswith("{") and segment.endswith("}") and segment.count("{") == 1:
        return partial or segment  # an ID: the template says what goes there
    # `{id}:verb`: the ID typed, then the verb.
    verb = segment[segment.rindex("}") + 1 :]
    if not partial:
        return segment
    if ":" in partial:
        typed_id, _, typed_verb = partial.partition(":")
        return typed_id + verb if typed_id and verb.startswith(":" + typed_verb) else None
    return partial + verb


def operation_at(desc: V3Description | None, method: str, path: str) -> Operation | None:
    if desc is None:
        return None
    split = split_lead(path)
    match = desc.match(split[1] if split else path)
    return match.path.operation(method) if match is not None else None


def complete_v3_item(
    desc: V3Description | None, method: str, path: str, incomplete: str, items: list[str]
) -> list[Candidate]:
    """ITEMs for METHOD on the v3 PATH: parameters and body fields, or a field's choices."""
    files = complete_file_value(incomplete)
    if files is not None:
        return files
    operation = operation_at(desc, method.upper(), path)
    if operation is None:
        return []
    query = [p for p in operation.params if p.where == "query"]
    body = list(operation.body or ())
    value = re.match(_NAME, incomplete)
    if value is not None:
        return _choices(value.group(1), value.group(2), incomplete, query + body)
    given = {m.group(1) for item in items if (m := re.match(_NAME, item))}
    found: list[Candidate] = []
    if method.upper() in ("GET", "DELETE"):
        for field in query:
            _offer(found, field, field.name + "=", incomplete, given)
        return found
    for field in body:
        _offer(found, field, field.name + ("=" if field.is_text else ":="), incomplete, given)
    for field in query:
        _offer(found, field, field.name + "==", incomplete, given)
    return found


def _offer(
    found: list[Candidate], field: Field, word: str, incomplete: str, given: set[str]
) -> None:
    if word.startswith(incomplete) and (field.type == "array" or field.name not in given):
        found.append((word, short_help(describe_field(field))))


def describe_field(field: Field) -> str:
    """`required: integer: The VLAN ID.`: what TAB shows beside a field."""
    parts = ["required" if field.required else "", field.type, field.summary]
    return ": ".join(part for part in parts if part)


def _choices(name: str, separator: str, incomplete: str, fields: list[Field]) -> list[Candidate]:
    field = next((f for f in fields if f.name == name), None)
    if field is None:
        return []
    if field.enum:
        quoted = separator == ":=" and field.is_text  # a JSON string needs its quotes
        values = [f'"{v}"' if quoted else v for v in field.enum]
    elif field.type == "boolean":
        values = ["true", "false"]
    else:
        return []  # a value is being typed: free text, left to the shell
    words = [f"{name}{separator}{value}" for value in values]
    return [(word, "") for word in words if word.startswith(incomplete)]


def answer_fields(desc: V3Description | None, path: str) -> list[str]:
    """The fields of what GET PATH answers (of one item, for a list): --fields, --sort."""
    operation = operation_at(desc, "GET", path)
    if operation is None:
        return []
    return [f.name for f in operation.answer_fields if not f.name.startswith("_")]
