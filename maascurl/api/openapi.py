"""The v3 API's description: MAAS's OpenAPI document, parsed, cached and matched.

MAAS 3.5 and later serve the document at `GET /MAAS/a/openapi.json`, without
credentials. It is parsed into a few small immutable objects (paths, their
operations, parameters, JSON body fields, the fields of what they answer)
and cached per server like the 2.0 API's `describe/` (api/apidesc.py), in
`openapi-*.json` beside it. A cache older than MAX_AGE is fetched again by
the next v3 request, and so is one that refused a request (once, like the
2.0 API's); `maascurl refresh` and `login --username` fetch it too.

TAB completion loads the cache: stdlib only, and nothing is imported for
the 2.0 API. v3 routes carry no trailing slash, and some end in a verb after
a colon (`users/me/sshkeys:import`, `notifications/{id}:dismiss`).
"""

from __future__ import annotations

import json
import os
import re
import time
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from maascurl.wire.connection import Connection

V3_PREFIX = "/MAAS/a/v3/"
OPENAPI_NAME = "openapi.json"  # beside the v3 root: /MAAS/a/openapi.json
CACHE_FORMAT = 1
MAX_AGE = 24 * 3600.0  # a cached document older than this is fetched again
OPENAPI_LIMIT = 32 * 1024 * 1024  # MAAS 3.8's is about 300 KB
PAGE_PARAMS = ("page", "size")


class Field(NamedTuple):
    """A parameter (query, path, header) or a member of a JSON body or answer."""

    name: str
    where: str  # "query", "path", "header", "body" or "answer"
    required: bool
    type: str  # "string", "integer", "number", "boolean", "array", "object" or ""
    enum: tuple[str, ...]
    summary: str
    default: str | None = None  # as JSON text

    @property
    def is_text(self) -> bool:
        """Whether name=value (a JSON string) fits; other types want name:=JSON."""
        return self.type in ("string", "")


class Operation(NamedTuple):
    method: str
    op_id: str
    summary: str
    doc: str
    params: tuple[Field, ...]  # query, path and header parameters
    body: tuple[Field, ...] | None  # the JSON body's members (None: no JSON body)
    body_required: bool
    secured: bool
    paged: bool  # answers {items, total, next}
    answer: str  # the name of the answer's schema ("" when none)
    answer_fields: tuple[Field, ...]  # an answer's members (of one item, for a page)

    @property
    def query(self) -> tuple[Field, ...]:
        return tuple(p for p in self.params if p.where == "query")

    @property
    def if_match(self) -> bool:
        """Whether the operation takes If-Match (DELETE by id, some PUTs)."""
        return any(p.where == "header" and p.name.lower() == "if-match" for p in self.params)


class Path_(NamedTuple):
    template: str  # relative to the v3 root: "zones/{zone_id}"
    operations: tuple[Operation, ...]

    def operation(self, method: str) -> Operation | None:
        method = method.upper()
        return next((op for op in self.operations if op.method == method), None)

    @property
    def methods(self) -> list[str]:
        return [op.method for op in self.operations]

    @property
    def summary(self) -> str:
        first = next((op for op in self.operations if op.method == "GET"), None)
        first = first or (self.operations[0] if self.operations else None)
        return first.summary if first is not None else ""


class Match(NamedTuple):
    path: Path_
    values: dict[str, str]


def segment_pattern(segment: str) -> tuple[int, str | None]:
    """A template segment's score (literal characters) and regex (None: literal)."""
    if "{" not in segment:
        return 2 * len(segment) + 1000, None
    pieces = re.split(r"\{(\w+)\}", segment)
    literal = sum(len(piece) for piece in pieces[::2])
    pattern = "".join(
        re.escape(piece) if i % 2 == 0 else f"(?P<{piece}>.+?)" for i, piece in enumerate(pieces)
    )
    return literal, pattern


