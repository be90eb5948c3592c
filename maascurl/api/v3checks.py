"""Checks of a v3 request against the server's OpenAPI document, before it is sent.

A method the path does not have is refused (with the methods it has), as
the 2.0 API's op typos are; what may still be right only draws a warning:
a field or query parameter the operation does not name but one close to it,
a body field it does not name at all (MAAS would drop it without a word),
a text value for a field that wants a list or an object (`name:=JSON`), a
value outside a field's choices, a required field left out (MAAS 3.7's
answer would not say which). A path the document does not know is sent as
it is (a 404 then suggests the nearest). Stdlib only.
"""

from __future__ import annotations

import difflib
import json
from typing import TYPE_CHECKING, Any

from maascurl.api.checks import NotInDescription
from maascurl.errors import warn

if TYPE_CHECKING:
    from maascurl.api.openapi import Field, Operation, Path_, V3Description
    from maascurl.wire.request import RequestSpec

_REFRESH = (
    " (checked against the cached v3 description: `maascurl refresh` updates it, "
    "--no-check sends the request unchecked)"
)


def check(spec: RequestSpec, desc: V3Description, v3_root: str, typed: str) -> None:
    relative = spec.url[len(v3_root) :].partition("?")[0]
    match = desc.match(relative)
    if match is None:
        return
    name = "v3/" + relative
    operation = match.path.operation(spec.method)
    if operation is None:
        raise NotInDescription(_no_such_method(name, match.path, spec.method))
    _check_query(spec, name, operation)
    _check_body(spec, name, operation)


def _no_such_method(name: str, path: Path_, method: str) -> str:
    methods = ", ".join(path.methods) or "none"
    return f"{name} has no {method} (its methods: {methods}){_REFRESH}"


def _close(name: str, names: list[str]) -> str | None:
    found = difflib.get_close_matches(name, names, n=1, cutoff=0.75)
    return found[0] if found else None


def _check_query(spec: RequestSpec, name: str, operation: Operation) -> None:
    documented = [p.name for p in operation.query]
    for given in dict.fromkeys(n for n, _ in spec.query):
        if given in documented:
            continue
        close = _close(given, documented)
        if close:
            warn(
                f"{spec.method} {name} has no query parameter {given!r}; did you mean "
                f"{close!r}? sending it anyway"
            )


def _check_body(spec: RequestSpec, name: str, operation: Operation) -> None:
    data = _json_object(spec)
    if data is None:
        if operation.body_required and operation.body is not None and spec.body is None:
            required = [f.name for f in operation.body if f.required]
            if required:
                warn(f"{spec.method} {name} needs a body with {', '.join(required)}")
        return
    if operation.body is None:
        warn(f"{spec.method} {name} takes no body; sending it anyway")
        return
    fields = {f.name: f for f in operation.body}
    for given, value in data.items():
        field = fields.get(given)
        if field is None:
            close = _close(given, list(fields))
            if close:
                warn(
                    f"{spec.method} {name} has no field {given!r}; did you mean {close!r}? "
                    "sending it anyway"
                )
            else:  # MAAS's v3 models drop what they do not name, without a word
                warn(
                    f"{spec.method} {name} has no field {given!r} (its fields: "
                    f"{', '.join(fields)}); MAAS ignores it; sending it anyway"
                )
            continue
        _check_value(spec.method, name, field, value)
    missing = [f.name for f in operation.body if f.required and f.name not in data]
    if missing:
        warn(f"{spec.method} {name} needs {', '.join(missing)}; sending it anyway")


def _check_value(method: str, name: str, field: Field, value: Any) -> None:
    if isinstance(value, str) and field.type in ("array", "object"):
        example = json.dumps([value] if field.type == "array" else {"key": value})
        warn(
            f"{method} {name}: {field.name} is {_a(field.type)}, not text; give it as JSON: "
            f"{field.name}:='{example}'"
        )
    elif field.enum and isinstance(value, str) and value not in field.enum:
        close = difflib.get_close_matches(value, list(field.enum), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else f" ({', '.join(field.enum)})"
        warn(f"{method} {name}: {field.name} {value!r} is not one of its values{hint}")


def _a(kind: str) -> str:
    return "an array" if kind == "array" else f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


def _json_object(spec: RequestSpec) -> dict[str, Any] | None:
    """The JSON object the request sends, when it is one held in memory."""
    body = spec.body
    if body is None or body.content is None:
        return None
    try:
        data = json.loads(body.content)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None
