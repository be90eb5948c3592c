"""Completion candidates for API paths and request items.

Pure functions over an ``ApiDescription``: they return full words with a short
help text and leave quoting and word breaks to the shell glue. A path, op or
field name that no shell could take as a plain word (termsafe.shell_word) is
never offered: the description comes from the server.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from maascurl.api.apidesc import API_PREFIX, ApiDescription, Resource, first_sentence
from maascurl.api.checks import wants_file_part
from maascurl.termsafe import shell_template, shell_word

Candidate = tuple[str, str]
# (id, label) pairs last seen in the listing at a path such as "machines/".
KnownIds = Callable[[str], list[Candidate]]

_HELP_WIDTH = 80
# The field name at the start of a request item such as "name=v", "name@file", "name:=json".
_ITEM_NAME_RE = r"^([A-Za-z0-9_.\[\]-]+)[=@:]"


def short_help(text: str, width: int = _HELP_WIDTH) -> str:
    """First sentence of TEXT, cut to WIDTH characters for one-line completion menus."""
    text = first_sentence(" ".join(text.split()))
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def _is_placeholder(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


def _prefix_matches(template: list[str], typed: list[str]) -> bool:
    return all(_is_placeholder(t) or t == s for t, s in zip(template, typed, strict=False))


def complete_path(
    desc: ApiDescription | None, incomplete: str, known_ids: KnownIds | None = None
) -> list[Candidate]:
    """API paths continuing INCOMPLETE, one segment at a time.

    Where the next segment is an ID, the IDs last seen in a listing of the
    typed path (KNOWN_IDS) are offered instead of the `{system_id}` template.
    """
    if desc is None:
        return []
    lead, text = _split_lead(incomplete)
    partial = text.rpartition("/")[2]
    head = text[: len(text) - len(partial)]  # typed segments, kept exactly as typed
    typed = [s for s in head.split("/") if s]
    ids = known_ids("/".join(typed) + "/") if known_ids is not None and typed else []
    found: dict[str, str] = {}
    for res in desc.served:  # MAAS's paths beyond its description too (vlans/{vlan_id}/)
        _add_path_candidate(found, res, typed, head, partial, ids)
    if partial.startswith("op-"):
        found.update(_op_suffixes(desc, head, partial))
    return sorted((lead + path, short_help(help_)) for path, help_ in found.items())


def _split_lead(incomplete: str) -> tuple[str, str]:
    """Separate a leading "/" or full API prefix, to be put back on every candidate."""
    if incomplete.startswith(API_PREFIX):
        return API_PREFIX, incomplete[len(API_PREFIX) :]
    stripped = incomplete.lstrip("/")
    return incomplete[: len(incomplete) - len(stripped)], stripped


def _add_path_candidate(
    found: dict[str, str],
    res: Resource,
    typed: list[str],
    head: str,
    partial: str,
    ids: list[Candidate],
) -> None:
    segments = [s for s in res.template.split("/") if s]
    depth = len(typed)
    if not shell_template(res.template) or not _prefix_matches(segments, typed):
        return
    if len(segments) == depth:
        # The typed path is itself a resource: keep it offered beside deeper ones.
        if not partial and head:
            found[head] = res.summary
        return
    if len(segments) < depth:
        return
    nxt = segments[depth]
    last = len(segments) == depth + 1
    if _is_placeholder(nxt) and ids and not partial.startswith("op-"):
        slash = "/" if not last or res.template.endswith("/") else ""
        for value, label in ids:
            if value.startswith(partial):
                found.setdefault(head + value + slash, label)
        return
    if _is_placeholder(nxt):
        if partial.startswith("op-"):
            return
        word = partial or nxt
    elif nxt.startswith(partial):
        word = nxt
    else:
        return
    path = head + word + ("/" if not last or res.template.endswith("/") else "")
    if last or path not in found:
        found[path] = res.summary if last else found.get(path, "")


def _op_suffixes(desc: ApiDescription, head: str, partial: str) -> dict[str, str]:
    """ "machines/op-li" -> "machines/op-list_allocated": ops given as a path suffix."""
    m = desc.match(head)
    if m is None or m.op is not None:
        return {}
    return {
        f"{head}op-{a.op}": f"{a.method}: {a.summary}"
        for a in m.resource.actions
        if a.op is not None and shell_word(a.op) and f"op-{a.op}".startswith(partial)
    }


def _given_fields(items: list[str]) -> set[str]:
    names = set()
    for item in items:
        m = re.match(_ITEM_NAME_RE, item)
        if m:
            names.add(m.group(1))
    return names


def _chosen_op(path_op: str | None, items: list[str]) -> str | None:
    op = path_op
    for item in items:
        if item.startswith("op="):
            op = item[3:]
    return op


def complete_file_value(incomplete: str) -> list[Candidate] | None:
    """File names after "name=@" (the shells' own file completion cannot see past the "@")."""
    import os

    name, marker, partial = incomplete.partition("=@")
    if not marker or not name or "=" in name or partial == "-":
        return None
    folder, _, start = partial.rpartition("/")
    folder = folder + "/" if folder or partial.startswith("/") else ""
    try:
        entries = list(os.scandir(os.path.expanduser(folder or ".")))
    except OSError:
        return []
    found = []
    for entry in entries:
        if entry.name.startswith(start) and (start or not entry.name.startswith(".")):
            slash = "/" if entry.is_dir() else ""
            found.append((f"{name}=@{folder}{entry.name}{slash}", ""))
    return sorted(found)


def complete_item(
    desc: ApiDescription | None, method: str, path: str, incomplete: str, items: list[str]
) -> list[Candidate]:
    """Request items for METHOD on PATH: "op=NAME" words, or "field=" names of the chosen op."""
    files = complete_file_value(incomplete)
    if files is not None:
        return files
    if desc is None:
        return []
    m = desc.match(path)
    if m is None:
        return []
    res = m.resource
    method = method.upper()
    if incomplete.startswith("op="):
        return [
            (f"op={a.op}", short_help(a.summary))
            for a in res.actions_for(method)
            if a.op is not None and shell_word(a.op) and f"op={a.op}".startswith(incomplete)
        ]
    if re.match(_ITEM_NAME_RE, incomplete):
        return []  # a value is being typed: free text, left to the shell
    op = _chosen_op(m.op, items)
    found: list[Candidate] = []
    ops = [name for name in res.ops_for(method) if shell_word(name)]
    if op is None and ops and "op=".startswith(incomplete):
        found.append(("op=", short_help(f"operation: {', '.join(ops)}")))
    action = res.find_op(method, op)
    if action is not None:
        given = _given_fields(items)
        for p in action.params:
            if not shell_word(p.name):
                continue
            word = p.name + ("@=" if wants_file_part(res.template, p.name) else "=")
            if word.startswith(incomplete) and (p.repeatable or p.name not in given):
                label = "required: " if p.required else ""
                found.append((word, short_help(label + p.summary)))
    return found