class V3Description:
    """Every path and operation of one server's v3 API."""

    def __init__(self, version: str, paths: Iterable[Path_], fetched: float = 0.0) -> None:
        self.version = version
        self.paths: tuple[Path_, ...] = tuple(paths)
        self.fetched = fetched
        self._by_len: dict[int, list[tuple[list[tuple[int, str | None, str]], Path_]]] = {}
        for path in self.paths:
            segments = [s for s in path.template.split("/") if s]
            compiled = [(*segment_pattern(s), s) for s in segments]
            self._by_len.setdefault(len(segments), []).append((compiled, path))

    # ---- matching (the wire's PathCatalog)

    def match(self, relpath: str, *, op_suffix: bool = True) -> Match | None:
        """The path RELPATH is an instance of (OP_SUFFIX: the 2.0 API's; v3 has none)."""
        segments = _split(relpath)
        best: tuple[int, Path_, dict[str, str]] | None = None
        for compiled, path in self._by_len.get(len(segments), ()):
            score, values = 0, {}
            for (points, pattern, literal), typed in zip(compiled, segments, strict=True):
                if pattern is None:
                    if typed != literal:
                        break
                else:
                    found = re.fullmatch(pattern, typed)
                    if found is None:
                        break
                    values.update(found.groupdict())
                score += points
            else:
                if best is None or score > best[0]:
                    best = (score, path, values)
        return None if best is None else Match(best[1], best[2])

    def canonical(self, relpath: str, *, op_suffix: bool = True) -> str | None:
        """The path to send: as typed, without a trailing slash (v3 routes have none)."""
        if self.match(relpath) is None:
            return None
        path, mark, query = relpath.partition("?")
        return "/".join(_split(path)) + mark + query

    def from_cli_name(self, segments: list[str]) -> list[str] | None:
        return None  # the official CLI knows no v3 names

    def path(self, template: str) -> Path_ | None:
        return next((p for p in self.paths if p.template == template), None)

    def suggest_path(self, relpath: str) -> str | None:
        """The closest template to an unknown path, for did-you-mean messages."""
        import difflib

        typed = "/".join(_split(relpath))
        found = difflib.get_close_matches(typed, [p.template for p in self.paths], n=1, cutoff=0.5)
        return found[0] if found else None

    # ---- the cache's rows

    def to_data(self) -> list[Any]:
        return [[p.template, [_op_row(op) for op in p.operations]] for p in self.paths]

    @classmethod
    def from_data(cls, version: str, rows: list[Any], fetched: float) -> V3Description:
        return cls(version, (_path_from_row(row) for row in rows), fetched)

    @classmethod
    def from_openapi(cls, doc: Mapping[str, Any], fetched: float = 0.0) -> V3Description:
        return cls(_version(doc), _paths(doc), fetched)


def _split(relpath: str) -> list[str]:
    path = relpath.partition("?")[0].lstrip("/")
    prefix = V3_PREFIX.lstrip("/")
    if path.startswith(prefix):
        path = path[len(prefix) :]
    elif path == "v3" or path.startswith("v3/"):
        path = path[2:]
    return [s for s in path.split("/") if s]


def _version(doc: Mapping[str, Any]) -> str:
    info = doc.get("info")
    title = info.get("title", "") if isinstance(info, dict) else ""
    version = info.get("version", "") if isinstance(info, dict) else ""
    return f"{title} {version}".strip()


# --------------------------------------------------------------- parsing the document


