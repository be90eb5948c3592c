"""Turn the command line's METHOD, PATH and ITEMs into a request description.

Pure Python: nothing here imports httpx, so `--offline`, validation and
completion stay cheap. `client.py` turns a `RequestSpec` into an httpx request.
The API description, when there is one, comes in as a `PathCatalog`.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, Protocol
from urllib.parse import quote, unquote, urlsplit

from maascurl.errors import MaascurlError, UsageError

if TYPE_CHECKING:
    from maascurl.wire.jsonbody import JsonObject

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")  # PATCH: the v3 API's only
V3_SEGMENT = "v3"  # `v3/zones`: a PATH under MAAS's v3 API (`/MAAS/a/v3/`)


class PathCatalog(Protocol):
    """What resolving a PATH asks of the server's API description.

    That is api/apidesc.py's ApiDescription, a floor above the wire: the caller
    hands it in, and the wire knows it only by these three questions.
    """

    def match(self, relpath: str, *, op_suffix: bool = True) -> object | None: ...

    def canonical(self, relpath: str, *, op_suffix: bool = True) -> str | None: ...

    def from_cli_name(self, segments: list[str]) -> list[str] | None: ...


# Characters a path segment may carry unencoded (RFC 3986 pchar minus '%').
_SEGMENT_SAFE = "-._~!$&'()*+,;=:@"
# A segment filled in from data keeps only the unreserved ones (and letters and digits).
_FILLED_SAFE = "-._~"
# Where a FilledPath's template had a placeholder: a NUL, which no argument can hold.
MARK = "\0"
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# Longest separators first so "==" wins over "=" and "@=" over "@"; ":=" (a JSON
# value, v3) is told apart from ":" once the earliest separator is found.
_SEPARATORS = ("==", "=", "@=", "@", ":")
# Separators whose value names a file to read.
FILE_SEPARATORS = ("@", "@=", "=@", ":=@")
JSON_SEPARATORS = (":=", ":=@")


class FilePart(NamedTuple):
    """A multipart file part: `length` bytes of the regular file `path`, or `content`.

    Content read from stdin, pipes, devices and /proc files is held in memory
    (see `read_source`); a regular file is streamed from disk, and exactly the
    size its descriptor had when it was opened is sent.
    """

    name: str
    filename: str
    path: str | None = None
    content: bytes | None = None
    length: int | None = None

    def size(self) -> int:
        if self.content is not None:
            return len(self.content)
        if self.length is not None:
            return self.length
        assert self.path is not None
        return os.path.getsize(self.path)


class RawBody(NamedTuple):
    """A body sent as it is, not as form fields: a file region, or bytes (stdin).

    Used for raw request bodies and for the chunks of a boot-resource upload,
    which are regions of one big file. It can be read again, which retries and
    re-signed redirects need.
    """

    path: str | None = None
    content: bytes | None = None
    offset: int = 0
    length: int | None = None  # None: to the end of the file
    json: bool = False  # built from ITEMs (a v3 request): --offline shows it

    def size(self) -> int:
        if self.content is not None:
            return len(self.content)
        assert self.path is not None
        if self.length is not None:
            return self.length
        return os.path.getsize(self.path) - self.offset

    def chunks(self, chunk_size: int = 256 * 1024) -> Iterator[bytes]:
        if self.content is not None:
            yield self.content
            return
        assert self.path is not None
        left = self.size()
        with open(self.path, "rb") as stream:
            stream.seek(self.offset)
            while left > 0:
                chunk = stream.read(min(chunk_size, left))
                if not chunk:
                    raise MaascurlError(f"{self.path} shrank while it was being sent")
                left -= len(chunk)
                yield chunk


@dataclass
class RequestSpec:
    method: str
    url: str
    query: list[tuple[str, str]] = field(default_factory=list)
    # A value is bytes when it came from a file (name=@FILE): it may hold NULs
    # or bytes that are not UTF-8, and is sent exactly as read.
    fields: list[tuple[str, str | bytes]] = field(default_factory=list)
    files: list[FilePart] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: RawBody | None = None  # sent as it is; never together with fields or files
    # What was changed in the typed PATH to send it (a CLI name, a slash), for -v.
    notes: list[str] = field(default_factory=list)

    @property
    def op(self) -> str | None:
        return next((value for name, value in self.query if name == "op"), None)

    @property
    def has_body(self) -> bool:
        return bool(self.fields or self.files)


class Item(NamedTuple):
    name: str
    separator: str
    value: str


def parse_item(token: str) -> Item:
    """Split TOKEN at its earliest unescaped separator (`storage=root:8G` is a field).

    `name=@FILE` has the separator "=@": the file's content as a field value
    (`name=\\@x` is the literal value "@x").
    """
    name_chars: list[str] = []
    i = 0
    while i < len(token):
        char = token[i]
        if char == "\\" and i + 1 < len(token) and token[i + 1] in "=@:\\":
            name_chars.append(token[i + 1])
            i += 2
            continue
        for separator in _SEPARATORS:
            if token.startswith(separator, i):
                name, value = "".join(name_chars), token[i + len(separator) :]
                if separator == "=" and value.startswith("@"):
                    return checked_item(name, "=@", value[1:])
                if separator == "=" and value.startswith("\\@"):
                    value = value[1:]
                if separator == ":" and value.startswith("="):
                    # name:=JSON (and name:=@FILE): a JSON value, as httpie writes it.
                    json_value = value[1:]
                    if json_value.startswith("@"):
                        return checked_item(name, ":=@", json_value[1:])
                    return checked_item(name, ":=", json_value)
                if separator == ":" and "=" in value:
                    raise _ambiguous(token, name, value)
                return checked_item(name, separator, value)
        name_chars.append(char)
        i += 1
    raise UsageError(
        f"bad item {token!r}: expected name=value, name=@file, name==value, name@=file, "
        "name:=json (v3) or Header:value"
    )


def _ambiguous(token: str, name: str, value: str) -> UsageError:
    # "team:role=web" could be the header "team: role=web" or the field
    # "team:role": guessing would lose one of them silently.
    field_name, _, field_value = value.partition("=")
    return UsageError(
        f"ambiguous item {token!r}: write {name}\\:{field_name}={field_value} for the field "
        f"{name + ':' + field_name!r}, or -H '{name}: {value}' for a header"
    )


def parse_header(text: str) -> Item:
    """A -H/--header argument, "Name: value"; the value may hold any separator."""
    name, colon, value = text.partition(":")
    if not colon:
        # -H/--header is a request header, as in curl; TSV's header line is --header-row.
        hint = " (a line of column names is --header-row)" if text.startswith("-") else ""
        raise UsageError(f"bad header {text!r}: -H/--header takes 'Name: value'{hint}")
    return checked_item(name.strip(), ":", value)


def checked_item(name: str, separator: str, value: str) -> Item:
    if not name:
        raise UsageError(f"bad item {name + separator + value!r}: the name is empty")
    _require_utf8(name)
    if separator not in FILE_SEPARATORS:  # a file name need not be UTF-8; its content is sent
        _require_utf8(value)
    if separator == ":":
        if not _HEADER_NAME.match(name):
            raise UsageError(f"bad header name {name!r}")
        if any(c in value for c in "\r\n\0"):
            raise UsageError(f"header {name} has a line break or NUL in its value")
        if not value.isascii():
            raise UsageError(f"header {name} must have an ASCII value")
        value = value.strip()
    return Item(name, separator, value)


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _require_utf8(text: str) -> None:
    if _is_utf8(text):
        return
    try:  # bytes that came in through argv show as themselves
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "backslashreplace")
    raise UsageError(f"{raw!r} is not valid UTF-8")


class FilledPath(NamedTuple):
    """A PATH template filled in from data (an `--each` line), its values kept apart.

    TEMPLATE is the PATH as typed with MARK where each placeholder was; VALUES
    fill them in order. The template is read as any PATH (its own `?query`
    and `op-NAME` count); a value is only data: it goes whole and
    percent-encoded into its segment (or its query value), so a `?`, `#`,
    `%` or `&` in it is sent as that character, and a segment it fills is
    never read as `op-NAME`.
    """

    template: str
    values: tuple[str, ...]

    def __str__(self) -> str:
        """As typed, the values in place (for messages)."""
        parts = self.template.split(MARK)
        filled = [part + value for part, value in zip(parts, self.values, strict=False)]
        return "".join(filled) + parts[-1]


class _Filler:
    """Hands out a FilledPath's values as its marks are met, in the template's order."""

    def __init__(self, path: str | FilledPath) -> None:
        self.typed = str(path)
        self.values = list(path.values) if isinstance(path, FilledPath) else []
        self.used = 0

    def fill(self, text: str) -> tuple[str, bool]:
        """TEXT with its marks filled in, and whether it had any."""
        if MARK not in text:
            return text, False
        parts = text.split(MARK)
        if self.used + len(parts) - 1 > len(self.values):
            raise UsageError(f"PATH {self.typed!r} has a control character")
        out = [parts[0]]
        for part in parts[1:]:
            out += [self.values[self.used], part]
            self.used += 1
        return "".join(out), True

    def check_all_used(self) -> None:
        if self.used != len(self.values):
            raise UsageError(f"a placeholder in {self.typed!r} is not in its path or query")


def is_v3_path(path: str, root_path: str = "/MAAS") -> bool:
    """Whether PATH addresses MAAS's v3 API: `v3/...`, `ROOT_PATH/a/v3/...` or a URL to it.

    ROOT_PATH is the path of the profile's MAAS URL (`/MAAS`). Everything else
    is the 2.0 API's.
    """
    if "://" in path:
        try:
            url_path = urlsplit(path).path
        except ValueError:
            return False
        return re.search(r"/a/v3(/|$)", url_path) is not None
    bare = path.partition("?")[0]
    stripped = bare.lstrip("/")
    if stripped == V3_SEGMENT or stripped.startswith(V3_SEGMENT + "/"):
        return True
    prefix = root_path.rstrip("/") + "/a/" + V3_SEGMENT
    return bare == prefix or bare.startswith(prefix + "/")


def resolve_path(
    api_root: str,
    path: str | FilledPath,
    desc: PathCatalog | None = None,
    *,
    exact: bool = False,
    notes: list[str] | None = None,
    v3: bool = False,
) -> tuple[str, list[tuple[str, str]], str | None]:
    """Return (absolute URL, query items from a full URL, op from an `op-NAME` suffix).

    A FilledPath's values are filled in after its template was split into
    segments and query: see FilledPath.

    A path the description knows (or MAAS serves beyond it, see api/apidesc.py's
    UNDESCRIBED) goes as typed, with the trailing slash its template has. The
    official CLI's names (`resource-pools`, `machine/ID`) are mapped only where
    the typed path cannot be a MAAS path, and never in a full path or URL.
    EXACT (--no-check): the path goes exactly as typed, slash and `op-NAME`
    included. Each change made to the typed path is said in NOTES (for -v).

    With V3, API_ROOT is the v3 root (`.../MAAS/a/v3/`), PATH may start with
    `v3/`, and nothing is added: v3 routes have no trailing slash and no ops.
    """
    filler = _Filler(path)
    template = path.template if isinstance(path, FilledPath) else path
    relative, query, full = _relative_path(api_root, template)
    if v3 and not full:
        relative = _v3_relative(relative)
    segments: list[str] = []
    filled: list[bool] = []
    for raw in relative.split("/"):
        segment, was_filled = filler.fill(raw)
        if not segment:
            continue
        if segment in (".", ".."):
            raise UsageError(f"PATH {filler.typed!r} has a '.' or '..' segment")
        _require_utf8(segment)
        if any(ord(c) < 0x20 or c == "\x7f" for c in segment):
            raise UsageError(f"PATH {filler.typed!r} has a control character")
        segments.append(segment)
        filled.append(was_filled)
    query = [(filler.fill(name)[0], filler.fill(value)[0]) for name, value in query]
    filler.check_all_used()
    typed_slash = relative.endswith("/") or not segments
    quoted = [
        quote(s, safe=_FILLED_SAFE if f else _SEGMENT_SAFE)
        for s, f in zip(segments, filled, strict=True)
    ]
    if exact:
        typed = "/".join(quoted)
        return api_root + typed + ("/" if typed_slash and typed else ""), query, None
    path_op = None
    op_suffix = not v3 and segments and not filled[-1]
    if op_suffix and segments[-1].startswith("op-") and len(segments[-1]) > 3:
        path_op = segments.pop()[3:]
        filled.pop()
        quoted.pop()
    shown = "/".join(segments)
    # The official CLI's names (`machine/ID`), unless data names the resource or the
    # path is full (a URL, /MAAS/api/2.0/...) or one MAAS serves.
    named = bool(quoted) and not filled[0] and not full and not v3
    mapped = None
    if desc is not None and named and desc.match("/".join(quoted), op_suffix=False) is None:
        mapped = desc.from_cli_name(quoted)
        quoted = mapped or quoted
    relative = "/".join(quoted)
    canonical = desc.canonical(relative, op_suffix=False) if desc is not None and relative else None
    if canonical is None:
        canonical = relative if v3 else (relative + "/" if relative else "")
    if mapped is not None:
        _say(notes, f"{shown} is the official CLI's name of MAAS's {canonical}: sent as that")
    elif path_op is not None:
        sent = f"{canonical or '/'} with op={path_op}"
        _say(notes, f"{shown + '/' if shown else ''}op-{path_op} is sent as {sent}")
    elif relative and canonical.endswith("/") != typed_slash:
        if canonical.endswith("/"):
            _say(notes, f"{shown} is sent as {shown}/: MAAS's path ends in a slash")
        else:
            _say(notes, f"{shown}/ is sent as {shown}: MAAS's path has no trailing slash")
    return api_root + canonical, query, path_op


def _v3_relative(relative: str) -> str:
    """RELATIVE without the `v3/` that stands for the v3 root in a short PATH."""
    stripped = relative.lstrip("/")
    if stripped == V3_SEGMENT or stripped.startswith(V3_SEGMENT + "/"):
        return stripped[len(V3_SEGMENT) :]
    return relative


def _say(notes: list[str] | None, text: str) -> None:
    if notes is not None:
        notes.append(text)


def _relative_path(api_root: str, path: str) -> tuple[str, list[tuple[str, str]], bool]:
    """The path relative to the API root, the query it carries, and whether it was full
    (a URL, or a path from the server's root)."""
    if "://" in path:
        return (*_relative_from_url(api_root, path), True)
    if "#" in path:
        raise UsageError(f"PATH {path!r} has '#': give query parameters as name==value")
    # MAAS hands out paths with a query (events' next_uri, files' anon_resource_uri).
    path, _, query_string = path.partition("?")
    query = _parse_query(query_string)
    root_path = urlsplit(api_root).path
    if path.startswith(root_path):
        return path[len(root_path) :], query, True
    if path.startswith("/") and path.rstrip("/") + "/" == root_path:
        return "", query, True
    return path, query, False


def _parse_query(query_string: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    try:
        return parse_qsl(query_string, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise UsageError(f"the query {query_string!r} is not valid UTF-8") from None


def _relative_from_url(api_root: str, url: str) -> tuple[str, list[tuple[str, str]]]:
    from urllib.parse import parse_qsl

    try:
        target, root = urlsplit(url), urlsplit(api_root)
    except ValueError:
        raise UsageError(f"{url!r} is not a valid URL") from None
    if (target.scheme, target.netloc) != (root.scheme, root.netloc):
        raise UsageError(
            f"URL {url!r} is not on the profile's server {root.scheme}://{root.netloc}"
        )
    if not (target.path + "/").startswith(root.path):  # the root may lack its slash
        raise UsageError(f"URL {url!r} is not under the API root {root.path}")
    segments = target.path[len(root.path) :].split("/")
    query = parse_qsl(target.query, keep_blank_values=True)
    return "/".join(unquote(s) for s in segments), query


def build_request(
    method: str,
    api_root: str,
    path: str | FilledPath,
    tokens: Sequence[str | Item],
    desc: PathCatalog | None = None,
    *,
    headers: Sequence[str | Item] = (),
    body: str | None = None,
    exact: bool = False,
    v3: bool = False,
) -> RequestSpec:
    """The request for METHOD PATH ITEM...; HEADERS are -H values, BODY a --body source.

    A token or header that is already an Item (an `--each` template filled
    from input data) is taken as it is: its value is never read as syntax.
    EXACT (--no-check) sends PATH exactly as typed (see resolve_path).
    With V3 the request goes to MAAS's v3 API (API_ROOT is its root): the
    items of a POST or PUT build a JSON object (wire/jsonbody.py).
    """
    method = method.upper()
    if method not in METHODS:
        raise UsageError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    if method == "PATCH" and not v3:
        raise UsageError("the 2.0 API takes no PATCH; it is for the v3 API's PATHs (v3/...)")
    notes: list[str] = []
    url, url_query, path_op = resolve_path(api_root, path, desc, exact=exact, notes=notes, v3=v3)
    spec = RequestSpec(method, url, query=list(url_query), notes=notes)
    stdin = _StdinUse()
    for text in headers:
        _add_item(spec, text if isinstance(text, Item) else parse_header(text), stdin)
    if v3:
        _add_v3_items(spec, tokens, body, stdin)
        return spec
    for token in tokens:
        _add_item(spec, token if isinstance(token, Item) else parse_item(token), stdin)
    if body is not None:
        _set_body(spec, body, stdin)
    _refuse_type_clash(spec)
    _put_op_first(spec, path_op)
    return spec


def _add_v3_items(
    spec: RequestSpec, tokens: Sequence[str | Item], body: str | None, stdin: _StdinUse
) -> None:
    """ITEMs of a v3 request: a JSON object for POST and PUT, query parameters otherwise."""
    from maascurl.wire.jsonbody import JSON_TYPE, JsonObject

    members = JsonObject()
    for token in tokens:
        item = token if isinstance(token, Item) else parse_item(token)
        _add_v3_item(spec, item, stdin, members)
    if members:
        if body is not None:
            raise UsageError("--body sends the body as it is: it cannot go with fields")
        spec.body = RawBody(content=members.encode(), json=True)
    elif body is not None:
        _set_body(spec, body, stdin)
    if spec.body is not None and not any(n.lower() == "content-type" for n, _ in spec.headers):
        spec.headers.append(("Content-Type", JSON_TYPE))  # what the v3 API reads


def _add_v3_item(spec: RequestSpec, item: Item, stdin: _StdinUse, members: JsonObject) -> None:
    name, separator, value = item
    shown = f"{name}{separator}{value}"
    if separator in ("@", "@="):
        raise UsageError(
            f"{shown}: the v3 API takes JSON bodies, not file parts; "
            f"{name}=@{value} sends the file's text as a string"
        )
    if separator == ":" or separator == "==":
        _add_item(spec, item, stdin)  # a header, a query parameter: as for the 2.0 API
        return
    if spec.method in ("GET", "DELETE"):
        if separator in JSON_SEPARATORS:
            raise UsageError(
                f"{shown}: {spec.method} has no body for JSON; its name=value items are "
                "query parameters (repeat one for a list: id=1 id=2)"
            )
        _add_item(spec, item, stdin)
        return
    _check_v3_name(name)
    if value == "-" and separator in FILE_SEPARATORS:
        stdin.take(shown)
    if separator == "=":
        members.add(name, value)
    elif separator == "=@":
        members.add_text(name, read_source(value, f"{name}=@"), shown)
    elif separator == ":=":
        members.add_json(name, value, shown)
    else:  # ":=@"
        members.add_json(name, read_source(value, f"{name}:=@"), shown)


def _check_v3_name(name: str) -> None:
    if any(ord(c) < 0x20 or c == "\x7f" for c in name):
        raise UsageError(f"field name {name!r} has a control character")


class _StdinUse:
    """Stdin can be read once: a second item that wants it is a usage error."""

    def __init__(self) -> None:
        self.first: str | None = None

    def take(self, what: str) -> None:
        if self.first is not None:
            raise UsageError(f"{self.first} and {what} both read stdin; only one of them can")
        self.first = what


def _add_item(spec: RequestSpec, item: Item, stdin: _StdinUse) -> None:
    if item.separator in JSON_SEPARATORS:
        raise _json_for_v2(item)
    if item.separator == ":":
        spec.headers.append((item.name, item.value))
    elif item.separator in ("@", "@="):
        if spec.method in ("GET", "DELETE"):
            raise UsageError(
                f"{spec.method} cannot carry a file; use POST or PUT "
                f"(or {item.name}=@{item.value} to send its content as a query parameter)"
            )
        _check_part_name(item.name)
        if item.value == "-":
            stdin.take(f"{item.name}{item.separator}-")
        spec.files.append(_file_part(item.name, item.value))
    elif item.separator == "=@":
        if item.value == "-":
            stdin.take(f"{item.name}=@-")
        _add_value(spec, item.name, read_source(item.value, f"{item.name}=@"))
    elif item.separator == "==" or item.name == "op" or spec.method in ("GET", "DELETE"):
        spec.query.append((item.name, item.value))
    else:
        _check_part_name(item.name)
        spec.fields.append((item.name, item.value))


def _json_for_v2(item: Item) -> UsageError:
    name, separator, value = item
    shown = f"{name}{separator}{value}"
    if separator == ":=@":
        return UsageError(f"{shown}: name:=@FILE builds a JSON body, which only the v3 API takes")
    return UsageError(
        f"{shown}: name:=JSON builds a JSON body, which only the v3 API (v3/PATH) takes; "
        f"write {name}\\:={value} for the field {name + ':'!r}, or -H '{name}: ={value}' "
        "for a header"
    )


def _add_value(spec: RequestSpec, name: str, content: bytes) -> None:
    """A value read from a file: a form field, or a query parameter for GET and DELETE."""
    if spec.method in ("GET", "DELETE") or name == "op":
        try:
            spec.query.append((name, content.decode("utf-8")))
        except UnicodeDecodeError:
            raise UsageError(f"{name}=@: a query parameter must be UTF-8 text") from None
    else:
        _check_part_name(name)
        spec.fields.append((name, content))


def _set_body(spec: RequestSpec, source: str, stdin: _StdinUse) -> None:
    if source == "-":
        stdin.take("--body -")
    if spec.fields or spec.files:
        raise UsageError("--body sends the body as it is: it cannot go with fields or files")
    if spec.method in ("GET", "DELETE"):
        raise UsageError(f"{spec.method} carries no body; use POST or PUT with --body")
    if source == "-":
        spec.body = RawBody(content=read_stdin())
        return
    opened = open_source(source, "--body")
    if opened.content is not None:
        spec.body = RawBody(content=opened.content)
    else:
        spec.body = RawBody(path=opened.path, length=opened.size)


def _refuse_type_clash(spec: RequestSpec) -> None:
    # Fields and files go as multipart/form-data with its boundary: a
    # Content-Type of the user's would be replaced silently, so refuse it.
    if spec.has_body and any(name.lower() == "content-type" for name, _ in spec.headers):
        raise UsageError(
            "a Content-Type header cannot go with fields or files (they are sent as "
            "multipart/form-data); use --body FILE to send a body of your own type"
        )


def _check_part_name(name: str) -> None:
    # A part name sits in a quoted Content-Disposition parameter. MAAS's Django versions
    # disagree on escapes there (none decodes %22; some split at a backslash-escaped
    # quote), so such a name could only arrive altered or as a forged filename.
    if any(char in name for char in '"\r\n'):
        raise UsageError(f"form field name {name!r} has a quote or line break")


def _put_op_first(spec: RequestSpec, path_op: str | None) -> None:
    ops = [value for name, value in spec.query if name == "op"]
    if path_op is not None:
        ops.insert(0, path_op)
    if len(set(ops)) > 1:
        raise UsageError(f"more than one op given: {', '.join(ops)}")
    if ops:
        spec.query = [("op", ops[0]), *((n, v) for n, v in spec.query if n != "op")]


def _file_part(name: str, source: str) -> FilePart:
    if source == "-":
        content = read_stdin()
        return FilePart(name, name, content=content)
    opened = open_source(source, f"{name}@")
    # The official CLI names file parts after the parameter; MAAS expects that.
    if opened.content is not None:
        return FilePart(name, name, content=opened.content)
    return FilePart(name, name, path=opened.path, length=opened.size)


# --- reading files given on the command line ---------------------------------

# Pipes, devices and /proc files are read into memory up to this size; more
# (e.g. /dev/zero) is refused rather than filling memory.
NON_REGULAR_LIMIT = 64 * 1024 * 1024
# How long a named pipe may stay without a writer before it is refused.
PIPE_WRITER_WAIT = 2.0


class Source(NamedTuple):
    """A file named on the command line: a regular file's path and size, or its content."""

    path: str | None
    content: bytes | None
    size: int


def read_source(source: str, what: str) -> bytes:
    """The whole content of SOURCE ('-' for stdin), for name=@FILE."""
    if source == "-":
        return read_stdin()
    opened = open_source(source, what)
    if opened.content is not None:
        return opened.content
    assert opened.path is not None
    with open(opened.path, "rb") as stream:
        data = stream.read(opened.size)
    if len(data) < opened.size:
        raise MaascurlError(f"{source} shrank while it was being read")
    return data


def open_source(source: str, what: str) -> Source:
    """Check SOURCE can be read without blocking; hold non-regular content in memory."""
    import stat

    if not source:
        raise UsageError(f"{what} needs a file name")
    if "\0" in source:
        raise UsageError(f"{what} has a NUL in its file name")
    path = os.path.expanduser(source)
    try:
        # Non-blocking: opening a named pipe that has no writer must not hang.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise MaascurlError(f"cannot read {source}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise MaascurlError(f"cannot read {source}: is a directory")
        if stat.S_ISREG(info.st_mode) and info.st_size > 0:
            return Source(path, None, info.st_size)
        # /proc files claim size 0; pipes, <(cmd) and devices have no size.
        content = read_capped(fd, source, pipe=stat.S_ISFIFO(info.st_mode))
        return Source(None, content, len(content))
    finally:
        os.close(fd)


def read_stdin() -> bytes:
    """All of stdin, refusing more than NON_REGULAR_LIMIT bytes."""
    chunks: list[bytes] = []
    size = 0
    while chunk := sys.stdin.buffer.read(1024 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size > NON_REGULAR_LIMIT:
            raise MaascurlError(_too_big("stdin"))
    return b"".join(chunks)


def _too_big(label: str) -> str:
    limit = NON_REGULAR_LIMIT // (1024 * 1024)
    return f"{label} is not a regular file and gives more than {limit} MiB; save it to a file first"


def read_capped(fd: int, label: str, *, pipe: bool = False) -> bytes:
    """Read FD to its end, refusing more than NON_REGULAR_LIMIT bytes."""
    import select
    import time

    chunks: list[bytes] = []
    size = 0
    deadline = time.monotonic() + PIPE_WRITER_WAIT
    while True:
        try:
            chunk = os.read(fd, 1024 * 1024)
        except BlockingIOError:  # a writer, no data yet
            select.select([fd], [], [])
            continue
        except OSError as exc:
            raise MaascurlError(f"cannot read {label}: {exc.strerror}") from None
        if not chunk:
            if pipe and size == 0 and time.monotonic() < deadline:
                time.sleep(0.05)  # a named pipe whose writer has not opened it yet
                continue
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > NON_REGULAR_LIMIT:
            raise MaascurlError(_too_big(label))
    if pipe and size == 0:
        raise MaascurlError(f"{label} is a pipe that gave no data (has it a writer?)")
    return b"".join(chunks)