class _Schemas:
    """The document's components, with $refs resolved (and loops cut)."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        components = doc.get("components")
        schemas = components.get("schemas") if isinstance(components, dict) else None
        self.schemas: dict[str, Any] = schemas if isinstance(schemas, dict) else {}

    def name(self, schema: Any) -> str:
        ref = schema.get("$ref") if isinstance(schema, dict) else None
        return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else ""

    def resolve(self, schema: Any, depth: int = 0) -> dict[str, Any]:
        """SCHEMA without its $ref, allOf of one and anyOf with null."""
        while isinstance(schema, dict) and depth < 20:
            depth += 1
            if "$ref" in schema:
                schema = self.schemas.get(self.name(schema), {})
            elif len(schema.get("allOf") or ()) == 1:
                schema = {**schema, **self.resolve(schema["allOf"][0], depth)}
                schema.pop("allOf", None)
            elif schema.get("anyOf") or schema.get("oneOf"):
                options = [
                    s
                    for s in schema.get("anyOf") or schema.get("oneOf") or ()
                    if not (isinstance(s, dict) and s.get("type") == "null")
                ]
                if len(options) != 1:
                    return schema
                rest = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
                schema = {**self.resolve(options[0], depth), **rest}
            else:
                return schema
        return schema if isinstance(schema, dict) else {}

    def fields(self, schema: Any, where: str) -> tuple[Field, ...]:
        resolved = self.resolve(schema)
        properties = resolved.get("properties")
        if not isinstance(properties, dict):
            return ()
        required = set(resolved.get("required") or ())
        return tuple(
            self.field(str(name), sub, where, name in required) for name, sub in properties.items()
        )

    def field(self, name: str, schema: Any, where: str, required: bool) -> Field:
        resolved = self.resolve(schema)
        kind = resolved.get("type")
        enum = resolved.get("enum")
        default = resolved.get(
            "default", schema.get("default") if isinstance(schema, dict) else None
        )
        return Field(
            name,
            where,
            required,
            kind if isinstance(kind, str) else ("object" if "properties" in resolved else ""),
            tuple(str(v) for v in enum) if isinstance(enum, list) else (),
            _text(schema, resolved),
            None if default is None else json.dumps(default),
        )


def _text(*schemas: Any) -> str:
    for schema in schemas:
        if isinstance(schema, dict):
            for key in ("description", "title"):
                value = schema.get(key)
                if isinstance(value, str) and value.strip():
                    return " ".join(value.split())
    return ""


def _paths(doc: Mapping[str, Any]) -> list[Path_]:
    schemas = _Schemas(doc)
    raw_paths = doc.get("paths")
    found = []
    for url, item in raw_paths.items() if isinstance(raw_paths, dict) else ():
        if not isinstance(url, str) or not url.startswith(V3_PREFIX) or not isinstance(item, dict):
            continue
        template = url[len(V3_PREFIX) :].strip("/")
        common = item.get("parameters") or []
        operations = [
            _operation(method.upper(), spec, common, schemas)
            for method, spec in item.items()
            if method in ("get", "post", "put", "patch", "delete") and isinstance(spec, dict)
        ]
        found.append(Path_(template, tuple(operations)))
    return sorted(found, key=lambda p: p.template)


def _operation(method: str, spec: dict[str, Any], common: Any, schemas: _Schemas) -> Operation:
    params = []
    for raw in [*common, *(spec.get("parameters") or [])]:
        raw = schemas.resolve(raw)
        if isinstance(raw.get("name"), str) and isinstance(raw.get("in"), str):
            field = schemas.field(
                raw["name"], raw.get("schema", {}), raw["in"], bool(raw.get("required"))
            )
            params.append(field._replace(summary=_text(raw) or field.summary))
    body, body_required = None, False
    request = spec.get("requestBody")
    content = request.get("content") if isinstance(request, dict) else None
    if isinstance(content, dict) and "application/json" in content:
        body = schemas.fields(content["application/json"].get("schema"), "body")
        body_required = bool(request.get("required")) if isinstance(request, dict) else False
    answer, answer_fields, paged = _answer(spec, schemas)
    summary = spec.get("summary")
    return Operation(
        method=method,
        op_id=str(spec.get("operationId") or ""),
        summary=summary if isinstance(summary, str) else "",
        doc=_text({"description": spec.get("description")}),
        params=tuple(params),
        body=body,
        body_required=body_required,
        secured=bool(spec.get("security")),
        paged=paged,
        answer=answer,
        answer_fields=answer_fields,
    )


def _answer(spec: dict[str, Any], schemas: _Schemas) -> tuple[str, tuple[Field, ...], bool]:
    responses = spec.get("responses")
    if not isinstance(responses, dict):
        return "", (), False
    for status in sorted(responses):
        if not str(status).startswith("2"):
            continue
        content = responses[status].get("content") if isinstance(responses[status], dict) else None
        schema = (
            content.get("application/json", {}).get("schema") if isinstance(content, dict) else None
        )
        if not isinstance(schema, dict):
            continue
        name = schemas.name(schema)
        resolved = schemas.resolve(schema)
        properties = resolved.get("properties")
        if isinstance(properties, dict) and {"items", "total"} <= set(properties):
            items = schemas.resolve(properties["items"]).get("items")
            return name, schemas.fields(items, "answer"), True
        return name, schemas.fields(schema, "answer"), False
    return "", (), False


# --------------------------------------------------------------- cache rows


def _field_row(f: Field) -> list[Any]:
    return [f.name, f.where, f.required, f.type, list(f.enum), f.summary, f.default]


def _field_from_row(row: list[Any]) -> Field:
    name, where, required, kind, enum, summary, default = row
    if not (_all_str(name, where, kind, summary, *enum) and isinstance(required, bool)):
        raise ValueError("damaged field in the cached v3 description")
    if default is not None and not isinstance(default, str):
        raise ValueError("damaged default in the cached v3 description")
    return Field(name, where, required, kind, tuple(enum), summary, default)


def _op_row(op: Operation) -> list[Any]:
    return [
        op.method,
        op.op_id,
        op.summary,
        op.doc,
        [_field_row(f) for f in op.params],
        None if op.body is None else [_field_row(f) for f in op.body],
        op.body_required,
        op.secured,
        op.paged,
        op.answer,
        [_field_row(f) for f in op.answer_fields],
    ]


def _op_from_row(row: list[Any]) -> Operation:
    method, op_id, summary, doc, params, body, body_required, secured, paged, answer, fields = row
    if not _all_str(method, op_id, summary, doc, answer):
        raise ValueError("damaged operation in the cached v3 description")
    return Operation(
        method,
        op_id,
        summary,
        doc,
        tuple(_field_from_row(f) for f in params),
        None if body is None else tuple(_field_from_row(f) for f in body),
        body_required is True,
        secured is True,
        paged is True,
        answer,
        tuple(_field_from_row(f) for f in fields),
    )


def _path_from_row(row: list[Any]) -> Path_:
    template, operations = row
    if not isinstance(template, str):
        raise ValueError("damaged path in the cached v3 description")
    return Path_(template, tuple(_op_from_row(op) for op in operations))


def _all_str(*values: object) -> bool:
    return all(type(v) is str for v in values)


# --------------------------------------------------------------- the cache


def openapi_url(v3_root: str) -> str:
    """Where the document is: beside the v3 root (`.../MAAS/a/openapi.json`)."""
    return v3_root.rstrip("/").rsplit("/", 1)[0] + "/" + OPENAPI_NAME


def cache_file(v3_root: str, directory: Path | None = None) -> Path:
    """The cache path for a v3 root, beside the 2.0 API's descriptions (or in DIRECTORY)."""
    from maascurl.api.apidesc import cache_file as described

    return described(v3_root, directory, kind="openapi")


def load_cached(v3_root: str) -> V3Description | None:
    """The cached description, or None when missing, of another format, damaged, or not
    this user's own file (api/apidesc.py's open_cached)."""
    from maascurl.api.apidesc import open_cached

    try:
        with open_cached(cache_file(v3_root)) as f:
            head = json.loads(f.readline())
            if not isinstance(head, dict) or head.get("format") != CACHE_FORMAT:
                return None
            rows = json.loads(f.read())
        return V3Description.from_data(str(head["version"]), rows, float(head["fetched"]))
    except Exception:  # a bad cache only costs a refetch; never break the command
        return None


def is_stale(desc: V3Description) -> bool:
    return not 0 <= time.time() - desc.fetched < MAX_AGE


def save_cache(v3_root: str, body: bytes, directory: Path | None = None) -> V3Description:
    """Parse an OpenAPI document, store its compact form atomically, return it.

    In DIRECTORY (the sandbox's private one for its commands), else in cache_dir().
    """
    try:
        doc = json.loads(body)
    except RecursionError:
        raise ValueError("the OpenAPI document is nested too deeply") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
        raise ValueError("the answer is not an OpenAPI document")
    try:
        desc = V3Description.from_openapi(doc, time.time())
    except (AttributeError, KeyError, TypeError, RecursionError) as exc:
        raise ValueError(f"the OpenAPI document is malformed ({type(exc).__name__})") from None
    from maascurl.api.apidesc import write_atomic
    from maascurl.dirs import make_private_dirs

    target = cache_file(v3_root, directory)
    make_private_dirs(target.parent)
    head = json.dumps(
        {"format": CACHE_FORMAT, "version": desc.version, "root": v3_root, "fetched": desc.fetched}
    )
    write_atomic(target, (head + "\n" + json.dumps(desc.to_data(), separators=(",", ":"))).encode())
    return desc


def forget(v3_root: str) -> None:
    """Drop the cached document (the server's API changed): the next v3 request fetches it."""
    with suppress(OSError):
        os.unlink(cache_file(v3_root))


def fetch_openapi(connection: Connection, v3_root: str) -> V3Description | None:
    """The server's v3 description, fetched (no credentials) and cached; None when the
    server has no v3 API (a 404: MAAS 3.4 and older).

    Raises the server's other errors (HTTPStatusError), AnswerTooLarge, the
    transport's errors, and ValueError for an answer that is no OpenAPI document.
    """
    from maascurl.errors import HTTPStatusError
    from maascurl.wire.request import RequestSpec

    spec = RequestSpec("GET", openapi_url(v3_root))
    try:
        body = connection.read_capped(spec, OPENAPI_LIMIT)
    except HTTPStatusError as error:
        if error.status == 404:
            return None
        raise
    return save_cache(v3_root, body)
